package sessions

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sockplay/sockplay/engine"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// ErrNotFound is returned for an unknown session.
var ErrNotFound = errors.New("session not found")

// ErrInvalid is wrapped by errors about bad input (a name too long).
var ErrInvalid = errors.New("invalid input")

// Session is a recorded workspace.
type Session struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// Events is the number of recorded events (the last seq).
	Events int64 `json:"events"`
	// LastAt is the time of the newest event, if any.
	LastAt time.Time `json:"last_at,omitzero"`
	// Owner is whom the session belongs to in workshop mode (see
	// workshops.go): "" is the person at the laptop.
	Owner string `json:"owner,omitempty"`
}

// Record is a stored event: the engine's Event and its seq in the session.
type Record struct {
	Seq int64
	engine.Event
	tail []byte // the event JSON after its seq (see Tail), made once
}

// Store is the SQLite database of sessions and events.
type Store struct {
	db  *sql.DB
	log *slog.Logger
	// stopCheckpoints stops the checkpointer and waits for it.
	stopCheckpoints func()
	// lookup is LookupSession's statement, prepared once.
	lookup *sql.Stmt
	// caughtUp counts the checkpoints that copied the whole log.
	caughtUp atomic.Int64
}

// DSN returns the connection string used for path: every pooled connection
// gets the same pragmas (WAL, synchronous=FULL so that a committed batch is on
// disk, a busy timeout, and foreign keys).
func DSN(path string) string {
	q := url.Values{}
	// wal_autocheckpoint(0): no commit checkpoints; the Store's checkpointer
	// does, beside the writer (see checkpoints).
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)", "wal_autocheckpoint(0)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	// SQLite decodes %XX in a URI filename and stops it at ? or #.
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + q.Encode()
}

// Open opens (creating if needed) the database at path and applies the
// embedded migrations.
func Open(ctx context.Context, path string, log *slog.Logger) (*Store, error) {
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// Keep connections open for the readers that come at once (a room's
	// pages, the dashboard, the writer): with database/sql's default of 2
	// idle, every other query opened a new SQLite connection (the file, the
	// pragmas, the schema read again) and closed it after.
	db.SetMaxIdleConns(32)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate database %s: %w", path, err)
	}
	lookup, err := db.PrepareContext(ctx, `SELECT id, name, created_at, owner FROM sessions WHERE id = ?`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s := &Store{db: db, log: log, lookup: lookup}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.checkpoints(ctx) }()
	s.stopCheckpoints = func() { cancel(); <-done }
	return s, nil
}

// Close stops the checkpointer and closes the database (SQLite checkpoints
// the write-ahead log as the last connection closes).
func (s *Store) Close() error {
	s.stopCheckpoints()
	s.lookup.Close()
	return s.db.Close()
}

// checkpointEvery is how often the checkpointer copies the write-ahead log
// into the database. (A variable so that a test can make it quick.)
var checkpointEvery = time.Second

// checkpoints copies the write-ahead log into the database file, beside the
// writer rather than in it. With SQLite's default (wal_autocheckpoint 1000)
// the commit that filled 1000 pages did the copy and its fsync itself, and
// on a VM's disk that commit took 100–500 ms while every socket's events
// waited behind it: the p99 of a 200-person workshop's live events. A
// passive checkpoint never waits for the writer; when one could not copy
// the frames written while it ran, it goes again at once (a few times), so
// that it catches up and the next commit starts the log over instead of
// growing it.
func (s *Store) checkpoints(ctx context.Context) {
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for range 5 {
			var busy, frames, copied int
			if err := s.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
				if ctx.Err() == nil {
					s.log.Warn("checkpoint of the write-ahead log failed; the next is in a second", "err", err)
				}
				break
			}
			if copied >= frames {
				s.caughtUp.Add(1)
				break
			}
		}
	}
}

// DB exposes the database handle for checks such as integrity tests.
func (s *Store) DB() *sql.DB { return s.db }

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newSessionID returns 120 random bits as 24 lowercase base32 characters:
// unguessable, so a session id can later back a read-only share link.
func newSessionID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// MaxNameLen bounds a session name.
const MaxNameLen = 200

