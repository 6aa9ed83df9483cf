package web

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

func withConfig(f func(*engine.LabConfig, *Config)) appOption {
	return func(l *engine.LabConfig, c *Config, _ *int) { f(l, c) }
}

// One visitor may create -max-new-sessions sessions a minute; the next gets
// a 429 that says what to do, through the API and the home page's form.
func TestNewSessionsPerVisitor(t *testing.T) {
	a := newTestApp(t, withConfig(func(_ *engine.LabConfig, c *Config) { c.MaxNewSessions = 3 }))
	for i := range 3 {
		if code := a.do("POST", "/api/sessions", map[string]string{"name": fmt.Sprint(i)}, nil); code != http.StatusCreated {
			t.Fatalf("session %d: status %d", i, code)
		}
	}
	var e apiErrBody
	checkErr(t, "a fourth session", a.do("POST", "/api/sessions", map[string]string{"name": "4"}, &e), e,
		http.StatusTooManyRequests, "", "3 sessions a minute", "reuse")
	res := a.request("POST", "/api/sessions", `{"name":"4b"}`, map[string]string{"Content-Type": "application/json"})
	if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); res.Status != http.StatusTooManyRequests || err != nil || secs < 1 || secs > 60 {
		t.Errorf("429 Retry-After %q, want 1 to 60 seconds", res.Header.Get("Retry-After"))
	}
	code, _, body := a.postForm("/sessions", url.Values{"name": {"5"}})
	if code != http.StatusTooManyRequests || !strings.Contains(body, "3 sessions a minute") {
		t.Errorf("the form past the limit: %d %q, want 429 saying why", code, body)
	}
	if n := len(a.sessionIDs()); n != 3 {
		t.Errorf("%d sessions exist, want 3", n)
	}
}

// A request body that trickles in is cut off after -body-timeout with a 408,
// and the server goes on serving.
func TestSlowRequestBodyTimesOut(t *testing.T) {
	a := newTestApp(t, withConfig(func(_ *engine.LabConfig, c *Config) { c.BodyTimeout = 300 * time.Millisecond }))
	u, _ := url.Parse(a.URL)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "POST /api/sessions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na", u.Host)
	// Never send the rest: the answer must come anyway.
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "did not arrive") {
		t.Errorf("stalled body: %d %s, want 408 saying the body did not arrive", res.StatusCode, body)
	}
	if code := a.do("POST", "/api/sessions", map[string]string{"name": "after"}, nil); code != http.StatusCreated {
		t.Errorf("a normal request afterwards: status %d", code)
	}
}

// The lab's socket limit refuses a new server with a 429 that names it.
func TestAPIMaxSockets(t *testing.T) {
	a := newTestApp(t, withConfig(func(l *engine.LabConfig, _ *Config) { l.MaxSockets = 1 }))
	sess := a.newSession()
	a.startEcho(sess, nil)
	var e apiErrBody
	checkErr(t, "a second server", a.do("POST", "/api/sessions/"+sess+"/servers", map[string]any{"kind": "tcp-echo"}, &e), e,
		http.StatusTooManyRequests, "", "1 open sockets")
}

// The session's JSON says the event rate limit and how often its sockets
// waited for it.
func TestSessionShowsEventRateThrottling(t *testing.T) {
	a := newTestApp(t, withConfig(func(l *engine.LabConfig, _ *Config) { l.MaxEventRate = 500 }))
	sess := a.newSession()
	_, addr := a.startEcho(sess, map[string]any{"recv_size": 64})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	const n = 200 * 64 // ~400 events, past the burst of 50
	go c.Write([]byte(strings.Repeat("y", n)))
	if _, err := io.CopyN(io.Discard, c, n); err != nil {
		t.Fatal(err)
	}
	v := a.getSession(sess)
	if v.Lab.MaxEventRate != 500 || v.Throttled == 0 {
		t.Errorf("session view: max_event_rate %d throttled %d, want 500 and more than 0", v.Lab.MaxEventRate, v.Throttled)
	}
	res := a.request("GET", "/s/"+sess+"/endpoints", "", nil)
	if !strings.Contains(string(res.Body), `data-testid="throttled"`) || !strings.Contains(string(res.Body), "500 events a second") {
		t.Errorf("the servers panel does not say the session was slowed:\n%s", res.Body)
	}
}

// /api/status says whether recording is healthy, the recorder's counters,
// and the lab's open sockets against its limit.
func TestAPIStatus(t *testing.T) {
	a := newTestApp(t, withConfig(func(l *engine.LabConfig, _ *Config) { l.MaxSockets = 100 }))
	sess := a.newSession()
	_, addr := a.startEcho(sess, nil)
	a.openClient(sess, addr)
	var st struct {
		Healthy   bool
		Recording struct{ Committed int64 }
		Lab       struct {
			OpenSockets int64 `json:"open_sockets"`
			MaxSockets  int64 `json:"max_sockets"`
		}
	}
	waitFor(t, "the listener, the client and its accepted end counted", func() bool {
		a.do("GET", "/api/status", nil, &st)
		return st.Lab.OpenSockets == 3
	})
	if !st.Healthy || st.Lab.MaxSockets != 100 {
		t.Errorf("status %+v, want healthy with max_sockets 100", st)
	}
	waitFor(t, "committed events counted", func() bool {
		a.do("GET", "/api/status", nil, &st)
		return st.Recording.Committed >= 4 // server-start, listen, connect, accept
	})
}

// A visitor is an IPv4 address or an IPv6 /64; refused requests do not use
// up the allowance.
func TestVisitors(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:5000":       "127.0.0.1",
		"[::ffff:10.0.0.1]:80": "10.0.0.1",
		"[2001:db8::1]:1234":   "2001:db8::/64",
		"[2001:db8::2:3]:9":    "2001:db8::/64",
		"[2001:db8:0:1::1]:1":  "2001:db8:0:1::/64",
	} {
		if got := visitorOf(&http.Request{RemoteAddr: addr}); got != want {
			t.Errorf("visitorOf(%s) = %q, want %q", addr, got, want)
		}
	}
	a := newTestApp(t, withConfig(func(_ *engine.LabConfig, c *Config) { c.MaxNewSessions = 1 }))
	if code := a.do("POST", "/api/sessions", `{"name":"bad\u0000name"}`, nil); code != http.StatusBadRequest {
		t.Fatalf("a refused name: status %d, want 400", code)
	}
	if code := a.do("POST", "/api/sessions", `{"name":`, nil); code != http.StatusBadRequest {
		t.Fatalf("malformed JSON: status %d, want 400", code)
	}
	if code := a.do("POST", "/api/sessions", map[string]string{"name": "good"}, nil); code != http.StatusCreated {
		t.Errorf("the first real session after two refused requests: status %d, want 201", code)
	}
}
