package web

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
	"github.com/sockplay/sockplay/web/lessons"
)

// newLessons builds the lesson tracker: the configured catalog (the
// built-in lessons when none is), recorded in the store's database. It is
// nil when the store has no database (lessons are then off).
func newLessons(d Deps) *lessons.Tracker {
	cat := d.Config.Lessons
	if cat == nil {
		cat = lessons.Builtin()
	}
	db, ok := d.Store.(interface{ DB() *sql.DB })
	if !ok {
		return nil
	}
	return lessons.NewTracker(cat, db.DB(), d.Store)
}

func (s *Server) lessonTracker() (*lessons.Tracker, error) {
	if s.lessons == nil {
		return nil, &apiError{status: http.StatusServiceUnavailable, msg: "lessons are not available on this instance"}
	}
	return s.lessons, nil
}

type lessonStepView struct {
	Title string `json:"title"`
	Text  string `json:"text"`
	Do    string `json:"do"`
	Hint  string `json:"hint,omitempty"`
}

type lessonView struct {
	ID      string           `json:"id"`
	Title   string           `json:"title"`
	Summary string           `json:"summary,omitempty"`
	Intro   string           `json:"intro,omitempty"`
	Start   string           `json:"start"` // the link a tutorial sends learners to
	Steps   []lessonStepView `json:"steps"`
}

// newLessonView is l for the API, its placeholders filled from addrs
// (server name → host:port; nil leaves them).
func newLessonView(l *lessons.Lesson, addrs map[string]string) lessonView {
	v := lessonView{ID: l.ID, Title: l.Title, Summary: l.Summary, Intro: lessons.Fill(l.Intro, addrs), Start: "/start/" + l.ID,
		Steps: []lessonStepView{}}
	for _, st := range l.Steps {
		v.Steps = append(v.Steps, lessonStepView{Title: st.Title, Text: lessons.Fill(st.Text, addrs),
			Do: lessons.Fill(st.Do, addrs), Hint: lessons.Fill(st.Hint, addrs)})
	}
	return v
}

func (s *Server) handleListLessons(w http.ResponseWriter, r *http.Request) error {
	t, err := s.lessonTracker()
	if err != nil {
		return err
	}
	out := []lessonView{}
	for _, l := range t.Catalog().Lessons() {
		out = append(out, newLessonView(l, nil))
	}
	return respond(w, http.StatusOK, map[string]any{"lessons": out})
}

// errNoSuchLesson is a 404 that lists the lessons there are.
func (s *Server) errNoSuchLesson(id string) error {
	ids := "none"
	if s.lessons != nil && len(s.lessons.Catalog().IDs()) > 0 {
		ids = strings.Join(s.lessons.Catalog().IDs(), ", ")
	}
	return &apiError{status: http.StatusNotFound, msg: fmt.Sprintf("no lesson %q; lessons: %s", id, ids)}
}

