package sessions

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// RecorderConfig sizes the recorder.
type RecorderConfig struct {
	// QueueSize is how many events may wait for the writer before Emit blocks
	// (default 16384).
	QueueSize int
	// MaxBatch is the most events committed in one transaction (default 4096).
	MaxBatch int
	// MaxHeld is how many events are held in memory while the store fails
	// (default 100000); past it events are counted into a loss marker.
	MaxHeld int
	// MaxSessionEvents and MaxSessionBytes cap what one session stores:
	// its events, and its chunks' bytes on disk (0: no cap). Past either,
	// the session records one loss marker that says so and keeps nothing
	// more (the sockets go on; the events not kept are counted in
	// sessions.not_kept). The bytes are checked once per batch, so a
	// session may pass that cap by one batch.
	MaxSessionEvents int64
	MaxSessionBytes  int64
	// OnCommit, if set, is called by the writer after each commit that
	// worked, with how long it took and how many events it recorded.
	OnCommit func(d time.Duration, events int)
}

// Recorder implements engine.Sink: it numbers events per session, commits
// them to the store in batches from one writer goroutine, and publishes each
// committed batch to the hub.
type Recorder struct {
	store *Store
	hub   *Hub
	log   *slog.Logger
	cfg   RecorderConfig

	// The queue is a slice under a mutex rather than a channel: a channel
	// receive per event wakes the writer once per event, and those wake-ups
	// cost the sockets more than the recording itself. Emit signals wake
	// only when the queue becomes non-empty; the writer then waits out the
	// group-commit window and takes everything at once.
	mu     sync.Mutex
	space  *sync.Cond // broadcast when the writer takes the queue or closes
	queue  []op       // guarded by mu
	slab   []byte     // guarded by mu: the block small events' JSON is copied into (slabCopy)
	urgent bool       // guarded by mu: a barrier, a full queue or Close is waiting
	closed bool       // guarded by mu
	wake   chan struct{}
	done   chan struct{}
	spare  []op     // writer only: the previous queue's array, reused
	recs   []Record // writer only: the records of the last commit, reused (the hub copies them)
	chunks chunker  // writer only: its buffers are reused from batch to batch

	lastSeq map[string]int64         // writer goroutine only
	usage   map[string]*sessionUsage // writer only: what each session stores, for the caps
	held    []op                     // writer only: events waiting for a failing store
	lost    map[string]*lossInfo     // writer only: events past MaxHeld, per session
	retryAt time.Time                // writer only: next try to write what is held
	backoff time.Duration            // writer only: current retry pace

	waits     atomic.Int64 // Emit calls that found the queue full
	committed atomic.Int64 // events committed
	dropped   atomic.Int64 // events for sessions that do not exist
	failing   atomic.Bool  // the last commit failed
	lastErr   atomic.Value // string
	lostTotal atomic.Int64 // events past MaxHeld while the store failed
	heldCount atomic.Int64 // len(held), for Stats
	notKept   atomic.Int64 // events past a session's cap
}

// sessionUsage is what a session stores, against the per-session caps.
type sessionUsage struct {
	bytes     int64 // its chunks' bytes
	cappedSeq int64 // the seq of its cap marker, 0 if none
	notKept   int64 // events not kept in the batch being written
}

// op is an event to record, or a barrier (flush or delete) the writer
// acknowledges once everything queued before it is committed.
type op struct {
	ev     engine.Event
	tail   []byte     // ev's JSON without its seq, made by Emit's caller
	delete string     // session to delete
	imp    *importJob // session to import (import.go)
	ack    chan error // non-nil for barriers
}

