package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// liveMsg is one message of the live stream.
type liveMsg struct {
	Events []sessions.Record `json:"events"`
	Gap    *sessions.Gap     `json:"gap"`
}

func (a *testApp) dialLive(ctx context.Context, session string, after int64, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	url := "ws" + strings.TrimPrefix(a.URL, "http") + "/ws/sessions/" + session + "?after=" + itoa(after)
	c, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: hdr})
	if err == nil {
		c.SetReadLimit(64 << 20)
	}
	return c, res, err
}

// collect reads the live stream until done(seen) holds, checking that seqs
// arrive in order without duplicates or holes (a gap notice counts as
// delivered: the page fetches it).
func collect(ctx context.Context, t *testing.T, c *websocket.Conn, after int64, done func([]sessions.Record) bool) ([]sessions.Record, []sessions.Gap) {
	t.Helper()
	evs, gaps, err := collectErr(ctx, c, after, func(evs []sessions.Record, _ int64) bool { return done(evs) })
	if err != nil {
		t.Fatal(err)
	}
	return evs, gaps
}

// collectErr is collect for any goroutine; done also gets the last seq
// covered by events or gaps.
func collectErr(ctx context.Context, c *websocket.Conn, after int64, done func(evs []sessions.Record, covered int64) bool) ([]sessions.Record, []sessions.Gap, error) {
	var evs []sessions.Record
	var gaps []sessions.Gap
	next := after + 1
	for !done(evs, next-1) {
		_, b, err := c.Read(ctx)
		if err != nil {
			return evs, gaps, fmt.Errorf("read live stream after seq %d: %w", next-1, err)
		}
		var m liveMsg
		if err := json.Unmarshal(b, &m); err != nil {
			return evs, gaps, fmt.Errorf("live message %.200q: %w", b, err)
		}
		for _, e := range m.Events {
			if e.Seq != next {
				return evs, gaps, fmt.Errorf("live stream: got seq %d, want %d (duplicate or hole)", e.Seq, next)
			}
			next++
			evs = append(evs, e)
		}
		if m.Gap != nil {
			if m.Gap.From != next || m.Gap.To < m.Gap.From {
				return evs, gaps, fmt.Errorf("gap %+v does not continue the stream at %d", *m.Gap, next)
			}
			gaps = append(gaps, *m.Gap)
			next = m.Gap.To + 1
		}
	}
	return evs, gaps, nil
}

func hasRecv(data string) func([]sessions.Record) bool {
	return func(evs []sessions.Record) bool {
		for _, e := range evs {
			if e.Kind == engine.KindRecv && string(e.Data) == data && strings.HasPrefix(e.Server, "cli-") {
				return true
			}
		}
		return false
	}
}

