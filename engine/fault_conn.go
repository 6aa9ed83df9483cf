package engine

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// errFaultReset is what a read or write returns once a reset fault reset
// the connection.
var errFaultReset = errors.New("the connection was reset by a reset fault (RST)")

// faultDir keys per-direction state of a fault on one connection.
type faultDir struct {
	f  *faultInst
	up bool
}

// connFaults is one connection's state of its fault set: a server's
// accepted connection, whose reads are upstream (the bytes from the
// connecting client) and writes downstream, or a client's connection,
// whose reads are downstream and writes upstream. Reads run on one
// goroutine and writes on one other at most; the reader-only and
// writer-only fields need no lock.
type connFaults struct {
	set *faultSet
	c   *Conn
	// readUp says reads are upstream (a server's connection).
	readUp bool
	// flags is state that outlives the pipeline: flagHeld (bytes a slicer
	// holds back, reader only) and flagSticky (a half-close, a reset due).
	flags atomic.Uint32
	done  chan struct{}
	once  sync.Once

	mu        sync.Mutex
	rolls     map[*faultInst]float64 // each fault's roll against its toxicity, once per connection
	counts    map[faultDir]int64     // bytes a reset counted
	resetDue  string                 // a reset reached its bytes: the next call resets (its action)
	halfRead  bool                   // a half-close fault shut down the reading side
	halfWrite bool                   // … the writing side
	idle      map[*faultInst]*time.Timer

	// reader only
	pending []byte
	pendAt  time.Time
	pendErr error
	upNext  time.Time
	// writer only (the writer, or the delay queue's goroutine while it runs)
	downNext time.Time
	q        delayQueue
}

const (
	flagHeld uint32 = 1 << iota
	flagSticky
	flagQueued // a latency fault's queue holds bytes: later writes go behind them
)

// on reports whether the slow path is needed.
func (cf *connFaults) on() bool { return cf.set.cur.Load() != nil || cf.flags.Load() != 0 }

func (cf *connFaults) setHeld(held bool) {
	if held {
		cf.flags.Or(flagHeld)
	} else {
		cf.flags.And(^flagHeld)
	}
}

func (cf *connFaults) applies(f *faultInst) bool {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	return cf.appliesLocked(f)
}

func (cf *connFaults) appliesLocked(f *faultInst) bool {
	r, ok := cf.rolls[f]
	if !ok {
		r = rand.Float64()
		cf.rolls[f] = r
	}
	return r < f.toxicity()
}

// event emits a fault event: which fault, which direction, what it did.
func (cf *connFaults) event(f *faultInst, up bool, action string, kv ...any) {
	f.fired.Add(1)
	ev := cf.c.tap.event(KindFault)
	ev.Meta = faultMeta(f, up, action, kv...)
	cf.c.tap.emit(ev)
}

func faultMeta(f *faultInst, up bool, action string, kv ...any) map[string]any {
	dir := DirDownstream
	if up {
		dir = DirUpstream
	}
	m := map[string]any{"fault": f.name, "type": f.typ, "direction": dir, "action": action}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// sleep waits d, or less when the connection closes (false).
func (cf *connFaults) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-cf.done:
		return false
	}
}

