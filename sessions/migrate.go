package sessions

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/migrations"
)

// migrate applies the embedded SQL migrations of package migrations and the
// Go migrations below, in version order, each in its own transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.FS, goose.WithGoMigrations(
		goose.NewGoMigration(2, &goose.GoFunc{RunTx: chunkEvents}, &goose.GoFunc{RunTx: cannotUndo(2)}),
	))
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
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
		var c chunker
		c.addAll(recs)
		if err := insertChunks(ctx, tx, c.finish()); err != nil {
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