func TestLiveStreamsClientEvents(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := a.dialLive(ctx, sid, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()

	_, addr := a.startEcho(sid, map[string]any{"mode": "upper"})
	cid := a.openClient(sid, addr)
	if code := a.do("POST", "/api/sessions/"+sid+"/clients/"+cid+"/send", map[string]string{"text": "hello"}, nil); code != http.StatusOK {
		t.Fatalf("send: %d", code)
	}
	evs, gaps := collect(ctx, t, c, 0, hasRecv("HELLO"))
	if len(gaps) > 0 {
		t.Fatalf("unexpected gaps %v", gaps)
	}
	kinds := map[engine.Kind]bool{}
	for _, e := range evs {
		kinds[e.Kind] = true
	}
	for _, k := range []engine.Kind{engine.KindServerStart, engine.KindListen, engine.KindConnect, engine.KindAccept, engine.KindSend, engine.KindRecv} {
		if !kinds[k] {
			t.Errorf("live stream has no %s event; got %v", k, kinds)
		}
	}
}

func TestLiveResumeAfterHasNoDuplicatesOrHoles(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	_, addr := a.startEcho(sid, nil)
	cid := a.openClient(sid, addr)
	send := func(text string) {
		if code := a.do("POST", "/api/sessions/"+sid+"/clients/"+cid+"/send", map[string]string{"text": text}, nil); code != http.StatusOK {
			t.Fatalf("send %q: %d", text, code)
		}
	}
	send("one")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	c, _, err := a.dialLive(ctx, sid, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := collect(ctx, t, c, 0, hasRecv("one"))
	c.Close(websocket.StatusNormalClosure, "")
	last := first[len(first)-1].Seq

	// Events happen while nobody watches; the resumed stream starts right
	// after the last seq seen, from the store, then continues live.
	send("two")
	a.waitEvents(sid, "the echo of two", hasRecv("two"))
	c2, _, err := a.dialLive(ctx, sid, last, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.CloseNow()
	send("three")
	second, _ := collect(ctx, t, c2, last, hasRecv("three"))
	if second[0].Seq != last+1 {
		t.Fatalf("resumed at seq %d, want %d", second[0].Seq, last+1)
	}
	if !hasRecv("two")(second) {
		t.Fatal("resumed stream misses the events that happened while disconnected")
	}
}

// A browser that stops reading never slows a socket nor other viewers: its
// buffer overflows into a gap notice, and the store still has everything.
func TestLiveSlowSubscriberGetsGapNotice(t *testing.T) {
	a := newTestApp(t, withLiveBuffer(64))
	sid := a.newSession()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	slow, _, err := a.dialLive(ctx, sid, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	fast, _, err := a.dialLive(ctx, sid, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.CloseNow()
	waitFor(t, "two live subscribers", func() bool { return a.Hub.Subscribers(sid) == 2 })

	// Enough bytes to fill the slow reader's socket buffers many times over.
	const n = 3000
	payload := []byte(strings.Repeat("x", 8<<10))
	type result struct {
		evs  []sessions.Record
		gaps []sessions.Gap
		err  error
	}
	fastDone := make(chan result, 1)
	go func() {
		evs, gaps, err := collectErr(ctx, fast, 0, func(_ []sessions.Record, covered int64) bool { return covered >= n })
		fastDone <- result{evs, gaps, err}
	}()
	for i := range n {
		a.Rec.Emit(engine.Event{Session: sid, At: time.Now(), Kind: engine.KindRecv, Conn: "c-test",
			Data: payload, Len: len(payload), Meta: map[string]any{"i": i}})
	}
	waitFor(t, "a gap for the slow subscriber", func() bool { return a.Hub.Gaps() > 0 })

	// Sockets are unaffected: an echo server answers while the viewer stalls.
	_, addr := a.startEcho(sid, nil)
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := conn.Read(buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo while a viewer stalls: %q, %v", buf, err)
	}

	// The other subscriber has every event (live or through its gap fills).
	select {
	case r := <-fastDone:
		if r.err != nil {
			t.Fatal(r.err)
		}
		seen := map[int64]bool{}
		for _, e := range r.evs {
			seen[e.Seq] = true
		}
		for _, g := range r.gaps { // the page fetches these from the API
			var page struct{ Events []sessions.Record }
			a.do("GET", "/api/sessions/"+sid+"/events?after="+itoa(g.From-1)+"&limit="+itoa(g.To-g.From+1), nil, &page)
			for _, e := range page.Events {
				seen[e.Seq] = true
			}
		}
		for seq := int64(1); seq <= n; seq++ {
			if !seen[seq] {
				t.Fatalf("fast subscriber never got seq %d", seq)
			}
		}
	case <-ctx.Done():
		t.Fatal("fast subscriber did not receive all events")
	}

	// The slow one, reading at last, is told what it missed.
	_, gaps, err := collectErr(ctx, slow, 0, func(_ []sessions.Record, covered int64) bool {
		return covered >= n+2 // n events, then the echo server's start and listen
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) == 0 {
		t.Fatal("slow subscriber got no gap notice")
	}
}

func TestLiveRefusesForeignOrigin(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, res, err := a.dialLive(ctx, sid, 0, http.Header{"Origin": {"https://evil.example"}})
	if err == nil {
		t.Fatal("a WebSocket from a foreign origin was accepted")
	}
	if res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: got %v, want 403", res)
	}
}

func TestLiveUnknownSessionIs404(t *testing.T) {
	a := newTestApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, res, err := a.dialLive(ctx, "nosuchsession", 0, nil)
	if err == nil || res == nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown session: got %v %v, want 404", res, err)
	}
}

func TestLiveShutdownClosesWithGoingAway(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := a.dialLive(ctx, sid, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	waitFor(t, "the subscriber", func() bool { return a.Hub.Subscribers(sid) == 1 })
	a.Hub.Close()
	_, _, err = c.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Fatalf("close status %v (%v), want going away", got, err)
	}
	a.Site.Wait()
}

// Shutdown does not wait out the write timeout of a viewer that stopped
// reading: its stream is cut off after a short grace.
func TestLiveShutdownCutsOffAViewerThatNeverReads(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	payload := []byte(strings.Repeat("x", 8<<10))
	for range 3000 { // 24 MiB of history: far more than the socket buffers hold
		a.Rec.Emit(engine.Event{Session: sid, At: time.Now(), Kind: engine.KindRecv, Conn: "c-test", Data: payload, Len: len(payload)})
	}
	if err := a.Rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	stuck, _, err := a.dialLive(ctx, sid, 0, nil) // never read: the history write blocks
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.CloseNow()
	waitFor(t, "the subscriber", func() bool { return a.Hub.Subscribers(sid) == 1 })
	a.Hub.Close()
	done := make(chan struct{})
	go func() { a.Site.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("shutdown still waits for the stuck viewer after a minute (its write timeout is %v: shutdown must cut it off itself)", a.Site.cfg.LiveWriteTimeout)
	}
}

// The WebSocket endpoint refuses, as JSON, what is not a WebSocket upgrade
// from this instance's pages.
func TestLiveRefusalsAreJSON(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	res := a.request("GET", "/ws/sessions/"+sid, "", nil)
	var e apiErrBody
	if res.Status != http.StatusUpgradeRequired || json.Unmarshal(res.Body, &e) != nil || !strings.Contains(e.Error, "WebSocket") {
		t.Errorf("plain GET: %d %s, want 426 with a JSON error", res.Status, res.Body)
	}
	res = a.request("GET", "/ws/sessions/"+sid, "", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade",
		"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": "https://evil.example"})
	e = apiErrBody{}
	if res.Status != http.StatusForbidden || json.Unmarshal(res.Body, &e) != nil || !strings.Contains(e.Error, "cross-origin") {
		t.Errorf("foreign origin: %d %s, want 403 with a JSON error", res.Status, res.Body)
	}
}

// A resume point past the session's last event would skip the next ones:
// it is refused.
func TestLiveAfterPastTheEndIs400(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	a.startEcho(sid, nil) // seqs 1 to 3: server-start, listen, option
	a.waitEvents(sid, "the server's events", func(evs []sessions.Record) bool { return len(evs) == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, res, err := a.dialLive(ctx, sid, 9, nil); err == nil || res == nil || res.StatusCode != http.StatusBadRequest {
		t.Fatalf("after=9 of 3 events: %v %v, want 400", res, err)
	}
	c, _, err := a.dialLive(ctx, sid, 3, nil) // the end itself is fine
	if err != nil {
		t.Fatal(err)
	}
	c.CloseNow()
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// emitFlood emits n small recv events into session from its own goroutine,
// as a busy socket would, and returns a channel closed when it is done.
func emitFlood(a *testApp, session string, n int) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		data := []byte("flood")
		for i := range n {
			a.Rec.Emit(engine.Event{Session: session, At: time.Now(), Kind: engine.KindRecv, Conn: "c-flood",
				Data: data, Len: len(data), Meta: map[string]any{"i": i}})
		}
	}()
	return done
}

// Subscribing with after= while events are being written is the one case
// where the history read and the live buffer overlap: every viewer must
// still get each seq exactly once, in order (collectErr fails on a
// duplicate or a hole; the page drops duplicates itself, other clients do
// not), and its events must be the stored ones, byte for byte.
func TestLiveResumeWhileWritingHasNoDuplicatesOrHoles(t *testing.T) {
	for _, buf := range []int{4096, 32} { // the default buffer, and one that overflows into gaps at once
		t.Run(fmt.Sprintf("buffer %d", buf), func(t *testing.T) {
			a := newTestApp(t, withLiveBuffer(buf))
			sid := a.newSession()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			const total = 24000
			flooding := emitFlood(a, sid, total)
			// Viewers join at several points of the flood, each resuming
			// after a seq that is already stored: just behind the end, or
			// from the start (a long history read, during which the live
			// buffer fills and, if small, overflows into a gap that starts
			// inside what the history delivers).
			type result struct {
				after int64
				evs   []sessions.Record
				gaps  []sessions.Gap
				err   error
			}
			results := make(chan result, 10)
			joined := 0
			for i, at := range []int64{500, 3000, 6000, 6000, 12000, 12000, 18000, 18000} {
				waitFor(t, fmt.Sprintf("%d events stored", at), func() bool {
					s, err := a.Store.GetSession(ctx, sid)
					return err == nil && s.Events >= at
				})
				after := at - 400
				if i%2 == 1 {
					after = 0
				}
				c, _, err := a.dialLive(ctx, sid, after, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer c.CloseNow()
				joined++
				go func() {
					evs, gaps, err := collectErr(ctx, c, after, func(_ []sessions.Record, covered int64) bool { return covered >= total })
					results <- result{after, evs, gaps, err}
				}()
			}
			<-flooding
			if err := a.Rec.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			stored := map[int64]string{}
			for _, r := range allRawEvents(t, a, sid) {
				stored[r.Seq] = string(r.AppendJSON(nil))
			}
			for range joined {
				r := <-results
				if r.err != nil {
					t.Fatalf("viewer after %d: %v", r.after, r.err)
				}
				for _, e := range r.evs {
					if got, want := string(e.JSON()), stored[e.Seq]; got != want {
						t.Fatalf("viewer after %d, seq %d:\n live   %s\n stored %s", r.after, e.Seq, got, want)
					}
				}
				t.Logf("viewer after %d: %d events, %d gaps", r.after, len(r.evs), len(r.gaps))
			}
		})
	}
}

// allRawEvents reads every stored event of session (after the flood).
func allRawEvents(t *testing.T, a *testApp, session string) []sessions.RawEvent {
	t.Helper()
	var out []sessions.RawEvent
	for {
		page, err := a.Store.RawEvents(context.Background(), session, int64(len(out)), 0, sessions.MaxEventsPage)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
	}
}

// -max-subscribers bounds the live viewers of one session: one more is
// refused with a 429 saying why, other sessions are unaffected, and a
// viewer that leaves frees its place.
func TestLiveViewerLimitIs429(t *testing.T) {
	a := newTestApp(t, func(_ *engine.LabConfig, c *Config, _ *int) { c.MaxSubscribers = 2 })
	sid, other := a.newSession(), a.newSession()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var open []*websocket.Conn
	for range 2 {
		c, _, err := a.dialLive(ctx, sid, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		open = append(open, c)
	}
	waitFor(t, "two viewers", func() bool { return a.Hub.Subscribers(sid) == 2 })
	_, res, err := a.dialLive(ctx, sid, 0, nil)
	if err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third viewer: %v (response %+v), want 429", err, res)
	}
	var body struct{ Error string }
	if json.NewDecoder(res.Body).Decode(&body); !strings.Contains(body.Error, "too many live viewers") {
		t.Errorf("429 body %q does not say why", body.Error)
	}
	c, _, err := a.dialLive(ctx, other, 0, nil)
	if err != nil {
		t.Fatalf("a viewer of another session was refused: %v", err)
	}
	c.CloseNow()
	open[0].Close(websocket.StatusNormalClosure, "")
	waitFor(t, "the first viewer to leave", func() bool { return a.Hub.Subscribers(sid) == 1 })
	var again *websocket.Conn
	waitFor(t, "a place for a new viewer", func() bool {
		again, _, err = a.dialLive(ctx, sid, 0, nil)
		return err == nil
	})
	again.CloseNow()
}

// What a live delivery holds that a viewer has not seen: the overlap of the
// history read and the live buffer is cut off, events and gap alike, so a
// gap notice never starts below what the viewer already has.
func TestUnseenCutsTheOverlap(t *testing.T) {
	recs := func(seqs ...int64) []sessions.Record {
		var out []sessions.Record
		for _, s := range seqs {
			out = append(out, sessions.Record{Seq: s})
		}
		return out
	}
	tests := []struct {
		name     string
		recs     []sessions.Record
		gap      *sessions.Gap
		last     int64
		wantSeqs []int64
		wantGap  *sessions.Gap
	}{
		{"nothing seen", recs(5, 6), &sessions.Gap{From: 7, To: 9}, 4, []int64{5, 6}, &sessions.Gap{From: 7, To: 9}},
		{"events seen", recs(5, 6, 7), nil, 6, []int64{7}, nil},
		{"all events seen, gap starts below last", recs(5, 6), &sessions.Gap{From: 7, To: 20}, 12, nil, &sessions.Gap{From: 13, To: 20}},
		{"gap ends at last", recs(5), &sessions.Gap{From: 6, To: 12}, 12, nil, nil},
		{"gap ends below last", nil, &sessions.Gap{From: 6, To: 9}, 12, nil, nil},
		{"some events new, gap after them", recs(10, 11, 12, 13), &sessions.Gap{From: 14, To: 30}, 11, []int64{12, 13}, &sessions.Gap{From: 14, To: 30}},
	}
	for _, tt := range tests {
		got, gap := unseen(tt.recs, tt.gap, tt.last)
		var seqs []int64
		for _, r := range got {
			seqs = append(seqs, r.Seq)
		}
		if fmt.Sprint(seqs) != fmt.Sprint(tt.wantSeqs) || fmt.Sprint(gap) != fmt.Sprint(tt.wantGap) {
			t.Errorf("%s: unseen = %v, %v; want %v, %v", tt.name, seqs, gap, tt.wantSeqs, tt.wantGap)
		}
	}
}
