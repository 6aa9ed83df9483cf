package sessions

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/migrations"
)

// migrate applies the embedded SQL migrations of package migrations and the
// Go migrations below, in version order, each in its own transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	p, err := migrator(db)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// migrator is goose's provider of every migration, SQL and Go, over db.
func migrator(db *sql.DB) (*goose.Provider, error) {
	return goose.NewProvider(goose.DialectSQLite3, db, migrations.FS, goose.WithGoMigrations(
		goose.NewGoMigration(2, &goose.GoFunc{RunTx: chunkEvents}, &goose.GoFunc{RunTx: cannotUndo(2)}),
		goose.NewGoMigration(4, &goose.GoFunc{RunTx: packChunks}, &goose.GoFunc{RunTx: cannotUndo(4)}),
		goose.NewGoMigration(9, &goose.GoFunc{RunDB: diskBudget}, &goose.GoFunc{RunDB: undoDiskBudget}),
	))
}

func cannotUndo(version int) func(context.Context, *sql.Tx) error {
	return func(context.Context, *sql.Tx) error {
		return fmt.Errorf("migration %d cannot be undone; restore a backup of the database instead", version)
	}
}

// Migration 2 stores events in chunks (see chunks.go): it creates
// event_chunks, moves the rows of the events table of migration 1 into it,
// and replaces that table with a view of the same name that shows one row
// per event, for reading the database with SQL. It also indexes sessions
// by creation for paging through them.
const chunksSchema = `
CREATE TABLE event_chunks (
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    first_seq  INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL,
    first_at   INTEGER NOT NULL, -- Unix nanoseconds
    last_at    INTEGER NOT NULL,
    lifecycle  TEXT,             -- JSON array of its server-start, server-stop and connect events, or NULL
    events     TEXT    NOT NULL  -- JSON array of the events, seqs first_seq..last_seq
);
CREATE UNIQUE INDEX event_chunks_first ON event_chunks (session_id, first_seq);
CREATE UNIQUE INDEX event_chunks_last ON event_chunks (session_id, last_seq);
CREATE INDEX event_chunks_lifecycle ON event_chunks (session_id, last_seq) WHERE lifecycle IS NOT NULL;
-- ListSessions pages newest first.
CREATE INDEX sessions_created ON sessions (created_at, id);
`

// eventsView uses json_extract rather than the -> and ->> operators, which
// an sqlite3 shell older than 3.38 cannot parse (and then cannot open the
// database at all).
const eventsView = `
CREATE VIEW events AS
SELECT c.session_id                               AS session_id,
       c.first_seq + e.key                        AS seq,
       json_extract(e.value, '$.at')              AS at,
       json_extract(e.value, '$.kind')            AS kind,
       json_extract(e.value, '$.server')          AS server,
       json_extract(e.value, '$.conn')            AS conn,
       json_extract(e.value, '$.local')           AS local,
       json_extract(e.value, '$.remote')          AS remote,
       json_extract(e.value, '$.len')             AS len,
       json_extract(e.value, '$.data')            AS data, -- base64
       json_extract(e.value, '$.truncated')       AS truncated,
       json_extract(e.value, '$.err.errno')       AS errno,
       json_extract(e.value, '$.err.message')     AS err_message,
       json_extract(e.value, '$.err.hint')        AS err_hint,
       json_extract(e.value, '$.meta')            AS meta,
       e.value                                    AS event
FROM event_chunks AS c, json_each(c.events) AS e;
`

// migrateBlock is how many old rows migration 2 holds at a time: memory
// stays flat however large the recording.
const migrateBlock = 4096

func chunkEvents(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, chunksSchema); err != nil {
		return fmt.Errorf("create event_chunks: %w", err)
	}
	// Keyset pages over the unique (session_id, seq) index of migration 1.
	session, seq := "", int64(0)
	for {
		recs, err := oldEvents(ctx, tx, session, seq)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			break
		}
		if err := insertArrayChunks(ctx, tx, recs); err != nil {
			return err
		}
		last := recs[len(recs)-1]
		session, seq = last.Session, last.Seq
	}
	if _, err := tx.ExecContext(ctx, `DROP TABLE events`); err != nil {
		return fmt.Errorf("drop the events table: %w", err)
	}
	if _, err := tx.ExecContext(ctx, eventsView); err != nil {
		return fmt.Errorf("create the events view: %w", err)
	}
	return nil
}

