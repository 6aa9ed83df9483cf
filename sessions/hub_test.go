package sessions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// TestLiveRecordsAreCommittedBeforeTheyArePublished reads the live stream
// while events are being emitted: every record a subscriber receives is
// already in the store, byte for byte.
func TestLiveRecordsAreCommittedBeforeTheyArePublished(t *testing.T) {
	st := mustOpen(t)
	hub := NewHub(10_000)
	rec := newRecorder(t, st, hub, RecorderConfig{MaxBatch: 16})
	sess := mustCreate(t, st, "live")
	sub := hub.Subscribe(sess.ID)
	defer hub.Unsubscribe(sub)

	const n = 500
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			rec.Emit(recvEvent(sess.ID, "c", i))
		}
	})
	defer wg.Wait()

	for got := 0; got < n; {
		recs, gap := nextWithin(t, sub)
		if gap != nil {
			t.Fatalf("unexpected gap %+v", *gap)
		}
		first := recs[0].Seq
		stored, err := st.Events(context.Background(), sess.ID, first-1, 0, len(recs))
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != len(recs) {
			t.Fatalf("published seqs %d..%d, but the store holds %d of them: published before commit",
				first, recs[len(recs)-1].Seq, len(stored))
		}
		for i := range recs {
			if recs[i].Seq != stored[i].Seq || !bytes.Equal(recs[i].Data, stored[i].Data) {
				t.Fatalf("published seq %d %q, stored seq %d %q", recs[i].Seq, recs[i].Data, stored[i].Seq, stored[i].Data)
			}
		}
		got += len(recs)
	}
	wg.Wait()
	mustFlush(t, rec)
	checkGapless(t, sess.ID, allEvents(t, st, sess.ID), n)
}

func TestLiveRecordsArriveInSeqOrder(t *testing.T) {
	st := mustOpen(t)
	hub := NewHub(10_000)
	rec := newRecorder(t, st, hub, RecorderConfig{MaxBatch: 7})
	sess := mustCreate(t, st, "live")
	other := mustCreate(t, st, "other")
	sub := hub.Subscribe(sess.ID)
	defer hub.Unsubscribe(sub)

	const n = 300
	for i := range n {
		rec.Emit(recvEvent(sess.ID, "c", i))
		rec.Emit(recvEvent(other.ID, "c", i)) // not for this subscriber
	}
	got := collect(t, sub, n)
	for i, r := range got {
		if r.Seq != int64(i+1) || r.Session != sess.ID || string(r.Data) != string(recvEvent("", "c", i).Data) {
			t.Fatalf("record %d: seq %d session %s data %q; want seq %d of %s", i, r.Seq, r.Session, r.Data, i+1, sess.ID)
		}
		fresh := Record{Seq: r.Seq, Event: r.Event} // no cached JSON
		if want, _ := fresh.MarshalJSON(); !bytes.Equal(r.JSON(), want) {
			t.Fatalf("record %d: cached JSON %s, want %s", i, r.JSON(), want)
		}
	}
}

