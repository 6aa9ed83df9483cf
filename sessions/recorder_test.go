package sessions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// TestRecorderNumbersGaplesslyPerSession emits from several goroutines into
// several sessions at once: each session must end up with seqs 1..N, and the
// events of each goroutine must keep the order in which it emitted them.
func TestRecorderNumbersGaplesslyPerSession(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{MaxBatch: 64})
	const (
		nSessions   = 3
		nGoroutines = 6
		perSession  = 300 // events each goroutine emits into each session
	)
	var ids []string
	for i := range nSessions {
		ids = append(ids, mustCreate(t, st, fmt.Sprint("s", i)).ID)
	}
	var wg sync.WaitGroup
	for g := range nGoroutines {
		wg.Go(func() {
			who := fmt.Sprint("g", g)
			for i := range perSession {
				for _, id := range ids {
					rec.Emit(recvEvent(id, who, i))
				}
			}
		})
	}
	wg.Wait()
	mustFlush(t, rec)

	for _, id := range ids {
		recs := allEvents(t, st, id)
		checkGapless(t, id, recs, nGoroutines*perSession)
		next := map[string]int{} // goroutine -> index of its next event
		for _, r := range recs {
			i := next[r.Conn]
			if want := fmt.Sprintf("%s#%d", r.Conn, i); string(r.Data) != want {
				t.Fatalf("session %s seq %d: data %q, want %q (emit order of %s broken)", id, r.Seq, r.Data, want, r.Conn)
			}
			next[r.Conn] = i + 1
		}
	}
	if got, want := rec.Stats().Committed, int64(nSessions*nGoroutines*perSession); got != want {
		t.Errorf("Stats().Committed = %d, want %d", got, want)
	}
}

// TestRecorderRoundTripsEveryField stores events that use every field and
// reads them back through Store.Events unchanged.
func TestRecorderRoundTripsEveryField(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	sess := mustCreate(t, st, "fields")
	paris := time.FixedZone("CET", 3600)
	// Meta is stored as JSON, so its numbers cannot keep their Go types;
	// Meta is compared as JSON values, exactly (see sameJSON).
	meta := map[string]any{
		"by":    "peer",
		"half":  true,
		"port":  20001,
		"bytes": int64(1) << 40,
		"none":  nil,
		"options": map[string]any{
			"delay_ms": 1.5,
			"modes":    []any{"echo", "upper"},
			"tls":      map[string]any{"version": "1.3", "alpn": []any{}},
		},
	}
	evs := []engine.Event{
		{
			Session: sess.ID, Server: "srv-1", Conn: "c-1", Kind: engine.KindRecv,
			At:    time.Date(2026, 11, 23, 10, 11, 12, 123456789, time.UTC),
			Local: "127.0.0.1:20001", Remote: "127.0.0.1:54321",
			Data: []byte{0x00, 0xff, 'h', 'i', '\n', 0x80}, Len: 6,
		},
		{
			Session: sess.ID, Server: "srv-1", Conn: "c-1", Kind: engine.KindSend,
			At:    time.Date(2026, 11, 23, 10, 11, 12, 123456790, paris), // not UTC on the way in
			Local: "127.0.0.1:20001", Remote: "127.0.0.1:54321",
			Data: []byte("only the first bytes"), Len: 65536, Truncated: true,
		},
		{
			Session: sess.ID, Server: "cli-2", Conn: "c-2", Kind: engine.KindError,
			At:     time.Date(1999, 12, 31, 23, 59, 59, 1, time.UTC),
			Remote: "127.0.0.1:1",
			Err:    &engine.SockErr{Errno: "ECONNREFUSED", Message: "connection refused", Hint: "Nothing is listening on that port."},
		},
		{
			Session: sess.ID, Server: "srv-1", Conn: "c-1", Kind: engine.KindClose,
			At:   time.Date(2026, 11, 23, 10, 11, 13, 999999999, time.UTC),
			Meta: meta,
		},
	}
	for _, ev := range evs {
		rec.Emit(ev)
	}
	mustFlush(t, rec)

	got := allEvents(t, st, sess.ID)
	if len(got) != len(evs) {
		t.Fatalf("%d events stored, want %d", len(got), len(evs))
	}
	for i, r := range got {
		want := evs[i]
		want.At = want.At.UTC()
		if r.Seq != int64(i+1) {
			t.Errorf("event %d: seq %d, want %d", i, r.Seq, i+1)
		}
		if r.At.Location() != time.UTC {
			t.Errorf("event %d: At in %v, want UTC", i, r.At.Location())
		}
		gotMeta, err1 := json.Marshal(r.Meta)
		wantMeta, err2 := json.Marshal(want.Meta)
		if err1 != nil || err2 != nil || !sameJSON(t, gotMeta, wantMeta) {
			t.Errorf("event %d meta round trip: got %s, want %s (%v, %v)", i, gotMeta, wantMeta, err1, err2)
		}
		got := r.Event
		got.Meta, want.Meta = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("event %d round trip:\n got  %#v\n want %#v", i, got, want)
		}
	}
}

