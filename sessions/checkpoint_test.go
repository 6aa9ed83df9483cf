package sessions

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"
)

// The writer never checkpoints (a commit that copies the log into the
// database and fsyncs it stalls every socket's events behind it); the
// Store's checkpointer does, beside it, and keeps the write-ahead log from
// growing: after each round of writing, once it has caught up, the next
// commit starts the log over.
func TestCheckpointerKeepsTheLogSmallWithoutTheWriter(t *testing.T) {
	defer func(d time.Duration) { checkpointEvery = d }(checkpointEvery)
	checkpointEvery = 10 * time.Millisecond
	path := t.TempDir() + "/sockplay.db"
	st := mustOpenAt(t, path)
	rec := newRecorder(t, st, nil, RecorderConfig{})
	id := mustCreate(t, st, "wal").ID
	ctx := context.Background()

	var auto int
	if err := st.db.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&auto); err != nil || auto != 0 {
		t.Fatalf("wal_autocheckpoint = %d (%v), want 0: commits must not checkpoint", auto, err)
	}
	const rounds, perRound, size = 12, 400, 2048 // 12 × 0.8 MB of incompressible data
	written := 0
	for r := range rounds {
		for i := range perRound {
			ev := recvEvent(id, "c", r*perRound+i)
			ev.Data = make([]byte, size)
			rand.Read(ev.Data)
			ev.Len = size
			rec.Emit(ev)
			written += size
		}
		if err := rec.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		// Wait for a checkpoint that copied everything written so far.
		n := st.caughtUp.Load()
		deadline := time.Now().Add(30 * time.Second)
		for st.caughtUp.Load() < n+2 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the checkpointer never caught up with the log", r)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d MB written in %d rounds; the write-ahead log is %.1f MB", written>>20, rounds, float64(fi.Size())/(1<<20))
	if fi.Size() > int64(written)/3 {
		t.Errorf("the write-ahead log is %d bytes after %d written: nothing checkpointed it", fi.Size(), written)
	}
}
