package sessions

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

func TestPortBlocksAtJoin(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "blocks.db")
	st := mustOpenAt(t, path)
	lab := engine.PortRange{First: 20000, Last: 20059} // three blocks of 20
	w, err := st.CreateWorkshop(ctx, "Ports", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	_, as, ab, _, err := st.JoinWithPorts(ctx, w, "Alice", "", HashToken("a"), lab, 20)
	if err != nil {
		t.Fatal(err)
	}
	_, bs, bb, _, err := st.JoinWithPorts(ctx, w, "Bob", "", HashToken("b"), lab, 20)
	if err != nil {
		t.Fatal(err)
	}
	if ab.Ports != (engine.PortRange{First: 20000, Last: 20019}) || bb.Ports != (engine.PortRange{First: 20020, Last: 20039}) || ab.Owner != "Alice" {
		t.Fatalf("blocks %+v %+v, want 20000-20019 (Alice) and 20020-20039", ab, bb)
	}
	// Rejoining keeps the block.
	if _, s2, again, _, err := st.JoinWithPorts(ctx, w, "Alice", HashToken("a"), HashToken("a2"), lab, 20); err != nil || s2.ID != as.ID || again.Ports != ab.Ports {
		t.Fatalf("rejoin: %v session %s block %+v, want %s %v", err, s2.ID, again, as.ID, ab.Ports)
	}
	if _, _, _, _, err := st.JoinWithPorts(ctx, w, "Carol", "", HashToken("c"), lab, 20); err != nil {
		t.Fatal(err)
	}
	// Full: a clear error, and nothing of the join stored.
	_, _, _, _, err = st.JoinWithPorts(ctx, w, "Dan", "", HashToken("d"), lab, 20)
	var full *NoPortBlockError
	if !errors.As(err, &full) || !strings.Contains(err.Error(), "-lab-ports") || !strings.Contains(err.Error(), "-participant-ports") {
		t.Fatalf("fourth join: %v, want a NoPortBlockError naming the flags", err)
	}
	if ps, _ := st.Participants(ctx, w.ID); len(ps) != 3 {
		t.Errorf("%d participants after the refused join, want 3", len(ps))
	}
	// A deleted session frees its block.
	if _, err := st.DB().ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, bs.ID); err != nil {
		t.Fatal(err)
	}
	_, _, db, _, err := st.JoinWithPorts(ctx, w, "Dan", "", HashToken("d"), lab, 20)
	if err != nil || db.Ports != bb.Ports {
		t.Fatalf("join after a delete: %v %+v, want Bob's old block %v", err, db, bb.Ports)
	}
	// An ended workshop's blocks go to the next participant who needs one.
	if _, err := st.EndWorkshop(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	w2, _ := st.CreateWorkshop(ctx, "Next", time.Time{})
	_, es, eb, displaced, err := st.JoinWithPorts(ctx, w2, "Eve", "", HashToken("e"), lab, 20)
	if err != nil || eb.Ports != ab.Ports || len(displaced) != 1 || displaced[0] != as.ID {
		t.Fatalf("join of another workshop after the first ended: %v %+v displaced %v, want Alice's block, displacing %s", err, eb, displaced, as.ID)
	}
	// Open lab is stored with the workshop.
	if err := st.SetWorkshopOpenLab(ctx, w2.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := st.SetWorkshopOpenLab(ctx, "w-nope", true); !errors.Is(err, ErrNotFound) {
		t.Errorf("open lab of no workshop: %v, want ErrNotFound", err)
	}
	// A restart gives every block back.
	st.Close()
	st = mustOpenAt(t, path)
	list, err := st.PortBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]engine.PortRange{}
	for _, sp := range list {
		got[sp.Session] = sp.Ports
	}
	if got[es.ID] != ab.Ports || len(list) != 3 {
		t.Errorf("after reopening: %+v, want 3 blocks with Eve's %v", list, ab.Ports)
	}
	if open, err := st.OpenLabs(ctx); err != nil || len(open) != 1 || open[0] != w2.ID {
		t.Errorf("open labs after reopening: %v %v, want [%s]", open, err, w2.ID)
	}
}
