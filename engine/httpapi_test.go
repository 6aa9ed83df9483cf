package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startHTTPAPI starts a http-api server (see startKind).
func startHTTPAPI(t testing.TB, lab *Lab, opts string) ServerInfo {
	t.Helper()
	return startKind(t, lab, "s", "http-api", opts)
}

// httpClient returns a net/http client of its own, whose idle connections
// are closed when the test ends.
func httpClient(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitTimeout}
}

// do sends req and returns the response and its whole body.
func do(t testing.TB, cl *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return resp, string(b)
}

func newRequest(t testing.TB, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// readResponse reads one response from br (for a request of method).
func readResponse(t testing.TB, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading a response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading a response body: %v", err)
	}
	return resp, string(b)
}

// rawExchange writes raw on a new connection to addr and reads one response.
// It returns the connection and its reader for more.
func rawExchange(t testing.TB, addr, raw string) (*http.Response, string, *net.TCPConn, *bufio.Reader) {
	t.Helper()
	c := dial(t, addr)
	write(t, c, []byte(raw))
	br := bufio.NewReader(c)
	method, _, _ := strings.Cut(raw, " ")
	resp, body := readResponse(t, br, method)
	return resp, body, c, br
}

// assertEOF checks that the server closes the connection once br holds no
// more.
func assertEOF(t testing.TB, br *bufio.Reader) {
	t.Helper()
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after the response: got %q, %v; want the end of the stream", rest, err)
	}
}

var timestampRE = regexp.MustCompile(`,"timestamp":"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{6})?)"\}$`)

// checkGetBody checks a GET answer byte for byte: want is the body up to
// the timestamp, which must be Python's datetime.now().isoformat() of a
// time between before and after.
func checkGetBody(t testing.TB, body, want string, before, after time.Time) {
	t.Helper()
	m := timestampRE.FindStringSubmatchIndex(body)
	if m == nil {
		t.Fatalf("body %s does not end in a timestamp like 2026-12-01T21:30:00.123456", body)
	}
	if got := body[:m[0]]; got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	ts := body[m[2]:m[3]]
	at, err := time.ParseInLocation("2006-01-02T15:04:05.999999", ts, time.Local)
	if err != nil {
		t.Fatalf("timestamp %q: %v", ts, err)
	}
	if at.Before(before.Truncate(time.Microsecond)) || at.After(after) {
		t.Errorf("timestamp %s is not between %s and %s", ts, before.Format(time.RFC3339Nano), after.Format(time.RFC3339Nano))
	}
}

func TestHTTPAPIKindIsRegistered(t *testing.T) {
	k := LookupServerKind("http-api")
	if k == nil {
		t.Fatal("http-api is not in the registry")
	}
	if k.Net != NetTCP || k.TutorialPort != 8000 {
		t.Errorf("net %q tutorial port %d, want tcp and 8000", k.Net, k.TutorialPort)
	}
	for _, o := range k.Options {
		if o.Help == "" {
			t.Errorf("option %s has no help", o.Name)
		}
	}
}

func TestHTTPAPIGetRepeatedQueryParams(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, "")
	before := time.Now()
	resp, body := do(t, httpClient(t), newRequest(t, "GET", "http://"+srv.Addr+"/x?a=1&a=2&b=&c=3", nil))
	after := time.Now()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("status %d content-type %q, want 200 application/json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("Content-Length %d for a body of %d bytes", resp.ContentLength, len(body))
	}
	checkGetBody(t, body, `{"method":"GET","path":"/x","query_params":{"a":["1","2"],"c":["3"]}`, before, after)
}

