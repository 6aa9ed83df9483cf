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