// insertArrayChunks stores numbered records in migration 2's form: chunks
// of up to 256 consecutive events of one session, each a JSON array of the
// event JSON (migration 4 then packs them).
func insertArrayChunks(ctx context.Context, tx *sql.Tx, recs []Record) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO event_chunks (session_id, first_seq, last_seq, first_at, last_at, lifecycle, events)
		VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	defer stmt.Close()
	for start := 0; start < len(recs); {
		end := start + 1
		for end < len(recs) && end-start < chunkMaxEvents && recs[end].Session == recs[start].Session && recs[end].Seq == recs[end-1].Seq+1 {
			end++
		}
		body, lifecycle := []byte{'['}, []byte(nil)
		for i := start; i < end; i++ {
			if i > start {
				body = append(body, ',')
			}
			js := appendRecord(nil, &recs[i])
			body = append(body, js...)
			if isLifecycle(recs[i].Kind) {
				if lifecycle == nil {
					lifecycle = []byte{'['}
				} else {
					lifecycle = append(lifecycle, ',')
				}
				lifecycle = append(lifecycle, js...)
			}
		}
		var lc any
		if lifecycle != nil {
			lc = string(append(lifecycle, ']'))
		}
		first, last := &recs[start], &recs[end-1]
		if _, err := stmt.ExecContext(ctx, first.Session, first.Seq, last.Seq, first.At.UnixNano(), last.At.UnixNano(),
			lc, string(append(body, ']'))); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		start = end
	}
	return nil
}