func (s *Server) handleStartLesson(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.startLesson(r, chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	url := "/s/" + sess.ID
	w.Header().Set("Location", url)
	return respond(w, http.StatusCreated, map[string]string{"session": sess.ID, "url": url})
}

// startLesson creates a session that follows lesson id: its servers
// started (in order, so options can name the ones before), its faults set.
// When any of it fails, the session is deleted again and the error says why.
func (s *Server) startLesson(r *http.Request, id string) (sessions.Session, error) {
	t, err := s.lessonTracker()
	if err != nil {
		return sessions.Session{}, err
	}
	l := t.Catalog().Get(id)
	if l == nil {
		return sessions.Session{}, s.errNoSuchLesson(id)
	}
	if err := s.visitors.allowSession(r); err != nil {
		return sessions.Session{}, err
	}
	ctx := r.Context()
	if sess, ok, err := s.participantLessonSession(r); err != nil || ok {
		if err != nil {
			return sessions.Session{}, err
		}
		// A workshop participant who may have no other session: the lesson
		// runs in the one they work in, its servers beside theirs, counting
		// only what happens from now on.
		if s.lessonRunning(ctx, t, sess.ID, l) {
			// A second click (or a reload of /start): the lesson is there,
			// its servers run; starting them again would double them.
			return sess, nil
		}
		// What they did before is committed first, so that an event still
		// queued for the disk does not count for the lesson.
		if err := s.recorder.Flush(ctx); err != nil {
			return sessions.Session{}, err
		}
		if sess, err = s.store.GetSession(ctx, sess.ID); err != nil {
			return sessions.Session{}, err
		}
		if err := s.setUpLesson(ctx, t, sess, l, sess.Events); err != nil {
			return sessions.Session{}, err
		}
		s.logFor(r).Info("lesson started in the participant's session", "lesson", l.ID, "session", sess.ID, "from_seq", sess.Events)
		return sess, nil
	}
	sess, err := s.createSession(r, l.Title) // in workshop mode, the caller's own
	if err != nil {
		return sessions.Session{}, err
	}
	if err := s.setUpLesson(ctx, t, sess, l, 0); err != nil {
		if derr := s.deleteSession(context.WithoutCancel(ctx), sess); derr != nil {
			s.log.Error("delete a lesson's session that could not start", "session", sess.ID, "err", derr)
		}
		return sessions.Session{}, err
	}
	return sess, nil
}

// participantLessonSession returns, for a workshop participant who has as
// many sessions as they may (one, by default), the session they joined
// into, where a lesson they start runs; ok is false for anyone else (a new
// session is made for the lesson).
func (s *Server) participantLessonSession(r *http.Request) (_ sessions.Session, ok bool, _ error) {
	if !s.cfg.Workshop {
		return sessions.Session{}, false, nil
	}
	c, err := s.callerOf(r)
	if err != nil || c.participant == nil || c.participant.Closed || s.cfg.MaxParticipantSessions <= 0 {
		return sessions.Session{}, false, err // createSession says what is wrong, if anything
	}
	n, err := s.ws.store.CountSessionsOf(r.Context(), c.owner())
	if err != nil || n < s.cfg.MaxParticipantSessions {
		return sessions.Session{}, false, err
	}
	sess, err := s.store.GetSession(r.Context(), c.participant.SessionID)
	if errors.Is(err, sessions.ErrNotFound) {
		return sessions.Session{}, false, nil // theirs is another one: createSession refuses with the limit
	}
	return sess, err == nil, err
}

// lessonRunning says whether session already follows lesson l with every
// server of the lesson running under its name.
func (s *Server) lessonRunning(ctx context.Context, t *lessons.Tracker, session string, l *lessons.Lesson) bool {
	if cur, err := t.LessonOf(ctx, session); err != nil || cur != l.ID {
		return false
	}
	running := map[string]int{}
	for _, info := range s.lab.Servers(session) {
		if info.State == engine.StateRunning {
			running[info.Name]++
		}
	}
	for _, sv := range l.Servers {
		if running[sv.Name] == 0 {
			return false
		}
		running[sv.Name]--
	}
	return true
}

// setUpLesson makes sess follow lesson l from the event after seq from,
// and starts its servers and sets its faults.
func (s *Server) setUpLesson(ctx context.Context, t *lessons.Tracker, sess sessions.Session, l *lessons.Lesson, from int64) error {
	if err := t.FollowFrom(ctx, sess.ID, l.ID, from); err != nil {
		return err
	}
	addrs := map[string]string{}
	ids := map[string]string{}
	for _, sv := range l.Servers {
		opts := map[string]any{}
		for k, v := range sv.Options {
			if str, ok := v.(string); ok {
				v = lessons.Fill(str, addrs)
			}
			opts[k] = v
		}
		raw, err := json.Marshal(opts)
		if err != nil {
			return err
		}
		spec := engine.ServerSpec{Kind: sv.Kind, Name: sv.Name, Port: sv.Port, Options: raw}
		info, err := s.lab.StartServer(sess.ID, spec)
		if err != nil && sv.Port != 0 {
			// The lesson's port is taken (another learner's session has it):
			// a free lab port, which the steps' {NAME.port} show, beats no lesson.
			spec.Port = 0
			if info2, err2 := s.lab.StartServer(sess.ID, spec); err2 == nil {
				info, err = info2, nil
			}
		}
		if err != nil {
			return fmt.Errorf("the lesson could not start its server %s: %w", sv.Name, err)
		}
		addrs[sv.Name], ids[sv.Name] = loopback(info.Addr), info.ID
	}
	for _, f := range l.Faults {
		attrs, err := json.Marshal(f.Attributes)
		if err != nil {
			return err
		}
		if f.Attributes == nil {
			attrs = nil
		}
		if _, err := s.lab.AddFault(sess.ID, ids[f.Server], engine.FaultSpec{Name: f.Name, Type: f.Type,
			Direction: f.Direction, Toxicity: f.Toxicity, Attributes: attrs}); err != nil {
			return fmt.Errorf("the lesson could not set its %s fault on %s: %w", f.Type, f.Server, err)
		}
	}
	return nil
}

// loopback is addr with an unspecified host replaced by 127.0.0.1.
func loopback(addr string) string {
	for _, p := range []string{"0.0.0.0:", "[::]:"} {
		if rest, ok := strings.CutPrefix(addr, p); ok {
			return "127.0.0.1:" + rest
		}
	}
	return addr
}

type sessionLessonView struct {
	Lesson lessonView      `json:"lesson"`
	Steps  []lessonStepRun `json:"steps"`
	// Current is the index of the first step not done (len(steps): all done).
	Current int `json:"current"`
	// Seq is the last event evaluated: the page's live stream resumes after it.
	Seq int64 `json:"seq"`
	// Notices say where the session differs from the lesson (a port taken).
	Notices []string `json:"notices,omitempty"`
	// HintAfterMs is how long the panel waits on one step before it offers
	// the step's hint.
	HintAfterMs int64 `json:"hint_after_ms"`
}

type lessonStepRun struct {
	lessons.StepState
	Do   string `json:"do"`
	Text string `json:"text"`
	Hint string `json:"hint,omitempty"`
}

// lessonWait bounds how long GET …/lesson?wait=N holds a request open.
const lessonWait = 25 * time.Second

// maxLessonWaiters bounds the requests waiting on one session's lesson;
// past it a request is answered at once.
const maxLessonWaiters = 8

var (
	lessonWaitersMu sync.Mutex
	lessonWaiters   = map[string]int{}
)

func countDone(states []lessons.StepState) int {
	n := 0
	for _, st := range states {
		if st.Done {
			n++
		}
	}
	return n
}

// handleSessionLesson answers the lesson's progress. With ?wait=N (the
// number of steps the caller has seen done) it waits, up to lessonWait,
// until more are done: it listens to the session's live events on the hub
// and evaluates again from the store after each batch (the hub publishes
// only committed events).
func (s *Server) handleSessionLesson(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	t, err := s.lessonTracker()
	if err != nil {
		return err
	}
	wait := -1
	if v := r.URL.Query().Get("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badRequest("wait=" + v + ": give the number of steps you have seen done (0 or more)")
		}
		wait = n
	}
	var sub *sessions.Subscriber
	if wait >= 0 {
		lessonWaitersMu.Lock()
		ok := lessonWaiters[sess.ID] < maxLessonWaiters
		if ok {
			lessonWaiters[sess.ID]++
		}
		lessonWaitersMu.Unlock()
		if ok {
			defer func() {
				lessonWaitersMu.Lock()
				if lessonWaiters[sess.ID]--; lessonWaiters[sess.ID] <= 0 {
					delete(lessonWaiters, sess.ID)
				}
				lessonWaitersMu.Unlock()
			}()
			// Subscribe before evaluating: nothing committed in between is missed.
			sub = s.hub.Subscribe(sess.ID)
			defer s.hub.Unsubscribe(sub)
		}
	}
	l, states, seq, err := t.Progress(r.Context(), sess.ID)
	if sub != nil && err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), lessonWait)
		defer cancel()
		defer context.AfterFunc(s.streamsCtx, cancel)()
		for n := countDone(states); n <= wait && n < len(states); n = countDone(states) {
			if _, _, werr := sub.Next(ctx); werr != nil {
				break // timed out, the request ended or the hub closed: answer what is known
			}
			if l, states, seq, err = t.Progress(r.Context(), sess.ID); err != nil {
				break
			}
		}
	}
	if errors.Is(err, lessons.ErrNoLesson) {
		if l != nil {
			return &apiError{status: http.StatusNotFound, msg: fmt.Sprintf("this session follows the lesson %q, which is no longer loaded", l.ID)}
		}
		return &apiError{status: http.StatusNotFound, msg: "this session follows no lesson; start one with POST /api/lessons/{id}/start or /start/{id}"}
	}
	if err != nil {
		return err
	}
	addrs := map[string]string{}
	for _, info := range s.lab.Servers(sess.ID) {
		if info.Name != "" && info.State == "running" {
			addrs[info.Name] = loopback(info.Addr)
		}
	}
	lv := newLessonView(l, addrs)
	s.lessonOnLabHost(sess.ID, &lv) // a workshop's LAN -lab-host in the commands (workshop_lab.go)
	out := sessionLessonView{Lesson: lv, Steps: []lessonStepRun{}, Current: len(states), Seq: seq,
		HintAfterMs: s.cfg.LessonHintAfter.Milliseconds()}
	for _, sv := range l.Servers {
		if a, ok := addrs[sv.Name]; ok && sv.Port != 0 && !strings.HasSuffix(a, fmt.Sprintf(":%d", sv.Port)) {
			out.Notices = append(out.Notices, s.lessonPortNotice(sess.ID, sv.Port, sv.Name, a))
		}
	}
	for i, st := range states {
		out.Steps = append(out.Steps, lessonStepRun{StepState: st, Do: lv.Steps[i].Do, Text: lv.Steps[i].Text, Hint: lv.Steps[i].Hint})
		if !st.Done && out.Current == len(states) {
			out.Current = i
		}
	}
	return respond(w, http.StatusOK, out)
}

