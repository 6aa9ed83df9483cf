package engine_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// BenchmarkMultiClient: the tutorials' multi-connection load — 200
// connections, each sending 100 messages of 64 bytes and reading the echoes
// back — made by sockplay's recorded multi client, against the same load
// made by a bare Go client, both to the same bare io.Copy echo, in the same
// run. Goal: messages a second ratio >= 0.8.
//
//	go test -run XXX -bench MultiClient -benchtime 5x ./engine/
func BenchmarkMultiClient(b *testing.B) {
	const conns, msgs, size = 200, 100, 64
	echo, stopEcho := plainEcho(b)
	defer stopEcho()
	policy := &engine.DialPolicy{}
	if err := policy.ParseAllow(echo); err != nil {
		b.Fatal(err)
	}
	rec, session, closeRec := benchRecorder(b)
	ports, _ := engine.ParsePortRange("27000-27999")
	lab := engine.NewLab(engine.LabConfig{Ports: ports, CaptureCap: 1 << 20, Policy: policy}, rec, slog.New(slog.DiscardHandler))
	defer func() { lab.Close(); closeRec() }()
	// The same client with its events built and dropped: what the client
	// costs without recording.
	inst := engine.NewLab(engine.LabConfig{Ports: ports, CaptureCap: 1 << 20, Policy: policy}, engine.SinkFunc(func(engine.Event) {}), slog.New(slog.DiscardHandler))
	defer inst.Close()
	opts, _ := json.Marshal(map[string]any{"connections": conns, "messages": msgs, "size": size})
	run := func(lab *engine.Lab, session string) time.Duration {
		start := time.Now()
		ci, err := lab.OpenClient(context.Background(), session, engine.ClientSpec{Kind: "multi", Target: echo, Options: opts})
		if err != nil {
			b.Fatal(err)
		}
		c, _ := lab.Client(session, ci.ID)
		for c.Info().Counters["done"] < conns {
			time.Sleep(time.Millisecond)
		}
		if got := c.Info().Counters["messages_matched"]; got != conns*msgs {
			b.Fatalf("%d messages matched, want %d", got, conns*msgs)
		}
		return time.Since(start)
	}
	var bare, play, instr time.Duration
	for b.Loop() {
		bare += bareMulti(b, echo, conns, msgs, size)
		play += run(lab, session) + flush(b, rec)
		instr += run(inst, "bench")
	}
	n := float64(b.N * conns * msgs)
	b.ReportMetric(n/bare.Seconds(), "bare-msgs/s")
	b.ReportMetric(n/play.Seconds(), "sockplay-msgs/s")
	b.ReportMetric(bare.Seconds()/play.Seconds(), "ratio")
	b.ReportMetric(bare.Seconds()/instr.Seconds(), "instrumented-vs-bare")
	b.ReportMetric(float64(rec.Stats().Waits), "backpressure-waits")
}

// bareMulti is the same load from plain Go: conns connections, each writes
// msgs messages of size bytes (one write each) and reads them all back.
func bareMulti(b *testing.B, addr string, conns, msgs, size int) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			done := make(chan struct{})
			go func() { io.CopyN(io.Discard, c, int64(msgs*size)); close(done) }()
			msg := make([]byte, size)
			for range msgs {
				if _, err := c.Write(msg); err != nil {
					b.Error(err)
					return
				}
			}
			<-done
			c.(*net.TCPConn).CloseWrite()
		})
	}
	wg.Wait()
	return time.Since(start)
}