// The expected values are what Python 3.11 gives for the same request line
// to http.server with urlparse(self.path) and parse_qs(query).
func TestHTTPAPIGetMatchesPythonParseQS(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, "")
	tests := []struct {
		target string
		path   string // JSON
		params string // JSON, in parse_qs's order
	}{
		{"/x?a=1&a=2", `"/x"`, `{"a":["1","2"]}`},
		{"/?a=&b=1", `"/"`, `{"b":["1"]}`},                    // blank values dropped
		{"/?a", `"/"`, `{}`},                                  // no "=": dropped
		{"/", `"/"`, `{}`},                                    // no query
		{"/?=1", `"/"`, `{"":["1"]}`},                         // an empty name is kept
		{"/?a=1=2", `"/"`, `{"a":["1=2"]}`},                   // split at the first "="
		{"/?b=2&a=1&b=3", `"/"`, `{"b":["2","3"],"a":["1"]}`}, // first-seen order
		{"/?%61=1&a=2", `"/"`, `{"a":["1","2"]}`},             // names are decoded before grouping
		{"/?q=hello+world&a+b=c+d", `"/"`, `{"q":["hello world"],"a b":["c d"]}`},
		{"/?q=%2B", `"/"`, `{"q":["+"]}`},
		{"/?a=1;b=2", `"/"`, `{"a":["1;b=2"]}`}, // ";" separates nothing
		{"/?&&a=1&", `"/"`, `{"a":["1"]}`},
		{"/?q=%E2%82%AC&r=%e2%82%ac", `"/"`, `{"q":["€"],"r":["€"]}`},
		{"/?q=%3Cb%3E%26%22%5C", `"/"`, `{"q":["<b>&\"\\"]}`}, // no \u003c
		{"/?q=a%00b%0A", `"/"`, `{"q":["a\u0000b\n"]}`},
		{"/?q=%zz&r=%&s=%4", `"/"`, `{"q":["%zz"],"r":["%"],"s":["%4"]}`}, // bad escapes stay
		{"/?%zz%41=%41%", `"/"`, `{"%zzA":["A%"]}`},
		// Bytes that are not UTF-8 become U+FFFD, one per maximal bad part.
		{"/?q=%E2%82", `"/"`, `{"q":["\ufffd"]}`},
		{"/?q=%E2%82x", `"/"`, `{"q":["\ufffdx"]}`},
		{"/?q=%ff%fe", `"/"`, `{"q":["\ufffd\ufffd"]}`},
		{"/?q=%C0%AF", `"/"`, `{"q":["\ufffd\ufffd"]}`},
		{"/?q=%ED%A0%80", `"/"`, `{"q":["\ufffd\ufffd\ufffd"]}`},
		{"/?q=%F0%9F%98", `"/"`, `{"q":["\ufffd"]}`},
		{"/?q=%F0%9F%98%80%F8", `"/"`, `{"q":["😀\ufffd"]}`},
		{"/?q=%e2%28%a1", `"/"`, `{"q":["\ufffd(\ufffd"]}`},
		// Raw bytes of the request line are ISO-8859-1 characters to http.server.
		{"/\xe9t\xe9?q=\xc3\xa9&r=\xe9%C3%A9", `"/été"`, `{"q":["Ã©"],"r":["éé"]}`},
		// Paths are urlparse's: not decoded, no fragment, no ;params.
		{"/a%20b?x=1", `"/a%20b"`, `{"x":["1"]}`},
		{"/p?a=1?b=2", `"/p"`, `{"a":["1?b=2"]}`},
		{"/p#frag?b=1", `"/p"`, `{}`},
		{"/a;b?c=1", `"/a"`, `{"c":["1"]}`},
		{"/a;x/b;y?z=1", `"/a;x/b"`, `{"z":["1"]}`},
		{"/a:b?c=1", `"/a:b"`, `{"c":["1"]}`},
		{"//host/p?q=1", `"/host/p"`, `{"q":["1"]}`}, // http.server reduces leading slashes
		{"http://example.com:80/p?x=1", `"/p"`, `{"x":["1"]}`},
		{"*", `"*"`, `{}`},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.target), func(t *testing.T) {
			before := time.Now()
			resp, body, _, br := rawExchange(t, srv.Addr, "GET "+tt.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			after := time.Now()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d, body %s", resp.StatusCode, body)
			}
			// The table writes U+FFFD as \ufffd; the server writes the character.
			params := strings.ReplaceAll(tt.params, `\ufffd`, "\ufffd")
			checkGetBody(t, body, `{"method":"GET","path":`+tt.path+`,"query_params":`+params, before, after)
			assertEOF(t, br)
		})
	}
}

func TestHTTPAPIIsoformat(t *testing.T) {
	at := time.Date(2026, 12, 1, 21, 30, 0, 123456789, time.Local)
	if got := isoformat(at); got != "2026-12-01T21:30:00.123456" {
		t.Errorf("isoformat = %q", got)
	}
	// Python leaves the fraction out when the microseconds are 0.
	if got := isoformat(at.Truncate(time.Second).Add(999)); got != "2026-12-01T21:30:00" {
		t.Errorf("isoformat = %q, want no fraction", got)
	}
}