// CheckName returns name as a session will hold it (trimmed), or an
// ErrInvalid error saying what is wrong with it.
func CheckName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if len(name) > MaxNameLen {
		return "", fmt.Errorf("%w: session name is longer than %d bytes", ErrInvalid, MaxNameLen)
	}
	if i := strings.IndexFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }); i >= 0 {
		return "", fmt.Errorf("%w: session name has a control or invisible formatting character (such as a right-to-left override) at byte %d; use printable text", ErrInvalid, i)
	}
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: session name is not valid UTF-8", ErrInvalid)
	}
	return name, nil
}

// CreateSession creates a session.
func (s *Store) CreateSession(ctx context.Context, name string) (Session, error) {
	name, err := CheckName(name)
	if err != nil {
		return Session{}, err
	}
	if name == "" {
		name = "Session " + time.Now().UTC().Format("2006-01-02 15:04")
	}
	sess := Session{ID: newSessionID(), Name: name, CreatedAt: time.Now().UTC()}
	_, err = s.db.ExecContext(ctx, `INSERT INTO sessions (id, name, created_at) VALUES (?, ?, ?)`,
		sess.ID, sess.Name, sess.CreatedAt.UnixNano())
	if err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	return sess, nil
}

const sessionColumns = `s.id, s.name, s.created_at, ` + sessionProgress + `, s.owner`

// sessionProgress is the last seq of session s and the time of its newest
// event (0 and 0 before its first).
const sessionProgress = `COALESCE((SELECT MAX(last_seq) FROM event_chunks c WHERE c.session_id = s.id), 0),
	COALESCE((SELECT last_at FROM event_chunks c WHERE c.session_id = s.id ORDER BY last_seq DESC LIMIT 1), 0)`

func scanSession(sc interface{ Scan(...any) error }) (Session, error) {
	var sess Session
	var created, last int64
	if err := sc.Scan(&sess.ID, &sess.Name, &created, &sess.Events, &last, &sess.Owner); err != nil {
		return Session{}, err
	}
	sess.CreatedAt = time.Unix(0, created).UTC()
	if last != 0 {
		sess.LastAt = time.Unix(0, last).UTC()
	}
	return sess, nil
}

// DefaultSessionsPage and MaxSessionsPage bound one page of ListSessions.
const (
	DefaultSessionsPage = 200
	MaxSessionsPage     = 1000
)

// ListSessions lists up to limit sessions, newest first; with before set
// (the previous page's next), the ones after that page. next is the cursor
// for the page after this one, or "" if this is the last. A cursor names a
// place in the order, not a session, so paging stays exact while sessions
// are created or deleted, the cursor's own included. A malformed cursor
// is ErrInvalid.
func (s *Store) ListSessions(ctx context.Context, before string, limit int) (list []Session, next string, err error) {
	return s.listSessions(ctx, nil, before, limit)
}

// listSessions is ListSessions, of one owner's sessions only if owner is
// not nil (ListSessionsOf).
func (s *Store) listSessions(ctx context.Context, owner *string, before string, limit int) (list []Session, next string, err error) {
	if limit <= 0 || limit > MaxSessionsPage {
		limit = DefaultSessionsPage
	}
	where, args := []string{}, []any{}
	if owner != nil {
		where, args = append(where, "s.owner = ?"), append(args, *owner)
	}
	if before != "" {
		created, id, ok := parseCursor(before)
		if !ok {
			return nil, "", fmt.Errorf("%w: before=%q is not a cursor from a previous page's next", ErrInvalid, before)
		}
		where, args = append(where, "(s.created_at, s.id) < (?, ?)"), append(args, created, id)
	}
	q := `SELECT ` + sessionColumns + ` FROM sessions s`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY s.created_at DESC, s.id DESC LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	list = []Session{}
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list sessions: %w", err)
		}
		list = append(list, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list sessions: %w", err)
	}
	if len(list) > limit {
		list = list[:limit]
		last := list[limit-1]
		next = strconv.FormatInt(last.CreatedAt.UnixNano(), 10) + "." + last.ID
	}
	return list, next, nil
}

// parseCursor reads a next of ListSessions: creation time and id.
func parseCursor(c string) (created int64, id string, ok bool) {
	t, id, found := strings.Cut(c, ".")
	if !found || id == "" {
		return 0, "", false
	}
	created, err := strconv.ParseInt(t, 10, 64)
	return created, id, err == nil
}

