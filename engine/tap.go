package engine

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"sync/atomic"
	"time"
)

// The transports an event can be about (Event.Net).
const (
	NetTCP = "tcp"
	NetUDP = "udp"
	NetTLS = "tls" // recv and send carry the plaintext; the ciphertext is counted
)

// tap describes one socket's events and enforces its capture cap. recv and
// send may be emitted from different goroutines (a client's read loop and
// its Send calls), so the captured-bytes budget is atomic.
type tap struct {
	sink     Sink
	session  string
	owner    string // server or client id
	conn     string
	net      string
	local    string
	remote   string
	capLimit int64
	captured *atomic.Int64 // bytes kept so far; shared by a proxy's two legs
	tokens   tokens        // the session's event rate (a nil pacer: no limit)
}

func newTap(sink Sink, pace *pacer, session, owner, network, local, remote string, capLimit int64) *tap {
	return &tap{sink: sink, session: session, owner: owner, conn: newConnID(), net: network,
		local: local, remote: remote, capLimit: capLimit, captured: new(atomic.Int64), tokens: newTokens(pace)}
}

// stop is called when the socket closes: a paced wait ends at once and
// unused tokens go back to the session.
func (t *tap) stop() { t.tokens.stop() }

// emit hands ev to the sink once the session's event rate allows it.
func (t *tap) emit(ev Event) {
	t.tokens.take()
	t.sink.Emit(ev)
}

func (t *tap) event(kind Kind) Event {
	return Event{Session: t.session, Server: t.owner, Conn: t.conn, At: time.Now(),
		Kind: kind, Net: t.net, Local: t.local, Remote: t.remote}
}

// capture fills ev's Data, Len and Truncated for the bytes b, copying what
// is left of the capture budget (callers reuse their buffers).
func (t *tap) capture(ev *Event, b []byte) {
	ev.Len = len(b)
	keep := int64(len(b))
	if t.capLimit >= 0 {
		after := t.captured.Add(keep)
		before := after - keep
		switch {
		case before >= t.capLimit:
			keep = 0
		case after > t.capLimit:
			keep = t.capLimit - before
		}
	}
	if keep > 0 {
		ev.Data = append([]byte(nil), b[:keep]...)
	}
	ev.Truncated = int(keep) < len(b)
}

// data emits a recv or send event (or a datagram one) for one read or
// write of b.
func (t *tap) data(kind Kind, b []byte) {
	ev := t.event(kind)
	t.capture(&ev, b)
	t.emit(ev)
}

// fail emits an error event.
func (t *tap) fail(err error, meta map[string]any) {
	ev := t.event(KindError)
	ev.Err = Classify(err)
	ev.Meta = meta
	t.emit(ev)
}

// CloseInfo is a close event's meta, structured: who closed (by "local",
// this end, or "peer", the other end's FIN or RST reached us), whether only
// one direction ended (half: a shutdown(SHUT_WR) here, or a FIN from the
// peer while we may still send), whether it was a reset (rst), and why when
// sockplay knows.
type CloseInfo struct {
	By     string
	Half   bool
	RST    bool
	Reason string
}

// closed emits a close event; extra (may be nil) adds kind-specific keys
// to its meta, under the standard ones.
func (t *tap) closed(c CloseInfo, extra map[string]any) {
	ev := t.event(KindClose)
	ev.Meta = map[string]any{}
	for k, v := range extra {
		ev.Meta[k] = v
	}
	ev.Meta["by"], ev.Meta["half"], ev.Meta["rst"] = c.By, c.Half, c.RST
	if c.Reason != "" {
		ev.Meta["reason"] = c.Reason
	}
	t.emit(ev)
}

// ids are lowercase base32 without padding: no characters that look alike
// in a URL, and easy to read aloud.
var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func randomID(prefix string, nbytes int) string {
	b := make([]byte, nbytes)
	_, _ = rand.Read(b)
	return prefix + "-" + strings.ToLower(idEncoding.EncodeToString(b))
}

// newConnID returns c- and 64 random bits: connection ids are made at a
// high rate and live in the recording for ever, so they must not collide
// across restarts (at a million connections in one session the chance is
// about 3 in 100 million).
func newConnID() string { return randomID("c", 8) }