func TestHTTPAPIPostJSON(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, "")
	cl := httpClient(t)
	tests := []struct{ send, received string }{
		{`{"x":1}`, `{"x":1}`},
		// Spaces go; the value stays as sent: the digits of big numbers,
		// key order, escapes, and no \u003c for "<".
		{" { \"x\" : 1 ,\n \"y\": [true, null, 2.50, 1e3], \"big\": 12345678901234567890, \"s\": \"<a&b> \\u00e9 é\" } \n",
			`{"x":1,"y":[true,null,2.50,1e3],"big":12345678901234567890,"s":"<a&b> \u00e9 é"}`},
		{`[1, "two"]`, `[1,"two"]`},
		{`"just a string"`, `"just a string"`},
		{`42`, `42`},
		{`null`, `null`},
	}
	for _, tt := range tests {
		req := newRequest(t, "POST", "http://"+srv.Addr+"/items", strings.NewReader(tt.send))
		req.Header.Set("Content-Type", "application/json")
		resp, body := do(t, cl, req)
		want := `{"status":"success","received":` + tt.received + `}`
		if resp.StatusCode != 201 || body != want || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("POST %q: %d %q %s, want 201 application/json %s", tt.send, resp.StatusCode, resp.Header.Get("Content-Type"), body, want)
		}
	}
}

func TestHTTPAPIPostNotJSON(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, "")
	cl := httpClient(t)
	for _, send := range []string{"", "hello", "{", `{"x":1}x`, `{'x': 1}`, `NaN`, "\"\xff\""} {
		resp, body := do(t, cl, newRequest(t, "POST", "http://"+srv.Addr+"/items", strings.NewReader(send)))
		if want := `{"status":"error","message":"Invalid JSON"}`; resp.StatusCode != 400 || body != want {
			t.Errorf("POST %q: %d %s, want 400 %s", send, resp.StatusCode, body, want)
		}
		if resp.Close {
			t.Errorf("POST %q: the connection closes after an invalid body; want keep-alive", send)
		}
	}
}

func TestHTTPAPIOtherMethodsAre405(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, "")
	cl := httpClient(t)
	const want = `{"status":"error","message":"Method not allowed"}`
	for _, method := range []string{"PUT", "DELETE", "PATCH", "OPTIONS", "get"} {
		resp, body := do(t, cl, newRequest(t, method, "http://"+srv.Addr+"/items/1", strings.NewReader(`{"x":1}`)))
		if resp.StatusCode != 405 || body != want || resp.Header.Get("Allow") != "GET, POST" {
			t.Errorf("%s: %d Allow %q %s, want 405 Allow \"GET, POST\" %s", method, resp.StatusCode, resp.Header.Get("Allow"), body, want)
		}
	}
	// A response to HEAD has no body, but says how long it would be.
	resp, body, c, br := rawExchange(t, srv.Addr, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 405 || body != "" || resp.ContentLength != int64(len(want)) {
		t.Errorf("HEAD: %d Content-Length %d body %q, want 405, %d, no body", resp.StatusCode, resp.ContentLength, body, len(want))
	}
	// Nothing more followed the headers: the next answer is the next request's.
	write(t, c, []byte("GET /next HTTP/1.1\r\nHost: x\r\n\r\n"))
	if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || !strings.Contains(body, `"path":"/next"`) {
		t.Errorf("GET after HEAD: %d %s", resp.StatusCode, body)
	}
}

func TestHTTPAPIBodyTooLarge(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, `{"max_body":16}`)
	cl := httpClient(t)
	url := "http://" + srv.Addr + "/items"
	const want413 = `{"status":"error","message":"Request body too large: at most 16 bytes"}`

	resp, body := do(t, cl, newRequest(t, "POST", url, strings.NewReader(`{"k":"12345678"}`))) // 16 bytes
	if resp.StatusCode != 201 || body != `{"status":"success","received":{"k":"12345678"}}` {
		t.Errorf("16 bytes: %d %s, want 201", resp.StatusCode, body)
	}
	for _, tt := range []struct {
		name string
		body io.Reader
	}{
		{"17 bytes", strings.NewReader(`{"k":"123456789"}`)},
		{"chunked, 17 bytes", struct{ io.Reader }{strings.NewReader(`{"k":"123456789"}`)}}, // no length known: chunked
		// The client is still sending when the answer comes: it must read
		// the 413, not a reset.
		{"1 MiB", bytes.NewReader(bytes.Repeat([]byte("x"), 1<<20))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, cl, newRequest(t, "POST", url, tt.body))
			if resp.StatusCode != 413 || body != want413 || !resp.Close {
				t.Errorf("%d %s (close %v), want 413 %s and Connection: close", resp.StatusCode, body, resp.Close, want413)
			}
		})
	}
}

