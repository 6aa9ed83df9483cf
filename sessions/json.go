package sessions

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// TimeLayout is how event times are written: RFC 3339 with nanoseconds, fixed
// width so that the strings sort as the times do.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// wireEvent is the event JSON of docs/events.md, field for field. Every key is
// always present (null when empty), so clients need no special cases.
// appendRecord writes the same keys in the same order without reflection.
type wireEvent struct {
	Seq       int64           `json:"seq"`
	Session   string          `json:"session"`
	Server    string          `json:"server"`
	Conn      string          `json:"conn"`
	At        string          `json:"at"`
	Kind      engine.Kind     `json:"kind"`
	Net       string          `json:"net"`
	Local     string          `json:"local"`
	Remote    string          `json:"remote"`
	Len       int             `json:"len"`
	Data      []byte          `json:"data"` // base64
	Truncated bool            `json:"truncated"`
	Err       *engine.SockErr `json:"err"`
	Meta      map[string]any  `json:"meta"`
}

// MarshalJSON writes the event JSON of docs/events.md.
func (r Record) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// wireEventIn is wireEvent as read: meta is decoded apart, only when
// present (most events have none), keeping its numbers exact.
type wireEventIn struct {
	wireEvent
	Meta json.RawMessage `json:"meta"`
}

// UnmarshalJSON reads the event JSON of docs/events.md. Numbers in meta stay
// exact (json.Number), so a 64-bit count reads back as it was recorded.
func (r *Record) UnmarshalJSON(b []byte) error {
	var w wireEventIn
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	at, err := parseTime(w.At)
	if err != nil {
		return fmt.Errorf("event at: %w", err)
	}
	*r = Record{Seq: w.Seq, Event: engine.Event{Session: w.Session, Server: w.Server, Conn: w.Conn,
		At: at.UTC(), Kind: w.Kind, Net: w.Net, Local: w.Local, Remote: w.Remote, Len: w.Len, Data: w.Data,
		Truncated: w.Truncated, Err: w.Err}}
	if len(w.Meta) > 0 && string(w.Meta) != "null" {
		if err := decodeMeta(w.Meta, &r.Meta); err != nil {
			return fmt.Errorf("event meta: %w", err)
		}
	}
	return nil
}

// decodeMeta decodes meta, keeping numbers exact (json.Number) so that a
// 64-bit count reads back as it was recorded.
func decodeMeta(b []byte, m *map[string]any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(m)
}

// JSON returns the record's event JSON (a new slice each call; AppendJSON
// writes it into a buffer of the caller's).
func (r *Record) JSON() []byte { return r.AppendJSON(nil) }

// AppendJSON appends the record's event JSON to b: its seq, then its tail,
// made once (by the goroutine that emitted the event, or read from the store)
// however many times it is sent.
func (r *Record) AppendJSON(b []byte) []byte {
	return append(appendSeq(b, r.Seq), r.Tail()...)
}

// Tail returns the record's event JSON without its leading `{"seq":N,` (see
// chunks.go): the form in which events are stored.
func (r *Record) Tail() []byte {
	if r.tail == nil {
		r.tail = appendTail(nil, &r.Event)
	}
	return r.tail
}

// recordFromTail reads a stored event: seq and the tail of its JSON, which
// the record keeps (and so must not change afterwards).
func recordFromTail(seq int64, tail []byte) (Record, error) {
	full := make([]byte, 0, len(tail)+1)
	full = append(append(full, '{'), tail...)
	var r Record
	if err := r.UnmarshalJSON(full); err != nil {
		return Record{}, err
	}
	r.Seq, r.tail = seq, tail
	return r, nil
}

// appendRecord appends the event JSON of r to b.
func appendRecord(b []byte, r *Record) []byte {
	return appendTail(appendSeq(b, r.Seq), &r.Event)
}

// tailSize estimates the length of ev's tail, to allocate it once: the
// fixed keys and punctuation (about 150 bytes), the time (30), the numbers
// and the strings as they are (escaping is rare). A few bytes too few made
// append double the buffer for every event: a fifth of a flood's CPU.
func tailSize(ev *engine.Event) int {
	n := 224 + len(ev.Session) + len(ev.Server) + len(ev.Conn) + len(ev.Kind) + len(ev.Net) +
		len(ev.Local) + len(ev.Remote) + base64.StdEncoding.EncodedLen(len(ev.Data))
	if e := ev.Err; e != nil {
		n += 64 + len(e.Errno) + len(e.Message) + len(e.Hint) + len(e.Python)
	}
	if len(ev.Meta) > 0 {
		n += 64 * len(ev.Meta)
	}
	return n
}

