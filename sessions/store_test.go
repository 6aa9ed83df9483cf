package sessions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// migrationState returns the tables of the database and the goose versions
// recorded as applied.
func migrationState(tb testing.TB, st *Store) (tables []string, versions []int64) {
	tb.Helper()
	rows, err := st.db.Query(`SELECT type || ' ' || name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		tb.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			tb.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Close(); err != nil {
		tb.Fatal(err)
	}
	rows, err = st.db.Query(`SELECT version_id FROM goose_db_version WHERE is_applied ORDER BY id`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			tb.Fatal(err)
		}
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return tables, versions
}

func TestOpenAppliesMigrationsToNewFile(t *testing.T) {
	st := mustOpen(t)
	tables, versions := migrationState(t, st)
	if want := []string{"table event_chunks", "view events", "table goose_db_version", "table lab_servers", "table participants",
		"table session_lessons", "table session_ports", "table sessions", "table shares", "table workshops"}; !slices.Equal(tables, want) {
		t.Errorf("tables = %v, want %v", tables, want)
	}
	// goose records version 0 for its own table, then each migration.
	if want := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}; !slices.Equal(versions, want) {
		t.Errorf("applied versions = %v, want %v", versions, want)
	}
}

func TestOpenAgainIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sockplay.db")
	st := mustOpenAt(t, path)
	sess := mustCreate(t, st, "kept")
	wantTables, wantVersions := migrationState(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	for i := range 2 {
		st = mustOpenAt(t, path)
		tables, versions := migrationState(t, st)
		if !slices.Equal(tables, wantTables) || !slices.Equal(versions, wantVersions) {
			t.Errorf("reopen %d: tables %v versions %v, want %v %v", i+1, tables, versions, wantTables, wantVersions)
		}
		if _, err := st.GetSession(context.Background(), sess.ID); err != nil {
			t.Errorf("reopen %d: GetSession: %v", i+1, err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCreateSessionName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want func(string) bool
		desc string
	}{
		{"given", "My lab", func(s string) bool { return s == "My lab" }, `"My lab"`},
		{"trimmed", "  padded \t", func(s string) bool { return s == "padded" }, `"padded"`},
		{"exactly max length", strings.Repeat("n", MaxNameLen), func(s string) bool { return s == strings.Repeat("n", MaxNameLen) }, "the name unchanged"},
		{"empty gets default", "", isDefaultName, `"Session YYYY-MM-DD HH:MM"`},
		{"blank gets default", "   ", isDefaultName, `"Session YYYY-MM-DD HH:MM"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := mustOpen(t)
			sess, err := st.CreateSession(context.Background(), tt.in)
			if err != nil {
				t.Fatalf("CreateSession(%q): %v", tt.in, err)
			}
			if !tt.want(sess.Name) {
				t.Errorf("name = %q, want %s", sess.Name, tt.desc)
			}
			got, err := st.GetSession(context.Background(), sess.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != sess.Name {
				t.Errorf("stored name = %q, CreateSession returned %q", got.Name, sess.Name)
			}
			if len(sess.ID) != 24 || strings.ToLower(sess.ID) != sess.ID {
				t.Errorf("id %q: want 24 lowercase base32 characters", sess.ID)
			}
		})
	}
}

func isDefaultName(s string) bool {
	rest, ok := strings.CutPrefix(s, "Session ")
	if !ok {
		return false
	}
	_, err := time.Parse("2006-01-02 15:04", rest)
	return err == nil
}

func TestCreateSessionRejectsTooLongName(t *testing.T) {
	st := mustOpen(t)
	_, err := st.CreateSession(context.Background(), strings.Repeat("x", MaxNameLen+1))
	if err == nil {
		t.Fatal("CreateSession accepted a name longer than MaxNameLen")
	}
	if list, _, err := st.ListSessions(context.Background(), "", 0); err != nil || len(list) != 0 {
		t.Errorf("after the refusal ListSessions = %v, %v; want no sessions", list, err)
	}
}

