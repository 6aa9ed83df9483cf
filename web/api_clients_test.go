package web

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// An app client's send takes {"action","value"}: another request on a new
// connection; the same fields on a tcp client are refused.
func TestAPIHappyAppClientSendsActionValue(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	var srv struct{ ID, Addr string }
	if code := a.do("POST", "/api/sessions/"+sess+"/servers", map[string]any{"kind": "app", "port": 0}, &srv); code != http.StatusCreated {
		t.Fatalf("start app server: status %d", code)
	}
	var cli apiClient
	if code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"kind": "app", "target": srv.Addr,
		"options": map[string]any{"action": "search", "value": "morpheus"}}, &cli); code != http.StatusCreated {
		t.Fatalf("open app client: status %d", code)
	}
	frames := func(evs []sessions.Record) (n int, last string) {
		for _, e := range evs {
			if e.Kind == engine.KindAppFrame && e.Server == cli.ID {
				n++
				last = string(e.Data)
			}
		}
		return n, last
	}
	a.waitEvents(sess, "the first exchange", func(evs []sessions.Record) bool { n, _ := frames(evs); return n == 2 })
	var out struct {
		Sent *int `json:"sent"`
	}
	if code := a.do("POST", "/api/sessions/"+sess+"/clients/"+cli.ID+"/send", map[string]string{"action": "search", "value": "ring"}, &out); code != http.StatusOK {
		t.Fatalf("send action/value: status %d", code)
	}
	evs := a.waitEvents(sess, "the second exchange", func(evs []sessions.Record) bool { n, _ := frames(evs); return n == 4 })
	if _, last := frames(evs); !strings.Contains(last, "Misty Mountains") {
		t.Errorf("second response %q, want the ring's answer", last)
	}
	if code := a.do("POST", "/api/sessions/"+sess+"/clients/"+cli.ID+"/send", map[string]string{"action": "search", "text": "x"}, nil); code != http.StatusBadRequest {
		t.Errorf("send action and text: status %d, want 400", code)
	}
	if code := a.do("POST", "/api/sessions/"+sess+"/clients/"+cli.ID+"/send", map[string]string{"action": "dance"}, nil); code != http.StatusBadRequest {
		t.Errorf("send an unknown action: status %d, want 400", code)
	}
}

func TestAPIActionValueOnATCPClientIsRefused(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	_, addr := a.startEcho(sess, nil)
	var cli apiClient
	if code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"kind": "tcp", "target": addr}, &cli); code != http.StatusCreated {
		t.Fatalf("open client: status %d", code)
	}
	var body struct{ Error string }
	if code := a.do("POST", "/api/sessions/"+sess+"/clients/"+cli.ID+"/send", map[string]string{"action": "search", "value": "x"}, &body); code != http.StatusBadRequest || !strings.Contains(body.Error, "tcp client") {
		t.Errorf("status %d %q, want 400 naming the tcp client", code, body.Error)
	}
}

// Every client kind opens from the API; a tls client that does not trust
// the server answers 502 with ETLS and the explanation.
func TestAPIClientKindsOpen(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	start := func(kind string) string {
		var srv struct{ ID, Addr string }
		if code := a.do("POST", "/api/sessions/"+sess+"/servers", map[string]any{"kind": kind, "port": 0}, &srv); code != http.StatusCreated {
			t.Fatalf("start %s: status %d", kind, code)
		}
		return srv.Addr
	}
	for kind, server := range map[string]string{"udp": "udp-echo", "tls": "tls-echo", "http": "http-api"} {
		addr := start(server)
		var cli apiClient
		if code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"kind": kind, "target": addr}, &cli); code != http.StatusCreated {
			t.Fatalf("open %s client: status %d", kind, code)
		}
		if kind != "http" {
			if code := a.do("POST", "/api/sessions/"+sess+"/clients/"+cli.ID+"/send", map[string]string{"text": "hi"}, nil); code != http.StatusOK {
				t.Errorf("send on the %s client: status %d", kind, code)
			}
		}
	}
	other := a.newSession()
	var srv struct{ Addr string }
	a.do("POST", "/api/sessions/"+other+"/servers", map[string]any{"kind": "tls-echo", "port": 0}, &srv)
	var body apiErrBody
	code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"kind": "tls", "target": srv.Addr}, &body)
	if code != http.StatusBadGateway || body.Errno != "ETLS" || !strings.Contains(body.Error, "unknown authority") || body.Hint == "" {
		t.Errorf("tls client to another session's tls-echo: status %d %+v, want 502 ETLS unknown authority", code, body)
	}
}

// A client that opens several connections (here a finished multi client of
// three) is listed once, and a proxy's upstream leg is the proxy's, not a
// client: the session's view, after they are all done, lists the multi
// client alone, as does the read-only shared view.
func TestSessionViewListsEachClientOnce(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	_, echo := a.startEcho(sid, nil)
	_, proxy := a.start(sid, "tcp-proxy", map[string]any{"target": echo})
	multi := a.clientTo(sid, "multi", echo, map[string]any{"connections": 3, "messages": 2, "size": 8})
	// A program of the learner's own through the proxy.
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte("via the proxy\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, len("via the proxy\n"))); err != nil {
		t.Fatal(err)
	}
	c.Close()
	a.waitEvents(sid, "the multi client's three connections and the proxy's leg", func(evs []sessions.Record) bool {
		connects, legs := 0, 0
		for _, e := range evs {
			if e.Kind == engine.KindConnect && e.Server == multi {
				connects++
			}
			if e.Kind == engine.KindConnect && e.Meta["proxy_for"] != nil {
				legs++
			}
		}
		return connects == 3 && legs == 1
	})
	deadline := time.Now().Add(30 * time.Second)
	var v apiSessionView
	for v = a.getSession(sid); len(v.Clients) == 0 || v.Clients[0].State != "closed"; v = a.getSession(sid) {
		if time.Now().After(deadline) {
			t.Fatalf("the multi client never finished: %+v", v.Clients)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(v.Clients) != 1 || v.Clients[0].ID != multi || v.Clients[0].Kind != "multi" {
		t.Errorf("the session lists clients %+v; want the multi client %s once", v.Clients, multi)
	}
	sh := a.share(sid)
	var shared apiSessionView
	if code := a.do("GET", "/api/shared/"+sh.Token, nil, &shared); code != http.StatusOK {
		t.Fatalf("shared view: %d", code)
	}
	if len(shared.Clients) != 1 || shared.Clients[0].ID != multi {
		t.Errorf("the shared view lists clients %+v; want the multi client once", shared.Clients)
	}
}
