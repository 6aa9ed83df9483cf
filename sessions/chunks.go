package sessions

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"

	"github.com/klauspost/compress/s2"
	"modernc.org/sqlite"

	"github.com/sockplay/sockplay/engine"
)

// Events are stored in chunks: one row of event_chunks holds a run of
// consecutive events of one session. A row per event cost the recorder
// fifteen bound parameters and a B-tree insert per event; a chunk costs one
// insert per run of events.
//
// The stored form of a chunk (migration 4) is its events' JSON tails, one a
// line, compressed with S2: an event's tail is its event JSON (docs/events.md)
// without the leading `{"seq":N,` — a seq is first_seq plus the line's index,
// so the bytes can be made before the writer numbers the event, in the
// goroutine that emits it, and the single writer only numbers, copies and
// writes. Reading gives back exactly the bytes the live stream sent. S2 was
// measured against zstd on 1024 flood events: zstd made 5 bytes an
// event at 1.1 GB/s, S2 13 bytes at 5.2 GB/s; the writer is the serial stage,
// so S2. The format byte leaves room for another codec.
//
// The view `events` (one row per event, for reading the database with SQL
// from sockplay's own process) decodes chunks with the SQL function
// sockplay_events(first_seq, events), registered with the driver below.
const (
	chunkMaxEvents = 256
	chunkMaxBytes  = 256 << 10 // uncompressed tails
)

// Formats of a stored chunk body (its first byte).
const (
	chunkPlain byte = 'j' // newline-separated tails, not compressed
	chunkS2    byte = 's' // the same, S2-compressed
)