// Group commit. After the first event of a batch arrives the writer waits
// groupCommitWindow for more, and a commit never starts sooner than
// minCommitInterval after the previous one started: a request/response
// exchange (a trickle of events that would otherwise each open a window of
// their own) then costs at most 100 transactions, so 100 fsyncs, a second
// instead of 500. With synchronous=FULL every commit is an fsync of the WAL,
// whose kernel work (the ext4 journal) competes with the sockets for the
// CPUs: measured on a 2-core machine, 64-byte round trips through a recorded
// echo went from 0.71-0.76 to 0.85-0.89 of a bare echo's rate. The live view
// gains at most 10 ms, which no one watching can see; a single event after a
// quiet spell is still committed within groupCommitWindow. A barrier, a full
// queue or Close cuts either wait short.
const (
	groupCommitWindow = 2 * time.Millisecond
	minCommitInterval = 10 * time.Millisecond
)

// NewRecorder starts the writer goroutine. Close stops it.
func NewRecorder(store *Store, hub *Hub, cfg RecorderConfig, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.Default()
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 16384
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 4096
	}
	if cfg.MaxHeld <= 0 {
		cfg.MaxHeld = 100000
	}
	r := &Recorder{store: store, hub: hub, log: log, cfg: cfg,
		wake: make(chan struct{}, 1), done: make(chan struct{}), lastSeq: map[string]int64{}, usage: map[string]*sessionUsage{},
		lost: map[string]*lossInfo{}}
	r.space = sync.NewCond(&r.mu)
	go r.run()
	return r
}

// ErrRecorderClosed is returned by barriers after Close.
var ErrRecorderClosed = errors.New("recorder closed")

// Emit queues ev for recording. It returns at once unless the queue is full,
// in which case it waits for the disk (counted in Stats().Waits). A failing
// store does not make it wait: the writer holds events and retries. After
// Close, events are dropped with a log line: by then every engine component
// has been closed, so there are none in a correct shutdown.
func (r *Recorder) Emit(ev engine.Event) {
	// The event's JSON is made here, in the emitting goroutine, in parallel
	// with every other socket: the writer only numbers and writes it. A
	// small one (most are: no data kept, or a short message) is made on
	// the stack and copied into the queue's slab under the lock, which
	// costs a copy of ~250 bytes instead of an allocation per event; a
	// large one gets its own buffer. (small must not flow anywhere but
	// slabCopy, or the compiler puts it on the heap.)
	var small [smallTail]byte
	var st, ht []byte
	if n := tailSize(&ev); n <= smallTail {
		st = appendTail(small[:0], &ev)
	} else {
		ht = appendTail(make([]byte, 0, n), &ev)
	}
	r.mu.Lock()
	if len(r.queue) >= r.cfg.QueueSize && !r.closed {
		r.waits.Add(1)
		for len(r.queue) >= r.cfg.QueueSize && !r.closed {
			r.urgent = true // no group-commit delay while sockets wait
			r.signal()
			r.space.Wait()
		}
	}
	if r.closed {
		r.mu.Unlock()
		r.log.Error("event emitted after the recorder closed; not recorded", "session", ev.Session, "kind", ev.Kind)
		return
	}
	tail := ht
	if tail == nil {
		tail = r.slabCopy(st)
	}
	r.queue = append(r.queue, op{ev: ev, tail: tail})
	first := len(r.queue) == 1
	r.mu.Unlock()
	if first {
		r.signal()
	}
}

// smallTail is the largest event JSON Emit makes on the stack; slabSize
// the size of the blocks it copies them into. A block lives as long as
// any of its events is referenced (queued, or in a live viewer's buffer,
// which holds a few thousand consecutive events: a few blocks).
const (
	smallTail = 512
	slabSize  = 64 << 10
)

// slabCopy copies b into the current slab block and returns the copy
// (with its capacity cut to its length: nothing appends into the next
// event's bytes). r.mu must be held.
func (r *Recorder) slabCopy(b []byte) []byte {
	if cap(r.slab)-len(r.slab) < len(b) {
		r.slab = make([]byte, 0, slabSize)
	}
	n := len(r.slab)
	r.slab = append(r.slab, b...)
	return r.slab[n:len(r.slab):len(r.slab)]
}

