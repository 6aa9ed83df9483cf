package engine

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The tests' own framing of the application protocol, written from its
// description (not with appproto): a 2-byte big-endian header length, the
// JSON header as Python's json.dumps writes it (", " and ": ", the keys in
// the tutorial's order), the content.

// pyByteOrder is Python's sys.byteorder on this machine.
func pyByteOrder() string {
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return "little"
	}
	return "big"
}

func protoHeader(ctype, enc string, n int) string {
	return `{"byteorder": "` + pyByteOrder() + `", "content-type": "` + ctype + `", "content-encoding": "` + enc +
		`", "content-length": ` + strconv.Itoa(n) + `}`
}

func protoMsg(header, content string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(header)))
	return append(append(b, header...), content...)
}

// jsonRequest and binaryRequest are requests as the tutorial's client
// frames them.
func jsonRequest(content string) []byte {
	return protoMsg(protoHeader("text/json", "utf-8", len(content)), content)
}

func binaryRequest(content string) []byte {
	return protoMsg(protoHeader("binary/custom-client-binary-type", "binary", len(content)), content)
}

// jsonResponse and binaryResponse are the responses the tutorial's server
// sends: {"result": R} as UTF-8 JSON, or the first 10 bytes of the request.
func jsonResponse(resultJSON string) []byte {
	content := `{"result": ` + resultJSON + `}`
	return protoMsg(protoHeader("text/json", "utf-8", len(content)), content)
}

func binaryResponse(first10 string) []byte {
	content := "First 10 bytes of request: " + first10
	return protoMsg(protoHeader("binary/custom-server-binary-type", "binary", len(content)), content)
}

// appCases are requests with the exact response the tutorial's server
// sends, and what the Python client's command line for them is.
var appCases = []struct {
	name          string
	action, value string // app_client.py's arguments
	req, resp     []byte
	result        string // what app_client.py prints
}{
	{"search morpheus", "search", "morpheus", jsonRequest(`{"action": "search", "value": "morpheus"}`),
		jsonResponse(`"Follow the white rabbit. 🐰"`), "result: Follow the white rabbit. 🐰"},
	{"search ring", "search", "ring", jsonRequest(`{"action": "search", "value": "ring"}`),
		jsonResponse(`"In the caves beneath the Misty Mountains. 💍"`), "result: In the caves beneath the Misty Mountains. 💍"},
	{"search dog", "search", "🐶", jsonRequest(`{"action": "search", "value": "🐶"}`),
		jsonResponse(`"🐾 Playing ball! 🏐"`), "result: 🐾 Playing ball! 🏐"},
	{"search unknown", "search", "neo", jsonRequest(`{"action": "search", "value": "neo"}`),
		jsonResponse(`"No match for 'neo'."`), "result: No match for 'neo'."},
	{"unknown action", "json", `{"action": "find", "value": "morpheus"}`, jsonRequest(`{"action": "find", "value": "morpheus"}`),
		jsonResponse(`"Error: invalid action 'find'."`), "result: Error: invalid action 'find'."},
	{"binary", "binary", "😃", binaryRequest("binary😃"),
		binaryResponse("binary😃"), `content: b'First 10 bytes of request: binary\xf0\x9f\x98\x83'`},
}

// startApp starts a app server (see startKind).
func startApp(t testing.TB, lab *Lab, session, opts string) ServerInfo {
	t.Helper()
	return startKind(t, lab, session, "app", opts)
}