// kick applies f to the connection now: what acts without data (a reset
// after 0 bytes, a half-close, the idle timer).
func (cf *connFaults) kick(f *faultInst) {
	if !cf.applies(f) {
		cf.stopIdle(f)
		return
	}
	switch f.typ {
	case "reset":
		if f.attr("bytes") == 0 {
			when := "accept"
			if !cf.readUp {
				when = "connect"
			}
			cf.event(f, cf.readUp, "sent RST right after "+when, "bytes", 0)
			cf.c.abort("a reset fault reset the connection (RST) right after " + when)
		}
	case "half-close":
		self, _ := cf.sides()
		if f.acts(cf.readUp) {
			cf.mu.Lock()
			done := cf.halfRead
			cf.halfRead = true
			cf.mu.Unlock()
			if !done {
				cf.flags.Or(flagSticky)
				cf.event(f, cf.readUp, fmt.Sprintf("stopped delivering %s: shutdown(SHUT_RD), the %s reads end-of-stream; the other direction still delivers", dirWord(cf.readUp), self))
				if tc, ok := cf.c.raw.(*net.TCPConn); ok {
					tc.CloseRead()
				}
			}
		}
		if f.acts(!cf.readUp) {
			cf.mu.Lock()
			done := cf.halfWrite
			cf.halfWrite = true
			cf.mu.Unlock()
			if !done {
				cf.flags.Or(flagSticky)
				cf.event(f, !cf.readUp, fmt.Sprintf("sent FIN %s: shutdown(SHUT_WR); the %s's later writes are discarded, its reads still deliver", dirWord(!cf.readUp), self))
				cf.c.CloseWrite()
			}
		}
	case "idle-timeout":
		d := time.Duration(f.attr("timeout_ms")) * time.Millisecond
		cf.mu.Lock()
		if cf.idle == nil {
			cf.idle = map[*faultInst]*time.Timer{}
		}
		if t := cf.idle[f]; t != nil {
			t.Reset(d)
		} else {
			select {
			case <-cf.done:
			default:
				cf.idle[f] = time.AfterFunc(d, func() { cf.idleFired(f) })
			}
		}
		cf.mu.Unlock()
	}
}

func (cf *connFaults) stopIdle(f *faultInst) {
	cf.mu.Lock()
	if t := cf.idle[f]; t != nil {
		t.Stop()
		delete(cf.idle, f)
	}
	cf.mu.Unlock()
}

// removed forgets f (a half-close stays: a FIN cannot be taken back).
func (cf *connFaults) removed(f *faultInst) { cf.stopIdle(f) }

func (cf *connFaults) idleFired(f *faultInst) {
	select {
	case <-cf.done:
		return
	default:
	}
	ms := f.attr("timeout_ms")
	up := f.dir != DirDownstream
	cf.event(f, up, fmt.Sprintf("closed the connection after %d ms without data", ms), "timeout_ms", ms)
	cf.c.closeSocket(fmt.Sprintf("an idle-timeout fault closed it: no data for %d ms", ms))
}

// touch restarts the idle timers of the faults acting in direction up.
func (cf *connFaults) touch(f *faultInst) {
	cf.mu.Lock()
	if t := cf.idle[f]; t != nil {
		t.Reset(time.Duration(f.attr("timeout_ms")) * time.Millisecond)
	}
	cf.mu.Unlock()
}

// closed is called once when the socket closes.
func (cf *connFaults) closed() {
	cf.once.Do(func() {
		close(cf.done)
		cf.mu.Lock()
		for _, t := range cf.idle {
			t.Stop()
		}
		cf.idle = nil
		cf.mu.Unlock()
		cf.set.detach(cf)
	})
}

// ownEOF reports whether a read's end of stream is an upstream half-close
// fault's doing (not the peer's FIN).
func (cf *connFaults) ownEOF(err error) bool {
	if !errors.Is(err, io.EOF) {
		return false
	}
	cf.mu.Lock()
	defer cf.mu.Unlock()
	return cf.halfRead
}

// sides names this end and its peer for people: the server and the
// client, or the other way round on a client's connection.
func (cf *connFaults) sides() (self, peer string) {
	if cf.readUp {
		return "server", "client"
	}
	return "client", "server"
}

// active returns the faults of pipeline p acting in direction up on this
// connection.
func (cf *connFaults) active(p *pipeline, up bool) []*faultInst {
	if p == nil {
		return nil
	}
	var out []*faultInst
	cf.mu.Lock()
	for _, f := range p.faults {
		if f.acts(up) && cf.appliesLocked(f) {
			out = append(out, f)
		}
	}
	cf.mu.Unlock()
	return out
}

