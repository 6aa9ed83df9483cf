package sessions

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// Gap is a run of seqs a live subscriber did not receive (its buffer was
// full): From and To inclusive. The subscriber fetches them from the store.
type Gap struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// ErrSubscriberClosed is returned by Next once the hub closed the subscriber
// (shutdown or session deletion).
var ErrSubscriberClosed = errors.New("subscription closed")

// Hub fans committed events out to live subscribers. Publish never blocks on
// a subscriber: each has a bounded buffer, and what does not fit becomes a gap.
type Hub struct {
	bufSize int

	mu     sync.RWMutex
	subs   map[string]map[*Subscriber]struct{}
	closed bool

	gaps atomic.Int64 // gap notices raised, for /healthz and tests
}

// NewHub returns a hub whose subscribers buffer at most bufSize events.
func NewHub(bufSize int) *Hub {
	if bufSize < 1 {
		bufSize = 1
	}
	return &Hub{bufSize: bufSize, subs: map[string]map[*Subscriber]struct{}{}}
}

// Subscriber receives the live events of one session.
type Subscriber struct {
	session string
	limit   int
	notify  chan struct{}

	mu      sync.Mutex
	pending []Record
	gap     *Gap
	closed  bool
}

// Subscribe registers a subscriber for session. Register first, then read
// the store: together with the seq filter in the caller, that leaves neither
// holes nor duplicates.
func (h *Hub) Subscribe(session string) *Subscriber {
	s := &Subscriber{session: session, limit: h.bufSize, notify: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.closed = true
		return s
	}
	m := h.subs[session]
	if m == nil {
		m = map[*Subscriber]struct{}{}
		h.subs[session] = m
	}
	m[s] = struct{}{}
	return s
}

// Unsubscribe removes s.
func (h *Hub) Unsubscribe(s *Subscriber) {
	h.mu.Lock()
	if m := h.subs[s.session]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(h.subs, s.session)
		}
	}
	h.mu.Unlock()
}

// Subscribers returns how many live subscribers session has.
func (h *Hub) Subscribers(session string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs[session])
}

// Gaps returns how many gap notices have been raised since start.
func (h *Hub) Gaps() int64 { return h.gaps.Load() }

// Publish hands recs (one session's, in seq order, already committed, each
// with its JSON made) to that session's subscribers, which copy the records
// (not their bytes, which nobody changes). It reports whether any
// subscriber took them.
func (h *Hub) Publish(session string, recs []Record) (kept bool) {
	if len(recs) == 0 {
		return false
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	subs := h.subs[session]
	if len(subs) == 0 {
		return false
	}
	// Encode once for all subscribers (the recorder's records carry the
	// JSON they were stored as; this is for other callers). Publish runs
	// only on the recorder's writer goroutine, so the records are not
	// shared with anyone yet.
	for i := range recs {
		recs[i].Tail()
	}
	for s := range subs {
		if s.offer(recs) {
			h.gaps.Add(1)
		}
	}
	return true
}

// CloseSession closes the subscribers of one session (it was deleted).
func (h *Hub) CloseSession(session string) {
	h.mu.Lock()
	m := h.subs[session]
	delete(h.subs, session)
	h.mu.Unlock()
	for s := range m {
		s.close()
	}
}

// Close closes every subscriber; Next returns ErrSubscriberClosed to each
// (the WebSocket handlers then close with "going away").
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	all := h.subs
	h.subs = map[string]map[*Subscriber]struct{}{}
	h.mu.Unlock()
	for _, m := range all {
		for s := range m {
			s.close()
		}
	}
}

// offer queues recs or, past the limit, extends the gap. Once a gap is open
// everything newer joins it until the subscriber has taken it, so what it
// receives stays in seq order: buffered events, then the gap, then newer
// events. It reports whether a new gap was opened.
func (s *Subscriber) offer(recs []Record) (newGap bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	for i := range recs {
		switch {
		case s.gap != nil:
			s.gap.To = recs[i].Seq
		case len(s.pending) < s.limit:
			s.pending = append(s.pending, recs[i])
		default:
			s.gap = &Gap{From: recs[i].Seq, To: recs[i].Seq}
			newGap = true
		}
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return newGap
}

func (s *Subscriber) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Next waits for live events and returns what is buffered: events in seq
// order and, after them, the gap if one opened. It returns
// ErrSubscriberClosed after the hub closed the subscriber (buffered events
// are still delivered first), or ctx's error.
func (s *Subscriber) Next(ctx context.Context) ([]Record, *Gap, error) {
	for {
		s.mu.Lock()
		recs, gap, closed := s.pending, s.gap, s.closed
		s.pending, s.gap = nil, nil
		s.mu.Unlock()
		if len(recs) > 0 || gap != nil {
			return recs, gap, nil
		}
		if closed {
			return nil, nil, ErrSubscriberClosed
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}