// signal wakes the writer (without blocking: one pending wake-up is enough).
func (r *Recorder) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// barrier queues o and waits for the writer to handle it.
func (r *Recorder) barrier(ctx context.Context, o op) error {
	o.ack = make(chan error, 1)
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrRecorderClosed
	}
	r.queue = append(r.queue, o)
	r.urgent = true
	r.mu.Unlock()
	r.signal()
	select {
	case err := <-o.ack:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Flush waits until every event emitted before it is committed and published.
func (r *Recorder) Flush(ctx context.Context) error { return r.barrier(ctx, op{}) }

// DeleteSession deletes a session and its events, after committing what was
// queued before. Events for it that arrive later are dropped (the engine's
// servers and clients of the session must be closed first).
func (r *Recorder) DeleteSession(ctx context.Context, id string) error {
	return r.barrier(ctx, op{delete: id})
}

// Close commits everything queued and stops the writer. Call it after the
// engine is closed.
func (r *Recorder) Close() error {
	r.mu.Lock()
	if !r.closed {
		r.closed, r.urgent = true, true
		r.space.Broadcast()
	}
	r.mu.Unlock()
	r.signal()
	<-r.done
	return nil
}

// RecorderStats are the recorder's counters.
type RecorderStats struct {
	Committed int64  `json:"committed"`
	Waits     int64  `json:"waits"`   // times Emit waited for the disk
	Dropped   int64  `json:"dropped"` // events of deleted or unknown sessions
	Queued    int    `json:"queued"`
	Held      int64  `json:"held"`     // events waiting for a failing store
	Lost      int64  `json:"lost"`     // events past the held buffer (loss markers)
	NotKept   int64  `json:"not_kept"` // events past a session's cap (-session-max-events/-bytes)
	Failing   bool   `json:"failing"`
	LastError string `json:"last_error,omitempty"`
}

// Stats returns the recorder's counters.
func (r *Recorder) Stats() RecorderStats {
	s := RecorderStats{Committed: r.committed.Load(), Waits: r.waits.Load(), Dropped: r.dropped.Load(),
		Queued: r.queued(), Failing: r.failing.Load(),
		Held: r.heldCount.Load(), Lost: r.lostTotal.Load(), NotKept: r.notKept.Load()}
	if s.Failing {
		s.LastError, _ = r.lastErr.Load().(string)
	}
	return s
}

func (r *Recorder) queued() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}

func (r *Recorder) run() {
	defer close(r.done)
	var lastCommit time.Time // when the previous batch was taken
	for {
		var retry <-chan time.Time
		var timer *time.Timer
		if r.holding() {
			timer = time.NewTimer(time.Until(r.retryAt))
			retry = timer.C
		}
		retrying := false
		select {
		case <-r.wake:
		case <-retry:
			retrying = true
		}
		if timer != nil {
			timer.Stop()
		}
		if retrying {
			r.retryHeld()
			continue
		}
		// Group commit: let what arrives within a short window join the
		// batch, so that a trickle of events (a request/response exchange)
		// costs one transaction and one fsync per window instead of one per
		// event. A barrier, a full queue or Close cuts the window short.
		r.mu.Lock()
		urgent := r.urgent
		r.mu.Unlock()
		if !urgent {
			wait := max(groupCommitWindow, time.Until(lastCommit.Add(minCommitInterval)))
			window := time.NewTimer(wait)
			select {
			case <-window.C:
			case <-r.wake:
				window.Stop()
			}
		}
		lastCommit = time.Now()
		r.mu.Lock()
		batch := r.queue
		r.queue, r.urgent = r.spare[:0], false
		closed := r.closed
		r.space.Broadcast()
		r.mu.Unlock()
		for start := 0; start < len(batch); start += r.cfg.MaxBatch {
			r.handle(batch[start:min(start+r.cfg.MaxBatch, len(batch))])
		}
		clear(batch) // drop references to the events' bytes
		r.spare = batch[:0]
		if closed {
			r.finalFlush()
			return
		}
	}
}

