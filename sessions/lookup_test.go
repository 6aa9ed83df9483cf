package sessions

import (
	"errors"
	"testing"
	"time"
)

// LookupSession is GetSession's row without the progress: the same id,
// name, creation time and owner (a participant's session too), zero events,
// and ErrNotFound for a session that does not exist or was deleted.
func TestLookupSession(t *testing.T) {
	st := mustOpen(t)
	ctx := testCtx(t)
	w, err := st.CreateWorkshop(ctx, "Sockets", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	_, owned, err := st.Join(ctx, w, "Ada", "", HashToken("t1"))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := st.CreateSession(ctx, "plain")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{owned.ID, plain.ID} {
		full, err := st.GetSession(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.LookupSession(ctx, id)
		full.Events, full.LastAt = 0, time.Time{}
		if err != nil || got != full {
			t.Errorf("LookupSession(%s) = %+v, %v; want %+v", id, got, err, full)
		}
	}
	if _, err := st.LookupSession(ctx, "nosuchsession"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupSession(unknown) error = %v, want ErrNotFound", err)
	}
	if _, err := st.db.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, plain.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.LookupSession(ctx, plain.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupSession(deleted) error = %v, want ErrNotFound", err)
	}
}