func TestListSessionsNewestFirstWithEventCounts(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	counts := []int{3, 0, 7}
	var created []Session
	for i, n := range counts {
		sess := mustCreate(t, st, "s"+string(rune('a'+i)))
		created = append(created, sess)
		for j := range n {
			rec.Emit(recvEvent(sess.ID, "c", j))
		}
	}
	mustFlush(t, rec)

	list, _, err := st.ListSessions(context.Background(), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(created) {
		t.Fatalf("ListSessions returned %d sessions, want %d", len(list), len(created))
	}
	for i, got := range list {
		k := len(created) - 1 - i // newest first
		want := created[k]
		if got.ID != want.ID || got.Name != want.Name {
			t.Errorf("list[%d] = %s %q, want %s %q (newest first)", i, got.ID, got.Name, want.ID, want.Name)
			continue
		}
		if got.Events != int64(counts[k]) {
			t.Errorf("list[%d] (%s): Events = %d, want %d", i, got.Name, got.Events, counts[k])
		}
		if !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("list[%d]: CreatedAt = %v, want %v", i, got.CreatedAt, want.CreatedAt)
		}
		// recvEvent stamps event j at 1_700_000_000 s + j ns.
		wantLast := time.Time{}
		if counts[k] > 0 {
			wantLast = time.Unix(1_700_000_000, int64(counts[k]-1)).UTC()
		}
		if !got.LastAt.Equal(wantLast) {
			t.Errorf("list[%d]: LastAt = %v, want %v", i, got.LastAt, wantLast)
		}
	}
}

func TestGetSessionUnknownIsNotFound(t *testing.T) {
	st := mustOpen(t)
	mustCreate(t, st, "other")
	_, err := st.GetSession(context.Background(), "no-such-session")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetSession(unknown) error = %v, want ErrNotFound", err)
	}
}

// TestPragmasOnEveryPooledConnection holds several connections of the pool
// open at once, so each is a separate SQLite connection, and checks that the
// DSN's pragmas are in force on every one of them.
func TestPragmasOnEveryPooledConnection(t *testing.T) {
	st := mustOpen(t)
	const conns = 4
	st.db.SetMaxOpenConns(conns)
	st.db.SetMaxIdleConns(conns)
	ctx := testCtx(t)

	pragmas := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
	}

	var wg sync.WaitGroup
	errs := make(chan error, conns*len(pragmas))
	held := make(chan struct{})
	ready := make(chan struct{}, conns)
	for i := range conns {
		wg.Go(func() {
			c, err := st.db.Conn(ctx)
			if err != nil {
				errs <- err
				ready <- struct{}{}
				return
			}
			defer c.Close()
			ready <- struct{}{}
			<-held // keep every connection checked out until all are
			for _, p := range pragmas {
				var got string
				if err := c.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
					errs <- err
					continue
				}
				if !strings.EqualFold(got, p.want) {
					errs <- fmt.Errorf("connection %d: PRAGMA %s = %s, want %s", i, p.pragma, got, p.want)
				}
			}
		})
	}
	for range conns {
		<-ready
	}
	if n := st.db.Stats().OpenConnections; n != conns {
		t.Errorf("%d connections open, want %d distinct ones", n, conns)
	}
	close(held)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestOpenPathWithURICharacters opens databases whose file names contain
// characters that mean something in a URI. The database must be created at
// exactly that path (DSN builds a "file:" URI from the path).
func TestOpenPathWithURICharacters(t *testing.T) {
	for _, name := range []string{"lab #2.db", "%41%42.db", "what?.db"} {
		t.Run(strings.Map(func(r rune) rune {
			if r == '#' || r == '%' || r == '?' || r == ' ' {
				return '_'
			}
			return r
		}, name), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			st, err := Open(context.Background(), path, testLog)
			if err != nil {
				t.Fatalf("Open(%q): %v", path, err)
			}
			defer st.Close()
			mustCreate(t, st, "x")
			entries, _ := filepath.Glob(filepath.Join(dir, "*"))
			found := false
			for _, e := range entries {
				if e == path {
					found = true
				}
			}
			if !found {
				t.Errorf("Open(%q) created %q instead of the file asked for", path, entries)
			}
		})
	}
}