// Retry pacing while the store fails.
const (
	minRetry = 50 * time.Millisecond
	maxRetry = 5 * time.Second
)

// handle records the events of batch, running barriers in order.
func (r *Recorder) handle(batch []op) {
	start := 0
	for i, o := range batch {
		if o.ack == nil {
			continue
		}
		r.record(batch[start:i])
		start = i + 1
		err := r.flushHeld()
		if err == nil && o.delete != "" {
			err = r.deleteSession(o.delete)
		}
		if err == nil && o.imp != nil {
			err = r.importSession(o.imp)
		}
		o.ack <- err
	}
	r.record(batch[start:])
}

// record commits ops, or holds them while the store is failing: sockets keep
// running and nothing is lost silently (see hold).
func (r *Recorder) record(ops []op) {
	if len(ops) == 0 {
		return
	}
	if !r.holding() {
		if r.commit(ops) == nil {
			return
		}
		r.hold(ops)
		r.backoff = minRetry
		r.retryAt = time.Now().Add(r.backoff)
		return
	}
	r.hold(ops)
	// A steady stream of events must not postpone the retry forever.
	if !time.Now().Before(r.retryAt) {
		r.retryHeld()
	}
}

// retryHeld tries to write what is held and paces the next try.
func (r *Recorder) retryHeld() {
	if r.flushHeld() == nil {
		r.backoff = minRetry
		return
	}
	r.backoff = min(max(r.backoff*2, minRetry), maxRetry)
	r.retryAt = time.Now().Add(r.backoff)
}

func (r *Recorder) holding() bool { return len(r.held) > 0 || len(r.lost) > 0 }

// hold keeps events the store could not take, up to MaxHeld; past that each
// session's lost events are counted and recorded as one loss marker (how
// many, first and last time) as soon as the store works again.
func (r *Recorder) hold(ops []op) {
	for _, o := range ops {
		if len(r.held) < r.cfg.MaxHeld {
			r.held = append(r.held, o)
			r.heldCount.Store(int64(len(r.held)))
			continue
		}
		l := r.lost[o.ev.Session]
		if l == nil {
			l = &lossInfo{first: o.ev.At}
			r.lost[o.ev.Session] = l
		}
		l.n++
		l.last = o.ev.At
		r.lostTotal.Add(1)
	}
}

type lossInfo struct {
	n           int64
	first, last time.Time
}

// flushHeld tries to commit what is held, followed by a loss marker per
// session that lost events.
func (r *Recorder) flushHeld() error {
	if !r.holding() {
		return nil
	}
	ops := r.held
	for session, l := range r.lost {
		ops = append(ops, op{ev: engine.Event{Session: session, At: time.Now(), Kind: engine.KindLoss,
			Meta: map[string]any{"events": l.n, "from": l.first.UTC().Format(TimeLayout), "to": l.last.UTC().Format(TimeLayout),
				"reason": "the database was failing and sockplay's buffer of unwritten events was full"}}})
	}
	if err := r.commit(ops); err != nil {
		return err
	}
	r.held = nil
	r.heldCount.Store(0)
	clear(r.lost)
	return nil
}

// finalFlush is the last chance at Close: retry for a while, then say what
// could not be written.
func (r *Recorder) finalFlush() {
	deadline := time.Now().Add(maxRetry)
	for r.holding() && r.flushHeld() != nil && time.Now().Before(deadline) {
		time.Sleep(minRetry)
	}
	if r.holding() {
		r.log.Error("closing with events the database would not take", "events", len(r.held), "lost", r.lostTotal.Load())
	}
}

