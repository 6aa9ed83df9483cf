package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// WorkshopStore is what workshop mode needs of the recording besides Store
// (sessions.Store has it all).
type WorkshopStore interface {
	CreateWorkshop(ctx context.Context, name string, expires time.Time) (sessions.Workshop, error)
	Workshops(ctx context.Context) ([]sessions.Workshop, error)
	GetWorkshop(ctx context.Context, id string) (sessions.Workshop, error)
	WorkshopByCode(ctx context.Context, code string) (sessions.Workshop, error)
	Participants(ctx context.Context, workshopID string) ([]sessions.Participant, error)
	ParticipantRows(ctx context.Context, workshopID string) ([]sessions.ParticipantRow, error)
	ParticipantByToken(ctx context.Context, tokenHash string) (sessions.Participant, error)
	Join(ctx context.Context, w sessions.Workshop, name, oldHash, newHash string) (sessions.Participant, sessions.Session, error)
	CreateSessionFor(ctx context.Context, name, owner string) (sessions.Session, error)
	ListSessionsOf(ctx context.Context, owner, before string, limit int) ([]sessions.Session, string, error)
	CountSessionsOf(ctx context.Context, owner string) (int, error)
	EndWorkshop(ctx context.Context, id string) (sessions.Workshop, error)
	SetWorkshopFrozen(ctx context.Context, id string, frozen bool) (sessions.Workshop, error)
	SetWorkshopMessage(ctx context.Context, id, msg string) (sessions.Workshop, error)
	SetWorkshopFaults(ctx context.Context, id string, faults []sessions.WorkshopFault) (sessions.Workshop, error)
	WorkshopOfSession(ctx context.Context, session string) (sessions.Workshop, sessions.Participant, error)
	WorkshopSessions(ctx context.Context, id string) ([]sessions.SessionOf, error)
	ExpiredSessions(ctx context.Context, cutoff time.Time) ([]string, error)
	SetWorkshopSpotlight(ctx context.Context, id, session, token string) (sessions.Workshop, error)
}

// Workshop mode's defaults (Config fields left zero).
const (
	defaultInstructorTTL        = 12 * time.Hour
	defaultJoinsPerMinute       = 30
	defaultParticipantSessions  = 1
	participantCookieAge        = 30 * 24 * time.Hour
	loginsPerMinute, loginBurst = 6, 5
	loginsPerMinuteAll          = 60
)

// workshopState is workshop mode's part of the Server.
type workshopState struct {
	store       WorkshopStore
	instructors *instructors
	logins      *limiter
	joins       *limiter
	live        *workshopLive
}

func newWorkshopState(store Store, cfg *Config) *workshopState {
	if cfg.InstructorTTL <= 0 {
		cfg.InstructorTTL = defaultInstructorTTL
	}
	if cfg.JoinsPerMinute == 0 {
		cfg.JoinsPerMinute = defaultJoinsPerMinute
	}
	if cfg.MaxParticipantSessions == 0 {
		cfg.MaxParticipantSessions = defaultParticipantSessions
	}
	ws := &workshopState{instructors: &instructors{ttl: cfg.InstructorTTL, tokens: map[[32]byte]time.Time{}},
		logins: newLimiter(loginsPerMinute, loginBurst, loginsPerMinuteAll, "log-in attempts"),
		joins:  newLimiter(cfg.JoinsPerMinute, cfg.JoinsPerMinute, 0, "attempts to join"), live: newWorkshopLive()}
	ws.store, _ = store.(WorkshopStore)
	if cfg.Workshop && ws.store == nil {
		panic("web: workshop mode needs a store with workshops (sessions.Store)")
	}
	return ws
}

var errWorkshopOff = &apiError{status: http.StatusNotFound, msg: "workshop mode is off: start sockplay with -workshop to run a workshop"}

var errWorkshopEnded = &apiError{status: http.StatusForbidden, msg: "this workshop has ended: your sessions are read-only now (you can still open them and read their events)"}

var errInstructorOnly = &apiError{status: http.StatusUnauthorized, msg: "only the instructor may do this: log in at /instructor"}

