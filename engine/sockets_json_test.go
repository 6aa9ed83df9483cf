package engine

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// AppendSocketsJSON writes what encoding/json writes, for every field
// filled and every optional one left out, and strings that need escaping.
func TestAppendSocketsJSONMatchesEncodingJSON(t *testing.T) {
	rows := []SocketInfo{
		{ID: "srv-1", Owner: "srv-1", Kind: "tcp-echo", Role: "listener", Proto: "tcp", Net: "tcp", Local: "127.0.0.1:20000", State: "LISTEN",
			Since: "2026-12-02T00:00:00Z", TCPInfo: &TCPInfo{State: "LISTEN", SndCwnd: 10, Backlog: 128}},
		{ID: "c-1", Owner: "cli-1", Kind: "tcp", Role: "client", Proto: "tcp", Net: "tls", Local: "127.0.0.1:5000", Remote: "127.0.0.1:20000",
			State: "ESTABLISHED", Since: "x", BytesIn: 5, BytesOut: 1 << 40, Events: 3,
			TCPInfo: &TCPInfo{State: "ESTABLISHED", RTTus: 32, RTTVarUs: 16, Retransmits: 1, TotalRetr: 2, SndCwnd: 10, Unacked: 1,
				BytesAcked: 1 << 33, BytesReceived: 5, NotSent: 7}},
		{ID: "srv-2", Owner: "srv-2", Role: "listener", Proto: "udp", Net: "udp", Local: "[::1]:20001", State: "UNCONN",
			Counters: map[string]int64{"datagrams_out": 2, "datagrams_in": 3}},
		{ID: "c-2", Owner: "cli-2", Role: "client", Proto: "tcp", Net: "tcp", Local: "a\"b\\c\n\x01é\xff", State: "TIME-WAIT", Closed: true},
	}
	var got, want any
	if err := json.Unmarshal(AppendSocketsJSON(nil, rows), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, AppendSocketsJSON(nil, rows))
	}
	std, _ := json.Marshal(rows)
	json.Unmarshal(std, &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", AppendSocketsJSON(nil, rows), std)
	}
	if string(AppendSocketsJSON(nil, nil)) != "[]" {
		t.Errorf("no rows: %s", AppendSocketsJSON(nil, nil))
	}
}

// plainPrefix stops at the first byte a JSON string escapes (or that may
// start invalid UTF-8), wherever it is in its 8-byte word.
func TestPlainPrefix(t *testing.T) {
	for _, c := range []byte{0, 0x1f, '"', '\\', 0x7f + 1, 0xff} {
		for n := range 20 {
			for at := 0; at <= n; at++ {
				b := []byte(strings.Repeat("a", n))
				want := n
				if at < n {
					b[at], want = c, at
				}
				if got := plainPrefix(string(b)); got != want {
					t.Fatalf("byte %#x at %d of %d: plainPrefix %d, want %d", c, at, n, got, want)
				}
			}
		}
	}
	if got := plainPrefix(" !#~[]{}0123456789"); got != 18 {
		t.Errorf("printable ASCII: %d of 18 plain", got)
	}
}
