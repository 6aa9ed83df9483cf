package engine_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// The proxy benchmarks compare sockplay's recorded tcp-proxy with a bare
// io.Copy proxy, both in front of the same bare io.Copy echo, in the same
// run, and report the ratio (goals: bulk >= 0.45, round trips >= 0.9). Two
// more proxies show where the gap comes from: a bare read/write loop (the
// cost of copying through user space instead of splice), and sockplay's
// proxy with every event built but dropped by the sink (the cost of the
// instrumentation; the rest is the recording).
//
//	go test -run XXX -bench Proxy -benchtime 3x ./engine/

// bareProxy accepts, dials target and copies both ways with io.Copy (on
// Linux, splice(2) between the two sockets), passing each FIN on. stop
// waits for every connection to end.
func bareProxy(b *testing.B, target string) (addr string, stop func()) {
	return plainProxy(b, target, func(dst, src net.Conn) { io.Copy(dst, src) })
}

// loopProxy is a second baseline: the same read/write loop as sockplay's
// proxy (reads of up to size bytes, each written at once), without events.
// Against bareProxy it shows what copying through user space costs.
func loopProxy(b *testing.B, target string, size int) (addr string, stop func()) {
	return plainProxy(b, target, func(dst, src net.Conn) {
		buf := make([]byte, size)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
}

// plainProxy accepts, dials target and runs copy both ways, passing each
// FIN on.
func plainProxy(b *testing.B, target string, copy func(dst, src net.Conn)) (addr string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				var out sync.WaitGroup
				out.Go(func() { copy(up, c); up.(*net.TCPConn).CloseWrite() })
				copy(c, up)
				c.(*net.TCPConn).CloseWrite()
				out.Wait()
			})
		}
	})
	return ln.Addr().String(), func() { ln.Close(); wg.Wait() }
}

// labProxy starts a tcp-proxy to target in a Lab emitting to sink, whose
// dial policy allows exactly target.
func labProxy(b *testing.B, sink engine.Sink, session, target string) (addr string, lab *engine.Lab) {
	log := slog.New(slog.DiscardHandler)
	ports, _ := engine.ParsePortRange("26000-26999")
	policy := &engine.DialPolicy{LabPorts: ports, AllowAddrs: []netip.AddrPort{netip.MustParseAddrPort(target)}}
	lab = engine.NewLab(engine.LabConfig{Ports: ports, CaptureCap: 1 << 20, Policy: policy}, sink, log)
	opts, _ := json.Marshal(map[string]any{"target": target})
	info, err := lab.StartServer(session, engine.ServerSpec{Kind: "tcp-proxy", Options: opts})
	if err != nil {
		b.Fatal(err)
	}
	return info.Addr, lab
}

// recordedProxy is sockplay's tcp-proxy recorded by the real recorder on a
// SQLite file.
func recordedProxy(b *testing.B, target string) (addr string, rec *sessions.Recorder, stop func()) {
	rec, session, closeRec := benchRecorder(b)
	addr, lab := labProxy(b, rec, session, target)
	return addr, rec, func() { lab.Close(); closeRec() }
}

// instrumentedProxy is sockplay's tcp-proxy with every event built and
// dropped by the sink.
func instrumentedProxy(b *testing.B, target string) (addr string, stop func()) {
	addr, lab := labProxy(b, engine.SinkFunc(func(engine.Event) {}), "bench", target)
	return addr, func() { lab.Close() }
}

// compareProxies runs workload through the bare proxy, the recorded proxy
// (its recording flushed inside the timed section) and the instrumented
// one in turn, and reports each one's rate (amount per run / time, in unit)
// and the ratios.
func compareProxies(b *testing.B, amount float64, unit string, workload func(addr string) time.Duration) {
	echo, stopEcho := plainEcho(b)
	defer stopEcho()
	bareAddr, stopBare := bareProxy(b, echo)
	defer stopBare()
	loopAddr, stopLoop := loopProxy(b, echo, engine.DefaultProxyRecvSize)
	defer stopLoop()
	instAddr, stopInst := instrumentedProxy(b, echo)
	defer stopInst()
	addr, rec, stop := recordedProxy(b, echo)
	defer stop()
	var bare, loop, inst, play time.Duration
	for b.Loop() {
		bare += workload(bareAddr)
		play += workload(addr) + flush(b, rec)
		loop += workload(loopAddr)
		inst += workload(instAddr)
	}
	total := amount * float64(b.N)
	b.ReportMetric(total/bare.Seconds(), "iocopy-"+unit)
	b.ReportMetric(total/loop.Seconds(), "loop-"+unit)
	b.ReportMetric(total/inst.Seconds(), "instrumented-"+unit)
	b.ReportMetric(total/play.Seconds(), "sockplay-"+unit)
	b.ReportMetric(bare.Seconds()/loop.Seconds(), "loop-vs-iocopy")
	b.ReportMetric(bare.Seconds()/inst.Seconds(), "instrumented-vs-iocopy")
	b.ReportMetric(inst.Seconds()/play.Seconds(), "recorded-vs-instrumented")
	b.ReportMetric(float64(rec.Stats().Waits), "backpressure-waits")
	b.ReportMetric(bare.Seconds()/play.Seconds(), "ratio")
}

// BenchmarkProxyBulk: 16 MiB through the proxy to the echo and back.
// Goal: ratio >= 0.45.
func BenchmarkProxyBulk(b *testing.B) {
	const n = 16 << 20
	compareProxies(b, float64(n)/(1<<20), "MB/s", func(addr string) time.Duration { return bulk(b, addr, n) })
}

// BenchmarkProxyRoundTrip64: 64-byte request/response exchanges on 20
// connections at once through the proxy. Goal: ratio >= 0.9.
func BenchmarkProxyRoundTrip64(b *testing.B) {
	const conns, k = 20, 1000
	compareProxies(b, conns*k, "rt/s", func(addr string) time.Duration { return parallelRoundTrips(b, addr, conns, k) })
}

// parallelRoundTrips does k 64-byte exchanges on each of conns connections
// at once and returns how long they all took.
func parallelRoundTrips(b *testing.B, addr string, conns, k int) time.Duration {
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	start := time.Now()
	for range conns {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg, buf := make([]byte, 64), make([]byte, 64)
			for range k {
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	if err := errors.Join(func() (all []error) {
		for err := range errs {
			all = append(all, err)
		}
		return all
	}()...); err != nil {
		b.Fatal(err)
	}
	return d
}
