package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// http-api limits.
const (
	defaultMaxBody = 1 << 20
	maxMaxBody     = 16 << 20
	// maxHeaderBytes bounds a request's line and header lines together
	// (Python's http.server allows 64 KiB per line).
	maxHeaderBytes = 64 << 10
	// maxDrain bounds what is read and thrown away after a 413 or 431, so
	// that the client reads the answer instead of a reset (see drainAndClose).
	maxDrain = maxMaxBody
)

// httpAPIKind is the tutorials' "HTTP API handler": a server that speaks
// HTTP/1.1 itself over the socket, so every request's bytes are recv events
// and every response is one send event.
var httpAPIKind = &ServerKind{
	Name: "http-api", Title: "HTTP API", Net: NetTCP, TutorialPort: 8000,
	Description: "The tutorials' HTTP API handler, speaking HTTP/1.1 over the socket itself: GET answers the path and query parameters as JSON, " +
		"POST echoes a JSON body back (201), other methods get 405. Keep-alive lets one connection carry many requests.",
	Options: []OptionSpec{
		recvSizeOption(DefaultRecvSize),
		{Name: "max_body", Type: OptInt, Default: defaultMaxBody, Min: intp(0), Max: intp(maxMaxBody), Unit: "bytes",
			Suggest: []int{1024, 65536, 1048576},
			Help:    "the largest request body the server accepts; a bigger one is answered 413 and the connection is closed"},
	},
	start:    startHTTPAPIServer,
	snippets: httpAPISnippets,
}

func startHTTPAPIServer(env *Env, o Options) (server, error) {
	ln, err := env.Listen(&net.ListenConfig{}, "")
	if err != nil {
		return nil, err
	}
	return env.Stream(ln, NetTCP, httpAPIHandler(o)), nil
}

func httpAPISnippets(host, port string, o Options) []Snippet {
	base := "http://" + net.JoinHostPort(host, port)
	return []Snippet{
		// The URL is quoted: zsh (the macOS shell) reads an unquoted ? as a wildcard.
		{"curl", "curl: GET with a query (-i shows the status line and headers)", "curl -i '" + base + "/hello?name=ada'"},
		{"curl-post", "curl: POST a JSON body", "curl -i -X POST -H 'Content-Type: application/json' -d '{\"x\":1}' " + base + "/items"},
		{"nc", "netcat: the raw request, as the bytes on the wire (-N: shut down after input)",
			`printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' | nc -N ` + host + " " + port},
		{"python", "Python (urllib.request)", "import json\nimport urllib.request\n\n" +
			"base = \"" + base + "\"\n\n" +
			"with urllib.request.urlopen(base + \"/hello?name=ada\") as r:\n" +
			"    print(r.status, json.load(r))\n\n" +
			"req = urllib.request.Request(base + \"/items\", data=json.dumps({\"x\": 1}).encode(),\n" +
			"                             headers={\"Content-Type\": \"application/json\"}, method=\"POST\")\n" +
			"with urllib.request.urlopen(req) as r:\n" +
			"    print(r.status, json.load(r))\n"},
	}
}

// httpAPIHandler returns the per-connection behaviour of an http-api server.
func httpAPIHandler(o Options) func(*Conn) {
	size, maxBody := o.Int("recv_size"), int64(o.Int("max_body"))
	return func(c *Conn) {
		in := &httpReader{c: c, size: size}
		h := &httpConn{c: c, in: in, br: bufio.NewReaderSize(in, max(size, 4096)), maxBody: maxBody}
		h.serve()
	}
}

// httpReader is what the bufio.Reader of a connection reads from: the Conn
// (each Read one recv event of at most recv_size bytes), with a budget of
// bytes that bounds a request's header.
type httpReader struct {
	c      *Conn
	size   int
	remain int64 // bytes it may still read before it returns errReadLimit (a request's header, a drain)
	err    error // the connection's read error, once a read failed
}

// errReadLimit is returned when httpReader's budget is spent.
var errReadLimit = errors.New("read limit reached")

func (r *httpReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.remain <= 0 {
		return 0, errReadLimit
	}
	p = p[:min(int64(len(p)), int64(r.size), r.remain)]
	n, err := r.c.Read(p)
	r.remain -= int64(n)
	if err != nil {
		r.err = err
	}
	return n, err
}

