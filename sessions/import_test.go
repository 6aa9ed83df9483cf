package sessions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// exportJSONL writes session as the jsonl export does (web/export.go): the
// header, then every stored event as stored.
func exportJSONL(tb testing.TB, st *Store, id string) []byte {
	tb.Helper()
	sess, err := st.GetSession(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteJSONLHeader(&b, sess); err != nil {
		tb.Fatal(err)
	}
	err = st.ScanRaw(context.Background(), id, 0, func(e RawEvent) error {
		b.Write(e.AppendJSON(nil))
		return b.WriteByte('\n')
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// variedEvents are events of every shape: bytes, a cut capture, UDP, TLS,
// an error with its Python text, meta with nested objects and big numbers.
func variedEvents(session string) []engine.Event {
	at := time.Date(2026, 12, 2, 3, 0, 0, 123456789, time.UTC)
	return []engine.Event{
		{Session: session, Server: "srv-a", At: at, Kind: engine.KindServerStart, Net: "tcp", Local: "127.0.0.1:20001",
			Meta: map[string]any{"kind": "tcp-echo", "name": "echo", "port": 20001, "options": map[string]any{"mode": "echo", "recv_size": 4}}},
		{Session: session, Server: "srv-a", Conn: "c1", At: at.Add(1), Kind: engine.KindAccept, Net: "tcp", Local: "127.0.0.1:20001", Remote: "127.0.0.1:40000"},
		{Session: session, Server: "srv-a", Conn: "c1", At: at.Add(2), Kind: engine.KindRecv, Net: "tcp", Local: "127.0.0.1:20001", Remote: "127.0.0.1:40000",
			Data: []byte("hel\x00\xff"), Len: 5},
		{Session: session, Server: "srv-a", Conn: "c1", At: at.Add(3), Kind: engine.KindSend, Net: "tcp", Data: []byte("he"), Len: 9000, Truncated: true},
		{Session: session, Server: "srv-u", Conn: "u1", At: at.Add(4), Kind: engine.KindDatagramIn, Net: "udp", Data: []byte("ping"), Len: 4,
			Meta: map[string]any{"peer": "127.0.0.1:5005"}},
		{Session: session, Server: "srv-t", Conn: "t1", At: at.Add(5), Kind: engine.KindTLSHandshake, Net: "tls",
			Meta: map[string]any{"version": "TLS 1.3", "cipher_suite": "TLS_AES_128_GCM_SHA256", "alpn": ""}},
		{Session: session, Server: "srv-p", Conn: "p1", At: at.Add(6), Kind: engine.KindProxyDial, Net: "tcp", Meta: map[string]any{"target": "127.0.0.1:20001", "upstream": "p2"}},
		{Session: session, Server: "srv-x", Conn: "x1", At: at.Add(7), Kind: engine.KindAppFrame, Net: "tcp", Data: []byte{0, 2, '{', '}'}, Len: 4,
			Meta: map[string]any{"header": map[string]any{"content-length": 0, "byteorder": "big"}, "n": int64(1) << 60}},
		{Session: session, Server: "cli-1", Conn: "k1", At: at.Add(8), Kind: engine.KindError, Net: "tcp",
			Err:  &engine.SockErr{Errno: "ECONNREFUSED", Message: "connection refused", Hint: "nothing listens", Python: "ConnectionRefusedError: [Errno 111] Connection refused"},
			Meta: map[string]any{"op": "connect", "target": "127.0.0.1:20999"}},
		{Session: session, Server: "srv-a", Conn: "c1", At: at.Add(9), Kind: engine.KindClose, Net: "tcp", Meta: map[string]any{"by": "peer", "rst": true, "text": "<&>\u2028"}},
	}
}

func recordVaried(tb testing.TB, st *Store, rec *Recorder) Session {
	tb.Helper()
	sess := mustCreate(tb, st, "varied <one>")
	for _, ev := range variedEvents(sess.ID) {
		rec.Emit(ev)
	}
	mustFlush(tb, rec)
	return sess
}

// dbState is what must not change when an import is refused.
func dbState(tb testing.TB, st *Store) string {
	tb.Helper()
	var sessions, chunks, bytes int64
	if err := st.db.QueryRow(`SELECT (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM event_chunks),
		(SELECT COALESCE(SUM(length(events)), 0) FROM event_chunks)`).Scan(&sessions, &chunks, &bytes); err != nil {
		tb.Fatal(err)
	}
	return fmt.Sprintf("%d sessions, %d chunks, %d bytes", sessions, chunks, bytes)
}

func TestImportRoundTripIsIdenticalButForIDAndCreation(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	orig := recordVaried(t, st, rec)
	first := exportJSONL(t, st, orig.ID)

	p, err := ParseImport(bytes.NewReader(first), 0, 0)
	if err != nil {
		t.Fatalf("ParseImport of an export: %v", err)
	}
	imp, err := rec.Import(testCtx(t), p, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if imp.ID == orig.ID || imp.Name != orig.Name || imp.Events != int64(len(variedEvents(""))) {
		t.Fatalf("imported %+v from %+v", imp, orig)
	}
	second := exportJSONL(t, st, imp.ID)

	l1, l2 := strings.Split(string(first), "\n"), strings.Split(string(second), "\n")
	if len(l1) != len(l2) {
		t.Fatalf("%d lines exported, %d after the import", len(l1), len(l2))
	}
	// The header: the same but for the id and created_at.
	h1 := strings.Replace(l1[0], orig.CreatedAt.Format(time.RFC3339Nano), "T", 1)
	h2 := strings.Replace(strings.Replace(l2[0], imp.ID, orig.ID, 1), imp.CreatedAt.Format(time.RFC3339Nano), "T", 1)
	if h1 != h2 {
		t.Errorf("headers differ beyond id and created_at:\n%s\n%s", l1[0], l2[0])
	}
	for i := 1; i < len(l1); i++ {
		if want := strings.Replace(l1[i], `"session":"`+orig.ID+`"`, `"session":"`+imp.ID+`"`, 1); l2[i] != want {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, l2[i], want)
		}
	}

	// The recorder's cache knows the imported session: what it records next
	// follows its last seq, and nothing of it was put up to be started again.
	rec.Emit(recvEvent(imp.ID, "after", 0))
	mustFlush(t, rec)
	all := allEvents(t, st, imp.ID)
	checkGapless(t, imp.ID, all, len(variedEvents(""))+1)
	if restore, _ := st.ServersToRestore(context.Background()); len(restore) != 1 || restore[0].Session != orig.ID {
		t.Errorf("servers to restore after the import: %+v; the imported session's server must not be started again", restore)
	}
	// The servers panel of the import remembers the recorded server.
	servers, _, err := st.RecordedServers(context.Background(), imp.ID)
	if err != nil || len(servers) != 1 || servers[0].ID != "srv-a" {
		t.Errorf("recorded servers of the import: %+v, %v", servers, err)
	}
}

func TestImportOfAnEmptySessionAndOfASharedExport(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	empty := mustCreate(t, st, "empty")
	p, err := ParseImport(bytes.NewReader(exportJSONL(t, st, empty.ID)), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := rec.Import(testCtx(t), p, "renamed", "someone"); err != nil || s.Events != 0 || s.Name != "renamed" || s.Owner != "someone" {
		t.Fatalf("import of an empty session: %+v %v", s, err)
	}
	// A share link's export withholds the session id (every "session" is "").
	orig := recordVaried(t, st, rec)
	shared := bytes.ReplaceAll(exportJSONL(t, st, orig.ID), []byte(`"`+orig.ID+`"`), []byte(`""`))
	p, err = ParseImport(bytes.NewReader(shared), 0, 0)
	if err != nil {
		t.Fatalf("import of a shared export: %v", err)
	}
	s, err := rec.Import(testCtx(t), p, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := allEvents(t, st, s.ID); len(got) != len(variedEvents("")) || got[0].Session != s.ID {
		t.Fatalf("imported %d events, first of session %q", len(got), got[0].Session)
	}
}

func TestImportRefusesBadInputAndChangesNothing(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	orig := recordVaried(t, st, rec)
	good := string(exportJSONL(t, st, orig.ID))
	lines := strings.Split(strings.TrimSuffix(good, "\n"), "\n")
	join := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	with := func(i int, from, to string) string {
		ls := append([]string(nil), lines...)
		if !strings.Contains(ls[i], from) {
			t.Fatalf("line %d has no %q: %s", i+1, from, ls[i])
		}
		ls[i] = strings.Replace(ls[i], from, to, 1)
		return join(ls...)
	}
	swapped := append([]string(nil), lines...)
	swapped[3], swapped[4] = swapped[4], swapped[3]
	dup := append(append([]string(nil), lines[:4]...), lines[3:]...)
	gap := append(append([]string(nil), lines[:3]...), lines[4:]...)
	before := dbState(t, st)
	for _, c := range []struct {
		name, file string
		line       int
		want       string
	}{
		{"empty file", "", 0, "the file is empty"},
		{"not JSON lines", "hello\nworld\n", 1, "not a JSON object"},
		{"broken JSON on an event line", join(lines[0], `{"seq":1,`), 2, "cut short"},
		{"no format", with(0, `"format":"sockplay-session",`, ""), 1, `no "format"`},
		{"another format", with(0, `"sockplay-session"`, `"pcap"`), 1, `format "pcap"`},
		{"no version", with(0, `"version":1,`, ""), 1, `no "version"`},
		{"wrong version", with(0, `"version":1`, `"version":2`), 1, "format version 2"},
		{"version of the wrong type", with(0, `"version":1`, `"version":"1"`), 1, `"version" is a string, not a whole number`},
		{"events out of order", join(swapped...), 4, "seq 4 after seq 2"},
		{"duplicate seq", join(dup...), 5, "seq 3 again"},
		{"a missing event", join(gap...), 4, "seq 4 after seq 2: the event of seq 3 is missing"},
		{"unknown kind", with(2, `"kind":"accept"`, `"kind":"teleport"`), 3, `unknown event kind "teleport"`},
		{"base64 that does not decode", with(3, `"data":"`, `"data":"!!`), 4, `"data" is not valid base64`},
		{"len of the wrong type", with(3, `"len":5`, `"len":"5"`), 4, `"len" is a string, not a whole number`},
		{"conn of the wrong type", with(3, `"conn":"c1"`, `"conn":7`), 4, `"conn" is a number, not a string`},
		{"err of the wrong type", with(10, `"err":null`, `"err":"refused"`), 11, `"err" is a string, not an object`},
		{"meta not an object", with(2, `"meta":null`, `"meta":[1]`), 3, `"meta" is not a JSON object`},
		{"unknown field", with(2, `"meta":null`, `"meta":null,"colour":"red"`), 3, `unknown field "colour"`},
		{"bad time", with(2, `"at":"2026`, `"at":"yesterday 2026`), 3, `"at" is "yesterday`},
		{"event of another session", with(2, orig.ID, "someoneelse"), 3, `of session "someoneelse"`},
		{"cut short", join(lines[:5]...), 0, "says the session has 10 events but the file holds 4"},
		{"an empty line", join(append(lines[:3:3], append([]string{""}, lines[3:]...)...)...), 4, "the line is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseImport(strings.NewReader(c.file), 0, 0)
			var ie *ImportError
			if !errors.As(err, &ie) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseImport: %v, want an ImportError", err)
			}
			if ie.Line != c.line || !strings.Contains(ie.Msg, c.want) {
				t.Errorf("got line %d %q, want line %d with %q", ie.Line, ie.Msg, c.line, c.want)
			}
			if after := dbState(t, st); after != before {
				t.Errorf("database changed: %s, was %s", after, before)
			}
		})
	}
	t.Run("over the size cap", func(t *testing.T) {
		_, err := ParseImport(strings.NewReader(good), int64(len(good)-1), 0)
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "larger than the import limit") {
			t.Fatalf("ParseImport over the cap: %v", err)
		}
		if _, err := ParseImport(strings.NewReader(good), int64(len(good)), 0); err != nil {
			t.Fatalf("ParseImport at the cap exactly: %v", err)
		}
		_, err = ParseImport(strings.NewReader(good), 0, 5)
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "more than 5 events") {
			t.Fatalf("ParseImport over the events cap: %v", err)
		}
		if after := dbState(t, st); after != before {
			t.Errorf("database changed: %s, was %s", after, before)
		}
	})
}
