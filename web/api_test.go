package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// Tests of the JSON API and the pages, through real HTTP, real loopback
// sockets and a real SQLite file (see main_test.go). Every refusal is checked
// as a user sees it (status and the {"error": …} message) and is followed by
// a check that nothing else was disturbed.

// ---------------------------------------------------------------------------
// helpers

// apiLabFirst and apiLabLast bound the harness's lab range: 23000-23999, or
// a 200-port slice of it when SOCKPLAY_TEST_SLOT (1-4) is set, so the suites
// of several work trees can run side by side without taking each other's ports.
var apiLabFirst, apiLabLast = testSlotRange(23000, 23999)

// apiLabRange is the lab range as the API and the error texts spell it.
var apiLabRange = fmt.Sprintf("%d-%d", apiLabFirst, apiLabLast)

// testSlotRange narrows [first, last] to the slice SOCKPLAY_TEST_SLOT names.
func testSlotRange(first, last int) (int, int) {
	slot, err := strconv.Atoi(os.Getenv("SOCKPLAY_TEST_SLOT"))
	if err != nil || slot < 1 || slot > 4 {
		return first, last
	}
	w := (last - first + 1) / 5
	return first + slot*w, first + slot*w + w - 1
}

// apiErrBody is the JSON of an error answer.
type apiErrBody struct {
	Error  string `json:"error"`
	Errno  string `json:"errno"`
	Hint   string `json:"hint"`
	Python string `json:"python"`
}

// apiServer is a server as the API shows it.
type apiServer struct {
	ID       string           `json:"id"`
	Session  string           `json:"session"`
	Kind     string           `json:"kind"`
	Addr     string           `json:"addr"`
	State    string           `json:"state"`
	Options  map[string]any   `json:"options"`
	Summary  string           `json:"summary"`
	Snippets []engine.Snippet `json:"snippets"`
}

// snippet returns the snippet called name, or "".
func (s apiServer) snippet(name string) string {
	for _, sn := range s.Snippets {
		if sn.Name == name {
			return sn.Code
		}
	}
	return ""
}

// apiClient is a client as the API shows it.
type apiClient struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
	Conn   string `json:"conn"`
	Local  string `json:"local"`
	Remote string `json:"remote"`
	State  string `json:"state"`
}

// apiSessionView is GET /api/sessions/{id}.
type apiSessionView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Lab  struct {
		Host         string `json:"host"`
		Ports        string `json:"ports"`
		MaxEventRate int    `json:"max_event_rate"`
	} `json:"lab"`
	Servers   []apiServer `json:"servers"`
	Clients   []apiClient `json:"clients"`
	Throttled int64       `json:"throttled"`
}

// forT returns a copy of a whose helpers report to t, so that subtests can
// share one app.
func (a *testApp) forT(t *testing.T) *testApp {
	c := *a
	c.t = t
	return &c
}

// apiResp is an HTTP answer as the user sees it.
type apiResp struct {
	Status int
	Header http.Header
	Body   []byte
}

// apiNoRedirect is a client that shows redirects instead of following them.
var apiNoRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// request sends a raw request; a "Host" entry in hdr sets the Host header.
func (a *testApp) request(method, path, body string, hdr map[string]string) apiResp {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := apiNoRedirect.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return apiResp{Status: res.StatusCode, Header: res.Header, Body: raw}
}

// getSession returns GET /api/sessions/{id}, failing unless it is 200.
func (a *testApp) getSession(id string) apiSessionView {
	a.t.Helper()
	var v apiSessionView
	if code := a.do("GET", "/api/sessions/"+id, nil, &v); code != http.StatusOK {
		a.t.Fatalf("GET session %s: status %d", id, code)
	}
	return v
}

// sessionIDs lists the ids of GET /api/sessions.
func (a *testApp) sessionIDs() []string {
	a.t.Helper()
	var out struct {
		Sessions []sessions.Session `json:"sessions"`
	}
	if code := a.do("GET", "/api/sessions", nil, &out); code != http.StatusOK {
		a.t.Fatalf("list sessions: status %d", code)
	}
	ids := []string{}
	for _, s := range out.Sessions {
		ids = append(ids, s.ID)
	}
	return ids
}

