package sessions

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"unsafe"

	"github.com/sockplay/sockplay/engine"
)

// Events are stored in chunks: one row holds a run of consecutive events of
// one session as a JSON array of the event JSON of docs/events.md (the same bytes
// the live stream and the API send). A row per event cost the recorder
// binding fifteen parameters and a B-tree insert per event, which held a
// 64-byte echo to under half the speed of a bare one; a chunk costs one
// insert per run of events. The view `events` (migration 2) still offers
// one row per event to anyone reading the database with SQL.
//
// Limits of one chunk: a page read for one event decodes at most this much.
const (
	chunkMaxEvents = 256
	chunkMaxBytes  = 256 << 10
)

// chunk is one row of event_chunks.
type chunk struct {
	session         string
	first, last     int64 // seqs
	firstAt, lastAt int64 // Unix nanoseconds
	body            []byte
	// lifecycle is a JSON array of the chunk's events that RecordedServers
	// reads (server-start, server-stop, connect), or nil: a second copy of
	// a few small events, so that listing a session's servers reads these
	// instead of every event of the chunks that hold them.
	lifecycle []byte
}

// isLifecycle reports whether RecordedServers needs events of kind k.
func isLifecycle(k engine.Kind) bool {
	return k == engine.KindServerStart || k == engine.KindServerStop || k == engine.KindConnect
}

// chunker cuts numbered records into chunks. Each record's cached JSON is a
// slice of its chunk's body, so encoding happens once for storage and for
// every live subscriber.
type chunker struct {
	open    map[string]*chunk // per session, the chunk being filled
	chunks  []*chunk          // in order of opening
	left    map[string]int    // per session, records still to add (addAll)
	scratch []byte            // the first record of a new chunk, to size it
	pool    *bodyPool         // optional: bodies to reuse
}

// bodyPool keeps chunk bodies nobody references any more (their events were
// stored and no live viewer kept them) for the next batches: a flood then
// costs the garbage collector no body per chunk. Writer goroutine only.
type bodyPool struct{ free [][]byte }

// maxPooledBodies bounds the pool (each body is at most about
// chunkMaxBytes).
const maxPooledBodies = 16

// get returns an empty body with room for at least n bytes and not much
// more: a live viewer may keep the body as long as it keeps one of its
// events, so a small chunk must not sit in a large body.
func (p *bodyPool) get(n int) []byte {
	if p != nil {
		for i := len(p.free) - 1; i >= 0; i-- {
			if b := p.free[i]; cap(b) >= n && cap(b) <= 2*n+4096 {
				p.free[i] = p.free[len(p.free)-1]
				p.free = p.free[:len(p.free)-1]
				return b[:0]
			}
		}
	}
	return make([]byte, 0, n)
}

// put returns b for reuse (replacing the oldest when the pool is full). The
// caller guarantees that nothing refers to it.
func (p *bodyPool) put(b []byte) {
	if p == nil || cap(b) > 2*chunkMaxBytes {
		return
	}
	if len(p.free) >= maxPooledBodies {
		copy(p.free, p.free[1:])
		p.free = p.free[:len(p.free)-1]
	}
	p.free = append(p.free, b[:0])
}

// addAll adds recs (numbered, in order) with add.
func (c *chunker) addAll(recs []Record) {
	if c.left == nil {
		c.left = map[string]int{}
	}
	clear(c.left)
	for i := range recs {
		c.left[recs[i].Session]++
	}
	for i := range recs {
		s := recs[i].Session
		c.left[s]--
		c.add(&recs[i], c.left[s])
	}
}

