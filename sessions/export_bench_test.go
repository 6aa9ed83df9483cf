package sessions

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// countingDiscard counts what an export writes.
type countingDiscard struct{ n int64 }

func (c *countingDiscard) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// recordTraffic emits n events of TCP traffic into session through the
// recorder, as a busy session looks: connections of 100 events each (an
// accept, 49 recv/send pairs of 64 bytes, a close), both ends in the
// session for every other one.
func recordTraffic(b *testing.B, rec *Recorder, session string, n int) {
	at := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	payload := make([]byte, 64)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	for i := 0; i < n; {
		c := i / 100
		local, remote := "127.0.0.1:20000", fmt.Sprintf("127.0.0.1:%d", 30000+c%30000)
		conn := fmt.Sprintf("c-%012d", c)
		emit := func(kind engine.Kind, data []byte, meta map[string]any) {
			if i >= n {
				return
			}
			at = at.Add(time.Microsecond)
			ev := engine.Event{Session: session, Server: "srv-bench", Conn: conn, At: at, Kind: kind, Net: engine.NetTCP,
				Local: local, Remote: remote, Meta: meta}
			if data != nil {
				ev.Data, ev.Len = append([]byte(nil), data...), len(data)
			}
			rec.Emit(ev)
			i++
		}
		emit(engine.KindAccept, nil, nil)
		for range 49 {
			emit(engine.KindRecv, payload, nil)
			emit(engine.KindSend, payload, nil)
		}
		emit(engine.KindClose, nil, map[string]any{"by": "peer", "half": false, "rst": false})
	}
	mustFlush(b, rec)
}

const (
	benchSmallEvents = 10_000
	benchLargeEvents = 200_000
)

// exportBenchStore records a small and a large session through the
// recorder.
func exportBenchStore(b *testing.B) (*Store, Session, Session) {
	st := mustOpen(b)
	rec := NewRecorder(st, NewHub(16), RecorderConfig{}, testLog)
	small, large := mustCreate(b, st, "small"), mustCreate(b, st, "large")
	recordTraffic(b, rec, small.ID, benchSmallEvents)
	recordTraffic(b, rec, large.ID, benchLargeEvents)
	rec.Close()
	var err error
	if small, err = st.GetSession(context.Background(), small.ID); err != nil {
		b.Fatal(err)
	}
	if large, err = st.GetSession(context.Background(), large.ID); err != nil {
		b.Fatal(err)
	}
	return st, small, large
}

// exportTo writes sess in format to w, as the web handlers do.
func exportTo(st *Store, sess Session, format string, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var write func(*Record) error
	flush := func() error { return nil }
	switch format {
	case "scan": // the baseline: read every event, write nothing
		write = func(*Record) error { return nil }
	case "jsonl":
		// As web/export.go writes it: the stored JSON as it is, never
		// decoded (the decoded Scan is the pcapng and txt writers' input).
		if err := WriteJSONLHeader(bw, sess); err != nil {
			return err
		}
		var line []byte
		if err := st.ScanRaw(context.Background(), sess.ID, 0, func(e RawEvent) error {
			line = e.AppendJSON(line[:0])
			bw.Write(line)
			return bw.WriteByte('\n')
		}); err != nil {
			return err
		}
		return bw.Flush()
	case "pcapng":
		pw, err := NewPcapWriter(bw, sess)
		if err != nil {
			return err
		}
		write, flush = pw.Write, pw.Flush
	case "txt":
		tw, err := NewTranscriptWriter(bw, sess, "")
		if err != nil {
			return err
		}
		write, flush = tw.Write, tw.Flush
	}
	if err := st.Scan(context.Background(), sess.ID, 0, write); err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	return bw.Flush()
}