// exchange sends req on a new connection and reads until the server
// closes; a reset after the server's close reads as the end too.
func exchange(t testing.TB, addr string, req []byte, closeWrite bool) (c *net.TCPConn, got []byte) {
	t.Helper()
	c = dial(t, addr)
	if len(req) > 0 {
		write(t, c, req)
	}
	if closeWrite {
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := io.ReadAll(c)
	if err != nil && !isEOFOrReset(err) {
		t.Fatalf("reading the response: got %q, then %v", got, err)
	}
	return c, got
}

// serverConn returns the server's connection id for the client c.
func serverConn(t testing.TB, sink *testSink, srv string, c net.Conn) string {
	t.Helper()
	evs := sink.waitFor(t, "the accept of "+c.LocalAddr().String(), func(evs []Event) bool {
		return indexOf(evs, func(ev Event) bool {
			return ev.Server == srv && ev.Kind == KindAccept && ev.Remote == c.LocalAddr().String()
		}) >= 0
	})
	return evs[indexOf(evs, func(ev Event) bool {
		return ev.Server == srv && ev.Kind == KindAccept && ev.Remote == c.LocalAddr().String()
	})].Conn
}

// closedConn waits for the server's last close of conn and returns the
// connection's events.
func closedConn(t testing.TB, sink *testSink, conn string) []Event {
	t.Helper()
	evs := sink.waitFor(t, "the server's close of "+conn, func(evs []Event) bool {
		return indexOf(connEvents(evs, conn), func(ev Event) bool { return isClose(ev, "local", false) }) >= 0
	})
	return connEvents(evs, conn)
}

func metaJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("meta %v is not JSON-encodable: %v", v, err)
	}
	return string(b)
}

func TestAppKind(t *testing.T) {
	k := LookupServerKind("app")
	if k == nil || k.Net != NetTCP || k.TutorialPort != 65432 {
		t.Fatalf("app kind %+v, want a tcp kind on tutorial port 65432", k)
	}
	opts, err := decodeOptions(k.Options, nil)
	if err != nil || opts.Int("recv_size") != 4096 || opts.Int("max_content") != 1048576 {
		t.Errorf("defaults %v (%v), want recv_size 4096 and max_content 1048576", opts, err)
	}
	for _, s := range k.Options {
		if s.Help == "" {
			t.Errorf("option %s has no help", s.Name)
		}
	}
	lab, _ := newTestLab(t, LabConfig{})
	for _, bad := range []string{`{"max_content":-1}`, `{"max_content":16777217}`, `{"max_content":"1M"}`, `{"recv_size":0}`} {
		var oe *OptionError
		if _, err := lab.StartServer("s", ServerSpec{Kind: "app", Options: []byte(bad)}); !errors.As(err, &oe) {
			t.Errorf("options %s: err %v, want an *OptionError", bad, err)
		}
	}
}

// A Go client written from the protocol text gets the tutorial server's
// exact bytes, and the connection's events tell the exchange.
func TestAppAnswersByteExact(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startApp(t, lab, "s", "")
	for _, tt := range appCases {
		t.Run(tt.name, func(t *testing.T) {
			c, got := exchange(t, srv.Addr, tt.req, false)
			if !bytes.Equal(got, tt.resp) {
				t.Fatalf("response %q\nwant     %q", got, tt.resp)
			}
			evs := closedConn(t, sink, serverConn(t, sink, srv.ID, c))
			var kinds []Kind
			var received []byte
			for _, ev := range evs {
				if ev.Kind == KindRecv {
					received = append(received, ev.Data...)
					continue
				}
				kinds = append(kinds, ev.Kind)
			}
			if want := []Kind{KindAccept, KindAppFrame, KindAppFrame, KindSend, KindClose}; !slices.Equal(kinds, want) {
				t.Fatalf("events %v (recv aside), want %v:\n%s", kinds, want, dumpEvents(evs))
			}
			if !bytes.Equal(received, tt.req) {
				t.Errorf("recv events' data %q, want the request %q", received, tt.req)
			}
			frames := filter(evs, KindAppFrame, "")
			checkFrame(t, frames[0], "request", tt.req)
			checkFrame(t, frames[1], "response", tt.resp)
			send := filter(evs, KindSend, "")[0]
			if !bytes.Equal(send.Data, tt.resp) {
				t.Errorf("send event %q, want the response in one write", send.Data)
			}
			if last := evs[len(evs)-1]; last.Meta["reason"] != "response sent (one request per connection)" {
				t.Errorf("close reason %q", last.Meta["reason"])
			}
		})
	}
}