// running returns the ids of the session's running servers, sorted.
func (v apiSessionView) running() []string {
	ids := []string{}
	for _, s := range v.Servers {
		if s.State == engine.StateRunning {
			ids = append(ids, s.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func (v apiSessionView) server(id string) (apiServer, bool) {
	for _, s := range v.Servers {
		if s.ID == id {
			return s, true
		}
	}
	return apiServer{}, false
}

func (v apiSessionView) client(id string) (apiClient, bool) {
	for _, c := range v.Clients {
		if c.ID == id {
			return c, true
		}
	}
	return apiClient{}, false
}

// labPort checks that addr is 127.0.0.1:PORT in the lab range and returns PORT.
func labPort(t *testing.T, addr string) int {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("addr %q: %v", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || host != "127.0.0.1" || port < apiLabFirst || port > apiLabLast {
		t.Fatalf("addr %q: want 127.0.0.1:PORT with PORT in %d-%d", addr, apiLabFirst, apiLabLast)
	}
	return port
}

// freeLabPort returns a lab port nothing listens on right now (searched from
// the top of the range; the lab's own picks start at the bottom).
func freeLabPort(t *testing.T) int {
	t.Helper()
	for p := apiLabLast; p >= apiLabFirst; p-- {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		return p
	}
	t.Fatal("no free lab port")
	return 0
}

// roundTrip connects to addr as a terminal user would (nc), sends msg and
// reads until want arrived (or the deadline passed).
func roundTrip(t *testing.T, addr, msg string, want string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write to %s: %v", addr, err)
	}
	got := make([]byte, 0, len(want))
	buf := make([]byte, 4096)
	for len(got) < len(want) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	if string(got) != want {
		t.Fatalf("server %s answered %q to %q, want %q", addr, got, msg, want)
	}
}

// dialRefused checks that nothing accepts connections on addr any more.
func dialRefused(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections", addr)
	}
}

// findEvent returns the first event satisfying pred.
func findEvent(evs []sessions.Record, pred func(sessions.Record) bool) (sessions.Record, bool) {
	for _, e := range evs {
		if pred(e) {
			return e, true
		}
	}
	return sessions.Record{}, false
}

// errorEvent matches an error event with errno (and, if owner is not empty,
// of that server or client).
func errorEvent(errno, owner string) func(sessions.Record) bool {
	return func(e sessions.Record) bool {
		return e.Kind == engine.KindError && e.Err != nil && e.Err.Errno == errno && (owner == "" || e.Server == owner)
	}
}

// recvData concatenates what client id received, in order.
func recvData(evs []sessions.Record, id string) string {
	var b strings.Builder
	for _, e := range evs {
		if e.Kind == engine.KindRecv && e.Server == id {
			b.Write(e.Data)
		}
	}
	return b.String()
}

func lastSeq(evs []sessions.Record) int64 {
	if len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

// checkErr checks an error answer: status, a JSON {"error"} holding every
// one of want, and errno (with a hint) when errno is set.
func checkErr(t *testing.T, what string, status int, body apiErrBody, wantStatus int, errno string, want ...string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("%s: status %d, want %d (body %+v)", what, status, wantStatus, body)
	}
	if body.Error == "" {
		t.Errorf("%s: no message in {\"error\": …}", what)
	}
	for _, w := range want {
		if !strings.Contains(body.Error, w) {
			t.Errorf("%s: error %q does not mention %q", what, body.Error, w)
		}
	}
	if errno != "" {
		if body.Errno != errno {
			t.Errorf("%s: errno %q, want %q", what, body.Errno, errno)
		}
		if body.Hint == "" {
			t.Errorf("%s: no hint with errno %s", what, body.Errno)
		}
	}
}

// fixture is a session with a tcp-echo server (mode echo) and a client
// connected to it: what a bad request must leave alone.
type fixture struct {
	a        *testApp
	sess     string
	echoID   string
	echoAddr string
	cli      string
	probes   int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	a := newTestApp(t)
	f := &fixture{a: a, sess: a.newSession()}
	f.echoID, f.echoAddr = a.startEcho(f.sess, map[string]any{"mode": "echo"})
	f.cli = a.openClient(f.sess, f.echoAddr)
	return f
}

// undisturbed checks that the echo server still echoes to a new connection,
// that the client still sends and receives, and that the session still runs
// exactly its one server with its client connected.
func (f *fixture) undisturbed(t *testing.T) {
	t.Helper()
	a := f.a.forT(t)
	f.probes++
	probe := fmt.Sprintf("probe %d\n", f.probes)
	roundTrip(t, f.echoAddr, probe, probe)

	before := recvData(a.events(f.sess, 0), f.cli)
	var sent struct{ Sent int }
	if code := a.do("POST", "/api/sessions/"+f.sess+"/clients/"+f.cli+"/send", map[string]string{"text": probe}, &sent); code != http.StatusOK || sent.Sent != len(probe) {
		t.Fatalf("client send after the bad request: status %d, sent %d", code, sent.Sent)
	}
	a.waitEvents(f.sess, "the client's echo of "+strconv.Quote(probe), func(evs []sessions.Record) bool {
		return recvData(evs, f.cli) == before+probe
	})

	v := a.getSession(f.sess)
	if got := v.running(); !slices.Equal(got, []string{f.echoID}) {
		t.Errorf("running servers %v, want only %s", got, f.echoID)
	}
	if c, ok := v.client(f.cli); !ok || c.State != engine.StateConnected {
		t.Errorf("client %s: %+v, want connected", f.cli, c)
	}
}

// noTrace checks that the session's recording shows no server started or
// stopped besides the fixture's own, and no bytes containing marker.
func (f *fixture) noTrace(t *testing.T, marker string) {
	t.Helper()
	for _, e := range f.a.forT(t).events(f.sess, 0) {
		switch {
		case e.Kind == engine.KindServerStart && e.Server != f.echoID:
			t.Errorf("seq %d: a server %s was started", e.Seq, e.Server)
		case e.Kind == engine.KindServerStop:
			t.Errorf("seq %d: server %s was stopped", e.Seq, e.Server)
		case bytes.Contains(e.Data, []byte(marker)):
			t.Errorf("seq %d: %s event carries %q", e.Seq, e.Kind, e.Data)
		}
	}
}

// badCase is one refused request.
type badCase struct {
	name   string
	method string
	path   string // {s} is the fixture's session, {srv} its server, {cli} its client
	body   any
	status int
	errno  string
	want   []string // substrings of the error message
}

func (f *fixture) expand(p string) string {
	return strings.NewReplacer("{s}", f.sess, "{srv}", f.echoID, "{cli}", f.cli).Replace(p)
}

// runBad runs each case against one fixture: the answer, then that nothing
// else was disturbed.
func runBad(t *testing.T, cases []badCase) {
	t.Helper()
	f := newFixture(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := f.a.forT(t)
			var body apiErrBody
			status := a.do(tc.method, f.expand(tc.path), tc.body, &body)
			checkErr(t, tc.method+" "+tc.path, status, body, tc.status, tc.errno, tc.want...)
			f.undisturbed(t)
		})
	}
}

// ---------------------------------------------------------------------------
// 1. the happy path

func TestAPIHappySessionLifecycle(t *testing.T) {
	a := newTestApp(t)
	var s sessions.Session
	res := a.request("POST", "/api/sessions", `{"name":"my first session"}`, map[string]string{"Content-Type": "application/json"})
	if res.Status != http.StatusCreated {
		t.Fatalf("create: status %d %s", res.Status, res.Body)
	}
	if err := json.Unmarshal(res.Body, &s); err != nil {
		t.Fatal(err)
	}
	if s.ID == "" || s.Name != "my first session" {
		t.Fatalf("created %+v, want an id and the name", s)
	}
	if loc := res.Header.Get("Location"); loc != "/api/sessions/"+s.ID {
		t.Errorf("Location %q", loc)
	}
	if ids := a.sessionIDs(); !slices.Contains(ids, s.ID) {
		t.Fatalf("list %v does not include %s", ids, s.ID)
	}
	v := a.getSession(s.ID)
	if v.ID != s.ID || v.Name != s.Name {
		t.Errorf("GET session: %+v", v)
	}
	if v.Lab.Host != "127.0.0.1" || v.Lab.Ports != apiLabRange {
		t.Errorf("lab %+v, want host 127.0.0.1 ports %s", v.Lab, apiLabRange)
	}
	if v.Servers == nil || v.Clients == nil || len(v.Servers)+len(v.Clients) != 0 {
		t.Errorf("new session: servers %v clients %v, want two empty lists", v.Servers, v.Clients)
	}

	if code := a.do("DELETE", "/api/sessions/"+s.ID, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: status %d", code)
	}
	var e apiErrBody
	checkErr(t, "GET deleted session", a.do("GET", "/api/sessions/"+s.ID, nil, &e), e, http.StatusNotFound, "", "not found")
	if ids := a.sessionIDs(); slices.Contains(ids, s.ID) {
		t.Errorf("list %v still includes the deleted session", ids)
	}
}

func TestAPIHappyCreateSessionWithoutBody(t *testing.T) {
	a := newTestApp(t)
	var s sessions.Session
	if code := a.do("POST", "/api/sessions", nil, &s); code != http.StatusCreated {
		t.Fatalf("status %d", code)
	}
	if s.ID == "" || s.Name == "" {
		t.Fatalf("created %+v, want an id and a default name", s)
	}
}

func TestAPIHappyEchoPrefixServer(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	var srv apiServer
	body := `{"kind":"tcp-echo","port":0,"options":{"mode":"prefix","prefix":"Echo: ","recv_size":4096,"oneshot":false}}`
	if code := a.do("POST", "/api/sessions/"+sess+"/servers", body, &srv); code != http.StatusCreated {
		t.Fatalf("start: status %d", code)
	}
	if srv.ID == "" || srv.Kind != "tcp-echo" || srv.State != engine.StateRunning {
		t.Errorf("started %+v", srv)
	}
	port := labPort(t, srv.Addr)
	if want := "nc 127.0.0.1 " + strconv.Itoa(port); srv.snippet("nc") != want {
		t.Errorf("snippet nc %q, want %q", srv.snippet("nc"), want)
	}
	if !strings.Contains(srv.snippet("python"), `("127.0.0.1", `+strconv.Itoa(port)+`)`) {
		t.Errorf("snippet python does not connect to the server:\n%s", srv.snippet("python"))
	}
	if srv.Options["mode"] != "prefix" || srv.Options["prefix"] != "Echo: " {
		t.Errorf("options %v", srv.Options)
	}
	roundTrip(t, srv.Addr, "hi", "Echo: hi")

	v := a.getSession(sess)
	if got, ok := v.server(srv.ID); !ok || got.State != engine.StateRunning || got.Addr != srv.Addr {
		t.Errorf("GET session lists %+v (found %v)", got, ok)
	}
}

func TestAPIHappyClientSendsTextHexBase64(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	_, addr := a.startEcho(sess, map[string]any{"mode": "prefix", "prefix": "Echo: "})
	var cli apiClient
	if code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"kind": "tcp", "target": addr}, &cli); code != http.StatusCreated {
		t.Fatalf("open client: status %d", code)
	}
	if cli.ID == "" || cli.State != engine.StateConnected || cli.Target != addr || cli.Remote != addr {
		t.Errorf("opened %+v", cli)
	}
	sends := []map[string]string{{"text": "hello"}, {"hex": "68 65 6c 6c 6f"}, {"base64": "aGVsbG8="}}
	for i, body := range sends {
		var out struct {
			Sent *int `json:"sent"`
		}
		if code := a.do("POST", "/api/sessions/"+sess+"/clients/"+cli.ID+"/send", body, &out); code != http.StatusOK || out.Sent == nil || *out.Sent != 5 {
			t.Fatalf("send %v: status %d, %+v, want 200 {\"sent\":5}", body, code, out)
		}
		// Wait for each reply before the next send, so that the server reads
		// each "hello" on its own.
		want := strings.Repeat("Echo: hello", i+1)
		a.waitEvents(sess, "reply "+strconv.Itoa(i+1), func(evs []sessions.Record) bool { return recvData(evs, cli.ID) == want })
	}
	evs := a.events(sess, 0)
	if _, ok := findEvent(evs, func(e sessions.Record) bool {
		return e.Kind == engine.KindRecv && e.Server == cli.ID && string(e.Data) == "Echo: hello" && e.Len == 11
	}); !ok {
		t.Errorf("no recv event of the client with data %q", "Echo: hello")
	}
	var sent int
	for _, e := range evs {
		if e.Kind == engine.KindSend && e.Server == cli.ID {
			if string(e.Data) != "hello" {
				t.Errorf("client send event data %q, want hello", e.Data)
			}
			sent++
		}
	}
	if sent != 3 {
		t.Errorf("%d send events of the client, want 3", sent)
	}
}

