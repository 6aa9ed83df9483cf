package sessions

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// The jsonl export's first line names its format and version; the lines
// after it are the events, each exactly the event JSON of docs/events.md.
const (
	ExportFormat  = "sockplay-session"
	ExportVersion = 1
)

// ExportHeader is the first line of a jsonl export.
type ExportHeader struct {
	Format  string        `json:"format"`
	Version int           `json:"version"`
	Session ExportSession `json:"session"`
}

// ExportSession is the session's metadata in an export.
type ExportSession struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// Events is the seq of the last event exported.
	Events int64 `json:"events"`
}

// WriteJSONLHeader writes the first line of a jsonl export of sess.
func WriteJSONLHeader(w io.Writer, sess Session) error {
	b, err := json.Marshal(ExportHeader{Format: ExportFormat, Version: ExportVersion,
		Session: ExportSession{ID: sess.ID, Name: sess.Name, CreatedAt: sess.CreatedAt, Events: sess.Events}})
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// TranscriptWriter writes a session's bytes for a person to read, in the
// order they were recorded: each recv and send (and datagram) as a line
// that says its connection and its direction — ">>>" what the connecting
// side (the client) sent, "<<<" what it received — then a hexdump like
// `hexdump -C` (or tshark's follow,tcp,hex), with offsets counted per
// connection and direction. Opens, closes and errors are one line each.
// A connection whose both ends are in the session is shown once, from the
// first end recorded. Like PcapWriter it keeps state only per connection.
type TranscriptWriter struct {
	w     *bufio.Writer
	conns map[string]*transcriptConn
	ends  map[string]string // "local|remote" → conn, to find the other end of a connection
	// One, when set, shows that connection only (both ends are then not
	// merged: it is that end's view).
	One string
}

type transcriptConn struct {
	skip      bool // the other end of a connection already shown
	initiator int  // 0: this end connected (its sends are >>>); 1: it accepted
	key       string
	offset    [2]int64
}

// NewTranscriptWriter starts a transcript on w with a few lines that say
// what it is and how to read it.
func NewTranscriptWriter(w io.Writer, sess Session, one string) (*TranscriptWriter, error) {
	t := &TranscriptWriter{w: bufio.NewWriterSize(w, 64<<10), conns: map[string]*transcriptConn{}, ends: map[string]string{}, One: one}
	fmt.Fprintf(t.w, "sockplay transcript of session %q: %d events, created %s\n", sess.Name, sess.Events, sess.CreatedAt.Format(time.RFC3339))
	if one != "" {
		fmt.Fprintf(t.w, "connection %s only\n", one)
	}
	fmt.Fprintf(t.w, ">>> bytes the connecting side (the client) sent, <<< bytes it received; one block per recv or send call.\n")
	_, err := fmt.Fprintf(t.w, "TLS connections show their plaintext. A connection whose both ends are in the session is shown once.\n")
	return t, err
}

// Flush writes out what is buffered; call it at the end.
func (t *TranscriptWriter) Flush() error { return t.w.Flush() }

// Write adds one event.
func (t *TranscriptWriter) Write(r *Record) error {
	if r.Conn == "" || (t.One != "" && r.Conn != t.One) {
		return nil
	}
	c := t.conns[r.Conn]
	if c == nil {
		if !opens(r) {
			return nil
		}
		c = &transcriptConn{initiator: 1}
		if r.Kind == engine.KindConnect || (r.Kind != engine.KindAccept && strings.HasPrefix(r.Server, "cli-")) {
			c.initiator = 0
		}
		if len(t.conns) >= maxUDPFlows {
			clear(t.conns)
			clear(t.ends)
		}
		t.conns[r.Conn] = c
		local, remote := endsOf(r)
		if other, ok := t.ends[remote+"|"+local]; ok && t.One == "" && other != r.Conn && local != "" {
			c.skip = true
			delete(t.ends, remote+"|"+local)
			_, err := fmt.Fprintf(t.w, "\n%s %s: the other end of %s (%s), shown there\n", stamp(r), r.Conn, other, r.Server)
			return err
		}
		c.key = local + "|" + remote
		t.ends[c.key] = r.Conn
		net := r.Net
		if net == "" {
			net = "tcp"
		}
		arrow := local + " → " + remote
		if c.initiator == 1 {
			arrow = remote + " → " + local
		}
		if _, err := fmt.Fprintf(t.w, "\n== %s %s %s (client → server), recorded by %s\n", r.Conn, net, arrow, r.Server); err != nil {
			return err
		}
	}
	if c.skip {
		return nil
	}
	switch r.Kind {
	case engine.KindRecv, engine.KindSend, engine.KindDatagramIn, engine.KindDatagramOut:
		sent := r.Kind == engine.KindSend || r.Kind == engine.KindDatagramOut
		dir := 1 // towards the client
		if sent == (c.initiator == 0) {
			dir = 0
		}
		mark := "<<<"
		if dir == 0 {
			mark = ">>>"
		}
		what := fmt.Sprintf("%d bytes", r.Len)
		if r.Kind == engine.KindDatagramIn || r.Kind == engine.KindDatagramOut {
			what = fmt.Sprintf("datagram of %d bytes", r.Len)
			if p := metaString(r, "peer"); p != "" {
				what += " (" + p + ")"
			}
		}
		if r.Truncated {
			what += fmt.Sprintf(", %d kept (capture cap)", len(r.Data))
		}
		if _, err := fmt.Fprintf(t.w, "%s %s %s %s\n", stamp(r), r.Conn, mark, what); err != nil {
			return err
		}
		hexdump(t.w, r.Data, c.offset[dir], "    ")
		c.offset[dir] += int64(len(r.Data))
	case engine.KindClose:
		line := "closed"
		switch {
		case r.Meta["rst"] == true:
			line = "reset (RST)"
		case r.Meta["half"] == true:
			line = "half-closed (FIN, one direction)"
		default:
			line = "closed (FIN)"
		}
		line += " by " + metaString(r, "by")
		if reason := metaString(r, "reason"); reason != "" {
			line += ": " + reason
		}
		_, err := fmt.Fprintf(t.w, "%s %s --- %s\n", stamp(r), r.Conn, line)
		if r.Meta["half"] != true || r.Meta["rst"] == true {
			delete(t.conns, r.Conn)
			delete(t.ends, c.key)
		}
		return err
	case engine.KindError:
		if r.Err != nil {
			_, err := fmt.Fprintf(t.w, "%s %s !!! %s %s: %s (%s)\n", stamp(r), r.Conn, metaString(r, "op"), r.Err.Errno, r.Err.Message, r.Err.Hint)
			return err
		}
	case engine.KindAccept, engine.KindConnect, engine.KindTLSHandshake:
		line := string(r.Kind)
		if r.Kind == engine.KindTLSHandshake {
			line += " " + metaString(r, "version") + " " + metaString(r, "cipher_suite")
		}
		_, err := fmt.Fprintf(t.w, "%s %s --- %s\n", stamp(r), r.Conn, line)
		return err
	}
	return nil
}

// endsOf is a conn's two addresses as both of its ends would write them:
// a UDP socket's peer from meta, a wildcard bound address as the loopback
// of its peer's family.
func endsOf(r *Record) (local, remote string) {
	remote = r.Remote
	if p := metaString(r, "peer"); p != "" {
		remote = p
	}
	l, err1 := parseAddr(r.Local)
	rm, err2 := parseAddr(remote)
	if err1 != nil || err2 != nil {
		return r.Local, remote
	}
	return fillUnspecified(l, rm).String(), fillUnspecified(rm, l).String()
}

// opens reports whether r can be the first event of a connection in the
// transcript.
func opens(r *Record) bool {
	switch r.Kind {
	case engine.KindAccept, engine.KindConnect, engine.KindRecv, engine.KindSend, engine.KindDatagramIn,
		engine.KindDatagramOut, engine.KindTLSHandshake:
		return true
	}
	return false
}

func stamp(r *Record) string { return r.At.UTC().Format(TimeLayout) }

// hexdump writes b as `hexdump -C` does: offset, 16 bytes in two groups of
// eight, and the printable ASCII between bars; offsets start at base.
func hexdump(w *bufio.Writer, b []byte, base int64, indent string) {
	const hexdigits = "0123456789abcdef"
	for i := 0; i < len(b); i += 16 {
		line := b[i:min(i+16, len(b))]
		w.WriteString(indent)
		fmt.Fprintf(w, "%08x  ", base+int64(i))
		for j := 0; j < 16; j++ {
			if j < len(line) {
				w.WriteByte(hexdigits[line[j]>>4])
				w.WriteByte(hexdigits[line[j]&15])
				w.WriteByte(' ')
			} else {
				w.WriteString("   ")
			}
			if j == 7 {
				w.WriteByte(' ')
			}
		}
		w.WriteString(" |")
		for _, c := range line {
			if c >= 0x20 && c < 0x7f {
				w.WriteByte(c)
			} else {
				w.WriteByte('.')
			}
		}
		w.WriteString("|\n")
	}
}