// httpConn is one connection of an http-api server.
type httpConn struct {
	c       *Conn
	in      *httpReader
	br      *bufio.Reader
	maxBody int64
}

// errNotHTTP says the bytes received cannot begin an HTTP request.
var errNotHTTP = errors.New("not HTTP")

// serve answers requests until the client closes or asks to close, or sends
// something that is not HTTP.
func (h *httpConn) serve() {
	for {
		h.in.remain = maxHeaderBytes
		line, err := h.waitRequestLine()
		switch {
		case errors.Is(err, errNotHTTP):
			h.refuse(http.StatusBadRequest, notHTTPReason(line), notHTTPHint(line))
			return
		case errors.Is(err, errReadLimit): // blank lines or a first line without end
			h.readFailed(line, err)
			return
		case err != nil && (len(line) == 0 || !errors.Is(err, io.EOF)):
			// The client closed between requests, or the connection failed
			// (a reset): the Conn's events say so, and nothing can be answered.
			// After a FIN with a partial line, that line is still judged.
			return
		}
		req, err := http.ReadRequest(h.br)
		if err != nil {
			h.readFailed(line, err)
			return
		}
		if !h.answer(req) {
			return
		}
	}
}

// waitRequestLine waits until the first line of the next request has
// arrived (it stays buffered for http.ReadRequest) and returns a copy of
// its start for messages. Blank lines before a request are skipped, as
// RFC 9112 asks. Bytes that cannot start a request line (binary, a TLS
// handshake) return errNotHTTP at once, without waiting for a line end.
// At the end of the stream it returns what arrived and the read error.
func (h *httpConn) waitRequestLine() ([]byte, error) {
	for {
		b, err := h.br.Peek(1)
		if err != nil {
			return nil, err
		}
		if b[0] == '\n' {
			h.br.Discard(1)
			continue
		}
		if b[0] == '\r' {
			if b, _ := h.br.Peek(2); len(b) == 2 && b[1] == '\n' {
				h.br.Discard(2)
				continue
			}
		}
		break
	}
	keep := func(b []byte) []byte { return bytes.Clone(b[:min(len(b), 200)]) }
	for {
		b, _ := h.br.Peek(h.br.Buffered())
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			return keep(bytes.TrimSuffix(b[:i], []byte("\r"))), nil
		}
		if !couldStartRequestLine(b) {
			return keep(b), errNotHTTP
		}
		if len(b) >= h.br.Size() {
			return keep(b), nil // a very long line: http.ReadRequest judges it
		}
		if _, err := h.br.Peek(len(b) + 1); err != nil {
			b, _ = h.br.Peek(h.br.Buffered())
			return keep(b), err
		}
	}
}

// couldStartRequestLine reports whether b (no line end yet) can be the
// start of "METHOD target HTTP/1.1": a method of token characters, then no
// control characters.
func couldStartRequestLine(b []byte) bool {
	i := 0
	for i < len(b) && b[i] != ' ' {
		if !isTokenChar(b[i]) {
			return false
		}
		i++
	}
	if i == 0 && len(b) > 0 {
		return false
	}
	for j := i; j < len(b); j++ {
		if c := b[j]; (c < ' ' && !(c == '\r' && j == len(b)-1)) || c == 0x7f {
			return false
		}
	}
	return true
}

// isTokenChar reports whether c may appear in an HTTP token (a method, a
// header name): RFC 9110's tchar.
func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// looksLikeRequestLine reports whether line has the shape of a request
// line: three parts, the last HTTP/d.d.
func looksLikeRequestLine(line []byte) bool {
	parts := strings.Split(string(line), " ")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || !couldStartRequestLine(line) {
		return false
	}
	v := parts[2]
	return len(v) == 8 && strings.HasPrefix(v, "HTTP/") && v[5] >= '0' && v[5] <= '9' && v[6] == '.' && v[7] >= '0' && v[7] <= '9'
}

// isBinary reports whether b is not text: control characters or bytes
// that are not UTF-8.
func isBinary(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' && c != '\r' || c == 0x7f {
			return true
		}
	}
	return !utf8.Valid(b)
}

