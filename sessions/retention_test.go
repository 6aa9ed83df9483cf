package sessions

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// capMarkers returns the cap's loss markers among recs.
func capMarkers(recs []Record) []Record {
	var out []Record
	for _, r := range recs {
		if r.Kind == engine.KindLoss && r.Meta["cap"] != nil {
			out = append(out, r)
		}
	}
	return out
}

func TestSessionEventCapLeavesOneMarkerAndSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sockplay.db")
	st := mustOpenAt(t, path)
	rec := NewRecorder(st, NewHub(16), RecorderConfig{MaxBatch: 64, MaxSessionEvents: 1000}, testLog)
	flood := mustCreate(t, st, "flood")
	calm := mustCreate(t, st, "calm")
	for i := range 5000 {
		rec.Emit(recvEvent(flood.ID, "yes", i))
		if i%100 == 0 {
			rec.Emit(recvEvent(calm.ID, "calm", i))
		}
	}
	mustFlush(t, rec)
	recs := allEvents(t, st, flood.ID)
	checkGapless(t, flood.ID, recs, 1000)
	m := capMarkers(recs)
	if len(m) != 1 || m[0].Seq != 1000 || m[0].Meta["cap"] != "events" || metaInt(t, m[0].Meta, "limit") != 1000 {
		t.Fatalf("cap markers %+v, want one at seq 1000", m)
	}
	if s := rec.Stats().NotKept; s != 4001 {
		t.Errorf("Stats().NotKept = %d, want 4001 (the 1000th event and every one after it)", s)
	}
	checkGapless(t, calm.ID, allEvents(t, st, calm.ID), 50) // another session is not capped
	u, err := st.Usage(context.Background(), []string{flood.ID, calm.ID})
	if err != nil {
		t.Fatal(err)
	}
	if u[flood.ID].CappedSeq != 1000 || u[flood.ID].NotKept != 4001 || u[flood.ID].Bytes == 0 || u[calm.ID].CappedSeq != 0 {
		t.Errorf("usage %+v", u)
	}
	rec.Close()

	// After a restart the session stays capped, without a second marker.
	rec = newRecorder(t, st, nil, RecorderConfig{MaxSessionEvents: 1000})
	for i := range 10 {
		rec.Emit(recvEvent(flood.ID, "again", i))
	}
	mustFlush(t, rec)
	if recs := allEvents(t, st, flood.ID); len(recs) != 1000 || len(capMarkers(recs)) != 1 {
		t.Errorf("after a restart: %d events, %d markers", len(recs), len(capMarkers(recs)))
	}
	if u, _ := st.Usage(context.Background(), []string{flood.ID}); u[flood.ID].NotKept != 4011 {
		t.Errorf("not kept after a restart: %d, want 4011", u[flood.ID].NotKept)
	}
}

// randomRecv is a recv of n random bytes (they do not compress).
func randomRecv(session string, i, n int, at time.Time) engine.Event {
	data := make([]byte, n)
	rand.Read(data)
	return engine.Event{Session: session, Server: "srv-x", Conn: "c", At: at.Add(time.Duration(i)), Kind: engine.KindRecv, Net: "tcp",
		Local: "127.0.0.1:20000", Remote: "127.0.0.1:40000", Data: data, Len: n}
}

