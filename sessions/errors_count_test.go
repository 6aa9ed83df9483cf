package sessions

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// errorEvents emits n events to session, every third an error (ECONNREFUSED
// then, last, ETIMEDOUT), and returns the last error's time.
func errorEvents(t *testing.T, rec *Recorder, session string, n int) (errs int, lastAt time.Time) {
	t.Helper()
	base := time.Now().UTC()
	for i := range n {
		ev := engine.Event{Session: session, At: base.Add(time.Duration(i) * time.Millisecond), Kind: engine.KindSend, Len: 1, Data: []byte("x")}
		if i%3 == 2 {
			ev.Kind = engine.KindError
			ev.Data, ev.Len = nil, 0
			ev.Err = &engine.SockErr{Errno: "ECONNREFUSED", Message: "connection refused", Hint: "nothing listens there"}
			if i >= n-3 {
				ev.Err = &engine.SockErr{Errno: "ETIMEDOUT", Message: "timed out", Hint: "no answer"}
			}
			errs++
			lastAt = ev.At
		}
		rec.Emit(ev)
		if i%7 == 0 {
			mustFlush(t, rec) // errors spread over several commits
		}
	}
	mustFlush(t, rec)
	return errs, lastAt
}

// The recorder counts each session's error events as it records them, and
// the dashboard's one query (ParticipantRows) reads the count, the newest
// error and its time, with the session's events and lesson, for every
// participant; a participant whose session is gone has none.
func TestRecorderCountsErrorsForTheDashboard(t *testing.T) {
	st := mustOpen(t)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	ctx := testCtx(t)
	w, err := st.CreateWorkshop(ctx, "Errors", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ada, adaSess, err := st.Join(ctx, w, "Ada", "", HashToken("ada"))
	if err != nil {
		t.Fatal(err)
	}
	_, bobSess, err := st.Join(ctx, w, "Bob", "", HashToken("bob"))
	if err != nil {
		t.Fatal(err)
	}
	_, gone, err := st.Join(ctx, w, "Cy", "", HashToken("cy"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.DeleteSession(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	errs, lastAt := errorEvents(t, rec, adaSess.ID, 40)
	rec.Emit(engine.Event{Session: bobSess.ID, At: time.Now(), Kind: engine.KindSend, Len: 1, Data: []byte("x")})
	mustFlush(t, rec)

	rows, err := st.ParticipantRows(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].ID != ada.ID || rows[1].Name != "Bob" || rows[2].Name != "Cy" {
		t.Fatalf("rows %+v, want Ada, Bob, Cy in the order they joined", rows)
	}
	a := rows[0]
	if a.Session == nil || a.Session.Events != 40 || a.Session.Owner != ada.ID || a.Session.LastAt.IsZero() {
		t.Errorf("Ada's session %+v, want her 40 events", a.Session)
	}
	if a.Errors != int64(errs) || a.LastError == nil || a.LastError.Errno != "ETIMEDOUT" || a.LastError.Hint != "no answer" ||
		!a.LastErrorAt.Equal(lastAt) {
		t.Errorf("Ada's errors %d, last %+v at %v; want %d, the ETIMEDOUT at %v", a.Errors, a.LastError, a.LastErrorAt, errs, lastAt)
	}
	if b := rows[1]; b.Session == nil || b.Session.Events != 1 || b.Errors != 0 || b.LastError != nil {
		t.Errorf("Bob's row %+v, want one event and no error", b)
	}
	if c := rows[2]; c.Session != nil || c.Errors != 0 {
		t.Errorf("Cy deleted their session, row %+v", c)
	}
	// A last error that cannot be read (only the recorder writes it, but a
	// disk or a hand can spoil it) spoils that row only, not the dashboard.
	if _, err := st.db.ExecContext(ctx, `UPDATE sessions SET last_error = '{not json' WHERE id = ?`, bobSess.ID); err != nil {
		t.Fatal(err)
	}
	spoiled, err := st.ParticipantRows(ctx, w.ID)
	if err != nil || len(spoiled) != 3 {
		t.Fatalf("with Bob's last error spoiled: %d rows, %v; want all 3", len(spoiled), err)
	}
	if le := spoiled[1].LastError; le == nil || le.Errno != "?" || !strings.Contains(le.Message, "could not be read") {
		t.Errorf("Bob's spoiled last error reads %+v, want it said", le)
	}
	if spoiled[0].LastError == nil || spoiled[0].LastError.Errno != "ETIMEDOUT" {
		t.Errorf("Ada's row changed: %+v", spoiled[0].LastError)
	}
	// What the count says is what the recording holds.
	var stored int64
	for _, r := range allEvents(t, st, adaSess.ID) {
		if r.Err != nil {
			stored++
		}
	}
	if stored != a.Errors {
		t.Errorf("the recording holds %d error events, the count says %d", stored, a.Errors)
	}
}

// A database from before the count (migration 12) gets each session's
// count and newest error from its recorded chunks when it is opened.
func TestMigrationCountsTheErrorsAlreadyRecorded(t *testing.T) {
	path := t.TempDir() + "/old.db"
	st := mustOpenAt(t, path)
	rec := NewRecorder(st, NewHub(16), RecorderConfig{}, testLog)
	sess := mustCreate(t, st, "old")
	errs, lastAt := errorEvents(t, rec, sess.ID, 100)
	rec.Close()
	// Back to the schema before migration 12, as its Down leaves it.
	p, err := migrator(st.DB())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(context.Background(), 11); err != nil {
		t.Fatal(err)
	}
	st.Close()

	st = mustOpenAt(t, path)
	var n int64
	var last string
	var at int64
	if err := st.DB().QueryRow(`SELECT errors, last_error, last_error_at FROM sessions WHERE id = ?`, sess.ID).Scan(&n, &last, &at); err != nil {
		t.Fatal(err)
	}
	if n != int64(errs) || last != `{"errno":"ETIMEDOUT","message":"timed out","hint":"no answer"}` {
		t.Errorf("after the migration: %d errors, newest %s; want %d, the ETIMEDOUT", n, last, errs)
	}
	if d := time.Unix(0, at).Sub(lastAt); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("newest error at %v, want %v (to the millisecond)", time.Unix(0, at).UTC(), lastAt)
	}
	// And the count goes on from there.
	rec = newRecorder(t, st, nil, RecorderConfig{})
	rec.Emit(engine.Event{Session: sess.ID, At: time.Now(), Kind: engine.KindError, Err: &engine.SockErr{Errno: "ECONNRESET", Message: "reset"}})
	mustFlush(t, rec)
	if err := st.DB().QueryRow(`SELECT errors FROM sessions WHERE id = ?`, sess.ID).Scan(&n); err != nil || n != int64(errs)+1 {
		t.Errorf("after one more error: %d (%v), want %d", n, err, errs+1)
	}
}