// checkFrame checks an app-frame event against the message msg as the
// tests frame it: the header length from its first two bytes, the header
// object, the parts, and for text/json the decoded content.
func checkFrame(t *testing.T, ev Event, direction string, msg []byte) {
	t.Helper()
	hlen := int(binary.BigEndian.Uint16(msg))
	header, content := msg[2:2+hlen], msg[2+hlen:]
	if ev.Meta["direction"] != direction || ev.Meta["header_len"] != hlen || ev.Meta["content_length"] != len(content) {
		t.Errorf("%s frame meta %v, want header_len %d content_length %d", direction, ev.Meta, hlen, len(content))
	}
	if !bytes.Equal(ev.Data, msg) || ev.Len != len(msg) || ev.Truncated {
		t.Errorf("%s frame data %q (len %d, truncated %v), want the whole message", direction, ev.Data, ev.Len, ev.Truncated)
	}
	if got, want := metaJSON(t, ev.Meta["header"]), compactJSON(t, header); got != want {
		t.Errorf("%s frame header %s, want %s", direction, got, want)
	}
	wantParts := `[{"len":2,"name":"length","offset":0},{"len":` + strconv.Itoa(hlen) + `,"name":"header","offset":2},{"len":` +
		strconv.Itoa(len(content)) + `,"name":"content","offset":` + strconv.Itoa(2+hlen) + `}]`
	if got := metaJSON(t, ev.Meta["parts"]); got != wantParts {
		t.Errorf("%s frame parts %s, want %s", direction, got, wantParts)
	}
	c, isJSON := ev.Meta["content"]
	if wantJSON := strings.Contains(string(header), `"text/json"`); isJSON != wantJSON {
		t.Errorf("%s frame has content %v (%v), want it only for text/json", direction, c, isJSON)
	} else if isJSON {
		if got, want := metaJSON(t, c), compactJSON(t, content); got != want {
			t.Errorf("%s frame content %s, want %s", direction, got, want)
		}
	}
}

// compactJSON is b without the spaces between its tokens (keys in order).
func compactJSON(t *testing.T, b []byte) string {
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// A request read in small pieces is still one message, one app-frame with
// the whole request, and bytes after the message are counted, not read as
// another.
func TestAppRequestInManyReads(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startApp(t, lab, "s", `{"recv_size":16}`)
	req := appCases[0].req
	c, got := exchange(t, srv.Addr, append(slices.Clone(req), "junk"...), false)
	if !bytes.Equal(got, appCases[0].resp) {
		t.Fatalf("response %q, want %q", got, appCases[0].resp)
	}
	evs := closedConn(t, sink, serverConn(t, sink, srv.ID, c))
	if n := len(filter(evs, KindRecv, "")); n < len(req)/16 {
		t.Errorf("%d recv events, want at least %d reads of 16 bytes", n, len(req)/16)
	}
	frames := filter(evs, KindAppFrame, "")
	if len(frames) != 2 {
		t.Fatalf("%d app-frame events, want 2:\n%s", len(frames), dumpEvents(evs))
	}
	checkFrame(t, frames[0], "request", req)
	if n, _ := frames[0].Meta["trailing_bytes"].(int); n == 0 {
		t.Logf("the junk after the request came in a later read (not in the frame's read)")
	} else if n > len("junk") {
		t.Errorf("trailing_bytes %d, want at most 4", n)
	}
}

// A text/json message over 4 KiB is shown by its parts and bytes, not
// decoded into the meta.
func TestAppFrameOmitsLargeContent(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startApp(t, lab, "s", "")
	value := strings.Repeat("x", 5000)
	c, got := exchange(t, srv.Addr, jsonRequest(`{"action": "search", "value": "`+value+`"}`), false)
	if want := jsonResponse(`"No match for '` + value + `'."`); !bytes.Equal(got, want) {
		t.Fatalf("response of %d bytes, want %d", len(got), len(want))
	}
	for _, f := range filter(closedConn(t, sink, serverConn(t, sink, srv.ID, c)), KindAppFrame, "") {
		if _, ok := f.Meta["content"]; ok || f.Meta["content_length"].(int) < 5000 {
			t.Errorf("%s frame of %v content bytes shows its content", f.Meta["direction"], f.Meta["content_length"])
		}
	}
}

// The app-frame's data counts against the connection's capture budget, as
// recv and send data do.
func TestAppFrameDataHonoursTheCaptureCap(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: 200})
	srv := startApp(t, lab, "s", "")
	req := appCases[0].req // 146 bytes: the recv events keep them all
	c, _ := exchange(t, srv.Addr, req, false)
	evs := closedConn(t, sink, serverConn(t, sink, srv.ID, c))
	frames := filter(evs, KindAppFrame, "")
	if len(frames) != 2 {
		t.Fatalf("%d app-frame events, want 2", len(frames))
	}
	if f := frames[0]; f.Len != len(req) || len(f.Data) != 200-len(req) || !f.Truncated || !bytes.Equal(f.Data, req[:len(f.Data)]) {
		t.Errorf("request frame: len %d, %d bytes kept, truncated %v; want len %d, %d kept, truncated",
			f.Len, len(f.Data), f.Truncated, len(req), 200-len(req))
	}
	if f := frames[1]; len(f.Data) != 0 || !f.Truncated || f.Len != len(appCases[0].resp) {
		t.Errorf("response frame past the cap: %d bytes kept (len %d, truncated %v), want none", len(f.Data), f.Len, f.Truncated)
	}
}

