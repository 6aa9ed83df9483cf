package sessions

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/migrations"
)

// v1Database creates a database file as sockplay's first release left it:
// migration 1 only, one row per event.
func v1Database(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	return db
}

// The events of a database written before chunked storage are moved into
// chunks when it is opened: every field reads back as it was, the session
// keeps its count, its servers are still listed, and numbering continues.
func TestOpenMigratesRowEventsIntoChunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db := v1Database(t, path)
	at := time.Date(2026, 11, 24, 9, 0, 0, 123456789, time.UTC)
	if _, err := db.Exec(`INSERT INTO sessions (id, name, created_at) VALUES ('old', 'Old session', ?), ('empty', 'Empty', ?)`,
		at.UnixNano(), at.UnixNano()); err != nil {
		t.Fatal(err)
	}
	const n = 600 // more than one chunk
	want := make([]Record, 0, n)
	for seq := int64(1); seq <= n; seq++ {
		r := Record{Seq: seq, Event: engine.Event{Session: "old", Server: "srv-1", Conn: "c-1",
			At: at.Add(time.Duration(seq) * time.Microsecond), Kind: engine.KindRecv,
			Local: "127.0.0.1:20000", Remote: "127.0.0.1:40000", Len: 5, Data: []byte{0, 'h', 'i', 0xff, byte(seq)}}}
		switch seq {
		case 1:
			r.Kind, r.Conn, r.Remote, r.Len, r.Data = engine.KindServerStart, "", "", 0, nil
			r.Meta = map[string]any{"kind": "tcp-echo", "options": map[string]any{"mode": "echo"}}
		case 2:
			r.Kind, r.Data, r.Len, r.Truncated = engine.KindSend, nil, 9000, true // past the capture cap
		case 3:
			r.Kind, r.Data, r.Len = engine.KindError, nil, 0
			r.Err = &engine.SockErr{Errno: "ECONNRESET", Message: "connection reset by peer", Hint: "The peer closed abruptly."}
			r.Meta = map[string]any{"big": json.Number("9007199254740993")}
		case n:
			r.Kind, r.Conn, r.Remote, r.Len, r.Data = engine.KindServerStop, "", "", 0, nil
		}
		var errno, msg, hint, meta any
		if r.Err != nil {
			errno, msg, hint = r.Err.Errno, r.Err.Message, r.Err.Hint
		}
		if r.Meta != nil {
			b, _ := json.Marshal(r.Meta)
			meta = string(b)
		}
		if _, err := db.Exec(`INSERT INTO events (session_id, seq, at, kind, server, conn, local, remote,
			len, data, truncated, errno, err_message, err_hint, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Session, r.Seq, r.At.UnixNano(), string(r.Kind), r.Server, r.Conn, r.Local, r.Remote,
			r.Len, r.Data, r.Truncated, errno, msg, hint, meta); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	db.Close()

	st := mustOpenAt(t, path)
	got, err := st.Events(testCtx(t), "old", 0, 0, MaxEventsPage)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d events after migrating, want %d", len(got), n)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.At.Equal(w.At) {
			t.Errorf("seq %d: at %v, want %v", w.Seq, g.At, w.At)
		}
		g.At, g.tail = w.At, nil
		if !reflect.DeepEqual(g, w) {
			t.Errorf("seq %d after migrating:\n got  %#v\n want %#v", w.Seq, g, w)
		}
	}
	sess, err := st.GetSession(testCtx(t), "old")
	if err != nil || sess.Events != n || !sess.LastAt.Equal(want[n-1].At) {
		t.Errorf("GetSession = %+v, %v; want %d events, last at %v", sess, err, n, want[n-1].At)
	}
	servers, _, err := st.RecordedServers(testCtx(t), "old")
	if err != nil || len(servers) != 1 || servers[0].ID != "srv-1" || !servers[0].Stopped || servers[0].Kind != "tcp-echo" {
		t.Errorf("RecordedServers = %+v, %v; want the stopped srv-1", servers, err)
	}
	var viewRows int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM events WHERE session_id = 'old'`).Scan(&viewRows); err != nil || viewRows != n {
		t.Errorf("the events view has %d rows (%v), want %d", viewRows, err, n)
	}

	// Recording continues the old numbering.
	rec := newRecorder(t, st, nil, RecorderConfig{})
	rec.Emit(engine.Event{Session: "old", At: time.Now(), Kind: engine.KindListen})
	mustFlush(t, rec)
	next, err := st.Events(testCtx(t), "old", n, 0, 10)
	if err != nil || len(next) != 1 || next[0].Seq != n+1 {
		t.Errorf("event after migrating: %+v, %v; want seq %d", next, err, n+1)
	}
}

