package sessions

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// benchBatch is how many rows the baseline inserts per transaction (the
// recorder's default MaxBatch).
const benchBatch = 4096

// benchEvent is the event both benchmarks write: a 16-byte recv, no meta.
func benchEvent(session string, at time.Time) engine.Event {
	return engine.Event{Session: session, Server: "srv-bench", Conn: "c-1", At: at, Kind: engine.KindRecv,
		Local: "127.0.0.1:20000", Remote: "127.0.0.1:40000", Data: []byte("0123456789abcdef"), Len: 16}
}

// prepareRecorder opens a fresh database file with a session and a Recorder
// and returns the measured part: emit n events into the session, flush, and
// report how long that took.
func prepareRecorder(b *testing.B) func(n int) time.Duration {
	st := mustOpen(b)
	rec := newRecorder(b, st, NewHub(16), RecorderConfig{})
	sess := mustCreate(b, st, "bench")
	at := time.Now()
	return func(n int) time.Duration {
		start := time.Now()
		for range n {
			rec.Emit(benchEvent(sess.ID, at))
		}
		mustFlush(b, rec)
		elapsed := time.Since(start)
		if got := rec.Stats().Committed; got != int64(n) {
			b.Fatalf("recorder committed %d events, want %d", got, n)
		}
		return elapsed
	}
}

// baselineTable is the plain way to store events: a row per event, a column
// per field (sockplay's first schema).
const baselineTable = `CREATE TABLE baseline_events (
    session_id TEXT NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, kind TEXT NOT NULL,
    server TEXT NOT NULL, conn TEXT NOT NULL, local TEXT NOT NULL, remote TEXT NOT NULL,
    len INTEGER NOT NULL, data BLOB, truncated INTEGER NOT NULL,
    errno TEXT, err_message TEXT, err_hint TEXT, meta TEXT);
CREATE UNIQUE INDEX baseline_events_seq ON baseline_events (session_id, seq);`

// prepareBaseline opens a fresh database file and returns the measured part:
// insert n rows of the same event into baselineTable with a bare prepared
// INSERT, benchBatch rows per transaction, and report how long that took.
// It is the obvious design the recorder has to beat.
func prepareBaseline(b *testing.B) func(n int) time.Duration {
	st := mustOpen(b)
	if _, err := st.db.Exec(baselineTable); err != nil {
		b.Fatal(err)
	}
	ev := benchEvent("baseline", time.Now())
	ctx := context.Background()
	return func(n int) time.Duration {
		start := time.Now()
		for seq := 0; seq < n; {
			tx, err := st.db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			stmt, err := tx.PrepareContext(ctx, `INSERT INTO baseline_events (session_id, seq, at, kind, server, conn, local, remote,
				len, data, truncated, errno, err_message, err_hint, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
			if err != nil {
				b.Fatal(err)
			}
			for end := min(seq+benchBatch, n); seq < end; {
				seq++
				if _, err := stmt.ExecContext(ctx, ev.Session, seq, ev.At.UnixNano(), string(ev.Kind), ev.Server, ev.Conn,
					ev.Local, ev.Remote, ev.Len, ev.Data, ev.Truncated, nil, nil, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
			if err := stmt.Close(); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		elapsed := time.Since(start)
		var got int
		if err := st.db.QueryRow(`SELECT COUNT(*) FROM baseline_events`).Scan(&got); err != nil {
			b.Fatal(err)
		}
		if got != n {
			b.Fatalf("baseline inserted %d rows, want %d", got, n)
		}
		return elapsed
	}
}

// BenchmarkRecorder measures b.N events through the Recorder (ns/op and
// events/s) and then, with the timer stopped, the same number of rows through
// the bare baseline on another fresh file, and reports both rates and the
// ratio recorder/baseline.
func BenchmarkRecorder(b *testing.B) {
	b.ReportAllocs()
	b.StopTimer()
	record := prepareRecorder(b)
	baseline := prepareBaseline(b)

	b.StartTimer()
	rec := record(b.N)
	b.StopTimer()
	base := baseline(b.N)

	recRate := float64(b.N) / rec.Seconds()
	baseRate := float64(b.N) / base.Seconds()
	b.ReportMetric(recRate, "events/s")
	b.ReportMetric(baseRate, "baseline-events/s")
	b.ReportMetric(recRate/baseRate, "ratio")
}

// BenchmarkRecorderBaseline measures the bare prepared INSERT alone.
func BenchmarkRecorderBaseline(b *testing.B) {
	b.StopTimer()
	baseline := prepareBaseline(b)
	b.StartTimer()
	base := baseline(b.N)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/base.Seconds(), "events/s")
}

// BenchmarkEmit measures what recording costs the sockets' goroutines: the
// CPU of Emit (making the event's JSON, queuing it) for a 64-byte recv
// with the ids and addresses of a real connection, from parallel
// goroutines as connections emit, the writer committing behind them. Its
// ns/op and allocs/op are per event (allocs/op: those of the emitting
// goroutines and the writer's alike).
func BenchmarkEmit(b *testing.B) {
	st := mustOpen(b)
	rec := newRecorder(b, st, NewHub(16), RecorderConfig{})
	sess := mustCreate(b, st, "bench")
	data := bytes.Repeat([]byte("y\n"), 32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec.Emit(engine.Event{Session: sess.ID, Server: "srv-4f9a2c1e", Conn: "c-8d3e7a10", At: time.Now(), Kind: engine.KindRecv,
				Net: "tcp", Local: "127.0.0.1:20000", Remote: "127.0.0.1:55850", Len: len(data), Data: data})
		}
	})
	b.StopTimer()
	mustFlush(b, rec)
}

// BenchmarkAppendTail is the event JSON alone, as Emit makes it for a
// 64-byte recv, with the clock advancing as a flood's does.
func BenchmarkAppendTail(b *testing.B) {
	data := bytes.Repeat([]byte("y\n"), 32)
	ev := engine.Event{Session: "adysdpu4hy3oexak4uqfj74c", Server: "srv-4f9a2c1e", Conn: "c-8d3e7a10", Kind: engine.KindRecv,
		Net: "tcp", Local: "127.0.0.1:20000", Remote: "127.0.0.1:55850", Len: len(data), Data: data}
	at := time.Now()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev.At = at.Add(time.Duration(i) * 3 * time.Microsecond)
		buf = appendTail(buf[:0], &ev)
	}
}