// instructorOnly refuses h to anyone but the instructor (and everyone when
// workshop mode is off).
func (s *Server) instructorOnly(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !s.cfg.Workshop {
			return errWorkshopOff
		}
		c, err := s.callerOf(r)
		if err != nil {
			return err
		}
		if !c.instructor {
			return errInstructorOnly
		}
		return h(w, r)
	}
}

// listSessionsFor is the store's page of the sessions r's caller may list:
// all of them without workshop mode, else the caller's own.
func (s *Server) listSessionsFor(r *http.Request, before string, limit int) ([]sessions.Session, string, error) {
	if !s.cfg.Workshop {
		return s.store.ListSessions(r.Context(), before, limit)
	}
	c, err := s.callerOf(r)
	if err != nil {
		return nil, "", err
	}
	if !c.known() {
		return nil, "", errSignIn
	}
	return s.ws.store.ListSessionsOf(r.Context(), c.owner(), before, limit)
}

// createSession creates a session for r's caller (the API and the home
// page's form): in workshop mode it belongs to them, and a participant may
// hold only so many (Config.MaxParticipantSessions), so the per-session lab
// quotas bound what one participant runs.
func (s *Server) createSession(r *http.Request, name string) (sessions.Session, error) {
	if !s.cfg.Workshop {
		return s.store.CreateSession(r.Context(), name)
	}
	c, err := s.callerOf(r)
	if err != nil {
		return sessions.Session{}, err
	}
	if !c.known() {
		return sessions.Session{}, errSignIn
	}
	if c.participant != nil && c.participant.Closed {
		return sessions.Session{}, errWorkshopEnded
	}
	if c.participant != nil && s.cfg.MaxParticipantSessions > 0 {
		n, err := s.ws.store.CountSessionsOf(r.Context(), c.owner())
		if err != nil {
			return sessions.Session{}, err
		}
		if n >= s.cfg.MaxParticipantSessions {
			return sessions.Session{}, &apiError{status: http.StatusTooManyRequests, quota: "sessions", msg: fmt.Sprintf(
				"a workshop participant may have %d sessions and you have %d; delete one first (the home page lists them)", s.cfg.MaxParticipantSessions, n)}
		}
	}
	sess, err := s.ws.store.CreateSessionFor(r.Context(), name, c.owner())
	if err == nil {
		err = s.assignBlock(r.Context(), sess, c.participant) // its own lab ports (workshop_lab.go)
	}
	return sess, err
}

// login checks the instructor's password and sets the instructor's cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request, password string) error {
	if !s.cfg.Workshop {
		return errWorkshopOff
	}
	if err := s.ws.logins.allow(s.clientOf(r)); err != nil {
		return err
	}
	if !passwordOK(password, s.cfg.InstructorPassword) {
		s.log.Warn("instructor log-in refused: wrong password", "remote", s.clientOf(r))
		return &apiError{status: http.StatusUnauthorized, msg: "wrong password: it is in $SOCKPLAY_INSTRUCTOR_PASSWORD, or was printed in sockplay's log when it started"}
	}
	token := newToken()
	s.ws.instructors.add(token)
	s.setCookie(w, r, instructorCookie, token, s.cfg.InstructorTTL)
	s.log.Info("instructor logged in", "remote", s.clientOf(r))
	return nil
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if err := s.login(w, r, in.Password); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(instructorCookie); err == nil {
		s.ws.instructors.remove(ck.Value)
	}
	s.clearCookie(w, r, instructorCookie)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	if !s.cfg.Workshop {
		return errWorkshopOff
	}
	s.logout(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// workshopView is a workshop as the instructor's API and page show it.
type workshopView struct {
	sessions.Workshop
	JoinURL string `json:"join_url"`
	// OpenLab says participants may reach each other's servers.
	OpenLab      bool              `json:"open_lab"`
	Participants []participantView `json:"participants"`
}

// participantView is one row of the dashboard.
type participantView struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Session string `json:"session"`
	// Ports is the session's own block of lab ports ("20040-20059").
	Ports string `json:"ports,omitempty"`
	// Servers and Clients are what runs now.
	Servers int   `json:"servers"`
	Clients int   `json:"clients"`
	Events  int64 `json:"events"`
	// Rate is the events a second recorded since the dashboard's previous
	// look (at least a second before).
	Rate float64 `json:"rate"`
	// Errors counts the session's error events (all of them: the recorder
	// counts them as it records).
	Errors int64 `json:"errors"`
	// LastError is the newest error among them.
	LastError   *engine.SockErr `json:"last_error,omitempty"`
	LastErrorAt time.Time       `json:"last_error_at,omitzero"`
	LastAt      time.Time       `json:"last_at,omitzero"`
	// Refused counts, by quota (servers, clients, sockets, max-sockets),
	// what the session was refused since sockplay started.
	Refused map[string]int64 `json:"quota_refusals,omitempty"`
	// Lesson is the lesson the session follows and how far it is.
	Lesson *lessonProgress `json:"lesson,omitempty"`
	// NeedsHelp says why the row is near the top ("" nothing to see);
	// HelpScore orders the rows (higher first).
	NeedsHelp string `json:"needs_help,omitempty"`
	HelpScore int    `json:"help_score"`
}