// clientState polls GET session until client id is in state want.
func clientState(a *testApp, sess, id, want string) {
	a.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := a.getSession(sess).client(id)
		if got.State == want {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("client %s is %q, want %q", id, got.State, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Half-close against a peer that keeps its side open: the client is
// write-closed, the peer reads end-of-stream, its reply still arrives, and
// when the peer closes too the client is closed.
func TestAPIHappyClientHalfClose(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	addr, accept := testPeer(t)
	cid := a.openClient(sess, addr)
	peer := accept()
	var c apiClient
	if code := a.do("POST", "/api/sessions/"+sess+"/clients/"+cid+"/close", map[string]bool{"half": true}, &c); code != http.StatusOK {
		t.Fatalf("half-close: status %d", code)
	}
	if c.State != engine.StateWriteClosed {
		t.Errorf("half-close answered state %q, want %q", c.State, engine.StateWriteClosed)
	}
	if got, _ := a.getSession(sess).client(cid); got.State != engine.StateWriteClosed {
		t.Errorf("GET session: state %q, want %q", got.State, engine.StateWriteClosed)
	}
	if err := peer.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(peer); err != nil || len(b) != 0 {
		t.Fatalf("peer read %q, %v; want end-of-stream", b, err)
	}
	if _, err := peer.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	a.waitEvents(sess, "the peer's reply after the half-close", func(evs []sessions.Record) bool { return recvData(evs, cid) == "bye" })
	if got, _ := a.getSession(sess).client(cid); got.State != engine.StateWriteClosed {
		t.Errorf("after the reply: state %q, want %q", got.State, engine.StateWriteClosed)
	}
	peer.Close()
	clientState(a, sess, cid, engine.StateClosed)
	a.waitEvents(sess, "the client's half-close and the peer's close", func(evs []sessions.Record) bool {
		_, half := findEvent(evs, func(e sessions.Record) bool {
			return e.Kind == engine.KindClose && e.Server == cid && e.Meta["by"] == "local" && e.Meta["half"] == true
		})
		_, peer := findEvent(evs, func(e sessions.Record) bool {
			return e.Kind == engine.KindClose && e.Server == cid && e.Meta["by"] == "peer"
		})
		return half && peer
	})
}

// Half-close against the echo server: the server reads end-of-stream and
// closes, so the client ends up closed.
func TestAPIHappyClientHalfCloseEchoServerCloses(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	srv, addr := a.startEcho(sess, map[string]any{"mode": "prefix"})
	cid := a.openClient(sess, addr)
	var c apiClient
	if code := a.do("POST", "/api/sessions/"+sess+"/clients/"+cid+"/close", map[string]bool{"half": true}, &c); code != http.StatusOK {
		t.Fatalf("half-close: status %d", code)
	}
	// "closed" if the server's close already arrived while answering.
	if c.State != engine.StateWriteClosed && c.State != engine.StateClosed {
		t.Errorf("half-close answered state %q", c.State)
	}
	clientState(a, sess, cid, engine.StateClosed)
	a.waitEvents(sess, "the server's end-of-stream", func(evs []sessions.Record) bool {
		_, ok := findEvent(evs, func(e sessions.Record) bool {
			return e.Kind == engine.KindClose && e.Server == srv && e.Meta["by"] == "peer" && e.Meta["half"] == true
		})
		return ok
	})
}

// serverStarted waits until the recording holds server id's server-start.
func serverStarted(a *testApp, sess, id string) {
	a.t.Helper()
	a.waitEvents(sess, "server-start of "+id, func(evs []sessions.Record) bool {
		_, ok := findEvent(evs, func(e sessions.Record) bool { return e.Kind == engine.KindServerStart && e.Server == id })
		return ok
	})
}

func TestAPIHappyStopServer(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	id, addr := a.startEcho(sess, nil)
	serverStarted(a, sess, id) // as on the page: the server was seen running
	var stopped apiServer
	if code := a.do("DELETE", "/api/sessions/"+sess+"/servers/"+id, nil, &stopped); code != http.StatusOK {
		t.Fatalf("stop: status %d", code)
	}
	if stopped.ID != id || stopped.State != engine.StateStopped {
		t.Errorf("stop answered %+v", stopped)
	}
	v := a.getSession(sess)
	if got, ok := v.server(id); !ok || got.State != engine.StateStopped || got.Addr != addr {
		t.Errorf("GET session lists %+v (found %v), want it stopped at %s", got, ok, addr)
	}
	dialRefused(t, addr)
	a.waitEvents(sess, "server-stop", func(evs []sessions.Record) bool {
		_, ok := findEvent(evs, func(e sessions.Record) bool { return e.Kind == engine.KindServerStop && e.Server == id })
		return ok
	})
	var e apiErrBody
	checkErr(t, "stop again", a.do("DELETE", "/api/sessions/"+sess+"/servers/"+id, nil, &e), e, http.StatusConflict, "", "already stopped")
}

// A server stopped right after it started is still listed, as stopped, in
// the answer to the very next GET: the listing must not depend on whether the
// recorder has committed the server-start event yet.
func TestAPIServerStoppedRightAfterStartIsListed(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	id, addr := a.startEcho(sess, nil)
	if code := a.do("DELETE", "/api/sessions/"+sess+"/servers/"+id, nil, nil); code != http.StatusOK {
		t.Fatalf("stop: status %d", code)
	}
	got, ok := a.getSession(sess).server(id)
	if ok && got.State == engine.StateStopped && got.Addr == addr {
		return
	}
	t.Errorf("GET session right after the stop lists %+v (found %v), want %s stopped at %s", got, ok, id, addr)
	serverStarted(a, sess, id)
	if _, ok := a.getSession(sess).server(id); ok {
		t.Log("it is listed once the recorder has committed its server-start: " +
			"view() shows a server only if it is running or its server-start is committed")
	}
}

func TestAPIHappyDeleteSessionStopsItsServers(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	other := a.newSession()
	_, addr := a.startEcho(sess, nil)
	_, otherAddr := a.startEcho(other, nil)
	a.openClient(sess, addr)
	if code := a.do("DELETE", "/api/sessions/"+sess, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: status %d", code)
	}
	dialRefused(t, addr)
	var e apiErrBody
	checkErr(t, "events of the deleted session", a.do("GET", "/api/sessions/"+sess+"/events", nil, &e), e, http.StatusNotFound, "", "not found")
	// The other session is untouched.
	roundTrip(t, otherAddr, "x", "x")
	if got := a.getSession(other).running(); len(got) != 1 {
		t.Errorf("other session runs %v", got)
	}
	if res := a.request("GET", "/healthz", "", nil); res.Status != http.StatusOK {
		t.Errorf("healthz after delete: %d %s", res.Status, res.Body)
	}
}

// ---------------------------------------------------------------------------
// 2. the event JSON

// eventsSession makes a session with a server, a client that sent "hello"
// and got its reply, and a refused connect (an event with err).
func eventsSession(t *testing.T, a *testApp) (sess, cid string) {
	t.Helper()
	sess = a.newSession()
	_, addr := a.startEcho(sess, map[string]any{"mode": "prefix"})
	cid = a.openClient(sess, addr)
	if code := a.do("POST", "/api/sessions/"+sess+"/clients/"+cid+"/send", map[string]string{"text": "hello"}, nil); code != http.StatusOK {
		t.Fatalf("send: status %d", code)
	}
	a.waitEvents(sess, "the reply", func(evs []sessions.Record) bool { return recvData(evs, cid) == "Echo: hello" })
	stopID, stopAddr := a.startEcho(sess, nil)
	if code := a.do("DELETE", "/api/sessions/"+sess+"/servers/"+stopID, nil, nil); code != http.StatusOK {
		t.Fatalf("stop: status %d", code)
	}
	if code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"target": stopAddr}, nil); code != http.StatusBadGateway {
		t.Fatalf("connect to a stopped server: status %d", code)
	}
	a.waitEvents(sess, "the connect error", func(evs []sessions.Record) bool {
		_, ok := findEvent(evs, errorEvent("ECONNREFUSED", ""))
		return ok
	})
	return sess, cid
}

// rawEvents fetches GET /api/sessions/{id}/events?query as raw JSON objects.
func rawEvents(t *testing.T, a *testApp, sess, query string) (evs []map[string]json.RawMessage, last int64) {
	t.Helper()
	res := a.request("GET", "/api/sessions/"+sess+"/events"+query, "", nil)
	if res.Status != http.StatusOK {
		t.Fatalf("events%s: status %d %s", query, res.Status, res.Body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	var out struct {
		Events  []map[string]json.RawMessage `json:"events"`
		LastSeq int64                        `json:"last_seq"`
	}
	if err := json.Unmarshal(res.Body, &out); err != nil {
		t.Fatalf("events%s: %v in %s", query, err, res.Body)
	}
	if out.Events == nil {
		t.Fatalf("events%s: \"events\" is not a list: %s", query, res.Body)
	}
	return out.Events, out.LastSeq
}

func seqOf(t *testing.T, ev map[string]json.RawMessage) int64 {
	t.Helper()
	var n int64
	if err := json.Unmarshal(ev["seq"], &n); err != nil {
		t.Fatalf("seq %s: %v", ev["seq"], err)
	}
	return n
}

func TestAPIEventJSONHasExactlyTheDesignKeys(t *testing.T) {
	a := newTestApp(t)
	sess, cid := eventsSession(t, a)
	evs, _ := rawEvents(t, a, sess, "")
	wantKeys := []string{"at", "conn", "data", "err", "kind", "len", "local", "meta", "net", "remote", "seq", "server", "session", "truncated"}
	atRE := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d)$`)
	var sawRecv, sawErr bool
	for _, ev := range evs {
		keys := slices.Sorted(maps.Keys(ev))
		if !slices.Equal(keys, wantKeys) {
			t.Errorf("event keys %v, want %v", keys, wantKeys)
		}
		var at, kind, session, server string
		for k, dst := range map[string]*string{"at": &at, "kind": &kind, "session": &session, "server": &server} {
			if err := json.Unmarshal(ev[k], dst); err != nil {
				t.Errorf("%s %s: %v", k, ev[k], err)
			}
		}
		if session != sess {
			t.Errorf("event session %q, want %q", session, sess)
		}
		if !atRE.MatchString(at) {
			t.Errorf("at %q is not RFC 3339 with nanoseconds", at)
		} else if _, err := time.Parse(time.RFC3339Nano, at); err != nil {
			t.Errorf("at %q: %v", at, err)
		}
		var truncated bool
		if err := json.Unmarshal(ev["truncated"], &truncated); err != nil {
			t.Errorf("truncated %s: %v", ev["truncated"], err)
		}
		var n int
		if err := json.Unmarshal(ev["len"], &n); err != nil {
			t.Errorf("len %s: %v", ev["len"], err)
		}
		var data []byte
		if string(ev["data"]) != "null" {
			var s string
			if err := json.Unmarshal(ev["data"], &s); err != nil {
				t.Errorf("data %s is not a string: %v", ev["data"], err)
			} else if data, err = base64.StdEncoding.DecodeString(s); err != nil {
				t.Errorf("data %q is not base64: %v", s, err)
			}
		}
		if kind == "recv" && server == cid {
			sawRecv = true
			if string(data) != "Echo: hello" || n != 11 {
				t.Errorf("client recv: data %q len %d, want %q 11", data, n, "Echo: hello")
			}
		}
		if string(ev["meta"]) != "null" && !bytes.HasPrefix(ev["meta"], []byte("{")) {
			t.Errorf("meta %s is neither null nor an object", ev["meta"])
		}
		if string(ev["err"]) != "null" {
			sawErr = true
			var e map[string]string
			if err := json.Unmarshal(ev["err"], &e); err != nil {
				t.Errorf("err %s: %v", ev["err"], err)
			}
			// errno, message and hint always; python when Python has an
			// exception for it.
			_, py := e["python"]
			if want := 3 + map[bool]int{true: 1}[py]; len(e) != want || e["errno"] == "" || e["message"] == "" || e["hint"] == "" {
				t.Errorf("err %s, want exactly errno, message, hint and (when there is one) python", ev["err"])
			}
		}
	}
	if !sawRecv || !sawErr {
		t.Errorf("saw a client recv %v, an event with err %v; want both", sawRecv, sawErr)
	}
}

func TestAPIEventSeqsAreGapless(t *testing.T) {
	a := newTestApp(t)
	sess, _ := eventsSession(t, a)
	evs, last := rawEvents(t, a, sess, "")
	if len(evs) < 5 {
		t.Fatalf("only %d events", len(evs))
	}
	for i, ev := range evs {
		if got := seqOf(t, ev); got != int64(i+1) {
			t.Fatalf("event %d has seq %d, want %d", i, got, i+1)
		}
	}
	if last != int64(len(evs)) {
		t.Errorf("last_seq %d, want %d", last, len(evs))
	}
}

func TestAPIEventsAfterAndLimit(t *testing.T) {
	a := newTestApp(t)
	sess, _ := eventsSession(t, a)
	all, _ := rawEvents(t, a, sess, "")
	n := int64(len(all))
	k := n / 2
	seqs := func(from, to int64) []int64 {
		out := []int64{}
		for s := from; s <= to; s++ {
			out = append(out, s)
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []int64
	}{
		{"?after=" + itoa(k), seqs(k+1, n)},
		{"?limit=2", seqs(1, 2)},
		{"?after=" + itoa(k) + "&limit=2", seqs(k+1, k+2)},
		{"?after=" + itoa(n), seqs(1, 0)},
		{"?before=3", seqs(1, 2)},
		{"?after=0&limit=5000", seqs(1, n)},
	} {
		t.Run(tc.query, func(t *testing.T) {
			evs, _ := rawEvents(t, a.forT(t), sess, tc.query)
			got := []int64{}
			for _, ev := range evs {
				got = append(got, seqOf(t, ev))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("seqs %v, want %v", got, tc.want)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 3. bad input

func TestAPIBadServerStart(t *testing.T) {
	post := func(name string, body any, status int, want ...string) badCase {
		return badCase{name: name, method: "POST", path: "/api/sessions/{s}/servers", body: body, status: status, want: want}
	}
	echo := func(opts string) string { return `{"kind":"tcp-echo","options":` + opts + `}` }
	runBad(t, []badCase{
		post("unknown kind", `{"kind":"tcp-chargen"}`, 400, "tcp-chargen", "tcp-echo"),
		post("missing kind", `{"port":0}`, 400, "kind", "tcp-echo"),
		post("unknown mode", echo(`{"mode":"shout"}`), 400, "shout", "accept-close", "prefix"),
		post("unknown option", echo(`{"bogus":1}`), 400, `"bogus"`),
		post("recv_size too big", echo(`{"recv_size":70000}`), 400, "recv_size"),
		post("port outside the lab range", `{"kind":"tcp-echo","port":80}`, 400, "80", apiLabRange),
		post("negative port", `{"kind":"tcp-echo","port":-1}`, 400, "-1"),
		post("port above 65535", `{"kind":"tcp-echo","port":70000}`, 400, "70000"),
		post("malformed JSON", `{"kind": tcp-echo}`, 400, "JSON"),
		post("truncated JSON", `{"kind":"tcp-echo"`, 400, "JSON"),
		post("unknown field", `{"kind":"tcp-echo","colour":"red"}`, 400, `"colour"`),
		post("wrong type", `{"kind":"tcp-echo","port":"x"}`, 400, `"port"`, "whole number", "string"),
		post("empty body", "", 400, "empty"),
		post("two JSON values", `{"kind":"tcp-echo"} {"kind":"tcp-echo"}`, 400, "single JSON object"),
		post("JSON array", `[1,2]`, 400, "JSON object"),
		post("name too long", map[string]any{"kind": "tcp-echo", "name": strings.Repeat("n", 101)}, 400, "name"),
		post("name with a newline", map[string]any{"kind": "tcp-echo", "name": "a\nb"}, 400, "control"),
		post("name with a bidi override", map[string]any{"kind": "tcp-echo", "name": "a\u202eb"}, 400, "invisible formatting"),
		post("body over the limit", `{"kind":"tcp-echo","name":"`+strings.Repeat("x", 2<<20)+`"}`, 413, "1048576"),
	})
}

func TestAPIBadSessionCreate(t *testing.T) {
	runBad(t, []badCase{
		{name: "name too long", method: "POST", path: "/api/sessions", body: map[string]string{"name": strings.Repeat("n", 201)}, status: 400, want: []string{"200"}},
		{name: "name with a NUL", method: "POST", path: "/api/sessions", body: map[string]string{"name": "a\x00b"}, status: 400, want: []string{"control or invisible formatting character", "at byte 1"}},
		{name: "name with a right-to-left override", method: "POST", path: "/api/sessions", body: map[string]string{"name": "invoice\u202egnp.exe"}, status: 400, want: []string{"right-to-left override", "at byte 7"}},
		{name: "unknown field", method: "POST", path: "/api/sessions", body: `{"title":"x"}`, status: 400, want: []string{`"title"`}},
		{name: "malformed JSON", method: "POST", path: "/api/sessions", body: `{name}`, status: 400, want: []string{"JSON"}},
	})
}

func TestAPIBadSessionList(t *testing.T) {
	runBad(t, []badCase{
		{name: "limit not a number", method: "GET", path: "/api/sessions?limit=ten", status: 400, want: []string{"limit", "ten"}},
		{name: "limit too large", method: "GET", path: "/api/sessions?limit=5000", status: 400, want: []string{"5000", "1000"}},
		{name: "before not a cursor", method: "GET", path: "/api/sessions?before=nope", status: 400, want: []string{`"nope"`, "next"}},
	})
}

// GET /api/sessions pages newest first: next is the before= of the next
// page, absent on the last; the home page links the pages the same way.
func TestAPIListSessionsPages(t *testing.T) {
	a := newTestApp(t)
	var ids []string // newest first
	for range 5 {
		ids = append([]string{a.newSession()}, ids...)
	}
	var got, cursors []string
	path := "/api/sessions?limit=2"
	for range 4 {
		var out struct {
			Sessions []sessions.Session `json:"sessions"`
			Next     string             `json:"next"`
		}
		if code := a.do("GET", path, nil, &out); code != http.StatusOK {
			t.Fatalf("GET %s: status %d", path, code)
		}
		for _, s := range out.Sessions {
			got = append(got, s.ID)
		}
		if out.Next == "" {
			break
		}
		cursors = append(cursors, out.Next)
		path = "/api/sessions?limit=2&before=" + url.QueryEscape(out.Next)
	}
	if !slices.Equal(got, ids) {
		t.Errorf("paged %v, want %v", got, ids)
	}

	if len(cursors) != 2 {
		t.Fatalf("%d pages of 2 for 5 sessions, want 3", len(cursors)+1)
	}
	first := a.request("GET", "/?limit=2", "", nil)
	older := `href="/?before=` + url.QueryEscape(cursors[0]) + `"`
	if first.Status != http.StatusOK || !strings.Contains(string(first.Body), older) || strings.Contains(string(first.Body), ids[2]) {
		t.Fatalf("home page ?limit=2: status %d, want a link %s and not the third session", first.Status, older)
	}
	last := a.request("GET", "/?limit=3&before="+url.QueryEscape(cursors[0]), "", nil)
	body := string(last.Body)
	if !strings.Contains(body, ids[4]) || strings.Contains(body, ids[1]) || strings.Contains(body, "older-sessions") ||
		!strings.Contains(body, `data-testid="newest-sessions"`) {
		t.Errorf("home page of the last sessions: want sessions 3-5, a link to the newest and none to older ones:\n%s", body)
	}
	if res := a.request("GET", "/?before=nope", "", nil); res.Status != http.StatusBadRequest {
		t.Errorf("home page before=nope: status %d, want 400", res.Status)
	}
}

func TestAPIBadSend(t *testing.T) {
	send := func(name string, body any, status int, want ...string) badCase {
		return badCase{name: name, method: "POST", path: "/api/sessions/{s}/clients/{cli}/send", body: body, status: status, want: want}
	}
	runBad(t, []badCase{
		send("invalid hex", map[string]string{"hex": "68 6z"}, 400, "position 4", `'z'`),
		send("odd-length hex", map[string]string{"hex": "686"}, 400, "hex", "position 2", "two"),
		send("half byte before a space", map[string]string{"hex": "6 86"}, 400, "position 1"),
		send("invalid base64", map[string]string{"base64": "aGVs*G8="}, 400, "base64", "position 4"),
		// Positions count in what the user sent, as they do for hex.
		send("invalid base64 after leading spaces", map[string]string{"base64": "  aGVs*G8="}, 400, "base64", "position 6"),
		send("base64 after its padding", map[string]string{"base64": "aGk=aGk="}, 400, "position 4", "padding"),
		send("base64 with one character over", map[string]string{"base64": "aGVsb"}, 400, "5 characters", "groups of 4"),
		send("base64 in another alphabet", map[string]string{"base64": "aG_s"}, 400, "position 2", "not a base64 character"),
		send("text and hex", map[string]string{"text": "hi", "hex": "6869"}, 400, "exactly one"),
		send("text, hex and base64", map[string]string{"text": "hi", "hex": "6869", "base64": "aGk="}, 400, "exactly one"),
		send("nothing", `{}`, 400, "exactly one"),
		send("empty text", map[string]string{"text": ""}, 400, "empty"),
		send("empty hex", map[string]string{"hex": "  "}, 400, "empty"),
		send("message over 64 KiB", map[string]string{"text": strings.Repeat("a", 64<<10+1)}, 413, "65537", "65536"),
		send("unknown field", `{"txt":"hi"}`, 400, `"txt"`),
		send("empty body", "", 400, "empty"),
		{name: "half-close body wrong type", method: "POST", path: "/api/sessions/{s}/clients/{cli}/close", body: `{"half":"yes"}`, status: 400, want: []string{`"half"`}},
	})
}

// Base64 as people paste it: the padding left off, white space anywhere.
func TestAPISendBase64AsPeoplePasteIt(t *testing.T) {
	f := newFixture(t)
	want := ""
	for _, in := range []string{"aGk", "aGVsbG8=", " aGVs\nbG8 ", "aGVsbG8"} {
		var out struct{ Sent int }
		if code := f.a.do("POST", "/api/sessions/"+f.sess+"/clients/"+f.cli+"/send", map[string]string{"base64": in}, &out); code != http.StatusOK {
			t.Fatalf("send base64 %q: status %d, want 200", in, code)
		}
		b, _ := base64.RawStdEncoding.DecodeString(strings.TrimRight(strings.Join(strings.Fields(in), ""), "="))
		if out.Sent != len(b) {
			t.Fatalf("send base64 %q: sent %d, want %d", in, out.Sent, len(b))
		}
		want += string(b)
		f.a.waitEvents(f.sess, "the echo of "+in, func(evs []sessions.Record) bool { return string(recvData(evs, f.cli)) == want })
	}
}

func TestAPISendAtTheSizeLimitIsAccepted(t *testing.T) {
	f := newFixture(t)
	msg := strings.Repeat("a", 64<<10)
	var out struct{ Sent int }
	if code := f.a.do("POST", "/api/sessions/"+f.sess+"/clients/"+f.cli+"/send", map[string]string{"text": msg}, &out); code != http.StatusOK || out.Sent != len(msg) {
		t.Fatalf("status %d sent %d, want 200 and %d", code, out.Sent, len(msg))
	}
	f.a.waitEvents(f.sess, "the 64 KiB echo", func(evs []sessions.Record) bool { return len(recvData(evs, f.cli)) == len(msg) })
	f.undisturbed(t)
}

func TestAPIUnknownIDs(t *testing.T) {
	const noSess = "nosuchsessionxxxxxxxxxxx"
	runBad(t, []badCase{
		{name: "GET session", method: "GET", path: "/api/sessions/" + noSess, status: 404, want: []string{"session not found"}},
		{name: "DELETE session", method: "DELETE", path: "/api/sessions/" + noSess, status: 404, want: []string{"session not found"}},
		{name: "GET events", method: "GET", path: "/api/sessions/" + noSess + "/events", status: 404, want: []string{"session not found"}},
		{name: "POST servers", method: "POST", path: "/api/sessions/" + noSess + "/servers", body: map[string]any{"kind": "tcp-echo"}, status: 404, want: []string{"session not found"}},
		{name: "POST clients", method: "POST", path: "/api/sessions/" + noSess + "/clients", body: map[string]any{"target": "127.0.0.1:23000"}, status: 404, want: []string{"session not found"}},
		{name: "GET ws", method: "GET", path: "/ws/sessions/" + noSess, status: 404, want: []string{"session not found"}},
		{name: "DELETE unknown server", method: "DELETE", path: "/api/sessions/{s}/servers/srv-00000000", status: 404, want: []string{"srv-00000000", "not found"}},
		{name: "DELETE server of the session under another session", method: "DELETE", path: "/api/sessions/" + noSess + "/servers/{srv}", status: 404, want: []string{"not found"}},
		{name: "send on unknown client", method: "POST", path: "/api/sessions/{s}/clients/cli-00000000/send", body: map[string]string{"text": "hi"}, status: 404, want: []string{"cli-00000000", "not found"}},
		{name: "close unknown client", method: "POST", path: "/api/sessions/{s}/clients/cli-00000000/close", status: 404, want: []string{"cli-00000000", "not found"}},
	})
}

func TestAPIServerOfAnotherSessionIsNotFound(t *testing.T) {
	f := newFixture(t)
	other := f.a.newSession()
	for _, tc := range []struct{ name, method, path string }{
		{"stop", "DELETE", "/api/sessions/" + other + "/servers/" + f.echoID},
		{"send", "POST", "/api/sessions/" + other + "/clients/" + f.cli + "/send"},
		{"close", "POST", "/api/sessions/" + other + "/clients/" + f.cli + "/close"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.name == "send" {
				body = map[string]string{"text": "hi"}
			}
			var e apiErrBody
			checkErr(t, tc.name, f.a.forT(t).do(tc.method, tc.path, body, &e), e, http.StatusNotFound, "", "not found")
			f.undisturbed(t)
		})
	}
}

func TestAPIBadEventsQuery(t *testing.T) {
	get := func(q string, want ...string) badCase {
		return badCase{name: q, method: "GET", path: "/api/sessions/{s}/events" + q, status: 400, want: want}
	}
	runBad(t, []badCase{
		get("?after=-1", "after", "-1"),
		get("?after=x", "after", "x"),
		get("?after=99999999999999999999", "after"),
		get("?limit=999999", "999999", "5000"),
		get("?limit=-5", "limit"),
		get("?before=x", "before"),
	})
}

func TestAPIUnknownPath(t *testing.T) {
	runBad(t, []badCase{
		{name: "GET /api/nope", method: "GET", path: "/api/nope", status: 404, want: []string{"/api/nope"}},
		{name: "GET under a session", method: "GET", path: "/api/sessions/{s}/nope", status: 404, want: []string{"nope"}},
		{name: "PUT /api/sessions", method: "PUT", path: "/api/sessions", body: `{}`, status: 405, want: []string{"PUT"}},
	})
}

func TestAPIPortAlreadyInUse(t *testing.T) {
	f := newFixture(t)
	a := f.a
	port := freeLabPort(t)
	body := map[string]any{"kind": "tcp-echo", "port": port}
	var first apiServer
	if code := a.do("POST", "/api/sessions/"+f.sess+"/servers", body, &first); code != http.StatusCreated {
		t.Fatalf("start on free port %d: status %d", port, code)
	}
	if want := "127.0.0.1:" + strconv.Itoa(port); first.Addr != want {
		t.Fatalf("addr %q, want %q", first.Addr, want)
	}
	var e apiErrBody
	checkErr(t, "start again on the same port", a.do("POST", "/api/sessions/"+f.sess+"/servers", body, &e), e,
		http.StatusConflict, "EADDRINUSE", strconv.Itoa(port))
	evs := a.waitEvents(f.sess, "the EADDRINUSE error event", func(evs []sessions.Record) bool {
		_, ok := findEvent(evs, errorEvent("EADDRINUSE", ""))
		return ok
	})
	ev, _ := findEvent(evs, errorEvent("EADDRINUSE", ""))
	if ev.Local != first.Addr || ev.Err.Hint == "" {
		t.Errorf("error event local %q hint %q, want %s and a hint", ev.Local, ev.Err.Hint, first.Addr)
	}
	// The first server on that port still serves; nothing else started.
	roundTrip(t, first.Addr, "still mine", "still mine")
	want := []string{f.echoID, first.ID}
	slices.Sort(want)
	if got := a.getSession(f.sess).running(); !slices.Equal(got, want) {
		t.Errorf("running %v, want %v", got, want)
	}
	if code := a.do("DELETE", "/api/sessions/"+f.sess+"/servers/"+first.ID, nil, nil); code != http.StatusOK {
		t.Fatalf("stop: status %d", code)
	}
	f.undisturbed(t)
}

func TestAPISendOnClosedClient(t *testing.T) {
	f := newFixture(t)
	a := f.a
	cid := a.openClient(f.sess, f.echoAddr)
	var c apiClient
	if code := a.do("POST", "/api/sessions/"+f.sess+"/clients/"+cid+"/close", nil, &c); code != http.StatusOK || c.State != engine.StateClosed {
		t.Fatalf("close: status %d state %q", code, c.State)
	}
	var e apiErrBody
	checkErr(t, "send on a closed client", a.do("POST", "/api/sessions/"+f.sess+"/clients/"+cid+"/send", map[string]string{"text": "hi"}, &e), e,
		http.StatusConflict, "EPIPE", "closed")
	a.waitEvents(f.sess, "the EPIPE error event", func(evs []sessions.Record) bool {
		_, ok := findEvent(evs, errorEvent("EPIPE", cid))
		return ok
	})
	f.undisturbed(t)
}

// A send to a peer that reset the connection is a conflict with the
// connection's state (409 with EPIPE or ECONNRESET explained), not a 502.
func TestAPISendToResetPeer(t *testing.T) {
	f := newFixture(t)
	a := f.a
	addr, accept := testPeer(t)
	cid := a.openClient(f.sess, addr)
	peer := accept().(*net.TCPConn)
	peer.SetLinger(0) // close with RST
	peer.Close()
	a.waitEvents(f.sess, "the client sees the reset", func(evs []sessions.Record) bool {
		_, ok := findEvent(evs, func(e sessions.Record) bool { return e.Server == cid && e.Kind == engine.KindClose })
		return ok
	})
	var e apiErrBody
	code := a.do("POST", "/api/sessions/"+f.sess+"/clients/"+cid+"/send", map[string]string{"text": "anyone?"}, &e)
	if code != http.StatusConflict || (e.Errno != "EPIPE" && e.Errno != "ECONNRESET") || e.Hint == "" {
		t.Fatalf("send to a reset peer: status %d body %+v, want 409 with EPIPE or ECONNRESET and a hint", code, e)
	}
	f.undisturbed(t)
}

// Stopping a stopped server, or closing a client the engine no longer
// holds, says so (409) instead of calling a listed id unknown (404).
func TestAPIStopAndCloseTwice(t *testing.T) {
	f := newFixture(t)
	a := f.a
	id, _ := a.startEcho(f.sess, nil)
	if code := a.do("DELETE", "/api/sessions/"+f.sess+"/servers/"+id, nil, nil); code != http.StatusOK {
		t.Fatalf("stop: status %d", code)
	}
	var e apiErrBody
	checkErr(t, "stop again", a.do("DELETE", "/api/sessions/"+f.sess+"/servers/"+id, nil, &e), e, http.StatusConflict, "", "already stopped")

	// The engine lists 32 closed clients per session; older ones are known
	// only to the recording.
	first := a.openClient(f.sess, f.echoAddr)
	for i := 0; i < 34; i++ { // the 34th open prunes the first
		cid := first
		if i > 0 {
			cid = a.openClient(f.sess, f.echoAddr)
		}
		if code := a.do("POST", "/api/sessions/"+f.sess+"/clients/"+cid+"/close", nil, nil); code != http.StatusOK {
			t.Fatalf("close %s: status %d", cid, code)
		}
	}
	a.waitEvents(f.sess, "the first client in the recording", func(evs []sessions.Record) bool {
		_, ok := findEvent(evs, func(e sessions.Record) bool { return e.Server == first && e.Kind == engine.KindConnect })
		return ok
	})
	e = apiErrBody{}
	checkErr(t, "close a forgotten client", a.do("POST", "/api/sessions/"+f.sess+"/clients/"+first+"/close", nil, &e), e, http.StatusConflict, "", "already closed")
	e = apiErrBody{}
	checkErr(t, "send on a forgotten client", a.do("POST", "/api/sessions/"+f.sess+"/clients/"+first+"/send", map[string]string{"text": "hi"}, &e), e,
		http.StatusConflict, "EPIPE", "closed")
	e = apiErrBody{}
	checkErr(t, "stop a server of no session", a.do("DELETE", "/api/sessions/"+f.sess+"/servers/srv-00000000", nil, &e), e, http.StatusNotFound, "", "not found")
	e = apiErrBody{}
	checkErr(t, "stop a client's id as a server", a.do("DELETE", "/api/sessions/"+f.sess+"/servers/"+first, nil, &e), e, http.StatusNotFound, "", "not found")
	e = apiErrBody{}
	checkErr(t, "close a server's id as a client", a.do("POST", "/api/sessions/"+f.sess+"/clients/"+id+"/close", nil, &e), e, http.StatusNotFound, "", "not found")
	f.undisturbed(t)
}

// testPeer listens on a free lab port with a plain socket owned by the test
// (a peer that does only what the test tells it). accept returns the next
// accepted connection; everything is closed when the test ends.
func testPeer(t *testing.T) (addr string, accept func() net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(freeLabPort(t))))
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	var held []net.Conn
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String(), func() net.Conn {
		t.Helper()
		select {
		case c := <-conns:
			held = append(held, c)
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("the peer accepted no connection")
			return nil
		}
	}
}

func TestAPISendAfterHalfClose(t *testing.T) {
	f := newFixture(t)
	a := f.a
	addr, _ := testPeer(t) // keeps its side open
	cid := a.openClient(f.sess, addr)
	if code := a.do("POST", "/api/sessions/"+f.sess+"/clients/"+cid+"/close", map[string]bool{"half": true}, nil); code != http.StatusOK {
		t.Fatalf("half-close: status %d", code)
	}
	var e apiErrBody
	checkErr(t, "send after half-close", a.do("POST", "/api/sessions/"+f.sess+"/clients/"+cid+"/send", map[string]string{"text": "hi"}, &e), e,
		http.StatusConflict, "EPIPE", "shutdown")
	a.waitEvents(f.sess, "the EPIPE error event", func(evs []sessions.Record) bool {
		_, ok := findEvent(evs, errorEvent("EPIPE", cid))
		return ok
	})
	f.undisturbed(t)
}

func TestAPIConnectToClosedLabPort(t *testing.T) {
	f := newFixture(t)
	a := f.a
	id, addr := a.startEcho(f.sess, nil)
	if code := a.do("DELETE", "/api/sessions/"+f.sess+"/servers/"+id, nil, nil); code != http.StatusOK {
		t.Fatalf("stop: status %d", code)
	}
	clientsBefore := len(a.getSession(f.sess).Clients)
	var e apiErrBody
	checkErr(t, "connect to a stopped server's port", a.do("POST", "/api/sessions/"+f.sess+"/clients", map[string]any{"kind": "tcp", "target": addr}, &e), e,
		http.StatusBadGateway, "ECONNREFUSED", addr)
	if !strings.HasPrefix(e.Python, "ConnectionRefusedError") {
		t.Errorf("the answer's python %q, want the ConnectionRefusedError a Python client would see", e.Python)
	}
	evs := a.waitEvents(f.sess, "the ECONNREFUSED error event", func(evs []sessions.Record) bool {
		_, ok := findEvent(evs, errorEvent("ECONNREFUSED", ""))
		return ok
	})
	ev, _ := findEvent(evs, errorEvent("ECONNREFUSED", ""))
	if ev.Remote != addr || ev.Meta["op"] != "connect" {
		t.Errorf("error event remote %q meta %v, want %s and op connect", ev.Remote, ev.Meta, addr)
	}
	if got := len(a.getSession(f.sess).Clients); got != clientsBefore {
		t.Errorf("%d clients listed after a failed connect, want %d", got, clientsBefore)
	}
	f.undisturbed(t)
}

func TestAPIClientTargetOutsideThePolicy(t *testing.T) {
	f := newFixture(t)
	webPort := strings.TrimPrefix(f.a.URL, "http://127.0.0.1:")
	targets := []string{"127.0.0.1:22", "169.254.169.254:80", "10.1.2.3:80", "0.0.0.0:" + strconv.Itoa(labPort(t, f.echoAddr)), "localhost:22"}
	if p, _ := strconv.Atoi(webPort); p < apiLabFirst || p > apiLabLast {
		targets = append(targets, "127.0.0.1:"+webPort) // sockplay's own web server
	}
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			a := f.a.forT(t)
			clientsBefore := len(a.getSession(f.sess).Clients)
			start := time.Now()
			var e apiErrBody
			checkErr(t, "connect to "+target, a.do("POST", "/api/sessions/"+f.sess+"/clients", map[string]any{"kind": "tcp", "target": target}, &e), e,
				http.StatusForbidden, "EREFUSED", "refused")
			// Refused before connect(2): no waiting for an unreachable host.
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("refusal took %v; the policy must refuse before dialing", d)
			}
			a.waitEvents(f.sess, "the EREFUSED error event", func(evs []sessions.Record) bool {
				_, ok := findEvent(evs, func(e sessions.Record) bool {
					return errorEvent("EREFUSED", "")(e) && e.Meta["target"] == target
				})
				return ok
			})
			if got := len(a.getSession(f.sess).Clients); got != clientsBefore {
				t.Errorf("%d clients listed after a refused connect, want %d", got, clientsBefore)
			}
			f.undisturbed(t)
		})
	}
}

func TestAPIBadClientOpen(t *testing.T) {
	open := func(name string, body any, want ...string) badCase {
		return badCase{name: name, method: "POST", path: "/api/sessions/{s}/clients", body: body, status: 400, want: want}
	}
	runBad(t, []badCase{
		open("target nonsense", map[string]any{"kind": "tcp", "target": "nonsense"}, "nonsense", "host:port"),
		open("target empty", map[string]any{"kind": "tcp"}, "host:port"),
		open("unknown kind", map[string]any{"kind": "sctp", "target": "127.0.0.1:23000"}, "sctp", "tcp"),
		open("unknown option", map[string]any{"target": "127.0.0.1:23000", "options": map[string]any{"no_such_option": true}}, `"no_such_option"`),
		open("recv_size too big", map[string]any{"target": "127.0.0.1:23000", "options": map[string]any{"recv_size": 1 << 20}}, "recv_size"),
		open("wrong type", `{"target":23000}`, `"target"`),
		open("target port past 65535", map[string]any{"target": "127.0.0.1:70000"}, `"70000"`, "1 to 65535"),
		open("target port not a number", map[string]any{"target": "127.0.0.1:abc"}, `"abc"`, "1 to 65535"),
		open("target without host", map[string]any{"target": ":23000"}, "no host"),
		open("options of the wrong type", map[string]any{"target": "127.0.0.1:23000", "options": map[string]any{"recv_size": "big"}}, `option "recv_size": got a string, want a whole number`),
		open("options not an object", map[string]any{"target": "127.0.0.1:23000", "options": []int{1}}, "got an array"),
	})
}

// ---------------------------------------------------------------------------
// 4. the Host header

func TestHostHeaderForeignNameRefused(t *testing.T) {
	f := newFixture(t)
	evil := map[string]string{"Host": "evil.example", "Content-Type": "application/json"}
	for _, tc := range []struct{ name, method, path, body string }{
		{"GET sessions", "GET", "/api/sessions", ""},
		{"POST sessions", "POST", "/api/sessions", `{"name":"evil"}`},
		{"DELETE session", "DELETE", "/api/sessions/{s}", ""},
		{"POST servers", "POST", "/api/sessions/{s}/servers", `{"kind":"tcp-echo"}`},
		{"POST send", "POST", "/api/sessions/{s}/clients/{cli}/send", `{"text":"evil"}`},
		{"GET page", "GET", "/", ""},
		{"GET ws", "GET", "/ws/sessions/{s}", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := f.a.forT(t)
			before := a.sessionIDs()
			res := a.request(tc.method, f.expand(tc.path), tc.body, evil)
			var e apiErrBody
			if err := json.Unmarshal(res.Body, &e); err != nil {
				t.Errorf("body %q is not a JSON error: %v", res.Body, err)
			}
			checkErr(t, tc.name, res.Status, e, http.StatusMisdirectedRequest, "", "evil.example")
			if after := a.sessionIDs(); !slices.Equal(after, before) {
				t.Errorf("sessions changed: %v -> %v", before, after)
			}
			f.noTrace(t, "evil")
			f.undisturbed(t)
		})
	}
}

func TestHostHeaderLocalNamesAccepted(t *testing.T) {
	a := newTestApp(t)
	port := a.URL[strings.LastIndex(a.URL, ":")+1:]
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "LOCALHOST:" + port} {
		t.Run(host, func(t *testing.T) {
			a := a.forT(t)
			hdr := map[string]string{"Host": host, "Content-Type": "application/json"}
			if res := a.request("GET", "/api/sessions", "", hdr); res.Status != http.StatusOK {
				t.Errorf("GET: status %d %s", res.Status, res.Body)
			}
			res := a.request("POST", "/api/sessions", `{"name":"via `+host+`"}`, hdr)
			if res.Status != http.StatusCreated {
				t.Fatalf("POST: status %d %s", res.Status, res.Body)
			}
			var s sessions.Session
			if err := json.Unmarshal(res.Body, &s); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(a.sessionIDs(), s.ID) {
				t.Errorf("session %s not listed", s.ID)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 5. cross-origin protection

var crossSite = []struct {
	name string
	hdr  map[string]string
}{
	{"Sec-Fetch-Site cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}},
	{"Sec-Fetch-Site same-site", map[string]string{"Sec-Fetch-Site": "same-site"}},
	{"foreign Origin", map[string]string{"Origin": "https://evil.example"}},
}

func TestCrossOriginStateChangesRefused(t *testing.T) {
	f := newFixture(t)
	for _, cs := range crossSite {
		for _, tc := range []struct{ name, method, path, body, ctype string }{
			{"create session", "POST", "/api/sessions", `{"name":"csrf"}`, "application/json"},
			{"create session (form)", "POST", "/sessions", "name=csrf", "application/x-www-form-urlencoded"},
			{"delete session", "DELETE", "/api/sessions/{s}", "", ""},
			{"start server", "POST", "/api/sessions/{s}/servers", `{"kind":"tcp-echo"}`, "text/plain"},
			{"stop server", "DELETE", "/api/sessions/{s}/servers/{srv}", "", ""},
			{"send", "POST", "/api/sessions/{s}/clients/{cli}/send", `{"text":"csrf"}`, "text/plain"},
		} {
			t.Run(cs.name+"/"+tc.name, func(t *testing.T) {
				a := f.a.forT(t)
				before := a.sessionIDs()
				hdr := map[string]string{"Content-Type": tc.ctype}
				for k, v := range cs.hdr {
					hdr[k] = v
				}
				res := a.request(tc.method, f.expand(tc.path), tc.body, hdr)
				if res.Status != http.StatusForbidden {
					t.Errorf("status %d (%s), want 403", res.Status, res.Body)
				}
				if after := a.sessionIDs(); !slices.Equal(after, before) {
					t.Errorf("sessions changed: %v -> %v", before, after)
				}
				f.noTrace(t, "csrf")
				f.undisturbed(t)
			})
		}
	}
}

// The API answers every error as {"error": …} (docs/events.md), the cross-origin
// refusal included: a tutorial script or the page's fetch reads that key.
func TestCrossOriginRefusalIsJSONError(t *testing.T) {
	a := newTestApp(t)
	for _, cs := range crossSite {
		t.Run(cs.name, func(t *testing.T) {
			hdr := map[string]string{"Content-Type": "application/json"}
			for k, v := range cs.hdr {
				hdr[k] = v
			}
			res := a.forT(t).request("POST", "/api/sessions", `{"name":"csrf"}`, hdr)
			if res.Status != http.StatusForbidden {
				t.Fatalf("status %d, want 403", res.Status)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var e apiErrBody
			if err := json.Unmarshal(res.Body, &e); err != nil || !strings.Contains(strings.ToLower(e.Error), "cross") {
				t.Errorf("body %q: want {\"error\": …} explaining the cross-origin refusal", res.Body)
			}
		})
	}
}

func TestCrossOriginSameOriginAndNonBrowserAllowed(t *testing.T) {
	a := newTestApp(t)
	for _, tc := range []struct {
		name string
		hdr  map[string]string
	}{
		{"no browser headers (curl)", map[string]string{}},
		{"Sec-Fetch-Site same-origin", map[string]string{"Sec-Fetch-Site": "same-origin"}},
		{"Sec-Fetch-Site none (typed URL)", map[string]string{"Sec-Fetch-Site": "none"}},
		{"same Origin", map[string]string{"Origin": a.URL}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := a.forT(t)
			tc.hdr["Content-Type"] = "application/json"
			res := a.request("POST", "/api/sessions", `{"name":"ok"}`, tc.hdr)
			if res.Status != http.StatusCreated {
				t.Fatalf("status %d %s, want 201", res.Status, res.Body)
			}
			var s sessions.Session
			if err := json.Unmarshal(res.Body, &s); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(a.sessionIDs(), s.ID) {
				t.Errorf("session %s not listed", s.ID)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 6. limits

func TestAPIServerLimitPerSession(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	other := a.newSession()
	var ids, addrs []string
	for range 20 {
		id, addr := a.startEcho(sess, nil)
		ids = append(ids, id)
		addrs = append(addrs, addr)
	}
	var e apiErrBody
	checkErr(t, "21st server", a.do("POST", "/api/sessions/"+sess+"/servers", map[string]any{"kind": "tcp-echo"}, &e), e,
		http.StatusTooManyRequests, "", "20", "stop one")
	if got := a.getSession(sess).running(); len(got) != 20 {
		t.Fatalf("%d running servers after the refusal, want 20", len(got))
	}
	roundTrip(t, addrs[0], "a", "a")
	roundTrip(t, addrs[19], "z", "z")
	// The limit is per session: another session may still start one.
	if _, addr := a.startEcho(other, nil); addr == "" {
		t.Fatal("other session could not start a server")
	}
	// Stopping one makes room for one more.
	if code := a.do("DELETE", "/api/sessions/"+sess+"/servers/"+ids[5], nil, nil); code != http.StatusOK {
		t.Fatalf("stop: status %d", code)
	}
	_, addr := a.startEcho(sess, nil)
	roundTrip(t, addr, "again", "again")
	checkErr(t, "21st server again", a.do("POST", "/api/sessions/"+sess+"/servers", map[string]any{"kind": "tcp-echo"}, &e), e,
		http.StatusTooManyRequests, "", "20")
}

// ---------------------------------------------------------------------------
// 7. pages

// page fetches an HTML page and parses it.
func page(t *testing.T, a *testApp, path string) (int, *html.Node, string) {
	t.Helper()
	res := a.request("GET", path, "", nil)
	if res.Status == http.StatusOK {
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
	}
	doc, err := html.Parse(bytes.NewReader(res.Body))
	if err != nil {
		t.Fatalf("GET %s: parse HTML: %v", path, err)
	}
	return res.Status, doc, string(res.Body)
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// byTestID returns the elements under n with data-testid=id, in document order.
func byTestID(n *html.Node, id string) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && attr(d, "data-testid") == id {
			out = append(out, d)
		}
	}
	return out
}

func textOf(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return strings.TrimSpace(b.String())
}

func TestPageHome(t *testing.T) {
	a := newTestApp(t)
	status, doc, _ := page(t, a, "/")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	if len(byTestID(doc, "new-session")) != 1 {
		t.Error(`no data-testid="new-session"`)
	}
	forms := byTestID(doc, "new-session-form")
	if len(forms) != 1 || attr(forms[0], "method") != "post" || attr(forms[0], "action") != "/sessions" {
		t.Errorf("new session form: %d found", len(forms))
	}
}

func TestPageHomeListsSessions(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	status, doc, _ := page(t, a, "/")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	lists := byTestID(doc, "sessions")
	if len(lists) != 1 {
		t.Fatal(`no data-testid="sessions"`)
	}
	found := false
	for d := range lists[0].Descendants() {
		if d.Type == html.ElementNode && d.Data == "a" && attr(d, "href") == "/s/"+sess {
			found = textOf(d) == t.Name()
		}
	}
	if !found {
		t.Errorf("no link to /s/%s named %q", sess, t.Name())
	}
}

// postForm posts the new-session form as a browser without JS does.
func postForm(t *testing.T, a *testApp, form url.Values) apiResp {
	t.Helper()
	return a.request("POST", "/sessions", form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

func TestPageNewSessionFormRedirects(t *testing.T) {
	a := newTestApp(t)
	res := postForm(t, a, url.Values{"name": {"x"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("status %d, want 303", res.Status)
	}
	loc := res.Header.Get("Location")
	id, ok := strings.CutPrefix(loc, "/s/")
	if !ok || id == "" || strings.Contains(id, "/") {
		t.Fatalf("Location %q, want /s/ID", loc)
	}
	if v := a.getSession(id); v.Name != "x" {
		t.Errorf("session %s named %q, want x", id, v.Name)
	}
}

func TestPageSession(t *testing.T) {
	a := newTestApp(t)
	var s sessions.Session
	if code := a.do("POST", "/api/sessions", map[string]string{"name": "Workshop <1> & co"}, &s); code != http.StatusCreated {
		t.Fatalf("create: %d", code)
	}
	status, doc, _ := page(t, a, "/s/"+s.ID)
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	if len(byTestID(doc, "events")) != 1 {
		t.Error(`no data-testid="events"`)
	}
	names := byTestID(doc, "session-name")
	if len(names) != 1 || textOf(names[0]) != "Workshop <1> & co" {
		t.Errorf("session-name: %d elements, text %q", len(names), func() string {
			if len(names) == 0 {
				return ""
			}
			return textOf(names[0])
		}())
	}
}

func TestPageSessionUnknownIs404(t *testing.T) {
	a := newTestApp(t)
	for _, path := range []string{"/s/unknown", "/s/unknown/endpoints"} {
		res := a.request("GET", path, "", nil)
		if res.Status != http.StatusNotFound || !strings.Contains(string(res.Body), "not found") {
			t.Errorf("GET %s: %d %q, want 404 saying not found", path, res.Status, res.Body)
		}
		// A page a person sees, with the way back.
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(res.Body), `href="/"`) {
			t.Errorf("GET %s: %s %q, want an HTML page linking to the sessions", path, ct, res.Body)
		}
	}
}

func TestPageEndpointsShowsServer(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	id, addr := a.startEcho(sess, map[string]any{"mode": "upper"})
	port := labPort(t, addr)
	status, doc, _ := page(t, a, "/s/"+sess+"/endpoints")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	servers := byTestID(doc, "server")
	if len(servers) != 1 {
		t.Fatalf("%d server entries, want 1", len(servers))
	}
	li := servers[0]
	if attr(li, "data-id") != id || attr(li, "data-addr") != addr || attr(li, "data-state") != "running" {
		t.Errorf("server entry id %q addr %q state %q", attr(li, "data-id"), attr(li, "data-addr"), attr(li, "data-state"))
	}
	if got := byTestID(li, "server-addr"); len(got) != 1 || textOf(got[0]) != addr {
		t.Errorf("server-addr does not show %s", addr)
	}
	nc := byTestID(li, "snippet-nc")
	if want := "nc 127.0.0.1 " + strconv.Itoa(port); len(nc) != 1 || textOf(nc[0]) != want {
		t.Errorf("snippet-nc does not show %q", want)
	}
	// The session page embeds the same panel.
	_, full, _ := page(t, a, "/s/"+sess)
	if got := byTestID(full, "server"); len(got) != 1 || attr(got[0], "data-addr") != addr {
		t.Errorf("session page: %d server entries", len(got))
	}
}

// A name over the limit is bad input: the form answers 400 with a message,
// not an internal error, and creates nothing.
func TestPageNewSessionFormNameTooLong(t *testing.T) {
	a := newTestApp(t)
	before := a.sessionIDs()
	res := postForm(t, a, url.Values{"name": {strings.Repeat("n", 300)}})
	if res.Status != http.StatusBadRequest || !strings.Contains(string(res.Body), "200") {
		t.Errorf("status %d %q, want 400 naming the 200-byte limit", res.Status, res.Body)
	}
	if after := a.sessionIDs(); !slices.Equal(after, before) {
		t.Errorf("sessions changed: %v -> %v", before, after)
	}
}

// A form body over its limit is refused (413), not read as an empty form that
// silently creates a session with a default name.
func TestPageNewSessionFormBodyOverLimit(t *testing.T) {
	a := newTestApp(t)
	before := a.sessionIDs()
	res := postForm(t, a, url.Values{"name": {strings.Repeat("n", 8000)}})
	if res.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d (Location %q), want 413", res.Status, res.Header.Get("Location"))
	}
	if after := a.sessionIDs(); !slices.Equal(after, before) {
		t.Errorf("sessions changed: %v -> %v", before, after)
	}
}

// The timeline of a session: its events and errors in time buckets, for a
// replay; bad bucket counts are 400.
func TestTimelineAPI(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	base := time.Now().Add(-time.Minute)
	for i := range 1000 {
		ev := engine.Event{Session: sid, Kind: engine.KindRecv, At: base.Add(time.Duration(i) * time.Millisecond), Len: 1}
		if i%100 == 0 {
			ev.Kind, ev.Err = engine.KindError, &engine.SockErr{Errno: "ECONNREFUSED"}
		}
		a.Rec.Emit(ev)
	}
	if err := a.Rec.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Buckets []sessions.Bucket
		Events  int64
	}
	if code := a.do("GET", "/api/sessions/"+sid+"/timeline?buckets=10", nil, &out); code != http.StatusOK {
		t.Fatalf("timeline: %d", code)
	}
	var events, errs int64
	for _, b := range out.Buckets {
		events += b.Events
		errs += b.Errors
	}
	if len(out.Buckets) != 10 || events != 1000 || errs != 10 || out.Events != 1000 {
		t.Errorf("timeline: %d buckets, %d events, %d errors (session %d); want 10, 1000, 10", len(out.Buckets), events, errs, out.Events)
	}
	for _, q := range []string{"buckets=0x1", "buckets=-3", "buckets=5000"} {
		var e struct{ Error string }
		if code := a.do("GET", "/api/sessions/"+sid+"/timeline?"+q, nil, &e); code != http.StatusBadRequest || !strings.Contains(e.Error, "buckets") {
			t.Errorf("timeline?%s: %d %q, want 400 naming buckets", q, code, e.Error)
		}
	}
	if code := a.do("GET", "/api/sessions/nope/timeline", nil, nil); code != http.StatusNotFound {
		t.Errorf("timeline of an unknown session: %d, want 404", code)
	}
}
