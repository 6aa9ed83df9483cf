package lessons

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"github.com/sockplay/sockplay/sessions"
)

// Scanner streams a session's recorded events with seq > after, oldest
// first (sessions.Store.Scan).
type Scanner interface {
	Scan(ctx context.Context, session string, after int64, fn func(r *sessions.Record) error) error
}

// StepState is how far a session is with one step.
type StepState struct {
	Title string `json:"title"`
	Done  bool   `json:"done"`
	// DoneAtSeq is the seq of the first event at which the step's check
	// held (after the step before it was done); 0 while not done.
	DoneAtSeq int64 `json:"done_at_seq"`
}

// Tracker remembers which lesson each session follows (table
// session_lessons) and evaluates its progress from the recording: a step is
// done at the first event where its check holds, in order, each event
// completing at most one step. It scans only the events it has not seen yet,
// so asking often is cheap, and a reload or replay sees the same progress.
type Tracker struct {
	cat  *Catalog
	db   *sql.DB
	scan Scanner

	mu    sync.Mutex
	cache map[string]*progress
}

type progress struct {
	mu      sync.Mutex
	lesson  string
	lastSeq int64
	next    int // the step being waited for
	doneAt  []int64
	eval    *evaluator
}

// maxCached bounds the sessions whose progress is kept in memory; one
// forgotten is evaluated again from its first event when asked.
const maxCached = 1024

// NewTracker returns a tracker of cat's lessons, storing in db (migrated
// with table session_lessons) and reading events through scan.
func NewTracker(cat *Catalog, db *sql.DB, scan Scanner) *Tracker {
	return &Tracker{cat: cat, db: db, scan: scan, cache: map[string]*progress{}}
}

// Catalog returns the lessons.
func (t *Tracker) Catalog() *Catalog { return t.cat }

// Follow records that session follows lesson, from its first event.
func (t *Tracker) Follow(ctx context.Context, session, lesson string) error {
	return t.FollowFrom(ctx, session, lesson, 0)
}

// FollowFrom records that session follows lesson from the event after seq
// from: what the session recorded before does not count for the steps (a
// workshop participant starting a lesson in the session they work in).
func (t *Tracker) FollowFrom(ctx context.Context, session, lesson string, from int64) error {
	_, err := t.db.ExecContext(ctx, `INSERT INTO session_lessons (session_id, lesson_id, from_seq) VALUES (?, ?, ?)
		ON CONFLICT (session_id) DO UPDATE SET lesson_id = excluded.lesson_id, from_seq = excluded.from_seq`, session, lesson, from)
	t.mu.Lock()
	delete(t.cache, session)
	t.mu.Unlock()
	return err
}

// LessonOf returns the id of the lesson session follows ("" for none).
func (t *Tracker) LessonOf(ctx context.Context, session string) (string, error) {
	id, _, err := t.lessonOf(ctx, session)
	return id, err
}

// lessonOf is LessonOf and the seq the lesson counts events after.
func (t *Tracker) lessonOf(ctx context.Context, session string) (id string, from int64, err error) {
	err = t.db.QueryRowContext(ctx, `SELECT lesson_id, from_seq FROM session_lessons WHERE session_id = ?`, session).Scan(&id, &from)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, nil
	}
	return id, from, err
}

// ErrNoLesson is returned by Progress for a session that follows no lesson
// (or one no longer loaded: lesson is then its id).
var ErrNoLesson = errors.New("this session follows no lesson")

// Progress evaluates session's lesson up to its last recorded event; seq is
// the last event evaluated (0: none yet).
func (t *Tracker) Progress(ctx context.Context, session string) (_ *Lesson, _ []StepState, seq int64, _ error) {
	id, from, err := t.lessonOf(ctx, session)
	if err != nil {
		return nil, nil, 0, err
	}
	l := t.cat.Get(id)
	if l == nil {
		t.mu.Lock()
		delete(t.cache, session)
		t.mu.Unlock()
		if id != "" {
			return &Lesson{ID: id}, nil, 0, ErrNoLesson
		}
		return nil, nil, 0, ErrNoLesson
	}
	t.mu.Lock()
	p := t.cache[session]
	if p == nil || p.lesson != id {
		if len(t.cache) >= maxCached {
			for k := range t.cache { // forget one at random
				delete(t.cache, k)
				break
			}
		}
		p = &progress{lesson: id, lastSeq: from, doneAt: make([]int64, len(l.Steps)), eval: newEvaluator()}
		t.cache[session] = p
	}
	t.mu.Unlock()

	p.mu.Lock()
	defer p.mu.Unlock()
	// Once every step is done there is nothing left to evaluate.
	if p.next < len(l.Steps) {
		err := t.scan.Scan(ctx, session, p.lastSeq, func(r *sessions.Record) error {
			p.lastSeq = r.Seq
			p.eval.observe(&r.Event)
			if p.next < len(l.Steps) && l.Steps[p.next].Check.holds(p.eval, &r.Event) {
				p.doneAt[p.next] = r.Seq
				p.next++
			}
			return nil
		})
		if err != nil {
			return nil, nil, 0, err
		}
	}
	out := make([]StepState, len(l.Steps))
	for i, st := range l.Steps {
		out[i] = StepState{Title: st.Title, Done: p.doneAt[i] > 0, DoneAtSeq: p.doneAt[i]}
	}
	return l, out, p.lastSeq, nil
}
