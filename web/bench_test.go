package web

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sockplay/sockplay/engine"
)

// BenchmarkLiveFanout: events per second delivered to one WebSocket
// subscriber, from Emit through the recorder's commit and the hub to the
// subscriber's read, compared with the same events recorded with nobody
// watching (the baseline: the recorder alone). Goal: >= 100k events/s.
// The comparison is controlled: the database is warmed first (a cold file
// made the first run the slowest), and the baseline runs both before and
// after the live run, on sessions of their own, its mean reported.
//
//	go test -run XXX -bench LiveFanout -benchtime 200000x ./web/
func BenchmarkLiveFanout(b *testing.B) {
	a := newTestApp(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	emit := func(sid string, n int) {
		data := []byte("0123456789abcdef")
		for range n {
			a.Rec.Emit(engine.Event{Session: sid, At: time.Now(), Kind: engine.KindRecv, Conn: "c-bench",
				Local: "127.0.0.1:20000", Remote: "127.0.0.1:50000", Data: data, Len: len(data)})
		}
	}

	// Baseline: record b.N events with no subscriber.
	recordOnly := func() time.Duration {
		quiet := a.newSession()
		start := time.Now()
		emit(quiet, b.N)
		if err := a.Rec.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	recordOnly() // warm the database up
	baseline := recordOnly()

	sid := a.newSession()
	url := "ws" + strings.TrimPrefix(a.URL, "http") + "/ws/sessions/" + sid
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 20)
	for a.Hub.Subscribers(sid) == 0 {
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	start := time.Now()
	go emit(sid, b.N)
	var got, gaps int
	for got < b.N {
		_, msg, err := c.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		// Count events without decoding them all: each has one "seq" key.
		if bytes.HasPrefix(msg, []byte(`{"gap"`)) {
			var m liveMsg
			if err := json.Unmarshal(msg, &m); err != nil {
				b.Fatal(err)
			}
			gaps++
			got += int(m.Gap.To - m.Gap.From + 1)
			continue
		}
		got += bytes.Count(msg, []byte(`"seq":`))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	baseline = (baseline + recordOnly()) / 2
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "live-events/s")
	b.ReportMetric(float64(b.N)/baseline.Seconds(), "recorded-only-events/s")
	b.ReportMetric(baseline.Seconds()/elapsed.Seconds(), "ratio")
	b.ReportMetric(float64(gaps), "gaps")
}
