package engine

import (
	"errors"
	"io"
	"net"

	"github.com/sockplay/sockplay/engine/appproto"
)

// App server defaults and limits.
const (
	DefaultAppMaxContent = appproto.DefaultMaxContent
	MaxAppMaxContent     = 16 << 20
	// appShownContent bounds the text/json content an app-frame event's
	// meta shows decoded; the bytes are in the event's data either way.
	appShownContent = 4096
	appReplied      = "response sent (one request per connection)"
)

var appKind = &ServerKind{
	Name: "app", Title: "App protocol (JSON header)", Net: NetTCP, TutorialPort: 65432,
	Description: "The application server of Real Python's socket tutorial: every message is a 2-byte header length, " +
		"a JSON header and the content it describes. A search request gets a JSON answer, any other content a binary one; " +
		"one request per connection.",
	Options: []OptionSpec{
		recvSizeOption(DefaultRecvSize),
		{Name: "max_content", Type: OptInt, Default: DefaultAppMaxContent, Min: intp(0), Max: intp(MaxAppMaxContent),
			Suggest: []int{1024, 65536, DefaultAppMaxContent}, Unit: "bytes", Advanced: true,
			Help: "the largest content-length the server accepts; a request that announces more is refused as soon as its header arrives"},
	},
	start:    startAppServer,
	snippets: appSnippets,
}

func startAppServer(env *Env, o Options) (server, error) {
	ln, err := env.Listen(&net.ListenConfig{}, "")
	if err != nil {
		return nil, err
	}
	return env.Stream(ln, NetTCP, appHandler(o)), nil
}

// appHandler reads one request through the Conn, answers it as the
// tutorial's libserver.py does, and returns (the connection then closes).
// Each decoded message, the request and then the response, is an app-frame
// event; a message that breaks the protocol is an error event (EPROTO) and
// the connection closes with its reason.
func appHandler(o Options) func(*Conn) {
	size, maxContent := o.Int("recv_size"), o.Int("max_content")
	return func(c *Conn) {
		d := appproto.NewDecoder(maxContent)
		d.LimitName = "the server's max_content option"
		buf := make([]byte, size)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				m, used, derr := d.Feed(buf[:n])
				if derr != nil {
					appError(c, derr)
					return
				}
				if m != nil {
					appRespond(c, m, n-used)
					return
				}
			}
			if err != nil {
				// At the peer's FIN the message is cut short; other errors
				// (a reset, the server stopping) are the Conn's to report.
				if errors.Is(err, io.EOF) {
					appError(c, d.EOF())
				}
				return
			}
		}
	}
}

// appRespond emits the request's frame, then the response's, and sends the
// response in one write.
func appRespond(c *Conn, req *appproto.Message, trailing int) {
	appFrame(c, "request", req, trailing)
	resp, err := appproto.Reply(req, "")
	if err != nil {
		appError(c, err)
		return
	}
	if m, _, err := appproto.Decode(resp, len(resp)); err == nil {
		appFrame(c, "response", m, 0)
	}
	c.SetCloseReason(appReplied)
	c.Write(resp)
}

// appFrame emits an app-frame event for the message m: its bytes (within
// the connection's capture budget) and its parts.
func appFrame(c *Conn, direction string, m *appproto.Message, trailing int) {
	ev := c.tap.event(KindAppFrame)
	c.tap.capture(&ev, m.Bytes())
	parts := make([]map[string]any, 0, 3)
	for _, p := range m.Parts() {
		parts = append(parts, map[string]any{"name": p.Name, "offset": p.Offset, "len": p.Len})
	}
	ev.Meta = map[string]any{"direction": direction, "header_len": m.HeaderLen, "header": m.HeaderObject,
		"content_length": len(m.Content), "parts": parts}
	if m.IsJSON() && len(m.Content) <= appShownContent {
		ev.Meta["content"] = m.Value
	}
	if trailing > 0 {
		ev.Meta["trailing_bytes"] = trailing
	}
	c.tap.emit(ev)
}

// appError emits the error event of a message that breaks the protocol and
// makes its reason the connection's close reason. A nil err does nothing.
func appError(c *Conn, err error) {
	if err == nil {
		return
	}
	var pe *appproto.Error
	if !errors.As(err, &pe) {
		pe = &appproto.Error{Reason: err.Error()}
	}
	ev := c.tap.event(KindError)
	ev.Err = &SockErr{Errno: "EPROTO", Message: pe.Reason, Hint: pe.Expect}
	ev.Meta = map[string]any{"op": "app-frame", "offset": pe.Offset}
	c.tap.emit(ev)
	c.SetCloseReason(pe.Reason)
}

// appSnippets: the tutorial's own client, which works against this server
// unchanged, and a self-contained Python program that frames one request.
func appSnippets(host, port string, o Options) []Snippet {
	return []Snippet{
		{"app-client", "Real Python's app-client.py, unchanged (run it next to the tutorial's libclient.py)",
			"python3 app-client.py " + host + " " + port + " search morpheus"},
		{"app-client-binary", "the same client, a binary request (any action but search)",
			"python3 app-client.py " + host + " " + port + " binary 😃"},
		{"python", "Python, self-contained: one search request, framed by hand", appPythonSnippet(host, port)},
	}
}

func appPythonSnippet(host, port string) string {
	return `import json, socket, struct, sys

HOST, PORT = "` + host + `", ` + port + `


def encode(obj):
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


content = encode({"action": "search", "value": "morpheus"})
header = encode({"byteorder": sys.byteorder, "content-type": "text/json",
                 "content-encoding": "utf-8", "content-length": len(content)})
with socket.create_connection((HOST, PORT)) as s:
    # 2-byte big-endian header length, the JSON header, the content
    s.sendall(struct.pack(">H", len(header)) + header + content)
    reply = b""
    while data := s.recv(4096):  # the server closes after its response
        reply += data
hlen = struct.unpack(">H", reply[:2])[0]
head = json.loads(reply[2:2 + hlen])
body = reply[2 + hlen:2 + hlen + head["content-length"]]
print(head)
print(json.loads(body)["result"])
`
}
