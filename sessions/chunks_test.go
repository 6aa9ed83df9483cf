package sessions

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// The tests of this file check event chunks (chunks.go) from the outside:
// the hand-written JSON encoder against encoding/json, the rows the real
// Recorder writes, Store paging across chunk boundaries, the events view,
// RecordedServers over many chunks, and corrupted chunks.

// ---------------------------------------------------------------------------
// Reference encoding

// wireEventKeys returns the JSON keys of wireEvent in declaration order, read
// from its struct tags, so that the expectation follows the type.
func wireEventKeys() []string {
	t := reflect.TypeFor[wireEvent]()
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		keys = append(keys, name)
	}
	return keys
}

// objectKeys returns the top-level keys of the JSON object b, in order.
func objectKeys(tb testing.TB, b []byte) []string {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		tb.Fatalf("%s: not a JSON object (%v, %v)", b, tok, err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			tb.Fatalf("%s: %v", b, err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			tb.Fatalf("%s: %v", b, err)
		}
	}
	return keys
}

// decodeExact decodes the JSON value b with numbers kept as written
// (json.Number), as a client that cares about 64-bit integers would.
func decodeExact(tb testing.TB, b []byte) any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("decode %s: %v", b, err)
	}
	if dec.More() {
		tb.Fatalf("decode %s: trailing data", b)
	}
	return v
}

// referenceWire is the event JSON of docs/events.md for r, built the slow,
// obviously right way: the wireEvent struct, its At formatted by the time
// package in UTC. An empty meta is sent as null (see json_test.go: stored
// and live events must look the same), so it is nil here.
func referenceWire(r Record) wireEvent {
	meta := r.Meta
	if len(meta) == 0 {
		meta = nil
	}
	return wireEvent{Seq: r.Seq, Session: r.Session, Server: r.Server, Conn: r.Conn,
		At: r.At.UTC().Format(TimeLayout), Kind: r.Kind, Local: r.Local, Remote: r.Remote,
		Len: r.Len, Data: r.Data, Truncated: r.Truncated, Err: r.Err, Meta: meta}
}

// referenceJSON is json.Marshal of referenceWire(r).
func referenceJSON(tb testing.TB, r Record) []byte {
	tb.Helper()
	b, err := json.Marshal(referenceWire(r))
	if err != nil {
		tb.Fatalf("json.Marshal(wireEvent of seq %d): %v", r.Seq, err)
	}
	return b
}

// checkAPIJSON fails unless got is the event JSON the API must send for ev
// numbered seq: valid, the keys of wireEvent in order, and the same value
// as encoding/json's.
func checkAPIJSON(tb testing.TB, got []byte, seq int64, ev engine.Event) {
	tb.Helper()
	if !json.Valid(got) {
		tb.Fatalf("seq %d: invalid JSON %q", seq, got)
	}
	if keys, want := objectKeys(tb, got), wireEventKeys(); !reflect.DeepEqual(keys, want) {
		tb.Fatalf("seq %d: keys %v, want %v\n%s", seq, keys, want, got)
	}
	want := referenceJSON(tb, Record{Seq: seq, Event: ev})
	if !reflect.DeepEqual(decodeExact(tb, got), decodeExact(tb, want)) {
		tb.Fatalf("seq %d: event JSON differs from encoding/json's\n got  %s\n want %s", seq, got, want)
	}
}

// ---------------------------------------------------------------------------
// 1. appendRecord against encoding/json

var (
	zoneIndia   = time.FixedZone("IST", 5*3600+30*60)
	zoneKiribat = time.FixedZone("LINT", 14*3600)
	zoneBaker   = time.FixedZone("AoE", -12*3600)
	zoneOdd     = time.FixedZone("odd", -(3*3600 + 17*60 + 31)) // seconds in the offset
)

