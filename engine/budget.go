package engine

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// budget shares LabConfig.EventBudget — the events a second the recorder is
// trusted to sustain for the whole process — among the sessions, max-min
// fairly: a session that uses less than an equal share keeps what it uses,
// and the sessions that want more (their sockets waited for tokens) split
// the rest equally. One learner alone on a laptop so gets the whole budget;
// in a workshop of 200 one participant's flood gets what the other 199 leave
// and can never push their events below an equal share. LabConfig.MaxEventRate,
// if set, caps every session's share on top (a hard per-session limit).
//
// The shares are recomputed at most every rebalanceEvery, by whichever
// paced socket next needs tokens: no goroutine of its own.
type budget struct {
	total float64 // events a second, all sessions together
	cap   float64 // per-session cap (0: none)

	mu     sync.Mutex
	pacers map[*pacer]struct{}
	last   time.Time
	next   atomic.Int64 // UnixNano of the next rebalance
}

// rebalanceEvery is how often the shares follow what the sessions do: short
// enough that a flood starting in one session is reined in within a blink,
// long enough that the arithmetic costs nothing.
const rebalanceEvery = 100 * time.Millisecond

// newBudget returns the budget for total events a second (0: no total) and
// a per-session cap (0: none), or nil when there is neither: no pacing.
func newBudget(total, perSession int) *budget {
	if total <= 0 && perSession <= 0 {
		return nil
	}
	t := float64(total)
	if total <= 0 {
		t = math.Inf(1)
	}
	return &budget{total: t, cap: float64(perSession), pacers: map[*pacer]struct{}{}, last: time.Now()}
}

// newBudgetOnlyQuotas is the budget of a lab with neither a total nor a
// per-session cap, made when a session is given a rate quota
// (Lab.SetQuota): it paces only the sessions with a cap of their own.
func newBudgetOnlyQuotas() *budget {
	return &budget{total: math.Inf(1), pacers: map[*pacer]struct{}{}, last: time.Now()}
}

// join returns a new session's pacer, its share drawn from the budget, at
// most capRate events a second (0: the budget's cap) (nil budget: nil, no
// pacing).
func (b *budget) join(capRate float64) *pacer {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p := &pacer{budget: b, cap: capRate}
	if math.IsInf(b.total, 1) && b.capOf(p) == 0 {
		return nil // nothing to pace it to
	}
	rate := b.total / float64(len(b.pacers)+1)
	whole := b.total
	if c := b.capOf(p); c > 0 {
		rate, whole = min(rate, c), min(whole, c)
	}
	// A batch is about 5 ms of the largest share; the burst a tenth of a second.
	p.bucket, p.batch = newBucket(rate, max(int(rate/10), 64)), min(max(int(whole/200), 1), 64)
	b.pacers[p] = struct{}{}
	return p
}

// capOf is p's cap: its own (a quota) or the budget's, the lower of the
// two (0: none). Call with b.mu held.
func (b *budget) capOf(p *pacer) float64 {
	switch {
	case p.cap > 0 && b.cap > 0:
		return min(p.cap, b.cap)
	case p.cap > 0:
		return p.cap
	}
	return b.cap
}

// setCap gives p a cap of its own (0: only the budget's), at once.
func (b *budget) setCap(p *pacer, capRate float64) {
	if b == nil || p == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.cap == capRate {
		return
	}
	p.cap = capRate
	rate := b.total / float64(max(len(b.pacers), 1))
	if c := b.capOf(p); c > 0 {
		rate = min(rate, c)
	}
	p.bucket.setRate(rate)
	b.next.Store(0) // the next paced socket rebalances
}

// leave removes a session's pacer (the session was deleted).
func (b *budget) leave(p *pacer) {
	if b == nil || p == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.pacers, p)
}

// maybeRebalance recomputes the shares if it is time.
func (b *budget) maybeRebalance(now time.Time) {
	if b == nil || now.UnixNano() < b.next.Load() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.UnixNano() < b.next.Load() {
		return // another socket just did it
	}
	b.next.Store(now.Add(rebalanceEvery).UnixNano())
	dt := now.Sub(b.last).Seconds()
	b.last = now
	if dt <= 0 {
		return
	}
	type demand struct {
		p      *pacer
		rate   float64 // events a second it used
		hungry bool    // its sockets waited: it wants more than it had
	}
	ds := make([]demand, 0, len(b.pacers))
	for p := range b.pacers {
		used, waits := p.used.Load(), p.waits.Load()
		d := demand{p: p, rate: float64(used-p.seenUsed) / dt, hungry: waits != p.seenWaits}
		p.seenUsed, p.seenWaits = used, waits
		if c := b.capOf(p); c > 0 && d.hungry {
			// It wants more than its cap allows: it wants its cap, no
			// more, so what it cannot take is left to the others.
			d.rate, d.hungry = c, false
		}
		ds = append(ds, d)
	}
	for p, rate := range fairShares(b.total, ds, func(d demand) (float64, bool) { return d.rate, d.hungry }) {
		if c := b.capOf(ds[p].p); c > 0 {
			rate = min(rate, c)
		}
		ds[p].p.bucket.setRate(rate)
	}
}

// fairShares is max-min fair sharing of total among demands (the rate a
// session used, and whether it wants more: its sockets waited). When some
// want more, every session's limit is the water level L at which the quiet
// ones' use (each counted up to L) and L for each hungry one add up to
// total: the hungry split what the quiet leave, and a quiet one may grow up
// to L before it waits and is counted hungry. When none wants more, each
// may use what the others leave (and at least an equal share). It returns
// the limits by index.
func fairShares[D any](total float64, ds []D, of func(D) (rate float64, hungry bool)) []float64 {
	n := len(ds)
	shares := make([]float64, n)
	var quiet []float64
	used := 0.0
	for _, d := range ds {
		if r, hungry := of(d); !hungry {
			quiet = append(quiet, r)
			used += r
		}
	}
	if len(quiet) == n {
		for i, d := range ds {
			r, _ := of(d)
			shares[i] = max(total/float64(n), total-(used-r))
		}
		return shares
	}
	slices.Sort(quiet)
	left, k := total, n
	level := left / float64(k)
	for _, r := range quiet {
		if r >= level {
			break
		}
		left -= r
		k--
		level = left / float64(k)
	}
	for i := range shares {
		shares[i] = level
	}
	return shares
}

// Rate returns the events a second the session's sockets may emit now (0:
// no limit).
func (p *pacer) rate() float64 {
	if p == nil {
		return 0
	}
	return p.bucket.getRate()
}
