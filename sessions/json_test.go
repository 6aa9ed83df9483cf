package sessions

import (
	"strings"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// An empty meta is stored as NULL, so the live JSON must say null too:
// otherwise an event looks different before and after a reload.
func TestRecordJSONEmptyMetaIsNull(t *testing.T) {
	r := Record{Seq: 1, Event: engine.Event{Session: "s", At: time.Unix(0, 0), Kind: engine.KindListen, Meta: map[string]any{}}}
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"meta":null`) {
		t.Fatalf("empty meta encodes as %s, want null", b)
	}
}

// peekKind reads the kind of every event appendRecord writes, whatever the
// strings before it hold, or says it cannot (and the event is decoded).
func TestPeekKind(t *testing.T) {
	for _, tt := range []struct {
		ev     engine.Event
		ok     bool
		reason string
	}{
		{engine.Event{Kind: engine.KindConnect}, true, "plain"},
		{engine.Event{Kind: engine.KindRecv, Server: `srv-",kind":"x`, Conn: `,"kind":"fake"`}, true, "look-alikes in earlier strings are escaped"},
		{engine.Event{Kind: engine.KindServerStart, Meta: map[string]any{"kind": "tcp-echo"}}, true, "meta has a kind key too"},
		{engine.Event{Kind: engine.Kind(`we"ird`)}, false, "an escaped quote in the kind"},
	} {
		r := Record{Seq: 1, Event: tt.ev}
		r.Session, r.At = "s", time.Unix(0, 0)
		k, ok := peekKind(appendRecord(nil, &r))
		if ok != tt.ok || (ok && k != tt.ev.Kind) {
			t.Errorf("%s: peekKind = %q, %v; want %q, %v", tt.reason, k, ok, tt.ev.Kind, tt.ok)
		}
	}
}
