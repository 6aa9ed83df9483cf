package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sockplay/sockplay/engine"
)

// BenchmarkReplay1M: a 1,000,000-event session (written once through the
// recorder, an event a millisecond: 17 minutes of recording), then
//
//   - first-frame: dial the replay at 1× from the middle and read its first
//     frame (goal < 300 ms), against the live stream's first frame
//     (after=the middle: the same dial, the same store read) in the same run;
//   - seek-middle: what the page does to seek to the middle, the seq at
//     that time (…/seek?at=) and the page of 1000 events up to it
//     (goal < 100 ms), against the live page's first load (the newest 1000
//     events) in the same run.
//
// Each reports ms/op and the ratio to its baseline.
//
//	go test -run XXX -bench Replay1M -benchtime 20x ./web/
func BenchmarkReplay1M(b *testing.B) {
	const n = 1_000_000
	a := newTestApp(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sid := a.newSession()
	t0 := time.Now().Add(-24 * time.Hour).UTC()
	data := []byte("0123456789abcdef")
	for i := range n {
		a.Rec.Emit(engine.Event{Session: sid, At: t0.Add(time.Duration(i) * time.Millisecond), Kind: engine.KindRecv, Conn: "c-bench",
			Local: "127.0.0.1:20000", Remote: "127.0.0.1:50000", Data: data, Len: len(data)})
	}
	if err := a.Rec.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	ws := "ws" + strings.TrimPrefix(a.URL, "http")
	mid := int64(n / 2)
	midAt := t0.Add(time.Duration(mid-1) * time.Millisecond).Format(time.RFC3339Nano)

	firstFrame := func(path string) time.Duration {
		start := time.Now()
		c, _, err := websocket.Dial(ctx, ws+path, nil)
		if err != nil {
			b.Fatal(err)
		}
		c.SetReadLimit(64 << 20)
		_, msg, err := c.Read(ctx)
		d := time.Since(start)
		c.CloseNow()
		if err != nil || !strings.HasPrefix(string(msg), `{"events":[{"seq":`+fmt.Sprint(mid)) {
			b.Fatalf("first frame of %s: %v %.80s", path, err, msg)
		}
		return d
	}
	get := func(path string) {
		res, err := http.Get(a.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		var buf [32 << 10]byte
		for {
			if _, err := res.Body.Read(buf[:]); err != nil {
				break
			}
		}
		if res.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d", path, res.StatusCode)
		}
	}
	measure := func(b *testing.B, run, baseline func() time.Duration) {
		var total, base time.Duration
		runs := 0
		for b.Loop() {
			total += run()
			base += baseline()
			runs++
		}
		ms := func(d time.Duration) float64 { return float64(d) / float64(runs) / 1e6 }
		b.ReportMetric(ms(total), "ms/op")
		b.ReportMetric(ms(base), "baseline-ms/op")
		b.ReportMetric(float64(total)/float64(base), "x-baseline")
		b.ReportMetric(0, "ns/op")
	}

	b.Run("first-frame", func(b *testing.B) {
		measure(b,
			func() time.Duration {
				return firstFrame(fmt.Sprintf("/ws/sessions/%s/replay?speed=1&from=%d", sid, mid))
			},
			func() time.Duration { return firstFrame(fmt.Sprintf("/ws/sessions/%s?after=%d", sid, mid-1)) })
	})
	b.Run("seek-middle", func(b *testing.B) {
		var seek struct{ Seq int64 }
		if code := a.do("GET", "/api/sessions/"+sid+"/seek?at="+url.QueryEscape(midAt), nil, &seek); code != http.StatusOK || seek.Seq != mid {
			b.Fatalf("seek to the middle: %d, #%d (want #%d)", code, seek.Seq, mid)
		}
		measure(b,
			func() time.Duration {
				start := time.Now()
				get("/api/sessions/" + sid + "/seek?at=" + url.QueryEscape(midAt))
				get(fmt.Sprintf("/api/sessions/%s/events?before=%d&limit=1000", sid, mid+1))
				return time.Since(start)
			},
			func() time.Duration {
				start := time.Now()
				get(fmt.Sprintf("/api/sessions/%s/events?before=%d&limit=1000", sid, int64(1)<<53))
				return time.Since(start)
			})
	})
}
