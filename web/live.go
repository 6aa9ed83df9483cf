package web

import (
	"bytes"
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
	// wsWriteTimeout bounds every WebSocket write: a browser that stops
	// reading is disconnected rather than holding a goroutine forever.
	wsWriteTimeout = 15 * time.Second
	// maxFrameBytes bounds one {"events":[…]} frame; more events are split
	// over several frames.
	maxFrameBytes = 1 << 20
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
	if !s.claimSubscriber(sess.ID) {
		return &apiError{status: http.StatusTooManyRequests, msg: "too many live viewers of this session; close another tab"}
	}
	defer s.releaseSubscriber(sess.ID)
	c, err := websocket.Accept(w, r, nil) // nil options: the Origin must match the Host
	if err != nil {
		return nil // Accept has answered the request
	}
	if !s.addStream() {
		closeWithin(c, websocket.StatusGoingAway, "sockplay is shutting down", time.Second)
		return nil
	}
	defer s.streams.Done()
	c.SetReadLimit(1024)
	// The page sends nothing; CloseRead handles pings and the close handshake,
	// and closes the connection if a data message arrives. Shutdown cuts the
	// stream off if it is still writing after a grace period (see Wait).
	ctx, cancel := context.WithCancel(c.CloseRead(r.Context()))
	defer cancel()
	defer context.AfterFunc(s.streamsCtx, cancel)()

	sub := s.hub.Subscribe(sess.ID) // register first, then read the store
	defer s.hub.Unsubscribe(sub)

	err = s.stream(ctx, c, sess.ID, after, sub)
	switch {
	case errors.Is(err, sessions.ErrSubscriberClosed), s.streamsCtx.Err() != nil:
		closeWithin(c, websocket.StatusGoingAway, "sockplay is shutting down or the session was deleted", time.Second)
	case err != nil && websocket.CloseStatus(err) == -1 && ctx.Err() == nil:
		s.log.Debug("live stream ended", "session", sess.ID, "err", err)
		c.CloseNow()
	default:
		c.CloseNow()
	}
	return nil
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

func (s *Server) stream(ctx context.Context, c *websocket.Conn, session string, last int64, sub *sessions.Subscriber) error {
	for {
		recs, err := s.store.Events(ctx, session, last, 0, historyPage)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			break
		}
		if err := writeEvents(ctx, c, recs); err != nil {
			return err
		}
		last = recs[len(recs)-1].Seq
	}
	for {
		recs, gap, err := sub.Next(ctx)
		if err != nil {
			return err
		}
		// Skip what the history already delivered.
		i := 0
		for i < len(recs) && recs[i].Seq <= last {
			i++
		}
		if recs = recs[i:]; len(recs) > 0 {
			if err := writeEvents(ctx, c, recs); err != nil {
				return err
			}
			last = recs[len(recs)-1].Seq
		}
		if gap != nil && gap.To > last {
			gap.From = max(gap.From, last+1)
			b, _ := json.Marshal(map[string]any{"gap": gap})
			if err := write(ctx, c, b); err != nil {
				return err
			}
			last = gap.To
		}
	}
}

// writeEvents sends recs as {"events":[…]} frames of at most maxFrameBytes
// (a single larger event still goes alone).
func writeEvents(ctx context.Context, c *websocket.Conn, recs []sessions.Record) error {
	var buf bytes.Buffer
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		buf.WriteString("]}")
		err := write(ctx, c, buf.Bytes())
		buf.Reset()
		n = 0
		return err
	}
	for i := range recs {
		b := redactFor(ctx, recs[i].JSON()) // a share link's stream withholds the session id
		if n > 0 && buf.Len()+len(b) > maxFrameBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		if n == 0 {
			buf.WriteString(`{"events":[`)
		} else {
			buf.WriteByte(',')
		}
		buf.Write(b)
		n++
	}
	return flush()
}

func write(ctx context.Context, c *websocket.Conn, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
	defer cancel()
	return c.Write(ctx, websocket.MessageText, b)
}