// jsonHeaderLen is the length of a text/json request's header with a
// two-digit content-length.
var jsonHeaderLen = len(protoHeader("text/json", "utf-8", 10))

// appMalformed are requests that break the protocol, the reason the error
// event gives and where.
var appMalformed = []struct {
	name       string
	in         []byte
	closeWrite bool   // send FIN after the bytes
	reason     string // part of the error's message
	offset     int
	frames     int // app-frame events before the error
}{
	{"nothing sent", nil, true, "the connection ended before a message arrived", 0, 0},
	{"header length 0", []byte("\x00\x00{}"), false, "the header length is 0", 0, 0},
	{"cut short in the header", jsonRequest(`{}`)[:40], true, "the connection ended after 38 of the 102 header bytes that the 2-byte length announced", 40, 0},
	{"cut short in the content", jsonRequest(`{"action": "search"}`)[:110], true, "after 5 of the 20 content bytes", 110, 0},
	{"header not JSON", protoMsg(`{"byteorder": little}`, ""), false, "the header is not valid JSON: invalid character 'l' looking for beginning of value", 16, 0},
	{"header not an object", protoMsg(`[1, 2]`, ""), false, "the header is JSON but not an object: it is an array", 2, 0},
	{"missing key", protoMsg(`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8"}`, ""), false,
		`the header has no "content-length" key`, 2, 0},
	{"negative content-length", protoMsg(`{"byteorder": "little", "content-type": "a", "content-encoding": "b", "content-length": -5}`, ""), false,
		`"content-length" is -5; a length cannot be negative`, 2, 0},
	{"content-length over max_content", binaryRequest(strings.Repeat("x", 65)), false,
		`"content-length" is 65 bytes, more than this server accepts (at most 64, the server's max_content option)`, 2, 0},
	{"text/json in latin-1", protoMsg(protoHeader("text/json", "latin-1", 2), "{}"), false, `"content-encoding" is "latin-1"`, 2, 0},
	{"content not JSON", jsonRequest(`{"action": search}`), false, "the text/json content is not valid JSON: invalid character 's'", 2 + jsonHeaderLen + 11, 0},
	{"request not an object", jsonRequest(`["search", "ring"]`), false, "the text/json request is an array, not an object", 2 + jsonHeaderLen, 1},
	{"search value a list", jsonRequest(`{"action": "search", "value": ["ring"]}`), false, "the search value is an array", 2 + jsonHeaderLen, 1},
}