// TestRecorderSurvivesReopen closes the recorder and the store and opens the
// same file again: sessions and events are still there, and a new Recorder
// continues each session at its last seq + 1.
func TestRecorderSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sockplay.db")
	st := mustOpenAt(t, path)
	rec := NewRecorder(st, NewHub(16), RecorderConfig{}, testLog)
	a := mustCreate(t, st, "a")
	b := mustCreate(t, st, "b")
	for i := range 5 {
		rec.Emit(recvEvent(a.ID, "first", i))
	}
	rec.Emit(recvEvent(b.ID, "first", 0))
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = mustOpenAt(t, path)
	for _, want := range []struct {
		id     string
		events int64
	}{{a.ID, 5}, {b.ID, 1}} {
		got, err := st.GetSession(context.Background(), want.id)
		if err != nil {
			t.Fatalf("after reopen GetSession(%s): %v", want.id, err)
		}
		if got.Events != want.events {
			t.Errorf("after reopen session %s has %d events, want %d", got.Name, got.Events, want.events)
		}
	}
	rec = newRecorder(t, st, nil, RecorderConfig{})
	for i := range 3 {
		rec.Emit(recvEvent(a.ID, "second", i))
		rec.Emit(recvEvent(b.ID, "second", i))
	}
	mustFlush(t, rec)
	ra := allEvents(t, st, a.ID)
	checkGapless(t, "a", ra, 8)
	if string(ra[4].Data) != "first#4" || string(ra[5].Data) != "second#0" {
		t.Errorf("session a seq 5, 6 = %q, %q; want first#4, second#0", ra[4].Data, ra[5].Data)
	}
	checkGapless(t, "b", allEvents(t, st, b.ID), 4)
}

func TestEventsPaging(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	sess := mustCreate(t, st, "paging")
	other := mustCreate(t, st, "other")
	for i := range 10 {
		rec.Emit(recvEvent(sess.ID, "c", i))
		rec.Emit(recvEvent(other.ID, "c", i))
	}
	mustFlush(t, rec)

	tests := []struct {
		name          string
		after, before int64
		limit         int
		want          []int64
	}{
		{"from the start", 0, 0, 4, []int64{1, 2, 3, 4}},
		{"after", 4, 0, 4, []int64{5, 6, 7, 8}},
		{"after near the end", 8, 0, 4, []int64{9, 10}},
		{"after the end", 10, 0, 4, []int64{}},
		{"no limit means the page maximum", 0, 0, 0, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"before", 0, 9, 3, []int64{6, 7, 8}},
		{"before near the start", 0, 3, 5, []int64{1, 2}},
		{"before the first", 0, 1, 5, []int64{}},
		{"before past the end", 0, 100, 2, []int64{9, 10}},
		{"after and before bound a window", 2, 6, 10, []int64{3, 4, 5}},
		{"a window wider than the limit gives its newest", 1, 9, 3, []int64{6, 7, 8}},
		{"an empty window", 4, 5, 10, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := st.Events(context.Background(), sess.ID, tt.after, tt.before, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := seqs(recs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Events(after=%d, before=%d, limit=%d) seqs = %v, want %v", tt.after, tt.before, tt.limit, got, tt.want)
			}
			for _, r := range recs {
				if r.Session != sess.ID || string(r.Data) != fmt.Sprintf("c#%d", r.Seq-1) {
					t.Errorf("seq %d: session %s data %q: another event", r.Seq, r.Session, r.Data)
				}
			}
		})
	}
}

