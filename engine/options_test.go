package engine

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// The servers panel and the event rows show a server's options the way a
// person reads them: in schema order, the primary ones always, the others
// only when they differ from their default, an option that does not apply
// in this mode not at all.
func TestSummary(t *testing.T) {
	tests := []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"mode": "prefix", "prefix": ">> ", "recv_size": 4096, "oneshot": false}, `mode prefix · prefix ">> " · recv_size 4096 · oneshot no`},
		{map[string]any{"mode": "echo", "prefix": "Echo: ", "recv_size": 1024, "oneshot": true}, `mode echo · recv_size 1024 · oneshot yes`},
		{map[string]any{"mode": "prefix", "prefix": `<b>&"`}, `mode prefix · prefix "<b>&\""`},
		// As the recording gives them back: numbers are float64.
		{map[string]any{"mode": "upper", "recv_size": float64(65536)}, `mode upper · recv_size 65536`},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := echoKind.Summary(tt.opts); got != tt.want {
			t.Errorf("Summary(%#v) = %q, want %q", tt.opts, got, tt.want)
		}
	}
}

// Options are checked against the schema: every problem is an
// *OptionError naming the option, in the words of the JSON that was sent.
func TestDecodeOptionsRefusals(t *testing.T) {
	tests := []struct{ opts, option, want string }{
		{`{"recv_size":"big"}`, "recv_size", `option "recv_size": got a string, want a whole number (1 to 65536 bytes)`},
		{`{"recv_size":1.5}`, "recv_size", `1.5 is not a whole number`},
		{`{"recv_size":0}`, "recv_size", `0 is out of range; want 1 to 65536 bytes (common values: 1024, 4096, 65536)`},
		{`{"oneshot":"yes"}`, "oneshot", `got a string, want a boolean (true or false)`},
		{`{"mode":"loud"}`, "mode", `unknown value "loud"; valid values: echo, prefix, upper, reverse, greet, daytime, accept-close`},
		{`{"mode":3}`, "mode", `got the number 3, want a string`},
		{`{"prefix":"` + strings.Repeat("x", 1025) + `"}`, "prefix", `1025 bytes long; at most 1024 bytes`},
		{`{"colour":"red"}`, "colour", `unknown option "colour"; valid options: mode, prefix, recv_size, oneshot`},
		{`[1]`, "", `options: got an array, want an object`},
		{`{"mode":`, "", `options: invalid JSON`},
	}
	for _, tt := range tests {
		_, err := decodeOptions(echoKind.Options, json.RawMessage(tt.opts))
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != tt.option || !strings.Contains(oe.Msg, tt.want) {
			t.Errorf("decode %s: %v (option %q), want an OptionError on %q saying %q", tt.opts, err, optionName(oe), tt.option, tt.want)
		}
	}
}

func optionName(oe *OptionError) string {
	if oe == nil {
		return ""
	}
	return oe.Option
}

func TestDecodeOptionsFillsDefaults(t *testing.T) {
	o, err := decodeOptions(echoKind.Options, json.RawMessage(`{"mode":"prefix","oneshot":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if o.String("mode") != "prefix" || o.String("prefix") != DefaultEchoPrefix || o.Int("recv_size") != DefaultRecvSize || !o.Bool("oneshot") {
		t.Errorf("options %v", o)
	}
}
