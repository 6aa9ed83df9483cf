package sessions

import (
	"encoding/json"
	"fmt"

	"github.com/sockplay/sockplay/engine"
)

// Events are stored in chunks: one row holds a run of consecutive events of
// one session as a JSON array of the event JSON of DESIGN.md (the same bytes
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
	lifecycle       int   // events that RecordedServers reads
	body            []byte
}

// isLifecycle reports whether RecordedServers needs events of kind k.
func isLifecycle(k engine.Kind) bool {
	return k == engine.KindServerStart || k == engine.KindServerStop || k == engine.KindConnect
}

// chunker cuts numbered records into chunks. Each record's cached JSON is a
// slice of its chunk's body, so encoding happens once for storage and for
// every live subscriber.
type chunker struct {
	open   map[string]*chunk // per session, the chunk being filled
	chunks []*chunk          // in order of opening
}

// add appends rec (numbered) to its session's open chunk, starting a new
// chunk when that one is full or rec's seq does not follow it. more is how
// many records may follow in this batch: a hint for sizing a new chunk.
func (c *chunker) add(rec *Record, more int) {
	ch := c.open[rec.Session]
	if ch != nil && (ch.last-ch.first+1 >= chunkMaxEvents || len(ch.body) >= chunkMaxBytes || rec.Seq != ch.last+1) {
		ch = nil
	}
	at := rec.At.UnixNano()
	start := 1
	if ch == nil {
		ch = &chunk{session: rec.Session, first: rec.Seq, firstAt: at}
		ch.body = appendRecord(append(make([]byte, 0, 1024), '['), rec)
		// Size the chunk for the events likely to follow, alike in size to
		// this one, rather than grow it by doubling.
		if want := min(chunkMaxBytes+len(ch.body), len(ch.body)*min(chunkMaxEvents, 1+more)*9/8+64); want > cap(ch.body) {
			ch.body = append(make([]byte, 0, want), ch.body...)
		}
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
	if isLifecycle(rec.Kind) {
		ch.lifecycle++
	}
	// Cap the slice: appending to the body later must not write into it
	// (and if the body grows, the record keeps its own bytes).
	rec.raw = ch.body[start:len(ch.body):len(ch.body)]
}

// finish closes every chunk's JSON array and returns the chunks.
func (c *chunker) finish() []*chunk {
	for _, ch := range c.chunks {
		ch.body = append(ch.body, ']')
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