// TestRecorderDropsEventsOfUnknownSessions mixes events of sessions that do
// not exist into a stream for real ones: they are counted as dropped and the
// others are stored gaplessly.
func TestRecorderDropsEventsOfUnknownSessions(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	a := mustCreate(t, st, "a")
	b := mustCreate(t, st, "b")
	const n = 50
	for i := range n {
		rec.Emit(recvEvent(a.ID, "c", i))
		rec.Emit(recvEvent("no-such-session", "c", i))
		rec.Emit(recvEvent(b.ID, "c", i))
	}
	mustFlush(t, rec)

	checkGapless(t, "a", allEvents(t, st, a.ID), n)
	checkGapless(t, "b", allEvents(t, st, b.ID), n)
	if got := countRows(t, st, "no-such-session"); got != 0 {
		t.Errorf("%d rows stored for the unknown session", got)
	}
	s := rec.Stats()
	if s.Dropped != n || s.Committed != 2*n {
		t.Errorf("Stats() = %+v, want Dropped %d and Committed %d", s, n, 2*n)
	}
	if s.Failing {
		t.Errorf("Stats().Failing after dropping unknown-session events: %+v", s)
	}
}

func TestRecorderDeleteSessionRemovesSessionAndEvents(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	doomed := mustCreate(t, st, "doomed")
	kept := mustCreate(t, st, "kept")
	for i := range 20 {
		rec.Emit(recvEvent(doomed.ID, "c", i))
		rec.Emit(recvEvent(kept.ID, "c", i))
	}
	mustFlush(t, rec)

	if err := rec.DeleteSession(testCtx(t), doomed.ID); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if _, err := st.GetSession(context.Background(), doomed.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetSession(deleted) error = %v, want ErrNotFound", err)
	}
	if n := countRows(t, st, doomed.ID); n != 0 {
		t.Errorf("%d events of the deleted session remain", n)
	}
	checkGapless(t, "kept", allEvents(t, st, kept.ID), 20)
}

// TestRecorderDeleteSessionCommitsQueuedEventsFirst emits events and deletes
// the session without flushing in between: the events are committed (and
// published) before the delete, not dropped.
func TestRecorderDeleteSessionCommitsQueuedEventsFirst(t *testing.T) {
	st := mustOpen(t)
	hub := NewHub(1000)
	rec := newRecorder(t, st, hub, RecorderConfig{})
	sess := mustCreate(t, st, "doomed")
	sub := hub.Subscribe(sess.ID)
	defer hub.Unsubscribe(sub)
	const n = 200
	for i := range n {
		rec.Emit(recvEvent(sess.ID, "c", i))
	}
	if err := rec.DeleteSession(testCtx(t), sess.ID); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}

	if s := rec.Stats(); s.Committed != n || s.Dropped != 0 {
		t.Errorf("Stats() = %+v, want Committed %d and Dropped 0: events queued before the delete must be committed", s, n)
	}
	got := collect(t, sub, n) // published after their commit, before the delete
	for i, r := range got {
		if r.Seq != int64(i+1) {
			t.Fatalf("published seq %d at %d", r.Seq, i)
		}
	}
	if rows := countRows(t, st, sess.ID); rows != 0 {
		t.Errorf("%d events remain after the delete", rows)
	}
}

func TestRecorderDropsEventsAfterDeleteSession(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	sess := mustCreate(t, st, "doomed")
	rec.Emit(recvEvent(sess.ID, "c", 0))
	if err := rec.DeleteSession(testCtx(t), sess.ID); err != nil {
		t.Fatal(err)
	}
	rec.Emit(recvEvent(sess.ID, "c", 1))
	mustFlush(t, rec)
	if s := rec.Stats(); s.Dropped != 1 || s.Committed != 1 {
		t.Errorf("Stats() = %+v, want Committed 1 and Dropped 1", s)
	}
	if rows := countRows(t, st, sess.ID); rows != 0 {
		t.Errorf("%d events stored for the deleted session", rows)
	}
}

func TestRecorderDeleteUnknownSessionIsNotFound(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	if err := rec.DeleteSession(testCtx(t), "no-such-session"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteSession(unknown) = %v, want ErrNotFound", err)
	}
}

// TestRecorderCloseCommitsEverything emits 10k events and closes the recorder
// at once: every one of them is in the database.
func TestRecorderCloseCommitsEverything(t *testing.T) {
	st := mustOpen(t)
	rec := NewRecorder(st, NewHub(16), RecorderConfig{}, testLog)
	sess := mustCreate(t, st, "close")
	const n = 10_000
	for i := range n {
		rec.Emit(recvEvent(sess.ID, "c", i))
	}
	if err := rec.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var rows, maxSeq int64
	if err := st.db.QueryRow(`SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?`, sess.ID).Scan(&rows, &maxSeq); err != nil {
		t.Fatal(err)
	}
	if rows != n || maxSeq != n {
		t.Errorf("after Close: %d rows, max seq %d; want %d and %d", rows, maxSeq, n, n)
	}
}