// Each malformed request is an EPROTO error event, the connection closes
// with its reason, and the server answers the next connection.
func TestAppMalformedRequests(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startApp(t, lab, "s", `{"max_content":64}`)
	for _, tt := range appMalformed {
		t.Run(tt.name, func(t *testing.T) {
			c, got := exchange(t, srv.Addr, tt.in, tt.closeWrite)
			if len(got) != 0 {
				t.Errorf("the server answered %q, want no response", got)
			}
			evs := closedConn(t, sink, serverConn(t, sink, srv.ID, c))
			errs := filter(evs, KindError, "")
			if len(errs) != 1 || errs[0].Err == nil {
				t.Fatalf("want one error event:\n%s", dumpEvents(evs))
			}
			e := errs[0]
			if e.Err.Errno != "EPROTO" || !strings.Contains(e.Err.Message, tt.reason) || e.Err.Hint == "" {
				t.Errorf("error %+v, want EPROTO with a message containing %q and a hint", *e.Err, tt.reason)
			}
			if e.Meta["op"] != "app-frame" || e.Meta["offset"] != tt.offset {
				t.Errorf("error meta %v, want op app-frame, offset %d", e.Meta, tt.offset)
			}
			if n := len(filter(evs, KindAppFrame, "")); n != tt.frames {
				t.Errorf("%d app-frame events, want %d", n, tt.frames)
			}
			if n := len(filter(evs, KindSend, "")); n != 0 {
				t.Errorf("%d send events, want none", n)
			}
			last := evs[len(evs)-1]
			if !isClose(last, "local", false) || last.Meta["reason"] != e.Err.Message {
				t.Errorf("last event %s %v, want the server's close with the reason %q", last.Kind, last.Meta, e.Err.Message)
			}
			if tt.closeWrite && indexOf(evs, func(ev Event) bool { return isClose(ev, "peer", true) }) > indexOf(evs, func(ev Event) bool { return ev.Kind == KindError }) {
				t.Errorf("the peer's FIN comes after the error:\n%s", dumpEvents(evs))
			}
			// The server still serves.
			if _, got := exchange(t, srv.Addr, appCases[0].req, false); !bytes.Equal(got, appCases[0].resp) {
				t.Errorf("next connection: response %q, want %q", got, appCases[0].resp)
			}
		})
	}
}

// Content of exactly max_content bytes is accepted, and max_content 0
// takes only empty content.
func TestAppMaxContentBoundary(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startApp(t, lab, "s", `{"max_content":64}`)
	if _, got := exchange(t, srv.Addr, binaryRequest(strings.Repeat("y", 64)), false); !bytes.Equal(got, binaryResponse("yyyyyyyyyy")) {
		t.Errorf("64 bytes of content with max_content 64: response %q", got)
	}
	zero := startApp(t, lab, "s", `{"max_content":0}`)
	if _, got := exchange(t, zero.Addr, binaryRequest(""), false); !bytes.Equal(got, binaryResponse("")) {
		t.Errorf("empty content with max_content 0: response %q", got)
	}
	if _, got := exchange(t, zero.Addr, binaryRequest("x"), false); len(got) != 0 {
		t.Errorf("one byte of content with max_content 0: response %q, want none", got)
	}
}

// A server stopped while a request is half sent closes the connection
// without a protocol error: the request did not break the protocol.
func TestAppStopMidRequestIsNoProtocolError(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startApp(t, lab, "s", "")
	c := dial(t, srv.Addr)
	write(t, c, appCases[0].req[:50])
	conn := serverConn(t, sink, srv.ID, c)
	sink.waitFor(t, "the half request's recv", func(evs []Event) bool { return sumLen(filter(connEvents(evs, conn), KindRecv, "")) == 50 })
	if _, err := lab.StopServer("s", srv.ID); err != nil {
		t.Fatal(err)
	}
	evs := connEvents(sink.events(), conn)
	if n := len(filter(evs, KindError, "")); n != 0 {
		t.Errorf("%d error events, want none:\n%s", n, dumpEvents(evs))
	}
	if last := evs[len(evs)-1]; last.Meta["reason"] != "server stopped" {
		t.Errorf("close reason %v, want \"server stopped\"", last.Meta["reason"])
	}
}

// python3Path returns python3, or skips the test.
func python3Path(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: skipping the tests against Python programs (CI installs python3)")
	}
	return py
}

// runPython runs a Python program (its arguments after it) with UTF-8
// output and returns its stdout.
func runPython(t *testing.T, py string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(py, args...)
	cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), errors.New(err.Error() + ": " + stderr.String())
	}
	return string(out), nil
}

// pythonClient runs testdata/app/app_client.py against addr and returns the
// response bytes and the line it printed about them.
func pythonClient(t *testing.T, py, addr, action, value string) ([]byte, string, error) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	out, err := runPython(t, py, filepath.Join("testdata", "app", "app_client.py"), host, port, action, value)
	rawLine, rest, _ := strings.Cut(out, "\n")
	raw, herr := hex.DecodeString(strings.TrimPrefix(rawLine, "raw "))
	if herr != nil || !strings.HasPrefix(rawLine, "raw ") {
		t.Fatalf("app_client.py printed %q (%v)", out, err)
	}
	return raw, strings.TrimSuffix(rest, "\n"), err
}

