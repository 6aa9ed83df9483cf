package engine_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// The benchmarks compare sockplay's instrumented and recorded echo with a
// bare echo in the same run and report the ratio, so that a noisy machine
// moves both sides alike.
//
//	go test -run XXX -bench Echo -benchtime 20x ./engine/

// plainEcho is the baseline the issue names: accept and io.Copy, nothing
// else. On Linux io.Copy between TCP sockets uses splice(2).
func plainEcho(b *testing.B) (addr string, stop func()) {
	return bareEcho(b, func(c net.Conn) { io.Copy(c, c) })
}

// loopEcho is a second baseline: the same read/write loop as sockplay's echo
// (one read of up to size bytes, one write), without events or recording.
// It isolates what instrumentation costs.
func loopEcho(b *testing.B, size int) (addr string, stop func()) {
	return bareEcho(b, func(c net.Conn) {
		buf := make([]byte, size)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
		}
	})
}

func bareEcho(b *testing.B, serve func(net.Conn)) (addr string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return serveEcho(ln, serve)
}

// recordedEcho is a tcp-echo server of a Lab whose sink is the real
// recorder on a SQLite file.
func recordedEcho(b *testing.B, recvSize int) (addr string, rec *sessions.Recorder, stop func()) {
	rec, session, closeRec := benchRecorder(b)
	ports, _ := engine.ParsePortRange("25000-25999")
	lab := engine.NewLab(engine.LabConfig{Ports: ports, CaptureCap: 1 << 20}, rec, slog.New(slog.DiscardHandler))
	opts, _ := json.Marshal(map[string]any{"mode": "echo", "recv_size": recvSize})
	info, err := lab.StartServer(session, engine.ServerSpec{Kind: "tcp-echo", Options: opts})
	if err != nil {
		b.Fatal(err)
	}
	return info.Addr, rec, func() { lab.Close(); closeRec() }
}

// benchRecorder is the real recorder on a SQLite file with one session,
// what every recorded benchmark records into. stop closes the recorder,
// then the store (close the lab first).
func benchRecorder(b *testing.B) (rec *sessions.Recorder, session string, stop func()) {
	log := slog.New(slog.DiscardHandler)
	store, err := sessions.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), log)
	if err != nil {
		b.Fatal(err)
	}
	sess, err := store.CreateSession(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	rec = sessions.NewRecorder(store, sessions.NewHub(4096), sessions.RecorderConfig{}, log)
	return rec, sess.ID, func() { rec.Close(); store.Close() }
}

// instrumentedEcho is sockplay's echo with every event built and handed to a
// sink that discards it: what instrumentation costs without recording. With
// rate > 0 the session's events also go through the event-rate pacer (set
// far above what the echo reaches, so it never waits): what pacing costs.
func instrumentedEcho(b *testing.B, recvSize, rate int) (addr string, stop func()) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ports, _ := engine.ParsePortRange("25000-25999")
	lab := engine.NewLab(engine.LabConfig{Ports: ports, CaptureCap: 1 << 20, MaxEventRate: rate}, engine.SinkFunc(func(engine.Event) {}), log)
	opts, _ := json.Marshal(map[string]any{"mode": "echo", "recv_size": recvSize})
	info, err := lab.StartServer("bench", engine.ServerSpec{Kind: "tcp-echo", Options: opts})
	if err != nil {
		b.Fatal(err)
	}
	return info.Addr, func() { lab.Close() }
}

// bulk pushes n bytes through the echo at addr and reads them back.
func bulk(b *testing.B, addr string, n int) time.Duration {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < n; sent += len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
		b.Fatal(err)
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkEchoBulk: throughput of sockplay's echo (one event per read and
// per write, recorded to SQLite) over a bare io.Copy echo. Goal: ratio >= 0.6.
func BenchmarkEchoBulk(b *testing.B) {
	const n = 16 << 20
	compareEchoes(b, 65536, float64(n)/(1<<20), "MB/s", func(addr string) time.Duration { return bulk(b, addr, n) })
}

// BenchmarkEchoBulk4K is BenchmarkEchoBulk with tcp-echo's default
// recv_size, 4096: sixteen times the events per byte, what `go run .`
// users get (cmd/sockbench measures the same on the real binary).
func BenchmarkEchoBulk4K(b *testing.B) {
	const n = 16 << 20
	compareEchoes(b, 4096, float64(n)/(1<<20), "MB/s", func(addr string) time.Duration { return bulk(b, addr, n) })
}

// compareEchoes runs workload against the io.Copy echo, the read/write loop
// echo, sockplay's recorded echo and its instrumented-only echo in turn, and
// reports each one's rate (amount per run / time, in unit) and sockplay's
// ratios to the baselines. ratio-vs-iocopy is the figure the goals are
// about; instrumented-vs-iocopy shows, in the same run, how much of the gap
// is recording, and paced-vs-instrumented what the event-rate pacer costs
// when it never has to wait.
func compareEchoes(b *testing.B, recvSize int, amount float64, unit string, workload func(addr string) time.Duration) {
	plainAddr, stopPlain := plainEcho(b)
	defer stopPlain()
	loopAddr, stopLoop := loopEcho(b, recvSize)
	defer stopLoop()
	instAddr, stopInst := instrumentedEcho(b, recvSize, 0)
	defer stopInst()
	pacedAddr, stopPaced := instrumentedEcho(b, recvSize, 1<<30)
	defer stopPaced()
	addr, rec, stop := recordedEcho(b, recvSize)
	defer stop()
	var plain, loop, inst, paced, play time.Duration
	for b.Loop() {
		plain += workload(plainAddr)
		play += workload(addr) + flush(b, rec)
		loop += workload(loopAddr)
		inst += workload(instAddr)
		paced += workload(pacedAddr)
	}
	b.ReportMetric(plain.Seconds()/inst.Seconds(), "instrumented-vs-iocopy")
	b.ReportMetric(inst.Seconds()/paced.Seconds(), "paced-vs-instrumented")
	b.ReportMetric(float64(rec.Stats().Waits), "backpressure-waits")
	total := amount * float64(b.N)
	b.ReportMetric(total/plain.Seconds(), "iocopy-"+unit)
	b.ReportMetric(total/loop.Seconds(), "loop-"+unit)
	b.ReportMetric(total/play.Seconds(), "sockplay-"+unit)
	b.ReportMetric(plain.Seconds()/play.Seconds(), "ratio-vs-iocopy")
	b.ReportMetric(loop.Seconds()/play.Seconds(), "ratio-vs-loop")
}

// flush waits until every event so far is committed and returns how long
// that took: sockplay's time includes recording everything it emitted, so a
// recorder that lags behind the sockets cannot flatter the ratio.
func flush(b *testing.B, rec *sessions.Recorder) time.Duration {
	start := time.Now()
	if err := rec.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// roundTrips does k 64-byte request/response exchanges on one connection.
func roundTrips(b *testing.B, addr string, k int) time.Duration {
	return netRoundTrips(b, "tcp", addr, k)
}

// BenchmarkEchoRoundTrip64: 64-byte request/response rate of sockplay's
// echo over a bare io.Copy echo, sustained (the recorder's backlog is
// flushed inside the timed section). Goal: ratio >= 0.9.
func BenchmarkEchoRoundTrip64(b *testing.B) {
	const k = 20000
	compareEchoes(b, 4096, k, "rt/s", func(addr string) time.Duration { return roundTrips(b, addr, k) })
}