// GetSession returns one session or ErrNotFound.
func (s *Store) GetSession(ctx context.Context, id string) (Session, error) {
	sess, err := scanSession(s.db.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions s WHERE s.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("get session %s: %w", id, err)
	}
	return sess, nil
}

// LookupSession is GetSession without the session's progress (its Events
// and LastAt are zero): the session's own row, all a route needs to know
// that it exists and whose it is. It is one prepared statement on the
// primary key: the live socket table asks every second for every open
// panel, and GetSession's parse of its subqueries was most of what such a
// request cost the server.
func (s *Store) LookupSession(ctx context.Context, id string) (Session, error) {
	var sess Session
	var created int64
	err := s.lookup.QueryRowContext(ctx, id).Scan(&sess.ID, &sess.Name, &created, &sess.Owner)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("get session %s: %w", id, err)
	}
	sess.CreatedAt = time.Unix(0, created).UTC()
	return sess, nil
}

// MaxEventsPage bounds one page of events.
const MaxEventsPage = 5000

// RawEvent is a stored event as it is served: its seq and the rest of its
// event JSON (see Record.Tail), not decoded.
type RawEvent struct {
	Seq  int64
	Tail []byte
}

// AppendJSON appends the event JSON of e to b.
func (e RawEvent) AppendJSON(b []byte) []byte { return append(appendSeq(b, e.Seq), e.Tail...) }

// Raw returns r as it is served.
func (r *Record) Raw() RawEvent { return RawEvent{Seq: r.Seq, Tail: r.Tail()} }

// Events returns up to limit events of session with seq > after, oldest
// first. before > 0 instead returns the limit events just below seq before
// (and above after), still oldest first (for paging back through history).
func (s *Store) Events(ctx context.Context, session string, after, before int64, limit int) ([]Record, error) {
	raws, err := s.RawEvents(ctx, session, after, before, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Record, len(raws))
	for i, e := range raws {
		if out[i], err = recordFromTail(e.Seq, e.Tail); err != nil {
			return nil, fmt.Errorf("events of %s: seq %d: %w", session, e.Seq, err)
		}
		if out[i].Session != session {
			return nil, fmt.Errorf("events of %s: seq %d says session %q", session, e.Seq, out[i].Session)
		}
	}
	return out, nil
}

// RawEvents is Events without decoding: what the events API and the live
// catch-up send as they are. The chunks' checksums are checked, so a
// damaged chunk is an error here too.
func (s *Store) RawEvents(ctx context.Context, session string, after, before int64, limit int) ([]RawEvent, error) {
	if limit <= 0 || limit > MaxEventsPage {
		limit = MaxEventsPage
	}
	if before > 0 {
		return s.rawEventsBefore(ctx, session, after, before, limit)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT first_seq, last_seq, events FROM event_chunks
		WHERE session_id = ? AND last_seq > ? ORDER BY last_seq`, session, after)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", session, err)
	}
	defer rows.Close()
	out := []RawEvent{}
	for len(out) < limit && rows.Next() {
		if out, err = scanRawChunk(rows, session, after, 0, out, limit); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events of %s: %w", session, err)
	}
	return out, nil
}

// rawEventsBefore returns the limit events just below seq before and above
// seq after, oldest first.
func (s *Store) rawEventsBefore(ctx context.Context, session string, after, before int64, limit int) ([]RawEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT first_seq, last_seq, events FROM event_chunks
		WHERE session_id = ? AND first_seq < ? AND last_seq > ? ORDER BY first_seq DESC`, session, before, after)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", session, err)
	}
	defer rows.Close()
	var newestFirst [][]RawEvent
	n := 0
	for n < limit && rows.Next() {
		evs, err := scanRawChunk(rows, session, after, before, nil, 0)
		if err != nil {
			return nil, err
		}
		newestFirst = append(newestFirst, evs)
		n += len(evs)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events of %s: %w", session, err)
	}
	out := make([]RawEvent, 0, n)
	for i := len(newestFirst) - 1; i >= 0; i-- {
		out = append(out, newestFirst[i]...)
	}
	return out[max(0, len(out)-limit):], nil
}

