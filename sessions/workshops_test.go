package sessions

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// Join codes read well aloud and on a projector: six symbols with a dash,
// never 0, O, 1 or I; people may type them in any case, with or without the
// dash.
func TestJoinCodes(t *testing.T) {
	re := regexp.MustCompile(`^[2-9A-HJ-NP-Z]{3}-[2-9A-HJ-NP-Z]{3}$`)
	seen := map[string]bool{}
	for range 2000 {
		c := NewJoinCode()
		if !re.MatchString(c) || strings.ContainsAny(c, "0O1I") {
			t.Fatalf("code %q does not look like K7P-Q2M", c)
		}
		seen[c] = true
	}
	if len(seen) < 1990 {
		t.Errorf("2000 codes gave only %d different ones", len(seen))
	}
	for _, typed := range []string{"K7P-Q2M", "k7pq2m", " k7p q2m ", "K7P-q2M"} {
		got, err := NormalizeCode(typed)
		if err != nil || got != "K7PQ2M" {
			t.Errorf("NormalizeCode(%q) = %q, %v; want K7PQ2M", typed, got, err)
		}
	}
	for typed, want := range map[string]string{
		"K7P-Q2O":  "no 'O'",
		"K7P-Q21":  "no '1'",
		"K7P":      "this one has 3",
		"K7P-Q2M5": "this one has 7",
		"K7P;Q2M":  "';' is not one of them",
		"":         "this one has 0",
	} {
		_, err := NormalizeCode(typed)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("NormalizeCode(%q) = %v; want ErrInvalid saying %q", typed, err, want)
		}
	}
}

func TestCreateWorkshopAndFindByCode(t *testing.T) {
	st := mustOpen(t)
	ctx := testCtx(t)
	exp := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Microsecond)
	w, err := st.CreateWorkshop(ctx, "  Sockets 101 ", exp)
	if err != nil {
		t.Fatal(err)
	}
	if w.Name != "Sockets 101" || !w.ExpiresAt.Equal(exp) || !w.Open(time.Now()) || w.Open(exp.Add(time.Second)) {
		t.Errorf("created %+v", w)
	}
	other, err := st.CreateWorkshop(ctx, "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if other.Code == w.Code || !other.ExpiresAt.IsZero() || !strings.HasPrefix(other.Name, "Workshop ") {
		t.Errorf("second workshop %+v", other)
	}
	got, err := st.WorkshopByCode(ctx, strings.ToLower(strings.ReplaceAll(w.Code, "-", " ")))
	if err != nil || got.ID != w.ID || got.Code != w.Code {
		t.Fatalf("WorkshopByCode = %+v, %v; want %+v", got, err, w)
	}
	if got, err := st.GetWorkshop(ctx, other.ID); err != nil || got.ID != other.ID {
		t.Errorf("GetWorkshop = %+v, %v", got, err)
	}
	unknown := "XXX-XXX"
	if w.Code == unknown || other.Code == unknown {
		unknown = "YYY-YYY"
	}
	if _, err := st.WorkshopByCode(ctx, unknown); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown code: %v; want ErrNotFound", err)
	}
	if _, err := st.GetWorkshop(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v; want ErrNotFound", err)
	}
	list, err := st.Workshops(ctx)
	if err != nil || len(list) != 2 || list[0].ID != other.ID {
		t.Errorf("Workshops = %+v, %v; want both, newest first", list, err)
	}
	if _, err := st.CreateWorkshop(ctx, strings.Repeat("x", MaxNameLen+1), time.Time{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("long name: %v; want ErrInvalid", err)
	}
}

