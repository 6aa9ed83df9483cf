package web

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// floodStream reads a live stream (query: what follows ?after=0) until
// every seq up to total is covered by an event or a gap, in order with no
// duplicate or hole, and counts what came how.
func floodStream(ctx context.Context, t *testing.T, a *testApp, sid, query string, total int64) (events, floodGaps, floodSkipped int, lastWasEvent bool) {
	t.Helper()
	url := "ws" + strings.TrimPrefix(a.URL, "http") + "/ws/sessions/" + sid + "?after=0" + query
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 20)
	next := int64(1)
	for next <= total {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read after seq %d: %v", next-1, err)
		}
		var m struct {
			Events []struct{ Seq int64 } `json:"events"`
			Gap    *struct {
				From, To int64
				Flood    bool
			} `json:"gap"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("frame %.200q: %v", b, err)
		}
		for _, e := range m.Events {
			if e.Seq != next {
				t.Fatalf("got seq %d, want %d (a duplicate or a hole)", e.Seq, next)
			}
			next++
			events++
			lastWasEvent = true
		}
		if g := m.Gap; g != nil {
			if g.From != next || g.To < g.From {
				t.Fatalf("gap %+v does not continue the stream at %d", *g, next)
			}
			if g.Flood {
				floodGaps++
				floodSkipped += int(g.To - g.From + 1)
			}
			next = g.To + 1
			lastWasEvent = false
		}
	}
	return
}

// In a flood a viewer is sent the newest events every 100 ms and a gap
// marked "flood" for the rest, which stay in the recording: the page then
// parses a few thousand events a second instead of every one of 80,000.
// Every seq is still accounted for, in order, and the very last event
// comes as an event. ?all=1 gets every event.
func TestLiveThinsAFloodToTheNewest(t *testing.T) {
	a := newTestApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Thinned (the page's stream).
	sid := a.newSession()
	const total = 60000
	type counts struct {
		events, gaps, skipped int
		last                  bool
	}
	got := make(chan counts, 1)
	go func() {
		e, g, s, l := floodStream(ctx, t, a, sid, "", total)
		got <- counts{e, g, s, l}
	}()
	waitFor(t, "the viewer subscribed", func() bool { return a.Hub.Subscribers(sid) == 1 })
	start := time.Now()
	<-emitFlood(a, sid, total)
	c := <-got
	elapsed := time.Since(start)
	// What a viewer may be sent in full: a burst, the steady rate, and the
	// newest events of each window. (A slower machine, or -race, makes the
	// flood slower and the bound larger: it is not a timed assertion.)
	bound := liveShowBurst + int(liveShowRate*elapsed.Seconds()) + liveFloodKeep*(int(elapsed/liveFloodEvery)+2)
	t.Logf("thinned: %d of %d events sent in %v (at most %d allowed), %d flood gaps covering %d", c.events, total, elapsed.Round(time.Millisecond), bound, c.gaps, c.skipped)
	if c.gaps == 0 || c.events > bound {
		t.Errorf("a flood of %d events: %d sent in full, %d flood gaps covering %d; want at most %d sent", total, c.events, c.gaps, c.skipped, bound)
	}
	if !c.last {
		t.Error("the flood's last event came in a gap, want it sent: the page shows the newest")
	}
	// A gap's events are in the recording, where the page pages them in.
	var page struct{ Events []struct{ Seq int64 } }
	a.do("GET", "/api/sessions/"+sid+"/events?after=0&limit=1000", nil, &page)
	if len(page.Events) != 1000 || page.Events[999].Seq != 1000 {
		t.Errorf("the recording's first page: %d events", len(page.Events))
	}

	// Every event (a program that asks for them).
	sid2 := a.newSession()
	go func() {
		e, g, s, l := floodStream(ctx, t, a, sid2, "&all=1", total)
		got <- counts{e, g, s, l}
	}()
	waitFor(t, "the second viewer subscribed", func() bool { return a.Hub.Subscribers(sid2) == 1 })
	<-emitFlood(a, sid2, total)
	if c := <-got; c.gaps != 0 {
		t.Errorf("?all=1: %d flood gaps, want none", c.gaps)
	}
}

// A pace a person can follow is sent in full.
func TestLiveSendsASlowStreamInFull(t *testing.T) {
	a := newTestApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sid := a.newSession()
	const total = 3000 // under the burst: a lesson's 3000-byte write is a few events
	got := make(chan int, 1)
	go func() {
		e, g, _, _ := floodStream(ctx, t, a, sid, "", total)
		if g != 0 {
			t.Errorf("%d flood gaps for %d events, want none", g, total)
		}
		got <- e
	}()
	waitFor(t, "the viewer subscribed", func() bool { return a.Hub.Subscribers(sid) == 1 })
	<-emitFlood(a, sid, total)
	if n := <-got; n != total {
		t.Errorf("%d events sent, want %d", n, total)
	}
}

// A viewer that resumes far behind (a page paused during a flood, then
// "Latest") starts near the end of what is stored, not at its resume point.
func TestLiveResumingFarBehindSkipsToTheEnd(t *testing.T) {
	a := newTestApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sid := a.newSession()
	const total = 20000
	<-emitFlood(a, sid, total)
	if err := a.Rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	events, gaps, skipped, last := floodStream(ctx, t, a, sid, "", total)
	if gaps != 1 || skipped != total-liveFloodKeep || events != liveFloodKeep || !last {
		t.Errorf("resuming %d events behind: %d events, %d flood gaps covering %d, want the newest %d after one gap", total, events, gaps, skipped, liveFloodKeep)
	}
	if events, gaps, _, _ := floodStream(ctx, t, a, sid, "&all=1", total); events != total || gaps != 0 {
		t.Errorf("?all=1: %d events and %d flood gaps, want every event", events, gaps)
	}
}

// The live stream takes no messages: a program that sends one is told so
// (1008, policy violation) and its viewer place is free again at once.
// (Through the library's CloseRead this took 5–15 s: it closed while still
// holding the reader the close handshake needed.)
func TestLiveViewerThatSendsIsClosedAtOnce(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _, err := a.dialLive(ctx, sid, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	waitFor(t, "the viewer subscribed", func() bool { return a.Hub.Subscribers(sid) == 1 })
	t0 := time.Now()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"pause":true}`)); err != nil {
		t.Fatal(err)
	}
	for {
		if _, _, err = c.Read(ctx); err != nil {
			break
		}
	}
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("after a message up the stream: %v, want a close with status 1008", err)
	}
	waitFor(t, "the viewer place freed", func() bool { return a.Hub.Subscribers(sid) == 0 })
	t.Logf("closed and freed %v after the message", time.Since(t0).Round(time.Millisecond))
}