// An independent Python client (selectors, struct, json) written from the
// protocol gets the exact bytes from sockplay's app server.
func TestAppAnswersPythonClient(t *testing.T) {
	py := python3Path(t)
	lab, _ := newTestLab(t, LabConfig{})
	srv := startApp(t, lab, "s", "")
	for _, tt := range appCases {
		t.Run(tt.name, func(t *testing.T) {
			raw, line, err := pythonClient(t, py, srv.Addr, tt.action, tt.value)
			if err != nil {
				t.Fatalf("app_client.py: %v", err)
			}
			if !bytes.Equal(raw, tt.resp) || line != tt.result {
				t.Errorf("app_client.py got %q and printed %q\nwant %q and %q", raw, line, tt.resp, tt.result)
			}
		})
	}
}

// startPythonServer runs testdata/app/app_server.py on a free port and
// returns its address; it is killed when the test ends.
func startPythonServer(t *testing.T, py string) string {
	t.Helper()
	cmd := exec.Command(py, filepath.Join("testdata", "app", "app_server.py"), "127.0.0.1", "0")
	cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// The first line says where it listens, once it does.
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("app_server.py printed %q (%v)", line, err)
	}
	return addr
}

// appOddRequests are requests whose answers need Python's str() of odd
// values, json.dumps escapes, duplicate keys, other encodings and content
// types; the tutorial's server cannot answer the one with a list value.
var appOddRequests = [][]byte{
	jsonRequest(`{"action": "search", "value": 42}`),
	jsonRequest(`{"action": "search", "value": -0.0}`),
	jsonRequest(`{"action": "search", "value": 1e22}`),
	jsonRequest(`{"action": "search", "value": 1E400}`),
	jsonRequest(`{"action": "search", "value": true}`),
	jsonRequest(`{"action": "search", "value": null}`),
	jsonRequest(`{"action": "search"}`),
	jsonRequest(`{"action": "search", "value": "it's \"quoted\"\n\ttabbed \\ \u0001 \u2028 é 日本"}`),
	jsonRequest(`{"value": "ring", "action": "search", "value": "morpheus"}`),
	jsonRequest(`{"action": "search", "value": "\ud83d\udc36"}`),
	jsonRequest(`{"action": ["search", 1.5, {"k": [null, false]}, "it's"]}`),
	jsonRequest(`{"action": {"a": "\u200b\u00a0"}}`),
	jsonRequest(`{"action": 7}`),
	jsonRequest(`{"other": 1}`),
	jsonRequest(`{"action": "search", "value": ["ring"]}`),
	protoMsg(protoHeader("text/json", "ascii", 37), `{"action": "search", "value": "ring"}`),
	protoMsg(`{"content-length": 3, "content-type": "a/b", "content-encoding": "binary", "byteorder": "big", "x": 1}`, "abc"),
	binaryRequest("0123456789abcdef"),
	binaryRequest("\x00\xff\xfe"),
	binaryRequest("x"),
	protoMsg(protoHeader("TEXT/JSON", "utf-8", 2), "{}"),
}

// sockplay's app server answers every request byte for byte as a Python
// server written from the protocol does, Python's str() of odd values and
// json.dumps escapes included; a request that server cannot answer gets no
// answer from either.
func TestAppMatchesPythonServer(t *testing.T) {
	py := python3Path(t)
	pyAddr := startPythonServer(t, py)
	lab, _ := newTestLab(t, LabConfig{})
	srv := startApp(t, lab, "s", "")
	compareServers(t, pyAddr, srv.Addr, appOddRequests)
}

// compareServers sends every request to the Python server at pyAddr and to
// sockplay's at addr and compares the answers; only the request with a
// list value goes unanswered.
func compareServers(t *testing.T, pyAddr, addr string, requests [][]byte) {
	t.Helper()
	answered := 0
	for _, req := range requests {
		_, want := exchange(t, pyAddr, req, false)
		_, got := exchange(t, addr, req, false)
		if !bytes.Equal(got, want) {
			t.Errorf("request %q:\nsockplay %q\nPython   %q", req, got, want)
		}
		if len(got) > 0 {
			answered++
		}
	}
	if answered != len(requests)-1 {
		t.Errorf("%d of %d requests answered, want all but one", answered, len(requests))
	}
}