// A participant joins with a cookie of their own; rejoining with it returns
// the same session and rotates the cookie (the old one stops naming them); a
// cookie of another workshop, or none, makes a new participant.
func TestJoinAndRejoin(t *testing.T) {
	st := mustOpen(t)
	ctx := testCtx(t)
	w, err := st.CreateWorkshop(ctx, "Sockets", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	w2, err := st.CreateWorkshop(ctx, "Other", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	p, sess, err := st.Join(ctx, w, " Ada ", "", HashToken("t1"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "Ada" || p.SessionID != sess.ID || sess.Owner != p.ID || !strings.Contains(sess.Name, "Ada") {
		t.Fatalf("join: participant %+v session %+v", p, sess)
	}
	if got, err := st.GetSession(ctx, sess.ID); err != nil || got.Owner != p.ID {
		t.Errorf("GetSession = %+v, %v; want owner %s", got, err, p.ID)
	}
	if got, err := st.ParticipantByToken(ctx, HashToken("t1")); err != nil || got.ID != p.ID || got.Closed {
		t.Errorf("ParticipantByToken = %+v, %v", got, err)
	}

	p2, sess2, err := st.Join(ctx, w, "Ada L.", HashToken("t1"), HashToken("t2"))
	if err != nil {
		t.Fatal(err)
	}
	if p2.ID != p.ID || sess2.ID != sess.ID || p2.Name != "Ada L." {
		t.Errorf("rejoin: %+v %+v; want participant %s back in session %s", p2, sess2, p.ID, sess.ID)
	}
	if _, err := st.ParticipantByToken(ctx, HashToken("t1")); !errors.Is(err, ErrNotFound) {
		t.Errorf("old cookie after rotation: %v; want ErrNotFound", err)
	}

	// The participant deleted their session: rejoining gives a new one.
	if _, err := st.DB().ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, sess.ID); err != nil {
		t.Fatal(err)
	}
	p3, sess3, err := st.Join(ctx, w, "Ada", HashToken("t2"), HashToken("t3"))
	if err != nil {
		t.Fatal(err)
	}
	if p3.ID != p.ID || sess3.ID == sess.ID || sess3.Owner != p.ID || p3.SessionID != sess3.ID {
		t.Errorf("rejoin after delete: %+v %+v", p3, sess3)
	}

	// The same browser joining another workshop is a new participant there.
	q, qs, err := st.Join(ctx, w2, "Ada", HashToken("t3"), HashToken("t4"))
	if err != nil {
		t.Fatal(err)
	}
	if q.ID == p.ID || qs.ID == sess3.ID || q.WorkshopID != w2.ID {
		t.Errorf("other workshop: %+v %+v", q, qs)
	}
	// Someone else in the first workshop.
	b, bs, err := st.Join(ctx, w, "Bob", "", HashToken("t5"))
	if err != nil {
		t.Fatal(err)
	}
	list, err := st.Participants(ctx, w.ID)
	if err != nil || len(list) != 2 || list[0].ID != p.ID || list[1].ID != b.ID || list[1].SessionID != bs.ID {
		t.Errorf("Participants = %+v, %v", list, err)
	}
	// Ending the workshop closes it for its participants, once.
	ended, err := st.EndWorkshop(ctx, w.ID)
	if err != nil || ended.EndedAt.IsZero() || ended.Open(time.Now()) {
		t.Fatalf("EndWorkshop = %+v, %v", ended, err)
	}
	if again, err := st.EndWorkshop(ctx, w.ID); err != nil || !again.EndedAt.Equal(ended.EndedAt) {
		t.Errorf("ending again: %+v, %v; want the first end kept", again, err)
	}
	if got, err := st.ParticipantByToken(ctx, HashToken("t5")); err != nil || !got.Closed || got.ID != b.ID {
		t.Errorf("Bob after the end: %+v, %v; want Closed", got, err)
	}
	if got, err := st.ParticipantByToken(ctx, HashToken("t4")); err != nil || got.Closed {
		t.Errorf("a participant of the other workshop: %+v, %v; want open", got, err)
	}
	if _, err := st.EndWorkshop(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ending an unknown workshop: %v", err)
	}
	for _, name := range []string{"", "   ", strings.Repeat("é", MaxDisplayNameLen+1), "a\u202eb"} {
		if _, _, err := st.Join(ctx, w, name, "", HashToken("t6")); !errors.Is(err, ErrInvalid) {
			t.Errorf("Join(name %q): %v; want ErrInvalid", name, err)
		}
	}
}

// ListSessionsOf lists only the owner's sessions, paging as ListSessions;
// CreateSession still makes the laptop user's sessions (owner "").
func TestSessionsOfOwner(t *testing.T) {
	st := mustOpen(t)
	ctx := testCtx(t)
	mine := map[string]bool{}
	for i := range 5 {
		s, err := st.CreateSessionFor(ctx, "mine", "p-a")
		if err != nil {
			t.Fatal(err)
		}
		mine[s.ID] = true
		if _, err := st.CreateSessionFor(ctx, "theirs", "p-b"); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if _, err := st.CreateSession(ctx, "laptop"); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := map[string]bool{}
	before := ""
	for pages := 0; ; pages++ {
		list, next, err := st.ListSessionsOf(ctx, "p-a", before, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			if s.Owner != "p-a" || got[s.ID] {
				t.Errorf("page %d lists %+v", pages, s)
			}
			got[s.ID] = true
		}
		if next == "" {
			break
		}
		before = next
	}
	if len(got) != len(mine) {
		t.Errorf("listed %d of p-a's 5 sessions", len(got))
	}
	for id := range mine {
		if !got[id] {
			t.Errorf("session %s missing", id)
		}
	}
	laptop, _, err := st.ListSessionsOf(ctx, "", "", 0)
	if err != nil || len(laptop) != 1 || laptop[0].Name != "laptop" {
		t.Errorf("owner \"\": %+v, %v", laptop, err)
	}
	if n, err := st.CountSessionsOf(ctx, "p-b"); err != nil || n != 5 {
		t.Errorf("CountSessionsOf(p-b) = %d, %v", n, err)
	}
	if _, _, err := st.ListSessionsOf(ctx, "p-a", "garbage", 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad cursor: %v", err)
	}
	all, _, err := st.ListSessions(ctx, "", 0)
	if err != nil || len(all) != 11 {
		t.Errorf("ListSessions lists %d sessions, %v; want all 11", len(all), err)
	}
}

// A database from before workshop mode keeps its sessions, which belong to
// the laptop user.
func TestMigrationGivesOldSessionsNoOwner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db := v1Database(t, path)
	if _, err := db.Exec(`INSERT INTO sessions (id, name, created_at) VALUES ('old', 'Old', 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st := mustOpenAt(t, path)
	s, err := st.GetSession(testCtx(t), "old")
	if err != nil || s.Owner != "" || s.Name != "Old" {
		t.Errorf("old session after migration: %+v, %v", s, err)
	}
}

// The live parts of a workshop are stored with it: freeze, the broadcast
// message (checked), the pushed faults; a session knows its workshop, a
// workshop lists its sessions, and the retention sweep finds the sessions
// of workshops that ended or expired before a cutoff.
func TestWorkshopLiveState(t *testing.T) {
	st := mustOpen(t)
	ctx := testCtx(t)
	w, err := st.CreateWorkshop(ctx, "Live", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if w.Frozen || w.Message != "" || w.Faults == nil || len(w.Faults) != 0 {
		t.Errorf("new workshop %+v", w)
	}
	if w, err = st.SetWorkshopFrozen(ctx, w.ID, true); err != nil || !w.Frozen {
		t.Errorf("freeze: %+v %v", w, err)
	}
	if w, err = st.SetWorkshopMessage(ctx, w.ID, "  Break until 11  "); err != nil || w.Message != "Break until 11" || w.MessageAt.IsZero() {
		t.Errorf("message: %+v %v", w, err)
	}
	for msg, says := range map[string]string{strings.Repeat("é", 501): "longer than 500", "a\x07b": "control", "a\u200bb": "invisible"} {
		if _, err := st.SetWorkshopMessage(ctx, w.ID, msg); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), says) {
			t.Errorf("message %q: %v; want ErrInvalid saying %q", msg, err, says)
		}
	}
	if _, err := st.SetWorkshopMessage(ctx, w.ID, "two\nlines"); err != nil {
		t.Errorf("a message of two lines: %v", err)
	}
	pushed := []WorkshopFault{{Spec: engine.FaultSpec{Name: "workshop-reset", Type: "reset", Attributes: []byte(`{"bytes":10}`)}, Kinds: []string{"tcp-echo"}, PushedAt: time.Now().UTC().Truncate(time.Second)}}
	if _, err := st.SetWorkshopFaults(ctx, w.ID, pushed); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetWorkshopFrozen(ctx, "wnosuch", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("freeze an unknown workshop: %v", err)
	}
	got, err := st.GetWorkshop(ctx, w.ID)
	if err != nil || !got.Frozen || got.Message != "two\nlines" || len(got.Faults) != 1 || got.Faults[0].Spec.Name != "workshop-reset" ||
		string(got.Faults[0].Spec.Attributes) != `{"bytes":10}` || got.Faults[0].Kinds[0] != "tcp-echo" || !got.Faults[0].PushedAt.Equal(pushed[0].PushedAt) {
		t.Errorf("read back %+v %v", got, err)
	}

	p, sess, err := st.Join(ctx, w, "Ada", "", HashToken("a"))
	if err != nil {
		t.Fatal(err)
	}
	extra, err := st.CreateSessionFor(ctx, "second", p.ID)
	if err != nil {
		t.Fatal(err)
	}
	ow, op, err := st.WorkshopOfSession(ctx, extra.ID)
	if err != nil || ow.ID != w.ID || op.ID != p.ID || op.Name != "Ada" || op.Closed {
		t.Errorf("WorkshopOfSession: %+v %+v %v", ow, op, err)
	}
	laptop := mustCreate(t, st, "laptop")
	if _, _, err := st.WorkshopOfSession(ctx, laptop.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("a laptop session's workshop: %v", err)
	}
	list, err := st.WorkshopSessions(ctx, w.ID)
	if err != nil || len(list) != 2 || list[0].Session.ID != sess.ID || list[1].Session.ID != extra.ID || list[1].Participant.Name != "Ada" {
		t.Errorf("WorkshopSessions: %+v %v", list, err)
	}

	if w, err := st.SetWorkshopSpotlight(ctx, w.ID, sess.ID, "tok"); err != nil || w.SpotlightSession != sess.ID || w.SpotlightToken != "tok" {
		t.Errorf("spotlight: %+v %v", w, err)
	}
	if ids, err := st.ExpiredSessions(ctx, time.Now().Add(time.Hour)); err != nil || len(ids) != 0 {
		t.Errorf("sessions of an open workshop expire: %v %v", ids, err)
	}
	if _, err := st.EndWorkshop(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	if ids, err := st.ExpiredSessions(ctx, time.Now().Add(-time.Hour)); err != nil || len(ids) != 0 {
		t.Errorf("ended just now, cutoff an hour ago: %v %v", ids, err)
	}
	if ids, err := st.ExpiredSessions(ctx, time.Now().Add(time.Second)); err != nil || len(ids) != 2 {
		t.Errorf("ended before the cutoff: %v %v; want both sessions", ids, err)
	}
}
