package sessions

import (
	"fmt"
	"testing"
)

// A chunk is sized for its own session's events in the batch, not for the
// whole batch: a live viewer keeps a chunk's whole body as long as it keeps
// one of its events, so one small session among busy ones must not sit in
// a body sized for 256 events.
func TestChunksAreSizedForTheirSession(t *testing.T) {
	var recs []Record
	for s := range 200 { // 200 sessions with one event each, then one busy session
		recs = append(recs, Record{Seq: 1, Event: recvEvent(fmt.Sprint("quiet-", s), "c", s)})
	}
	for i := range 300 {
		recs = append(recs, Record{Seq: int64(i + 1), Event: recvEvent("busy", "c", i)})
	}
	var c chunker
	c.addAll(recs)
	for _, ch := range c.finish() {
		if n := ch.last - ch.first + 1; n == 1 && cap(ch.body) > 4*len(ch.body)+4096 {
			t.Errorf("session %s: one event of %d bytes in a body of %d", ch.session, len(ch.body), cap(ch.body))
		}
	}
}

// The pool hands out bodies near the size asked for, and keeps only a few.
func TestBodyPoolSizes(t *testing.T) {
	var p bodyPool
	p.put(make([]byte, 0, 256<<10))
	if b := p.get(1000); cap(b) > 2*1000+4096 {
		t.Errorf("get(1000) returned a body of %d bytes", cap(b))
	}
	if b := p.get(200 << 10); cap(b) != 256<<10 {
		t.Errorf("get(200 KiB) did not reuse the 256 KiB body (got %d)", cap(b))
	}
	for range 3 * maxPooledBodies {
		p.put(make([]byte, 0, 1024))
	}
	if len(p.free) != maxPooledBodies {
		t.Errorf("the pool holds %d bodies, want at most %d", len(p.free), maxPooledBodies)
	}
}