// commit writes events in one transaction and publishes them.
func (r *Recorder) commit(ops []op) error {
	began := time.Now()
	recs, drops, err := r.write(ops, r.recs[:0])
	defer func() {
		clear(recs) // drop references to the events' bytes
		r.recs = recs[:0]
	}()
	if err != nil {
		r.failing.Store(true)
		r.lastErr.Store(err.Error())
		r.log.Error("recording events failed; holding them and retrying", "events", len(ops), "err", err)
		return err
	}
	if r.failing.Swap(false) {
		r.log.Info("recording recovered")
	}
	r.committed.Add(int64(len(recs)))
	if r.cfg.OnCommit != nil {
		r.cfg.OnCommit(time.Since(began), len(recs))
	}
	if drops > 0 {
		r.dropped.Add(int64(drops))
		r.log.Warn("events for sessions that do not exist (deleted); not recorded", "events", drops)
	}
	// Publish per session, in seq order, after the commit.
	for start := 0; start < len(recs); {
		end := start + 1
		for end < len(recs) && recs[end].Session == recs[start].Session {
			end++
		}
		r.hub.Publish(recs[start].Session, recs[start:end])
		start = end
	}
	return nil
}

// write numbers events and stores them in one transaction, and returns
// their records (with their JSON). Seqs are committed to lastSeq only if the
// transaction commits.
func (r *Recorder) write(ops []op, recs []Record) (_ []Record, drops int, err error) {
	ctx := context.Background()
	tx, err := r.store.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	next := map[string]int64{}
	start := map[string]int64{}         // each session's last seq before this batch
	usage := map[string]*sessionUsage{} // copies, kept if the transaction commits
	capped := r.cfg.MaxSessionEvents > 0 || r.cfg.MaxSessionBytes > 0
	for _, o := range ops {
		ev := o.ev
		seq, ok := next[ev.Session]
		if !ok {
			if seq, err = r.lastSeqOf(tx, ev.Session); err != nil {
				return nil, 0, err
			}
			start[ev.Session] = seq
			if seq >= 0 && capped {
				u, err := r.usageOf(tx, ev.Session)
				if err != nil {
					return nil, 0, err
				}
				c := *u
				usage[ev.Session] = &c
			}
		}
		next[ev.Session] = seq
		if seq < 0 {
			drops++
			continue
		}
		if u := usage[ev.Session]; u != nil {
			if u.cappedSeq > 0 {
				u.notKept++
				continue
			}
			if marker := r.capMarker(ev, seq, u); marker != nil {
				seq++
				next[ev.Session] = seq
				u.cappedSeq, u.notKept = seq, u.notKept+1
				recs = append(recs, Record{Seq: seq, Event: *marker})
				continue
			}
		}
		seq++
		next[ev.Session] = seq
		recs = append(recs, Record{Seq: seq, Event: ev, tail: o.tail})
	}
	c := &r.chunks
	c.reset()
	c.addAll(recs)
	var stored map[string]int64
	if r.cfg.MaxSessionBytes > 0 {
		stored = map[string]int64{}
	}
	if err := c.insertChunks(ctx, tx, c.finish(), stored); err != nil {
		return nil, 0, err
	}
	if err := rememberServers(ctx, tx, recs); err != nil {
		return nil, 0, err
	}
	if err := countErrors(ctx, tx, recs); err != nil {
		return nil, 0, err
	}
	if err := r.updateUsage(ctx, tx, usage, stored); err != nil {
		return nil, 0, err
	}
	if err := tx.Commit(); err != nil {
		return nil, 0, fmt.Errorf("commit: %w", err)
	}
	for s, seq := range next {
		if seq >= 0 {
			r.lastSeq[s] = seq
		}
	}
	for s, u := range usage {
		r.notKept.Add(u.notKept)
		u.notKept = 0
		r.usage[s] = u
	}
	return recs, drops, nil
}