// scanRawChunk reads a row of (first_seq, last_seq, events) and appends to
// out the chunk's events with seqs in (after, before), up to limit in all
// (0: no limit). The tails are copies: the row's memory is reused.
func scanRawChunk(rows *sql.Rows, session string, after, before int64, out []RawEvent, limit int) ([]RawEvent, error) {
	var first, last int64
	var body []byte
	if err := rows.Scan(&first, &last, &body); err != nil {
		return nil, fmt.Errorf("events of %s: %w", session, err)
	}
	// One allocation holds the tails of the chunk's events that are kept.
	var keep []byte
	start := len(out)
	err := eachTail(session, first, last, body, after, before, func(seq int64, tail []byte) error {
		if limit > 0 && len(out) >= limit {
			return nil
		}
		if keep == nil {
			keep = make([]byte, 0, len(body)*8)
		}
		if len(keep)+len(tail) > cap(keep) {
			keep = make([]byte, 0, max(len(tail), cap(keep)))
		}
		keep = append(keep, tail...)
		out = append(out, RawEvent{Seq: seq, Tail: keep[len(keep)-len(tail) : len(keep) : len(keep)]})
		return nil
	})
	if err != nil {
		return out[:start], err
	}
	return out, nil
}

// scanChunk reads a row of (first_seq, last_seq, events) and decodes the
// chunk's events with seqs in (after, before).
func scanChunk(rows *sql.Rows, session string, after, before int64) ([]Record, error) {
	var first, last int64
	var body []byte
	if err := rows.Scan(&first, &last, &body); err != nil {
		return nil, fmt.Errorf("events of %s: %w", session, err)
	}
	return decodeChunk(session, first, last, body, after, before)
}

// ServerToRestore is a server that ran when sockplay stopped: it is started
// again, with its id, on its port.
type ServerToRestore struct {
	Session string
	ID      string
	Kind    string
	Name    string
	Port    int
	Options json.RawMessage
	// Faults are the server's faults at its last change (engine.Fault).
	Faults []engine.Fault
}