// add appends rec (numbered) to its session's open chunk, starting a new
// chunk when that one is full or rec's seq does not follow it. more is how
// many records of rec's session follow in this batch: a hint for sizing a
// new chunk.
func (c *chunker) add(rec *Record, more int) {
	ch := c.open[rec.Session]
	if ch != nil && (ch.last-ch.first+1 >= chunkMaxEvents || len(ch.body) >= chunkMaxBytes || rec.Seq != ch.last+1) {
		ch = nil
	}
	at := rec.At.UnixNano()
	start := 1
	if ch == nil {
		ch = &chunk{session: rec.Session, first: rec.Seq, firstAt: at}
		c.scratch = appendRecord(append(c.scratch[:0], '['), rec)
		// Size the chunk for the events likely to follow, alike in size to
		// this one, rather than grow it by doubling.
		n := len(c.scratch)
		ch.body = append(c.pool.get(min(chunkMaxBytes+n, n*min(chunkMaxEvents, 1+more)*9/8+64)), c.scratch...)
		if c.open == nil {
			c.open = map[string]*chunk{}
		}
		c.open[rec.Session] = ch
		c.chunks = append(c.chunks, ch)
	} else {
		ch.body = append(ch.body, ',')
		start = len(ch.body)
		ch.body = appendRecord(ch.body, rec)
	}
	ch.last, ch.lastAt = rec.Seq, at
	// Cap the slice: appending to the body later must not write into it
	// (and if the body grows, the record keeps its own bytes).
	rec.raw = ch.body[start:len(ch.body):len(ch.body)]
	if isLifecycle(rec.Kind) {
		if ch.lifecycle == nil {
			ch.lifecycle = []byte{'['}
		} else {
			ch.lifecycle = append(ch.lifecycle, ',')
		}
		ch.lifecycle = append(ch.lifecycle, rec.raw...)
	}
}

// finish closes every chunk's JSON arrays and returns the chunks.
func (c *chunker) finish() []*chunk {
	for _, ch := range c.chunks {
		ch.body = append(ch.body, ']')
		if ch.lifecycle != nil {
			ch.lifecycle = append(ch.lifecycle, ']')
		}
	}
	return c.chunks
}

// decodeChunk returns the records of a stored chunk of seqs first..last,
// keeping only seqs in (after, before) (before <= 0: no upper bound). Each
// record keeps its stored JSON, so serving it costs no re-encoding. A chunk
// that does not hold exactly its seqs is an error, never a silent hole.
func decodeChunk(session string, first, last int64, body []byte, after, before int64) ([]Record, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		return nil, fmt.Errorf("chunk of %s at seq %d: %w", session, first, err)
	}
	if int64(len(raws)) != last-first+1 {
		return nil, fmt.Errorf("chunk of %s at seqs %d..%d holds %d events", session, first, last, len(raws))
	}
	out := make([]Record, 0, len(raws))
	for i, raw := range raws {
		seq := first + int64(i)
		if seq <= after || (before > 0 && seq >= before) {
			continue
		}
		var r Record
		if err := r.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("chunk of %s: seq %d: %w", session, seq, err)
		}
		if r.Seq != seq || r.Session != session {
			return nil, fmt.Errorf("chunk of %s at seq %d: event %d says session %q seq %d", session, first, i, r.Session, r.Seq)
		}
		r.raw = raw
		out = append(out, r)
	}
	return out, nil
}

// decodeLifecycle returns the events of a chunk's lifecycle array.
func decodeLifecycle(session string, list []byte) ([]Record, error) {
	var raws []json.RawMessage
	if err := json.Unmarshal(list, &raws); err != nil {
		return nil, fmt.Errorf("lifecycle events of %s: %w", session, err)
	}
	out := make([]Record, len(raws))
	for i, raw := range raws {
		if err := out[i].UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("lifecycle events of %s: %w", session, err)
		}
		if out[i].Session != session {
			return nil, fmt.Errorf("lifecycle events of %s: an event of session %q", session, out[i].Session)
		}
	}
	return out, nil
}

// insertChunkSQL stores one chunk.
const insertChunkSQL = `INSERT INTO event_chunks (session_id, first_seq, last_seq, first_at, last_at, lifecycle, events)
	VALUES (?, ?, ?, ?, ?, ?, ?)`

// insertChunks stores chunks in tx.
func insertChunks(ctx context.Context, tx *sql.Tx, chunks []*chunk) error {
	if len(chunks) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, insertChunkSQL)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	defer stmt.Close()
	for _, ch := range chunks {
		// The body is bound as text (the view reads it with SQLite's JSON
		// functions, which take a blob for JSONB) without copying it to a
		// Go string first. This relies on modernc.org/sqlite copying bound
		// text into SQLite's memory (its bindText does) and on the body not
		// changing while ExecContext runs; the pool may reuse it after.
		var lifecycle any // NULL
		if ch.lifecycle != nil {
			lifecycle = string(ch.lifecycle)
		}
		if _, err := stmt.ExecContext(ctx, ch.session, ch.first, ch.last, ch.firstAt, ch.lastAt, lifecycle,
			unsafe.String(unsafe.SliceData(ch.body), len(ch.body))); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
	}
	return nil
}