func TestRecorderEmitAfterCloseDoesNotPanic(t *testing.T) {
	st := mustOpen(t)
	rec := NewRecorder(st, NewHub(16), RecorderConfig{}, testLog)
	sess := mustCreate(t, st, "closed")
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Emit after Close panicked: %v", p)
		}
	}()
	rec.Emit(recvEvent(sess.ID, "c", 0))
	if err := rec.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := rec.Flush(testCtx(t)); !errors.Is(err, ErrRecorderClosed) {
		t.Errorf("Flush after Close = %v, want ErrRecorderClosed", err)
	}
	if rows := countRows(t, st, sess.ID); rows != 0 {
		t.Errorf("%d events stored after Close", rows)
	}
}

// TestRecorderBackpressureLosesNothing uses a queue of one event, so emitters
// keep finding it full and wait for the writer: everything still lands.
func TestRecorderBackpressureLosesNothing(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{QueueSize: 1})
	sess := mustCreate(t, st, "slow")
	const (
		goroutines = 4
		each       = 100
	)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				rec.Emit(recvEvent(sess.ID, fmt.Sprint("g", g), i))
			}
		})
	}
	wg.Wait()
	mustFlush(t, rec)

	recs := allEvents(t, st, sess.ID)
	checkGapless(t, sess.ID, recs, goroutines*each)
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[string(r.Data)] {
			t.Fatalf("event %q stored twice", r.Data)
		}
		seen[string(r.Data)] = true
	}
	s := rec.Stats()
	if s.Committed != goroutines*each || s.Dropped != 0 {
		t.Errorf("Stats() = %+v, want Committed %d, Dropped 0", s, goroutines*each)
	}
	t.Logf("Emit waited %d times", s.Waits)
}

// TestRecorderEmitDoesNotBlockWhileStoreFails: docs/safety.md, "Lose nothing": a
// failing store (disk full, I/O error) is not a slow one; the recorder
// reports it and keeps serving sockets, holding events in a bounded buffer
// and recording a loss marker if that overflows. Emit must therefore return
// while the store fails, even when more events arrive than the queue holds.
func TestRecorderEmitDoesNotBlockWhileStoreFails(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{QueueSize: 4})
	sess := mustCreate(t, st, "failing")
	breakInserts(t, st)

	rec.Emit(recvEvent(sess.ID, "c", 0))
	waitUntil(t, "the recorder reports the failing store", func() bool { return rec.Stats().Failing })
	// The writer is now retrying that event; emit more than the queue holds.
	const n = 50
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= n; i++ {
			rec.Emit(recvEvent(sess.ID, "c", i))
		}
	}()
	// The engine's socket goroutines call Emit; give them a generous second.
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	blocked := false
	var stalled RecorderStats
	select {
	case <-done:
	case <-timer.C:
		blocked, stalled = true, rec.Stats()
	}
	repairInserts(t, st)
	waitUntil(t, "the emitter finishes once the store works again", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	if blocked {
		t.Errorf("Emit blocked while the store was failing (Stats %+v): a failing store stalls every socket "+
			"instead of buffering and recording a loss marker", stalled)
	}
}

// TestRecorderReportsFailingStoreAndAccountsForEveryEvent: while inserts fail
// Stats says so (with the error); once the store works again the flag clears
// and every event emitted meanwhile is stored or counted by a loss marker.
func TestRecorderReportsFailingStoreAndAccountsForEveryEvent(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	sess := mustCreate(t, st, "failing")
	breakInserts(t, st)

	const n = 20
	for i := range n {
		rec.Emit(recvEvent(sess.ID, "c", i))
	}
	waitUntil(t, "the recorder reports the failing store", func() bool { return rec.Stats().Failing })
	if s := rec.Stats(); !strings.Contains(s.LastError, "injected disk failure") {
		t.Errorf("Stats().LastError = %q, want the store's error", s.LastError)
	}
	repairInserts(t, st)
	mustFlush(t, rec)
	if s := rec.Stats(); s.Failing || s.LastError != "" {
		t.Errorf("after recovery Stats() = %+v, want not failing", s)
	}

	stored, lost := 0, 0
	for _, r := range allEvents(t, st, sess.ID) {
		switch r.Kind {
		case engine.KindRecv:
			if want := fmt.Sprintf("c#%d", stored+lost); string(r.Data) != want {
				t.Errorf("seq %d: %q, want %q", r.Seq, r.Data, want)
			}
			stored++
		case engine.KindLoss:
			lost += int(metaInt(t, r.Meta, "events"))
		}
	}
	if stored+lost != n {
		t.Errorf("%d events stored and %d counted as lost, want %d in all", stored, lost, n)
	}
}

