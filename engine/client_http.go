package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// http client limits.
const (
	maxHTTPClientPath = 2048
	maxHTTPClientBody = 64 << 10
	// maxHTTPClientResponse bounds the response body the client reads.
	maxHTTPClientResponse = 1 << 20
	httpShownBody         = 4096
)

var httpClientKind = &ClientKind{
	Name: "http", Title: "HTTP client", Net: NetTCP,
	Description: "GET or POST to an HTTP server (an http-api of this session): the request is written by hand over the socket, " +
		"so its bytes are one send event and the response's are recv events; each send is another request on a new connection.",
	Options: []OptionSpec{
		{Name: "method", Type: OptEnum, Default: http.MethodGet, Primary: true, Help: "the request method",
			Values: []Choice{{http.MethodGet, "GET: ask for the path"}, {http.MethodPost, "POST: send a body"}}},
		{Name: "path", Type: OptString, Default: "/", MaxLen: maxHTTPClientPath, Primary: true,
			Help: "the path of the request line, starting with /, e.g. /hello"},
		{Name: "query", Type: OptString, Default: "", MaxLen: maxHTTPClientPath,
			Help: "the query string after ?, e.g. name=ada&lang=en (already URL-encoded); empty: none"},
		{Name: "body", Type: OptString, Default: "", MaxLen: maxHTTPClientBody,
			When: &When{Option: "method", Values: []string{http.MethodPost}},
			Help: "the POST body, sent with Content-Type application/json, e.g. {\"x\": 1}"},
		recvSizeOption(DefaultRecvSize),
		timeoutOption("timeout_ms", defaultAppTimeoutMS,
			"how long to wait for the whole response; none by then is a timeout event and the connection is closed; 0: wait for ever"),
	},
	check: func(o Options) error { _, err := httpRequestFrom(o, nil); return err },
	start: startHTTPClient,
}

// HTTPRequest is one request of the http client; Send takes it as JSON
// (missing fields keep the client's options).
type HTTPRequest struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query"`
	Body   string `json:"body"`
}

// httpRequestFrom makes the request of the options o, overlaid with the
// JSON b of a Send (nil: none), and checks it.
func httpRequestFrom(o Options, b []byte) (HTTPRequest, error) {
	req := HTTPRequest{Method: o.String("method"), Path: o.String("path"), Query: o.String("query"), Body: o.String("body")}
	if b != nil {
		var in struct{ Method, Path, Query, Body *string }
		if err := json.Unmarshal(b, &in); err != nil {
			return req, &OptionError{Option: "request", Msg: `an http client sends a request: {"method":"GET","path":"/hello","query":"name=ada"} or {"method":"POST","path":"/items","body":"{\"x\": 1}"}`}
		}
		for _, f := range []struct{ dst, src *string }{{&req.Method, in.Method}, {&req.Path, in.Path}, {&req.Query, in.Query}, {&req.Body, in.Body}} {
			if f.src != nil {
				*f.dst = *f.src
			}
		}
	}
	bad := func(option, format string, args ...any) error {
		return &OptionError{Option: option, Msg: fmt.Sprintf("option %q: ", option) + fmt.Sprintf(format, args...)}
	}
	switch {
	case req.Method != http.MethodGet && req.Method != http.MethodPost:
		return req, bad("method", "%q is not GET or POST", req.Method)
	case !strings.HasPrefix(req.Path, "/"):
		return req, bad("path", "%q must start with /", req.Path)
	case len(req.Path) > maxHTTPClientPath || len(req.Query) > maxHTTPClientPath:
		return req, bad("path", "the path or the query is longer than %d bytes", maxHTTPClientPath)
	case len(req.Body) > maxHTTPClientBody:
		return req, bad("body", "the body is longer than %d bytes", maxHTTPClientBody)
	}
	for _, f := range []struct{ name, v string }{{"path", req.Path}, {"query", req.Query}} {
		if i := strings.IndexFunc(f.v, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '#' || (f.name == "path" && r == '?') }); i >= 0 {
			return req, bad(f.name, "%q has %q at byte %d: a request line holds no spaces, control characters or non-ASCII; URL-encode them (a space is %%20)", f.v, f.v[i:i+1], i)
		}
	}
	return req, nil
}

