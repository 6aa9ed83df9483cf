package engine_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// The UDP benchmark compares sockplay's recorded udp-echo with a bare UDP
// echo in the same run, like the TCP ones in bench_test.go:
//
//	go test -run XXX -bench UDPEcho -benchtime 10x ./engine/

// bareUDPEcho is the baseline: one ReadFrom/WriteTo loop, nothing else.
func bareUDPEcho(b *testing.B) (addr string, stop func()) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65507)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			pc.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return pc.LocalAddr().String(), func() { pc.Close(); <-done }
}

// udpEchoOptions are the udp-echo server's options in the benchmark: the
// rate at its maximum, so that it does not limit the client.
var udpEchoOptions, _ = json.Marshal(map[string]any{"mode": "echo", "rate": engine.MaxUDPRate})

// recordedUDPEcho is a udp-echo server of a Lab whose sink is the real
// recorder on a SQLite file.
func recordedUDPEcho(b *testing.B) (addr string, rec *sessions.Recorder, stop func()) {
	rec, session, closeRec := benchRecorder(b)
	ports, _ := engine.ParsePortRange("26000-26999")
	lab := engine.NewLab(engine.LabConfig{Ports: ports, CaptureCap: 1 << 20}, rec, slog.New(slog.DiscardHandler))
	info, err := lab.StartServer(session, engine.ServerSpec{Kind: "udp-echo", Options: udpEchoOptions})
	if err != nil {
		b.Fatal(err)
	}
	return info.Addr, rec, func() { lab.Close(); closeRec() }
}

// instrumentedUDPEcho is the udp-echo server with its events discarded:
// what the server and its events cost without recording.
func instrumentedUDPEcho(b *testing.B) (addr string, stop func()) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ports, _ := engine.ParsePortRange("26000-26999")
	lab := engine.NewLab(engine.LabConfig{Ports: ports, CaptureCap: 1 << 20}, engine.SinkFunc(func(engine.Event) {}), log)
	info, err := lab.StartServer("bench", engine.ServerSpec{Kind: "udp-echo", Options: udpEchoOptions})
	if err != nil {
		b.Fatal(err)
	}
	return info.Addr, func() { lab.Close() }
}

// udpRoundTrips sends k 64-byte datagrams from one client socket, each
// after the reply to the previous one. A lost datagram fails the benchmark
// at the deadline rather than hanging it.
func udpRoundTrips(b *testing.B, addr string, k int) time.Duration {
	c, err := net.Dial("udp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	msg := make([]byte, 64)
	buf := make([]byte, 1024)
	start := time.Now()
	for range k {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		n, err := c.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		if n != len(msg) {
			b.Fatalf("reply of %d bytes, want %d", n, len(msg))
		}
	}
	return time.Since(start)
}

// BenchmarkUDPEchoRoundTrip64: datagrams a second through sockplay's
// recorded udp-echo (two events per datagram: datagram-in and
// datagram-out, committed to SQLite inside the timed section) over a bare
// ReadFrom/WriteTo echo. Goal: ratio >= 0.7.
func BenchmarkUDPEchoRoundTrip64(b *testing.B) {
	const k = 20000
	bareAddr, stopBare := bareUDPEcho(b)
	defer stopBare()
	instAddr, stopInst := instrumentedUDPEcho(b)
	defer stopInst()
	addr, rec, stop := recordedUDPEcho(b)
	defer stop()
	var bare, inst, play time.Duration
	for b.Loop() {
		bare += udpRoundTrips(b, bareAddr, k)
		play += udpRoundTrips(b, addr, k) + flush(b, rec)
		inst += udpRoundTrips(b, instAddr, k)
	}
	total := float64(k) * float64(b.N)
	b.ReportMetric(total/bare.Seconds(), "bare-datagrams/s")
	b.ReportMetric(total/inst.Seconds(), "instrumented-datagrams/s")
	b.ReportMetric(total/play.Seconds(), "sockplay-datagrams/s")
	b.ReportMetric(bare.Seconds()/inst.Seconds(), "instrumented-vs-bare")
	b.ReportMetric(float64(rec.Stats().Waits), "backpressure-waits")
	b.ReportMetric(bare.Seconds()/play.Seconds(), "ratio")
}