// retryCounter is a slog handler that counts the recorder's "retrying" log
// lines, so a test can tell that a failing batch was attempted again.
type retryCounter struct{ n atomic.Int64 }

func (h *retryCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *retryCounter) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "retrying") {
		h.n.Add(1)
	}
	return nil
}
func (h *retryCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *retryCounter) WithGroup(string) slog.Handler      { return h }

// TestRecorderCountsDroppedEventsOnceAcrossRetries: an event of an unknown
// session in a batch that fails and is retried is still one dropped event.
func TestRecorderCountsDroppedEventsOnceAcrossRetries(t *testing.T) {
	st := mustOpen(t)
	retries := &retryCounter{}
	rec := NewRecorder(st, NewHub(16), RecorderConfig{}, slog.New(retries))
	t.Cleanup(func() { rec.Close() })
	sess := mustCreate(t, st, "failing")
	breakInserts(t, st)

	rec.Emit(recvEvent("no-such-session", "c", 0)) // same batch as the next one
	rec.Emit(recvEvent(sess.ID, "c", 0))
	waitUntil(t, "the failing batch is retried", func() bool { return retries.n.Load() >= 2 })
	repairInserts(t, st)
	mustFlush(t, rec)

	if s := rec.Stats(); s.Dropped != 1 || s.Committed != 1 {
		t.Errorf("Stats() = %+v, want Dropped 1 (one event of an unknown session) and Committed 1", s)
	}
}

// metaInt reads the integer Meta[key] of a stored record, whichever way
// encoding/json decoded it.
func metaInt(tb testing.TB, meta map[string]any, key string) int64 {
	tb.Helper()
	switch v := meta[key].(type) {
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			tb.Fatalf("meta %s = %v: %v", key, v, err)
		}
		return n
	case float64:
		return int64(v)
	default:
		tb.Fatalf("meta %s = %#v, want a number (meta %v)", key, meta[key], meta)
		return 0
	}
}

// TestRecorderRecordsLossMarkerPastMaxHeld: while the store fails the
// recorder holds up to MaxHeld events; the rest are counted, and once the
// store works again the held events are written in order, followed by one
// loss marker saying how many were lost and when, and recording goes on.
func TestRecorderRecordsLossMarkerPastMaxHeld(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{MaxHeld: 5})
	sess := mustCreate(t, st, "lossy")
	breakInserts(t, st)

	const n = 20
	for i := range n {
		rec.Emit(recvEvent(sess.ID, "c", i))
	}
	waitUntil(t, "5 events held and 15 lost", func() bool { s := rec.Stats(); return s.Held == 5 && s.Lost == n-5 })
	repairInserts(t, st)
	mustFlush(t, rec)
	rec.Emit(recvEvent(sess.ID, "c", n))
	mustFlush(t, rec)

	recs := allEvents(t, st, sess.ID)
	checkGapless(t, sess.ID, recs, 5+1+1)
	for i, r := range recs[:5] {
		if r.Kind != engine.KindRecv || string(r.Data) != fmt.Sprintf("c#%d", i) {
			t.Errorf("seq %d: %s %q, want held event c#%d", r.Seq, r.Kind, r.Data, i)
		}
	}
	loss := recs[5]
	if loss.Kind != engine.KindLoss {
		t.Fatalf("seq 6 is %s %q, want the loss marker", loss.Kind, loss.Data)
	}
	if got := metaInt(t, loss.Meta, "events"); got != n-5 {
		t.Errorf("loss marker counts %d events, want %d (meta %v)", got, n-5, loss.Meta)
	}
	wantFrom := recvEvent("", "c", 5).At.Format(TimeLayout)
	wantTo := recvEvent("", "c", n-1).At.Format(TimeLayout)
	if loss.Meta["from"] != wantFrom || loss.Meta["to"] != wantTo {
		t.Errorf("loss marker range %v..%v, want %s..%s", loss.Meta["from"], loss.Meta["to"], wantFrom, wantTo)
	}
	if last := recs[6]; string(last.Data) != fmt.Sprintf("c#%d", n) {
		t.Errorf("seq 7 = %s %q, want the event emitted after recovery", last.Kind, last.Data)
	}
	if s := rec.Stats(); s.Held != 0 || s.Failing {
		t.Errorf("after recovery Stats() = %+v, want nothing held, not failing", s)
	}
}