type lessonProgress struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Done  int    `json:"done"`
	Steps int    `json:"steps"`
}

// joinURL is the address participants open: this instance as r reached it.
func (s *Server) joinURL(r *http.Request, code string) string {
	scheme := "http"
	if s.secure(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/join?code=" + url.QueryEscape(code)
}

// sample is what the dashboard last saw of a session's event count: the
// rate is the events recorded since, a second or more ago.
type sample struct {
	rateAt     time.Time
	rateEvents int64
	rate       float64
}

func (l *workshopLive) forget(session string) {
	l.sampleMu.Lock()
	delete(l.samples, session)
	l.sampleMu.Unlock()
}

// rate returns the events a second session recorded since the dashboard's
// look at least a second before (it has events now).
func (l *workshopLive) rate(session string, events int64, now time.Time) float64 {
	l.sampleMu.Lock()
	defer l.sampleMu.Unlock()
	sm := l.samples[session]
	if sm == nil || events < sm.rateEvents { // (a session's events never shrink; be safe)
		sm = &sample{rateAt: now, rateEvents: events}
		l.samples[session] = sm
	}
	if dt := now.Sub(sm.rateAt); dt >= time.Second {
		sm.rate = float64(events-sm.rateEvents) / dt.Seconds()
		sm.rateAt, sm.rateEvents = now, events
	}
	return sm.rate
}

// workshopView is the dashboard of wk: its participants in the order they
// joined, or with sortHelp the one who most needs help first.
func (s *Server) workshopView(r *http.Request, wk sessions.Workshop) (workshopView, error) {
	v := workshopView{Workshop: wk, JoinURL: s.joinURL(r, wk.Code), Participants: []participantView{},
		OpenLab: s.workshopOpenLab(r.Context(), wk.ID)}
	// One query for every participant's row (their session, its error
	// count and newest error, its lesson): read every two seconds for up to
	// 200 people, it reads no events.
	list, err := s.ws.store.ParticipantRows(r.Context(), wk.ID)
	if err != nil {
		return v, err
	}
	now := time.Now()
	for _, p := range list {
		pv := participantView{ID: p.ID, Name: p.Name, Session: p.SessionID}
		if b, ok := s.sessionBlock(p.SessionID); ok {
			pv.Ports = b.Ports.String()
		}
		if sess := p.Session; sess != nil {
			pv.Events, pv.LastAt = sess.Events, sess.LastAt
			for _, i := range s.lab.Servers(sess.ID) {
				if i.State == engine.StateRunning {
					pv.Servers++
				}
			}
			for _, c := range s.lab.Clients(sess.ID) {
				if c.State != engine.StateClosed {
					pv.Clients++
				}
			}
			pv.Rate = s.ws.live.rate(sess.ID, sess.Events, now)
			if refused := s.lab.QuotaRefusalsOf(sess.ID); len(refused) > 0 {
				pv.Refused = refused
			}
			pv.Errors, pv.LastError, pv.LastErrorAt = p.Errors, p.LastError, p.LastErrorAt
			if s.lessons != nil && p.Lesson != "" {
				l, steps, _, err := s.lessons.Progress(r.Context(), sess.ID)
				if err == nil && l != nil {
					lp := &lessonProgress{ID: l.ID, Title: l.Title, Steps: len(steps)}
					for _, st := range steps {
						if st.Done {
							lp.Done++
						}
					}
					pv.Lesson = lp
				}
			}
		} else {
			pv.Session = "" // they deleted it; rejoining makes a new one
		}
		pv.HelpScore, pv.NeedsHelp = needsHelp(pv)
		v.Participants = append(v.Participants, pv)
	}
	if r.URL.Query().Get("sort") == "help" {
		sortByNeedsHelp(v.Participants)
	}
	return v, nil
}

// needsHelp scores a participant for the "needs help" order: errors first
// (each one counts), then a lesson with no step done, then nothing run yet.
func needsHelp(p participantView) (int, string) {
	var why []string
	score := 0
	if p.Errors > 0 {
		score += 10 * int(min(p.Errors, 1000))
		e := fmt.Sprintf("%d errors", p.Errors)
		if p.Errors == 1 {
			e = "1 error"
		}
		if p.LastError != nil {
			e += ", last " + p.LastError.Errno
		}
		why = append(why, e)
	}
	if len(p.Refused) > 0 {
		// A quota stops what they try: they may not know why.
		score += 4
		var parts []string
		for _, q := range engine.QuotaNames {
			if n := p.Refused[q]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s ×%d", q, n))
			}
		}
		why = append(why, "refused by a quota: "+strings.Join(parts, ", "))
	}
	if p.Lesson != nil && p.Lesson.Done < p.Lesson.Steps {
		if p.Lesson.Done == 0 {
			score += 5
			why = append(why, "no step of the lesson done")
		} else {
			score += 2
		}
	}
	if p.Session != "" && p.Events == 0 {
		score += 3
		why = append(why, "nothing run yet")
	}
	return score, strings.Join(why, "; ")
}