func TestHTTPAPIMaxBodyZero(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, `{"max_body":0}`)
	resp, body := do(t, httpClient(t), newRequest(t, "POST", "http://"+srv.Addr+"/", strings.NewReader("1")))
	if resp.StatusCode != 413 || body != `{"status":"error","message":"Request body too large: at most 0 bytes"}` {
		t.Errorf("%d %s, want 413", resp.StatusCode, body)
	}
}

func TestHTTPAPIExpectContinue(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, `{"max_body":100}`)

	c := dial(t, srv.Addr)
	write(t, c, []byte("POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n"))
	const cont = "HTTP/1.1 100 Continue\r\n\r\n"
	if got := readN(t, c, len(cont)); string(got) != cont {
		t.Fatalf("got %q, want %q before the body is sent", got, cont)
	}
	write(t, c, []byte(`{"x":1}`))
	if resp, body := readResponse(t, bufio.NewReader(c), "POST"); resp.StatusCode != 201 || body != `{"status":"success","received":{"x":1}}` {
		t.Errorf("after 100 Continue: %d %s", resp.StatusCode, body)
	}

	// Too large: the final answer comes at once, and the body is never sent.
	resp, body, _, br := rawExchange(t, srv.Addr, "POST /items HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\nExpect: 100-continue\r\n\r\n")
	if resp.StatusCode != 413 || !strings.Contains(body, "at most 100 bytes") {
		t.Errorf("too large with Expect: %d %s, want 413", resp.StatusCode, body)
	}
	assertEOF(t, br)
}

func TestHTTPAPIKeepAliveIsOneConnection(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, "")
	cl := httpClient(t)
	for _, path := range []string{"/one", "/two"} {
		resp, body := do(t, cl, newRequest(t, "GET", "http://"+srv.Addr+path, nil))
		if resp.StatusCode != 200 || !strings.Contains(body, `"path":"`+path+`"`) || resp.Close {
			t.Errorf("GET %s: %d %s close %v", path, resp.StatusCode, body, resp.Close)
		}
	}
	evs := sink.waitFor(t, "two http-response events", func(evs []Event) bool {
		return len(filter(evs, KindHTTPResponse, srv.ID)) == 2
	})
	accepts := filter(evs, KindAccept, srv.ID)
	if len(accepts) != 1 {
		t.Fatalf("%d accepts for two requests, want 1 (keep-alive):\n%s", len(accepts), dumpEvents(evs))
	}
	for _, ev := range filter(evs, KindHTTPRequest, srv.ID) {
		if ev.Conn != accepts[0].Conn {
			t.Errorf("http-request on connection %s, want %s", ev.Conn, accepts[0].Conn)
		}
	}
	if info := lab.Servers("s")[0]; info.Accepted != 1 {
		t.Errorf("server accepted %d connections, want 1", info.Accepted)
	}
}

func TestHTTPAPIConnectionHandling(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, "")
	tests := []struct {
		name      string
		req       string
		wantClose bool
		reason    string // the server's close reason
	}{
		{"HTTP/1.1 Connection: close", "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true, "the client asked to close (Connection: close)"},
		{"HTTP/1.0", "GET /a HTTP/1.0\r\n\r\n", true, "HTTP/1.0 without keep-alive: one request per connection"},
		{"HTTP/1.0 keep-alive", "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false, ""},
		{"HTTP/1.1", "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _, c, br := rawExchange(t, srv.Addr, tt.req)
			// net/http reads "Connection: close" into resp.Close and drops the header.
			if resp.StatusCode != 200 || resp.Close != tt.wantClose || !tt.wantClose && resp.Header.Get("Connection") != "keep-alive" {
				t.Errorf("status %d close %v Connection %q, want 200, close %v", resp.StatusCode, resp.Close, resp.Header.Get("Connection"), tt.wantClose)
			}
			if tt.wantClose {
				assertEOF(t, br)
				sink.waitFor(t, "the close reason "+tt.reason, func(evs []Event) bool {
					return indexOf(evs, func(ev Event) bool { return isClose(ev, "local", false) && ev.Meta["reason"] == tt.reason }) >= 0
				})
				return
			}
			// Still open: a second request is answered on it.
			write(t, c, []byte(tt.req))
			if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || !strings.Contains(body, `"path":"/a"`) {
				t.Errorf("second request: %d %s", resp.StatusCode, body)
			}
		})
	}
}