// Sessions page newest first by keyset: every session exactly once however
// the pages are cut, even with sessions created or deleted between pages.
func TestListSessionsPages(t *testing.T) {
	st := mustOpen(t)
	ctx := context.Background()
	var ids []string // newest first
	for i := range 7 {
		ids = append([]string{mustCreate(t, st, fmt.Sprint("s", i)).ID}, ids...)
	}
	for _, limit := range []int{1, 2, 3, 6, 7, 8} {
		var got []string
		var meanwhile string
		before, pages := "", 0
		for {
			list, next, err := st.ListSessions(ctx, before, limit)
			if err != nil {
				t.Fatalf("limit %d, before %q: %v", limit, before, err)
			}
			pages++
			if len(list) > limit {
				t.Fatalf("limit %d: a page of %d", limit, len(list))
			}
			for _, s := range list {
				got = append(got, s.ID)
			}
			if next == "" {
				break
			}
			if !strings.HasSuffix(next, "."+list[len(list)-1].ID) {
				t.Fatalf("limit %d: next %q does not point after the page's last session", limit, next)
			}
			if pages > len(ids)+1 {
				t.Fatalf("limit %d: paging does not end", limit)
			}
			before = next
			if limit == 2 && pages == 1 {
				// A session created meanwhile is newer: it is not in the
				// later pages, and nothing is skipped or repeated.
				meanwhile = mustCreate(t, st, "meanwhile").ID
			}
		}
		if !slices.Equal(got, ids) {
			t.Errorf("limit %d: paged %v, want %v", limit, got, ids)
		}
		if meanwhile != "" {
			ids = append([]string{meanwhile}, ids...) // the newest from now on
		}
	}
	for _, bad := range []string{"no-such-session", "x.abc", "123.", "123"} {
		if _, _, err := st.ListSessions(ctx, bad, 10); !errors.Is(err, ErrInvalid) {
			t.Errorf("before=%q: %v, want ErrInvalid", bad, err)
		}
	}
}

// Deleting the session a cursor was taken after does not break paging.
func TestListSessionsCursorSurvivesDeletion(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	ctx := testCtx(t)
	var ids []string // newest first
	for i := range 4 {
		ids = append([]string{mustCreate(t, st, fmt.Sprint("s", i)).ID}, ids...)
	}
	_, next, err := st.ListSessions(ctx, "", 2)
	if err != nil || next == "" {
		t.Fatalf("first page: next %q, %v", next, err)
	}
	if err := rec.DeleteSession(ctx, ids[1]); err != nil { // the page's last
		t.Fatal(err)
	}
	list, _, err := st.ListSessions(ctx, next, 2)
	if err != nil || len(list) != 2 || list[0].ID != ids[2] || list[1].ID != ids[3] {
		t.Errorf("the page after a deleted cursor session: %v, %v; want %v", list, err, ids[2:])
	}
}

func TestCreateSessionRejectsUnprintableNames(t *testing.T) {
	st := mustOpen(t)
	for _, name := range []string{"a\x00b", "tab\there", "bell\a", "a\xffb"} {
		if _, err := st.CreateSession(context.Background(), name); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateSession(%q): err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := st.CreateSession(context.Background(), "héllo wörld ✓"); err != nil {
		t.Errorf("a printable UTF-8 name was refused: %v", err)
	}
}

func TestScanVisitsEveryEventOnceInOrder(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, NewHub(16), RecorderConfig{})
	ctx := testCtx(t)
	sess := mustCreate(t, st, "scan")
	defer func(p int) { scanPage = p }(scanPage)
	scanPage = 2
	n := int64(3*scanPage*chunkMaxEvents/2 + 7) // several pages of chunks
	for i := range int(n) {
		rec.Emit(engine.Event{Session: sess.ID, Kind: engine.KindRecv, At: time.Unix(0, int64(i)), Len: i})
	}
	mustFlush(t, rec)
	for _, after := range []int64{0, 1, n / 2, n - 1, n, n + 5} {
		var seqs []int64
		err := st.Scan(ctx, sess.ID, after, func(r *Record) error {
			if r.Len != int(r.Seq-1) {
				t.Fatalf("seq %d has len %d", r.Seq, r.Len)
			}
			if !bytes.HasPrefix(r.JSON(), []byte(`{"seq":`)) {
				t.Fatalf("seq %d JSON %q", r.Seq, r.JSON())
			}
			seqs = append(seqs, r.Seq)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := max(0, n-after)
		if int64(len(seqs)) != min(want, n) {
			t.Fatalf("after %d: %d events, want %d", after, len(seqs), want)
		}
		for i, s := range seqs {
			if s != after+1+int64(i) {
				t.Fatalf("after %d: event %d has seq %d", after, i, s)
			}
		}
	}
	stop := errors.New("stop")
	count := 0
	if err := st.Scan(ctx, sess.ID, 0, func(*Record) error { count++; return stop }); err != stop || count != 1 {
		t.Fatalf("Scan stopped with %v after %d events, want the callback's error after 1", err, count)
	}
}