func looksLikeTLS(b []byte) bool { return len(b) >= 2 && b[0] == 0x16 && b[1] == 0x03 }

// notHTTPReason says why the first bytes of a request are not HTTP.
func notHTTPReason(line []byte) string {
	if isBinary(line) {
		return fmt.Sprintf("not an HTTP request: it starts with the bytes % x", line[:min(len(line), 8)])
	}
	text := string(line)
	if utf8.RuneCountInString(text) > 80 {
		text = string([]rune(text)[:80]) + "…"
	}
	return fmt.Sprintf("not an HTTP request: the first line was %q", text)
}

const httpHint = `An HTTP request starts with a request line such as "GET /path HTTP/1.1", then header lines such as "Host: example" and an empty line. ` +
	`This server speaks HTTP, so other text or binary data gets "400 Bad Request" and the connection is closed: use curl, or type the request line in nc.`

func notHTTPHint(line []byte) string {
	if looksLikeTLS(line) {
		return `These bytes are a TLS handshake: the client used https:// (or TLS), but this server speaks plain HTTP. Use http:// instead. ` + httpHint
	}
	return httpHint
}

// readFailed handles a request http.ReadRequest could not read: the client
// left in the middle of it (nothing to answer), its header was too large
// (431), or it is not HTTP (400).
func (h *httpConn) readFailed(line []byte, err error) {
	switch {
	case errors.Is(err, errReadLimit):
		h.refuse(http.StatusRequestHeaderFieldsTooLarge,
			fmt.Sprintf("the request's line and headers are larger than %d bytes", maxHeaderBytes),
			"An HTTP server bounds the size of a request's header (this one to 64 KiB); a longer URL or more or bigger headers (cookies) are refused with 431.")
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || h.in.err != nil && errors.Is(err, h.in.err):
		h.c.SetCloseReason("the client closed the connection in the middle of a request")
	case !looksLikeRequestLine(line):
		h.refuse(http.StatusBadRequest, notHTTPReason(line), notHTTPHint(line))
	default:
		h.refuse(http.StatusBadRequest, "bad HTTP request: "+requestErrorText(err), httpHint)
	}
}

// requestErrorText says what is wrong with a request whose first line looked
// right.
func requestErrorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Sprintf(`the request target %q is not a path such as "/items"`, ue.URL)
	}
	// net/textproto's "malformed MIME header line: %q" and its variants.
	if msg := err.Error(); strings.HasPrefix(msg, "malformed MIME header") {
		if i := strings.Index(msg, `: "`); i >= 0 {
			return `a header line is not "Name: value": ` + msg[i+2:]
		}
		return `a header line is not "Name: value"`
	}
	return err.Error()
}

// refuse reports a request that cannot be answered (an error event), answers
// status with a JSON error and closes the connection.
func (h *httpConn) refuse(status int, reason, hint string) {
	ev := h.c.tap.event(KindError)
	ev.Err = &SockErr{Errno: "EPROTO", Message: reason, Hint: hint}
	ev.Meta = map[string]any{"op": "http"}
	h.c.tap.emit(ev)
	h.c.SetCloseReason(fmt.Sprintf("%s: answered %d %s", reason, status, http.StatusText(status)))
	msg := http.StatusText(status) + ": " + reason
	if h.respond(false, status, nil, errorJSON(msg), true) != nil {
		return
	}
	if status == http.StatusRequestHeaderFieldsTooLarge {
		h.drainAndClose()
	}
}

// drainAndClose ends a connection whose client may still be sending (a
// body too large, a header too long): it shuts down the sending side, so
// the client reads the whole answer and then the end of the stream, and
// reads and throws away what still comes until the client closes. Closing
// with unread bytes would send a reset, which can destroy the answer in the
// client's buffers before it reads it.
func (h *httpConn) drainAndClose() {
	if h.c.CloseWrite() != nil {
		return
	}
	h.in.remain = maxDrain
	io.Copy(io.Discard, h.br)
}