// chunk is one row of event_chunks.
type chunk struct {
	session         string
	first, last     int64  // seqs
	firstAt, lastAt int64  // Unix nanoseconds
	raw             []byte // the tails, one a line (from the writer's scratch)
	errors          int    // events with an error: the replay timeline marks them without decoding
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

// chunker cuts numbered records (whose tails are made) into chunks. It
// keeps its buffers from one batch to the next: the records hold their own
// tails, so nothing refers to a chunk's bytes once it is written.
type chunker struct {
	open   map[string]*chunk // per session, the chunk being filled
	chunks []*chunk          // in order of opening
	free   []*chunk          // chunks of earlier batches, to reuse
	packed []byte            // compression scratch
}

// reset forgets the chunks of the last batch, keeping their memory.
func (c *chunker) reset() {
	for _, ch := range c.chunks {
		raw := ch.raw[:0]
		*ch = chunk{raw: raw}
		c.free = append(c.free, ch)
	}
	c.chunks = c.chunks[:0]
	clear(c.open)
}

// addAll adds recs (numbered, in order).
func (c *chunker) addAll(recs []Record) {
	for i := range recs {
		c.add(&recs[i])
	}
}

// add appends rec (numbered, with its tail) to its session's open chunk,
// starting a new chunk when that one is full or rec's seq does not follow it.
func (c *chunker) add(rec *Record) {
	ch := c.open[rec.Session]
	if ch != nil && (ch.last-ch.first+1 >= chunkMaxEvents || len(ch.raw) >= chunkMaxBytes || rec.Seq != ch.last+1) {
		ch = nil
	}
	at := rec.At.UnixNano()
	if ch == nil {
		if n := len(c.free); n > 0 {
			ch = c.free[n-1]
			c.free = c.free[:n-1]
		} else {
			ch = &chunk{}
		}
		ch.session, ch.first, ch.firstAt = rec.Session, rec.Seq, at
		if c.open == nil {
			c.open = map[string]*chunk{}
		}
		c.open[rec.Session] = ch
		c.chunks = append(c.chunks, ch)
	}
	ch.raw = append(append(ch.raw, rec.Tail()...), '\n')
	ch.last, ch.lastAt = rec.Seq, at
	if rec.Err != nil {
		ch.errors++
	}
	if isLifecycle(rec.Kind) {
		if ch.lifecycle == nil {
			ch.lifecycle = []byte{'['}
		} else {
			ch.lifecycle = append(ch.lifecycle, ',')
		}
		ch.lifecycle = rec.AppendJSON(ch.lifecycle)
	}
}

// finish closes every chunk's lifecycle array and returns the chunks.
func (c *chunker) finish() []*chunk {
	for _, ch := range c.chunks {
		if ch.lifecycle != nil {
			ch.lifecycle = append(ch.lifecycle, ']')
		}
	}
	return c.chunks
}

// A stored body is a format byte, the CRC-32C of the tails (so that a
// damaged chunk is an error on every read, never bytes served as events,
// even by the paths that send stored bytes without decoding them), then the
// tails, compressed or not.
const bodyHeader = 5

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeBody returns the stored form of raw tails, in dst's memory:
// compressed unless that saves nothing (a single small event).
func encodeBody(dst, raw []byte) []byte {
	n := bodyHeader + s2.MaxEncodedLen(len(raw))
	if cap(dst) < n {
		dst = make([]byte, 0, n)
	}
	dst = dst[:n]
	dst[0] = chunkS2
	binary.LittleEndian.PutUint32(dst[1:bodyHeader], crc32.Checksum(raw, castagnoli))
	packed := s2.Encode(dst[bodyHeader:], raw)
	if len(packed) >= len(raw) {
		dst[0] = chunkPlain
		return append(dst[:bodyHeader], raw...)
	}
	return dst[:bodyHeader+len(packed)]
}

// decodeBody returns the tails of a stored chunk body, one a line, in
// scratch's memory if it is large enough.
func decodeBody(body []byte, scratch []byte) ([]byte, error) {
	if len(body) < bodyHeader {
		return nil, errors.New("the chunk is cut short")
	}
	var raw []byte
	switch body[0] {
	case chunkPlain:
		raw = body[bodyHeader:]
	case chunkS2:
		n, err := s2.DecodedLen(body[bodyHeader:])
		if err != nil {
			return nil, fmt.Errorf("compressed chunk: %w", err)
		}
		if cap(scratch) < n {
			scratch = make([]byte, n)
		}
		if raw, err = s2.Decode(scratch[:n], body[bodyHeader:]); err != nil {
			return nil, fmt.Errorf("compressed chunk: %w", err)
		}
	default:
		return nil, fmt.Errorf("chunk in an unknown format %q (written by a newer sockplay?)", body[0])
	}
	if crc32.Checksum(raw, castagnoli) != binary.LittleEndian.Uint32(body[1:bodyHeader]) {
		return nil, errors.New("the chunk is damaged (its checksum does not match)")
	}
	return raw, nil
}

// eachTail calls fn with the seq and tail of each event of a stored chunk
// of seqs first..last whose seq is in (after, before) (before <= 0: no upper
// bound). The tail is valid during the call only. A chunk that does not hold
// exactly its seqs is an error, never a silent hole (last < 0: not checked).
func eachTail(session string, first, last int64, body []byte, after, before int64, fn func(seq int64, tail []byte) error) error {
	tails, err := decodeBody(body, nil)
	if err != nil {
		return fmt.Errorf("chunk of %s at seq %d: %w", session, first, err)
	}
	seq := first
	for len(tails) > 0 {
		i := bytes.IndexByte(tails, '\n')
		if i < 0 {
			return fmt.Errorf("chunk of %s at seq %d: the last event is cut short", session, first)
		}
		if last >= 0 && seq > last {
			return fmt.Errorf("chunk of %s at seqs %d..%d holds more events", session, first, last)
		}
		if seq > after && (before <= 0 || seq < before) {
			if err := fn(seq, tails[:i]); err != nil {
				return err
			}
		}
		tails = tails[i+1:]
		seq++
	}
	if last >= 0 && seq != last+1 {
		return fmt.Errorf("chunk of %s at seqs %d..%d holds %d events", session, first, last, seq-first)
	}
	return nil
}

// decodeChunk returns the records of a stored chunk of seqs first..last,
// keeping only seqs in (after, before) (before <= 0: no upper bound). Each
// record keeps its stored tail, so serving it costs no re-encoding.
func decodeChunk(session string, first, last int64, body []byte, after, before int64) ([]Record, error) {
	out := make([]Record, 0, last-first+1)
	err := eachTail(session, first, last, body, after, before, func(seq int64, tail []byte) error {
		r, err := recordFromTail(seq, bytes.Clone(tail))
		if err != nil {
			return fmt.Errorf("chunk of %s: seq %d: %w", session, seq, err)
		}
		if r.Session != session {
			return fmt.Errorf("chunk of %s at seq %d: event %d says session %q", session, first, seq, r.Session)
		}
		out = append(out, r)
		return nil
	})
	return out, err
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
const insertChunkSQL = `INSERT INTO event_chunks (session_id, first_seq, last_seq, first_at, last_at, errors, lifecycle, events)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// insertChunks compresses chunks and stores them in tx.
// stored, if not nil, gets each session's bytes as stored (the packed
// bodies' lengths: what the disk budget counts).
func (c *chunker) insertChunks(ctx context.Context, tx *sql.Tx, chunks []*chunk, stored map[string]int64) error {
	if len(chunks) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, insertChunkSQL)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	defer stmt.Close()
	for _, ch := range chunks {
		var lifecycle any // NULL
		if ch.lifecycle != nil {
			lifecycle = string(ch.lifecycle)
		}
		// modernc.org/sqlite copies a bound blob into SQLite's memory, so
		// the scratch is free again when ExecContext returns.
		c.packed = encodeBody(c.packed, ch.raw)
		if _, err := stmt.ExecContext(ctx, ch.session, ch.first, ch.last, ch.firstAt, ch.lastAt, ch.errors, lifecycle, c.packed); err != nil {
			return fmt.Errorf("insert events: %w", err)
		}
		if stored != nil {
			stored[ch.session] += int64(len(c.packed))
		}
	}
	return nil
}

// sqlEvents is the SQL function sockplay_events(first_seq, events): the
// chunk's events as a JSON array of the event JSON, for the events view.
func sqlEvents(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	if len(args) != 2 {
		return nil, errors.New("sockplay_events(first_seq, events) takes two arguments")
	}
	first, ok := args[0].(int64)
	if !ok {
		return nil, errors.New("sockplay_events: first_seq is not an integer")
	}
	var body []byte
	switch v := args[1].(type) {
	case []byte:
		body = v
	case string:
		body = []byte(v)
	default:
		return nil, errors.New("sockplay_events: events is not a blob")
	}
	out := []byte{'['}
	err := eachTail("", first, -1, body, 0, 0, func(seq int64, tail []byte) error {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = appendSeq(out, seq)
		out = append(out, tail...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return string(append(out, ']')), nil
}

func init() {
	if err := sqlite.RegisterDeterministicScalarFunction("sockplay_events", 2, sqlEvents); err != nil {
		panic("register sockplay_events: " + err.Error())
	}
}

// appendSeq appends `{"seq":N,`, the head of an event's JSON before its tail.
func appendSeq(b []byte, seq int64) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, seq, 10)
	return append(b, ',')
}
