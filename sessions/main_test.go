package sessions

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// Recorder's writer and every database's connection opener must be closed by
// the test that started it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait of the tests, so that a hang fails instead of
// blocking the whole run.
const waitTimeout = 10 * time.Second

// testLog discards log lines; the recorder logs dropped events at Warn.
var testLog = slog.New(slog.DiscardHandler)

// testCtx returns a context that ends with the test or after waitTimeout.
func testCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	tb.Cleanup(cancel)
	return ctx
}

// mustOpen opens a fresh database file in tb's temporary directory and closes
// it when the test ends.
func mustOpen(tb testing.TB) *Store {
	tb.Helper()
	return mustOpenAt(tb, filepath.Join(tb.TempDir(), "sockplay.db"))
}

// mustOpenAt opens (creating if needed) the database at path and closes it
// when the test ends. Closing twice is harmless, so a test may close it early.
func mustOpenAt(tb testing.TB, path string) *Store {
	tb.Helper()
	st, err := Open(context.Background(), path, testLog)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// newRecorder starts a Recorder over st and hub and closes it when the test
// ends (before the store, since cleanups run last-registered first).
func newRecorder(tb testing.TB, st *Store, hub *Hub, cfg RecorderConfig) *Recorder {
	tb.Helper()
	if hub == nil {
		hub = NewHub(16)
	}
	rec := NewRecorder(st, hub, cfg, testLog)
	tb.Cleanup(func() { rec.Close() })
	return rec
}

// mustCreate creates a session named name.
func mustCreate(tb testing.TB, st *Store, name string) Session {
	tb.Helper()
	sess, err := st.CreateSession(context.Background(), name)
	if err != nil {
		tb.Fatalf("CreateSession(%q): %v", name, err)
	}
	return sess
}

// mustFlush waits until everything emitted so far is committed and published.
func mustFlush(tb testing.TB, rec *Recorder) {
	tb.Helper()
	if err := rec.Flush(testCtx(tb)); err != nil {
		tb.Fatalf("Flush: %v", err)
	}
}

// allEvents reads every stored event of session, page by page, oldest first.
func allEvents(tb testing.TB, st *Store, session string) []Record {
	tb.Helper()
	var out []Record
	var after int64
	for {
		page, err := st.Events(context.Background(), session, after, 0, MaxEventsPage)
		if err != nil {
			tb.Fatalf("Events(%s, after=%d): %v", session, after, err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

// countRows counts the rows of the events table for session with plain SQL,
// independent of Store.Events.
func countRows(tb testing.TB, st *Store, session string) int {
	tb.Helper()
	var n int
	if err := st.db.QueryRow(`SELECT COUNT(*) FROM events WHERE session_id = ?`, session).Scan(&n); err != nil {
		tb.Fatalf("count events of %s: %v", session, err)
	}
	return n
}

// recvEvent returns a small recv event of session whose Conn and Data say who
// emitted it and in which order, so a test can check it came back in place.
func recvEvent(session, who string, i int) engine.Event {
	data := fmt.Appendf(nil, "%s#%d", who, i)
	return engine.Event{
		Session: session,
		Server:  "srv-test",
		Conn:    who,
		At:      time.Unix(1_700_000_000, int64(i)).UTC(),
		Kind:    engine.KindRecv,
		Local:   "127.0.0.1:20000",
		Remote:  "127.0.0.1:40000",
		Data:    data,
		Len:     len(data),
	}
}

// seqs returns the seqs of recs.
func seqs(recs []Record) []int64 {
	out := make([]int64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

// checkGapless fails unless recs carry seqs 1..want in order.
func checkGapless(tb testing.TB, session string, recs []Record, want int) {
	tb.Helper()
	if len(recs) != want {
		tb.Fatalf("session %s: %d events stored, want %d", session, len(recs), want)
	}
	for i, r := range recs {
		if r.Seq != int64(i+1) {
			tb.Fatalf("session %s: event %d has seq %d, want %d (seqs must be 1..N without gaps)", session, i, r.Seq, i+1)
		}
	}
}

// nextWithin calls sub.Next with waitTimeout, failing the test on an error.
func nextWithin(tb testing.TB, sub *Subscriber) ([]Record, *Gap) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	recs, gap, err := sub.Next(ctx)
	if err != nil {
		tb.Fatalf("Next: %v", err)
	}
	return recs, gap
}

// collect reads from sub until it has n records (failing on a gap) and
// returns them.
func collect(tb testing.TB, sub *Subscriber, n int) []Record {
	tb.Helper()
	var out []Record
	for len(out) < n {
		recs, gap := nextWithin(tb, sub)
		if gap != nil {
			tb.Fatalf("unexpected gap %+v after %d of %d records", *gap, len(out), n)
		}
		out = append(out, recs...)
	}
	if len(out) != n {
		tb.Fatalf("got %d records, want %d", len(out), n)
	}
	return out
}

// withBuffer registers a subscriber of session whose buffer holds n events
// instead of the hub's default. The hub sizes every subscriber alike; tests
// that compare a small and a big buffer on the same session set the limit
// before anything is published.
func withBuffer(h *Hub, session string, n int) *Subscriber {
	s := h.Subscribe(session)
	s.mu.Lock()
	s.limit = n
	s.mu.Unlock()
	return s
}

// waitUntil polls cond until it holds, failing the test after waitTimeout.
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting until %s", waitTimeout, what)
		}
		<-tick.C
	}
}

// breakInserts makes every insert of events fail, as a full or broken disk
// would, until repairInserts (registered as a cleanup too, so that a failed
// test never leaves the recorder retrying forever in its Close).
func breakInserts(tb testing.TB, st *Store) {
	tb.Helper()
	if _, err := st.db.Exec(`CREATE TRIGGER fail_inserts BEFORE INSERT ON event_chunks
		BEGIN SELECT RAISE(ABORT, 'injected disk failure'); END`); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { repairInserts(tb, st) })
}

// repairInserts undoes breakInserts.
func repairInserts(tb testing.TB, st *Store) {
	tb.Helper()
	if _, err := st.db.Exec(`DROP TRIGGER IF EXISTS fail_inserts`); err != nil {
		tb.Error(err)
	}
}
