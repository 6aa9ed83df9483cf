package engine

import (
	"fmt"
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

// pacer holds one session's events to LabConfig.MaxEventRate. Each
// connection's tap takes tokens from the session's bucket a batch at a time
// (one lock per batch, not per event) and waits when the bucket is empty:
// the socket then reads and writes more slowly, so TCP flow control slows
// the peer and nothing is dropped.
type pacer struct {
	bucket *bucket
	batch  int
	waits  atomic.Int64 // batches that had to wait
}

// newPacer returns the pacer for a session, or nil for no limit.
func newPacer(rate int) *pacer {
	if rate <= 0 {
		return nil
	}
	// A batch is about 5 ms of the rate; the burst is a tenth of a second.
	batch := min(max(rate/200, 1), 64)
	return &pacer{bucket: newBucket(float64(rate), max(rate/10, batch)), batch: batch}
}

// tokens is one connection's share of its session's pacer.
type tokens struct {
	p    *pacer
	left atomic.Int64
}

// take waits, if need be, until one more event of this connection may be
// emitted.
func (t *tokens) take() {
	if t.p == nil || t.left.Add(-1) >= 0 {
		return
	}
	d := t.p.bucket.reserve(t.p.batch, time.Now())
	t.left.Add(int64(t.p.batch))
	if d > 0 {
		t.p.waits.Add(1)
		time.Sleep(d)
	}
}

// sockets counts the lab's open sockets (listeners, accepted connections and
// clients, all sessions together) against LabConfig.MaxSockets.
type sockets struct {
	max  int64 // 0: no limit
	open atomic.Int64
}

// take counts one more socket, or reports false at the limit.
func (s *sockets) take() bool {
	if n := s.open.Add(1); s.max > 0 && n > s.max {
		s.open.Add(-1)
		return false
	}
	return true
}

func (s *sockets) put() { s.open.Add(-1) }

// limitError is the refusal of a new server or client at the limit.
func (s *sockets) limitError() error {
	return fmt.Errorf("%w: sockplay holds at most %d open sockets (listeners and connections of all sessions together); close some and try again", ErrLimit, s.max)
}

// limitRefusal explains a connection sockplay closed at once because a limit
// was reached: not an operating system error, so it has its own name.
func limitRefusal(msg, hint string) *SockErr {
	return &SockErr{Errno: "LIMIT", Message: msg, Hint: hint}
}
