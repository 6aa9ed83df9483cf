package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// replayMsg is one message of the replay stream.
type replayMsg struct {
	Events []sessions.Record `json:"events"`
	Gap    *sessions.Gap     `json:"gap"`
	Idle   *struct {
		After      int64 `json:"after"`
		Before     int64 `json:"before"`
		RecordedMS int64 `json:"recorded_ms"`
		ReplayedMS int64 `json:"replayed_ms"`
	} `json:"idle"`
	CaughtUp *struct {
		Seq int64 `json:"seq"`
	} `json:"caught_up"`
}

// arrival is an event of a replay and when it arrived.
type arrival struct {
	ev sessions.Record
	at time.Time
}

func (a *testApp) dialReplay(ctx context.Context, path string, q string) (*websocket.Conn, *http.Response, error) {
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.URL, "http")+path+"/replay?"+q, nil)
	if err == nil {
		c.SetReadLimit(64 << 20)
	}
	return c, res, err
}

// readReplay reads a replay until its caught_up message and returns the
// events with their arrival times, the idle notices and the raw frames.
func readReplay(ctx context.Context, t *testing.T, c *websocket.Conn) (evs []arrival, idles []replayMsg, raw [][]byte, end int64) {
	t.Helper()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read replay after %d events: %v", len(evs), err)
		}
		raw = append(raw, b)
		var m replayMsg
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("replay message %.200q: %v", b, err)
		}
		now := time.Now()
		for _, e := range m.Events {
			evs = append(evs, arrival{e, now})
		}
		if m.Idle != nil {
			idles = append(idles, m)
		}
		if m.CaughtUp != nil {
			return evs, idles, raw, m.CaughtUp.Seq
		}
	}
}

// recordPaced writes n recv events into a new session, the i-th recorded
// at t0 + i×gap (and the extra ones at the times given), through the
// recorder, and returns the session and its events' times.
func recordPaced(t *testing.T, a *testApp, n int, gap time.Duration) (string, []time.Time) {
	t.Helper()
	sid := a.newSession()
	t0 := time.Now().Add(-time.Hour).UTC()
	var ats []time.Time
	for i := range n {
		at := t0.Add(time.Duration(i) * gap)
		ats = append(ats, at)
		data := []byte(fmt.Sprintf("event %d", i+1))
		a.Rec.Emit(engine.Event{Session: sid, At: at, Kind: engine.KindRecv, Conn: "c-1", Data: data, Len: len(data)})
	}
	if err := a.Rec.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	return sid, ats
}

func checkOrder(t *testing.T, evs []arrival, first int64, n int) {
	t.Helper()
	if len(evs) != n {
		t.Fatalf("replay delivered %d events, want %d", len(evs), n)
	}
	for i, e := range evs {
		if e.ev.Seq != first+int64(i) {
			t.Fatalf("replay event %d has seq %d, want %d (out of order, a duplicate or a hole)", i, e.ev.Seq, first+int64(i))
		}
	}
}

// At 10×, a replay delivers the events in order, each no sooner after the
// first than half its recorded offset divided by 10 (a lower bound only:
// a loaded machine may be late, never early); as fast as possible it
// delivers the same events, in order.
func TestReplayAtTenTimesKeepsTheRecordedTiming(t *testing.T) {
	a := newTestApp(t)
	const n = 21
	sid, ats := recordPaced(t, a, n, 200*time.Millisecond) // 4 s recorded: 400 ms at 10×
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	c, _, err := a.dialReplay(ctx, "/ws/sessions/"+sid, "speed=10")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	evs, idles, _, end := readReplay(ctx, t, c)
	checkOrder(t, evs, 1, n)
	if end != n || len(idles) != 0 {
		t.Fatalf("caught up at %d with %d idle notices; want %d and none", end, len(idles), n)
	}
	for i, e := range evs {
		want := ats[i].Sub(ats[0]) / 10 / 2
		if got := e.at.Sub(evs[0].at); got < want {
			t.Errorf("event %d came %v after the first; recorded %v after it, so at 10× not before %v", e.ev.Seq, got, ats[i].Sub(ats[0]), want)
		}
		if string(e.ev.Data) != fmt.Sprintf("event %d", i+1) {
			t.Errorf("event %d carries %q", e.ev.Seq, e.ev.Data)
		}
	}
	c.Close(websocket.StatusNormalClosure, "")

	c, _, err = a.dialReplay(ctx, "/ws/sessions/"+sid, "speed=max")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	evs, _, _, _ = readReplay(ctx, t, c)
	checkOrder(t, evs, 1, n)
}

