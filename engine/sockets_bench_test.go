//go:build unix

package engine

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSocketTable1000 builds the socket table of a session holding
// 1001 open sockets (a tcp-echo listener, 500 tcp clients and the 500
// connections it accepted), with TCP_INFO of each on Linux, and as JSON;
// the baseline, in the same run, lists the same sockets' ids only. Goal:
// under 5 ms of CPU per table.
func BenchmarkSocketTable1000(b *testing.B) {
	lab, _ := newTestLab(b, LabConfig{})
	srv := startEcho(b, lab, "s", "")
	for range 500 {
		openTCPClient(b, lab, "s", srv.Addr, "")
	}
	deadline := time.Now().Add(waitTimeout)
	for len(lab.Sockets("s")) != 1001 {
		if time.Now().After(deadline) {
			b.Fatalf("%d sockets, want 1001", len(lab.Sockets("s")))
		}
		time.Sleep(10 * time.Millisecond)
	}
	var table, ids, cpu time.Duration
	var rows int
	for b.Loop() {
		t0 := time.Now()
		n := len(lab.SocketIDs("s"))
		t1 := time.Now()
		c0 := cpuTime(b)
		j := AppendSocketsJSON(nil, lab.Sockets("s"))
		cpu += cpuTime(b) - c0
		t2 := time.Now()
		if n < 1000 || len(j) == 0 {
			b.Fatalf("%d ids, %d bytes of JSON", n, len(j))
		}
		ids += t1.Sub(t0)
		table += t2.Sub(t1)
		rows = n + 1
	}
	runs := float64(b.N)
	b.ReportMetric(float64(rows), "sockets")
	b.ReportMetric(table.Seconds()*1e3/runs, "table-ms")
	b.ReportMetric(cpu.Seconds()*1e3/runs, "table-cpu-ms")
	b.ReportMetric(ids.Seconds()*1e3/runs, "ids-only-ms")
	b.ReportMetric(table.Seconds()/ids.Seconds(), "table-vs-ids")
}
