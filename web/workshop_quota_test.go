package web

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// logBuffer is a log's text, safe for the handler's concurrent writes.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the log lines whose msg is msg.
func (l *logBuffer) lines(msg string) []string {
	l.mu.Lock()
	text := l.b.String()
	l.mu.Unlock()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "msg="+strconv.Quote(msg)) || strings.Contains(sc.Text(), "msg="+msg+" ") {
			out = append(out, sc.Text())
		}
	}
	return out
}

// cookieHeader is b's cookies as a request header (for a WebSocket dial).
func cookieHeader(a *testApp, b *browser) http.Header {
	u, _ := url.Parse(a.URL)
	h := http.Header{}
	for _, c := range b.jar.Cookies(u) {
		h.Add("Cookie", c.Name+"="+c.Value)
	}
	return h
}

// scrapeMetrics GETs /metrics over HTTP and returns its text.
func scrapeMetrics(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", res.StatusCode, err)
	}
	return string(b)
}

// metric is the value of the sample name{labels} in a scrape (-1: none).
func metric(text, sample string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` ([0-9.e+-]+)$`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// A participant over a quota is told which one, by a 429 naming it (a
// client past -participant-max-sockets, a second session past
// -max-participant-sessions) and by an event on their live stream (a
// connection from outside past the quota, closed at once); another
// participant's server and client work as before. The operator's /metrics
// counts the refusals by quota, the commits, the sockets by kind and the
// participants; every log line of the participant's actions names the
// workshop and the participant.
func TestWorkshopParticipantQuotas(t *testing.T) {
	var logs logBuffer
	a := newTestAppLog(t, &logs, withWorkshop(func(c *Config) { c.ParticipantMaxSockets = 3 }))
	inst := a.instructor()
	w := inst.createWorkshop("Quotas")
	ada, adaJ := a.participant(w.Code, "Ada")
	bob, bobJ := a.participant(w.Code, "Bob")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	live, _, err := a.dialLive(ctx, adaJ.Session, 0, cookieHeader(a, ada))
	if err != nil {
		t.Fatal(err)
	}
	defer live.CloseNow()

	var srv struct{ ID, Addr string }
	if code := ada.do("POST", "/api/sessions/"+adaJ.Session+"/servers", map[string]any{"kind": "tcp-echo"}, &srv); code != http.StatusCreated {
		t.Fatalf("Ada's server: %d", code)
	}
	if code := ada.do("POST", "/api/sessions/"+adaJ.Session+"/clients", map[string]any{"kind": "tcp", "target": srv.Addr}, nil); code != http.StatusCreated {
		t.Fatalf("Ada's first client: %d", code)
	}
	// Listener, client, accepted end: 3 of 3. A second client is refused.
	var refusal errorBody
	if code := ada.do("POST", "/api/sessions/"+adaJ.Session+"/clients", map[string]any{"kind": "tcp", "target": srv.Addr}, &refusal); code != http.StatusTooManyRequests ||
		!strings.Contains(refusal.Error, "at most 3 open sockets") || !strings.Contains(refusal.Error, "-participant-max-sockets") {
		t.Errorf("Ada's second client: %d %q; want 429 naming the quota of 3 sockets", code, refusal.Error)
	}
	// A program on the machine (nc, Python) connecting to her server: closed
	// at once, and her live stream says why.
	outside, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	outside.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := outside.Read(make([]byte, 1)); err == nil {
		t.Error("a connection past Ada's quota was kept open")
	}
	outside.Close()
	evs, _ := collect(ctx, t, live, 0, func(evs []sessions.Record) bool {
		return slices.ContainsFunc(evs, func(r sessions.Record) bool {
			return r.Kind == engine.KindError && r.Err != nil && r.Err.Errno == "LIMIT"
		})
	})
	limit := evs[slices.IndexFunc(evs, func(r sessions.Record) bool {
		return r.Kind == engine.KindError && r.Err != nil && r.Err.Errno == "LIMIT"
	})]
	if !strings.Contains(limit.Err.Hint, "-participant-max-sockets") {
		t.Errorf("the LIMIT event's hint %q does not name the quota", limit.Err.Hint)
	}
	// Her session's API says what her quotas are and what she holds.
	var view struct {
		Quota       engine.Quota `json:"quota"`
		OpenSockets int64        `json:"open_sockets"`
	}
	if ada.do("GET", "/api/sessions/"+adaJ.Session, nil, &view); view.Quota.Sockets != 3 || view.Quota.EventRate != defaultParticipantEventRate || view.OpenSockets != 3 {
		t.Errorf("Ada's session view: quota %+v, %d open sockets; want 3 sockets, %d events/s, 3 open", view.Quota, view.OpenSockets, defaultParticipantEventRate)
	}
	// A second session is past -max-participant-sessions (1).
	if code := ada.do("POST", "/api/sessions", map[string]any{"name": "another"}, &refusal); code != http.StatusTooManyRequests || !strings.Contains(refusal.Error, "may have 1 sessions") {
		t.Errorf("Ada's second session: %d %q; want 429", code, refusal.Error)
	}

	// Bob is not affected: his server and client work, his send echoes.
	var bsrv, bcli struct{ ID, Addr string }
	if code := bob.do("POST", "/api/sessions/"+bobJ.Session+"/servers", map[string]any{"kind": "tcp-echo"}, &bsrv); code != http.StatusCreated {
		t.Fatalf("Bob's server: %d", code)
	}
	if code := bob.do("POST", "/api/sessions/"+bobJ.Session+"/clients", map[string]any{"kind": "tcp", "target": bsrv.Addr}, &bcli); code != http.StatusCreated {
		t.Fatalf("Bob's client: %d", code)
	}
	if code := bob.do("POST", "/api/sessions/"+bobJ.Session+"/clients/"+bcli.ID+"/send", map[string]string{"text": "hi bob"}, nil); code != http.StatusOK {
		t.Fatalf("Bob's send: %d", code)
	}
	bobLive, _, err := a.dialLive(ctx, bobJ.Session, 0, cookieHeader(a, bob))
	if err != nil {
		t.Fatal(err)
	}
	defer bobLive.CloseNow()
	collect(ctx, t, bobLive, 0, hasRecv("hi bob"))

	// The instructor's dashboard says what the quota refused Ada, and puts
	// her first; Bob was refused nothing.
	var wv workshopView
	if code := inst.do("GET", "/api/workshops/"+w.ID+"?sort=help", nil, &wv); code != http.StatusOK || len(wv.Participants) != 2 {
		t.Fatalf("dashboard: %d %+v", code, wv.Participants)
	}
	if p := wv.Participants[0]; p.Name != "Ada" || p.Refused["sockets"] != 2 || !strings.Contains(p.NeedsHelp, "refused by a quota: sockets ×2") {
		t.Errorf("the dashboard's first row: %s, refused %v, %q; want Ada, sockets ×2", p.Name, p.Refused, p.NeedsHelp)
	}
	if p := wv.Participants[1]; len(p.Refused) != 0 || strings.Contains(p.NeedsHelp, "quota") {
		t.Errorf("Bob's row: refused %v, %q; want nothing", p.Refused, p.NeedsHelp)
	}

	// The operator's view.
	m := httptest.NewServer(a.Site.MetricsHandler())
	defer m.Close()
	text := scrapeMetrics(t, m.URL)
	for sample, want := range map[string]float64{
		`sockplay_quota_refusals_total{quota="sockets"}`:               2, // the client and the connection from outside
		`sockplay_quota_refusals_total{quota="sessions"}`:              1,
		`sockplay_quota_refusals_total{quota="servers"}`:               0,
		`sockplay_open_sockets_by_kind{kind="tcp-echo",side="server"}`: 4, // two listeners, two accepted ends
		`sockplay_open_sockets_by_kind{kind="tcp",side="client"}`:      2,
		`sockplay_participants`:                                        2,
		`sockplay_live_viewers`:                                        2,
	} {
		if got := metric(text, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}
	if n := metric(text, "sockplay_recorder_commit_seconds_count"); n < 1 {
		t.Errorf("sockplay_recorder_commit_seconds_count = %v: no commit measured", n)
	}
	if n := metric(text, "sockplay_recorder_commit_events_sum"); n < float64(len(evs)) {
		t.Errorf("sockplay_recorder_commit_events_sum = %v, below the %d events Ada's stream had", n, len(evs))
	}
	for _, name := range []string{"sockplay_live_gap_notices_total", "sockplay_events_not_kept_total", "sockplay_recorder_queue", "sockplay_backpressure_waits_total"} {
		if metric(text, name) < 0 {
			t.Errorf("no %s in the scrape", name)
		}
	}

	// The log: each line of Ada's actions names the workshop and Ada.
	tag := fmt.Sprintf("workshop=%s participant=%s", w.ID, adaJ.Participant.ID)
	for _, msg := range []string{"participant joined", "server started", "refused: a limit is reached", "quota reached: refused"} {
		var hers []string
		for _, l := range logs.lines(msg) {
			if strings.Contains(l, adaJ.Session) || strings.Contains(l, "participant="+adaJ.Participant.ID) {
				hers = append(hers, l)
			}
		}
		if len(hers) == 0 {
			t.Errorf("no %q line of Ada's", msg)
		}
		for _, l := range hers {
			if !strings.Contains(l, tag) {
				t.Errorf("a line of Ada's without %q: %s", tag, l)
			}
		}
	}
}

// Fairness: Bob floods (a multi client of 10 connections writing into his
// echo as fast as it can) under an event budget of 2000 a second for the
// whole instance; Ada, meanwhile, sends and reads her echoes. Bob's
// sockets are paced (they wait), Ada's share stays at least her fair half
// of the budget, every one of her events is recorded and delivered on her
// live stream in order, and the instructor's dashboard keeps answering.
// Nothing here is timed: counts, and deadlines for what must happen.
func TestWorkshopFairnessOneFloods(t *testing.T) {
	const budget = 2000
	a := newTestApp(t, withWorkshop(func(c *Config) { c.ParticipantMaxEventRate = -1 }),
		func(l *engine.LabConfig, _ *Config, _ *int) { l.EventBudget = budget })
	inst := a.instructor()
	w := inst.createWorkshop("Fair")
	ada, adaJ := a.participant(w.Code, "Ada")
	bob, bobJ := a.participant(w.Code, "Bob")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	var bsrv struct{ ID, Addr string }
	if code := bob.do("POST", "/api/sessions/"+bobJ.Session+"/servers", map[string]any{"kind": "tcp-echo"}, &bsrv); code != http.StatusCreated {
		t.Fatalf("Bob's server: %d", code)
	}
	// 10 connections × 1000 messages × 64 bytes: about 40,000 events, 20 s
	// of the whole budget.
	began := time.Now()
	if code := bob.do("POST", "/api/sessions/"+bobJ.Session+"/clients", map[string]any{"kind": "multi", "target": bsrv.Addr,
		"options": map[string]any{"connections": 10, "messages": 1000, "size": 64}}, nil); code != http.StatusCreated {
		t.Fatalf("Bob's flood: %d", code)
	}
	waitFor(t, "Bob's sockets to wait for his share", func() bool { return a.Lab.Throttled(bobJ.Session) > 0 })

	var srv, cli struct{ ID, Addr string }
	if code := ada.do("POST", "/api/sessions/"+adaJ.Session+"/servers", map[string]any{"kind": "tcp-echo"}, &srv); code != http.StatusCreated {
		t.Fatalf("Ada's server: %d", code)
	}
	if code := ada.do("POST", "/api/sessions/"+adaJ.Session+"/clients", map[string]any{"kind": "tcp", "target": srv.Addr}, &cli); code != http.StatusCreated {
		t.Fatalf("Ada's client: %d", code)
	}
	live, _, err := a.dialLive(ctx, adaJ.Session, 0, cookieHeader(a, ada))
	if err != nil {
		t.Fatal(err)
	}
	defer live.CloseNow()
	const sends = 20
	var seen []sessions.Record
	minShare := budget
	for i := range sends {
		msg := fmt.Sprintf("ada-%02d", i)
		if code := ada.do("POST", "/api/sessions/"+adaJ.Session+"/clients/"+cli.ID+"/send", map[string]string{"text": msg}, nil); code != http.StatusOK {
			t.Fatalf("Ada's send %d: %d", i, code)
		}
		got, _ := collect(ctx, t, live, int64(len(seen)), func(evs []sessions.Record) bool {
			return hasRecv(msg)(append(slices.Clip(seen), evs...))
		})
		seen = append(seen, got...)
		minShare = min(minShare, a.Lab.EventRate(adaJ.Session))
		// The dashboard answers during the flood, and shows both.
		if i%5 == 0 {
			var v struct {
				Participants []struct {
					Name   string
					Events int64
				}
			}
			if code := inst.do("GET", "/api/workshops/"+w.ID, nil, &v); code != http.StatusOK || len(v.Participants) != 2 {
				t.Fatalf("the dashboard during the flood: %d, %d participants", code, len(v.Participants))
			}
		}
	}
	bobShare, bobWaits := a.Lab.EventRate(bobJ.Session), a.Lab.Throttled(bobJ.Session)
	if a.Lab.Throttled(bobJ.Session) == 0 {
		t.Fatal("Bob's flood was never paced: the test shows nothing")
	}
	// Ada's events: her 20 sends, their 20 recvs by her server, its 20
	// echoes and her 20 recvs, all delivered in order (collect checks the
	// seqs), none lost.
	count := func(kind engine.Kind, owner string) int {
		n := 0
		for _, r := range seen {
			if r.Kind == kind && r.Server == owner {
				n++
			}
		}
		return n
	}
	echoed := 0
	for _, r := range seen {
		if r.Kind == engine.KindRecv && r.Server == cli.ID {
			echoed += len(r.Data)
		}
	}
	if n := count(engine.KindSend, cli.ID); n != sends || echoed != sends*len("ada-00") {
		t.Errorf("Ada's live stream: %d sends, %d bytes echoed; want %d and %d", n, echoed, sends, sends*len("ada-00"))
	}
	if slices.ContainsFunc(seen, func(r sessions.Record) bool { return r.Kind == engine.KindLoss }) {
		t.Error("Ada's stream has a loss event")
	}
	// Her share of the budget never fell below half (two sessions want
	// events: max-min fairness gives the quiet one what it uses and at least
	// an equal share).
	if minShare < budget/2 {
		t.Errorf("Ada's share fell to %d events a second while Bob flooded; her fair share is at least %d", minShare, budget/2)
	}
	if bobShare > budget {
		t.Errorf("Bob's share is %d, above the whole budget of %d", bobShare, budget)
	}
	var bs struct{ Events int64 }
	bob.do("GET", "/api/sessions/"+bobJ.Session, nil, &bs)
	took := time.Since(began).Seconds()
	t.Logf("budget %d/s: Ada's share at least %d/s over her %d sends (%d events seen live); Bob's share %d/s, his sockets waited %d times, %d events recorded in %.1f s (%.0f/s)",
		budget, minShare, sends, len(seen), bobShare, bobWaits, bs.Events, took, float64(bs.Events)/took)
}

// A participant past their rate quota is slowed, not refused, and their
// page's servers panel says so, naming the quota.
func TestWorkshopRateQuotaOnThePage(t *testing.T) {
	a := newTestApp(t, withWorkshop(func(c *Config) { c.ParticipantMaxEventRate = 100 }))
	w := a.instructor().createWorkshop("Slow")
	ada, adaJ := a.participant(w.Code, "Ada")
	var srv struct{ ID, Addr string }
	if code := ada.do("POST", "/api/sessions/"+adaJ.Session+"/servers", map[string]any{"kind": "tcp-echo"}, &srv); code != http.StatusCreated {
		t.Fatalf("Ada's server: %d", code)
	}
	// 2 × 100 echoed messages: 800 events, far past the burst of 64.
	if code := ada.do("POST", "/api/sessions/"+adaJ.Session+"/clients", map[string]any{"kind": "multi", "target": srv.Addr,
		"options": map[string]any{"connections": 2, "messages": 100, "size": 16}}, nil); code != http.StatusCreated {
		t.Fatalf("Ada's multi client: %d", code)
	}
	waitFor(t, "Ada's sockets to be slowed", func() bool { return a.Lab.Throttled(adaJ.Session) > 0 })
	res, body := ada.send("GET", "/s/"+adaJ.Session+"/endpoints", "", false)
	want := "may emit at most 100 events a second (-participant-max-event-rate)"
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		t.Errorf("the servers panel (%d) does not say %q:\n%.3000s", res.StatusCode, want, body)
	}
}