// capMarker returns the loss marker to record instead of ev when ev would
// take its session past a cap (seq: its last seq so far), or nil.
func (r *Recorder) capMarker(ev engine.Event, seq int64, u *sessionUsage) *engine.Event {
	var what string
	var limit int64
	switch {
	case r.cfg.MaxSessionEvents > 0 && seq+1 >= r.cfg.MaxSessionEvents:
		what, limit = "events", r.cfg.MaxSessionEvents
		ev.Meta = map[string]any{"reason": fmt.Sprintf("the session reached its recording cap of %d events (-session-max-events): later events are not kept, though the sockets go on; start a new session to record more", limit)}
	case r.cfg.MaxSessionBytes > 0 && u.bytes >= r.cfg.MaxSessionBytes:
		what, limit = "bytes", r.cfg.MaxSessionBytes
		ev.Meta = map[string]any{"reason": fmt.Sprintf("the session reached its recording cap of %d bytes on disk (-session-max-bytes): later events are not kept, though the sockets go on; start a new session to record more", limit)}
	default:
		return nil
	}
	r.log.Warn("a session reached its recording cap; its later events are not kept", "session", ev.Session, "cap", what, "limit", limit)
	m := ev.Meta
	m["cap"], m["limit"], m["from"] = what, limit, ev.At.UTC().Format(TimeLayout)
	return &engine.Event{Session: ev.Session, At: ev.At, Kind: engine.KindLoss, Meta: m}
}

// usageOf returns what session stores, from the cache or the store.
func (r *Recorder) usageOf(tx *sql.Tx, session string) (*sessionUsage, error) {
	if u, ok := r.usage[session]; ok {
		return u, nil
	}
	u := &sessionUsage{}
	q := `SELECT capped_seq, 0 FROM sessions WHERE id = ?`
	if r.cfg.MaxSessionBytes > 0 {
		q = `SELECT capped_seq, COALESCE((SELECT SUM(length(events)) FROM event_chunks WHERE session_id = ?1), 0) FROM sessions WHERE id = ?1`
	}
	if err := tx.QueryRow(q, session).Scan(&u.cappedSeq, &u.bytes); err != nil {
		return nil, fmt.Errorf("stored size of %s: %w", session, err)
	}
	r.usage[session] = u
	return u, nil
}

// updateUsage adds the bytes this batch stored to each session's usage and
// stores the caps' marks and counts, in the batch's transaction.
// The bytes are the ones insertChunks wrote: chunks are only ever inserted,
// so they are what the session grew by. (Asking SQLite for their sum, one
// query per session per commit, was 15% of the process's CPU with 200
// sessions recording at once.)
func (r *Recorder) updateUsage(ctx context.Context, tx *sql.Tx, usage map[string]*sessionUsage, stored map[string]int64) error {
	for s, u := range usage {
		before := r.usage[s]
		u.bytes += stored[s]
		if u.notKept == 0 && u.cappedSeq == before.cappedSeq {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET capped_seq = ?, not_kept = not_kept + ? WHERE id = ?`,
			u.cappedSeq, u.notKept, s); err != nil {
			return fmt.Errorf("cap of %s: %w", s, err)
		}
	}
	return nil
}

// countErrors adds the error events of recs to their sessions' counts and
// keeps each session's newest one (sessions.errors, last_error), in their
// transaction: what the workshop dashboard shows without reading events.
// Most batches have no error, and cost a loop.
func countErrors(ctx context.Context, tx *sql.Tx, recs []Record) error {
	type tally struct {
		n    int
		last *Record
	}
	var bySession map[string]*tally
	for i := range recs {
		if recs[i].Err == nil {
			continue
		}
		if bySession == nil {
			bySession = map[string]*tally{}
		}
		t := bySession[recs[i].Session]
		if t == nil {
			t = &tally{}
			bySession[recs[i].Session] = t
		}
		t.n++
		t.last = &recs[i]
	}
	for session, t := range bySession {
		last, err := json.Marshal(t.last.Err)
		if err != nil {
			return fmt.Errorf("errors of %s: %w", session, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET errors = errors + ?, last_error = ?, last_error_at = ? WHERE id = ?`,
			t.n, string(last), t.last.At.UnixNano(), session); err != nil {
			return fmt.Errorf("errors of %s: %w", session, err)
		}
	}
	return nil
}

