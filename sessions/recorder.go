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
}

// Recorder implements engine.Sink: it numbers events per session, commits
// them to the store in batches from one writer goroutine, and publishes each
// committed batch to the hub.
type Recorder struct {
	store *Store
	hub   *Hub
	log   *slog.Logger
	cfg   RecorderConfig

	queue chan op
	done  chan struct{}

	closeMu sync.RWMutex // held for reading by Emit, for writing by Close
	closed  bool

	lastSeq map[string]int64 // writer goroutine only; -1 = session does not exist

	waits     atomic.Int64 // Emit calls that found the queue full
	committed atomic.Int64 // events committed
	dropped   atomic.Int64 // events for sessions that do not exist
	failing   atomic.Bool  // the last commit failed
	lastErr   atomic.Value // string
}

// op is an event to record, or a barrier (flush or delete) the writer
// acknowledges once everything queued before it is committed.
type op struct {
	ev     engine.Event
	delete string     // session to delete
	ack    chan error // non-nil for barriers
}

// groupCommitWindow is how long the writer waits for more events before
// committing a batch. It bounds the added latency of the live view.
const groupCommitWindow = 2 * time.Millisecond

// NewRecorder starts the writer goroutine. Close stops it.
func NewRecorder(store *Store, hub *Hub, cfg RecorderConfig, log *slog.Logger) *Recorder {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 16384
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 4096
	}
	r := &Recorder{store: store, hub: hub, log: log, cfg: cfg,
		queue: make(chan op, cfg.QueueSize), done: make(chan struct{}), lastSeq: map[string]int64{}}
	go r.run()
	return r
}

// ErrRecorderClosed is returned by barriers after Close.
var ErrRecorderClosed = errors.New("recorder closed")

// Emit queues ev for recording. It returns at once unless the queue is full,
// in which case it waits for the disk (counted in Stats().Waits). After
// Close, events are dropped with a log line: by then every engine component
// has been closed, so there are none in a correct shutdown.
func (r *Recorder) Emit(ev engine.Event) {
	r.closeMu.RLock()
	defer r.closeMu.RUnlock()
	if r.closed {
		r.log.Error("event emitted after the recorder closed; not recorded", "session", ev.Session, "kind", ev.Kind)
		return
	}
	select {
	case r.queue <- op{ev: ev}:
	default:
		r.waits.Add(1)
		r.queue <- op{ev: ev}
	}
}

// barrier queues o and waits for the writer to handle it.
func (r *Recorder) barrier(ctx context.Context, o op) error {
	o.ack = make(chan error, 1)
	r.closeMu.RLock()
	if r.closed {
		r.closeMu.RUnlock()
		return ErrRecorderClosed
	}
	select {
	case r.queue <- o:
	case <-ctx.Done():
		r.closeMu.RUnlock()
		return ctx.Err()
	}
	r.closeMu.RUnlock()
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
	r.closeMu.Lock()
	if r.closed {
		r.closeMu.Unlock()
		<-r.done
		return nil
	}
	r.closed = true
	close(r.queue)
	r.closeMu.Unlock()
	<-r.done
	return nil
}

// RecorderStats are the recorder's counters.
type RecorderStats struct {
	Committed int64  `json:"committed"`
	Waits     int64  `json:"waits"`   // times Emit waited for the disk
	Dropped   int64  `json:"dropped"` // events of deleted or unknown sessions
	Queued    int    `json:"queued"`
	Failing   bool   `json:"failing"`
	LastError string `json:"last_error,omitempty"`
}

// Stats returns the recorder's counters.
func (r *Recorder) Stats() RecorderStats {
	s := RecorderStats{Committed: r.committed.Load(), Waits: r.waits.Load(), Dropped: r.dropped.Load(),
		Queued: len(r.queue), Failing: r.failing.Load()}
	if s.Failing {
		s.LastError, _ = r.lastErr.Load().(string)
	}
	return s
}