// oldEvents reads the next migrateBlock rows of migration 1's events table
// after (session, seq).
func oldEvents(ctx context.Context, tx *sql.Tx, session string, seq int64) ([]Record, error) {
	rows, err := tx.QueryContext(ctx, `SELECT session_id, seq, at, kind, server, conn, local, remote,
		len, data, truncated, errno, err_message, err_hint, meta FROM events
		WHERE (session_id, seq) > (?, ?) ORDER BY session_id, seq LIMIT ?`, session, seq, migrateBlock)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var recs []Record
	for rows.Next() {
		r, err := scanRowEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return recs, nil
}

// scanRowEvent reads one row of migration 1's events table.
func scanRowEvent(rows *sql.Rows) (Record, error) {
	var r Record
	var at int64
	var kind string
	var errno, msg, hint, meta sql.NullString
	if err := rows.Scan(&r.Session, &r.Seq, &at, &kind, &r.Server, &r.Conn, &r.Local, &r.Remote, &r.Len,
		&r.Data, &r.Truncated, &errno, &msg, &hint, &meta); err != nil {
		return Record{}, err
	}
	r.At = time.Unix(0, at).UTC()
	r.Kind = engine.Kind(kind)
	if errno.Valid {
		r.Err = &engine.SockErr{Errno: errno.String, Message: msg.String, Hint: hint.String}
	}
	if meta.Valid {
		if err := decodeMeta([]byte(meta.String), &r.Meta); err != nil {
			return Record{}, fmt.Errorf("seq %d: meta: %w", r.Seq, err)
		}
	}
	return r, nil
}

// Migration 4 changes the stored form of a chunk from a JSON array of the
// event JSON to the compressed tails of chunks.go, about a tenth of the
// bytes. It rebuilds event_chunks with a BLOB column (converting every row
// a block at a time; a chunk already in the new form, which migration 2
// writes since, is copied as it is) and the events view on
// sockplay_events().
const packedSchema = `
CREATE TABLE event_chunks_packed (
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    first_seq  INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL,
    first_at   INTEGER NOT NULL, -- Unix nanoseconds
    last_at    INTEGER NOT NULL,
    errors     INTEGER NOT NULL DEFAULT 0, -- events with an error (err set): the replay timeline marks them
    lifecycle  TEXT,             -- JSON array of its server-start, server-stop and connect events, or NULL
    events     BLOB    NOT NULL  -- the events of seqs first_seq..last_seq (sessions/chunks.go)
);`

const packedIndexes = `
CREATE UNIQUE INDEX event_chunks_first ON event_chunks (session_id, first_seq);
CREATE UNIQUE INDEX event_chunks_last ON event_chunks (session_id, last_seq);
CREATE INDEX event_chunks_lifecycle ON event_chunks (session_id, last_seq) WHERE lifecycle IS NOT NULL;
CREATE INDEX event_chunks_at ON event_chunks (session_id, last_at);
CREATE VIEW events AS
SELECT c.session_id                               AS session_id,
       c.first_seq + e.key                        AS seq,
       json_extract(e.value, '$.at')              AS at,
       json_extract(e.value, '$.kind')            AS kind,
       json_extract(e.value, '$.net')             AS net,
       json_extract(e.value, '$.server')          AS server,
       json_extract(e.value, '$.conn')            AS conn,
       json_extract(e.value, '$.local')           AS local,
       json_extract(e.value, '$.remote')          AS remote,
       json_extract(e.value, '$.len')             AS len,
       json_extract(e.value, '$.data')            AS data, -- base64
       json_extract(e.value, '$.truncated')       AS truncated,
       json_extract(e.value, '$.err.errno')       AS errno,
       json_extract(e.value, '$.err.message')     AS err_message,
       json_extract(e.value, '$.err.hint')        AS err_hint,
       json_extract(e.value, '$.meta')            AS meta,
       e.value                                    AS event
FROM event_chunks AS c, json_each(sockplay_events(c.first_seq, c.events)) AS e;
`

func packChunks(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `DROP VIEW events`); err != nil {
		return fmt.Errorf("drop the events view: %w", err)
	}
	if _, err := tx.ExecContext(ctx, packedSchema); err != nil {
		return fmt.Errorf("create event_chunks_packed: %w", err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO event_chunks_packed (session_id, first_seq, last_seq, first_at, last_at, errors, lifecycle, events)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	defer ins.Close()
	var packed []byte
	for rowid := int64(0); ; {
		n := 0
		rows, err := tx.QueryContext(ctx, `SELECT rowid, session_id, first_seq, last_seq, first_at, last_at, lifecycle, events
			FROM event_chunks WHERE rowid > ? ORDER BY rowid LIMIT 256`, rowid)
		if err != nil {
			return fmt.Errorf("read chunks: %w", err)
		}
		type row struct {
			session                      string
			first, last, firstAt, lastAt int64
			lifecycle                    sql.NullString
			body                         []byte
		}
		var block []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&rowid, &r.session, &r.first, &r.last, &r.firstAt, &r.lastAt, &r.lifecycle, &r.body); err != nil {
				rows.Close()
				return fmt.Errorf("read chunks: %w", err)
			}
			block = append(block, r)
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read chunks: %w", err)
		}
		if n == 0 {
			break
		}
		for _, r := range block {
			raw, errs, err := tailsOfArray(r.session, r.first, r.last, r.body)
			if err != nil {
				return err
			}
			packed = encodeBody(packed, raw)
			var lifecycle any
			if r.lifecycle.Valid {
				lifecycle = r.lifecycle.String
			}
			if _, err := ins.ExecContext(ctx, r.session, r.first, r.last, r.firstAt, r.lastAt, errs, lifecycle, packed); err != nil {
				return fmt.Errorf("write chunk of %s at seq %d: %w", r.session, r.first, err)
			}
		}
	}
	for _, q := range []string{`DROP TABLE event_chunks`, `ALTER TABLE event_chunks_packed RENAME TO event_chunks`, packedIndexes} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("migration 4: %w", err)
		}
	}
	return nil
}