// stalled waits while a stall acts in direction up; false: the
// connection closed meanwhile.
func (cf *connFaults) stalled(up bool, what string) bool {
	shown := false
	for {
		p := cf.set.cur.Load()
		var stall *faultInst
		for _, f := range cf.active(p, up) {
			if f.typ == "stall" {
				stall = f
				break
			}
		}
		if stall == nil {
			return true
		}
		if !shown {
			cf.event(stall, up, what)
			shown = true
		}
		select {
		case <-p.changed:
		case <-cf.done:
			return false
		}
	}
}

// due returns the action of a reset that reached its bytes, or "".
func (cf *connFaults) due() string {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	return cf.resetDue
}

// count adds n bytes in direction up for reset f and returns how many of
// them may pass; when the reset's bytes are reached it is due.
func (cf *connFaults) count(f *faultInst, up bool, n int) (int, bool) {
	limit := int64(f.attr("bytes"))
	cf.mu.Lock()
	defer cf.mu.Unlock()
	k := faultDir{f, up}
	had := cf.counts[k]
	if had+int64(n) < limit {
		cf.counts[k] = had + int64(n)
		return n, false
	}
	pass := int(max(limit-had, 0))
	cf.counts[k] = limit
	cf.flags.Or(flagSticky)
	cf.resetDue = fmt.Sprintf("a reset fault reset the connection (RST) after %d bytes %s", limit, dirWord(up))
	return pass, true
}

func dirWord(up bool) string {
	if up {
		return DirUpstream
	}
	return DirDownstream
}

func (cf *connFaults) resetNow(why string) {
	cf.c.abort(why)
}

// latency returns a latency fault's delay for one chunk.
func latencyOf(f *faultInst) time.Duration {
	d := f.attr("latency_ms")
	if j := f.attr("jitter_ms"); j > 0 {
		d += rand.IntN(2*j+1) - j
	}
	return time.Duration(max(d, 0)) * time.Millisecond
}

// bandwidthChunk is the most bytes one paced piece carries: a tenth of a
// second's worth, so the rate is smooth.
func bandwidthChunk(f *faultInst) int { return max(f.attr("rate")*1024/10, 1) }

// pace waits until n bytes fit the rate of f, after *next (the schedule).
func (cf *connFaults) pace(f *faultInst, next *time.Time, n int) (time.Duration, bool) {
	now := time.Now()
	if next.Before(now) {
		*next = now
	}
	*next = next.Add(time.Duration(float64(n) / float64(f.attr("rate")*1024) * float64(time.Second)))
	wait := next.Sub(now)
	return wait, cf.sleep(wait)
}

func sliceSize(f *faultInst) int {
	size := f.attr("size")
	if v := f.attr("size_variation"); v > 0 {
		size += rand.IntN(2*v+1) - v
	}
	return max(size, 1)
}

// read is Conn.Read with faults: upstream.
func (cf *connFaults) read(b []byte) (int, error) {
	c := cf.c
	if why := cf.due(); why != "" {
		cf.resetNow(why)
		return 0, errFaultReset
	}
	cf.mu.Lock()
	half := cf.halfRead
	cf.mu.Unlock()
	if half && len(cf.pending) == 0 {
		return 0, io.EOF
	}
	_, peer := cf.sides()
	if !cf.stalled(cf.readUp, "stopped reading: the "+peer+"'s bytes stay in the buffers; when they are full its send() blocks") {
		return 0, net.ErrClosed
	}
	faults := cf.active(cf.set.cur.Load(), cf.readUp)
	var n int
	var err error
	var at time.Time
	fromPending := len(cf.pending) > 0
	if fromPending {
		n = copy(b, cf.pending)
		cf.pending = cf.pending[n:]
		at = cf.pendAt
	} else {
		if cf.pendErr != nil {
			err, cf.pendErr = cf.pendErr, nil
			cf.setHeld(false)
			c.readFailed(err)
			return 0, err
		}
		buf := b
		for _, f := range faults {
			if f.typ == "bandwidth" {
				buf = buf[:min(len(buf), bandwidthChunk(f))]
			}
		}
		n, err = c.rw.Read(buf)
		at = time.Now()
		// The read may have waited: the faults are the ones active now (one
		// removed or switched off meanwhile does not act on these bytes).
		faults = cf.active(cf.set.cur.Load(), cf.readUp)
	}
	return cf.finishRead(b, n, err, at, fromPending, faults)
}

