package sessions

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// The disk budget (docs/disk-budget.md) has three parts:
//   - each session stores at most RecorderConfig.MaxSessionEvents events and
//     MaxSessionBytes bytes; past that one loss marker says what is not kept
//     (recorder.go);
//   - the database as a whole holds at most RetentionConfig.MaxBytes, and no
//     session older than MaxAge: past them Retention deletes the sessions
//     that were active longest ago first, never one with a live server or
//     client;
//   - after it deletes, the file shrinks: migration 9 made the database
//     auto_vacuum=INCREMENTAL, so `PRAGMA incremental_vacuum` gives the
//     freed pages back, and `PRAGMA wal_checkpoint(TRUNCATE)` empties the
//     write-ahead log that the deletes grew.

// SessionUsage is what a session takes in the database.
type SessionUsage struct {
	// Bytes is the size of its stored events (the chunks' bodies): what
	// deleting it frees, give or take SQLite's page overhead.
	Bytes int64 `json:"bytes"`
	// CappedSeq is the seq of the loss marker its per-session cap wrote (0:
	// it never reached the cap), NotKept how many events were not kept since.
	CappedSeq int64 `json:"capped_seq,omitempty"`
	NotKept   int64 `json:"not_kept,omitempty"`
}

// Usage returns the usage of each of ids, in one query (an indexed range
// of event_chunks per session; length() of a blob reads no overflow pages).
func (s *Store) Usage(ctx context.Context, ids []string) (map[string]SessionUsage, error) {
	out := make(map[string]SessionUsage, len(ids))
	const block = 500
	for start := 0; start < len(ids); start += block {
		part := ids[start:min(start+block, len(ids))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = id
		}
		in := `(?` + strings.Repeat(",?", len(part)-1) + `)`
		rows, err := s.db.QueryContext(ctx, `SELECT id, capped_seq, not_kept FROM sessions WHERE id IN `+in, args...)
		if err != nil {
			return nil, fmt.Errorf("sizes of sessions: %w", err)
		}
		for rows.Next() {
			var id string
			var u SessionUsage
			if err := rows.Scan(&id, &u.CappedSeq, &u.NotKept); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sizes of sessions: %w", err)
			}
			out[id] = u
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sizes of sessions: %w", err)
		}
		// One pass over the sessions' ranges of the (session_id, first_seq)
		// index; a GROUP BY is about three times as fast as a subquery per
		// session here.
		rows, err = s.db.QueryContext(ctx, `SELECT session_id, SUM(length(events)) FROM event_chunks WHERE session_id IN `+in+` GROUP BY session_id`, args...)
		if err != nil {
			return nil, fmt.Errorf("sizes of sessions: %w", err)
		}
		for rows.Next() {
			var id string
			var n int64
			if err := rows.Scan(&id, &n); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sizes of sessions: %w", err)
			}
			if u, ok := out[id]; ok {
				u.Bytes = n
				out[id] = u
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("sizes of sessions: %w", err)
		}
	}
	return out, nil
}

