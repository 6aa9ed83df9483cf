package sessions

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// TimeLayout is how event times are written: RFC 3339 with nanoseconds, fixed
// width so that the strings sort as the times do.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// wireEvent is the event JSON of DESIGN.md, field for field. Every key is
// always present (null when empty), so clients need no special cases.
type wireEvent struct {
	Seq       int64           `json:"seq"`
	Session   string          `json:"session"`
	Server    string          `json:"server"`
	Conn      string          `json:"conn"`
	At        string          `json:"at"`
	Kind      engine.Kind     `json:"kind"`
	Local     string          `json:"local"`
	Remote    string          `json:"remote"`
	Len       int             `json:"len"`
	Data      []byte          `json:"data"` // base64
	Truncated bool            `json:"truncated"`
	Err       *engine.SockErr `json:"err"`
	Meta      map[string]any  `json:"meta"`
}

// MarshalJSON writes the event JSON of DESIGN.md.
func (r Record) MarshalJSON() ([]byte, error) {
	if r.raw != nil {
		return r.raw, nil
	}
	meta := r.Meta
	if len(meta) == 0 {
		meta = nil // stored as NULL: live and reloaded events look the same
	}
	return json.Marshal(wireEvent{Seq: r.Seq, Session: r.Session, Server: r.Server, Conn: r.Conn,
		At: r.At.UTC().Format(TimeLayout), Kind: r.Kind, Local: r.Local, Remote: r.Remote, Len: r.Len,
		Data: r.Data, Truncated: r.Truncated, Err: r.Err, Meta: meta})
}

// UnmarshalJSON reads the event JSON of DESIGN.md.
func (r *Record) UnmarshalJSON(b []byte) error {
	var w wireEvent
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	at, err := time.Parse(time.RFC3339Nano, w.At)
	if err != nil {
		return fmt.Errorf("event at: %w", err)
	}
	*r = Record{Seq: w.Seq, Event: engine.Event{Session: w.Session, Server: w.Server, Conn: w.Conn,
		At: at, Kind: w.Kind, Local: w.Local, Remote: w.Remote, Len: w.Len, Data: w.Data,
		Truncated: w.Truncated, Err: w.Err, Meta: w.Meta}}
	return nil
}

// encode caches the record's JSON so that it is built once however many
// subscribers receive it.
func (r *Record) encode() {
	b, err := r.MarshalJSON()
	if err != nil {
		// Meta values come from the engine and are JSON-encodable; should one
		// not be, keep the event and say so rather than drop it.
		r.Meta = map[string]any{"meta_error": err.Error()}
		b, _ = r.MarshalJSON()
	}
	r.raw = b
}

// JSON returns the record's event JSON.
func (r *Record) JSON() []byte {
	if r.raw == nil {
		r.encode()
	}
	return r.raw
}