// readLate applies the faults to a read that began before any fault was
// active and returned after one was added (a handler waits in Read most of
// the time): the bytes it brought go through the pipeline like any other.
func (cf *connFaults) readLate(b []byte, n int, err error) (int, error) {
	return cf.finishRead(b, n, err, time.Now(), false, cf.active(cf.set.cur.Load(), cf.readUp))
}

// finishRead applies faults to the n bytes (and err) a read brought, emits
// the recv event for what the handler gets, and classifies the error.
func (cf *connFaults) finishRead(b []byte, n int, err error, at time.Time, fromPending bool, faults []*faultInst) (int, error) {
	c := cf.c
	resetHit := false
	for _, f := range faults {
		if n == 0 {
			break
		}
		switch f.typ {
		case "slicer":
			if fromPending {
				if d := f.attr("delay_us"); d > 0 && !cf.sleep(time.Duration(d)*time.Microsecond) {
					return 0, net.ErrClosed
				}
			}
			size := sliceSize(f)
			if n > size {
				rest := append([]byte(nil), b[size:n]...)
				cf.pending = append(rest, cf.pending...)
				cf.pendAt = at
				if !fromPending {
					pieces := 1 + (len(rest)+f.attr("size")-1)/max(f.attr("size"), 1)
					cf.event(f, cf.readUp, fmt.Sprintf("sliced 1 read of %d bytes into about %d pieces of %d bytes", n, pieces, f.attr("size")),
						"bytes", n, "pieces", pieces, "size", f.attr("size"))
				}
				n = size
			}
		case "latency":
			d := latencyOf(f)
			if wait := time.Until(at.Add(d)); wait > 0 {
				cf.event(f, cf.readUp, fmt.Sprintf("delayed %d bytes by %d ms", n, d.Milliseconds()), "delay_ms", d.Milliseconds(), "bytes", n)
				if !cf.sleep(wait) {
					return 0, net.ErrClosed
				}
			}
		case "bandwidth":
			wait, ok := cf.pace(f, &cf.upNext, n)
			if !ok {
				return 0, net.ErrClosed
			}
			if wait > time.Millisecond {
				cf.event(f, cf.readUp, fmt.Sprintf("held %d bytes %d ms to keep %d KB/s", n, wait.Milliseconds(), f.attr("rate")),
					"bytes", n, "wait_ms", wait.Milliseconds(), "rate", f.attr("rate"))
			}
		case "reset":
			pass, hit := cf.count(f, cf.readUp, n)
			if hit {
				resetHit = true
				cf.event(f, cf.readUp, fmt.Sprintf("sent RST after %d bytes", f.attr("bytes")), "bytes", f.attr("bytes"))
				if len(cf.pending) > 0 || pass < n {
					cf.pending = nil
				}
				n = pass
			}
		case "idle-timeout":
			cf.touch(f)
		}
	}
	if err != nil && len(cf.pending) > 0 {
		cf.pendErr, err = err, nil
	}
	cf.setHeld(len(cf.pending) > 0 || cf.pendErr != nil)
	if n > 0 {
		c.tap.data(KindRecv, b[:n])
	}
	if resetHit && n == 0 {
		cf.resetNow(cf.due())
		return 0, errFaultReset
	}
	if err != nil {
		c.readFailed(err)
	}
	return n, err
}