// TestSlowSubscriberGetsGap: a subscriber with a buffer of 10 that does not
// read while 100 events are published receives the first 10, then a gap for
// the other 90; a subscriber with a big buffer on the same session receives
// all 100; and after the gap was taken new events flow normally again.
func TestSlowSubscriberGetsGap(t *testing.T) {
	st := mustOpen(t)
	hub := NewHub(10_000)
	rec := newRecorder(t, st, hub, RecorderConfig{})
	sess := mustCreate(t, st, "gap")
	slow := withBuffer(hub, sess.ID, 10)
	defer hub.Unsubscribe(slow)
	big := withBuffer(hub, sess.ID, 1000)
	defer hub.Unsubscribe(big)

	for i := range 100 {
		rec.Emit(recvEvent(sess.ID, "c", i))
	}
	mustFlush(t, rec) // all 100 are published; nobody has read yet

	recs, gap := nextWithin(t, slow)
	if got, want := seqs(recs), []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; !reflect.DeepEqual(got, want) {
		t.Errorf("slow subscriber got seqs %v, want %v", got, want)
	}
	if gap == nil || *gap != (Gap{From: 11, To: 100}) {
		t.Errorf("slow subscriber gap = %+v, want {From:11 To:100}", gap)
	}
	if hub.Gaps() != 1 {
		t.Errorf("hub.Gaps() = %d, want 1", hub.Gaps())
	}

	all := collect(t, big, 100)
	for i, r := range all {
		if r.Seq != int64(i+1) {
			t.Fatalf("big subscriber: record %d has seq %d", i, r.Seq)
		}
	}

	for i := 100; i < 105; i++ {
		rec.Emit(recvEvent(sess.ID, "c", i))
	}
	mustFlush(t, rec)
	recs, gap = nextWithin(t, slow)
	if got, want := seqs(recs), []int64{101, 102, 103, 104, 105}; !reflect.DeepEqual(got, want) || gap != nil {
		t.Errorf("after the gap: seqs %v gap %+v, want %v and no gap", got, gap, want)
	}
	if got := seqs(collect(t, big, 5)); !reflect.DeepEqual(got, []int64{101, 102, 103, 104, 105}) {
		t.Errorf("big subscriber after the gap: seqs %v", got)
	}
}

// publish hands records seq from..to of session to the hub, as the recorder
// does after a commit.
func publish(h *Hub, session string, from, to int64) {
	var recs []Record
	for s := from; s <= to; s++ {
		recs = append(recs, Record{Seq: s, Event: recvEvent(session, "c", int(s-1))})
	}
	h.Publish(session, recs)
}

func TestHubCloseDeliversBufferedThenClosed(t *testing.T) {
	hub := NewHub(100)
	sub := hub.Subscribe("s")
	publish(hub, "s", 1, 3)
	hub.Close()
	publish(hub, "s", 4, 5) // after Close: nobody receives it

	recs, gap := nextWithin(t, sub)
	if got := seqs(recs); !reflect.DeepEqual(got, []int64{1, 2, 3}) || gap != nil {
		t.Errorf("first Next after Close: seqs %v gap %+v, want the buffered 1..3", got, gap)
	}
	for range 2 { // and it stays closed
		if _, _, err := sub.Next(testCtx(t)); !errors.Is(err, ErrSubscriberClosed) {
			t.Errorf("Next after the buffer is empty = %v, want ErrSubscriberClosed", err)
		}
	}
	if late := hub.Subscribe("s"); !errors.Is(nextErr(t, late), ErrSubscriberClosed) {
		t.Error("Subscribe after Close returned an open subscriber")
	}
}

// nextErr returns the error of sub.Next with a context that is already
// cancelled when nothing is ready, so it never blocks.
func nextErr(t *testing.T, sub *Subscriber) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := sub.Next(ctx)
	return err
}

func TestHubCloseSessionClosesOnlyThatSession(t *testing.T) {
	hub := NewHub(100)
	a1, a2 := hub.Subscribe("a"), hub.Subscribe("a")
	b := hub.Subscribe("b")
	defer hub.Unsubscribe(b)

	hub.CloseSession("a")
	for i, s := range []*Subscriber{a1, a2} {
		if err := nextErr(t, s); !errors.Is(err, ErrSubscriberClosed) {
			t.Errorf("subscriber a%d: Next = %v, want ErrSubscriberClosed", i+1, err)
		}
	}
	if n := hub.Subscribers("a"); n != 0 {
		t.Errorf("Subscribers(a) = %d after CloseSession, want 0", n)
	}
	if n := hub.Subscribers("b"); n != 1 {
		t.Errorf("Subscribers(b) = %d, want 1", n)
	}

	publish(hub, "b", 1, 2)
	recs, gap := nextWithin(t, b)
	if got := seqs(recs); !reflect.DeepEqual(got, []int64{1, 2}) || gap != nil {
		t.Errorf("subscriber of b: seqs %v gap %+v, want 1, 2", got, gap)
	}
}

