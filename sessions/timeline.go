package sessions

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// Bucket is one stretch of a session's timeline: how many events happened
// in [From, To) and how many of them carry an error, and the first seq in
// it (for seeking there).
type Bucket struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Events   int64     `json:"events"`
	Errors   int64     `json:"errors"`
	FirstSeq int64     `json:"first_seq,omitempty"`
}

// MaxBuckets bounds one timeline.
const MaxBuckets = 2000

// Timeline cuts a session's time span into n equal buckets (1..MaxBuckets)
// and counts events and errors in each, from the chunks' counts alone:
// nothing is decoded, so a million-event session costs a few thousand rows
// read. A chunk's events are spread evenly over its time span (a chunk is
// at most 256 events, so a bucket is off by at most that many). An empty
// session has no buckets.
func (s *Store) Timeline(ctx context.Context, session string, n int) ([]Bucket, error) {
	if n < 1 || n > MaxBuckets {
		return nil, fmt.Errorf("%w: a timeline has 1 to %d buckets, not %d", ErrInvalid, MaxBuckets, n)
	}
	var lo, hi int64
	var count int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MIN(first_at), 0), COALESCE(MAX(last_at), 0)
		FROM event_chunks WHERE session_id = ?`, session).Scan(&count, &lo, &hi); err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", session, err)
	}
	if count == 0 {
		return []Bucket{}, nil
	}
	span := hi - lo + 1
	width := (span + int64(n) - 1) / int64(n)
	out := make([]Bucket, n)
	for i := range out {
		out[i].From = time.Unix(0, lo+int64(i)*width).UTC()
		out[i].To = time.Unix(0, lo+int64(i+1)*width).UTC()
	}
	bucketOf := func(at int64) int { return min(int((at-lo)/width), n-1) }
	rows, err := s.db.QueryContext(ctx, `SELECT first_seq, last_seq, first_at, last_at, errors FROM event_chunks
		WHERE session_id = ? ORDER BY first_seq`, session)
	if err != nil {
		return nil, fmt.Errorf("timeline of %s: %w", session, err)
	}
	defer rows.Close()
	for rows.Next() {
		var first, last, firstAt, lastAt, errs int64
		if err := rows.Scan(&first, &last, &firstAt, &lastAt, &errs); err != nil {
			return nil, fmt.Errorf("timeline of %s: %w", session, err)
		}
		events := last - first + 1
		b0, b1 := bucketOf(firstAt), bucketOf(max(lastAt, firstAt))
		if out[b0].FirstSeq == 0 {
			out[b0].FirstSeq = first
		}
		// Spread the chunk's events (and errors) over the buckets it spans.
		parts := int64(b1 - b0 + 1)
		for b := b0; b <= b1; b++ {
			k := int64(b - b0)
			out[b].Events += events*(k+1)/parts - events*k/parts
			out[b].Errors += errs*(k+1)/parts - errs*k/parts
			if out[b].FirstSeq == 0 {
				out[b].FirstSeq = first + events*k/parts
			}
		}
	}
	return out, rows.Err()
}

// SeqAt returns the seq of the first event of session at or after t, or 0
// when there is none (t is past the last event): where a replay seeks to.
// Events are numbered in the order they were recorded, which follows their
// times closely; SeqAt reads one chunk.
func (s *Store) SeqAt(ctx context.Context, session string, t time.Time) (int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT first_seq, last_seq, events FROM event_chunks
		WHERE session_id = ? AND last_at >= ? ORDER BY last_at LIMIT 1`, session, t.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("seek in %s: %w", session, err)
	}
	defer rows.Close()
	if !rows.Next() {
		return 0, rows.Err()
	}
	var first, last int64
	var body []byte
	if err := rows.Scan(&first, &last, &body); err != nil {
		return 0, fmt.Errorf("seek in %s: %w", session, err)
	}
	found := int64(0)
	errFound := fmt.Errorf("found")
	err = eachTail(session, first, last, body, 0, 0, func(seq int64, tail []byte) error {
		at, ok := TailTime(tail)
		if !ok {
			return fmt.Errorf("seek in %s: seq %d has no readable time", session, seq)
		}
		if !at.Before(t) {
			found = seq
			return errFound
		}
		return nil
	})
	if err != nil && err != errFound {
		return 0, err
	}
	if found == 0 {
		found = last // the chunk's last event is at or after t by its last_at
	}
	return found, nil
}

// TailTime reads the "at" of a stored event tail (RawEvent.Tail) without
// decoding the rest, for a reader that forwards stored bytes as they are:
// appendTail writes the session, server and conn strings (in which a quote
// is escaped) and then `,"at":"`.
func TailTime(tail []byte) (time.Time, bool) {
	const key = `,"at":"`
	i := bytes.Index(tail, []byte(key))
	if i < 0 {
		return time.Time{}, false
	}
	rest := tail[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return time.Time{}, false
	}
	at, err := parseTime(string(rest[:j]))
	return at, err == nil
}
