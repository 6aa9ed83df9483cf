package sessions

import (
	"errors"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// timedSession records n events one millisecond apart from base (every
// tenth with an error) and returns the session.
func timedSession(t *testing.T, st *Store, n int, base time.Time) string {
	t.Helper()
	rec := newRecorder(t, st, nil, RecorderConfig{})
	sess := mustCreate(t, st, "timed")
	for i := range n {
		ev := engine.Event{Session: sess.ID, Kind: engine.KindRecv, At: base.Add(time.Duration(i) * time.Millisecond), Len: i}
		if i%10 == 0 {
			ev.Kind, ev.Err = engine.KindError, &engine.SockErr{Errno: "ECONNRESET"}
		}
		rec.Emit(ev)
		if i%300 == 0 {
			mustFlush(t, rec) // several batches: chunks of various sizes
		}
	}
	mustFlush(t, rec)
	return sess.ID
}

func TestTimelineCountsEventsAndErrorsPerBucket(t *testing.T) {
	st := mustOpen(t)
	base := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	const n = 2000 // 2 s of events
	id := timedSession(t, st, n, base)
	for _, buckets := range []int{1, 7, 20, 100} {
		tl, err := st.Timeline(testCtx(t), id, buckets)
		if err != nil {
			t.Fatal(err)
		}
		if len(tl) != buckets {
			t.Fatalf("%d buckets, want %d", len(tl), buckets)
		}
		var events, errs int64
		for i, b := range tl {
			events += b.Events
			errs += b.Errors
			if i > 0 && !b.From.Equal(tl[i-1].To) {
				t.Errorf("bucket %d starts at %v, the one before ends at %v", i, b.From, tl[i-1].To)
			}
			// Each bucket holds about its share: off by at most a chunk.
			want := float64(n) / float64(buckets)
			if d := float64(b.Events) - want; d > 256 || d < -256 {
				t.Errorf("%d buckets: bucket %d has %d events, want about %.0f", buckets, i, b.Events, want)
			}
			if b.Events > 0 && (b.FirstSeq < 1 || b.FirstSeq > n) {
				t.Errorf("bucket %d: first seq %d", i, b.FirstSeq)
			}
		}
		if events != n || errs != n/10 {
			t.Errorf("%d buckets: %d events and %d errors in all, want %d and %d", buckets, events, errs, n, n/10)
		}
		if !tl[0].From.Equal(base) || tl[buckets-1].To.Before(base.Add((n-1)*time.Millisecond)) {
			t.Errorf("%d buckets span %v..%v, want the session's %v..%v", buckets, tl[0].From, tl[buckets-1].To, base, base.Add((n-1)*time.Millisecond))
		}
	}
	empty := mustCreate(t, st, "empty")
	if tl, err := st.Timeline(testCtx(t), empty.ID, 10); err != nil || len(tl) != 0 {
		t.Errorf("empty session: %v, %v; want no buckets", tl, err)
	}
	for _, bad := range []int{0, -1, MaxBuckets + 1} {
		if _, err := st.Timeline(testCtx(t), id, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Timeline(%d buckets) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestSeqAtFindsTheFirstEventAtOrAfter(t *testing.T) {
	st := mustOpen(t)
	base := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	const n = 1500
	id := timedSession(t, st, n, base)
	ms := func(f float64) time.Time { return base.Add(time.Duration(f * float64(time.Millisecond))) }
	for _, tt := range []struct {
		at   time.Time
		want int64
	}{
		{base.Add(-time.Hour), 1},
		{base, 1},
		{ms(0.5), 2},
		{ms(500), 501},
		{ms(500.5), 502},
		{ms(1499), n},
		{ms(1499.1), 0},
		{base.Add(time.Hour), 0},
	} {
		got, err := st.SeqAt(testCtx(t), id, tt.at)
		if err != nil || got != tt.want {
			t.Errorf("SeqAt(%v) = %d, %v; want %d", tt.at.Sub(base), got, err, tt.want)
		}
	}
}
