//go:build unix

package engine

import (
	"bytes"
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

// socketSession opens, in session s of lab, a tcp-echo and n tcp clients
// to it, then closes closed more clients (their connections stay in the
// kernel in TIME-WAIT), and waits until the table lists them all.
func socketSession(b *testing.B, lab *Lab, n, closed int) {
	srv := startEcho(b, lab, "s", "")
	for range closed {
		c := openTCPClient(b, lab, "s", srv.Addr, "")
		if _, err := lab.CloseClient("s", c.ID, false); err != nil {
			b.Fatal(err)
		}
	}
	for range n {
		openTCPClient(b, lab, "s", srv.Addr, "")
	}
	want := 1 + 2*n + closed
	deadline := time.Now().Add(waitTimeout)
	for {
		rows := lab.Sockets("s")
		tw := 0
		for _, r := range rows {
			if r.Closed && r.State == "TIME-WAIT" {
				tw++
			}
		}
		if len(rows) == want && tw == closed {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d sockets (%d in TIME-WAIT), want %d (%d)", len(rows), tw, want, closed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tableCPU builds the table (and its JSON) of session s the way k says
// and returns the process's CPU time (getrusage) and the wall time it
// took, so that a shared machine's other work does not count.
func tableCPU(b *testing.B, lab *Lab, k kernelPath, rows int) (cpu, wall time.Duration) {
	t0, c0 := time.Now(), cpuTime(b)
	j := AppendSocketsJSON(nil, lab.sockets("s", k))
	cpu, wall = cpuTime(b)-c0, time.Since(t0)
	if n := bytes.Count(j, []byte(`"role"`)); n != rows {
		b.Fatalf("%d rows, want %d", n, rows)
	}
	return cpu, wall
}

// BenchmarkSocketTable1000 builds the socket table of a session holding
// 1001 open sockets (a tcp-echo listener, 500 tcp clients and the 500
// connections it accepted), with TCP_INFO of each on Linux, and as JSON,
// both ways in the same run: what Sockets does (a getsockopt(TCP_INFO) per
// connection at this size) and the kernel's view of them all from one
// sock_diag dump. Goal: under 5 ms of CPU per table.
func BenchmarkSocketTable1000(b *testing.B) {
	lab, _ := newTestLab(b, LabConfig{})
	socketSession(b, lab, 500, 0)
	if kernelDump != nil {
		// Every connection is in the dump (none asked by getsockopt).
		if n := dumpFound(lab, "s"); n != 1000 {
			b.Fatalf("the dump found %d of the 1000 connections", n)
		}
	}
	auto := autoKernel
	dump := kernelPath{dump: kernelDump}
	var tableCPUs, dumpCPUs, tableWall, dumpWall time.Duration
	for b.Loop() {
		c, w := tableCPU(b, lab, auto, 1001)
		tableCPUs, tableWall = tableCPUs+c, tableWall+w
		c, w = tableCPU(b, lab, dump, 1001)
		dumpCPUs, dumpWall = dumpCPUs+c, dumpWall+w
	}
	runs := float64(b.N)
	b.ReportMetric(1001, "sockets")
	b.ReportMetric(tableCPUs.Seconds()*1e3/runs, "table-cpu-ms")
	b.ReportMetric(tableWall.Seconds()*1e3/runs, "table-ms")
	b.ReportMetric(dumpCPUs.Seconds()*1e3/runs, "all-dump-cpu-ms")
	b.ReportMetric(dumpWall.Seconds()*1e3/runs, "all-dump-ms")
	b.ReportMetric(dumpCPUs.Seconds()/tableCPUs.Seconds(), "all-dump-vs-table-cpu")
}

// BenchmarkSocketTableClosed30 is the table of the same 1001 open sockets
// and 30 connections the session closed (a session lists its 32 latest
// closed clients), which the kernel holds in TIME-WAIT, three ways in the
// same run: their states by exact sock_diag lookups (what Sockets does),
// from one sock_diag dump of the closing states, and from /proc/net/tcp
// (what it did before, and does where netlink is refused).
func BenchmarkSocketTableClosed30(b *testing.B) {
	if kernelDump == nil {
		b.Skip("no sock_diag here")
	}
	lab, _ := newTestLab(b, LabConfig{})
	socketSession(b, lab, 500, 30)
	dump := kernelPath{dump: kernelDump, openAtLeast: diagOpenAtLeast}
	var newCPU, dumpCPU, procCPU time.Duration
	for b.Loop() {
		c, _ := tableCPU(b, lab, autoKernel, 1031)
		newCPU += c
		c, _ = tableCPU(b, lab, dump, 1031)
		dumpCPU += c
		c, _ = tableCPU(b, lab, kernelPath{}, 1031)
		procCPU += c
	}
	runs := float64(b.N)
	b.ReportMetric(1031, "sockets")
	b.ReportMetric(newCPU.Seconds()*1e3/runs, "table-cpu-ms")
	b.ReportMetric(dumpCPU.Seconds()*1e3/runs, "dump-table-cpu-ms")
	b.ReportMetric(procCPU.Seconds()*1e3/runs, "proc-table-cpu-ms")
	b.ReportMetric(procCPU.Seconds()/newCPU.Seconds(), "proc-vs-table-cpu")
}

// dumpFound is how many of session's TCP connections one dump of every
// state finds (with their TCP_INFO).
func dumpFound(lab *Lab, session string) int {
	var table []tableConn
	owners := lab.sessionOwners(session)
	for i := range owners {
		for _, c := range openConns.of(owners[i].id, nil) {
			table = append(table, tableConn{c: c, o: &owners[i]})
		}
	}
	var infos tcpInfos
	if !kernelView(kernelDump, true, table, nil, nil, &infos) {
		return -1
	}
	n := 0
	for _, t := range table {
		if t.found && t.info != nil {
			n++
		}
	}
	return n
}