func startHTTPClient(ctx context.Context, env *clientEnv, o Options) (Client, error) {
	c := newRequestClient(env, o, time.Duration(o.Int("timeout_ms"))*time.Millisecond)
	c.parse = func(b []byte) (any, error) { return httpRequestFrom(o, b) }
	c.frame = func(req any) ([]byte, map[string]any, error) {
		r := req.(HTTPRequest)
		return encodeHTTPRequest(r, env.Target), map[string]any{"method": r.Method, "path": r.Path, "query": r.Query}, nil
	}
	c.converse = httpConverse
	req, err := httpRequestFrom(o, nil)
	if err != nil {
		env.release()
		return nil, err
	}
	return c.open(ctx, req)
}

// httpClientHeaders are the request's headers, in the order written.
func httpClientHeaders(r HTTPRequest, host string) [][2]string {
	h := [][2]string{{"Host", host}, {"User-Agent", "sockplay"}, {"Accept", "*/*"}, {"Connection", "close"}}
	if r.Method == http.MethodPost {
		h = append(h, [2]string{"Content-Type", "application/json"}, [2]string{"Content-Length", strconv.Itoa(len(r.Body))})
	}
	return h
}

// encodeHTTPRequest writes the request as bytes on the wire, HTTP/1.1 with
// Connection: close (one request per connection).
func encodeHTTPRequest(r HTTPRequest, host string) []byte {
	var b strings.Builder
	target := r.Path
	if r.Query != "" {
		target += "?" + r.Query
	}
	b.WriteString(r.Method + " " + target + " HTTP/1.1\r\n")
	for _, h := range httpClientHeaders(r, host) {
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	b.WriteString("\r\n")
	if r.Method == http.MethodPost {
		b.WriteString(r.Body)
	}
	return []byte(b.String())
}

// httpConverse emits the http-request event, sends the request in one
// write, reads the response (each read a recv event) and emits its
// http-response event.
func httpConverse(x *requestConn, msg []byte) {
	// The request as the frame wrote it, for its event.
	head, body, _ := strings.Cut(string(msg), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	parts := strings.SplitN(lines[0], " ", 3)
	path, query := rawTarget(parts[1])
	hdrs := map[string]string{}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ": ")
		hdrs[k] = v
	}
	ev := x.conn.tap.event(KindHTTPRequest)
	ev.Meta = map[string]any{"method": parts[0], "path": path, "query": query, "proto": "HTTP/1.1", "headers": hdrs, "body_len": len(body)}
	x.conn.tap.emit(ev)
	if x.write(msg) != nil {
		return
	}
	br := bufio.NewReaderSize(x, x.c.opts.Int("recv_size"))
	resp, err := http.ReadResponse(br, nil)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(io.LimitReader(resp.Body, maxHTTPClientResponse))
		resp.Body.Close()
		if err == nil {
			httpResponseEvent(x, resp, b)
			x.conn.SetCloseReason("response received (Connection: close)")
			return
		}
	}
	x.conn.mu.Lock()
	closing := x.conn.closing
	x.conn.mu.Unlock()
	switch {
	case closing, errors.Is(err, errResponseTimeout), isReset(err):
		// Its own close, a timeout or a reset: already said.
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		httpClientError(x, "the server closed the connection before a whole response arrived",
			"An HTTP server answers every request with a status line, headers and the body its Content-Length announces; this one stopped early (or is not an HTTP server).")
	default:
		httpClientError(x, "the response is not well-formed HTTP: "+err.Error(),
			"Is the target an HTTP server? A plain TCP server (an echo) answers with other bytes than an HTTP status line.")
	}
}

// httpResponseEvent emits the http-response event of resp, whose body is b.
func httpResponseEvent(x *requestConn, resp *http.Response, b []byte) {
	hdrs := map[string]string{}
	for k, v := range resp.Header {
		hdrs[k] = strings.Join(v, ", ")
	}
	if resp.ContentLength >= 0 {
		hdrs["Content-Length"] = strconv.FormatInt(resp.ContentLength, 10)
	}
	ev := x.conn.tap.event(KindHTTPResponse)
	ev.Meta = map[string]any{"status": resp.StatusCode, "reason": strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode))),
		"proto": resp.Proto, "headers": hdrs, "body_len": len(b)}
	if len(b) <= httpShownBody && utf8.Valid(b) {
		ev.Meta["body"] = string(b)
	}
	x.conn.tap.emit(ev)
}

// httpClientError emits the error event of a response that broke HTTP.
func httpClientError(x *requestConn, msg, hint string) {
	ev := x.conn.tap.event(KindError)
	ev.Err = &SockErr{Errno: "EPROTO", Message: msg, Hint: hint}
	ev.Meta = map[string]any{"op": "http-response"}
	x.conn.tap.emit(ev)
	x.conn.SetCloseReason(msg)
}