// appendTail appends the event JSON of ev without its seq (everything after
// `{"seq":N,`) to b. Every event is stored and sent as this JSON, so it
// writes the fixed keys directly; err and meta, rare and free-form, go
// through encoding/json. Should meta not be encodable, the event is kept and
// its meta replaced by a meta_error saying why, rather than dropped.
func appendTail(b []byte, r *engine.Event) []byte {
	b = append(b, `"session":`...)
	b = appendString(b, r.Session)
	b = append(b, `,"server":`...)
	b = appendString(b, r.Server)
	b = append(b, `,"conn":`...)
	b = appendString(b, r.Conn)
	b = append(b, `,"at":"`...)
	b = appendTime(b, r.At)
	b = append(b, `","kind":`...)
	b = appendString(b, string(r.Kind))
	b = append(b, `,"net":`...)
	b = appendString(b, r.Net)
	b = append(b, `,"local":`...)
	b = appendString(b, r.Local)
	b = append(b, `,"remote":`...)
	b = appendString(b, r.Remote)
	b = append(b, `,"len":`...)
	b = strconv.AppendInt(b, int64(r.Len), 10)
	b = append(b, `,"data":`...)
	if r.Data == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, r.Data)
		b = append(b, '"')
	}
	b = append(b, `,"truncated":`...)
	b = strconv.AppendBool(b, r.Truncated)
	b = append(b, `,"err":`...)
	if r.Err == nil {
		b = append(b, "null"...)
	} else {
		e, _ := json.Marshal(r.Err) // strings only: cannot fail
		b = append(b, e...)
	}
	b = append(b, `,"meta":`...)
	if len(r.Meta) == 0 {
		b = append(b, "null"...) // stored as null: live and reloaded events look the same
	} else {
		m, err := json.Marshal(r.Meta)
		if err != nil {
			r.Meta = map[string]any{"meta_error": err.Error()}
			m, _ = json.Marshal(r.Meta)
		}
		b = append(b, m...)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string. The engine's identifiers and
// addresses are plain ASCII and are copied as they are; anything else goes
// through encoding/json's escaping.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainJSON[s[i]] {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plainJSON says which bytes appendString copies as they are: printable
// ASCII but the quote, the backslash and what encoding/json escapes for
// HTML (<, >, &). One table load a byte instead of seven comparisons: the
// ids and addresses of every event go through here (3% of a round-trip
// flood's CPU).
var plainJSON = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendTime appends t in UTC as TimeLayout does (time.AppendFormat, which
// interprets the layout on every call, cost the recorder a fifth of its time).
func appendTime(b []byte, t time.Time) []byte {
	// Events come many to a second: the date and clock of the second are
	// worked out once and kept (t.Date and t.Clock were 3% of a flood's
	// CPU), then only the nanoseconds are written.
	sec := t.Unix()
	if c := lastSecond.Load(); c != nil && c.sec == sec {
		b = append(b, c.text[:]...)
		return append(appendDigits(b, t.Nanosecond(), 9), 'Z')
	}
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, TimeLayout)
	}
	hour, minute, second := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, second, 2)
	b = append(b, '.')
	c := &secondText{sec: sec}
	copy(c.text[:], b[len(b)-len(c.text):])
	lastSecond.Store(c)
	b = appendDigits(b, t.Nanosecond(), 9)
	return append(b, 'Z')
}

// secondText is "YYYY-MM-DDTHH:MM:SS." of the Unix second sec; lastSecond
// the one appendTime wrote last (shared by every emitting goroutine).
type secondText struct {
	sec  int64
	text [20]byte
}

var lastSecond atomic.Pointer[secondText]

// parseTime reads a time written by appendTime. RFC 3339 has four-digit
// years only; for a year outside 0..9999 appendTime writes what time.Format
// does (more digits, or a minus sign), and parseTime reads that back too, so
// whatever the recorder stores stays readable.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err == nil || len(s) < 2 {
		return t, err
	}
	end := strings.IndexByte(s[1:], '-') + 1 // the year's end; s[0] may be its sign
	if end <= 0 {
		return time.Time{}, err
	}
	year, yerr := strconv.Atoi(s[:end])
	if yerr != nil || (year >= 0 && year <= 9999) {
		return time.Time{}, err
	}
	rest, rerr := time.Parse(time.RFC3339Nano, "2000"+s[end:]) // 2000: a leap year, so Feb 29 parses
	if rerr != nil {
		return time.Time{}, err
	}
	return time.Date(year, rest.Month(), rest.Day(), rest.Hour(), rest.Minute(), rest.Second(),
		rest.Nanosecond(), rest.Location()), nil
}

// appendDigits appends v (non-negative) in exactly width decimal digits.
func appendDigits(b []byte, v, width int) []byte {
	n := len(b)
	for range width {
		b = append(b, 0)
	}
	for i := n + width - 1; i >= n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}
