//go:build unix

package web

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// processCPU is the process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkAPISockets1000 is the whole API call a Sockets panel makes
// every second, GET /api/sessions/{id}/sockets, for a session holding 1001
// open sockets (a tcp-echo listener, 500 tcp clients and the 500
// connections it accepted): routing, the session's lookup, the table with
// each connection's TCP_INFO, its JSON, the HTTP round trip over loopback
// and reading the answer. CPU is the process's (getrusage), and server and
// test client are one process: api-cpu-ms includes the client's HTTP
// round trip, reading the 425 KiB answer and counting its rows (0.5–1 ms
// a call), and one-socket-api-cpu-ms is mostly the client's (0.45–0.65
// ms in all on 2026-12-02, against the server's own 0.15–0.25). The
// server's own CPU, from another process on the real binary, is what `go
// run ./cmd/sockbench -only sockets` measures. The baseline, in the same
// run, is the same call for a session of one tcp-echo and no connections.
func BenchmarkAPISockets1000(b *testing.B) {
	a := newTestApp(b, func(l *engine.LabConfig, _ *Config, _ *int) {
		l.MaxClientsPerSession, l.MaxConnsPerServer = 600, 600
	})
	sess := a.newSession()
	_, addr := a.startEcho(sess, nil)
	for range 500 {
		if _, err := a.Lab.OpenClient(context.Background(), sess, engine.ClientSpec{Kind: "tcp", Target: addr}); err != nil {
			b.Fatal(err)
		}
	}
	small := a.newSession()
	a.startEcho(small, nil)
	get := func(session string, want int) int {
		res, err := http.Get(a.URL + "/api/sessions/" + session + "/sockets")
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			b.Fatalf("GET sockets: %d, %v", res.StatusCode, err)
		}
		if n := bytes.Count(body, []byte(`"role"`)); want > 0 && n != want {
			return -n
		}
		return len(body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for get(sess, 1001) < 0 {
		if time.Now().After(deadline) {
			b.Fatalf("the table never listed 1001 sockets (%d)", -get(sess, 1001))
		}
		time.Sleep(20 * time.Millisecond)
	}
	var bigCPU, smallCPU, bigWall time.Duration
	size := 0
	for b.Loop() {
		t0, c0 := time.Now(), processCPU(b)
		size = get(sess, 1001)
		c1, t1 := processCPU(b), time.Now()
		get(small, 1)
		c2 := processCPU(b)
		if size < 0 {
			b.Fatalf("%d rows, want 1001", -size)
		}
		bigCPU, bigWall, smallCPU = bigCPU+c1-c0, bigWall+t1.Sub(t0), smallCPU+c2-c1
	}
	runs := float64(b.N)
	b.ReportMetric(float64(size)/1024, "KiB")
	b.ReportMetric(bigCPU.Seconds()*1e3/runs, "api-cpu-ms")
	b.ReportMetric(bigWall.Seconds()*1e3/runs, "api-ms")
	b.ReportMetric(smallCPU.Seconds()*1e3/runs, "one-socket-api-cpu-ms")
	b.ReportMetric(bigCPU.Seconds()/smallCPU.Seconds(), "vs-one-socket")
}