func (r *Recorder) run() {
	defer close(r.done)
	batch := make([]op, 0, r.cfg.MaxBatch)
	for {
		o, ok := <-r.queue
		if !ok {
			return
		}
		batch = append(batch[:0], o)
		// Group commit: gather what arrives within a short window, so that a
		// trickle of events (a request/response exchange) costs one
		// transaction and one fsync per window instead of one per event.
		window := time.NewTimer(groupCommitWindow)
	gather:
		for len(batch) < r.cfg.MaxBatch && o.ack == nil {
			select {
			case o, ok = <-r.queue:
				if !ok {
					break gather
				}
				batch = append(batch, o)
			case <-window.C:
				break gather
			}
		}
		window.Stop()
		r.handle(batch)
		if !ok {
			return
		}
	}
}

// handle commits the events of batch, running barriers in order.
func (r *Recorder) handle(batch []op) {
	start := 0
	for i, o := range batch {
		if o.ack == nil {
			continue
		}
		r.commit(batch[start:i])
		start = i + 1
		var err error
		if o.delete != "" {
			err = r.deleteSession(o.delete)
		}
		o.ack <- err
	}
	r.commit(batch[start:])
}

// commit writes events in one transaction, retrying until it succeeds, then
// publishes them. Nothing is dropped: while the store fails, Emit callers
// wait (the queue is full), which is reported through Stats and /healthz.
func (r *Recorder) commit(ops []op) {
	if len(ops) == 0 {
		return
	}
	recs := make([]Record, 0, len(ops))
	for backoff := 50 * time.Millisecond; ; backoff = min(backoff*2, 5*time.Second) {
		var err error
		recs, err = r.write(ops, recs[:0])
		if err == nil {
			break
		}
		r.failing.Store(true)
		r.lastErr.Store(err.Error())
		r.log.Error("recording events failed; retrying", "events", len(ops), "err", err, "retry_in", backoff)
		time.Sleep(backoff)
	}
	if r.failing.Swap(false) {
		r.log.Info("recording recovered")
	}
	r.committed.Add(int64(len(recs)))
	// Publish per session, in seq order, after the commit.
	for start := 0; start < len(recs); {
		end := start + 1
		for end < len(recs) && recs[end].Session == recs[start].Session {
			end++
		}
		part := recs[start:end]
		r.hub.Publish(part[0].Session, part)
		start = end
	}
}

// write numbers and inserts events in one transaction and returns their
// records. Seqs are committed to lastSeq only if the transaction commits.
func (r *Recorder) write(ops []op, recs []Record) ([]Record, error) {
	ctx := context.Background()
	tx, err := r.store.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO events (session_id, seq, at, kind, server, conn, local, remote,
		len, data, truncated, errno, err_message, err_hint, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	defer stmt.Close()
	next := map[string]int64{}
	for _, o := range ops {
		ev := o.ev
		seq, ok := next[ev.Session]
		if !ok {
			if seq, err = r.lastSeqOf(tx, ev.Session); err != nil {
				return nil, err
			}
		}
		if seq < 0 {
			next[ev.Session] = seq
			r.dropped.Add(1)
			r.log.Warn("event for a session that does not exist; not recorded", "session", ev.Session, "kind", ev.Kind)
			continue
		}
		seq++
		next[ev.Session] = seq
		var errno, msg, hint sql.NullString
		if ev.Err != nil {
			errno = sql.NullString{String: ev.Err.Errno, Valid: true}
			msg = sql.NullString{String: ev.Err.Message, Valid: true}
			hint = sql.NullString{String: ev.Err.Hint, Valid: true}
		}
		var meta sql.NullString
		if len(ev.Meta) > 0 {
			b, err := json.Marshal(ev.Meta)
			if err != nil {
				b, _ = json.Marshal(map[string]any{"meta_error": err.Error()})
			}
			meta = sql.NullString{String: string(b), Valid: true}
		}
		if _, err := stmt.ExecContext(ctx, ev.Session, seq, ev.At.UnixNano(), string(ev.Kind), ev.Server, ev.Conn,
			ev.Local, ev.Remote, ev.Len, ev.Data, ev.Truncated, errno, msg, hint, meta); err != nil {
			return nil, fmt.Errorf("insert event: %w", err)
		}
		recs = append(recs, Record{Seq: seq, Event: ev})
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	for s, seq := range next {
		if seq >= 0 {
			r.lastSeq[s] = seq
		}
	}
	return recs, nil
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
		COALESCE((SELECT MAX(seq) FROM events WHERE session_id = ?), 0)`, session, session).Scan(&exists, &seq)
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
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