// write is Conn.Write with faults (downstream on a server's connection,
// upstream on a client's). A latency fault queues the bytes and returns at
// once, as a socket's send buffer would: a goroutine writes each chunk when
// its delay is over, so back-to-back writes are each delayed once, not one
// after the other; their order stays. While chunks wait, later writes
// queue behind them even once the latency is gone.
func (cf *connFaults) write(b []byte) (int, error) {
	if why := cf.due(); why != "" {
		cf.resetNow(why)
		return 0, errFaultReset
	}
	if err := cf.q.takeErr(); err != nil {
		return 0, err
	}
	wup := !cf.readUp
	var delay time.Duration
	for _, f := range cf.active(cf.set.cur.Load(), wup) {
		if f.typ != "latency" {
			continue
		}
		if d := latencyOf(f); d > 0 {
			delay += d
			cf.event(f, wup, fmt.Sprintf("delayed %d bytes by %d ms", len(b), d.Milliseconds()), "delay_ms", d.Milliseconds(), "bytes", len(b))
		}
	}
	if delay > 0 || cf.q.busyNow() {
		return cf.q.push(cf, b, time.Now().Add(delay))
	}
	return cf.writeNow(b)
}

// writeNow writes b through the faults other than latency.
func (cf *connFaults) writeNow(b []byte) (int, error) {
	c := cf.c
	if why := cf.due(); why != "" {
		cf.resetNow(why)
		return 0, errFaultReset
	}
	cf.mu.Lock()
	half := cf.halfWrite
	cf.mu.Unlock()
	wup := !cf.readUp // writes' direction
	if half {
		for _, f := range cf.active(cf.set.cur.Load(), wup) {
			if f.typ == "half-close" {
				cf.event(f, wup, fmt.Sprintf("discarded %d bytes written after the FIN", len(b)), "bytes", len(b))
				break
			}
		}
		return len(b), nil
	}
	_, peer := cf.sides()
	if !cf.stalled(wup, fmt.Sprintf("stopped writing: %d bytes wait, the %s receives nothing", len(b), peer)) {
		return 0, net.ErrClosed
	}
	faults := cf.active(cf.set.cur.Load(), wup)
	limit := len(b)
	resetHit := false
	var slicer, bw *faultInst
	for _, f := range faults {
		switch f.typ {
		case "slicer":
			slicer = f
		case "bandwidth":
			bw = f
		case "reset":
			if pass, hit := cf.count(f, wup, limit); hit {
				resetHit = true
				limit = pass
				cf.event(f, wup, fmt.Sprintf("sent RST after %d bytes", f.attr("bytes")), "bytes", f.attr("bytes"))
			}
		case "idle-timeout":
			cf.touch(f)
		}
	}
	// Cut what goes out into pieces: the slicer's, then the bandwidth's.
	var pieces [][]byte
	rest := b[:limit]
	for len(rest) > 0 {
		k := len(rest)
		if slicer != nil {
			k = min(k, sliceSize(slicer))
		}
		pieces = append(pieces, rest[:k])
		rest = rest[k:]
	}
	if slicer != nil && len(pieces) > 1 {
		cf.event(slicer, wup, fmt.Sprintf("sliced 1 write of %d bytes into %d", limit, len(pieces)),
			"bytes", limit, "pieces", len(pieces), "size", slicer.attr("size"))
	}
	written := 0
	for i, piece := range pieces {
		if i > 0 && slicer != nil {
			if d := slicer.attr("delay_us"); d > 0 && !cf.sleep(time.Duration(d)*time.Microsecond) {
				return written, net.ErrClosed
			}
		}
		for len(piece) > 0 {
			k := len(piece)
			if bw != nil {
				k = min(k, bandwidthChunk(bw))
				wait, ok := cf.pace(bw, &cf.downNext, k)
				if !ok {
					return written, net.ErrClosed
				}
				if wait > time.Millisecond {
					cf.event(bw, wup, fmt.Sprintf("held %d bytes %d ms to keep %d KB/s", k, wait.Milliseconds(), bw.attr("rate")),
						"bytes", k, "wait_ms", wait.Milliseconds(), "rate", bw.attr("rate"))
				}
			}
			c.tap.data(KindSend, piece[:k])
			w, err := c.rw.Write(piece[:k])
			written += w
			if err != nil {
				c.mu.Lock()
				stopping, closing := c.stopping, c.closing
				c.mu.Unlock()
				if !stopping && !closing {
					c.tap.fail(err, map[string]any{"op": "send", "written": written})
					if isReset(err) {
						c.reset()
					}
				}
				return written, err
			}
			piece = piece[k:]
		}
	}
	if resetHit {
		cf.resetNow(cf.due())
		return written, errFaultReset
	}
	return written, nil
}