// peakHeap runs f and returns the most live heap seen while it ran, above
// what was live before (sampled every millisecond).
func peakHeap(f func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if h := read(); h > peak {
				peak = h
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	if peak < base {
		return 0
	}
	return peak - base
}

// BenchmarkExport exports a 200,000-event session, recorded through the
// recorder, as jsonl, pcapng and txt. It reports MB/s of output, events/s,
// the bytes allocated per event, the peak live heap of one export of the
// large session against one of the 10,000-event session (memory must not
// grow with the session: the ratio stays near 1, not 20), and the time
// against the baseline in the same run: a bare Store.Scan of the session
// (x-bare-scan-cpu: the export's CPU time over the bare scan's).
func BenchmarkExport(b *testing.B) {
	st, small, large := exportBenchStore(b)
	scanStart, scanCPU := time.Now(), cpuTime()
	if err := exportTo(st, large, "scan", io.Discard); err != nil {
		b.Fatal(err)
	}
	scan, scanCPUPer := time.Since(scanStart), cpuTime()-scanCPU
	for _, format := range []string{"jsonl", "pcapng", "txt"} {
		b.Run(format, func(b *testing.B) {
			var out countingDiscard
			if err := exportTo(st, large, format, &out); err != nil {
				b.Fatal(err)
			}
			size := out.n
			heapSmall := peakHeap(func() { _ = exportTo(st, small, format, io.Discard) })
			heapLarge := peakHeap(func() { _ = exportTo(st, large, format, io.Discard) })
			b.SetBytes(size)
			b.ReportAllocs()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			start, cpu0 := time.Now(), cpuTime()
			n := 0
			for b.Loop() {
				if err := exportTo(st, large, format, io.Discard); err != nil {
					b.Fatal(err)
				}
				n++
			}
			per := time.Since(start) / time.Duration(n)
			cpuPer := (cpuTime() - cpu0) / time.Duration(n)
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(large.Events)/per.Seconds(), "events/s")
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(n)/float64(large.Events), "alloc-B/event")
			b.ReportMetric(float64(heapLarge)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(heapLarge)/float64(max(heapSmall, 1)), "peak-heap-200k/10k")
			b.ReportMetric(per.Seconds()/scan.Seconds(), "x-bare-scan-wall")
			b.ReportMetric(cpuPer.Seconds()/scanCPUPer.Seconds(), "x-bare-scan-cpu")
			b.ReportMetric(float64(scanCPUPer.Nanoseconds())/float64(large.Events), "scan-cpu-ns/event")
			// On a shared machine wall time waits for the CPU; CPU time
			// per event says what an export costs.
			b.ReportMetric(float64(cpuPer.Nanoseconds())/float64(large.Events), "cpu-ns/event")
			b.ReportMetric(float64(size)/(1<<20)/cpuPer.Seconds(), "MB/cpu-s")
		})
	}
}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExportWriters measures the writers alone, fed records already
// read (the 10,000-event session), against the baseline of writing each
// record's stored JSON: what an export costs on top of reading the store
// (x-jsonl: CPU time over the baseline's).
func BenchmarkExportWriters(b *testing.B) {
	st, small, _ := exportBenchStore(b)
	var recs []Record
	if err := st.Scan(context.Background(), small.ID, 0, func(r *Record) error {
		r.JSON()
		recs = append(recs, *r)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, mk func(w io.Writer) (func(*Record) error, func() error)) float64 {
		var out countingDiscard
		b.ReportAllocs()
		start, cpu0 := time.Now(), cpuTime()
		n := 0
		for b.Loop() {
			out.n = 0
			bw := bufio.NewWriterSize(&out, 64<<10)
			write, flush := mk(bw)
			for i := range recs {
				if err := write(&recs[i]); err != nil {
					b.Fatal(err)
				}
			}
			if err := flush(); err != nil {
				b.Fatal(err)
			}
			bw.Flush()
			n++
		}
		b.SetBytes(out.n)
		b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(n*len(recs)), "ns/event")
		perEvent := float64((cpuTime() - cpu0).Nanoseconds()) / float64(n*len(recs))
		b.ReportMetric(perEvent, "cpu-ns/event")
		return perEvent
	}
	var jsonl float64
	b.Run("jsonl", func(b *testing.B) {
		jsonl = run(b, func(w io.Writer) (func(*Record) error, func() error) {
			return func(r *Record) error { w.Write(r.JSON()); _, err := w.Write([]byte{'\n'}); return err }, func() error { return nil }
		})
	})
	b.Run("pcapng", func(b *testing.B) {
		pcap := run(b, func(w io.Writer) (func(*Record) error, func() error) {
			pw, err := NewPcapWriter(w, small)
			if err != nil {
				b.Fatal(err)
			}
			return pw.Write, pw.Flush
		})
		b.ReportMetric(pcap/jsonl, "x-jsonl")
	})
	b.Run("txt", func(b *testing.B) {
		txt := run(b, func(w io.Writer) (func(*Record) error, func() error) {
			tw, err := NewTranscriptWriter(w, small, "")
			if err != nil {
				b.Fatal(err)
			}
			return tw.Write, tw.Flush
		})
		b.ReportMetric(txt/jsonl, "x-jsonl")
	})
}
