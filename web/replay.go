package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/sockplay/sockplay/sessions"
)

// Replay: GET /ws/sessions/{id}/replay?speed=S&from=SEQ (and
// /ws/shared/{token}/replay for a share link's holder) streams a session's
// stored events from seq SEQ with the recorded timing divided by S, in the
// live stream's frames ({"events":[…]} of the stored bytes). At the end of
// what is stored it goes on as the live stream does: a session still
// recording continues into live. The page seeks through the events API
// (GET …/seek?at=TIME gives the seq at a time), never by re-streaming.

const (
	// A replay runs from minSpeed× to maxSpeed× the recorded pace, or as
	// fast as possible (speed=max).
	minSpeed = 0.5
	maxSpeed = 100
	// maxIdle is the longest a replay stays silent: a recorded pause that
	// would take longer at the chosen speed is shortened to maxIdle, and the
	// stream says so with an {"idle":…} message (a recording left open over
	// lunch is not replayed as an hour of nothing).
	maxIdle = 3 * time.Second
	// An event due less than coalesce from now goes out with the frame
	// being built rather than after a sleep of its own: a replay sends at
	// most a frame per coalesce however dense the recording.
	coalesce = 10 * time.Millisecond
)

// parseSpeed reads ?speed=: empty is 1 (the recorded pace), "max" is 0
// (as fast as possible), else a number from minSpeed to maxSpeed.
func parseSpeed(v string) (float64, error) {
	switch v {
	case "":
		return 1, nil
	case "max":
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f != f || f < minSpeed || f > maxSpeed {
		return 0, badRequest(fmt.Sprintf("speed=%q: a replay runs from %g× to %g× the recorded pace (say speed=10 for ten times faster), or speed=max for as fast as possible", v, float64(minSpeed), float64(maxSpeed)))
	}
	return f, nil
}

// handleReplay serves the replay WebSocket of sess.
func (s *Server) handleReplay(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	speed, err := parseSpeed(r.URL.Query().Get("speed"))
	if err != nil {
		return err
	}
	from, err := queryInt(r, "from")
	if err != nil {
		return err
	}
	if err := checkUpgrade(r); err != nil {
		return err
	}
	// from=0 is the start; past the end it clamps to the last event (so a
	// seek past the end shows the end).
	from = max(from, 1)
	if sess.Events > 0 && from > sess.Events {
		from = sess.Events
	}
	c, ctx, done, err := s.acceptStream(w, r, sess.ID)
	if c == nil {
		return err
	}
	defer done()

	err = s.replay(ctx, c, sess.ID, from, speed)
	switch {
	case errors.Is(err, sessions.ErrSubscriberClosed), s.streamsCtx.Err() != nil:
		closeWithin(c, websocket.StatusGoingAway, "sockplay is shutting down or the session was deleted", time.Second)
	case err != nil && websocket.CloseStatus(err) == -1 && ctx.Err() == nil:
		s.log.Debug("replay ended", "session", sess.ID, "err", err)
		c.CloseNow()
	default:
		c.CloseNow()
	}
	return nil
}

// handleSharedReplay is the replay for a share link's holder: the same
// stream without the session's id, ended when the link is revoked.
func (s *Server) handleSharedReplay(w http.ResponseWriter, r *http.Request, sess sessions.Session, token string) error {
	ctx, cancel := context.WithCancel(withRedaction(r.Context(), sess.ID))
	defer cancel()
	defer liveShares.add(token, cancel)()
	return s.handleReplay(w, r.WithContext(ctx), sess)
}

// pacer says when each event of a replay is due: the recorded interval
// since the event before, divided by the speed, with pauses longer than
// maxIdle shortened to it.
type pacer struct {
	speed float64 // 0: as fast as possible
	start time.Time
	prev  time.Time     // the recorded time of the event before (zero: none yet)
	vt    time.Duration // replay time of the event before, from start
}

// next returns how long after p.start the event recorded at `at` is due,
// and the recorded pause before it when that pause was shortened (else 0).
func (p *pacer) next(at time.Time) (due, shortened time.Duration) {
	if p.speed == 0 {
		return 0, 0
	}
	if !p.prev.IsZero() && at.After(p.prev) {
		gap := at.Sub(p.prev)
		d := time.Duration(float64(gap) / p.speed)
		if d > maxIdle {
			d, shortened = maxIdle, gap
		}
		p.vt += d
	}
	if p.prev.IsZero() || at.After(p.prev) {
		p.prev = at
	}
	return p.vt, shortened
}

// replay streams the stored events of session from seq from, paced, then
// the live tail.
func (s *Server) replay(ctx context.Context, c *websocket.Conn, session string, from int64, speed float64) error {
	p := &pacer{speed: speed, start: time.Now()}
	var batch []sessions.RawEvent
	var arena []byte // the batch's tails: ScanRaw's are valid only during the call
	var size int
	last, sent := from-1, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.writeEvents(ctx, c, batch)
		sent += len(batch)
		batch, arena, size = batch[:0], arena[:0], 0
		return err
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	err := s.store.ScanRaw(ctx, session, from-1, func(e sessions.RawEvent) error {
		if at, ok := sessions.TailTime(e.Tail); ok {
			if sent == 0 && len(batch) == 0 {
				p.start = time.Now() // the replay's clock starts with its first event
			}
			due, shortened := p.next(at)
			if shortened > 0 {
				if err := flush(); err != nil {
					return err
				}
				b, _ := json.Marshal(map[string]any{"idle": map[string]any{
					"after": last, "before": e.Seq, "recorded_ms": shortened.Milliseconds(), "replayed_ms": maxIdle.Milliseconds()}})
				if err := s.write(ctx, c, b); err != nil {
					return err
				}
			}
			if wait := time.Until(p.start.Add(due)); wait > coalesce {
				if err := flush(); err != nil {
					return err
				}
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-timer.C:
				}
			}
		}
		// Copies: the batch outlives the call. A new arena when it is full
		// (the old one stays with the batch's earlier tails).
		if len(arena)+len(e.Tail) > cap(arena) {
			arena = make([]byte, 0, max(64<<10, len(e.Tail)))
		}
		arena = append(arena, e.Tail...)
		batch = append(batch, sessions.RawEvent{Seq: e.Seq, Tail: arena[len(arena)-len(e.Tail) : len(arena) : len(arena)]})
		size += len(e.Tail)
		last = e.Seq
		// The first event goes at once (the viewer sees the replay begin);
		// then a frame per coalesce, or when it is full.
		if sent == 0 || len(batch) >= historyPage || size >= maxFrameBytes {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	// The end of what is stored: say so, then go on live (as the live
	// stream does: register first, then read what was stored meanwhile).
	b, _ := json.Marshal(map[string]any{"caught_up": map[string]int64{"seq": last}})
	if err := s.write(ctx, c, b); err != nil {
		return err
	}
	sub := s.hub.Subscribe(session)
	defer s.hub.Unsubscribe(sub)
	return s.stream(ctx, c, session, last, sub, true)
}

// handleSeek answers GET …/seek?at=TIME (RFC 3339): {"seq":N}, the first
// event at or after TIME, clamped to the session's events (past the end:
// the last; an empty session: 0). The page then reads the events around
// it from the events API: a seek is two small queries, whatever the size.
func (s *Server) handleSeek(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	v := r.URL.Query().Get("at")
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return badRequest(fmt.Sprintf("at=%q: want a time such as 2026-12-02T10:04:05.123Z (RFC 3339, as events' \"at\")", v))
	}
	seq := int64(0)
	if sess.Events > 0 {
		if seq, err = s.store.SeqAt(r.Context(), sess.ID, t); err != nil {
			return err
		}
		if seq == 0 { // past the last event
			seq = sess.Events
		}
	}
	return respond(w, http.StatusOK, map[string]int64{"seq": seq, "events": sess.Events})
}

func (s *Server) handleSharedSeek(w http.ResponseWriter, r *http.Request, sess sessions.Session, _ string) error {
	return s.handleSeek(w, r, sess)
}

func (s *Server) handleSharedTimeline(w http.ResponseWriter, r *http.Request, sess sessions.Session, _ string) error {
	return s.handleTimeline(w, r, sess) // buckets and counts: nothing of the session's id
}
