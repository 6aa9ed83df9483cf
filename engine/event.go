package engine

import "time"

// Kind names what an Event describes.
type Kind string

// The kinds of event; docs/events.md describes each and its meta.
const (
	KindServerStart  Kind = "server-start"
	KindServerStop   Kind = "server-stop"
	KindListen       Kind = "listen"
	KindAccept       Kind = "accept"
	KindConnect      Kind = "connect"
	KindRecv         Kind = "recv"
	KindSend         Kind = "send"
	KindClose        Kind = "close"
	KindDatagramIn   Kind = "datagram-in"
	KindDatagramOut  Kind = "datagram-out"
	KindTLSHandshake Kind = "tls-handshake"
	KindProxyDial    Kind = "proxy-dial"
	KindAppFrame     Kind = "app-frame"
	KindHTTPRequest  Kind = "http-request"
	KindHTTPResponse Kind = "http-response"
	KindOption       Kind = "option"
	KindTimeout      Kind = "timeout"
	KindRetry        Kind = "retry"
	KindError        Kind = "error"
	// KindFault is a fault acting (see engine/fault.go).
	KindFault Kind = "fault"
	// KindLoss marks events the recorder could not keep (see docs/safety.md):
	// it is written by the recorder, never by the engine.
	KindLoss Kind = "loss"
)

// Event is one thing that happened on a socket. It is the one type that flows
// from the engine through the recorder to the browser.
//
// Server holds the id of the server or client that owns the socket (server ids
// start with "srv-", client ids with "cli-"); Conn is the connection id, unique
// within the process, so filtering by connection works across a session.
type Event struct {
	Session string
	Server  string
	Conn    string
	At      time.Time
	Kind    Kind
	// Net is the transport: "tcp", "udp" or "tls" (whose recv and send
	// events carry the plaintext). Export builds packets of the right kind
	// from it.
	Net    string
	Local  string
	Remote string
	// Data is the captured bytes of a recv/send (a copy the event owns). Len is
	// the length read, or the length passed to the write call (a send is
	// emitted just before its write so that it precedes the peer's recv; a
	// failed write is followed by an error event whose meta says how much was
	// written). When the connection's capture cap is reached Data holds fewer
	// bytes than Len and Truncated is set.
	Data      []byte
	Len       int
	Truncated bool
	Err       *SockErr
	// Meta carries kind-specific details: who closed and whether it was a
	// half-close, the server's options, and so on. Values must be JSON-encodable.
	Meta map[string]any
}

// Sink receives events. Emit must not keep ev.Data's backing array shared with
// the caller: the engine always hands over a copy. Emit may block when the
// recorder's queue is full (disk backpressure); it never waits on a browser.
type Sink interface {
	Emit(ev Event)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

// Emit calls f(ev).
func (f SinkFunc) Emit(ev Event) { f(ev) }