func TestSubscriberNextHonoursContext(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancelled before", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"deadline while waiting", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := NewHub(10)
			sub := hub.Subscribe("s")
			defer hub.Unsubscribe(sub)
			ctx, cancel := tt.ctx()
			defer cancel()
			recs, gap, err := sub.Next(ctx)
			if !errors.Is(err, tt.want) || recs != nil || gap != nil {
				t.Errorf("Next = %v, %v, %v; want %v", recs, gap, err, tt.want)
			}
		})
	}
}

func TestSubscriberNextReturnsWhenCancelledWhileWaiting(t *testing.T) {
	hub := NewHub(10)
	sub := hub.Subscribe("s")
	defer hub.Unsubscribe(sub)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := sub.Next(ctx)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Next = %v, want context.Canceled", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Next did not return after its context was cancelled")
	}
}

// wireKeys is the event JSON of docs/events.md, key for key and in this order.
var wireKeys = []string{"seq", "session", "server", "conn", "at", "kind", "net", "local", "remote",
	"len", "data", "truncated", "err", "meta"}

// jsonKeys returns the top-level keys of the JSON object b, in order.
func jsonKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%s: not a JSON object (%v, %v)", b, tok, err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

var jsonRecords = []struct {
	name string
	rec  Record
}{
	{"bare", Record{Seq: 1, Event: engine.Event{Session: "s", Kind: engine.KindListen,
		At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}},
	{"full", Record{Seq: 42, Event: engine.Event{Session: "s", Server: "srv-1", Conn: "c-7",
		At: time.Date(2026, 11, 23, 10, 11, 12, 123456789, time.UTC), Kind: engine.KindRecv,
		Local: "127.0.0.1:20000", Remote: "127.0.0.1:51000",
		Data: []byte{0, 1, 2, 0xfe, 0xff}, Len: 9000, Truncated: true,
		Err:  &engine.SockErr{Errno: "ECONNRESET", Message: "connection reset by peer", Hint: "The peer closed abruptly."},
		Meta: map[string]any{"by": "peer", "half": false, "opts": map[string]any{"n": json.Number("1.5"), "l": []any{"a", nil}}}}}},
	{"microseconds", Record{Seq: 3, Event: engine.Event{Session: "s", Kind: engine.KindSend,
		At: time.Date(2026, 1, 2, 3, 4, 5, 1000, time.UTC), Data: []byte("x"), Len: 1}}},
}

func TestRecordJSONKeys(t *testing.T) {
	for _, tt := range jsonRecords {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if got := jsonKeys(t, b); !reflect.DeepEqual(got, wireKeys) {
				t.Errorf("keys %v, want %v\n%s", got, wireKeys, b)
			}
		})
	}
}