// handleStartPage is the link tutorials send learners to: it starts the
// lesson and redirects to its session's page.
//
// Being a GET that creates a session, it answers only a navigation: a page
// elsewhere that loads it as an image, a script or a fetch (Sec-Fetch-Mode
// other than navigate) is refused, so it cannot start servers unseen.
func (s *Server) handleStartPage(w http.ResponseWriter, r *http.Request) error {
	if m := r.Header.Get("Sec-Fetch-Mode"); m != "" && m != "navigate" {
		return &apiError{status: http.StatusForbidden, msg: "a lesson starts when you open its link (/start/ID) in the browser, not from a page's image, script or fetch"}
	}
	id := chi.URLParam(r, "id")
	if s.lessons != nil && s.lessons.Catalog().Get(id) == nil {
		s.lessonsPage(w, r, http.StatusNotFound, fmt.Sprintf("There is no lesson %q. These are the lessons:", id))
		return nil
	}
	sess, err := s.startLesson(r, id)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/s/"+sess.ID, http.StatusSeeOther)
	return nil
}

func (s *Server) handleLessonsPage(w http.ResponseWriter, r *http.Request) error {
	s.lessonsPage(w, r, http.StatusOK, "Pick a lesson: sockplay starts its servers in a new session and shows each step as you do it.")
	return nil
}

var lessonsPageTmpl = template.Must(template.New("lessons").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lessons · sockplay</title><link rel="stylesheet" href="/static/style.css"><link rel="stylesheet" href="/static/lesson.css"></head>
<body><main class="lesson-list"><h1>Lessons</h1><p>{{.Msg}}</p>
<ul>{{range .Lessons}}<li><a href="/start/{{.ID}}">{{.Title}}</a>{{if .Summary}} — {{.Summary}}{{end}} <small>({{len .Steps}} steps)</small></li>
{{else}}<li>No lessons are loaded.</li>{{end}}</ul><p><a href="/">Back to sockplay</a></p></main></body></html>
`))

func (s *Server) lessonsPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	var list []*lessons.Lesson
	if s.lessons != nil {
		list = s.lessons.Catalog().Lessons()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := lessonsPageTmpl.Execute(w, map[string]any{"Msg": msg, "Lessons": list}); err != nil {
		s.log.Error("render lessons page", "err", err)
	}
}
