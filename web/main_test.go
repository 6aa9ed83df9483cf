package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// chromedp's allocator and net/http's keep-alive connections end
		// asynchronously after Close.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	)
}

// testApp is the whole of sockplay wired as main wires it: a real SQLite file,
// a real lab on loopback, the recorder and hub, served by httptest.
type testApp struct {
	t     testing.TB
	URL   string
	Store *sessions.Store
	Rec   *sessions.Recorder
	Hub   *sessions.Hub
	Lab   *engine.Lab
	Site  *Server
	DB    string
	srv   *httptest.Server
}

type appOption func(*engine.LabConfig, *Config, *int)

// withLiveBuffer sets the per-subscriber live buffer (events).
func withLiveBuffer(n int) appOption {
	return func(_ *engine.LabConfig, _ *Config, buf *int) { *buf = n }
}

// newTestApp starts sockplay for one test and stops it in Cleanup, in the
// shutdown order of docs/architecture.md.
func newTestApp(t testing.TB, opts ...appOption) *testApp {
	t.Helper()
	return newTestAppLog(t, io.Discard, opts...)
}

// newTestAppLog is newTestApp with its log written to logw (text, debug
// level and above).
func newTestAppLog(t testing.TB, logw io.Writer, opts ...appOption) *testApp {
	t.Helper()
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dbPath := filepath.Join(t.TempDir(), "sockplay.db")
	store, err := sessions.Open(context.Background(), dbPath, log)
	if err != nil {
		t.Fatal(err)
	}
	ports, err := engine.ParsePortRange(apiLabRange)
	if err != nil {
		t.Fatal(err)
	}
	labCfg := engine.LabConfig{Host: "127.0.0.1", Ports: ports, CaptureCap: 1 << 20,
		MaxServersPerSession: 20, MaxClientsPerSession: 50, MaxConnsPerServer: 200}
	// A viewer's writes get minutes, not 15 s: on a loaded test machine a
	// test's reader can be starved that long without being a stuck browser.
	cfg := Config{LabHost: "127.0.0.1", LiveWriteTimeout: 3 * time.Minute}
	liveBuf := 4096
	for _, o := range opts {
		o(&labCfg, &cfg, &liveBuf)
	}
	hub := sessions.NewHub(liveBuf)
	commits := NewCommitStats()
	rec := sessions.NewRecorder(store, hub, sessions.RecorderConfig{OnCommit: commits.Observe}, log)
	lab := engine.NewLab(labCfg, rec, log)
	site := NewServer(Deps{Lab: lab, Store: store, Recorder: rec, Hub: hub, Log: log, Config: cfg, Commits: commits})
	srv := httptest.NewServer(site)
	a := &testApp{t: t, URL: srv.URL, Store: store, Rec: rec, Hub: hub, Lab: lab, Site: site, DB: dbPath, srv: srv}
	t.Cleanup(func() {
		srv.Config.SetKeepAlivesEnabled(false)
		hub.Close()
		site.Wait()
		srv.Close()
		lab.Close()
		rec.Close()
		store.Close()
		http.DefaultClient.CloseIdleConnections()
	})
	return a
}

// do sends a JSON request and decodes the JSON answer into out (if not nil).
// It returns the status code.
func (a *testApp) do(method, path string, body any, out any) int {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, a.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return res.StatusCode
}

// newSession creates a session through the API and returns its id.
func (a *testApp) newSession() string {
	a.t.Helper()
	var s sessions.Session
	if code := a.do("POST", "/api/sessions", map[string]string{"name": a.t.Name()}, &s); code != http.StatusCreated {
		a.t.Fatalf("create session: status %d", code)
	}
	return s.ID
}

// startEcho starts a tcp-echo server through the API and returns its id and address.
func (a *testApp) startEcho(session string, options map[string]any) (id, addr string) {
	a.t.Helper()
	return a.start(session, "tcp-echo", options)
}

// start starts a server of kind through the API and returns its id and
// address.
func (a *testApp) start(session, kind string, options map[string]any) (id, addr string) {
	a.t.Helper()
	var out struct{ ID, Addr string }
	code := a.do("POST", "/api/sessions/"+session+"/servers", map[string]any{"kind": kind, "port": 0, "options": options}, &out)
	if code != http.StatusCreated {
		a.t.Fatalf("start %s server: status %d", kind, code)
	}
	return out.ID, out.Addr
}

// openClient opens a tcp client through the API and returns its id.
func (a *testApp) openClient(session, target string) string {
	a.t.Helper()
	var out struct{ ID string }
	if code := a.do("POST", "/api/sessions/"+session+"/clients", map[string]any{"kind": "tcp", "target": target}, &out); code != http.StatusCreated {
		a.t.Fatalf("open client: status %d", code)
	}
	return out.ID
}

// events fetches every stored event after seq through the API, page by page.
func (a *testApp) events(session string, after int64) []sessions.Record {
	a.t.Helper()
	var all []sessions.Record
	for {
		var out struct{ Events []sessions.Record }
		if code := a.do("GET", "/api/sessions/"+session+"/events?limit=5000&after="+itoa(after), nil, &out); code != http.StatusOK {
			a.t.Fatalf("events: status %d", code)
		}
		all = append(all, out.Events...)
		if len(out.Events) < 5000 {
			return all
		}
		after = out.Events[len(out.Events)-1].Seq
	}
}

// waitEvents polls the API until cond holds over the session's stored
// events, or fails after a generous deadline.
func (a *testApp) waitEvents(session string, what string, cond func([]sessions.Record) bool) []sessions.Record {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs := a.events(session, 0)
		if cond(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("timed out waiting for %s; have %d events", what, len(evs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