// Migrations 2 and 4 refuse to be undone rather than leave the database
// without its events.
func TestChunkMigrationsCannotBeUndone(t *testing.T) {
	st := mustOpen(t)
	p, err := migrator(st.DB())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(context.Background(), 4); err != nil { // migrations after 4 can be undone
		t.Fatalf("DownTo 4: %v", err)
	}
	_, err = p.Down(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cannot be undone") {
		t.Fatalf("Down = %v, want a refusal", err)
	}
	var tables int
	if err := st.DB().QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'event_chunks'`).Scan(&tables); err != nil || tables != 1 {
		t.Errorf("event_chunks is gone after the refused Down (%v)", err)
	}
}

// A database of the release before migration 4 (chunks as JSON arrays of
// the event JSON, seqs inside) is converted when it is opened: every event
// reads back as the very bytes it was served as before, over the API, the
// store and the events view; lifecycle lists and numbering carry on; and
// the file holds far fewer bytes per event.
func TestOpenPacksJSONChunks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v3.db")
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.FS, goose.WithGoMigrations(
		goose.NewGoMigration(2, &goose.GoFunc{RunTx: chunkEvents}, &goose.GoFunc{RunTx: cannotUndo(2)})))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(testCtx(t), 3); err != nil {
		t.Fatal(err)
	}
	// Two sessions, chunks of 200 events written as release 3 did: a JSON
	// array of appendRecord's JSON (varied events: errors, meta, data,
	// truncation, lifecycle events).
	want := map[string][][]byte{}
	wantErrors := 0
	for _, id := range []string{"s1", "s2"} {
		if _, err := db.Exec(`INSERT INTO sessions (id, name, created_at) VALUES (?, ?, 1)`, id, id); err != nil {
			t.Fatal(err)
		}
		const n = 1000
		for first := int64(1); first <= n; first += 200 {
			body, lifecycle := []byte{'['}, []byte(nil)
			var firstAt, lastAt int64
			for seq := first; seq < first+200; seq++ {
				ev := variedEvent(id, "c", int(seq-1))
				if seq == 7 {
					ev.Kind, ev.Server, ev.Meta = engine.KindServerStart, "srv-1", map[string]any{"kind": "tcp-echo", "port": 20000}
				}
				r := Record{Seq: seq, Event: ev}
				js := appendRecord(nil, &r)
				if ev.Err != nil {
					wantErrors++
				}
				want[id] = append(want[id], js)
				if seq > first {
					body = append(body, ',')
				}
				body = append(body, js...)
				if isLifecycle(ev.Kind) {
					lifecycle = append(append([]byte{'['}, js...), ']')
				}
				if seq == first {
					firstAt = ev.At.UnixNano()
				}
				lastAt = ev.At.UnixNano()
			}
			body = append(body, ']')
			var lc any
			if lifecycle != nil {
				lc = string(lifecycle)
			}
			if _, err := db.Exec(`INSERT INTO event_chunks (session_id, first_seq, last_seq, first_at, last_at, lifecycle, events)
				VALUES (?, ?, ?, ?, ?, ?, ?)`, id, first, first+199, firstAt, lastAt, lc, string(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var before int64
	if err := db.QueryRow(`SELECT SUM(length(events)) FROM event_chunks`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	db.Close()

	st := mustOpenAt(t, path)
	ctx := testCtx(t)
	for id, wantJSON := range want {
		var got [][]byte
		if err := st.Scan(ctx, id, 0, func(r *Record) error { got = append(got, r.JSON()); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(wantJSON) {
			t.Fatalf("session %s: %d events after migrating, want %d", id, len(got), len(wantJSON))
		}
		for i := range got {
			if !bytes.Equal(got[i], wantJSON[i]) {
				t.Fatalf("session %s seq %d after migrating:\n got  %s\n want %s", id, i+1, got[i], wantJSON[i])
			}
		}
		recs, err := st.Events(ctx, id, 0, 0, MaxEventsPage)
		if err != nil || len(recs) != len(wantJSON) {
			t.Fatalf("Events: %d, %v", len(recs), err)
		}
		var viewJSON string
		if err := st.DB().QueryRow(`SELECT event FROM events WHERE session_id = ? AND seq = 500`, id).Scan(&viewJSON); err != nil ||
			viewJSON != string(wantJSON[499]) {
			t.Errorf("the events view at seq 500: %s (%v), want %s", viewJSON, err, wantJSON[499])
		}
		servers, _, err := st.RecordedServers(ctx, id)
		if err != nil || len(servers) != 1 || servers[0].ID != "srv-1" {
			t.Errorf("RecordedServers = %+v, %v; want srv-1", servers, err)
		}
	}
	var after, errors int64
	if err := st.DB().QueryRow(`SELECT SUM(length(events)), SUM(errors) FROM event_chunks`).Scan(&after, &errors); err != nil {
		t.Fatal(err)
	}
	if errors != int64(wantErrors) || wantErrors == 0 {
		t.Errorf("the chunks count %d events with an error, want %d", errors, wantErrors)
	}
	if after*3 > before {
		t.Errorf("chunks hold %d bytes after migrating, %d before: want at most a third", after, before)
	}
	t.Logf("stored events: %d bytes as JSON arrays, %d packed (%.1f%%)", before, after, 100*float64(after)/float64(before))
	rec := newRecorder(t, st, nil, RecorderConfig{})
	rec.Emit(engine.Event{Session: "s1", At: time.Now(), Kind: engine.KindListen})
	mustFlush(t, rec)
	if next, err := st.Events(ctx, "s1", 1000, 0, 10); err != nil || len(next) != 1 || next[0].Seq != 1001 {
		t.Errorf("event after migrating: %+v, %v; want seq 1001", next, err)
	}
}

// Migration 2 reads the old rows in blocks (memory stays flat): sessions
// that span blocks, and blocks that hold several sessions, come out whole.
func TestOpenMigratesManyRowsInBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db := v1Database(t, path)
	sizes := map[string]int{"a": migrateBlock + 100, "b": 3, "c": migrateBlock*2 - 50}
	for id, n := range sizes {
		if _, err := db.Exec(`INSERT INTO sessions (id, name, created_at) VALUES (?, ?, 1)`, id, id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?)
			INSERT INTO events (session_id, seq, at, kind, server, conn, local, remote, len, data)
			SELECT ?, i, 1700000000000000000 + i, 'recv', 'srv-1', 'c-1', '127.0.0.1:20000', '127.0.0.1:40000', 4, CAST(printf('%04d', i % 10000) AS BLOB) FROM s`,
			n, id); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	st := mustOpenAt(t, path)
	for id, n := range sizes {
		got := allEvents(t, st, id)
		checkGapless(t, id, got, n)
		for _, r := range got {
			if want := fmt.Sprintf("%04d", r.Seq%10000); string(r.Data) != want || r.Session != id {
				t.Fatalf("session %s seq %d: data %q, want %q", id, r.Seq, r.Data, want)
			}
		}
	}
}