func TestRecordJSONTimeHasNineFractionalDigits(t *testing.T) {
	tests := []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02T03:04:05.000000000Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 1000, time.UTC), "2026-01-02T03:04:05.000001000Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), "2026-01-02T03:04:05.123456789Z"},
		{time.Date(2026, 1, 2, 4, 4, 5, 7, time.FixedZone("CET", 3600)), "2026-01-02T03:04:05.000000007Z"},
	}
	shape := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`)
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			b, err := json.Marshal(Record{Seq: 1, Event: engine.Event{At: tt.at}})
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			at, _ := m["at"].(string)
			if at != tt.want || !shape.MatchString(at) {
				t.Errorf("at = %q, want %q", at, tt.want)
			}
		})
	}
}

func TestRecordJSONRoundTrip(t *testing.T) {
	for _, tt := range jsonRecords {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			var got Record
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("Unmarshal(%s): %v", b, err)
			}
			if !reflect.DeepEqual(got, tt.rec) {
				t.Errorf("round trip of %s:\n got  %#v\n want %#v", b, got, tt.rec)
			}
			again, err := json.Marshal(got)
			if err != nil || !bytes.Equal(again, b) {
				t.Errorf("re-encoded %s, want %s (%v)", again, b, err)
			}
		})
	}
}

// liveAndStored emits evs into a fresh session, reads them from a live
// subscriber and from the store, and returns both lists of records.
func liveAndStored(t *testing.T, evs []engine.Event) (live, stored []Record) {
	t.Helper()
	st := mustOpen(t)
	hub := NewHub(1000)
	rec := newRecorder(t, st, hub, RecorderConfig{})
	sess := mustCreate(t, st, "same")
	sub := hub.Subscribe(sess.ID)
	defer hub.Unsubscribe(sub)
	for _, ev := range evs {
		ev.Session = sess.ID
		rec.Emit(ev)
	}
	mustFlush(t, rec)
	return collect(t, sub, len(evs)), allEvents(t, st, sess.ID)
}

// sameJSON reports whether a and b are the same JSON value. Numbers are
// compared exactly (as written), not as float64.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	decode := func(b []byte) any {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}

// TestLiveJSONMatchesStoredJSON: what a browser received live is what a
// reload finds in the store (docs/architecture.md: the live stream is exactly the tail
// of the store), for events shaped like the engine's.
func TestLiveJSONMatchesStoredJSON(t *testing.T) {
	type shownOptions struct { // server options are shown as a struct
		Mode    string `json:"mode"`
		DelayMS int    `json:"delay_ms"`
	}
	now := time.Now() // local zone, with a monotonic reading
	evs := []engine.Event{
		{Server: "srv-1", At: now, Kind: engine.KindServerStart, Local: "127.0.0.1:20000",
			Meta: map[string]any{"kind": "tcp-echo", "name": "", "options": shownOptions{Mode: "upper", DelayMS: 5}}},
		{Server: "srv-1", At: now, Kind: engine.KindError, Local: "127.0.0.1:20000",
			Err:  &engine.SockErr{Errno: "EADDRINUSE", Message: "address already in use", Hint: "pick another"},
			Meta: map[string]any{"op": "listen", "port": 20000}},
		{Server: "srv-1", Conn: "c-1", At: now, Kind: engine.KindRecv, Data: []byte("hello\r\n"), Len: 7},
		{Server: "srv-1", Conn: "c-1", At: now, Kind: engine.KindSend, Data: []byte("HEL"), Len: 7, Truncated: true},
		{Server: "srv-1", Conn: "c-1", At: now, Kind: engine.KindClose, Meta: map[string]any{"by": "peer", "half": true}},
		{Server: "srv-1", Conn: "c-1", At: now, Kind: engine.KindOption, Meta: map[string]any{"rtt": math.NaN()}},
	}
	live, stored := liveAndStored(t, evs)
	for i := range live {
		if !sameJSON(t, live[i].JSON(), stored[i].JSON()) {
			t.Errorf("event %d (%s):\n live   %s\n stored %s", i, evs[i].Kind, live[i].JSON(), stored[i].JSON())
		}
	}
}

// TestStoredMetaKeepsLargeIntegers: an integer in Meta above 2^53 (a byte
// counter, a 64-bit id or nonce) comes back from the store as it went in.
func TestStoredMetaKeepsLargeIntegers(t *testing.T) {
	const big = int64(1)<<53 + 1
	live, stored := liveAndStored(t, []engine.Event{{Server: "srv-1", Conn: "c-1", At: time.Now(),
		Kind: engine.KindClose, Meta: map[string]any{"by": "local", "half": false, "bytes": big}}})
	if !sameJSON(t, live[0].JSON(), stored[0].JSON()) {
		t.Errorf("meta integer %d changed in the store:\n live   %s\n stored %s", big, live[0].JSON(), stored[0].JSON())
	}
}
