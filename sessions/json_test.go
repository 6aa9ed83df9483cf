package sessions

import (
	"strings"
	"syscall"
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

// Emit allocates each tail once with tailSize: an estimate a few bytes short
// made append double the buffer for every event of a flood (a fifth of its
// CPU). The events a flood is made of, with the longest ids and addresses
// the engine makes, must fit.
func TestTailSizeHoldsTheCommonEvents(t *testing.T) {
	long := strings.Repeat("f", 40)
	at := time.Date(2026, 12, 2, 3, 4, 5, 123456789, time.UTC)
	for _, ev := range []engine.Event{
		{Session: "s-1", At: at, Kind: engine.KindRecv, Net: "tcp", Local: "127.0.0.1:1", Remote: "127.0.0.1:2", Len: 1},
		{Session: "s-" + long, Server: "srv-" + long, Conn: "c-" + long, At: at, Kind: engine.KindSend, Net: "tcp",
			Local: "[fe80::1234:5678:9abc:def0%eth0]:65535", Remote: "[2001:db8:85a3::8a2e:370:7334]:65535", Len: 1 << 30, Truncated: true},
		{Session: "s-" + long, Server: "srv-" + long, Conn: "c-" + long, At: at, Kind: engine.KindRecv, Net: "udp",
			Local: "127.0.0.1:65535", Remote: "127.0.0.1:65535", Len: 65536, Data: make([]byte, 65536)},
		{Session: "s-" + long, Conn: "c-" + long, At: at, Kind: engine.KindError, Net: "tcp", Remote: "127.0.0.1:9",
			Err: engine.Classify(syscall.ECONNREFUSED)},
	} {
		b := appendTail(make([]byte, 0, tailSize(&ev)), &ev)
		if len(b) > tailSize(&ev) {
			t.Errorf("%s event: tail is %d bytes, tailSize said %d: %s", ev.Kind, len(b), tailSize(&ev), b)
		}
	}
}
