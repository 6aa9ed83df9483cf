package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/sockplay/sockplay/sessions"
)

const (
	// defaultLiveWriteTimeout bounds every WebSocket write (Config.
	// LiveWriteTimeout): a browser that stops reading is disconnected
	// rather than holding a goroutine forever.
	defaultLiveWriteTimeout = 15 * time.Second
	// maxFrameBytes bounds one {"events":[…]} frame; more events are split
	// over several frames.
	maxFrameBytes = 64 << 10
	// historyPage is how many stored events are read per query while a
	// subscriber catches up.
	historyPage = 2000
)

// handleLive streams a session's events over a WebSocket: first the stored
// events after ?after=SEQ, then the live tail. Messages are {"events":[…]}
// (oldest first, several per frame when they come fast) and {"gap":{from,to}}
// when this subscriber fell behind (fetch those seqs from the API).
//
// Errors before the upgrade are answered as JSON; after it, the stream ends
// with a close status.
func (s *Server) handleLive(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	after, err := queryInt(r, "after")
	if err != nil {
		return err
	}
	if err := checkUpgrade(r); err != nil {
		return err
	}
	if after > sess.Events {
		// Seqs only grow: a resume point past the end would silently skip
		// the next events.
		return badRequest(fmt.Sprintf("after=%d is past this session's last event (%d)", after, sess.Events))
	}
	c, ctx, done, err := s.acceptStream(w, r, sess.ID)
	if c == nil {
		return err
	}
	defer done()

	sub := s.hub.Subscribe(sess.ID) // register first, then read the store
	defer s.hub.Unsubscribe(sub)

	err = s.stream(ctx, c, sess.ID, after, sub, r.URL.Query().Get("all") != "1")
	switch {
	case errors.Is(err, sessions.ErrSubscriberClosed), s.streamsCtx.Err() != nil:
		closeWithin(c, websocket.StatusGoingAway, "sockplay is shutting down or the session was deleted", time.Second)
	case err != nil && websocket.CloseStatus(err) == -1 && ctx.Err() == nil:
		s.logFor(r).Debug("live stream ended", "session", sess.ID, "err", err)
		c.CloseNow()
	default:
		c.CloseNow()
	}
	return nil
}

// acceptStream takes one of the session's viewer places (-max-subscribers)
// and upgrades r to a WebSocket that the live and the replay streams write
// to. The page sends nothing (it pauses by closing the stream): closeRead
// handles pings and the close handshake, and closes the connection if a
// data message arrives; shutdown cuts the stream off if it is still writing
// after a grace period (see Wait). A nil conn means there is no stream: err
// is then the error to answer (nil when the upgrade already answered).
// done releases the place; call it when the stream ends.
func (s *Server) acceptStream(w http.ResponseWriter, r *http.Request, session string) (*websocket.Conn, context.Context, func(), error) {
	if !s.claimSubscriber(session) {
		return nil, nil, nil, &apiError{status: http.StatusTooManyRequests, msg: "too many live viewers of this session (live and replay streams together, -max-subscribers); close another tab"}
	}
	c, err := websocket.Accept(w, r, nil) // nil options: the Origin must match the Host
	if err != nil {
		s.releaseSubscriber(session)
		return nil, nil, nil, nil // Accept has answered the request
	}
	if !s.addStream() {
		closeWithin(c, websocket.StatusGoingAway, "sockplay is shutting down", time.Second)
		s.releaseSubscriber(session)
		return nil, nil, nil, nil
	}
	c.SetReadLimit(1024)
	ctx, cancel := context.WithCancel(r.Context())
	go closeRead(r.Context(), cancel, c) // not ctx: a shutdown's close frame must still go out
	stop := context.AfterFunc(s.streamsCtx, cancel)
	return c, ctx, func() {
		stop()
		cancel()
		s.streams.Done()
		s.releaseSubscriber(session)
	}, nil
}

// closeRead reads c until it closes, so that pings are answered and the
// peer's close is seen (then cancel ends the stream). A data message is
// refused with 1008. It stands in for the library's CloseRead, which on a data message
// closed while still holding the reader the close handshake waits on: the
// connection then hung for 5–15 s.
func closeRead(ctx context.Context, cancel context.CancelFunc, c *websocket.Conn) {
	defer cancel()
	if _, _, err := c.Read(ctx); err == nil {
		c.Close(websocket.StatusPolicyViolation, "the live stream takes no messages: it only sends events")
	}
}