func TestSessionByteCapFloodStaysUnderBudget(t *testing.T) {
	st := mustOpen(t)
	const capBytes = 1 << 20
	rec := newRecorder(t, st, nil, RecorderConfig{MaxBatch: 32, MaxSessionBytes: capBytes})
	flood := mustCreate(t, st, "flood")
	now := time.Now()
	for i := range 2000 { // 8 MB offered
		rec.Emit(randomRecv(flood.ID, i, 4096, now))
		if i%64 == 0 {
			mustFlush(t, rec) // batches as a live flood makes them
		}
	}
	mustFlush(t, rec)
	recs := allEvents(t, st, flood.ID)
	m := capMarkers(recs)
	if len(m) != 1 || m[0].Meta["cap"] != "bytes" || m[0].Seq != int64(len(recs)) {
		t.Fatalf("%d events, markers %+v: want one bytes marker, last", len(recs), m)
	}
	u, _ := st.Usage(context.Background(), []string{flood.ID})
	// The cap is checked per batch: at most one batch (64 events here) past it.
	if b := u[flood.ID].Bytes; b < capBytes || b > capBytes+64*(4096*4/3+400) {
		t.Errorf("stored %d bytes with a cap of %d", b, capBytes)
	}
	if got := u[flood.ID].NotKept + int64(len(recs)) - 1; got != 2000 {
		t.Errorf("kept %d + not kept %d = %d, want the 2000 emitted", len(recs)-1, u[flood.ID].NotKept, got)
	}
	f, err := st.FileSize(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if f.Used > 2*capBytes {
		t.Errorf("database uses %d bytes after a flood of 8 MB into a session capped at %d", f.Used, capBytes)
	}
	t.Logf("flood of 8 MB offered: %d events kept, %d bytes stored, database %d bytes used (file %d + WAL %d)",
		len(recs), u[flood.ID].Bytes, f.Used, f.DB, f.WAL)
}

func TestRetentionDeletesOldestFirstNeverALiveOneAndShrinksTheFile(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	ctx := context.Background()
	var mode int
	if err := st.db.QueryRow(`PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode != 2 {
		t.Fatalf("auto_vacuum = %d (%v), want 2 (INCREMENTAL, migration 9)", mode, err)
	}
	var ids []string
	for i := range 5 {
		s := mustCreate(t, st, fmt.Sprint("s", i))
		ids = append(ids, s.ID)
		// Activity: s0 oldest … s4 newest.
		at := time.Now().Add(time.Duration(i-10) * time.Minute)
		if _, err := st.db.Exec(`UPDATE sessions SET created_at = ? WHERE id = ?`, at.Add(-time.Hour).UnixNano(), s.ID); err != nil {
			t.Fatal(err)
		}
		for j := range 500 { // 2 MB each
			rec.Emit(randomRecv(s.ID, j, 4096, at))
		}
	}
	old := mustCreate(t, st, "ancient")
	if _, err := st.db.Exec(`UPDATE sessions SET created_at = ? WHERE id = ?`, time.Now().Add(-48*time.Hour).UnixNano(), old.ID); err != nil {
		t.Fatal(err)
	}
	mustFlush(t, rec)
	live := ids[0] // the oldest has a live server
	u, err := st.Usage(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	f, err := st.FileSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A budget that deleting s1, s2 and s3 meets, and s1 and s2 do not.
	budget := f.Used - u[ids[1]].Bytes - u[ids[2]].Bytes - u[ids[3]].Bytes/2
	var gone []string
	ret := NewRetention(st, rec, RetentionConfig{MaxBytes: budget, MaxAge: 24 * time.Hour},
		func(s string) bool { return s == live }, func(s string) { gone = append(gone, s) }, testLog)
	rep, err := ret.Once(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for _, d := range rep.Deleted {
		deleted = append(deleted, d.ID)
	}
	// ancient by age; then s1, s2 and s3 (s0 is live) until under budget.
	if want := []string{old.ID, ids[1], ids[2], ids[3]}; !slices.Equal(deleted, want) || !slices.Equal(gone, want) {
		t.Fatalf("deleted %v (callback %v), want %v (names: ancient s1 s2 s3)", deleted, gone, want)
	}
	for _, id := range []string{live, ids[4]} {
		if _, err := st.GetSession(ctx, id); err != nil {
			t.Errorf("session %s: %v, want it kept", id, err)
		}
	}
	if rep.After.Used > budget {
		t.Errorf("used %d after retention, budget %d", rep.After.Used, budget)
	}
	// The file and its log together (what was written may still be in the
	// log: the checkpointer copies it within a second).
	if rep.After.DB+rep.After.WAL >= rep.Before.DB+rep.Before.WAL-4<<20 || rep.After.WAL != 0 {
		t.Errorf("the file did not shrink: %+v → %+v", rep.Before, rep.After)
	}
	t.Logf("retention: file %d + WAL %d bytes before, %d + %d after; deleted %d sessions", rep.Before.DB, rep.Before.WAL,
		rep.After.DB, rep.After.WAL, len(rep.Deleted))
	if last := ret.Last(); len(last.Deleted) != 4 || last.Deleted[0].Reason == "" {
		t.Errorf("Last() = %+v", last)
	}

	// Over budget with only live sessions: nothing is deleted and the report says why.
	ret = NewRetention(st, rec, RetentionConfig{MaxBytes: 1 << 20}, func(string) bool { return true }, nil, testLog)
	rep, err = ret.Once(ctx)
	if err != nil || len(rep.Deleted) != 0 || rep.Kept == "" {
		t.Errorf("all live: %+v %v", rep, err)
	}
}

// BenchmarkSessionList500 is the session list's cost of its size on disk:
// listing 500 sessions (each with 300 events in two chunks) with Usage,
// against the list alone in the same run.
func BenchmarkSessionList500(b *testing.B) {
	st := mustOpen(b)
	rec := newRecorder(b, st, nil, RecorderConfig{})
	for i := range 500 {
		s := mustCreate(b, st, fmt.Sprint("s", i))
		for j := range 300 {
			rec.Emit(recvEvent(s.ID, "c", j))
		}
	}
	mustFlush(b, rec)
	ctx := context.Background()
	list := func() []Session {
		l, _, err := st.ListSessions(ctx, "", 500)
		if err != nil || len(l) != 500 {
			b.Fatal(len(l), err)
		}
		return l
	}
	var base, with time.Duration
	for b.Loop() {
		t0 := time.Now()
		list()
		t1 := time.Now()
		l := list()
		ids := make([]string, len(l))
		for i := range l {
			ids[i] = l[i].ID
		}
		u, err := st.Usage(ctx, ids)
		if err != nil || len(u) != 500 {
			b.Fatal(err)
		}
		base, with = base+t1.Sub(t0), with+time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(base.Microseconds())/n/1000, "list-ms")
	b.ReportMetric(float64(with.Microseconds())/n/1000, "list+usage-ms")
	b.ReportMetric(float64(with)/float64(base), "ratio")
}
