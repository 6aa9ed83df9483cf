package web

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/coder/websocket"

	"github.com/sockplay/sockplay/sessions"
)

// A live viewer is sent every event while they come at a pace a person can
// follow. In a flood (a `yes | nc` makes 80,000 events a second) sending them
// all costs the browser more than the page can then show: parsing and
// indexing them kept its main thread busy half the time, and the frames that
// drew the rows became the long tasks of the flood test. So past
// liveShowRate events a second (bursts of liveShowBurst pass at once) the
// stream sends, every liveFloodEvery, the newest liveFloodKeep events and a
// gap marked "flood" for the ones before them. Nothing is lost: the gap's
// events are in the recording (GET /api/sessions/{id}/events), and the page
// pages them in when the reader pauses and scrolls up. ?all=1 turns this off
// for a program that wants every event live.
const (
	liveShowRate   = 5000
	liveShowBurst  = 5000
	liveFloodEvery = 100 * time.Millisecond
	liveFloodKeep  = 200
)

// floodGate is a viewer's token bucket of events sent in full.
type floodGate struct {
	tokens float64
	at     time.Time
}

func newFloodGate(now time.Time) *floodGate {
	return &floodGate{tokens: liveShowBurst, at: now}
}

// admit says whether n more events may be sent in full now, and takes them
// from the bucket if so.
func (g *floodGate) admit(n int, now time.Time) bool {
	g.tokens = min(liveShowBurst, g.tokens+now.Sub(g.at).Seconds()*liveShowRate)
	g.at = now
	if g.tokens < float64(n) {
		return false
	}
	g.tokens -= float64(n)
	return true
}

// floodGap is the frame of the events a flood window left out.
type floodGap struct {
	From  int64 `json:"from"`
	To    int64 `json:"to"`
	Flood bool  `json:"flood"`
}

// floodWindow sends one window of a flood to a viewer that has everything
// up to seq last: it gathers what the subscriber delivers (recs and gap,
// already delivered, first) for liveFloodEvery, then sends a flood gap for
// all but the newest liveFloodKeep events, and those events. It returns the
// new last seq and how many events the window saw arrive.
func (s *Server) floodWindow(ctx context.Context, c *websocket.Conn, sub *sessions.Subscriber,
	recs []sessions.Record, gap *sessions.Gap, last int64) (int64, int, error) {
	keep := make([]sessions.Record, 0, 2*liveFloodKeep)
	to, arrived := last, 0
	add := func(recs []sessions.Record, gap *sessions.Gap) {
		recs, gap = unseen(recs, gap, to)
		arrived += len(recs)
		for len(recs) > 0 {
			n := min(len(recs), cap(keep)-len(keep))
			keep = append(keep, recs[:n]...)
			recs = recs[n:]
			if len(keep) == cap(keep) { // keep the newest half, in place
				keep = keep[:copy(keep, keep[len(keep)-liveFloodKeep:])]
			}
		}
		if len(keep) > 0 {
			to = keep[len(keep)-1].Seq
		}
		if gap != nil { // the events kept so far come before it: not the newest
			keep = keep[:0]
			to = gap.To
			arrived += int(gap.To - gap.From + 1)
		}
	}
	add(recs, gap)
	wctx, cancel := context.WithTimeout(ctx, liveFloodEvery)
	defer cancel()
	for {
		recs, gap, err := sub.Next(wctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				break // the window is over
			}
			return last, arrived, err
		}
		add(recs, gap)
	}
	if len(keep) > liveFloodKeep {
		keep = keep[len(keep)-liveFloodKeep:]
	}
	skipTo := to
	if len(keep) > 0 {
		skipTo = keep[0].Seq - 1
	}
	if skipTo > last {
		b, _ := json.Marshal(map[string]floodGap{"gap": {From: last + 1, To: skipTo, Flood: true}})
		if err := s.write(ctx, c, b); err != nil {
			return last, arrived, err
		}
	}
	if len(keep) > 0 {
		evs := make([]sessions.RawEvent, len(keep))
		for i := range keep {
			evs[i] = keep[i].Raw()
		}
		if err := s.writeEvents(ctx, c, evs); err != nil {
			return last, arrived, err
		}
	}
	return to, arrived, nil
}

// skipStoredFlood starts a viewer that has everything up to seq last
// liveFloodKeep events before the end of what is stored, with a flood gap
// for the rest, when more than a burst is stored after last: a page that
// resumes during a flood (after a pause, or a reconnect) would otherwise
// read the whole flood since, and fall further behind as it grows.
func (s *Server) skipStoredFlood(ctx context.Context, c *websocket.Conn, session string, last int64) (int64, error) {
	sess, err := s.store.GetSession(ctx, session)
	if err != nil {
		return last, err
	}
	if sess.Events-last <= liveShowBurst {
		return last, nil
	}
	to := sess.Events - liveFloodKeep
	b, _ := json.Marshal(map[string]floodGap{"gap": {From: last + 1, To: to, Flood: true}})
	return to, s.write(ctx, c, b)
}
