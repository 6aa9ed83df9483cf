package engine_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// BenchmarkUnixVsTCPEchoRoundTrip64: 64-byte round trips on one connection
// to sockplay's unix-echo and tcp-echo (recorded by the real recorder on a
// SQLite file, flushed inside the timed section), and to a bare Go echo
// (io.Copy) on each socket type, in the same run. It reports µs per round
// trip of each and the ratios: each sockplay server against the bare echo
// on its own socket type, and unix against tcp, bare and recorded.
//
//	go test -run XXX -bench UnixVsTCP -benchtime 5x ./engine/
func BenchmarkUnixVsTCPEchoRoundTrip64(b *testing.B) {
	const k = 2000
	rec, session, closeRec := benchRecorder(b)
	defer closeRec()
	ports, _ := engine.ParsePortRange("27200-27399")
	lab := engine.NewLab(engine.LabConfig{Ports: ports, CaptureCap: 1 << 20, SocketDir: filepath.Join(b.TempDir(), "s")}, rec, slog.New(slog.DiscardHandler))
	defer lab.Close()
	start := func(kind string, opts map[string]any) string {
		raw, _ := json.Marshal(opts)
		info, err := lab.StartServer(session, engine.ServerSpec{Kind: kind, Options: raw})
		if err != nil {
			b.Fatal(err)
		}
		return info.Addr
	}
	unixAddr := start("unix-echo", map[string]any{"socket": "bench"})
	tcpAddr := start("tcp-echo", nil)
	bareTCP, stopTCP := plainEcho(b)
	defer stopTCP()
	bareUnix, stopUnix := bareUnixEcho(b)
	defer stopUnix()
	var tTCP, tUnix, tBareTCP, tBareUnix time.Duration
	for b.Loop() {
		tBareTCP += netRoundTrips(b, "tcp", bareTCP, k)
		tBareUnix += netRoundTrips(b, "unix", bareUnix, k)
		tTCP += netRoundTrips(b, "tcp", tcpAddr, k) + flush(b, rec)
		tUnix += netRoundTrips(b, "unix", unixAddr, k) + flush(b, rec)
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(k*b.N) }
	b.ReportMetric(per(tBareTCP), "bare-tcp-µs/rt")
	b.ReportMetric(per(tBareUnix), "bare-unix-µs/rt")
	b.ReportMetric(per(tTCP), "tcp-echo-µs/rt")
	b.ReportMetric(per(tUnix), "unix-echo-µs/rt")
	b.ReportMetric(tBareTCP.Seconds()/tTCP.Seconds(), "tcp-echo-vs-bare")
	b.ReportMetric(tBareUnix.Seconds()/tUnix.Seconds(), "unix-echo-vs-bare")
	b.ReportMetric(tBareTCP.Seconds()/tBareUnix.Seconds(), "bare-unix-speedup")
	b.ReportMetric(tTCP.Seconds()/tUnix.Seconds(), "sockplay-unix-speedup")
}

// bareUnixEcho is a Go echo (io.Copy) on a Unix socket: the baseline of
// unix-echo.
func bareUnixEcho(b *testing.B) (path string, stop func()) {
	ln, err := net.Listen("unix", filepath.Join(b.TempDir(), "bare.sock"))
	if err != nil {
		b.Fatal(err)
	}
	return serveEcho(ln, func(c net.Conn) { io.Copy(c, c) })
}

// serveEcho runs serve for every connection ln accepts, until stop.
func serveEcho(ln net.Listener, serve func(net.Conn)) (addr string, stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { serve(c); c.Close() }()
		}
	}()
	return ln.Addr().String(), func() { ln.Close(); <-done }
}

// netRoundTrips does k 64-byte exchanges on one connection over network.
func netRoundTrips(b *testing.B, network, addr string, k int) time.Duration {
	c, err := net.Dial(network, addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg, buf := make([]byte, 64), make([]byte, 64)
	start := time.Now()
	for range k {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}
