package engine

import (
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// tap describes one connection's events and enforces its capture cap. recv
// and send may be emitted from different goroutines (a client's read loop and
// its Send calls), so the captured-bytes budget is atomic.
type tap struct {
	sink     Sink
	session  string
	owner    string // server or client id
	conn     string
	local    string
	remote   string
	capLimit int64
	captured atomic.Int64
	tokens   tokens // the session's event rate (a nil pacer: no limit)
}

func newTap(sink Sink, pace *pacer, session, owner, local, remote string, capLimit int64) *tap {
	return &tap{sink: sink, session: session, owner: owner, conn: newID("c"),
		local: local, remote: remote, capLimit: capLimit, tokens: newTokens(pace)}
}

// stop is called when the connection closes: a paced wait ends at once and
// unused tokens go back to the session.
func (t *tap) stop() { t.tokens.stop() }

// emit hands ev to the sink once the session's event rate allows it.
func (t *tap) emit(ev Event) {
	t.tokens.take()
	t.sink.Emit(ev)
}

func (t *tap) event(kind Kind) Event {
	return Event{Session: t.session, Server: t.owner, Conn: t.conn, At: time.Now(),
		Kind: kind, Local: t.local, Remote: t.remote}
}

// data emits a recv or send event for one read or write of b. b is copied (up
// to what is left of the capture budget) before Emit returns, because callers
// reuse their buffers.
func (t *tap) data(kind Kind, b []byte) {
	ev := t.event(kind)
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
	t.emit(ev)
}

// fail emits an error event.
func (t *tap) fail(err error, meta map[string]any) {
	ev := t.event(KindError)
	ev.Err = Classify(err)
	ev.Meta = meta
	t.emit(ev)
}

// closed emits a close event. by is "local" (this end closed) or "peer" (the
// other end's FIN or RST reached us); half is true for shutdown(SHUT_WR) on
// our side or a FIN from the peer (we may still send).
func (t *tap) closed(by string, half bool, reason string) {
	ev := t.event(KindClose)
	ev.Meta = map[string]any{"by": by, "half": half}
	if reason != "" {
		ev.Meta["reason"] = reason
	}
	t.emit(ev)
}

// newID returns prefix-XXXXXXXX with 32 random bits: short enough to read
// aloud in a workshop, and unique across restarts of the process.
func newID(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}