// answer reads the body of req and answers it. It returns whether the
// connection stays open for another request.
func (h *httpConn) answer(req *http.Request) bool {
	h.in.remain = math.MaxInt64 // the body is bounded by max_body
	path, query := rawTarget(req.RequestURI)
	if req.ProtoMajor != 1 {
		h.emitRequest(req, path, query, 0)
		h.c.SetCloseReason(req.Proto + " is not HTTP/1: answered 505")
		h.respond(false, http.StatusHTTPVersionNotSupported, nil, errorJSON("HTTP version not supported: this server speaks HTTP/1.1"), true)
		return false
	}
	tooLarge := req.ContentLength > h.maxBody
	chunked := len(req.TransferEncoding) > 0
	if !tooLarge && (req.ContentLength > 0 || chunked) && req.ProtoAtLeast(1, 1) && strings.EqualFold(req.Header.Get("Expect"), "100-continue") {
		// The client waits for this before it sends the body.
		if h.respondRaw([]byte("HTTP/1.1 100 Continue\r\n\r\n"), http.StatusContinue, nil, 0) != nil {
			return false
		}
	}
	var body []byte
	bodyLen := req.ContentLength
	if !tooLarge {
		var err error
		body, err = io.ReadAll(io.LimitReader(req.Body, h.maxBody+1))
		if err != nil {
			if h.in.err != nil || errors.Is(err, io.ErrUnexpectedEOF) {
				h.c.SetCloseReason("the client closed the connection in the middle of a request")
				return false
			}
			h.refuse(http.StatusBadRequest, "bad HTTP request: the body could not be read: "+err.Error(), httpHint)
			return false
		}
		tooLarge = int64(len(body)) > h.maxBody
		if !tooLarge || bodyLen < 0 {
			bodyLen = int64(len(body))
		}
	}
	if bodyLen < 0 {
		bodyLen = 0
	}
	h.emitRequest(req, path, query, bodyLen)
	if tooLarge {
		h.c.SetCloseReason(fmt.Sprintf("the request body is larger than max_body (%d bytes): answered 413", h.maxBody))
		msg := fmt.Sprintf("Request body too large: at most %d bytes", h.maxBody)
		if h.respond(false, http.StatusRequestEntityTooLarge, nil, errorJSON(msg), true) == nil {
			h.drainAndClose()
		}
		return false
	}
	status, extra, reply := httpAPIReply(req, body)
	if h.respond(req.Method == http.MethodHead, status, extra, reply, req.Close) != nil {
		return false
	}
	if req.Close {
		if req.ProtoAtLeast(1, 1) {
			h.c.SetCloseReason("the client asked to close (Connection: close)")
		} else {
			h.c.SetCloseReason(req.Proto + " without keep-alive: one request per connection")
		}
		return false
	}
	return true
}

// httpAPIReply computes the answer to a request with its body.
func httpAPIReply(req *http.Request, body []byte) (status int, extra []httpHeader, reply []byte) {
	switch req.Method {
	case http.MethodGet:
		path, qs := pythonSplitTarget(req.RequestURI)
		b := []byte(`{"method":`)
		b = appendJSONString(b, req.Method)
		b = append(b, `,"path":`...)
		b = appendJSONString(b, latin1(path))
		b = append(b, `,"query_params":`...)
		b = parseQS(qs).appendJSON(b)
		b = append(b, `,"timestamp":`...)
		b = appendJSONString(b, isoformat(time.Now()))
		return http.StatusOK, nil, append(b, '}')
	case http.MethodPost:
		if !utf8.Valid(body) || !json.Valid(body) {
			return http.StatusBadRequest, nil, errorJSON("Invalid JSON")
		}
		// The value as it was sent (numbers keep their digits), without
		// the spaces between its parts.
		var out bytes.Buffer
		out.WriteString(`{"status":"success","received":`)
		json.Compact(&out, body) // valid: cannot fail
		out.WriteByte('}')
		return http.StatusCreated, nil, out.Bytes()
	}
	return http.StatusMethodNotAllowed, []httpHeader{{"Allow", "GET, POST"}}, errorJSON("Method not allowed")
}

func errorJSON(msg string) []byte {
	b := []byte(`{"status":"error","message":`)
	b = appendJSONString(b, msg)
	return append(b, '}')
}

type httpHeader struct{ name, value string }