// maxDelayed bounds the bytes a latency fault holds on one connection: a
// writer past it waits until they went out, as on a full send buffer.
const maxDelayed = 1 << 20

// delayQueue is the chunks a latency fault holds back on one connection,
// each with the time it goes out, and the goroutine that writes them.
type delayQueue struct {
	mu    sync.Mutex
	items []delayedChunk
	bytes int
	busy  bool          // the goroutine runs
	idle  chan struct{} // closed when it ends
	err   error         // its write failed: the next write returns this
}

type delayedChunk struct {
	b   []byte
	due time.Time
}

func (q *delayQueue) busyNow() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.busy
}

func (q *delayQueue) takeErr() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	err := q.err
	q.err = nil
	return err
}

// push queues a copy of b to go out at due (or after the chunk before it).
func (q *delayQueue) push(cf *connFaults, b []byte, due time.Time) (int, error) {
	q.mu.Lock()
	for q.busy && q.bytes+len(b) > maxDelayed {
		idle := q.idle
		q.mu.Unlock()
		select {
		case <-idle:
		case <-cf.done:
			return 0, net.ErrClosed
		}
		q.mu.Lock()
	}
	if err := q.err; err != nil {
		q.err = nil
		q.mu.Unlock()
		return 0, err
	}
	if n := len(q.items); n > 0 && due.Before(q.items[n-1].due) {
		due = q.items[n-1].due
	}
	q.items = append(q.items, delayedChunk{append([]byte(nil), b...), due})
	q.bytes += len(b)
	if !q.busy {
		q.busy, q.idle = true, make(chan struct{})
		cf.flags.Or(flagQueued) // even once the latency is gone, until the queue is empty
		go q.deliver(cf)
	}
	q.mu.Unlock()
	return len(b), nil
}

// deliver writes the queued chunks, each when it is due, until none is
// left, a write fails, or the connection closes (what is left is lost,
// as on a socket closed with data unsent).
func (q *delayQueue) deliver(cf *connFaults) {
	for {
		q.mu.Lock()
		if len(q.items) == 0 {
			q.end(cf)
			q.mu.Unlock()
			return
		}
		it := q.items[0]
		q.mu.Unlock()
		ok := cf.sleep(time.Until(it.due))
		var err error
		if ok {
			_, err = cf.writeNow(it.b)
		}
		q.mu.Lock()
		q.items, q.bytes = q.items[1:], q.bytes-len(it.b)
		if !ok || err != nil {
			if err != nil {
				q.err = err
			}
			q.items, q.bytes = nil, 0
			q.end(cf)
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
	}
}

// end marks the goroutine ended. Call with q.mu held.
func (q *delayQueue) end(cf *connFaults) {
	q.busy = false
	cf.flags.And(^flagQueued)
	close(q.idle)
}

// flush waits until the delayed chunks went out (or the connection
// closed): a close or a shutdown(SHUT_WR) comes after them, as the FIN
// follows the data in a socket's send buffer.
func (cf *connFaults) flush() {
	if cf == nil {
		return
	}
	cf.q.mu.Lock()
	if !cf.q.busy {
		cf.q.mu.Unlock()
		return
	}
	idle := cf.q.idle
	cf.q.mu.Unlock()
	<-idle
}