// A recorded pause that would last longer than maxIdle at the chosen speed
// is shortened to it, and the stream says so between the right events.
func TestReplayShortensALongPauseAndSaysSo(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	t0 := time.Now().Add(-time.Hour).UTC()
	for i, at := range []time.Time{t0, t0.Add(time.Second), t0.Add(time.Second + 10*time.Minute)} {
		a.Rec.Emit(engine.Event{Session: sid, At: at, Kind: engine.KindRecv, Conn: "c-1", Data: []byte{byte(i)}, Len: 1})
	}
	if err := a.Rec.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, _, err := a.dialReplay(ctx, "/ws/sessions/"+sid, "speed=100") // 10 min at 100× would be 6 s
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	evs, idles, _, _ := readReplay(ctx, t, c)
	checkOrder(t, evs, 1, 3)
	if len(idles) != 1 {
		t.Fatalf("%d idle notices, want 1 (the 10-minute pause)", len(idles))
	}
	if id := idles[0].Idle; id.After != 2 || id.Before != 3 || id.RecordedMS != 10*60*1000 || id.ReplayedMS != maxIdle.Milliseconds() {
		t.Errorf("idle notice %+v; want after 2, before 3, recorded 600000 ms, replayed %d ms", *id, maxIdle.Milliseconds())
	}
	if got := evs[2].at.Sub(evs[1].at); got < maxIdle/2 {
		t.Errorf("the shortened pause lasted %v; want about %v", got, maxIdle)
	}
}