// respond writes one whole response in one write (status line, headers,
// body; no body for HEAD), after its http-response event.
func (h *httpConn) respond(head bool, status int, extra []httpHeader, body []byte, closing bool) error {
	conn := "keep-alive"
	if closing {
		conn = "close"
	}
	hdrs := append([]httpHeader{
		{"Server", "sockplay http-api"},
		{"Date", time.Now().UTC().Format(http.TimeFormat)},
		{"Content-Type", "application/json"},
		{"Content-Length", strconv.Itoa(len(body))},
	}, extra...)
	hdrs = append(hdrs, httpHeader{"Connection", conn})
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	for _, hd := range hdrs {
		b.WriteString(hd.name + ": " + hd.value + "\r\n")
	}
	b.WriteString("\r\n")
	sent := 0
	if !head {
		b.Write(body)
		sent = len(body)
	}
	return h.respondRaw(b.Bytes(), status, hdrs, sent)
}

// respondRaw emits the http-response event of the response resp and writes
// it in one call.
func (h *httpConn) respondRaw(resp []byte, status int, hdrs []httpHeader, bodyLen int) error {
	meta := map[string]string{}
	for _, hd := range hdrs {
		meta[hd.name] = hd.value
	}
	ev := h.c.tap.event(KindHTTPResponse)
	ev.Meta = map[string]any{"status": status, "reason": http.StatusText(status), "headers": meta, "body_len": bodyLen}
	h.c.tap.emit(ev)
	_, err := h.c.Write(resp)
	return err
}

// emitRequest emits the http-request event of req, whose body was bodyLen
// bytes long.
func (h *httpConn) emitRequest(req *http.Request, path, query string, bodyLen int64) {
	hdrs := map[string]string{}
	// http.ReadRequest moves these out of Header.
	if req.Host != "" {
		hdrs["Host"] = req.Host
	}
	if len(req.TransferEncoding) > 0 {
		hdrs["Transfer-Encoding"] = strings.Join(req.TransferEncoding, ", ")
	}
	for k, v := range req.Header {
		hdrs[k] = strings.Join(v, ", ")
	}
	ev := h.c.tap.event(KindHTTPRequest)
	ev.Meta = map[string]any{"method": req.Method, "path": path, "query": query, "proto": req.Proto,
		"headers": hdrs, "body_len": int(bodyLen)}
	h.c.tap.emit(ev)
}

// rawTarget splits a request target at its "?" (and drops a "#fragment"),
// without decoding anything: what the request line carried.
func rawTarget(target string) (path, query string) {
	target, _, _ = strings.Cut(target, "#")
	path, query, _ = strings.Cut(target, "?")
	return path, query
}

// The GET answer is what the tutorials' Python handler computes:
//
//	parsed = urlparse(self.path)
//	{"method": "GET", "path": parsed.path, "query_params": parse_qs(parsed.query),
//	 "timestamp": datetime.now().isoformat()}
//
// with self.path as http.server gives it: the request line decoded as
// ISO-8859-1, leading slashes reduced to one. Paths are not percent-decoded;
// query parameters are, as UTF-8 with each bad sequence replaced by U+FFFD.