// RenameSession renames a session (CheckName's rules).
func (s *Store) RenameSession(ctx context.Context, id, name string) (Session, error) {
	name, err := CheckName(name)
	if err != nil {
		return Session{}, err
	}
	if name == "" {
		return Session{}, fmt.Errorf("%w: a session needs a name (printable text, at most %d bytes)", ErrInvalid, MaxNameLen)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE sessions SET name = ? WHERE id = ?`, name, id)
	if err != nil {
		return Session{}, fmt.Errorf("rename session %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Session{}, ErrNotFound
	}
	return s.GetSession(ctx, id)
}

// FileSize is the size of the database's files: the main file and its
// write-ahead log.
type FileSize struct {
	DB  int64 `json:"db"`
	WAL int64 `json:"wal"`
	// Used is the bytes of the database's pages in use (page_count minus
	// the free list, times the page size): what the budget counts.
	Used int64 `json:"used"`
}

// Total is DB + WAL.
func (f FileSize) Total() int64 { return f.DB + f.WAL }

// Path returns the database's file name.
func (s *Store) Path(ctx context.Context) (string, error) {
	var seq int
	var name, file string
	if err := s.db.QueryRowContext(ctx, `PRAGMA database_list`).Scan(&seq, &name, &file); err != nil {
		return "", fmt.Errorf("database path: %w", err)
	}
	return file, nil
}

// FileSize measures the database's files and the pages in use.
func (s *Store) FileSize(ctx context.Context) (FileSize, error) {
	var f FileSize
	var pages, free, size int64
	if err := s.db.QueryRowContext(ctx, `SELECT (SELECT page_count FROM pragma_page_count()), (SELECT freelist_count FROM pragma_freelist_count()),
		(SELECT page_size FROM pragma_page_size())`).Scan(&pages, &free, &size); err != nil {
		return f, fmt.Errorf("database size: %w", err)
	}
	f.Used = (pages - free) * size
	path, err := s.Path(ctx)
	if err != nil || path == "" {
		return f, err
	}
	if st, err := os.Stat(path); err == nil {
		f.DB = st.Size()
	}
	if st, err := os.Stat(path + "-wal"); err == nil {
		f.WAL = st.Size()
	}
	return f, nil
}

// Shrink gives the free pages back to the file system and truncates the
// write-ahead log. The truncating checkpoint is busy while the Store's own
// checkpointer runs one (every second) or a reader holds an old snapshot:
// it is tried again for up to about half a second, and a checkpoint still
// held back is partial then (the next one completes it).
func (s *Store) Shrink(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `PRAGMA incremental_vacuum`); err != nil {
		return fmt.Errorf("incremental vacuum: %w", err)
	}
	for try := 0; ; try++ {
		var busy, log, done int
		if err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &log, &done); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if busy == 0 || try == shrinkTries {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// shrinkTries is how many more times Shrink tries a busy checkpoint.
const shrinkTries = 20

// RetentionConfig is the whole database's budget.
type RetentionConfig struct {
	// MaxBytes is the most the database's pages in use may hold (0: no
	// limit). Past it the sessions active longest ago are deleted until it
	// holds.
	MaxBytes int64
	// MaxAge deletes sessions whose last activity (their newest event, or
	// their creation) is older (0: kept for ever).
	MaxAge time.Duration
	// Every is how often the budget is checked (default 1 minute).
	Every time.Duration
}

// Deleted is a session retention deleted.
type Deleted struct {
	ID     string    `json:"id"`
	Name   string    `json:"name"`
	Owner  string    `json:"-"`
	Bytes  int64     `json:"bytes"`
	LastAt time.Time `json:"last_at"`
	Reason string    `json:"reason"`
}

// RetentionReport is what one pass of retention did.
type RetentionReport struct {
	At      time.Time `json:"at"`
	Deleted []Deleted `json:"deleted"`
	Before  FileSize  `json:"before"`
	After   FileSize  `json:"after"`
	// Kept says why the budget still does not hold, when it does not
	// (every remaining session has a live server, say).
	Kept string `json:"kept,omitempty"`
}

// Retention keeps the database within its budget: see RetentionConfig.
type Retention struct {
	store *Store
	rec   *Recorder
	cfg   RetentionConfig
	log   *slog.Logger
	// Busy reports whether a session has a live server or client: such a
	// session is never deleted.
	busy func(session string) bool
	// deleted is called after a session is deleted (to stop anything that
	// started in it meanwhile and end its live streams).
	deleted func(session string)

	mu   sync.Mutex
	last RetentionReport // the last pass that deleted something
	runs sync.Mutex      // one pass at a time
}

// NewRetention returns the retention of store's sessions, deleting through
// rec. busy and deleted may be nil.
func NewRetention(store *Store, rec *Recorder, cfg RetentionConfig, busy func(session string) bool, deleted func(session string), log *slog.Logger) *Retention {
	if cfg.Every <= 0 {
		cfg.Every = time.Minute
	}
	if busy == nil {
		busy = func(string) bool { return false }
	}
	if deleted == nil {
		deleted = func(string) {}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Retention{store: store, rec: rec, cfg: cfg, busy: busy, deleted: deleted, log: log}
}

// Config returns the budget.
func (t *Retention) Config() RetentionConfig { return t.cfg }

// Run checks the budget every cfg.Every until ctx ends.
func (t *Retention) Run(ctx context.Context) {
	if t.cfg.MaxBytes <= 0 && t.cfg.MaxAge <= 0 {
		return
	}
	tick := time.NewTicker(t.cfg.Every)
	defer tick.Stop()
	for {
		if _, err := t.Once(ctx); err != nil && ctx.Err() == nil {
			t.log.Error("retention failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Last returns the last pass that deleted sessions (zero if none did).
func (t *Retention) Last() RetentionReport {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// candidate is a session in the order retention considers them.
type candidate struct {
	Deleted
	activity int64
}

// Once runs one pass: it deletes what is past the age, then, while the
// database is over its budget, the sessions active longest ago.
func (t *Retention) Once(ctx context.Context) (RetentionReport, error) {
	t.runs.Lock()
	defer t.runs.Unlock()
	rep := RetentionReport{At: time.Now().UTC()}
	var err error
	if rep.Before, err = t.store.FileSize(ctx); err != nil {
		return rep, err
	}
	rep.After = rep.Before
	over := t.cfg.MaxBytes > 0 && rep.Before.Used > t.cfg.MaxBytes
	if !over && t.cfg.MaxAge <= 0 {
		return rep, nil
	}
	list, err := t.candidates(ctx)
	if err != nil {
		return rep, err
	}
	used := rep.Before.Used
	cutoff := time.Now().Add(-t.cfg.MaxAge).UnixNano()
	skipped := 0
	for _, c := range list {
		old := t.cfg.MaxAge > 0 && c.activity < cutoff
		over := t.cfg.MaxBytes > 0 && used > t.cfg.MaxBytes
		if !old && !over {
			break // the rest are newer and the budget holds
		}
		// Only the sessions looked at are measured (one indexed range each).
		u, err := t.store.Usage(ctx, []string{c.ID})
		if err != nil {
			return rep, err
		}
		c.Bytes = u[c.ID].Bytes
		var reason string
		switch {
		case old:
			reason = fmt.Sprintf("no activity for more than %s (-max-age)", strings.TrimSuffix(strings.TrimSuffix(t.cfg.MaxAge.String(), "0s"), "0m"))
		case c.Bytes > 0:
			reason = fmt.Sprintf("the database was over its budget of %s (-max-db-bytes)", FormatBytes(t.cfg.MaxBytes))
		default:
			continue // deleting it would free nothing
		}
		if t.busy(c.ID) {
			skipped++
			continue
		}
		if err := t.rec.DeleteSession(ctx, c.ID); err != nil {
			if ctx.Err() != nil {
				return rep, err
			}
			continue // deleted meanwhile
		}
		t.deleted(c.ID)
		c.Reason = reason
		used -= c.Bytes
		rep.Deleted = append(rep.Deleted, c.Deleted)
		t.log.Warn("retention deleted a session", "session", c.ID, "name", c.Name, "bytes", c.Bytes,
			"last_activity", c.LastAt.Format(time.RFC3339), "reason", reason)
	}
	if len(rep.Deleted) > 0 {
		if err := t.store.Shrink(ctx); err != nil {
			return rep, err
		}
	}
	if rep.After, err = t.store.FileSize(ctx); err != nil {
		return rep, err
	}
	if t.cfg.MaxBytes > 0 && rep.After.Used > t.cfg.MaxBytes {
		rep.Kept = fmt.Sprintf("the database still holds %s, over its budget of %s: %d sessions with a live server or client are never deleted",
			FormatBytes(rep.After.Used), FormatBytes(t.cfg.MaxBytes), skipped)
		t.log.Warn("retention: over budget", "used", rep.After.Used, "budget", t.cfg.MaxBytes, "live_sessions_kept", skipped)
	}
	if len(rep.Deleted) > 0 {
		t.log.Info("retention shrank the database", "deleted", len(rep.Deleted), "file_before", rep.Before.Total(), "file_after", rep.After.Total())
		t.mu.Lock()
		t.last = rep
		t.mu.Unlock()
	}
	return rep, nil
}

// candidates lists every session, the one active longest ago first (its
// newest event's time is one step down the event_chunks_at index).
func (t *Retention) candidates(ctx context.Context) ([]candidate, error) {
	rows, err := t.store.db.QueryContext(ctx, `SELECT id, name, owner, activity FROM (
		SELECT s.id, s.name, s.owner,
			MAX(s.created_at, COALESCE((SELECT MAX(c.last_at) FROM event_chunks c WHERE c.session_id = s.id), 0)) AS activity
		FROM sessions s) ORDER BY activity, id`)
	if err != nil {
		return nil, fmt.Errorf("retention: list sessions: %w", err)
	}
	defer rows.Close()
	var out []candidate
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.ID, &c.Name, &c.Owner, &c.activity); err != nil {
			return nil, fmt.Errorf("retention: list sessions: %w", err)
		}
		c.LastAt = time.Unix(0, c.activity).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// FormatBytes writes n as a person reads it, in the binary units the
// flags' defaults are round in: 128 MiB, 1.5 GiB, 512 KiB, 100 B.
func FormatBytes(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size {
			v := float64(n) / float64(u.size)
			if v == float64(int64(v)) || v >= 100 {
				return fmt.Sprintf("%.0f %s", v, u.name)
			}
			return fmt.Sprintf("%.1f %s", v, u.name)
		}
	}
	return fmt.Sprintf("%d B", n)
}