// Step and seek are the events API and the seek API, which the page calls:
// each delivers exactly the events asked for, and a replay from a seq
// starts exactly there; past the end it clamps to the last event.
func TestReplayStepAndSeekDeliverExactlyTheEventsAskedFor(t *testing.T) {
	a := newTestApp(t)
	const n = 3000 // several chunks
	sid, ats := recordPaced(t, a, n, time.Millisecond)
	for _, k := range []int64{1, 2, 1500, 2999, n} {
		var seek struct{ Seq, Events int64 }
		at := ats[k-1].Format(time.RFC3339Nano)
		if code := a.do("GET", "/api/sessions/"+sid+"/seek?at="+url.QueryEscape(at), nil, &seek); code != http.StatusOK {
			t.Fatalf("seek: %d", code)
		}
		if seek.Seq != k || seek.Events != n {
			t.Fatalf("seek to the time of #%d gave %+v", k, seek)
		}
		// The page shows the events up to the point: a page ending there.
		var page struct{ Events []sessions.Record }
		a.do("GET", fmt.Sprintf("/api/sessions/%s/events?before=%d&limit=1000", sid, k+1), nil, &page)
		if len(page.Events) != int(min(k, 1000)) || page.Events[len(page.Events)-1].Seq != k || page.Events[0].Seq != max(1, k-999) {
			t.Fatalf("the page up to #%d: %d events, #%d…", k, len(page.Events), page.Events[0].Seq)
		}
		// Step forward: the next event only; step back: the one before.
		var step struct{ Events []sessions.Record }
		a.do("GET", fmt.Sprintf("/api/sessions/%s/events?after=%d&limit=1", sid, k), nil, &step)
		if k < n && (len(step.Events) != 1 || step.Events[0].Seq != k+1) {
			t.Fatalf("step forward from #%d gave %d events", k, len(step.Events))
		}
		if k == n && len(step.Events) != 0 {
			t.Fatalf("step forward from the last event gave %d events", len(step.Events))
		}
		a.do("GET", fmt.Sprintf("/api/sessions/%s/events?before=%d&limit=1", sid, k), nil, &step)
		if k > 1 && (len(step.Events) != 1 || step.Events[0].Seq != k-1) {
			t.Fatalf("step back from #%d gave %d events", k, len(step.Events))
		}
	}
	// Before the first event: the first; past the last: the last.
	for at, want := range map[time.Time]int64{ats[0].Add(-time.Hour): 1, ats[n-1].Add(time.Hour): n} {
		var seek struct{ Seq int64 }
		a.do("GET", "/api/sessions/"+sid+"/seek?at="+url.QueryEscape(at.Format(time.RFC3339Nano)), nil, &seek)
		if seek.Seq != want {
			t.Errorf("seek to %v: #%d, want #%d", at, seek.Seq, want)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for from, first := range map[string]int64{"2500": 2500, "999999": n, "0": 1} {
		c, _, err := a.dialReplay(ctx, "/ws/sessions/"+sid, "speed=max&from="+from)
		if err != nil {
			t.Fatal(err)
		}
		evs, _, _, end := readReplay(ctx, t, c)
		c.CloseNow()
		checkOrder(t, evs, first, int(n-first+1))
		if end != n {
			t.Errorf("from=%s caught up at %d", from, end)
		}
	}
}

func TestReplayBadInputIs400(t *testing.T) {
	a := newTestApp(t)
	sid, _ := recordPaced(t, a, 2, time.Millisecond)
	for _, q := range []string{"speed=0.4", "speed=101", "speed=0", "speed=-2", "speed=fast", "speed=NaN", "speed=1e9", "speed=10&from=-1", "from=x"} {
		code, _, body := a.get("/ws/sessions/" + sid + "/replay?" + q)
		if code != http.StatusBadRequest {
			t.Errorf("replay?%s: %d %s; want 400", q, code, body)
			continue
		}
		if strings.HasPrefix(q, "speed") && !strings.Contains(q, "from") && !strings.Contains(string(body), "0.5× to 100×") {
			t.Errorf("replay?%s says %s; want it to name the range", q, body)
		}
	}
	for _, q := range []string{"at=", "at=yesterday", "at=12:00"} {
		if code, _, body := a.get("/api/sessions/" + sid + "/seek?" + q); code != http.StatusBadRequest || !strings.Contains(string(body), "RFC 3339") {
			t.Errorf("seek?%s: %d %s; want 400 naming the form", q, code, body)
		}
	}
	// A good speed without a WebSocket upgrade says what the route is.
	if code, _, _ := a.get("/ws/sessions/" + sid + "/replay?speed=2"); code != http.StatusUpgradeRequired {
		t.Errorf("replay without an upgrade: %d, want 426", code)
	}
	if code, _, _ := a.get("/ws/sessions/nosuchsession/replay?speed=2"); code != http.StatusNotFound {
		t.Errorf("replay of an unknown session: %d, want 404", code)
	}
}

// An empty session has an empty timeline, seeks to 0 and replays nothing,
// and its replay goes on live: what is recorded meanwhile arrives.
func TestReplayOfAnEmptySessionThenLive(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	var tl struct {
		Buckets []sessions.Bucket
		Events  int64
	}
	if code := a.do("GET", "/api/sessions/"+sid+"/timeline?buckets=50", nil, &tl); code != http.StatusOK || tl.Buckets == nil || len(tl.Buckets) != 0 || tl.Events != 0 {
		t.Fatalf("timeline of an empty session: %d %+v; want no buckets", code, tl)
	}
	var seek struct{ Seq int64 }
	if a.do("GET", "/api/sessions/"+sid+"/seek?at=2026-01-01T00:00:00Z", nil, &seek); seek.Seq != 0 {
		t.Fatalf("seek in an empty session: #%d", seek.Seq)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, _, err := a.dialReplay(ctx, "/ws/sessions/"+sid, "speed=1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	evs, _, _, end := readReplay(ctx, t, c)
	if len(evs) != 0 || end != 0 {
		t.Fatalf("replay of an empty session: %d events, caught up at %d", len(evs), end)
	}
	// Still recording: a real client's events come through the replay.
	_, addr := a.startEcho(sid, nil)
	a.openClient(sid, addr)
	got, _ := collect(ctx, t, c, 0, func(evs []sessions.Record) bool {
		for _, e := range evs {
			if e.Kind == "accept" {
				return true
			}
		}
		return false
	})
	if got[0].Kind != "server-start" {
		t.Errorf("the live part begins with %s, want server-start", got[0].Kind)
	}
}

// A share link's replay streams the session without its id, refuses
// anything but reading, and ends when the link is revoked.
func TestReplayThroughAShareLinkIsReadOnly(t *testing.T) {
	a := newTestApp(t)
	sid, _ := recordPaced(t, a, 5, time.Millisecond)
	sh := a.share(sid)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, _, err := a.dialReplay(ctx, "/ws/shared/"+sh.Token, "speed=max")
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	evs, _, raw, _ := readReplay(ctx, t, c)
	checkOrder(t, evs, 1, 5)
	for _, b := range raw {
		if strings.Contains(string(b), sid) {
			t.Fatalf("the shared replay carries the session's id: %.200s", b)
		}
	}
	if evs[0].ev.Session != "" {
		t.Errorf("shared replay event says session %q", evs[0].ev.Session)
	}
	var tl struct{ Buckets []sessions.Bucket }
	if code := a.do("GET", "/api/shared/"+sh.Token+"/timeline?buckets=10", nil, &tl); code != http.StatusOK || len(tl.Buckets) != 10 {
		t.Errorf("shared timeline: %d, %d buckets", code, len(tl.Buckets))
	}
	var seek struct{ Seq int64 }
	if code := a.do("GET", "/api/shared/"+sh.Token+"/seek?at=2000-01-01T00:00:00Z", nil, &seek); code != http.StatusOK || seek.Seq != 1 {
		t.Errorf("shared seek: %d, #%d", code, seek.Seq)
	}
	// Only GET: no method changes anything here.
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		if code := a.do(m, "/ws/shared/"+sh.Token+"/replay", "{}", nil); code != http.StatusMethodNotAllowed {
			t.Errorf("%s on the shared replay: %d, want 405", m, code)
		}
	}
	// A message sent up the stream is not a command: the stream ends.
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"speed":"max","delete":true}`)); err == nil {
		if _, _, err := c.Read(ctx); err == nil {
			t.Error("the shared replay took a message and went on")
		}
	}
	if got := a.events(sid, 0); len(got) != 5 {
		t.Errorf("the session has %d events after the shared replay, want 5", len(got))
	}
	// Revoked: an open replay ends, a new one is 404.
	c2, _, err := a.dialReplay(ctx, "/ws/shared/"+sh.Token, "speed=max")
	if err != nil {
		t.Fatal(err)
	}
	defer c2.CloseNow()
	readReplay(ctx, t, c2)
	if code := a.do("DELETE", "/api/sessions/"+sid+"/shares/"+sh.Token, nil, nil); code != http.StatusNoContent {
		t.Fatalf("revoke: %d", code)
	}
	if _, _, err := c2.Read(ctx); err == nil {
		t.Error("the shared replay went on after the link was revoked")
	}
	if _, res, err := a.dialReplay(ctx, "/ws/shared/"+sh.Token, "speed=max"); err == nil || res == nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("a revoked link's replay: %v %v; want 404", res, err)
	}
}

func TestPacerShortensOnlyLongPauses(t *testing.T) {
	t0 := time.Unix(1000, 0)
	p := &pacer{speed: 10}
	for _, c := range []struct {
		at             time.Duration
		due, shortened time.Duration
	}{
		{0, 0, 0},
		{time.Second, 100 * time.Millisecond, 0},
		{time.Second - time.Millisecond, 100 * time.Millisecond, 0}, // out of order: no time goes back
		{31 * time.Second, 3100 * time.Millisecond, 0},              // 30 s at 10× is 3 s: kept
		{10 * time.Minute, 6100 * time.Millisecond, 10*time.Minute - 31*time.Second},
	} {
		due, sh := p.next(t0.Add(c.at))
		if due != c.due || sh != c.shortened {
			t.Errorf("event at +%v: due %v shortened %v; want %v, %v", c.at, due, sh, c.due, c.shortened)
		}
	}
	if due, _ := (&pacer{}).next(t0); due != 0 {
		t.Errorf("as fast as possible: due %v", due)
	}
}