// allBytes is every byte value once.
func allBytes() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// encodingCases are records that exercise every branch of appendRecord,
// appendString and appendTime.
var encodingCases = []struct {
	name string
	rec  Record
}{
	{"zero record (year 1)", Record{}},
	{"empty strings", Record{Seq: 1, Event: engine.Event{
		At: time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)}}},
	{"plain ASCII", Record{Seq: 2, Event: engine.Event{Session: "abcdefghijklmnopqrstuvwx", Server: "srv-1", Conn: "c-1",
		At: time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC), Kind: engine.KindRecv,
		Local: "127.0.0.1:20000", Remote: "[::1]:54321", Data: []byte("hello"), Len: 5}}},
	{"quotes and backslashes", Record{Seq: 3, Event: engine.Event{Session: `say "hi"`, Server: `C:\path\`, Conn: `\"`,
		At: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), Kind: engine.Kind(`we"ird\kind`),
		Local: `"`, Remote: `\`}}},
	{"control characters", Record{Seq: 4, Event: engine.Event{Session: "\x00\x01\x02\x1f", Server: "tab\there",
		Conn: "line\nbreak\r\n", At: time.Date(2026, 3, 4, 5, 6, 7, 1, time.UTC), Kind: engine.KindSend,
		Local: "\b\f\v", Remote: "del\x7f"}}},
	{"HTML characters", Record{Seq: 5, Event: engine.Event{Session: "<script>", Server: "a&b", Conn: "x>y",
		At: time.Date(2026, 3, 4, 5, 6, 7, 2, time.UTC), Kind: engine.KindRecv,
		Local: "1<2", Remote: "</script>&amp;"}}},
	{"non-ASCII UTF-8", Record{Seq: 6, Event: engine.Event{Session: "héllo", Server: "日本語", Conn: "🎉",
		At: time.Date(2026, 3, 4, 5, 6, 7, 3, time.UTC), Kind: engine.KindAppFrame,
		Local: "line\u2028sep\u2029para", Remote: "\ufeffbom"}}},
	{"invalid UTF-8", Record{Seq: 7, Event: engine.Event{Session: "\xff\xfe", Server: "a\xc3(b", Conn: "\xed\xa0\x80",
		At: time.Date(2026, 3, 4, 5, 6, 7, 4, time.UTC), Kind: engine.KindRecv,
		Local: "ok\xe2\x82", Remote: "\x80"}}},
	{"nil data", Record{Seq: 8, Event: engine.Event{Session: "s", At: time.Date(2026, 3, 4, 5, 6, 7, 5, time.UTC),
		Kind: engine.KindClose, Data: nil, Len: 0}}},
	{"empty non-nil data", Record{Seq: 9, Event: engine.Event{Session: "s", At: time.Date(2026, 3, 4, 5, 6, 7, 6, time.UTC),
		Kind: engine.KindRecv, Data: []byte{}, Len: 0}}},
	{"binary data", Record{Seq: 10, Event: engine.Event{Session: "s", At: time.Date(2026, 3, 4, 5, 6, 7, 7, time.UTC),
		Kind: engine.KindRecv, Data: allBytes(), Len: 256}}},
	{"truncated data", Record{Seq: 11, Event: engine.Event{Session: "s", At: time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC),
		Kind: engine.KindSend, Data: []byte{0xff, 0x00, 0x7f}, Len: 1 << 20, Truncated: true}}},
	{"error set", Record{Seq: 12, Event: engine.Event{Session: "s", At: time.Date(2026, 3, 4, 5, 6, 7, 9, time.UTC),
		Kind: engine.KindError, Err: &engine.SockErr{Errno: "ECONNREFUSED", Message: `connection "refused" <here> & \there`,
			Hint: "Rien n'écoute sur ce port.\n"}}}},
	{"empty error", Record{Seq: 13, Event: engine.Event{Session: "s", At: time.Date(2026, 3, 4, 5, 6, 7, 10, time.UTC),
		Kind: engine.KindError, Err: &engine.SockErr{}}}},
	{"empty meta", Record{Seq: 14, Event: engine.Event{Session: "s", At: time.Date(2026, 3, 4, 5, 6, 7, 11, time.UTC),
		Kind: engine.KindClose, Meta: map[string]any{}}}},
	{"nested meta with numbers", Record{Seq: 15, Event: engine.Event{Session: "s",
		At: time.Date(2026, 3, 4, 5, 6, 7, 12, time.UTC), Kind: engine.KindServerStart,
		Meta: map[string]any{
			"above 2^53": int64(1)<<53 + 1,
			"max int64":  int64(math.MaxInt64),
			"min int64":  int64(math.MinInt64),
			"max uint64": uint64(math.MaxUint64),
			"float":      0.1,
			"huge":       1e300,
			"negative":   -42,
			"exact":      json.Number("123456789012345678901234567890"),
			"html":       "<b>&</b>",
			"none":       nil,
			"flag":       true,
			"options": map[string]any{
				"delay_ms": 1.5,
				"ids":      []any{int64(1)<<62 + 7, "x", nil, []any{}},
				"deeper":   map[string]any{"count": uint32(7), "empty": map[string]any{}},
			},
		}}}},
	{"non-UTC zone crossing the date line", Record{Seq: 16, Event: engine.Event{Session: "s",
		At: time.Date(2026, 1, 1, 0, 30, 0, 999, zoneIndia), Kind: engine.KindRecv}}},
	{"zone +14:00", Record{Seq: 17, Event: engine.Event{Session: "s",
		At: time.Date(2024, 3, 1, 5, 0, 0, 1, zoneKiribat), Kind: engine.KindRecv}}},
	{"zone -12:00", Record{Seq: 18, Event: engine.Event{Session: "s",
		At: time.Date(2025, 12, 31, 12, 0, 0, 999999999, zoneBaker), Kind: engine.KindRecv}}},
	{"zone with seconds", Record{Seq: 19, Event: engine.Event{Session: "s",
		At: time.Date(2026, 6, 1, 0, 0, 0, 0, zoneOdd), Kind: engine.KindRecv}}},
	{"zero nanoseconds", Record{Seq: 20, Event: engine.Event{Session: "s",
		At: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), Kind: engine.KindRecv}}},
	{"monotonic local now", Record{Seq: 21, Event: engine.Event{Session: "s", At: time.Now(), Kind: engine.KindRecv}}},
	{"year 1", Record{Seq: 22, Event: engine.Event{Session: "s",
		At: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), Kind: engine.KindRecv}}},
	{"year 9999 last nanosecond", Record{Seq: 23, Event: engine.Event{Session: "s",
		At: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), Kind: engine.KindRecv}}},
	{"year 10000 locally, 9999 in UTC", Record{Seq: 24, Event: engine.Event{Session: "s",
		At: time.Date(10000, 1, 1, 0, 59, 0, 0, time.FixedZone("CET", 3600)), Kind: engine.KindRecv}}},
	{"year 10000 (fallback path)", Record{Seq: 25, Event: engine.Event{Session: "s",
		At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Kind: engine.KindRecv}}},
	{"year 123456 (fallback path)", Record{Seq: 26, Event: engine.Event{Session: "s",
		At: time.Date(123456, 7, 8, 9, 10, 11, 12, zoneIndia), Kind: engine.KindRecv}}},
	{"largest seq and len", Record{Seq: math.MaxInt64, Event: engine.Event{Session: "s",
		At: time.Date(2026, 3, 4, 5, 6, 7, 13, time.UTC), Kind: engine.KindRecv, Len: math.MaxInt32}}},
}

// TestAppendRecordMatchesEncodingJSON: the hand-written encoder writes the
// same event JSON as encoding/json does for wireEvent, key for key and in
// wireEvent's order.
func TestAppendRecordMatchesEncodingJSON(t *testing.T) {
	for _, tt := range encodingCases {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rec
			got := appendRecord(nil, &r)
			checkAPIJSON(t, got, tt.rec.Seq, tt.rec.Event)
		})
	}
}

// TestAppendRecordAppendsAfterExistingBytes: appendRecord appends; it keeps
// what the buffer already holds (a chunk's earlier events).
func TestAppendRecordAppendsAfterExistingBytes(t *testing.T) {
	for _, tt := range encodingCases {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rec
			alone := appendRecord(nil, &r)
			prefix := []byte(`[{"earlier":true},`)
			got := appendRecord(bytes.Clone(prefix), &r)
			if !bytes.Equal(got, append(bytes.Clone(prefix), alone...)) {
				t.Errorf("appendRecord(prefix) = %s, want prefix followed by %s", got, alone)
			}
		})
	}
}

// TestAppendRecordIsByteForByteEncodingJSON: beyond the same value,
// appendRecord writes the very bytes encoding/json does, escapes included
// (<, > and & as \u003c, \u003e and \u0026, U+2028 and U+2029 escaped), so
// that the event JSON stays safe to embed in HTML and script.
func TestAppendRecordIsByteForByteEncodingJSON(t *testing.T) {
	for _, tt := range encodingCases {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rec
			got := appendRecord(nil, &r)
			if want := referenceJSON(t, tt.rec); !bytes.Equal(got, want) {
				t.Errorf("appendRecord:\n got  %s\n want %s", got, want)
			}
			if i := bytes.IndexAny(got, "<>&\u2028\u2029"); i >= 0 {
				t.Errorf("unescaped %q at %d in %s", got[i:i+1], i, got)
			}
		})
	}
}

// inUTC8 is the string s after a trip through JSON: encoding/json replaces
// each invalid UTF-8 byte with U+FFFD.
func inUTC8(tb testing.TB, s string) string {
	tb.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		tb.Fatal(err)
	}
	var out string
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatal(err)
	}
	return out
}

// checkOnlyJSONNumbers fails if v holds a float64: meta numbers read back
// must be json.Number, so that 64-bit integers stay exact.
func checkOnlyJSONNumbers(tb testing.TB, path string, v any) {
	tb.Helper()
	switch v := v.(type) {
	case float64:
		tb.Errorf("meta%s = float64 %v, want a json.Number", path, v)
	case map[string]any:
		for k, x := range v {
			checkOnlyJSONNumbers(tb, path+"."+k, x)
		}
	case []any:
		for i, x := range v {
			checkOnlyJSONNumbers(tb, fmt.Sprintf("%s[%d]", path, i), x)
		}
	}
}

// inRFC3339 reports whether t's UTC year can be written in RFC 3339 (four
// digits), the only times the event JSON can carry; see
// TestRecordJSONRoundTripsTimesOutsideFourDigitYears.
func inRFC3339(t time.Time) bool {
	y := t.UTC().Year()
	return y >= 0 && y <= 9999
}

// TestRecordUnmarshalJSONRoundTripsAppendRecord: what appendRecord writes,
// Record.UnmarshalJSON reads back as the same record: strings as JSON
// carries them, the same instant in UTC, data byte for byte (nil stays nil,
// empty stays empty), the error, and meta with exact numbers.
func TestRecordUnmarshalJSONRoundTripsAppendRecord(t *testing.T) {
	for _, tt := range encodingCases {
		if !inRFC3339(tt.rec.At) {
			continue // TestRecordJSONRoundTripsTimesOutsideFourDigitYears
		}
		t.Run(tt.name, func(t *testing.T) {
			in := tt.rec
			b := appendRecord(nil, &in)
			var got Record
			if err := got.UnmarshalJSON(b); err != nil {
				t.Fatalf("UnmarshalJSON(%s): %v", b, err)
			}
			want := tt.rec
			if got.Seq != want.Seq {
				t.Errorf("Seq = %d, want %d", got.Seq, want.Seq)
			}
			for _, f := range []struct{ name, got, want string }{
				{"Session", got.Session, want.Session}, {"Server", got.Server, want.Server},
				{"Conn", got.Conn, want.Conn}, {"Kind", string(got.Kind), string(want.Kind)},
				{"Local", got.Local, want.Local}, {"Remote", got.Remote, want.Remote},
			} {
				if w := inUTC8(t, f.want); f.got != w {
					t.Errorf("%s = %q, want %q", f.name, f.got, w)
				}
			}
			if !got.At.Equal(want.At) || got.At.Location() != time.UTC {
				t.Errorf("At = %v (%v), want %v in UTC", got.At, got.At.Location(), want.At)
			}
			if !bytes.Equal(got.Data, want.Data) || (got.Data == nil) != (want.Data == nil) {
				t.Errorf("Data = %#v, want %#v", got.Data, want.Data)
			}
			if got.Len != want.Len || got.Truncated != want.Truncated {
				t.Errorf("Len, Truncated = %d, %v; want %d, %v", got.Len, got.Truncated, want.Len, want.Truncated)
			}
			var wantErr *engine.SockErr
			if want.Err != nil {
				e := *want.Err
				e.Message, e.Hint, e.Errno = inUTC8(t, e.Message), inUTC8(t, e.Hint), inUTC8(t, e.Errno)
				wantErr = &e
			}
			if !reflect.DeepEqual(got.Err, wantErr) {
				t.Errorf("Err = %#v, want %#v", got.Err, wantErr)
			}
			if len(want.Meta) == 0 {
				if got.Meta != nil {
					t.Errorf("Meta = %#v, want nil (an empty meta is null)", got.Meta)
				}
				return
			}
			checkOnlyJSONNumbers(t, "", any(got.Meta))
			gotMeta, err := json.Marshal(got.Meta)
			if err != nil {
				t.Fatal(err)
			}
			wantMeta, err := json.Marshal(want.Meta)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(decodeExact(t, gotMeta), decodeExact(t, wantMeta)) {
				t.Errorf("Meta = %s, want %s", gotMeta, wantMeta)
			}
		})
	}
}

// A time whose UTC year is outside 0..9999 (which RFC 3339 cannot write) is
// written as time.Format does ("10000-01-01T...", "-0001-01-01T...") and
// must read back: otherwise one such event would make every page of its
// chunk unreadable.
func TestRecordJSONRoundTripsTimesOutsideFourDigitYears(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(123456, 7, 8, 9, 10, 11, 12, zoneIndia),
		time.Date(-1, 12, 31, 23, 59, 59, 999999999, time.UTC),
	} {
		t.Run(at.UTC().Format(TimeLayout), func(t *testing.T) {
			in := Record{Seq: 1, Event: engine.Event{Session: "s", At: at, Kind: engine.KindRecv}}
			b := appendRecord(nil, &in)
			var got Record
			if err := got.UnmarshalJSON(b); err != nil {
				t.Fatalf("UnmarshalJSON(appendRecord(r)) failed for At %v: %v\n%s", at, err, b)
			}
			if !got.At.Equal(at) {
				t.Errorf("At = %v, want %v", got.At, at)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// 2. appendTime against time.Format

// TestAppendTimeMatchesFormat: appendTime writes exactly what
// t.UTC().Format(TimeLayout) does, for edge cases and for a fixed
// pseudo-random set of instants from 1970 to 2200 in various zones.
func TestAppendTimeMatchesFormat(t *testing.T) {
	times := []time.Time{
		{}, // year 1
		time.Unix(0, 0),
		time.Unix(0, 1),
		time.Unix(-1, 0),
		time.Date(1970, 1, 1, 0, 0, 0, 999999999, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC), // leap day
		time.Date(2000, 2, 29, 12, 0, 0, 0, time.UTC),           // leap day of a century
		time.Date(2100, 2, 28, 23, 59, 59, 999999999, time.UTC), // 2100 is no leap year
		time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 3, 1, 0, 30, 0, 0, zoneKiribat), // Feb 29 in UTC
		time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2027, 1, 1, 5, 29, 59, 999999999, zoneIndia), // still 2026 in UTC
		time.Date(2026, 12, 31, 12, 0, 0, 1, zoneBaker),        // already 2027 in UTC
		time.Date(2199, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(999, 9, 9, 9, 9, 9, 9, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), // fallback path
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),    // fallback path
		time.Date(2026, 6, 15, 12, 0, 0, 500, zoneOdd),
		time.Now(),
	}
	zones := []*time.Location{time.UTC, zoneIndia, zoneKiribat, zoneBaker, zoneOdd, time.Local}
	rng := rand.New(rand.NewPCG(20260101, 42))
	from := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	to := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	for range 20000 {
		ns := rng.Int64N(1_000_000_000)
		switch rng.IntN(4) { // the fraction's extremes are where digits go wrong
		case 0:
			ns = 0
		case 1:
			ns = 999_999_999
		}
		at := time.Unix(from+rng.Int64N(to-from), ns).In(zones[rng.IntN(len(zones))])
		times = append(times, at)
	}
	for _, at := range times {
		want := at.UTC().Format(TimeLayout)
		if got := string(appendTime(nil, at)); got != want {
			t.Errorf("appendTime(%v) = %q, want %q", at, got, want)
		}
		if got := string(appendTime([]byte(`"at":"`), at)); got != `"at":"`+want {
			t.Errorf("appendTime after a prefix, %v = %q, want %q", at, got, `"at":"`+want)
		}
		// The second call above used the second it kept; another instant
		// of the same second does too.
		same := at.Add(time.Duration(999_999_999 - at.Nanosecond()))
		if got, want := string(appendTime(nil, same)), same.UTC().Format(TimeLayout); got != want {
			t.Errorf("appendTime(%v), in the second just written = %q, want %q", same, got, want)
		}
	}
}

