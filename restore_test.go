package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// instance is a sockplay serving on loopback in the test, on cfg.
type instance struct {
	t      *testing.T
	base   string
	cancel context.CancelFunc
	done   chan error
}

func startInstance(t *testing.T, cfg config) *instance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{t: t, base: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { in.done <- serve(ctx, cfg, ln, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(in.stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(in.base + "/healthz")
		if err == nil {
			res.Body.Close()
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("sockplay did not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop shuts the instance down as SIGTERM would and waits for it.
func (in *instance) stop() {
	if in.cancel == nil {
		return
	}
	in.cancel()
	in.cancel = nil
	if err := <-in.done; err != nil {
		in.t.Errorf("serve: %v", err)
	}
}

func (in *instance) session(id string) (v struct {
	Servers []struct {
		ID, Kind, Addr, State, StopReason string
		Restored                          bool
	}
}) {
	in.t.Helper()
	res, err := http.Get(in.base + "/api/sessions/" + id)
	if err != nil {
		in.t.Fatal(err)
	}
	defer res.Body.Close()
	var raw struct {
		Servers []struct {
			ID         string `json:"id"`
			Kind       string `json:"kind"`
			Addr       string `json:"addr"`
			State      string `json:"state"`
			StopReason string `json:"stop_reason"`
			Restored   bool   `json:"restored"`
		} `json:"servers"`
	}
	if err := json.NewDecoder(res.Body).Decode(&raw); err != nil {
		in.t.Fatal(err)
	}
	for _, s := range raw.Servers {
		v.Servers = append(v.Servers, struct {
			ID, Kind, Addr, State, StopReason string
			Restored                          bool
		}{s.ID, s.Kind, s.Addr, s.State, s.StopReason, s.Restored})
	}
	return v
}

// echoOnce connects to addr, sends msg and returns the reply.
func echoOnce(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read the reply from %s: %v", addr, err)
	}
	return string(buf[:n])
}

// A server that ran when sockplay stopped comes back on its port when
// sockplay starts again: a learner's nc and Python commands keep working.
// One the learner stopped stays stopped.
func TestServersComeBackAfterARestart(t *testing.T) {
	cfg := testConfig(t)
	first := startInstance(t, cfg)
	var sess struct{ ID string }
	postJSON(t, first.base+"/api/sessions", `{"name":"restart"}`, &sess)
	var kept, gone struct {
		ID   string `json:"id"`
		Addr string `json:"addr"`
	}
	postJSON(t, first.base+"/api/sessions/"+sess.ID+"/servers", `{"kind":"tcp-echo","options":{"mode":"prefix","prefix":"again: "}}`, &kept)
	postJSON(t, first.base+"/api/sessions/"+sess.ID+"/servers", `{"kind":"tcp-echo"}`, &gone)
	req, _ := http.NewRequest("DELETE", first.base+"/api/sessions/"+sess.ID+"/servers/"+gone.ID, nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("stop: %v %v", res, err)
	}
	if got := echoOnce(t, kept.Addr, "hi"); got != "again: hi" {
		t.Fatalf("before the restart: %q", got)
	}
	first.stop()
	if _, err := net.DialTimeout("tcp", kept.Addr, time.Second); err == nil {
		t.Fatal("the server still listens after the shutdown")
	}

	second := startInstance(t, cfg)
	if got := echoOnce(t, kept.Addr, "hi"); got != "again: hi" {
		t.Errorf("after the restart, the same port answers %q, want the same server's reply", got)
	}
	v := second.session(sess.ID)
	states := map[string]string{}
	for _, s := range v.Servers {
		states[s.ID] = s.State
		if s.ID == kept.ID && (!s.Restored || s.Addr != kept.Addr) {
			t.Errorf("the restored server reads %+v, want restored on %s", s, kept.Addr)
		}
	}
	if len(v.Servers) != 2 || states[kept.ID] != "running" || states[gone.ID] != "stopped" {
		t.Errorf("servers after the restart: %+v; want %s running again (once) and %s still stopped", v.Servers, kept.ID, gone.ID)
	}
}

// A server whose port was taken while sockplay was down is not silently
// lost: it is recorded as stopped with the reason and an EADDRINUSE error,
// and it is not tried again at the next start.
func TestServerWhosePortIsTakenIsReportedAfterARestart(t *testing.T) {
	cfg := testConfig(t)
	first := startInstance(t, cfg)
	var sess struct{ ID string }
	postJSON(t, first.base+"/api/sessions", `{}`, &sess)
	var srv struct {
		ID   string `json:"id"`
		Addr string `json:"addr"`
	}
	postJSON(t, first.base+"/api/sessions/"+sess.ID+"/servers", `{"kind":"tcp-echo"}`, &srv)
	first.stop()
	squatter, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		t.Fatalf("take the port: %v", err)
	}
	defer squatter.Close()

	second := startInstance(t, cfg)
	// The restore's events are recorded as sockplay starts; wait for them.
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := second.session(sess.ID)
		if len(v.Servers) == 1 && v.Servers[0].State == "stopped" && v.Servers[0].StopReason == "could not start again" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("servers: %+v, want one stopped with reason %q", v.Servers, "could not start again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	res, err := http.Get(second.base + "/api/sessions/" + sess.ID + "/events?limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Events []struct {
			Kind string `json:"kind"`
			Err  *struct {
				Errno string `json:"errno"`
			} `json:"err"`
			Meta map[string]any `json:"meta"`
		} `json:"events"`
	}
	json.NewDecoder(res.Body).Decode(&page)
	res.Body.Close()
	found := false
	for _, ev := range page.Events {
		if ev.Kind == "error" && ev.Err != nil && ev.Err.Errno == "EADDRINUSE" && ev.Meta["restore"] == true {
			found = true
		}
	}
	if !found {
		t.Errorf("no EADDRINUSE error event for the restore among %d events", len(page.Events))
	}
	second.stop()
	squatter.Close()
	third := startInstance(t, cfg)
	if v := third.session(sess.ID); len(v.Servers) != 1 || v.Servers[0].State != "stopped" {
		t.Errorf("a server that could not start again is tried again: %+v", v.Servers)
	}
}

// An idle keep-alive connection is closed after -idle-timeout (a local
// client cannot hold thousands open), while a live WebSocket stream, which
// is not an idle HTTP connection, keeps working past it.
func TestIdleConnectionsCloseButLiveStreamsStay(t *testing.T) {
	cfg := testConfig(t, "-idle-timeout", "300ms")
	in := startInstance(t, cfg)
	var sess struct{ ID string }
	postJSON(t, in.base+"/api/sessions", `{}`, &sess)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(in.base, "http")+"/ws/sessions/"+sess.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()

	c, err := net.Dial("tcp", strings.TrimPrefix(in.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	// Read the answer, then wait for the server to close the idle connection.
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("the idle connection was not closed by the server: %v (read %q)", err, all)
	}
	if !strings.Contains(string(all), "200 OK") {
		t.Fatalf("answer %q", all)
	}

	// The stream outlived the idle timeout: a server started now arrives on it.
	var srv struct{ ID string }
	postJSON(t, in.base+"/api/sessions/"+sess.ID+"/servers", `{"kind":"tcp-echo"}`, &srv)
	for {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("the live stream ended: %v", err)
		}
		if strings.Contains(string(msg), `"server-start"`) {
			return
		}
	}
}

// A restored server comes back with its faults as they were at its last
// change: the ones it started with, one added later, one switched off, one
// removed.
func TestFaultsComeBackAfterARestart(t *testing.T) {
	cfg := testConfig(t)
	first := startInstance(t, cfg)
	var sess struct{ ID string }
	postJSON(t, first.base+"/api/sessions", `{"name":"faults"}`, &sess)
	var srv struct {
		ID   string `json:"id"`
		Addr string `json:"addr"`
	}
	postJSON(t, first.base+"/api/sessions/"+sess.ID+"/servers", `{"kind":"tcp-echo","faults":[
		{"name":"slow","type":"latency","attributes":{"latency_ms":7}},
		{"name":"gone","type":"latency","attributes":{"latency_ms":1}}]}`, &srv)
	faults := first.base + "/api/sessions/" + sess.ID + "/servers/" + srv.ID + "/faults"
	postJSON(t, faults, `{"name":"later","type":"reset","direction":"upstream","attributes":{"bytes":1000}}`, nil)
	call := func(method, url, body string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode >= 300 {
			t.Fatalf("%s %s: %v %v", method, url, res, err)
		}
		res.Body.Close()
	}
	call("PATCH", faults+"/slow", `{"enabled":false}`)
	call("DELETE", faults+"/gone", "")
	first.stop()

	second := startInstance(t, cfg)
	res, err := http.Get(second.base + "/api/sessions/" + sess.ID + "/servers/" + srv.ID + "/faults")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got struct {
		Faults []struct {
			Name       string         `json:"name"`
			Type       string         `json:"type"`
			Enabled    bool           `json:"enabled"`
			Attributes map[string]any `json:"attributes"`
		} `json:"faults"`
	}
	if err := json.NewDecoder(res.Body).Decode(&got); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("faults after the restart: %d %v", res.StatusCode, err)
	}
	byName := map[string]bool{}
	for _, f := range got.Faults {
		byName[f.Name] = f.Enabled
		if f.Name == "slow" && f.Attributes["latency_ms"] != float64(7) {
			t.Errorf("slow came back with %v, want latency_ms 7", f.Attributes)
		}
	}
	if len(got.Faults) != 2 || byName["slow"] || !byName["later"] {
		t.Errorf("faults after the restart: %+v; want slow (off) and later (on), not gone", got.Faults)
	}
	if reply := echoOnce(t, srv.Addr, "hi"); reply != "hi" {
		t.Errorf("the restored server answers %q", reply)
	}
}