// ServersToRestore lists the servers that were running when sockplay last
// stopped (or crashed), oldest session first.
func (s *Store) ServersToRestore(ctx context.Context) ([]ServerToRestore, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT l.session_id, l.server_id, l.kind, l.name, l.port, COALESCE(l.options, 'null'),
		COALESCE(l.faults, 'null')
		FROM lab_servers l JOIN sessions s ON s.id = l.session_id
		WHERE l.running = 1 ORDER BY s.created_at, l.rowid`)
	if err != nil {
		return nil, fmt.Errorf("servers to restore: %w", err)
	}
	defer rows.Close()
	var out []ServerToRestore
	for rows.Next() {
		var r ServerToRestore
		var opts, faults string
		if err := rows.Scan(&r.Session, &r.ID, &r.Kind, &r.Name, &r.Port, &opts, &faults); err != nil {
			return nil, fmt.Errorf("servers to restore: %w", err)
		}
		r.Options = json.RawMessage(opts)
		_ = json.Unmarshal([]byte(faults), &r.Faults) // unreadable: started without them
		out = append(out, r)
	}
	return out, rows.Err()
}

// Endpoint is a server or client as the recording remembers it.
type Endpoint struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Net  string `json:"net,omitempty"`
	// StopReason is why a stopped server stopped (its server-stop's reason).
	StopReason string         `json:"stop_reason,omitempty"`
	Name       string         `json:"name,omitempty"`
	Addr       string         `json:"addr,omitempty"`
	Target     string         `json:"target,omitempty"`
	Options    map[string]any `json:"options,omitempty"`
	Stopped    bool           `json:"-"`
	StoppedAt  time.Time      `json:"-"` // from its server-stop event
	At         time.Time      `json:"started_at"`
}

// RecordedServers returns the servers and clients started in session, from
// their lifecycle events, oldest first. The engine knows only what runs now;
// this is what a restarted process or a replay shows.
func (s *Store) RecordedServers(ctx context.Context, session string) (servers, clients []Endpoint, err error) {
	rows, err := s.db.QueryContext(ctx, `SELECT lifecycle FROM event_chunks
		WHERE session_id = ? AND lifecycle IS NOT NULL ORDER BY last_seq`, session)
	if err != nil {
		return nil, nil, fmt.Errorf("servers of %s: %w", session, err)
	}
	defer rows.Close()
	index := map[string]int{} // a server's or client's place in its list
	for rows.Next() {
		var list []byte
		if err := rows.Scan(&list); err != nil {
			return nil, nil, fmt.Errorf("servers of %s: %w", session, err)
		}
		recs, err := decodeLifecycle(session, list)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range recs {
			str := func(k string) string { v, _ := r.Meta[k].(string); return v }
			switch r.Kind {
			case engine.KindServerStart:
				opts, _ := r.Meta["options"].(map[string]any)
				if i, ok := index[r.Server]; ok && r.Meta["restored"] == true {
					// The same server started again after a restart: one entry.
					servers[i] = Endpoint{ID: r.Server, Kind: str("kind"), Net: r.Net, Name: str("name"), Addr: r.Local, Options: opts, At: servers[i].At}
					continue
				}
				index[r.Server] = len(servers)
				servers = append(servers, Endpoint{ID: r.Server, Kind: str("kind"), Net: r.Net, Name: str("name"), Addr: r.Local,
					Options: opts, At: r.At})
			case engine.KindServerStop:
				if i, ok := index[r.Server]; ok {
					servers[i].Stopped, servers[i].StoppedAt, servers[i].StopReason = true, r.At, str("reason")
				}
			case engine.KindConnect:
				// A client that opens several connections (multi, pool,
				// round-robin, retry, app, http) has a connect event for
				// each: it is one client, as of its first. A proxy's
				// upstream leg is the proxy server's, not a client.
				if _, seen := index[r.Server]; seen || r.Meta["proxy_for"] != nil {
					continue
				}
				index[r.Server] = len(clients)
				clients = append(clients, Endpoint{ID: r.Server, Kind: str("client"), Net: r.Net, Target: str("target"),
					Addr: r.Local, At: r.At})
			}
		}
	}
	return servers, clients, rows.Err()
}

// scanPage is how many chunks Scan reads per query: each query is a short
// read transaction, so a long export never holds the WAL from being
// checkpointed. (A variable so that a test can page through few events.)
var scanPage = 32

// Scan calls fn with each event of session with seq > after, oldest first,
// reading the store a few chunks at a time: memory does not grow with the
// session. The record is valid only during the call (r.JSON() is the event
// JSON as stored). An error from fn stops the scan and is returned; so is
// ctx's.
func (s *Store) Scan(ctx context.Context, session string, after int64, fn func(r *Record) error) error {
	return s.scanChunks(ctx, session, after, func(first, last int64, body []byte) error {
		recs, err := decodeChunk(session, first, last, body, after, 0)
		if err != nil {
			return err
		}
		for i := range recs {
			if err := fn(&recs[i]); err != nil {
				return err
			}
			after = recs[i].Seq
		}
		return nil
	})
}

// ScanRaw is Scan without decoding: each event as stored (its seq and the
// rest of its JSON, valid only during the call), for what only forwards
// the bytes (the jsonl export).
func (s *Store) ScanRaw(ctx context.Context, session string, after int64, fn func(e RawEvent) error) error {
	return s.scanChunks(ctx, session, after, func(first, last int64, body []byte) error {
		return eachTail(session, first, last, body, after, 0, func(seq int64, tail []byte) error {
			after = seq
			return fn(RawEvent{Seq: seq, Tail: tail})
		})
	})
}

// scanChunks calls fn with each stored chunk of session holding seqs after
// after, in order, scanPage chunks a query. fn must advance after.
func (s *Store) scanChunks(ctx context.Context, session string, after int64, fn func(first, last int64, body []byte) error) error {
	for {
		rows, err := s.db.QueryContext(ctx, `SELECT first_seq, last_seq, events FROM event_chunks
			WHERE session_id = ? AND last_seq > ? ORDER BY last_seq LIMIT ?`, session, after, scanPage)
		if err != nil {
			return fmt.Errorf("events of %s: %w", session, err)
		}
		type row struct {
			first, last int64
			body        []byte
		}
		var page []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.first, &r.last, &r.body); err != nil {
				rows.Close()
				return fmt.Errorf("events of %s: %w", session, err)
			}
			page = append(page, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("events of %s: %w", session, err)
		}
		if len(page) == 0 {
			return nil
		}
		for _, r := range page {
			if err := fn(r.first, r.last, r.body); err != nil {
				return err
			}
			after = r.last
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}