func TestHTTPAPIPipelinedRequests(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, "")
	c := dial(t, srv.Addr)
	// Two requests in one write (with a blank line between, which servers skip).
	write(t, c, []byte("POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n[1]\r\nGET /2?n=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
	br := bufio.NewReader(c)
	if resp, body := readResponse(t, br, "POST"); resp.StatusCode != 201 || body != `{"status":"success","received":[1]}` {
		t.Errorf("first: %d %s", resp.StatusCode, body)
	}
	if resp, body := readResponse(t, br, "GET"); resp.StatusCode != 200 || !strings.Contains(body, `"path":"/2","query_params":{"n":["2"]}`) {
		t.Errorf("second: %d %s", resp.StatusCode, body)
	}
	assertEOF(t, br)
}

func TestHTTPAPINotHTTPIsRefused(t *testing.T) {
	tests := []struct {
		name      string
		send      string
		closeSend bool   // shut down the sending side after it
		reason    string // the error event's message
		hint      string // in the hint
	}{
		{"nc line", "hello\n", false, `not an HTTP request: the first line was "hello"`, `"GET /path HTTP/1.1"`},
		{"two words", "hello world\r\n", false, `not an HTTP request: the first line was "hello world"`, `"GET /path HTTP/1.1"`},
		{"HTTP/0.9", "GET /\r\n", false, `not an HTTP request: the first line was "GET /"`, `"GET /path HTTP/1.1"`},
		{"lower-case version", "get / http/1.1\r\n\r\n", false, `not an HTTP request: the first line was "get / http/1.1"`, `"GET /path HTTP/1.1"`},
		{"no line end, then FIN", "hello", true, `not an HTTP request: the first line was "hello"`, `"GET /path HTTP/1.1"`},
		// Refused at once: no line end is awaited.
		{"TLS handshake", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", false, "not an HTTP request: it starts with the bytes 16 03 01 02 00 01 00 01", "TLS handshake"},
		{"binary", "\x00\x01\x02", false, "not an HTTP request: it starts with the bytes 00 01 02", `"GET /path HTTP/1.1"`},
		{"bad header", "GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", false, `bad HTTP request: a header line is not "Name: value": "no colon here"`, `"GET /path HTTP/1.1"`},
		{"bad target", "GET items HTTP/1.1\r\nHost: x\r\n\r\n", false, `bad HTTP request: the request target "items" is not a path such as "/items"`, `"GET /path HTTP/1.1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lab, sink := newTestLab(t, LabConfig{})
			srv := startHTTPAPI(t, lab, "")
			c := dial(t, srv.Addr)
			write(t, c, []byte(tt.send))
			if tt.closeSend {
				c.CloseWrite()
			}
			br := bufio.NewReader(c)
			resp, body := readResponse(t, br, "")
			wantBody := `{"status":"error","message":` + string(appendJSONString(nil, "Bad Request: "+tt.reason)) + `}`
			if resp.StatusCode != 400 || resp.Status != "400 Bad Request" || body != wantBody || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("got %q %s, want 400 Bad Request %s", resp.Status, body, wantBody)
			}
			assertEOF(t, br)
			evs := sink.waitFor(t, "the server's close", func(evs []Event) bool {
				return indexOf(filter(evs, KindClose, srv.ID), func(ev Event) bool { return isClose(ev, "local", false) }) >= 0
			})
			errs := filter(evs, KindError, srv.ID)
			if len(errs) != 1 || errs[0].Err == nil {
				t.Fatalf("want one error event:\n%s", dumpEvents(evs))
			}
			e := errs[0].Err
			if e.Errno != "EPROTO" || e.Message != tt.reason || !strings.Contains(e.Hint, tt.hint) {
				t.Errorf("error %+v, want EPROTO %q with a hint mentioning %s", *e, tt.reason, tt.hint)
			}
			if n := len(filter(evs, KindHTTPRequest, srv.ID)); n != 0 {
				t.Errorf("%d http-request events, want none", n)
			}
			if rs := filter(evs, KindHTTPResponse, srv.ID); len(rs) != 1 || rs[0].Meta["status"] != 400 {
				t.Errorf("http-response events %v, want one of status 400", rs)
			}
			// The server serves the next connection.
			if resp, _ := do(t, httpClient(t), newRequest(t, "GET", "http://"+srv.Addr+"/", nil)); resp.StatusCode != 200 {
				t.Errorf("next connection: status %d, want 200", resp.StatusCode)
			}
		})
	}
}

func TestHTTPAPIHTTP2IsRefused(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, "")
	// What curl --http2-prior-knowledge sends first.
	resp, body, _, br := rawExchange(t, srv.Addr, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	if resp.StatusCode != 505 || !strings.Contains(body, "HTTP/1.1") {
		t.Errorf("%d %s, want 505", resp.StatusCode, body)
	}
	assertEOF(t, br)
}

func TestHTTPAPIHeaderTooLarge(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, "")
	resp, body, c, br := rawExchange(t, srv.Addr, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("b", 70<<10)+"\r\n\r\n")
	if resp.StatusCode != 431 || !strings.Contains(body, "larger than 65536 bytes") {
		t.Errorf("%d %s, want 431", resp.StatusCode, body)
	}
	// The server shut down its side and reads what is left until we close.
	assertEOF(t, br)
	c.Close()
	evs := sink.waitFor(t, "the server's close", func(evs []Event) bool {
		return indexOf(filter(evs, KindClose, srv.ID), func(ev Event) bool { return isClose(ev, "local", false) }) >= 0
	})
	if errs := filter(evs, KindError, srv.ID); len(errs) != 1 || errs[0].Err.Errno != "EPROTO" {
		t.Errorf("want one EPROTO error event:\n%s", dumpEvents(evs))
	}
}

func TestHTTPAPIClientClosesMidRequest(t *testing.T) {
	for _, send := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n",
		"GET / HTTP/1.1",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n[1,",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
	} {
		t.Run(strconv.Quote(send), func(t *testing.T) {
			lab, sink := newTestLab(t, LabConfig{})
			srv := startHTTPAPI(t, lab, "")
			c := dial(t, srv.Addr)
			write(t, c, []byte(send))
			c.CloseWrite()
			if got := readToEOF(t, c); len(got) != 0 {
				t.Errorf("got %q, want no answer", got)
			}
			evs := sink.waitFor(t, "the server's close", func(evs []Event) bool {
				return indexOf(filter(evs, KindClose, srv.ID), func(ev Event) bool { return isClose(ev, "local", false) }) >= 0
			})
			closes := filter(evs, KindClose, srv.ID)
			if len(closes) != 2 || !isClose(closes[0], "peer", true) || closes[1].Meta["reason"] != "the client closed the connection in the middle of a request" {
				t.Errorf("close events, want the peer's FIN then the local close with its reason:\n%s", dumpEvents(evs))
			}
			for _, k := range []Kind{KindError, KindHTTPRequest, KindHTTPResponse} {
				if n := len(filter(evs, k, srv.ID)); n != 0 {
					t.Errorf("%d %s events, want none", n, k)
				}
			}
			if resp, _ := do(t, httpClient(t), newRequest(t, "GET", "http://"+srv.Addr+"/", nil)); resp.StatusCode != 200 {
				t.Errorf("next connection: status %d, want 200", resp.StatusCode)
			}
		})
	}
}

func TestHTTPAPIEventsPerRequest(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startHTTPAPI(t, lab, "")
	c := dial(t, srv.Addr)
	br := bufio.NewReader(c)
	write(t, c, []byte("GET /hello?name=ada&x=1&x=2 HTTP/1.1\r\nHost: example\r\nAccept: a\r\nAccept: b\r\nUser-Agent: test\r\n\r\n"))
	_, getBody := readResponse(t, br, "GET")
	write(t, c, []byte("POST /items HTTP/1.1\r\nHost: example\r\nContent-Type: application/json\r\nContent-Length: 8\r\nConnection: close\r\n\r\n{\"x\": 1}"))
	_, postBody := readResponse(t, br, "POST")
	assertEOF(t, br)

	evs := sink.waitFor(t, "the server's close", func(evs []Event) bool {
		return indexOf(filter(evs, KindClose, srv.ID), func(ev Event) bool { return isClose(ev, "local", false) }) >= 0
	})
	conn := filter(evs, KindAccept, srv.ID)[0].Conn
	var kinds []Kind
	var sends [][]byte
	for _, ev := range connEvents(evs, conn) {
		if ev.Kind == KindRecv && len(kinds) > 0 && kinds[len(kinds)-1] == KindRecv {
			continue // a request may arrive in several reads
		}
		kinds = append(kinds, ev.Kind)
		if ev.Kind == KindSend {
			sends = append(sends, ev.Data)
		}
	}
	want := []Kind{KindAccept, KindRecv, KindHTTPRequest, KindHTTPResponse, KindSend, KindRecv, KindHTTPRequest, KindHTTPResponse, KindSend, KindClose}
	if !slices.Equal(kinds, want) {
		t.Fatalf("events %v, want %v:\n%s", kinds, want, dumpEvents(evs))
	}
	// Each response is one write: its send event holds all of it.
	if !strings.HasPrefix(string(sends[0]), "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(string(sends[0]), "\r\n\r\n"+getBody) {
		t.Errorf("first send %q is not the whole response", sends[0])
	}
	if !strings.HasPrefix(string(sends[1]), "HTTP/1.1 201 Created\r\n") || !strings.HasSuffix(string(sends[1]), "\r\n\r\n"+postBody) {
		t.Errorf("second send %q is not the whole response", sends[1])
	}

	reqs, resps := filter(evs, KindHTTPRequest, srv.ID), filter(evs, KindHTTPResponse, srv.ID)
	wantReqs := []map[string]any{
		{"method": "GET", "path": "/hello", "query": "name=ada&x=1&x=2", "proto": "HTTP/1.1", "body_len": 0,
			"headers": map[string]string{"Host": "example", "Accept": "a, b", "User-Agent": "test"}},
		{"method": "POST", "path": "/items", "query": "", "proto": "HTTP/1.1", "body_len": 8,
			"headers": map[string]string{"Host": "example", "Content-Type": "application/json", "Content-Length": "8", "Connection": "close"}},
	}
	for i, ev := range reqs {
		if !jsonEqual(ev.Meta, wantReqs[i]) {
			t.Errorf("http-request %d meta %v, want %v", i, ev.Meta, wantReqs[i])
		}
	}
	for i, tt := range []struct {
		status int
		reason string
		body   string
		conn   string
	}{{200, "OK", getBody, "keep-alive"}, {201, "Created", postBody, "close"}} {
		m := resps[i].Meta
		h, _ := m["headers"].(map[string]string)
		if m["status"] != tt.status || m["reason"] != tt.reason || m["body_len"] != len(tt.body) ||
			h["Content-Type"] != "application/json" || h["Content-Length"] != strconv.Itoa(len(tt.body)) || h["Connection"] != tt.conn || h["Date"] == "" {
			t.Errorf("http-response %d meta %v, want status %d %s, body_len %d, Connection %s", i, m, tt.status, tt.reason, len(tt.body), tt.conn)
		}
		if _, err := json.Marshal(m); err != nil {
			t.Errorf("http-response meta is not JSON-encodable: %v", err)
		}
	}
}

// jsonEqual compares two values by their JSON.
func jsonEqual(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

func TestHTTPAPIRecvSize(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startHTTPAPI(t, lab, `{"recv_size":1}`)
	const req = "GET /small?reads=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	resp, body, _, _ := rawExchange(t, srv.Addr, req)
	if resp.StatusCode != 200 || !strings.Contains(body, `"query_params":{"reads":["1"]}`) {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	evs := sink.waitFor(t, "the request's bytes received", func(evs []Event) bool {
		return sumLen(filter(evs, KindRecv, srv.ID)) == len(req)
	})
	if recvs := filter(evs, KindRecv, srv.ID); len(recvs) != len(req) {
		t.Errorf("%d recv events for %d bytes read 1 at a time", len(recvs), len(req))
	}
}

func TestHTTPAPIOptions(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	info := startHTTPAPI(t, lab, "")
	if info.Options.Int("max_body") != 1048576 || info.Options.Int("recv_size") != 4096 {
		t.Errorf("defaults %v, want max_body 1048576 and recv_size 4096", info.Options)
	}
	if info := startHTTPAPI(t, lab, `{"max_body":16777216}`); info.Options.Int("max_body") != 16777216 {
		t.Errorf("max_body %v", info.Options["max_body"])
	}
	for _, opts := range []string{`{"max_body":-1}`, `{"max_body":16777217}`, `{"max_body":"1MB"}`, `{"max_body":1.5}`} {
		_, err := lab.StartServer("s", ServerSpec{Kind: "http-api", Options: json.RawMessage(opts)})
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != "max_body" {
			t.Errorf("%s: err = %v, want an *OptionError on max_body", opts, err)
		}
	}
	if _, err := lab.StartServer("s", ServerSpec{Kind: "http-api", Options: json.RawMessage(`{"recv_size":0}`)}); err == nil {
		t.Error("recv_size 0 accepted")
	}
}

func TestHTTPAPIStopWithIdleKeepAliveConnection(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, "")
	resp, _, c, _ := rawExchange(t, srv.Addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := lab.StopServer("s", srv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); !isEOFOrReset(err) {
		t.Errorf("read after stop: %v, want EOF or reset", err)
	}
	evs := sink.events()
	if i := indexOf(evs, func(ev Event) bool {
		return ev.Server == srv.ID && isClose(ev, "local", false) && ev.Meta["reason"] == "server stopped"
	}); i < 0 {
		t.Errorf("no close with reason \"server stopped\":\n%s", dumpEvents(evs))
	}
	if n := len(filter(evs, KindError, srv.ID)); n != 0 {
		t.Errorf("%d error events, want none:\n%s", n, dumpEvents(evs))
	}
}

// run runs a command with a deadline and returns its output.
func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func needTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (CI installs it): %v", name, err)
	}
}

func TestHTTPAPIWithCurl(t *testing.T) {
	needTool(t, "curl")
	lab, sink := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, "")
	base := "http://" + srv.Addr

	before := time.Now()
	out := run(t, "curl", "-sS", base+"/search?tag=go&tag=net&empty=&q=a+b%21")
	checkGetBody(t, out, `{"method":"GET","path":"/search","query_params":{"tag":["go","net"],"q":["a b!"]}`, before, time.Now())

	out = run(t, "curl", "-sS", "-X", "POST", "-H", "Content-Type: application/json", "-d", `{"x": [1, 2]}`, base+"/items")
	if out != `{"status":"success","received":{"x":[1,2]}}` {
		t.Errorf("curl POST: %s", out)
	}
	out = run(t, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE", base+"/items/1")
	if out != "405" {
		t.Errorf("curl DELETE: status %s, want 405", out)
	}

	// Two URLs in one curl command share one connection.
	n := len(filter(sink.events(), KindAccept, srv.ID))
	out = run(t, "curl", "-sS", base+"/one", base+"/two")
	if !strings.Contains(out, `"path":"/one"`) || !strings.Contains(out, `"path":"/two"`) {
		t.Errorf("curl two URLs: %s", out)
	}
	evs := sink.waitFor(t, "curl's connection closed", func(evs []Event) bool {
		return len(filter(evs, KindClose, srv.ID)) >= 2*(n+1)
	})
	if got := len(filter(evs, KindAccept, srv.ID)) - n; got != 1 {
		t.Errorf("curl with two URLs made %d connections, want 1 (keep-alive)", got)
	}
}

func TestHTTPAPISnippetsWork(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startHTTPAPI(t, lab, "")
	snips := httpAPIKind.SnippetsFor(srv.Addr, srv.Options)
	byName := map[string]Snippet{}
	for _, s := range snips {
		byName[s.Name] = s
	}
	_, port, _ := net.SplitHostPort(srv.Addr)
	tests := []struct {
		name, tool string
		args       func(code string) []string
		want       []string
	}{
		{"curl", "curl", func(code string) []string { return []string{"sh", "-c", code} },
			[]string{"HTTP/1.1 200 OK", `{"method":"GET","path":"/hello","query_params":{"name":["ada"]},"timestamp":"`}},
		{"curl-post", "curl", func(code string) []string { return []string{"sh", "-c", code} },
			[]string{"HTTP/1.1 201 Created", `{"status":"success","received":{"x":1}}`}},
		{"nc", "nc", func(code string) []string { return []string{"sh", "-c", code} },
			[]string{"HTTP/1.1 200 OK", `{"method":"GET","path":"/","query_params":{},"timestamp":"`}},
		{"python", "python3", func(code string) []string { return []string{"python3", "-c", code} },
			[]string{"200 {'method': 'GET', 'path': '/hello', 'query_params': {'name': ['ada']}, 'timestamp': ", "201 {'status': 'success', 'received': {'x': 1}}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := byName[tt.name]
			if !ok {
				t.Fatalf("no %s snippet in %v", tt.name, snips)
			}
			if !strings.Contains(s.Code, port) {
				t.Errorf("snippet %q does not name port %s", s.Code, port)
			}
			needTool(t, tt.tool)
			if tt.tool == "nc" {
				// -N (shut down after the input) is OpenBSD netcat's.
				help, _ := exec.Command("nc", "-h").CombinedOutput()
				if !regexp.MustCompile(`\[-[0-9A-Za-z]*N`).Match(help) {
					t.Skip("this nc has no -N option (OpenBSD netcat has; CI installs it)")
				}
			}
			args := tt.args(s.Code)
			out := run(t, args[0], args[1:]...)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("%s printed:\n%s\nwant it to contain %s", s.Code, out, w)
				}
			}
		})
	}
}