// ---------------------------------------------------------------------------
// Chunks through the real Recorder

// chunkRow is one row of event_chunks, with what SQLite itself says of its
// array (length in events and in bytes).
type chunkRow struct {
	first, last     int64
	firstAt, lastAt int64
	lifecycle       int
	events          int // json_array_length of sockplay_events
	bytes           int // length of that JSON text
}

// chunkRows reads the event_chunks rows of session, by first seq.
func chunkRows(tb testing.TB, st *Store, session string) []chunkRow {
	tb.Helper()
	rows, err := st.db.Query(`SELECT first_seq, last_seq, first_at, last_at, COALESCE(json_array_length(lifecycle), 0),
		json_array_length(sockplay_events(first_seq, events)), length(sockplay_events(first_seq, events))
		FROM event_chunks WHERE session_id = ? ORDER BY first_seq`, session)
	if err != nil {
		tb.Fatalf("read chunks of %s: %v", session, err)
	}
	defer rows.Close()
	var out []chunkRow
	for rows.Next() {
		var c chunkRow
		if err := rows.Scan(&c.first, &c.last, &c.firstAt, &c.lastAt, &c.lifecycle, &c.events, &c.bytes); err != nil {
			tb.Fatal(err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// checkChunks fails unless the chunks of a session cover seqs 1..total
// contiguously, each holding last-first+1 events (at most chunkMaxEvents),
// and their times are those of their first and last events (eventAt(seq)).
func checkChunks(tb testing.TB, session string, chunks []chunkRow, total int64, eventAt func(seq int64) time.Time) {
	tb.Helper()
	next := int64(1)
	for i, c := range chunks {
		if c.first != next {
			tb.Fatalf("session %s chunk %d: first_seq %d, want %d (chunks must follow each other)", session, i, c.first, next)
		}
		if c.last < c.first {
			tb.Fatalf("session %s chunk %d: last_seq %d before first_seq %d", session, i, c.last, c.first)
		}
		if n := c.last - c.first + 1; int64(c.events) != n {
			tb.Errorf("session %s chunk %d (seqs %d..%d): array of %d events, want %d", session, i, c.first, c.last, c.events, n)
		}
		if c.events > chunkMaxEvents {
			tb.Errorf("session %s chunk %d: %d events, more than %d", session, i, c.events, chunkMaxEvents)
		}
		if want := eventAt(c.first).UnixNano(); c.firstAt != want {
			tb.Errorf("session %s chunk %d: first_at %d, want %d (seq %d)", session, i, c.firstAt, want, c.first)
		}
		if want := eventAt(c.last).UnixNano(); c.lastAt != want {
			tb.Errorf("session %s chunk %d: last_at %d, want %d (seq %d)", session, i, c.lastAt, want, c.last)
		}
		next = c.last + 1
	}
	if next != total+1 {
		tb.Fatalf("session %s: chunks cover seqs 1..%d, want 1..%d", session, next-1, total)
	}
}

// blockWriter takes SQLite's write lock in a transaction of its own, so the
// recorder's next commit waits for it (busy_timeout) and events emitted
// meanwhile pile up in its queue: whatever is emitted before release lands
// in at most two batches. release lets the recorder go on; it is also a
// cleanup, so a failing test does not leave the recorder waiting.
func blockWriter(tb testing.TB, st *Store) (release func()) {
	tb.Helper()
	tx, err := st.db.BeginTx(context.Background(), nil) // BEGIN IMMEDIATE (see DSN)
	if err != nil {
		tb.Fatalf("take the write lock: %v", err)
	}
	var once sync.Once
	release = func() { once.Do(func() { tx.Rollback() }) }
	tb.Cleanup(release)
	return release
}

// variedEvent is event i of who in session: mostly recv events like
// recvEvent's, but every fifth is a truncated send, one has big meta
// numbers, one an error without data, one a time in another zone.
func variedEvent(session, who string, i int) engine.Event {
	ev := recvEvent(session, who, i)
	switch i % 5 {
	case 1:
		ev.Kind, ev.Len, ev.Truncated = engine.KindSend, ev.Len+100, true
	case 2:
		ev.Meta = map[string]any{"i": i, "big": int64(1)<<53 + int64(i), "who": who + " <é>"}
	case 3:
		ev.Kind, ev.Data, ev.Len = engine.KindError, nil, 0
		ev.Err = &engine.SockErr{Errno: "ECONNRESET", Message: fmt.Sprintf("reset #%d", i), Hint: "The peer \"went\" away."}
	case 4:
		ev.At = ev.At.In(zoneIndia)
	}
	return ev
}

// apiEvents checks pages of a session whose event seq s was emitted as
// eventOf(s). The first time it sees a seq it checks the record's JSON
// against encoding/json's (checkAPIJSON); after that, that the JSON is the
// same bytes, which keeps paging tests with thousands of pages fast.
type apiEvents struct {
	eventOf  func(seq int64) engine.Event
	verified map[int64][]byte
}

func newAPIEvents(eventOf func(seq int64) engine.Event) *apiEvents {
	return &apiEvents{eventOf: eventOf, verified: map[int64][]byte{}}
}

// check fails unless recs are the events want (seqs in order), each with the
// event JSON the API must send and the fields it was emitted with.
func (a *apiEvents) check(tb testing.TB, what string, recs []Record, want []int64) {
	tb.Helper()
	if got := seqs(recs); !reflect.DeepEqual(got, want) {
		if len(got) > 12 || len(want) > 12 {
			tb.Fatalf("%s: %d seqs %v..., want %d seqs %v... (%s)", what, len(got), got[:min(len(got), 12)],
				len(want), want[:min(len(want), 12)], seqAnomalies(got))
		}
		tb.Fatalf("%s: seqs %v, want %v", what, got, want)
	}
	for i := range recs {
		r := &recs[i]
		ev := a.eventOf(r.Seq)
		if v, ok := a.verified[r.Seq]; !ok {
			checkAPIJSON(tb, r.JSON(), r.Seq, ev)
			a.verified[r.Seq] = bytes.Clone(r.JSON())
		} else if !bytes.Equal(r.JSON(), v) {
			tb.Fatalf("%s: seq %d: JSON\n %s\nwas\n %s", what, r.Seq, r.JSON(), v)
		}
		if !bytes.Equal(r.Data, ev.Data) || r.Conn != ev.Conn || !r.At.Equal(ev.At) || r.Kind != ev.Kind {
			tb.Fatalf("%s: seq %d decoded as %s %s %q at %v, want %s %s %q at %v", what, r.Seq,
				r.Kind, r.Conn, r.Data, r.At, ev.Kind, ev.Conn, ev.Data, ev.At)
		}
	}
}

// seqRange returns from..to (empty if to < from).
func seqRange(from, to int64) []int64 {
	out := []int64{}
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// emitInterleaved emits n varied events into session a and, interleaved,
// n/2 into session b while the writer is blocked (so they arrive in at most
// two batches), and flushes.
func emitInterleaved(t *testing.T, st *Store, rec *Recorder, a, b string, n int) {
	t.Helper()
	release := blockWriter(t, st)
	for i := range n {
		rec.Emit(variedEvent(a, "a", i))
		if i%2 == 0 {
			rec.Emit(variedEvent(b, "b", i/2))
		}
	}
	release()
	mustFlush(t, rec)
}

// TestRecorderChunksAreContiguousAndBounded emits 1000 events into one
// session and, interleaved, 500 into another: each session's chunks follow
// each other from seq 1, hold at most chunkMaxEvents events, and the
// session's count and last time are those of its last event.
func TestRecorderChunksAreContiguousAndBounded(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	a := mustCreate(t, st, "a")
	b := mustCreate(t, st, "b")
	const nA, nB = 1000, 500
	emitInterleaved(t, st, rec, a.ID, b.ID, nA)

	for _, s := range []struct {
		id, who string
		n       int64
	}{{a.ID, "a", nA}, {b.ID, "b", nB}} {
		at := func(seq int64) time.Time { return variedEvent(s.id, s.who, int(seq-1)).At }
		chunks := chunkRows(t, st, s.id)
		checkChunks(t, s.who, chunks, s.n, at)
		// At most two batches (blockWriter), so one of them holds at least
		// half the session's events: with 2*chunkMaxEvents or more, a chunk
		// was cut at the event limit (the limit is reached, not just
		// respected). Session b's 500 may split 250/250.
		full := 0
		for _, c := range chunks {
			if c.events == chunkMaxEvents {
				full++
			}
		}
		if s.n >= 2*chunkMaxEvents && full == 0 {
			t.Errorf("session %s: %d events in at most two batches, but no chunk holds %d events: chunk sizes %v",
				s.who, s.n, chunkMaxEvents, chunks)
		}
		sess, err := st.GetSession(context.Background(), s.id)
		if err != nil {
			t.Fatal(err)
		}
		if sess.Events != s.n || !sess.LastAt.Equal(at(s.n)) {
			t.Errorf("GetSession(%s) = %d events, last at %v; want %d, %v", s.who, sess.Events, sess.LastAt, s.n, at(s.n))
		}
		if got := countRows(t, st, s.id); got != int(s.n) {
			t.Errorf("events view: %d rows of session %s, want %d", got, s.who, s.n)
		}
	}
	list, _, err := st.ListSessions(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, s := range list {
		counts[s.ID] = s.Events
	}
	if counts[a.ID] != nA || counts[b.ID] != nB {
		t.Errorf("ListSessions counts a=%d b=%d, want %d and %d", counts[a.ID], counts[b.ID], nA, nB)
	}
}

// TestLiveJSONOfChunkedEventsMatchesStored: the JSON a live subscriber
// receives (a slice of the chunk being built) is, event for event across
// chunk boundaries, the JSON the store returns and the API must send.
func TestLiveJSONOfChunkedEventsMatchesStored(t *testing.T) {
	st := mustOpen(t)
	hub := NewHub(4000)
	rec := newRecorder(t, st, hub, RecorderConfig{})
	a := mustCreate(t, st, "a")
	b := mustCreate(t, st, "b")
	subA, subB := hub.Subscribe(a.ID), hub.Subscribe(b.ID)
	defer hub.Unsubscribe(subA)
	defer hub.Unsubscribe(subB)
	const nA, nB = 700, 350
	emitInterleaved(t, st, rec, a.ID, b.ID, nA)

	for _, s := range []struct {
		id, who string
		n       int
		sub     *Subscriber
	}{{a.ID, "a", nA, subA}, {b.ID, "b", nB, subB}} {
		live := collect(t, s.sub, s.n)
		stored := allEvents(t, st, s.id)
		api := newAPIEvents(func(seq int64) engine.Event { return variedEvent(s.id, s.who, int(seq-1)) })
		api.check(t, "stored "+s.who, stored, seqRange(1, int64(s.n)))
		api.check(t, "live "+s.who, live, seqRange(1, int64(s.n))) // the same bytes as stored
	}
}

// TestEventsPagingAcrossChunkBoundaries pages through sessions stored in
// many chunks, after and before every chunk boundary with various limits:
// every page holds exactly the expected seqs, each with the event JSON the
// API must send.
func TestEventsPagingAcrossChunkBoundaries(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	a := mustCreate(t, st, "a")
	b := mustCreate(t, st, "b")
	// Three rounds of 600, 100 and 100 events of a (and half as many of
	// b), so chunks are cut by the event limit (a round of 600 comes in at
	// most two batches, one of them 300 or more) and by batches.
	const nA, nB = 800, 400
	for _, round := range [][2]int{{0, 600}, {600, 700}, {700, 800}} {
		release := blockWriter(t, st)
		for i := round[0]; i < round[1]; i++ {
			rec.Emit(variedEvent(a.ID, "a", i))
			if i%2 == 0 {
				rec.Emit(variedEvent(b.ID, "b", i/2))
			}
		}
		release()
		mustFlush(t, rec)
	}

	for _, s := range []struct {
		id, who string
		n       int64
	}{{a.ID, "a", nA}, {b.ID, "b", nB}} {
		eventOf := func(seq int64) engine.Event { return variedEvent(s.id, s.who, int(seq-1)) }
		api := newAPIEvents(eventOf)
		at := func(seq int64) time.Time { return eventOf(seq).At }
		chunks := chunkRows(t, st, s.id)
		checkChunks(t, s.who, chunks, s.n, at)
		if len(chunks) < 3 {
			t.Fatalf("session %s: %d chunks; the test needs several boundaries", s.who, len(chunks))
		}

		// Seqs around every boundary, and the ends.
		points := map[int64]bool{0: true, 1: true, 2: true, s.n - 1: true, s.n: true, s.n + 1: true, s.n + 50: true}
		for _, c := range chunks {
			for _, p := range []int64{c.last - 1, c.last, c.last + 1} {
				points[p] = true
			}
		}
		// Every limit around every boundary; pages of the maximum size
		// (decoding the whole session) from a few points only.
		type page struct {
			after, before int64
			limit         int
		}
		var pages []page
		for p := range points {
			limits := []int{1, 7, 256, 300}
			if p <= 2 || p >= s.n-1 || p == chunks[len(chunks)/2].last {
				limits = append(limits, MaxEventsPage, 0)
			}
			for _, limit := range limits {
				pages = append(pages, page{after: p, limit: limit})
				if p > 0 { // before <= 0 means "no before"
					pages = append(pages, page{before: p, limit: limit})
				}
			}
		}
		t.Run(s.who+"/pages", func(t *testing.T) {
			for _, q := range pages {
				what := fmt.Sprintf("Events(after=%d, before=%d, limit=%d)", q.after, q.before, q.limit)
				recs, err := st.Events(context.Background(), s.id, q.after, q.before, q.limit)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				api.check(t, what, recs, expectedSeqs(q.after, q.before, q.limit, s.n))
			}
		})
		t.Run(s.who+"/walk", func(t *testing.T) {
			for _, limit := range []int{7, 300} {
				// Forward, as a client catching up does.
				var fwd []Record
				for after := int64(0); ; {
					page, err := st.Events(context.Background(), s.id, after, 0, limit)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) == 0 {
						break
					}
					fwd = append(fwd, page...)
					after = page[len(page)-1].Seq
				}
				api.check(t, fmt.Sprintf("forward walk by %d", limit), fwd, seqRange(1, s.n))
				// Backward, as a client scrolling into history does.
				var back []Record
				for before := s.n + 1; before > 1; {
					page, err := st.Events(context.Background(), s.id, 0, before, limit)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) == 0 {
						t.Fatalf("backward walk by %d: empty page before %d", limit, before)
					}
					back = append(page, back...)
					before = page[0].Seq
				}
				api.check(t, fmt.Sprintf("backward walk by %d", limit), back, seqRange(1, s.n))
			}
		})
	}
}

// bigEvent is event i of a session with size bytes of pseudo-random data.
func bigEvent(session string, i, size int) engine.Event {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	data := make([]byte, size)
	for j := range data {
		data[j] = byte(rng.Uint32())
	}
	return engine.Event{Session: session, Server: "srv-big", Conn: "c-big", Kind: engine.KindRecv,
		At: time.Unix(1_700_000_000, int64(i)).UTC(), Local: "127.0.0.1:20000", Remote: "127.0.0.1:40000",
		Data: data, Len: size}
}

// TestRecorderSplitsChunksBySize emits events of 60 KiB each: chunks are cut
// at chunkMaxBytes (never more than one event past it), and every byte of
// data reads back as it was sent.
func TestRecorderSplitsChunksBySize(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	sess := mustCreate(t, st, "big")
	const n, size = 30, 60 << 10
	var maxEvent, total int
	for i := range n {
		r := Record{Seq: int64(i + 1), Event: bigEvent(sess.ID, i, size)}
		l := len(appendRecord(nil, &r))
		maxEvent = max(maxEvent, l)
		total += l + 1
	}
	release := blockWriter(t, st)
	for i := range n {
		rec.Emit(bigEvent(sess.ID, i, size))
	}
	release()
	mustFlush(t, rec)

	eventOf := func(seq int64) engine.Event { return bigEvent(sess.ID, int(seq-1), size) }
	api := newAPIEvents(eventOf)
	chunks := chunkRows(t, st, sess.ID)
	checkChunks(t, "big", chunks, n, func(seq int64) time.Time { return eventOf(seq).At })
	limit := chunkMaxBytes + maxEvent + 2 // the brackets
	small := 0
	for i, c := range chunks {
		if c.bytes > limit {
			t.Errorf("chunk %d (seqs %d..%d): %d bytes, more than %d (chunkMaxBytes and one event)", i, c.first, c.last, c.bytes, limit)
		}
		if c.bytes <= chunkMaxBytes {
			small++
		}
	}
	// Only the last chunk of each batch may stay below the limit, and
	// blockWriter made at most two batches.
	if small > 2 {
		t.Errorf("%d chunks below %d bytes (sizes %v): chunks are cut before they are full", small, chunkMaxBytes, chunks)
	}
	if min := (total + limit - 1) / limit; len(chunks) < min {
		t.Errorf("%d chunks for %d bytes of events, want at least %d", len(chunks), total, min)
	}
	recs := allEvents(t, st, sess.ID)
	api.check(t, "all events", recs, seqRange(1, n))
	// And paging inside and across the big chunks.
	for _, after := range []int64{0, 3, 4, 5, 17, 29} {
		page, err := st.Events(context.Background(), sess.ID, after, 0, 2)
		if err != nil {
			t.Fatal(err)
		}
		api.check(t, fmt.Sprintf("Events(after=%d, limit=2)", after), page, seqRange(after+1, min(after+2, n)))
	}
}

// ---------------------------------------------------------------------------
// 4. The events view

// TestEventsViewShowsOneRowPerEvent reads a recorded session with plain SQL
// through the events view: one row per event, across chunks, with the
// fields of each event (data as base64, truncated as 0/1, meta as JSON).
func TestEventsViewShowsOneRowPerEvent(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	sess := mustCreate(t, st, "view")
	other := mustCreate(t, st, "other")
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	special := []engine.Event{
		{Server: "srv-1", Conn: "c-1", Kind: engine.KindRecv, Data: allBytes(), Len: 256,
			Meta: map[string]any{"x": "text <&>"}},
		{Server: "srv-1", Conn: "c-1", Kind: engine.KindSend, Data: []byte("abc"), Len: 100, Truncated: true,
			Meta: map[string]any{"x": int64(1)<<53 + 1}},
		{Server: "cli-2", Conn: "c-2", Kind: engine.KindError,
			Err: &engine.SockErr{Errno: "ECONNREFUSED", Message: "connection refused"}, Meta: map[string]any{"x": 1.5}},
		{Server: "srv-1", Conn: "c-1", Kind: engine.KindClose},
		{Server: "srv-1", Conn: "c-1", Kind: engine.KindRecv, Data: []byte{}, Meta: map[string]any{"y": 1}},
		{Server: "srv-1", Conn: "c-1", Kind: engine.KindOption, Meta: map[string]any{"x": int64(-7)}},
	}
	const fillers = 600 // so the special events sit in different chunks
	var evs []engine.Event
	evs = append(evs, special...)
	for i := range fillers {
		evs = append(evs, recvEvent(sess.ID, "fill", i))
	}
	evs = append(evs, special...)
	for i, ev := range evs {
		ev.Session = sess.ID
		if ev.At.IsZero() {
			ev.At = at.Add(time.Duration(i))
		}
		evs[i] = ev
		rec.Emit(ev)
		if i%100 == 0 {
			rec.Emit(recvEvent(other.ID, "other", i))
		}
		if i == len(evs)/2 {
			mustFlush(t, rec) // a second batch: chunks of both
		}
	}
	mustFlush(t, rec)
	if chunks := chunkRows(t, st, sess.ID); len(chunks) < 3 {
		t.Fatalf("%d chunks; the test needs events spread over several", len(chunks))
	}

	rows, err := st.db.Query(`SELECT seq, kind, server, conn, len, data, truncated, errno, json_extract(meta, '$.x')
		FROM events WHERE session_id = ? ORDER BY seq`, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for ; rows.Next(); i++ {
		var (
			seq, length, truncated int64
			kind, server, conn     string
			data, errno            sql.NullString
			x                      any
		)
		if err := rows.Scan(&seq, &kind, &server, &conn, &length, &data, &truncated, &errno, &x); err != nil {
			t.Fatal(err)
		}
		if i >= len(evs) {
			t.Fatalf("row %d (seq %d): more rows than the %d events", i, seq, len(evs))
		}
		ev := evs[i]
		if seq != int64(i+1) {
			t.Fatalf("row %d: seq %d, want %d", i, seq, i+1)
		}
		if kind != string(ev.Kind) || server != ev.Server || conn != ev.Conn || length != int64(ev.Len) {
			t.Errorf("seq %d: kind, server, conn, len = %s, %s, %s, %d; want %s, %s, %s, %d",
				seq, kind, server, conn, length, ev.Kind, ev.Server, ev.Conn, ev.Len)
		}
		wantData := sql.NullString{String: base64.StdEncoding.EncodeToString(ev.Data), Valid: ev.Data != nil}
		if data != wantData {
			t.Errorf("seq %d: data %+v, want %+v (base64, NULL when nil)", seq, data, wantData)
		}
		if wantTrunc := map[bool]int64{false: 0, true: 1}[ev.Truncated]; truncated != wantTrunc {
			t.Errorf("seq %d: truncated %d, want %d", seq, truncated, wantTrunc)
		}
		wantErrno := sql.NullString{}
		if ev.Err != nil {
			wantErrno = sql.NullString{String: ev.Err.Errno, Valid: true}
		}
		if errno != wantErrno {
			t.Errorf("seq %d: errno %+v, want %+v", seq, errno, wantErrno)
		}
		wantX := ev.Meta["x"]
		if v, ok := wantX.(int64); ok {
			wantX = v // SQLite's integers are int64: exact above 2^53
		}
		if !reflect.DeepEqual(x, wantX) {
			t.Errorf("seq %d: json_extract(meta, '$.x') = %#v, want %#v", seq, x, wantX)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if i != len(evs) {
		t.Errorf("the events view has %d rows of the session, want %d", i, len(evs))
	}
}

// ---------------------------------------------------------------------------
// 5. RecordedServers over many chunks

// TestRecordedServersAcrossManyChunks spreads lifecycle events over a long
// recording, thousands of recv events apart: RecordedServers finds them all,
// and each chunk lists exactly its own lifecycle events (NULL for none).
func TestRecordedServersAcrossManyChunks(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	sess := mustCreate(t, st, "servers")
	base := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	i := 0
	emit := func(ev engine.Event) time.Time {
		ev.Session = sess.ID
		ev.At = base.Add(time.Duration(i) * time.Microsecond)
		i++
		rec.Emit(ev)
		return ev.At
	}
	traffic := func(n int) {
		for range n {
			emit(engine.Event{Server: "srv-1", Conn: "c-1", Kind: engine.KindRecv, Data: []byte("ping"), Len: 4})
		}
	}
	start1 := emit(engine.Event{Server: "srv-1", Kind: engine.KindServerStart, Local: "127.0.0.1:20001",
		Meta: map[string]any{"kind": "tcp-echo", "name": "echo one", "options": map[string]any{"mode": "upper", "delay_ms": 5}}})
	traffic(2000)
	connect := emit(engine.Event{Server: "cli-1", Kind: engine.KindConnect, Local: "127.0.0.1:40001",
		Meta: map[string]any{"client": "tcp", "target": "127.0.0.1:20001"}})
	traffic(1500)
	mustFlush(t, rec) // and across batches
	traffic(1000)
	start2 := emit(engine.Event{Server: "srv-2", Kind: engine.KindServerStart, Local: "127.0.0.1:20002",
		Meta: map[string]any{"kind": "udp-echo", "name": ""}})
	traffic(3000)
	stop1 := emit(engine.Event{Server: "srv-1", Kind: engine.KindServerStop, Local: "127.0.0.1:20001"})
	traffic(700)
	mustFlush(t, rec)

	servers, clients, err := st.RecordedServers(context.Background(), sess.ID)
	if err != nil {
		t.Fatalf("RecordedServers: %v", err)
	}
	wantServers := []Endpoint{
		{ID: "srv-1", Kind: "tcp-echo", Name: "echo one", Addr: "127.0.0.1:20001", Stopped: true, StoppedAt: stop1, At: start1,
			Options: map[string]any{"mode": "upper", "delay_ms": json.Number("5")}},
		{ID: "srv-2", Kind: "udp-echo", Addr: "127.0.0.1:20002", At: start2},
	}
	wantClients := []Endpoint{{ID: "cli-1", Kind: "tcp", Target: "127.0.0.1:20001", Addr: "127.0.0.1:40001", At: connect}}
	if !reflect.DeepEqual(servers, wantServers) {
		t.Errorf("servers:\n got  %+v\n want %+v", servers, wantServers)
	}
	if !reflect.DeepEqual(clients, wantClients) {
		t.Errorf("clients:\n got  %+v\n want %+v", clients, wantClients)
	}

	// The lifecycle column holds exactly the chunk's server-start,
	// server-stop and connect events (NULL for none), in order.
	rows, err := st.db.Query(`SELECT c.first_seq, COALESCE(json_array_length(c.lifecycle), 0),
		(SELECT COUNT(*) FROM json_each(sockplay_events(c.first_seq, c.events)) AS e
		 WHERE e.value ->> 'kind' IN ('server-start', 'server-stop', 'connect')),
		COALESCE(json(c.lifecycle), '[]') = (SELECT json_group_array(json(e.value)) FROM json_each(sockplay_events(c.first_seq, c.events)) AS e
		 WHERE e.value ->> 'kind' IN ('server-start', 'server-stop', 'connect'))
		FROM event_chunks AS c WHERE c.session_id = ? ORDER BY c.first_seq`, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var chunks, withLifecycle, sum int
	for rows.Next() {
		var first int64
		var lifecycle, actual int
		var same bool
		if err := rows.Scan(&first, &lifecycle, &actual, &same); err != nil {
			t.Fatal(err)
		}
		chunks++
		if lifecycle != actual || !same {
			t.Errorf("chunk at seq %d: %d lifecycle events listed (the same ones: %v), but it holds %d", first, lifecycle, same, actual)
		}
		if lifecycle > 0 {
			withLifecycle++
		}
		sum += lifecycle
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if sum != 4 || withLifecycle != 4 {
		t.Errorf("%d lifecycle events in %d chunks, want 4 in 4 (they are thousands of events apart)", sum, withLifecycle)
	}
	if chunks < 8000/chunkMaxEvents {
		t.Errorf("%d chunks for %d events, want at least %d", chunks, i, 8000/chunkMaxEvents)
	}
}

// ---------------------------------------------------------------------------
// 6. Corrupted chunks

// corruptible records n events of variedEvent in a fresh session and returns
// the store, the session, and its chunks.
func corruptible(t *testing.T, n int) (*Store, string, []chunkRow) {
	t.Helper()
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	sess := mustCreate(t, st, "corrupt")
	release := blockWriter(t, st)
	for i := range n {
		rec.Emit(variedEvent(sess.ID, "c", i))
	}
	release()
	mustFlush(t, rec)
	chunks := chunkRows(t, st, sess.ID)
	// The chunk to corrupt has chunks before and after it and enough
	// events for the edits (a batch cut by timing can leave a chunk of one
	// event); it is returned as chunks[1], between its neighbours.
	for i := 1; i+1 < len(chunks); i++ {
		if chunks[i].events >= 20 {
			return st, sess.ID, []chunkRow{chunks[i-1], chunks[i], chunks[i+1]}
		}
	}
	t.Fatalf("chunks %+v: the test needs one of at least 20 events between two others", chunks)
	return nil, "", nil
}

// chunkEdit changes the events of a stored chunk. Events it leaves alone
// keep their bytes, so that pages of intact events still read exactly as
// the API sends them.
type chunkEdit func(evs []json.RawMessage) []json.RawMessage

// patchEvent returns ev after f changed its fields, with its keys still in
// wireEvent's order.
func patchEvent(t *testing.T, ev json.RawMessage, f func(map[string]any)) json.RawMessage {
	t.Helper()
	m, ok := decodeExact(t, ev).(map[string]any)
	if !ok {
		t.Fatalf("%s: not an object", ev)
	}
	f(m)
	out := []byte{'{'}
	for i, k := range wireEventKeys() {
		v, err := json.Marshal(m[k])
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = fmt.Appendf(out, "%q:%s", k, v)
	}
	return append(out, '}')
}

// shiftSeq adds d to an event's seq.
func shiftSeq(d int64) func(map[string]any) {
	return func(e map[string]any) {
		n, _ := e["seq"].(json.Number).Int64()
		e["seq"] = n + d
	}
}

// rewriteChunk replaces the stored body of session's chunk at first with
// body, or with the stored form of what edit makes of its events (read as
// sockplay_events gives them, seqs included; a seq in an edited event is
// dropped, as the stored form holds none).
func rewriteChunk(t *testing.T, st *Store, session string, first int64, body []byte, edit chunkEdit) {
	t.Helper()
	if edit != nil {
		var text string
		if err := st.db.QueryRow(`SELECT sockplay_events(first_seq, events) FROM event_chunks WHERE session_id = ? AND first_seq = ?`,
			session, first).Scan(&text); err != nil {
			t.Fatal(err)
		}
		var evs []json.RawMessage
		if err := json.Unmarshal([]byte(text), &evs); err != nil {
			t.Fatal(err)
		}
		var raw []byte
		for _, ev := range edit(evs) {
			tail := []byte(ev)
			if i := bytes.IndexByte(tail, ','); bytes.HasPrefix(tail, []byte(`{"seq":`)) && i > 0 {
				tail = tail[i+1:]
			} else if len(tail) > 0 && tail[0] == '{' {
				tail = tail[1:]
			}
			raw = append(append(raw, tail...), '\n')
		}
		body = encodeBody(nil, raw)
	}
	res, err := st.db.Exec(`UPDATE event_chunks SET events = ? WHERE session_id = ? AND first_seq = ?`, body, session, first)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("corrupted %d rows, want 1", n)
	}
}

// storedBody returns the stored body of session's chunk at first.
func storedBody(t *testing.T, st *Store, session string, first int64) []byte {
	t.Helper()
	var body []byte
	if err := st.db.QueryRow(`SELECT events FROM event_chunks WHERE session_id = ? AND first_seq = ?`, session, first).Scan(&body); err != nil {
		t.Fatal(err)
	}
	return body
}

// eventsOrPanic calls Store.Events, turning a panic into a test failure.
func eventsOrPanic(t *testing.T, st *Store, session string, after, before int64, limit int) (recs []Record, err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Events(after=%d, before=%d, limit=%d) panicked: %v", after, before, limit, p)
		}
	}()
	return st.Events(context.Background(), session, after, before, limit)
}

// expectedSeqs is what Store.Events(after, before, limit) must return of a
// session of n events.
func expectedSeqs(after, before int64, limit int, n int64) []int64 {
	l := int64(limit)
	if limit <= 0 || limit > MaxEventsPage {
		l = MaxEventsPage
	}
	if before > 0 {
		hi := min(before-1, n)
		return seqRange(max(1, hi-l+1), hi)
	}
	return seqRange(after+1, min(after+l, n))
}

// TestEventsReportsCorruptedChunk: a chunk whose text is not the events it
// claims to hold makes Store.Events fail, rather than panic or return wrong
// events, for any page that includes a corrupted event. Pages without one
// return the right events (or, if they read the chunk, may fail too).
func TestEventsReportsCorruptedChunk(t *testing.T) {
	// each applies f to every event of the chunk; at to the event at i
	// (negative: from the end).
	each := func(t *testing.T, f func(map[string]any)) chunkEdit {
		return func(evs []json.RawMessage) []json.RawMessage {
			for i := range evs {
				evs[i] = patchEvent(t, evs[i], f)
			}
			return evs
		}
	}
	at := func(t *testing.T, i int, f func(map[string]any)) chunkEdit {
		return func(evs []json.RawMessage) []json.RawMessage {
			evs[i] = patchEvent(t, evs[i], f)
			return evs
		}
	}
	const whole, last = -1, -2
	// damage returns the chunk's stored body after f changed a copy of it.
	damage := func(f func(b []byte) []byte) func(t *testing.T, st *Store, session string, first int64) []byte {
		return func(t *testing.T, st *Store, session string, first int64) []byte {
			return f(bytes.Clone(storedBody(t, st, session, first)))
		}
	}
	tests := []struct {
		name string
		body func(t *testing.T, st *Store, session string, first int64) []byte // the chunk's new body, or
		edit func(t *testing.T) chunkEdit                                      // an edit of its events
		bad  []int                                                             // indexes of the corrupted events (or whole, last)
	}{
		{"not a chunk", damage(func([]byte) []byte { return []byte("not json") }), nil, []int{whole}},
		{"empty", damage(func([]byte) []byte { return []byte{} }), nil, []int{whole}},
		{"cut in half", damage(func(b []byte) []byte { return b[:len(b)/2] }), nil, []int{whole}},
		{"one byte changed", damage(func(b []byte) []byte { b[len(b)/2] ^= 0x20; return b }), nil, []int{whole}},
		{"checksum changed", damage(func(b []byte) []byte { b[2] ^= 1; return b }), nil, []int{whole}},
		{"events not JSON", nil, func(*testing.T) chunkEdit {
			return func(evs []json.RawMessage) []json.RawMessage {
				for i := range evs {
					evs[i] = json.RawMessage(`{not json}`)
				}
				return evs
			}
		}, []int{whole}},
		{"another session's events", nil, func(t *testing.T) chunkEdit {
			return each(t, func(e map[string]any) { e["session"] = "someone-else" })
		}, []int{whole}},
		{"an unreadable time", nil, func(t *testing.T) chunkEdit {
			return at(t, 0, func(e map[string]any) { e["at"] = "yesterday" })
		}, []int{0}},
		{"data not base64", nil, func(t *testing.T) chunkEdit {
			return at(t, 5, func(e map[string]any) { e["data"] = "!!not base64!!" })
		}, []int{5}},
		{"last event not an object", nil, func(*testing.T) chunkEdit {
			return func(evs []json.RawMessage) []json.RawMessage { evs[len(evs)-1] = json.RawMessage("{null"); return evs }
		}, []int{last}},
	}
	const n = 700
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, session, chunks := corruptible(t, n)
			c := chunks[1]
			var edit chunkEdit
			var body []byte
			if tt.edit != nil {
				edit = tt.edit(t)
			} else {
				body = tt.body(t, st, session, c.first)
			}
			rewriteChunk(t, st, session, c.first, body, edit)
			corrupted := map[int64]bool{}
			for _, i := range tt.bad {
				switch i {
				case whole:
					for s := c.first; s <= c.last; s++ {
						corrupted[s] = true
					}
				case last:
					corrupted[c.last] = true
				default:
					corrupted[c.first+int64(i)] = true
				}
			}
			api := newAPIEvents(func(seq int64) engine.Event { return variedEvent(session, "c", int(seq-1)) })
			for _, q := range []struct {
				after, before int64
				limit         int
			}{
				{0, 0, MaxEventsPage}, // from the start, through it
				{0, 0, 0},             // no limit
				{c.first - 1, 0, 1},   // its first event only
				{c.first + 2, 0, 3},   // inside it
				{c.last - 1, 0, 1},    // its last event only
				{c.last - 1, 0, 5},    // its last event and the next chunk
				{c.first - 3, 0, 5},   // into it from the chunk before
				{0, c.last + 1, 1},    // back to its last event
				{0, c.first + 1, 1},   // back to its first event
				{0, c.last + 3, 5},    // back into it from the next chunk
				{0, c.first + 12, 4},  // back to events inside it
				{0, n + 1, n},         // back from the end through it
				{0, c.first, 10},      // just before it
				{c.last, 0, 10},       // just after it
			} {
				want := expectedSeqs(q.after, q.before, q.limit, n)
				hit := false
				for _, s := range want {
					hit = hit || corrupted[s]
				}
				what := fmt.Sprintf("Events(after=%d, before=%d, limit=%d) with chunk %d..%d corrupted", q.after, q.before, q.limit, c.first, c.last)
				recs, err := eventsOrPanic(t, st, session, q.after, q.before, q.limit)
				switch {
				case err != nil && len(recs) != 0:
					t.Errorf("%s: failed (%v) but returned %d events", what, err, len(recs))
				case err == nil && hit:
					t.Errorf("%s: no error; %d events (seqs %v...) for a page with corrupted events", what, len(recs), seqs(recs)[:min(len(recs), 10)])
				case err == nil:
					api.check(t, what, recs, want)
				}
			}
		})
	}
}

// A chunk whose array holds fewer or more events than its row's seq range
// says is an error, as any other corrupted chunk: never a page with a hole
// in its seqs, or with seqs twice.
func TestEventsReportsChunkWithWrongNumberOfEvents(t *testing.T) {
	tests := []struct {
		name string
		edit chunkEdit
	}{
		{"no events", func([]json.RawMessage) []json.RawMessage { return nil }},
		{"last event missing", func(evs []json.RawMessage) []json.RawMessage { return evs[:len(evs)-1] }},
		{"one event extra", func(evs []json.RawMessage) []json.RawMessage { return append(evs, evs[len(evs)-1]) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, session, chunks := corruptible(t, 700)
			bad := chunks[1]
			rewriteChunk(t, st, session, bad.first, nil, tt.edit)
			recs, err := eventsOrPanic(t, st, session, 0, 0, MaxEventsPage)
			if err == nil {
				got := seqs(recs)
				t.Errorf("Events over chunk %d..%d holding the wrong number of events: no error; %d events for seqs 1..700 "+
					"(holes or duplicates: %s)", bad.first, bad.last, len(recs), seqAnomalies(got))
			}
		})
	}
}

// seqAnomalies describes the holes and duplicates of an ascending seq list
// that should be 1..n.
func seqAnomalies(got []int64) string {
	var out []string
	prev := int64(0)
	for _, s := range got {
		switch {
		case s == prev:
			out = append(out, fmt.Sprintf("%d twice", s))
		case s > prev+1:
			out = append(out, fmt.Sprintf("%d..%d missing", prev+1, s-1))
		}
		prev = s
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// The stored form round-trips: every encoding case (every field, escapes,
// truncated data, errors, meta with exact big numbers, odd times) and every
// event kind goes through the real recorder, and the live JSON, the stored
// JSON (RawEvents, Events, Scan and the events view) and appendRecord's
// JSON of the event as emitted are the same bytes; decoding gives the event
// back.
func TestStoredFormRoundTripsEveryCase(t *testing.T) {
	st := mustOpen(t)
	hub := NewHub(10000)
	rec := newRecorder(t, st, hub, RecorderConfig{})
	sess := mustCreate(t, st, "round trip")
	sub := hub.Subscribe(sess.ID)
	defer hub.Unsubscribe(sub)
	var sent []engine.Event
	for _, tt := range encodingCases {
		ev := tt.rec.Event
		ev.Session = sess.ID // the recorder files events under their session
		sent = append(sent, ev)
	}
	kinds := []engine.Kind{engine.KindServerStart, engine.KindServerStop, engine.KindListen, engine.KindAccept,
		engine.KindConnect, engine.KindRecv, engine.KindSend, engine.KindClose, engine.KindDatagramIn,
		engine.KindDatagramOut, engine.KindTLSHandshake, engine.KindProxyDial, engine.KindAppFrame,
		engine.KindHTTPRequest, engine.KindHTTPResponse, engine.KindOption, engine.KindTimeout, engine.KindRetry,
		engine.KindError, engine.KindFault, engine.KindLoss}
	for i, k := range kinds {
		sent = append(sent, engine.Event{Session: sess.ID, Server: "srv-k", Conn: "c-k", Kind: k, Net: "tcp",
			At: time.Date(2026, 12, 2, 0, 0, 0, i, time.UTC), Local: "127.0.0.1:20000", Remote: "[::1]:40000",
			Data: []byte{byte(i), 0, 0xff}, Len: 3, Meta: map[string]any{"kind": string(k), "n": i}})
	}
	for _, ev := range sent {
		rec.Emit(ev)
	}
	mustFlush(t, rec)
	live := collect(t, sub, len(sent))

	raws, err := st.RawEvents(testCtx(t), sess.ID, 0, 0, MaxEventsPage)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := st.Events(testCtx(t), sess.ID, 0, 0, MaxEventsPage)
	if err != nil {
		t.Fatal(err)
	}
	var scanned [][]byte
	if err := st.Scan(testCtx(t), sess.ID, 0, func(r *Record) error { scanned = append(scanned, r.JSON()); return nil }); err != nil {
		t.Fatal(err)
	}
	var scannedRaw [][]byte
	if err := st.ScanRaw(testCtx(t), sess.ID, 0, func(e RawEvent) error { scannedRaw = append(scannedRaw, e.AppendJSON(nil)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(raws) != len(sent) || len(decoded) != len(sent) || len(scanned) != len(sent) || len(scannedRaw) != len(sent) {
		t.Fatalf("%d sent; stored %d raw, %d decoded, %d scanned", len(sent), len(raws), len(decoded), len(scanned))
	}
	wantErrors := 0
	for _, ev := range sent {
		if ev.Err != nil {
			wantErrors++
		}
	}
	var errors int
	if err := st.db.QueryRow(`SELECT SUM(errors) FROM event_chunks WHERE session_id = ?`, sess.ID).Scan(&errors); err != nil ||
		errors != wantErrors {
		t.Errorf("the chunks count %d events with an error (%v), want %d", errors, err, wantErrors)
	}
	for i, ev := range sent {
		seq := int64(i + 1)
		in := Record{Seq: seq, Event: ev}
		want := appendRecord(nil, &in)
		var view string
		if err := st.db.QueryRow(`SELECT event FROM events WHERE session_id = ? AND seq = ?`, sess.ID, seq).Scan(&view); err != nil {
			t.Fatal(err)
		}
		for what, got := range map[string][]byte{"live": live[i].JSON(), "raw": raws[i].AppendJSON(nil),
			"decoded": decoded[i].JSON(), "scanned": scanned[i], "scanned raw": scannedRaw[i], "view": []byte(view)} {
			if !bytes.Equal(got, want) {
				t.Errorf("seq %d, %s JSON:\n got  %s\n want %s", seq, what, got, want)
			}
		}
		// Decoding gives the event back (times as instants, meta numbers
		// exact): encoding the decoded event again gives the same JSON
		// (the same values; invalid UTF-8, stored as \ufffd, comes back as
		// the replacement character itself).
		d := decoded[i]
		if !d.At.Equal(ev.At) || d.Kind != ev.Kind || d.Len != ev.Len || !bytes.Equal(d.Data, ev.Data) ||
			d.Truncated != ev.Truncated || d.Session != ev.Session {
			t.Errorf("seq %d decoded as %+v, want %+v", seq, d.Event, ev)
		}
		again := Record{Seq: seq, Event: d.Event}
		if got := appendRecord(nil, &again); !reflect.DeepEqual(decodeExact(t, got), decodeExact(t, want)) {
			t.Errorf("seq %d re-encoded after decoding:\n got  %s\n want %s", seq, got, want)
		}
	}
}