// sortByNeedsHelp puts the highest help score first; ties stay in the
// order they joined.
func sortByNeedsHelp(list []participantView) {
	slices.SortStableFunc(list, func(a, b participantView) int { return b.HelpScore - a.HelpScore })
}

func (s *Server) workshopViews(r *http.Request) ([]workshopView, error) {
	list, err := s.ws.store.Workshops(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]workshopView, 0, len(list))
	for _, wk := range list {
		v, err := s.workshopView(r, wk)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// createWorkshop reads what the API and the dashboard's form share: a name
// and an optional expiry (RFC 3339, or a duration from now such as "3h").
func (s *Server) createWorkshop(r *http.Request, name, expires string) (workshopView, error) {
	var exp time.Time
	if expires != "" {
		if t, err := time.Parse(time.RFC3339, expires); err == nil {
			exp = t
		} else if d, err := time.ParseDuration(expires); err == nil && d > 0 {
			exp = time.Now().Add(d)
		} else {
			return workshopView{}, badRequest(fmt.Sprintf("expires %q: give a time such as 2026-12-02T17:00:00Z or a duration from now such as 3h", expires))
		}
		if !exp.After(time.Now()) {
			return workshopView{}, badRequest("expires " + expires + " is in the past")
		}
	}
	wk, err := s.ws.store.CreateWorkshop(r.Context(), name, exp)
	if err != nil {
		return workshopView{}, err
	}
	s.log.Info("workshop created", "workshop", wk.ID, "name", wk.Name, "code", wk.Code)
	return workshopView{Workshop: wk, JoinURL: s.joinURL(r, wk.Code), Participants: []participantView{}}, nil
}

func (s *Server) handleCreateWorkshop(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name    string `json:"name"`
		Expires string `json:"expires"`
	}
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	v, err := s.createWorkshop(r, in.Name, in.Expires)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/workshops/"+v.ID)
	return respond(w, http.StatusCreated, v)
}