// checkUpgrade refuses, as JSON like every other API error, what
// websocket.Accept would refuse as plain text: a request that is not a
// WebSocket upgrade, or one from a page of another origin.
func checkUpgrade(r *http.Request) error {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return &apiError{status: http.StatusUpgradeRequired, msg: "this is a WebSocket endpoint: connect with a WebSocket client (the session page does)"}
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return &apiError{status: http.StatusForbidden, msg: "cross-origin WebSocket refused: only pages served by this sockplay (" + r.Host + ") may watch its sessions"}
		}
	}
	return nil
}

// closeWithin closes c with a status, giving the close handshake at most d:
// a browser that stopped reading cannot hold shutdown up.
func closeWithin(c *websocket.Conn, code websocket.StatusCode, reason string, d time.Duration) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Close(code, reason)
	}()
	select {
	case <-done:
	case <-time.After(d):
		c.CloseNow()
		<-done
	}
}

func (s *Server) claimSubscriber(id string) bool {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	if s.subs[id] >= s.cfg.MaxSubscribers {
		return false
	}
	s.subs[id]++
	return true
}

func (s *Server) releaseSubscriber(id string) {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	if s.subs[id]--; s.subs[id] <= 0 {
		delete(s.subs, id)
	}
}

// stream sends a viewer that has everything up to seq last what was stored
// since, then the live tail. With thin set, a flood is thinned to what the
// page can show (live_flood.go).
func (s *Server) stream(ctx context.Context, c *websocket.Conn, session string, last int64, sub *sessions.Subscriber, thin bool) error {
	if thin {
		var err error
		if last, err = s.skipStoredFlood(ctx, c, session, last); err != nil {
			return err
		}
	}
	for {
		evs, err := s.store.RawEvents(ctx, session, last, 0, historyPage)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			break
		}
		if err := s.writeEvents(ctx, c, evs); err != nil {
			return err
		}
		last = evs[len(evs)-1].Seq
	}
	var evs []sessions.RawEvent
	gate := newFloodGate(time.Now())
	for {
		recs, gap, err := sub.Next(ctx)
		if err != nil {
			return err
		}
		recs, gap = unseen(recs, gap, last)
		if thin && !gate.admit(len(recs), time.Now()) {
			// A flood: windows of the newest events until one window sees
			// no more than it sends.
			for {
				var arrived int
				last, arrived, err = s.floodWindow(ctx, c, sub, recs, gap, last)
				if err != nil {
					return err
				}
				if arrived <= liveFloodKeep {
					break
				}
				recs, gap = nil, nil
			}
			continue
		}
		if len(recs) > 0 {
			evs = evs[:0]
			for j := range recs {
				evs = append(evs, recs[j].Raw())
			}
			if err := s.writeEvents(ctx, c, evs); err != nil {
				return err
			}
			last = recs[len(recs)-1].Seq
		}
		if gap != nil {
			s.stats.countGap(gap)
			b, _ := json.Marshal(map[string]any{"gap": gap})
			if err := s.write(ctx, c, b); err != nil {
				return err
			}
			last = gap.To
		}
	}
}

// unseen returns what of a live delivery (events in seq order, then maybe
// a gap) a viewer that has everything up to seq last has not seen: the
// history read and the live buffer overlap while a viewer catches up, so
// the events and the gap may start at or below last. The gap then starts
// right after last (or is dropped, if it ends there).
func unseen(recs []sessions.Record, gap *sessions.Gap, last int64) ([]sessions.Record, *sessions.Gap) {
	i := 0
	for i < len(recs) && recs[i].Seq <= last {
		i++
	}
	recs = recs[i:]
	if len(recs) > 0 {
		last = recs[len(recs)-1].Seq
	}
	if gap == nil || gap.To <= last {
		return recs, nil
	}
	return recs, &sessions.Gap{From: max(gap.From, last+1), To: gap.To}
}

// writeEvents sends recs as {"events":[…]} frames of at most maxFrameBytes
// (a single larger event still goes alone).
func (s *Server) writeEvents(ctx context.Context, c *websocket.Conn, evs []sessions.RawEvent) error {
	buf := make([]byte, 0, min(maxFrameBytes, 64+len(evs)*256))
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		buf = append(buf, "]}"...)
		err := s.write(ctx, c, redactFor(ctx, buf)) // a share link's stream withholds the session id
		buf, n = buf[:0], 0
		return err
	}
	for _, e := range evs {
		if n > 0 && len(buf)+len(e.Tail)+24 > maxFrameBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		if n == 0 {
			buf = append(buf, `{"events":[`...)
		} else {
			buf = append(buf, ',')
		}
		buf = e.AppendJSON(buf)
		n++
	}
	return flush()
}

func (s *Server) write(ctx context.Context, c *websocket.Conn, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LiveWriteTimeout)
	defer cancel()
	return c.Write(ctx, websocket.MessageText, b)
}