// rememberServers keeps lab_servers in step with the server-start and
// server-stop events of recs, in their transaction: a server runs from its
// start until it stops for any reason but a shutdown, and one that runs
// when sockplay starts again is started again (see Store.ServersToRestore).
func rememberServers(ctx context.Context, tx *sql.Tx, recs []Record) error {
	for i := range recs {
		r := &recs[i]
		switch r.Kind {
		case engine.KindServerStart:
			opts, err := json.Marshal(r.Meta["options"])
			if err != nil {
				return fmt.Errorf("remember server %s: %w", r.Server, err)
			}
			faults, err := json.Marshal(engine.StartFaults(r.Meta))
			if err != nil {
				return fmt.Errorf("remember server %s: %w", r.Server, err)
			}
			kind, _ := r.Meta["kind"].(string)
			name, _ := r.Meta["name"].(string)
			port, _ := r.Meta["port"].(int)
			_, err = tx.ExecContext(ctx, `INSERT INTO lab_servers (session_id, server_id, kind, name, port, options, running, faults)
				VALUES (?, ?, ?, ?, ?, ?, 1, ?)
				ON CONFLICT (session_id, server_id) DO UPDATE SET kind = excluded.kind, name = excluded.name,
					port = excluded.port, options = excluded.options, running = 1, faults = excluded.faults`,
				r.Session, r.Server, kind, name, port, string(opts), string(faults))
			if err != nil {
				return fmt.Errorf("remember server %s: %w", r.Server, err)
			}
		case engine.KindFault:
			// A server's fault added, changed, switched or removed (a fault
			// acting on a connection has a conn and no "change").
			if r.Conn != "" || r.Meta["change"] == nil {
				continue
			}
			if err := rememberFaultChange(ctx, tx, r); err != nil {
				return err
			}
		case engine.KindServerStop:
			if r.Meta["reason"] == engine.StopShutdown {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE lab_servers SET running = 0 WHERE session_id = ? AND server_id = ?`,
				r.Session, r.Server); err != nil {
				return fmt.Errorf("remember server %s stopped: %w", r.Server, err)
			}
		}
	}
	return nil
}

// rememberFaultChange folds a fault event's change into its server's
// remembered faults. A client's faults are not remembered (clients are not
// started again), nor those of a server lab_servers does not know.
func rememberFaultChange(ctx context.Context, tx *sql.Tx, r *Record) error {
	var stored sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT faults FROM lab_servers WHERE session_id = ? AND server_id = ?`, r.Session, r.Server).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remember the faults of %s: %w", r.Server, err)
	}
	var list []engine.Fault
	if stored.Valid {
		_ = json.Unmarshal([]byte(stored.String), &list) // unreadable: start again from none
	}
	b, err := json.Marshal(engine.ApplyFaultChange(list, r.Meta))
	if err != nil {
		return fmt.Errorf("remember the faults of %s: %w", r.Server, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE lab_servers SET faults = ? WHERE session_id = ? AND server_id = ?`,
		string(b), r.Session, r.Server); err != nil {
		return fmt.Errorf("remember the faults of %s: %w", r.Server, err)
	}
	return nil
}

// lastSeqOf returns the last committed seq of session, or -1 if the session
// does not exist.
func (r *Recorder) lastSeqOf(tx *sql.Tx, session string) (int64, error) {
	if seq, ok := r.lastSeq[session]; ok {
		return seq, nil
	}
	var exists bool
	var seq int64
	err := tx.QueryRow(`SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?),
		COALESCE((SELECT MAX(last_seq) FROM event_chunks WHERE session_id = ?), 0)`, session, session).Scan(&exists, &seq)
	if err != nil {
		return 0, fmt.Errorf("last seq of %s: %w", session, err)
	}
	if !exists {
		// Not cached: the session may be created later (ids are random, so
		// this only happens with a deleted or made-up id).
		return -1, nil
	}
	return seq, nil
}

func (r *Recorder) deleteSession(id string) error {
	res, err := r.store.db.Exec(`DELETE FROM sessions WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete session %s: %w", id, err)
	}
	delete(r.lastSeq, id)
	delete(r.usage, id)
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
