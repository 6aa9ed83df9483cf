package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// GET /api/errors: a card for each errno, the reproducible ones marked.
func TestAPIErrorCards(t *testing.T) {
	a := newTestApp(t)
	var out struct {
		Errors []engine.ErrorCard `json:"errors"`
	}
	if code := a.do("GET", "/api/errors", nil, &out); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	got := map[string]engine.ErrorCard{}
	for _, c := range out.Errors {
		got[c.Errno] = c
	}
	for _, errno := range []string{"ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EADDRINUSE", "EPIPE", "DNS", "EHOSTUNREACH"} {
		c, ok := got[errno]
		if !ok || c.Meaning == "" || c.Cause == "" || c.Try == "" {
			t.Errorf("card %s: %+v", errno, c)
		}
	}
	if !got["ECONNREFUSED"].Reproducible || got["EHOSTUNREACH"].Reproducible {
		t.Errorf("reproducible flags wrong: %+v %+v", got["ECONNREFUSED"], got["EHOSTUNREACH"])
	}
	if !strings.Contains(got["ECONNREFUSED"].Python, "ConnectionRefusedError") {
		t.Errorf("ECONNREFUSED card's Python: %q", got["ECONNREFUSED"].Python)
	}
}

// POST /api/sessions/{id}/reproduce makes each reproducible error happen in
// a fresh session: 201 with what was done and where; the fresh session's
// recording has the error event with that errno, and the caller's session
// is left as it was.
func TestAPIReproduce(t *testing.T) {
	a := newTestApp(t)
	for _, errno := range engine.ReproducibleErrnos() {
		t.Run(errno, func(t *testing.T) {
			sess := a.newSession()
			var out reproductionView
			if code := a.do("POST", "/api/sessions/"+sess+"/reproduce", map[string]string{"errno": errno}, &out); code != http.StatusCreated {
				t.Fatalf("status %d, %+v", code, out)
			}
			if !out.Produced || out.Observed != errno || len(out.Steps) == 0 {
				t.Errorf("answer %+v", out)
			}
			if !out.Fresh || out.Session == "" || out.Session == sess || out.URL != "/s/"+out.Session {
				t.Fatalf("the reproduction went to session %q (%q, fresh %v), want a new one", out.Session, out.URL, out.Fresh)
			}
			a.waitEvents(out.Session, "the "+errno+" error event", func(evs []sessions.Record) bool {
				for _, ev := range evs {
					if ev.Kind == engine.KindError && ev.Err != nil && ev.Err.Errno == errno {
						return true
					}
				}
				return false
			})
			if n := sessionEvents(t, a, sess); n != 0 {
				t.Errorf("the caller's session got %d events", n)
			}
			fresh, err := a.Store.GetSession(t.Context(), out.Session)
			if err != nil || !strings.Contains(fresh.Name, errno) {
				t.Errorf("the fresh session is %+v (%v), want it named after %s", fresh, err, errno)
			}
		})
	}
}

// {"in":"this"} reproduces in the caller's session instead.
func TestAPIReproduceInThisSession(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	var out reproductionView
	if code := a.do("POST", "/api/sessions/"+sess+"/reproduce", `{"errno":"ECONNREFUSED","in":"this"}`, &out); code != http.StatusCreated {
		t.Fatalf("status %d, %+v", code, out)
	}
	if out.Fresh || out.Session != sess || !out.Produced {
		t.Errorf("answer %+v, want this session", out)
	}
	a.waitEvents(sess, "the ECONNREFUSED event", func(evs []sessions.Record) bool {
		for _, ev := range evs {
			if ev.Kind == engine.KindError && ev.Err != nil && ev.Err.Errno == "ECONNREFUSED" {
				return true
			}
		}
		return false
	})
}

// Bad requests name what was wrong: an unknown errno lists those that can
// be reproduced, a missing one says it is required, an unknown session is
// 404.
func TestAPIReproduceBadInput(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	for _, tc := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"errno":"EWHAT"}`, http.StatusBadRequest, "ECONNREFUSED"},
		{`{}`, http.StatusBadRequest, "errno is required"},
		{`{"errno":1}`, http.StatusBadRequest, "errno"},
		{`{"errno":"EPIPE","x":1}`, http.StatusBadRequest, "unknown field"},
		{`{"errno":"EPIPE","in":"elsewhere"}`, http.StatusBadRequest, `"in" is "elsewhere"`},
	} {
		var e errorBody
		if code := a.do("POST", "/api/sessions/"+sess+"/reproduce", tc.body, &e); code != tc.status || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s: %d %q, want %d naming %q", tc.body, code, e.Error, tc.status, tc.want)
		}
	}
	var e errorBody
	if code := a.do("POST", "/api/sessions/nope/reproduce", `{"errno":"EPIPE"}`, &e); code != http.StatusNotFound {
		t.Errorf("unknown session: %d", code)
	}
	var v struct{ Servers []engine.ServerInfo }
	a.do("GET", "/api/sessions/"+sess, nil, &v)
	if len(v.Servers) != 0 {
		t.Errorf("bad requests started servers: %+v", v.Servers)
	}
	if list, _, err := a.Store.ListSessions(t.Context(), "", 100); err != nil || len(list) != 1 {
		t.Errorf("bad requests made sessions: %d sessions (%v), want only the caller's", len(list), err)
	}
}

// A reproduction is held to the session's limits like anything else: with
// every server place of the session it is done in taken, it is 429, saying
// which limit, and starts nothing.
func TestAPIReproduceAtTheServerLimit(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	for range 20 { // newTestApp's MaxServersPerSession
		a.startEcho(sess, nil)
	}
	var e errorBody
	if code := a.do("POST", "/api/sessions/"+sess+"/reproduce", `{"errno":"ECONNREFUSED","in":"this"}`, &e); code != http.StatusTooManyRequests ||
		!strings.Contains(e.Error, "could not set up the reproduction") || !strings.Contains(e.Error, "at most 20 servers") {
		t.Errorf("at the limit: %d %q", code, e.Error)
	}
}