// The self-contained Python snippet really reaches the server.
func TestAppPythonSnippet(t *testing.T) {
	py := python3Path(t)
	lab, _ := newTestLab(t, LabConfig{})
	srv := startApp(t, lab, "s", "")
	snippets := appSnippetsByName(t, srv)
	out, err := runPython(t, py, "-c", snippets["python"].Code)
	if err != nil {
		t.Fatalf("python snippet: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "'content-type': 'text/json'") || lines[1] != "Follow the white rabbit. 🐰" {
		t.Errorf("python snippet printed %q, want the header, then the result", out)
	}
}

// appSnippetsByName returns the snippets of the app server srv by name,
// checking that each names its port.
func appSnippetsByName(t *testing.T, srv ServerInfo) map[string]Snippet {
	t.Helper()
	byName := map[string]Snippet{}
	for _, s := range appKind.SnippetsFor(srv.Addr, srv.Options) {
		byName[s.Name] = s
		if !strings.Contains(s.Code, strconv.Itoa(portNum(t, srv.Addr))) {
			t.Errorf("snippet %s does not name the server's port:\n%s", s.Name, s.Code)
		}
	}
	for _, name := range []string{"app-client", "app-client-binary", "python"} {
		if _, ok := byName[name]; !ok {
			t.Fatalf("no %s snippet", name)
		}
	}
	return byName
}

// Real Python's own app-client.py, unchanged, works against the server as
// the snippets say, when SOCKPLAY_REALPYTHON_DIR names a directory holding
// it and its libclient.py (the tutorial's code is not part of sockplay).
func TestAppRealPythonClient(t *testing.T) {
	py := python3Path(t)
	dir := os.Getenv("SOCKPLAY_REALPYTHON_DIR")
	if dir == "" {
		t.Skip("SOCKPLAY_REALPYTHON_DIR is not set: not running Real Python's app-client.py (set it to a copy of realpython/materials/python-sockets-tutorial)")
	}
	lab, _ := newTestLab(t, LabConfig{})
	srv := startApp(t, lab, "s", "")
	snippets := appSnippetsByName(t, srv)
	for name, want := range map[string]string{
		"app-client":        "Got result: Follow the white rabbit. 🐰",
		"app-client-binary": `Got response: b'First 10 bytes of request: binary\xf0\x9f\x98\x83'`,
	} {
		args := strings.Fields(snippets[name].Code)
		if args[0] != "python3" {
			t.Fatalf("snippet %s: %q", name, snippets[name].Code)
		}
		cmd := exec.Command(py, args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("%s: %v\n%s\nwant a line %q", snippets[name].Code, err, out, want)
		}
	}
}

// sockplay's app server answers as Real Python's own app-server.py does,
// byte for byte, when SOCKPLAY_REALPYTHON_DIR names a directory holding it
// and its libserver.py. (That server never answers an empty request, {} or
// zero bytes of binary content, which it takes for "no request yet";
// sockplay answers them, so they are not compared.)
func TestAppMatchesRealPythonServer(t *testing.T) {
	py := python3Path(t)
	dir := os.Getenv("SOCKPLAY_REALPYTHON_DIR")
	if dir == "" {
		t.Skip("SOCKPLAY_REALPYTHON_DIR is not set: not comparing with Real Python's app-server.py (set it to a copy of realpython/materials/python-sockets-tutorial)")
	}
	port := strconv.Itoa(freeLabPort(t))
	cmd := exec.Command(py, "app-server.py", "127.0.0.1", port)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// It prints "Listening on ('127.0.0.1', PORT)" once it listens; the
	// rest of its output is drained so that it never blocks on a full pipe.
	r := bufio.NewReader(out)
	drained := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-drained
		cmd.Wait()
	})
	line, err := r.ReadString('\n')
	go func() { io.Copy(io.Discard, r); close(drained) }()
	if err != nil || !strings.HasPrefix(line, "Listening on") {
		t.Fatalf("app-server.py printed %q (%v)", line, err)
	}

	lab, _ := newTestLab(t, LabConfig{})
	srv := startApp(t, lab, "s", "")
	var requests [][]byte
	for _, c := range appCases {
		requests = append(requests, c.req)
	}
	compareServers(t, net.JoinHostPort("127.0.0.1", port), srv.Addr, append(requests, appOddRequests...))
}
