package engine

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// bucket is a token bucket: rate tokens a second, at most burst saved up.
// reserve takes tokens even when there are too few and says how long the
// caller must wait for them, so callers queue fairly in arrival order.
type bucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// setRate changes the rate (and the burst, a tenth of a second of it).
func (b *bucket) setRate(rate float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
	b.rate = max(rate, 1)
	b.burst = max(b.rate/10, 64)
	b.tokens = min(b.tokens, b.burst)
}

func (b *bucket) getRate() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rate
}

// giveBack returns n unused tokens (at most up to the burst).
func (b *bucket) giveBack(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = min(b.burst, b.tokens+float64(n))
}

// reserve takes n tokens and returns how long to wait before using them.
func (b *bucket) reserve(n int, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// pacer holds one session's events to its share of the event budget (see
// budget.go). Each connection's tap takes tokens from the session's bucket a
// batch at a time (one lock per batch, not per event) and waits when the
// bucket is empty: the socket then reads and writes more slowly, so TCP flow
// control slows the peer and nothing is dropped.
type pacer struct {
	bucket *bucket
	batch  int
	budget *budget
	waits  atomic.Int64 // batches that had to wait
	used   atomic.Int64 // tokens taken

	seenUsed, seenWaits int64   // budget.mu: at the last rebalance
	cap                 float64 // budget.mu: its own cap, a session's quota (0: the budget's)
}

// tokens is one connection's share of its session's pacer. Its batches
// start at one token and double up to the pacer's batch, and what is left
// when the connection ends goes back to the bucket: short connections do
// not use up the session's rate.
type tokens struct {
	p     *pacer
	left  atomic.Int64
	next  atomic.Int64  // the next batch size (0: 1)
	done  chan struct{} // closed by stop: no more waiting
	once  sync.Once
	ended atomic.Bool
}

func newTokens(p *pacer) tokens {
	if p == nil {
		return tokens{} // no limit: take and stop do nothing
	}
	return tokens{p: p, done: make(chan struct{})}
}

// take waits, if need be, until one more event of this connection may be
// emitted. After stop it never waits (a connection's last events are free).
func (t *tokens) take() {
	if t.p == nil || t.left.Add(-1) >= 0 || t.ended.Load() {
		return
	}
	n := max(t.next.Load(), 1)
	t.next.Store(min(2*n, int64(t.p.batch)))
	now := time.Now()
	t.p.budget.maybeRebalance(now)
	t.p.used.Add(n)
	d := t.p.bucket.reserve(int(n), now)
	t.left.Add(n)
	if d <= 0 {
		return
	}
	t.p.waits.Add(1)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-t.done:
	}
}

// stop ends waiting (the connection is closing) and gives the unused tokens
// back to the session.
func (t *tokens) stop() {
	if t.p == nil {
		return
	}
	t.once.Do(func() {
		t.ended.Store(true)
		close(t.done)
		if left := t.left.Swap(0); left > 0 {
			t.p.used.Add(-left)
			t.p.bucket.giveBack(int(left))
		}
	})
}

// sockets counts open sockets (listeners, accepted connections and
// clients) against a limit: the lab's count of all sessions together
// (LabConfig.MaxSockets), or a session's (its Quota.Sockets), whose every
// socket is counted in the lab's too.
type sockets struct {
	max    int64 // the lab's limit (0: no limit)
	open   atomic.Int64
	parent *sockets     // a session's count: the lab's
	quota  atomic.Int64 // a session's limit (0: no limit)
}

// take counts one more socket, or reports false at a limit.
func (s *sockets) take() bool { return s.acquire() == nil }

// acquire counts one more socket (in the session and in the lab), or
// returns the count that is at its limit.
func (s *sockets) acquire() *sockets {
	if !s.inc(s.limit()) {
		return s
	}
	if s.parent != nil && !s.parent.inc(s.parent.limit()) {
		s.open.Add(-1)
		return s.parent
	}
	return nil
}

func (s *sockets) inc(limit int64) bool {
	for {
		n := s.open.Load()
		if limit > 0 && n >= limit {
			return false
		}
		if s.open.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// limit is the count's limit now (0: none).
func (s *sockets) limit() int64 {
	if s.parent == nil {
		return s.max
	}
	return s.quota.Load()
}

func (s *sockets) put() {
	s.open.Add(-1)
	if s.parent != nil {
		s.parent.open.Add(-1)
	}
}

// takeErr is acquire with the refusal as an error (nil: taken).
func (s *sockets) takeErr() error {
	if full := s.acquire(); full != nil {
		return full.limitError()
	}
	return nil
}

// what says the limit of this count, for a learner.
func (s *sockets) what() string {
	if s.parent != nil {
		return "this session may hold at most " + strconv.FormatInt(s.limit(), 10) +
			" open sockets at once: its listeners, their connections and its clients together (a workshop participant's quota, -participant-max-sockets)"
	}
	return "sockplay holds at most " + strconv.FormatInt(s.max, 10) + " open sockets for all sessions together (-max-sockets)"
}

// limitError is the refusal of a new server or client at the limit.
func (s *sockets) limitError() error {
	return fmt.Errorf("%w: %s; close some and try again", ErrLimit, s.what())
}

// refusal is the event text of a connection closed at once at the limit.
func (s *sockets) refusal(doing string) *SockErr {
	if s.parent != nil {
		return limitRefusal("this session's quota of open sockets is reached", doing+": "+s.what()+".")
	}
	return limitRefusal("sockplay's limit of open sockets is reached", doing+": "+s.what()+".")
}

// limitRefusal explains a connection sockplay closed at once because a limit
// was reached: not an operating system error, so it has its own name.
func limitRefusal(msg, hint string) *SockErr {
	return &SockErr{Errno: "LIMIT", Message: msg, Hint: hint}
}