func (s *Server) handleListWorkshops(w http.ResponseWriter, r *http.Request) error {
	list, err := s.workshopViews(r)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, map[string]any{"workshops": list})
}

// endWorkshop ends the workshop of the URL: its code stops working, its
// participants' servers and clients stop (each stop recorded) and their
// sessions become read-only, to read and export.
func (s *Server) endWorkshop(r *http.Request) (sessions.Workshop, error) {
	return s.changeWorkshop(r, "workshop ended", true, func(wk sessions.Workshop) (sessions.Workshop, []any, error) {
		wk, err := s.ws.store.EndWorkshop(r.Context(), wk.ID)
		if err != nil {
			return wk, nil, err
		}
		list, err := s.ws.store.Participants(r.Context(), wk.ID)
		if err != nil {
			return wk, nil, err
		}
		stopped := 0
		for _, p := range list {
			for _, c := range s.lab.Clients(p.SessionID) {
				if c.State != engine.StateClosed {
					if _, err := s.lab.CloseClient(p.SessionID, c.ID, false); err == nil {
						stopped++
					}
				}
			}
			for _, i := range s.lab.Servers(p.SessionID) {
				if i.State == engine.StateRunning {
					if _, err := s.lab.StopServer(p.SessionID, i.ID); err == nil {
						stopped++
					}
				}
			}
		}
		return wk, []any{"name", wk.Name, "participants", len(list), "stopped", stopped}, nil
	})
}

func (s *Server) handleEndWorkshop(w http.ResponseWriter, r *http.Request) error {
	wk, err := s.endWorkshop(r)
	if err != nil {
		return err
	}
	v, err := s.workshopView(r, wk)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, v)
}

func (s *Server) handleEndWorkshopForm(w http.ResponseWriter, r *http.Request) error {
	wk, err := s.endWorkshop(r)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/instructor/workshops/"+wk.ID, http.StatusSeeOther)
	return nil
}

func (s *Server) handleGetWorkshop(w http.ResponseWriter, r *http.Request) error {
	wk, err := s.ws.store.GetWorkshop(r.Context(), chi.URLParam(r, "wid"))
	if errors.Is(err, sessions.ErrNotFound) {
		return &apiError{status: http.StatusNotFound, msg: "no such workshop"}
	}
	if err != nil {
		return err
	}
	v, err := s.workshopView(r, wk)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, v)
}

// join lets r's browser into the workshop with code as name, and sets its
// participant cookie: a new value on every join (rotation), so a cookie
// seen before a join is worth nothing after it. The browser's previous
// cookie, if it is of this workshop, brings its participant back to their
// session.
func (s *Server) join(w http.ResponseWriter, r *http.Request, code, name string) (sessions.Participant, sessions.Session, error) {
	if !s.cfg.Workshop {
		return sessions.Participant{}, sessions.Session{}, errWorkshopOff
	}
	if err := s.ws.joins.allow(s.clientOf(r)); err != nil {
		return sessions.Participant{}, sessions.Session{}, err
	}
	norm, err := sessions.NormalizeCode(code)
	if err != nil {
		return sessions.Participant{}, sessions.Session{}, err
	}
	if _, err := sessions.CheckDisplayName(name); err != nil {
		return sessions.Participant{}, sessions.Session{}, err
	}
	wk, err := s.ws.store.WorkshopByCode(r.Context(), norm)
	if err == nil && !wk.Open(time.Now()) {
		err = sessions.ErrNotFound
	}
	if errors.Is(err, sessions.ErrNotFound) {
		// The same answer for a code never issued and one that ended:
		// nothing tells which workshops exist.
		return sessions.Participant{}, sessions.Session{}, &apiError{status: http.StatusNotFound,
			msg: "no open workshop has the code " + sessions.FormatCode(norm) + "; check it with your instructor"}
	}
	if err != nil {
		return sessions.Participant{}, sessions.Session{}, err
	}
	old := ""
	if ck, err := r.Cookie(participantCookie); err == nil && ck.Value != "" {
		old = sessions.HashToken(ck.Value)
	}
	token := newToken()
	p, sess, err := s.joinStore(r.Context(), wk, name, old, sessions.HashToken(token)) // with a block of lab ports (workshop_lab.go)
	if err != nil {
		return sessions.Participant{}, sessions.Session{}, err
	}
	s.setCookie(w, r, participantCookie, token, participantCookieAge)
	s.applyParticipant(sess.ID, p)
	s.participantLog(p).Info("participant joined", "name", p.Name, "session", sess.ID)
	return p, sess, nil
}