// tailsOfArray turns a chunk of migration 2's form (a JSON array of the
// event JSON, seqs first..last) into the tails of chunks.go. Every event is
// checked; its bytes after `{"seq":N,` are kept as they are, so the JSON
// served after the migration is the JSON served before.
func tailsOfArray(session string, first, last int64, body []byte) (_ []byte, errors int, _ error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, 0, fmt.Errorf("chunk of %s at seq %d: %w", session, first, err)
	}
	recs, err := decodeArrayChunk(session, first, last, raws)
	if err != nil {
		return nil, 0, err
	}
	for _, r := range recs {
		if r.Err != nil {
			errors++
		}
	}
	var raw, head []byte
	for i, ev := range raws {
		head = appendSeq(head[:0], first+int64(i))
		tail, ok := bytes.CutPrefix(ev, head)
		if !ok { // not written by appendRecord: write it anew
			var r Record
			_ = r.UnmarshalJSON(ev) // decodeArrayChunk read it
			tail = appendTail(nil, &r.Event)
		}
		raw = append(append(raw, tail...), '\n')
	}
	return raw, errors, nil
}

// decodeArrayChunk reads a chunk of migration 2's form.
func decodeArrayChunk(session string, first, last int64, raws []json.RawMessage) ([]Record, error) {
	if int64(len(raws)) != last-first+1 {
		return nil, fmt.Errorf("chunk of %s at seqs %d..%d holds %d events", session, first, last, len(raws))
	}
	out := make([]Record, len(raws))
	for i, raw := range raws {
		if err := out[i].UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("chunk of %s: seq %d: %w", session, first+int64(i), err)
		}
		if out[i].Seq != first+int64(i) || out[i].Session != session {
			return nil, fmt.Errorf("chunk of %s at seq %d: event %d says session %q seq %d", session, first, i, out[i].Session, out[i].Seq)
		}
	}
	return out, nil
}

// Migration 9 is for the disk budget (retention.go). Each session counts
// what its cap kept out: capped_seq is the seq of the loss marker its cap
// wrote (0: none), not_kept the events recorded after it that were not
// kept. And the file can shrink: auto_vacuum=INCREMENTAL lets
// `PRAGMA incremental_vacuum` hand the pages of deleted sessions back to
// the file system. Changing auto_vacuum on a database that has tables takes
// a VACUUM, which cannot run inside a transaction, so this migration runs
// without one (goose's RunDB): the columns are added in a transaction of
// their own (skipped if a crash left them there), then the pragma and the
// VACUUM on one connection. The VACUUM rewrites the whole file once (a
// large recording takes a while, and needs as much free disk again).
func diskBudget(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var have int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('sessions') WHERE name = 'capped_seq'`).Scan(&have); err != nil {
		return fmt.Errorf("migration 9: %w", err)
	}
	if have == 0 {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration 9: %w", err)
		}
		defer tx.Rollback()
		for _, q := range []string{
			`ALTER TABLE sessions ADD COLUMN capped_seq INTEGER NOT NULL DEFAULT 0`,
			`ALTER TABLE sessions ADD COLUMN not_kept INTEGER NOT NULL DEFAULT 0`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("migration 9: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration 9: %w", err)
		}
	}
	var mode int
	if err := conn.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return fmt.Errorf("migration 9: %w", err)
	}
	if mode == 2 { // already INCREMENTAL
		return nil
	}
	for _, q := range []string{`PRAGMA auto_vacuum = INCREMENTAL`, `VACUUM`} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("migration 9: %s: %w", q, err)
		}
	}
	return nil
}

// undoDiskBudget drops migration 9's columns (the file stays
// auto_vacuum=INCREMENTAL, which an older sockplay does not mind).
func undoDiskBudget(ctx context.Context, db *sql.DB) error {
	for _, q := range []string{`ALTER TABLE sessions DROP COLUMN capped_seq`, `ALTER TABLE sessions DROP COLUMN not_kept`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("undo migration 9: %w", err)
		}
	}
	return nil
}