// TestRecorderRecoversUnderSteadyTraffic: once the store works again, held
// events are written and recording resumes even though events keep arriving
// (a busy connection), without anyone calling Flush.
func TestRecorderRecoversUnderSteadyTraffic(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	sess := mustCreate(t, st, "busy")
	breakInserts(t, st)
	rec.Emit(recvEvent(sess.ID, "c", 0))
	waitUntil(t, "the recorder reports the failing store", func() bool { return rec.Stats().Failing })
	repairInserts(t, st)

	// A connection that sends every 10 ms; the first retry is due after
	// 50-100 ms, so two seconds is plenty.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(2 * time.Second)
	i := 1
	for rec.Stats().Committed == 0 && time.Now().Before(deadline) {
		<-tick.C
		rec.Emit(recvEvent(sess.ID, "c", i))
		i++
	}
	if s := rec.Stats(); s.Committed == 0 {
		t.Errorf("store repaired, %d events emitted every 10 ms over 2 s, none committed: Stats %+v "+
			"(the retry timer restarts on every event, so a busy recorder never retries)", i, s)
	}
}

// A long recording keeps the write-ahead log bounded: it is checkpointed
// into the database file as it grows, so the WAL file is reused rather than
// growing with everything ever recorded.
func TestRecorderKeepsTheWALBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sockplay.db")
	st := mustOpenAt(t, path)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	sess := mustCreate(t, st, "wal")
	data := make([]byte, 16<<10)    // about 22 KiB of JSON per event
	const rounds, perRound = 60, 64 // about 80 MiB of events in all
	for range rounds {
		for range perRound {
			rec.Emit(engine.Event{Session: sess.ID, At: time.Now(), Kind: engine.KindRecv, Conn: "c-1", Data: data, Len: len(data)})
		}
		mustFlush(t, rec)
	}
	if got := countRows(t, st, sess.ID); got != rounds*perRound {
		t.Fatalf("%d events recorded, want %d", got, rounds*perRound)
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 40<<20 {
		t.Errorf("the WAL is %d MiB after recording about 80 MiB: it is not being checkpointed", fi.Size()>>20)
	}
}

// The writer reuses the memory of stored chunks that no live viewer kept.
// A viewer's events must never change under it: session a has a viewer that
// reads only at the end, session b has none (its chunks are reused round
// after round), and every event a's viewer gets is exactly what is stored.
func TestRecorderReusesOnlyChunksNoViewerKept(t *testing.T) {
	st := mustOpen(t)
	hub := NewHub(1 << 16)
	rec := newRecorder(t, st, hub, RecorderConfig{})
	a, b := mustCreate(t, st, "a"), mustCreate(t, st, "b")
	sub := hub.Subscribe(a.ID)
	defer hub.Unsubscribe(sub)
	const rounds, perRound = 40, 300
	for r := range rounds {
		for i := range perRound {
			rec.Emit(variedEvent(a.ID, "a", r*perRound+i))
			rec.Emit(variedEvent(b.ID, "b", r*perRound+i))
		}
		mustFlush(t, rec) // the next round's chunks may reuse this round's
	}
	live := collect(t, sub, rounds*perRound)
	stored := allEvents(t, st, a.ID)
	if len(stored) != len(live) {
		t.Fatalf("%d events stored, %d live", len(stored), len(live))
	}
	for i := range live {
		if !bytes.Equal(live[i].JSON(), stored[i].JSON()) {
			t.Fatalf("seq %d changed under the viewer:\n live   %s\n stored %s", stored[i].Seq, live[i].JSON(), stored[i].JSON())
		}
	}
	api := newAPIEvents(func(seq int64) engine.Event { return variedEvent(b.ID, "b", int(seq-1)) })
	api.check(t, "stored b", allEvents(t, st, b.ID), seqRange(1, rounds*perRound))
}
