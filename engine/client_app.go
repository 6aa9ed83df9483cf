package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sockplay/sockplay/engine/appproto"
)

// App client limits.
const (
	maxAppValueLen        = 1024
	defaultAppTimeoutMS   = 5000
	appResponseReceived   = "response received (one request per connection)"
	appClientActionSearch = "search"
	appClientActionBinary = "binary"
)

var appClientKind = &ClientKind{
	Name: "app", Title: "App protocol client", Net: NetTCP,
	Description: "The client of Real Python's socket tutorial: it frames a search or a binary request (2-byte header length, JSON header, content), " +
		"sends it on connect and decodes the reply. Each further send is another request on a new connection.",
	Options: []OptionSpec{
		{Name: "action", Type: OptEnum, Default: appClientActionSearch, Primary: true,
			Help: "the request: search sends text/json {\"action\": \"search\", \"value\": …}; binary sends binary content (the action and the value, as app-client.py does)",
			Values: []Choice{
				{appClientActionSearch, "search: a text/json request"},
				{appClientActionBinary, "binary: binary/custom-client-binary-type content"},
			}},
		{Name: "value", Type: OptString, Default: "morpheus", MaxLen: maxAppValueLen, Primary: true,
			Help: "what to search for (the tutorial's server knows morpheus, ring and 🐶), or the binary request's text"},
		recvSizeOption(DefaultRecvSize),
		timeoutOption("timeout_ms", defaultAppTimeoutMS,
			"how long to wait for the response; none by then is a timeout event and the connection is closed; 0: wait for ever"),
		{Name: "max_content", Type: OptInt, Default: DefaultAppMaxContent, Min: intp(0), Max: intp(MaxAppMaxContent),
			Suggest: []int{1024, 65536, DefaultAppMaxContent}, Unit: "bytes", Advanced: true,
			Help: "the largest content-length the client accepts in a response"},
	},
	start: startAppClient,
}

// AppRequest is what Send takes on an app client (as JSON): one request,
// sent on a new connection.
type AppRequest struct {
	Action string `json:"action"`
	Value  string `json:"value"`
}

func startAppClient(ctx context.Context, env *clientEnv, o Options) (Client, error) {
	c := newRequestClient(env, o, time.Duration(o.Int("timeout_ms"))*time.Millisecond)
	c.parse = parseAppRequest
	c.frame = func(req any) ([]byte, map[string]any, error) {
		r := req.(AppRequest)
		msg, err := encodeAppRequest(r)
		if err != nil {
			return nil, nil, &OptionError{Option: "value", Msg: err.Error()}
		}
		return msg, map[string]any{"action": r.Action, "value": r.Value}, nil
	}
	c.converse = appConverse
	return c.open(ctx, AppRequest{Action: o.String("action"), Value: o.String("value")})
}

// parseAppRequest reads Send's {"action":"search","value":"ring"}.
func parseAppRequest(b []byte) (any, error) {
	var req AppRequest
	bad := &OptionError{Option: "request", Msg: `an app client sends a request: {"action":"search","value":"morpheus"} (action search or binary)`}
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, bad
	}
	if req.Action != appClientActionSearch && req.Action != appClientActionBinary {
		bad.Msg = "action " + jsonQuote(req.Action) + " is not search or binary; " + bad.Msg
		return nil, bad
	}
	if len(req.Value) > maxAppValueLen {
		return nil, &OptionError{Option: "value", Msg: fmt.Sprintf("the value is %d bytes long; at most %d bytes", len(req.Value), maxAppValueLen)}
	}
	return req, nil
}

func jsonQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

// encodeAppRequest frames req as the tutorial's client does.
func encodeAppRequest(req AppRequest) ([]byte, error) {
	if req.Action == appClientActionSearch {
		content := appproto.DumpJSON(appproto.Object{{Key: "action", Value: req.Action}, {Key: "value", Value: req.Value}})
		return appproto.Encode(appproto.Header{ContentType: appproto.TypeJSON, ContentEncoding: "utf-8"}, content)
	}
	return appproto.Encode(appproto.Header{ContentType: appproto.TypeClientBinary, ContentEncoding: "binary"}, []byte(req.Action+req.Value))
}

// appConverse emits the request's app-frame, sends it in one write, reads
// and decodes the response (its app-frame) and returns: the connection is
// then closed, one request per connection as the tutorial's client does.
func appConverse(x *requestConn, msg []byte) {
	if m, _, err := appproto.Decode(msg, len(msg)); err == nil {
		appFrame(x.conn, "request", m, 0)
	}
	if x.write(msg) != nil {
		return
	}
	d := appproto.NewDecoder(x.c.opts.Int("max_content"))
	d.LimitName = "the client's max_content option"
	buf := make([]byte, x.c.opts.Int("recv_size"))
	for {
		n, err := x.Read(buf)
		if n > 0 {
			m, used, derr := d.Feed(buf[:n])
			if derr != nil {
				appError(x.conn, derr)
				return
			}
			if m != nil {
				appFrame(x.conn, "response", m, n-used)
				x.conn.SetCloseReason(appResponseReceived)
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				appError(x.conn, d.EOF())
			}
			return
		}
	}
}
