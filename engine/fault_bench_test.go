package engine_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// The fault benchmarks compare connections accepted with the fault
// pipeline present and empty against the same servers without it, in the
// same run, alternating (goal: ratio >= 0.97), and measure how close a
// latency fault's added delay is to what it asks (median and p99, as
// metrics: nothing is asserted).
//
//	go test -run XXX -bench Fault -benchtime 3x ./engine/

// comparePipeline runs workload with the pipeline off and on in turn and
// reports the ratio (time without / time with).
func comparePipeline(b *testing.B, addr string, amount float64, unit string, workload func(addr string) time.Duration) {
	defer engine.SetFaultPipeline(true)
	var without, with time.Duration
	run := func(on bool) {
		engine.SetFaultPipeline(on)
		d := workload(addr)
		if on {
			with += d
		} else {
			without += d
		}
	}
	i := 0
	for b.Loop() {
		// Each goes first every other time: neither gains from its place.
		run(i%2 == 1)
		run(i%2 == 0)
		i++
	}
	total := amount * float64(b.N)
	b.ReportMetric(total/without.Seconds(), "without-"+unit)
	b.ReportMetric(total/with.Seconds(), "empty-pipeline-"+unit)
	b.ReportMetric(without.Seconds()/with.Seconds(), "ratio")
}

// BenchmarkFaultPipelineEchoRoundTrip64: 64-byte round trips on a tcp-echo
// (events built and discarded).
func BenchmarkFaultPipelineEchoRoundTrip64(b *testing.B) {
	addr, stop := instrumentedEcho(b, 4096, 0)
	defer stop()
	const k = 20000
	comparePipeline(b, addr, k, "rt/s", func(addr string) time.Duration { return roundTrips(b, addr, k) })
}

// BenchmarkFaultPipelineProxyBulk: 16 MiB through a tcp-proxy to a bare
// echo and back.
func BenchmarkFaultPipelineProxyBulk(b *testing.B) {
	echo, stopEcho := plainEcho(b)
	defer stopEcho()
	addr, stop := instrumentedProxy(b, echo)
	defer stop()
	const n = 16 << 20
	comparePipeline(b, addr, float64(n)/(1<<20), "MB/s", func(addr string) time.Duration { return bulk(b, addr, n) })
}

// BenchmarkFaultPipelineProxyRoundTrip64: 64-byte round trips on 20
// connections at once through a tcp-proxy.
func BenchmarkFaultPipelineProxyRoundTrip64(b *testing.B) {
	echo, stopEcho := plainEcho(b)
	defer stopEcho()
	addr, stop := instrumentedProxy(b, echo)
	defer stop()
	const conns, k = 20, 1000
	comparePipeline(b, addr, conns*k, "rt/s", func(addr string) time.Duration { return parallelRoundTrips(b, addr, conns, k) })
}

// BenchmarkFaultLatencyAccuracy: the delay a latency fault adds to a
// 64-byte round trip on a tcp-echo, over the round trip without it.
func BenchmarkFaultLatencyAccuracy(b *testing.B) {
	for _, ms := range []int{10, 100} {
		b.Run(time.Duration(ms*int(time.Millisecond)).String(), func(b *testing.B) {
			log := slog.New(slog.DiscardHandler)
			ports, _ := engine.ParsePortRange("27000-27999")
			lab := engine.NewLab(engine.LabConfig{Ports: ports}, engine.SinkFunc(func(engine.Event) {}), log)
			defer lab.Close()
			info, err := lab.StartServer("bench", engine.ServerSpec{Kind: "tcp-echo"})
			if err != nil {
				b.Fatal(err)
			}
			c, err := net.Dial("tcp", info.Addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			rt := func() time.Duration {
				msg, buf := make([]byte, 64), make([]byte, 64)
				start := time.Now()
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			var base []time.Duration
			for range 200 {
				base = append(base, rt())
			}
			slices.Sort(base)
			attrs, _ := json.Marshal(map[string]int{"latency_ms": ms})
			if _, err := lab.AddFault("bench", info.ID, engine.FaultSpec{Type: "latency", Direction: engine.DirDownstream, Attributes: attrs}); err != nil {
				b.Fatal(err)
			}
			samples := max(2000/ms, 10)
			var added []time.Duration
			for b.Loop() {
				for range samples {
					added = append(added, rt()-base[len(base)/2])
				}
			}
			slices.Sort(added)
			want := time.Duration(ms) * time.Millisecond
			b.ReportMetric(float64(added[len(added)/2]-want)/1e6, "median-excess-ms")
			b.ReportMetric(float64(added[len(added)*99/100]-want)/1e6, "p99-excess-ms")
			b.ReportMetric(float64(added[len(added)/2])/1e6, "median-added-ms")
			b.ReportMetric(float64(added[len(added)*99/100])/1e6, "p99-added-ms")
		})
	}
}