// pythonSplitTarget returns urlparse(path).path and .query for a request
// target received by Python's http.server (still as the raw bytes).
func pythonSplitTarget(t string) (path, query string) {
	if strings.HasPrefix(t, "//") { // http.server, gh-87389
		t = "/" + strings.TrimLeft(t, "/")
	}
	if i := strings.IndexByte(t, ':'); i > 0 && isASCIILetter(t[0]) && strings.IndexFunc(t[:i], func(r rune) bool {
		return !(r < utf8.RuneSelf && (isASCIILetter(byte(r)) || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'))
	}) < 0 {
		t = t[i+1:] // a scheme (an absolute-form target: http://host/path)
	}
	if rest, ok := strings.CutPrefix(t, "//"); ok {
		t = ""
		if j := strings.IndexAny(rest, "/?#"); j >= 0 {
			t = rest[j:]
		}
	}
	t, _, _ = strings.Cut(t, "#")
	path, query, _ = strings.Cut(t, "?")
	// urlparse splits ";params" off the last path segment.
	if i := strings.IndexByte(path[strings.LastIndexByte(path, '/')+1:], ';'); i >= 0 {
		path = path[:strings.LastIndexByte(path, '/')+1+i]
	}
	return path, query
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// latin1 decodes s as ISO-8859-1, as http.server decodes a request line.
func latin1(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		b = utf8.AppendRune(b, rune(s[i]))
	}
	return string(b)
}

// queryParams is what parse_qs returns: a dict of lists, in the order the
// names first appear.
type queryParams struct {
	names  []string
	values map[string][]string
}

// parseQS parses the query string qs (raw bytes of the request line) like
// Python's urllib.parse.parse_qs(qs) with its defaults: fields separated by
// "&" only, fields without "=" or with an empty value dropped
// (keep_blank_values=False), "+" read as a space, then percent-decoded.
func parseQS(qs string) queryParams {
	q := queryParams{values: map[string][]string{}}
	for _, field := range strings.Split(qs, "&") {
		name, value, ok := strings.Cut(field, "=")
		if !ok || value == "" {
			continue
		}
		name = pyUnquote(strings.ReplaceAll(name, "+", " "))
		if _, seen := q.values[name]; !seen {
			q.names = append(q.names, name)
		}
		q.values[name] = append(q.values[name], pyUnquote(strings.ReplaceAll(value, "+", " ")))
	}
	return q
}

func (q queryParams) appendJSON(b []byte) []byte {
	b = append(b, '{')
	for i, name := range q.names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, name)
		b = append(b, ":["...)
		for j, v := range q.values[name] {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, v)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// pyUnquote is urllib.parse.unquote(s) for s decoded as ISO-8859-1: runs
// of ASCII are percent-decoded and the bytes decoded as UTF-8 (errors
// "replace"); other characters (raw bytes 0x80-0xff) stay as their
// ISO-8859-1 characters. A "%" not followed by two hex digits stays as it is.
func pyUnquote(s string) string {
	var out, run []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			out = appendPyUTF8(out, run)
			run = run[:0]
			out = utf8.AppendRune(out, rune(c))
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			run = append(run, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			run = append(run, c)
		}
	}
	return string(appendPyUTF8(out, run))
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// appendPyUTF8 appends b decoded as UTF-8 the way Python's
// b.decode("utf-8", "replace") does: every maximal part of an invalid
// sequence (a truncated sequence, or a byte that starts none) becomes one
// U+FFFD, so "\xe2\x82" gives one, "\xc0\xaf" two.
func appendPyUTF8(out, b []byte) []byte {
	for len(b) > 0 {
		if r, size := utf8.DecodeRune(b); r != utf8.RuneError || size > 1 {
			out = append(out, b[:size]...)
			b = b[size:]
			continue
		}
		out = append(out, "\uFFFD"...)
		b = b[invalidUTF8Prefix(b):]
	}
	return out
}

// invalidUTF8Prefix returns the length of the maximal subpart at the start
// of b, which does not begin a valid UTF-8 sequence: the bytes that begin
// one correctly before it breaks off, or 1.
func invalidUTF8Prefix(b []byte) int {
	lo, hi := byte(0x80), byte(0xbf) // the range of the next byte
	need := 0
	switch c := b[0]; {
	case c >= 0xc2 && c <= 0xdf:
		need = 1
	case c == 0xe0:
		need, lo = 2, 0xa0
	case c == 0xed:
		need, hi = 2, 0x9f
	case c >= 0xe1 && c <= 0xef:
		need = 2
	case c == 0xf0:
		need, lo = 3, 0x90
	case c == 0xf4:
		need, hi = 3, 0x8f
	case c >= 0xf1 && c <= 0xf3:
		need = 3
	default:
		return 1
	}
	n := 1
	for n <= need && n < len(b) && b[n] >= lo && b[n] <= hi {
		lo, hi = 0x80, 0xbf
		n++
	}
	return n
}

// appendJSONString appends s (valid UTF-8) as a JSON string, escaping only
// what JSON requires (no \u003c for "<" as encoding/json writes).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		default:
			if c < ' ' {
				b = fmt.Appendf(b, `\u%04x`, c)
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

// isoformat writes t as Python's datetime.isoformat() does: local time,
// microseconds, no zone, and no fraction at all when the microseconds are 0.
func isoformat(t time.Time) string {
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04:05.000000")
}