func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Code string `json:"code"`
		Name string `json:"name"`
	}
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	p, sess, err := s.join(w, r, in.Code, in.Name)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/sessions/"+sess.ID)
	return respond(w, http.StatusCreated, map[string]any{"session": sess.ID, "url": "/s/" + sess.ID,
		"participant": map[string]string{"id": p.ID, "name": p.Name}})
}

// The pages: /join and /instructor work without JavaScript (forms posting
// to /join, /instructor/login, /instructor/workshops).

func (s *Server) handleJoinPage(w http.ResponseWriter, r *http.Request) error {
	if !s.cfg.Workshop {
		return errWorkshopOff
	}
	return render(w, r, joinPage(r.URL.Query().Get("code"), "", ""))
}

func (s *Server) handleJoinForm(w http.ResponseWriter, r *http.Request) error {
	if !s.cfg.Workshop {
		return errWorkshopOff
	}
	if err := s.readForm(w, r); err != nil {
		return err
	}
	code, name := r.PostFormValue("code"), r.PostFormValue("name")
	_, sess, err := s.join(w, r, code, name)
	if err != nil {
		return s.formPageError(w, r, err, func(msg string) templ.Component { return joinPage(code, name, msg) })
	}
	http.Redirect(w, r, "/s/"+sess.ID, http.StatusSeeOther)
	return nil
}

func (s *Server) readForm(w http.ResponseWriter, r *http.Request) error {
	clearDeadline := s.bodyDeadline(w)
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		return s.formError(err)
	}
	clearDeadline()
	return nil
}

func (s *Server) handleInstructorPage(w http.ResponseWriter, r *http.Request) error {
	if !s.cfg.Workshop {
		return errWorkshopOff
	}
	c, err := s.callerOf(r)
	if err != nil {
		return err
	}
	if !c.instructor {
		return render(w, r, instructorLoginPage(""))
	}
	list, err := s.workshopViews(r)
	if err != nil {
		return err
	}
	return render(w, r, instructorPage(list))
}

func (s *Server) handleInstructorLoginForm(w http.ResponseWriter, r *http.Request) error {
	if !s.cfg.Workshop {
		return errWorkshopOff
	}
	if err := s.readForm(w, r); err != nil {
		return err
	}
	if err := s.login(w, r, r.PostFormValue("password")); err != nil {
		return s.formPageError(w, r, err, instructorLoginPage)
	}
	http.Redirect(w, r, "/instructor", http.StatusSeeOther)
	return nil
}

func (s *Server) handleInstructorLogoutForm(w http.ResponseWriter, r *http.Request) error {
	if !s.cfg.Workshop {
		return errWorkshopOff
	}
	s.logout(w, r)
	http.Redirect(w, r, "/instructor", http.StatusSeeOther)
	return nil
}

func (s *Server) handleNewWorkshopForm(w http.ResponseWriter, r *http.Request) error {
	if err := s.readForm(w, r); err != nil {
		return err
	}
	v, err := s.createWorkshop(r, r.PostFormValue("name"), r.PostFormValue("expires"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/instructor/workshops/"+v.ID, http.StatusSeeOther)
	return nil
}

// formPageError answers a form that failed with its page again, saying
// what went wrong, with the status the API would give.
func (s *Server) formPageError(w http.ResponseWriter, r *http.Request, err error, page func(msg string) templ.Component) error {
	status, body := s.errorResponse(r, err)
	setRetryAfter(w, err)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return render(w, r, page(body.Error))
}
