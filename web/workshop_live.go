package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// The live workshop (docs/workshop.md): what the instructor changes for
// everyone at once — a fault pushed to every participant's servers, a
// broadcast message, a freeze — and how participants' pages learn of it (a
// long poll: GET /api/sessions/{id}/workshop?v=N answers at once when the
// workshop changed since version N, else when it changes, or after a few
// seconds with the same version).

// workshopLive is workshop mode's in-memory part: change notifications and
// the dashboard's samples.
type workshopLive struct {
	mu      sync.Mutex
	version int64         // bumped at every change of any workshop
	changed chan struct{} // closed (and replaced) at every change

	sampleMu sync.Mutex
	samples  map[string]*sample // session → what the dashboard last saw
}

func newWorkshopLive() *workshopLive {
	// Versions start at the clock, so a page that polled a previous run
	// never sees its old version again.
	return &workshopLive{version: time.Now().UnixNano(), changed: make(chan struct{}), samples: map[string]*sample{}}
}

// notify wakes every long poll.
func (l *workshopLive) notify() {
	l.mu.Lock()
	l.version++
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

func (l *workshopLive) current() (int64, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.version, l.changed
}

// attach puts workshop mode between the web server and the lab (a frozen
// workshop refuses starts; pushed faults join every new server) and starts
// the retention sweep. It returns the lab the server uses.
func (ws *workshopState) attach(s *Server, lab Lab) Lab {
	if !s.cfg.Workshop {
		return lab
	}
	quotaDefaults(&s.cfg)
	s.lab = workshopLab{Lab: lab, s: s} // before the sweep starts: it uses s.lab
	if s.cfg.WorkshopRetention > 0 && s.addStream() {
		go s.sweepWorkshops()
	}
	return s.lab
}

// workshopLab is the lab as workshop mode sees it.
type workshopLab struct {
	Lab
	s *Server
}

// errFrozen is what a participant of a frozen workshop gets for a start.
var errFrozen = &apiError{status: http.StatusConflict, msg: "the instructor has paused the workshop: nothing new can be started until they resume it (what already runs keeps running, and you can still send and read)"}

// workshopOf returns the workshop session belongs to (ok false: none, such
// as the instructor's own sessions).
func (s *Server) workshopOf(ctx context.Context, session string) (sessions.Workshop, sessions.Participant, bool, error) {
	wk, p, err := s.ws.store.WorkshopOfSession(ctx, session)
	if errors.Is(err, sessions.ErrNotFound) {
		return wk, p, false, nil
	}
	return wk, p, err == nil, err
}

func (l workshopLab) StartServer(session string, spec engine.ServerSpec) (engine.ServerInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wk, p, ok, err := l.s.workshopOf(ctx, session)
	if err != nil {
		return engine.ServerInfo{}, err
	}
	if ok {
		l.s.applyParticipant(session, p)
	}
	if ok && !spec.Restore {
		if wk.Frozen {
			return engine.ServerInfo{}, errFrozen
		}
		spec.Faults = withWorkshopFaults(spec.Kind, spec.Faults, wk.Faults)
	}
	return l.Lab.StartServer(session, spec)
}

func (l workshopLab) OpenClient(ctx context.Context, session string, spec engine.ClientSpec) (engine.ClientInfo, error) {
	wk, p, ok, err := l.s.workshopOf(ctx, session)
	if err != nil {
		return engine.ClientInfo{}, err
	}
	if ok {
		l.s.applyParticipant(session, p)
	}
	if ok && wk.Frozen {
		return engine.ClientInfo{}, errFrozen
	}
	return l.Lab.OpenClient(ctx, session, spec)
}

// fits reports whether a pushed fault goes on a server of kind.
func fits(f sessions.WorkshopFault, kind string) bool {
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, kind) {
		return false
	}
	return engine.CheckFault(kind, f.Spec) == nil
}

// withWorkshopFaults adds to a new server's own faults the pushed ones that
// fit its kind, except one whose name the server's own faults already use
// (the participant's own is kept).
func withWorkshopFaults(kind string, own []engine.FaultSpec, pushed []sessions.WorkshopFault) []engine.FaultSpec {
	for _, f := range pushed {
		if fits(f, kind) && !slices.ContainsFunc(own, func(o engine.FaultSpec) bool { return o.Name == f.Spec.Name }) {
			own = append(slices.Clip(own), f.Spec)
		}
	}
	return own
}

// workshopParam loads the workshop of the URL ({wid}).
func (s *Server) workshopParam(r *http.Request) (sessions.Workshop, error) {
	wk, err := s.ws.store.GetWorkshop(r.Context(), chi.URLParam(r, "wid"))
	if errors.Is(err, sessions.ErrNotFound) {
		return wk, &apiError{status: http.StatusNotFound, msg: "no such workshop"}
	}
	return wk, err
}

var errEndedNoChange = &apiError{status: http.StatusConflict, msg: "this workshop has ended: its sessions are read-only, so nothing can be pushed to them; create a new workshop"}

// changeWorkshop is the shape of every instructor action on the workshop
// of the URL (freeze, message, push and lift a fault, show to everyone,
// end): load it, refuse it once ended (unless endedOK), let apply store the
// change (it returns the workshop as stored and what the log line says of
// the change), wake every participant's banner and dashboard, and log it
// as what. Nothing is notified or logged when apply fails.
func (s *Server) changeWorkshop(r *http.Request, what string, endedOK bool,
	apply func(wk sessions.Workshop) (sessions.Workshop, []any, error)) (sessions.Workshop, error) {
	wk, err := s.workshopParam(r)
	if err != nil {
		return wk, err
	}
	if !endedOK && !wk.EndedAt.IsZero() {
		return wk, errEndedNoChange
	}
	wk, attrs, err := apply(wk)
	if err != nil {
		return wk, err
	}
	s.ws.live.notify()
	s.log.Info(what, append([]any{"workshop", wk.ID}, attrs...)...)
	return wk, nil
}

// pushRequest is POST /api/workshops/{wid}/faults: a fault (as for one
// server) plus the server kinds it goes on.
type pushRequest struct {
	engine.FaultSpec
	Kinds []string `json:"kinds"`
}

// pushResult says what a push (or a lift) did.
type pushResult struct {
	Fault   *sessions.WorkshopFault `json:"fault,omitempty"`
	Servers int                     `json:"servers"` // servers it was added to (removed from)
	Skipped []skippedServer         `json:"skipped"`
}

type skippedServer struct {
	Participant string `json:"participant"`
	Server      string `json:"server"`
	Reason      string `json:"reason"`
}

// pushFault checks in, stores it with the workshop (so servers started from
// now on get it) and adds it to every running server it fits.
func (s *Server) pushFault(r *http.Request, in pushRequest) (pushResult, error) {
	res := pushResult{Skipped: []skippedServer{}}
	_, err := s.changeWorkshop(r, "workshop fault pushed", false, func(wk sessions.Workshop) (sessions.Workshop, []any, error) {
		if in.Type == "" {
			return wk, nil, badRequest(`say which fault: "type" is one of ` + strings.Join(engine.FaultTypeNames(), ", ") + `, for example {"type":"reset","attributes":{"bytes":10},"kinds":["tcp-echo"]}`)
		}
		valid := engine.ServerKindNames()
		fitting := 0
		for _, k := range in.Kinds {
			if !slices.Contains(valid, k) {
				return wk, nil, badRequest(fmt.Sprintf("kinds: %q is not a server kind; the kinds are %s", k, strings.Join(valid, ", ")))
			}
		}
		var firstErr error
		for _, k := range valid {
			if len(in.Kinds) > 0 && !slices.Contains(in.Kinds, k) {
				continue
			}
			if err := engine.CheckFault(k, in.FaultSpec); err != nil {
				if len(in.Kinds) > 0 {
					return wk, nil, badRequest(fmt.Sprintf("a %s server does not take this fault: %v", k, err))
				}
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			fitting++
		}
		if fitting == 0 {
			return wk, nil, badRequest(fmt.Sprintf("no server kind takes this fault: %v", firstErr))
		}
		if in.Name == "" {
			in.Name = "workshop-" + in.Type
		}
		if slices.ContainsFunc(wk.Faults, func(f sessions.WorkshopFault) bool { return f.Spec.Name == in.Name }) {
			return wk, nil, &apiError{status: http.StatusConflict, msg: fmt.Sprintf("a fault named %q is already pushed to everyone: lift it first, or give this one another \"name\"", in.Name)}
		}
		f := sessions.WorkshopFault{Spec: in.FaultSpec, Kinds: in.Kinds, PushedAt: time.Now().UTC()}
		wk, err := s.ws.store.SetWorkshopFaults(r.Context(), wk.ID, append(slices.Clip(wk.Faults), f))
		if err != nil {
			return wk, nil, err
		}
		res.Fault = &f
		list, err := s.ws.store.WorkshopSessions(r.Context(), wk.ID)
		if err != nil {
			return wk, nil, err
		}
		for _, x := range list {
			for _, srv := range s.lab.Servers(x.Session.ID) {
				if srv.State != engine.StateRunning || !fits(f, srv.Kind) {
					continue
				}
				if _, err := s.lab.AddFault(x.Session.ID, srv.ID, f.Spec); err != nil {
					res.Skipped = append(res.Skipped, skippedServer{Participant: x.Participant.Name, Server: srv.ID, Reason: err.Error()})
					continue
				}
				res.Servers++
			}
		}
		return wk, []any{"fault", f.Spec.Name, "type", f.Spec.Type, "servers", res.Servers, "skipped", len(res.Skipped)}, nil
	})
	return res, err
}

// liftFault removes the pushed fault name from the workshop and from every
// participant's server that has it.
func (s *Server) liftFault(r *http.Request, name string) (pushResult, error) {
	res := pushResult{Skipped: []skippedServer{}}
	_, err := s.changeWorkshop(r, "workshop fault lifted", true, func(wk sessions.Workshop) (sessions.Workshop, []any, error) {
		i := slices.IndexFunc(wk.Faults, func(f sessions.WorkshopFault) bool { return f.Spec.Name == name })
		if i < 0 {
			return wk, nil, &apiError{status: http.StatusNotFound, msg: fmt.Sprintf("no fault named %q is pushed to this workshop", name)}
		}
		wk, err := s.ws.store.SetWorkshopFaults(r.Context(), wk.ID, slices.Delete(slices.Clone(wk.Faults), i, i+1))
		if err != nil {
			return wk, nil, err
		}
		list, err := s.ws.store.WorkshopSessions(r.Context(), wk.ID)
		if err != nil {
			return wk, nil, err
		}
		for _, x := range list {
			for _, srv := range s.lab.Servers(x.Session.ID) {
				if srv.State != engine.StateRunning {
					continue
				}
				// A server without it (started before the push by a kind it
				// does not fit, or whose participant removed it) says so.
				if err := s.lab.RemoveFault(x.Session.ID, srv.ID, name); err == nil {
					res.Servers++
				}
			}
		}
		return wk, []any{"fault", name, "servers", res.Servers}, nil
	})
	return res, err
}

func (s *Server) handlePushFault(w http.ResponseWriter, r *http.Request) error {
	var in pushRequest
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	res, err := s.pushFault(r, in)
	if err != nil {
		return err
	}
	return respond(w, http.StatusCreated, res)
}

func (s *Server) handleLiftFault(w http.ResponseWriter, r *http.Request) error {
	res, err := s.liftFault(r, chi.URLParam(r, "name"))
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, res)
}

// setFrozen freezes or unfreezes the workshop of the URL.
func (s *Server) setFrozen(r *http.Request, frozen bool) (sessions.Workshop, error) {
	return s.changeWorkshop(r, "workshop frozen", false, func(wk sessions.Workshop) (sessions.Workshop, []any, error) {
		wk, err := s.ws.store.SetWorkshopFrozen(r.Context(), wk.ID, frozen)
		return wk, []any{"frozen", frozen}, err
	})
}

func (s *Server) handleFreeze(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Frozen *bool `json:"frozen"`
	}
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if in.Frozen == nil {
		return badRequest(`say "frozen": true (no new servers or clients) or false (resume)`)
	}
	wk, err := s.setFrozen(r, *in.Frozen)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, wk)
}

// setMessage broadcasts msg to the workshop of the URL ("" clears it).
func (s *Server) setMessage(r *http.Request, msg string) (sessions.Workshop, error) {
	return s.changeWorkshop(r, "workshop message", true, func(wk sessions.Workshop) (sessions.Workshop, []any, error) {
		wk, err := s.ws.store.SetWorkshopMessage(r.Context(), wk.ID, msg)
		return wk, []any{"chars", len(wk.Message)}, err
	})
}

func (s *Server) handleMessage(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Message *string `json:"message"`
	}
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if in.Message == nil {
		return badRequest(`say "message": the text of the banner every participant sees ("" takes it down)`)
	}
	wk, err := s.setMessage(r, *in.Message)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, wk)
}

// liveView is what a session's page learns of its workshop (banner.js).
type liveView struct {
	Version int64 `json:"version"`
	// Viewer is "participant" (the session is theirs) or "instructor".
	Viewer   string `json:"viewer"`
	ReadOnly bool   `json:"read_only"`
	// Workshop is nil for a session of no workshop (the instructor's own).
	Workshop *liveWorkshop `json:"workshop"`
}

type liveWorkshop struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Participant string        `json:"participant"` // the session owner's display name
	Frozen      bool          `json:"frozen"`
	Ended       bool          `json:"ended"`
	Message     string        `json:"message,omitempty"`
	MessageAt   time.Time     `json:"message_at,omitzero"`
	Faults      []pushedFault `json:"faults"`
	// Spotlight is the session the instructor shows to everyone, read-only
	// through a share link.
	Spotlight *spotlightView `json:"spotlight,omitempty"`
}

type spotlightView struct {
	Participant string `json:"participant"`
	URL         string `json:"url"` // the share link's page, /shared/{token}
	// Yours says it is the session of this page.
	Yours bool `json:"yours"`
}

// pushedFault is a pushed fault as a participant's banner names it.
type pushedFault struct {
	Name  string   `json:"name"`
	Type  string   `json:"type"`
	Kinds []string `json:"kinds,omitempty"`
	What  string   `json:"what"`
}

// maxLiveWait bounds a long poll: below -shutdown-wait's default, so a
// shutdown does not wait for one.
const maxLiveWait = 8 * time.Second

func (s *Server) handleSessionWorkshop(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	if !s.cfg.Workshop {
		return errWorkshopOff
	}
	since, err := queryInt(r, "v")
	if err != nil {
		return err
	}
	wait, err := queryInt(r, "wait")
	if err != nil {
		return err
	}
	d := min(time.Duration(wait)*time.Second, maxLiveWait)
	version, changed := s.ws.live.current()
	if since == version && d > 0 {
		t := time.NewTimer(d)
		select {
		case <-changed:
		case <-t.C:
		case <-r.Context().Done():
		case <-s.streamsCtx.Done():
		}
		t.Stop()
		version, _ = s.ws.live.current()
	}
	c, err := s.callerOf(r)
	if err != nil {
		return err
	}
	v := liveView{Version: version, Viewer: "participant"}
	if !(c.participant != nil && sess.Owner == c.participant.ID) {
		v.Viewer = "instructor"
		v.ReadOnly = sess.Owner != sessions.OwnerInstructor
	}
	wk, p, ok, err := s.workshopOf(r.Context(), sess.ID)
	if err != nil {
		return err
	}
	if ok {
		lw := &liveWorkshop{ID: wk.ID, Name: wk.Name, Participant: p.Name, Frozen: wk.Frozen, Ended: !wk.Open(time.Now()),
			Message: wk.Message, MessageAt: wk.MessageAt, Faults: []pushedFault{}}
		for _, f := range wk.Faults {
			lw.Faults = append(lw.Faults, pushedFault{Name: f.Spec.Name, Type: f.Spec.Type, Kinds: f.Kinds, What: describePushed(f)})
		}
		if lw.Ended {
			v.ReadOnly = true
		}
		if wk.SpotlightToken != "" && !lw.Ended {
			lw.Spotlight = &spotlightView{Participant: s.spotlightName(r.Context(), wk), URL: "/shared/" + wk.SpotlightToken,
				Yours: wk.SpotlightSession == sess.ID}
		}
		v.Workshop = lw
	}
	w.Header().Set("Cache-Control", "no-store")
	return respond(w, http.StatusOK, v)
}

// describePushed says what a pushed fault does, for the banner: "reset
// after 10 bytes on tcp-echo servers".
func describePushed(f sessions.WorkshopFault) string {
	what := f.Spec.Type
	attrs := strings.Trim(string(f.Spec.Attributes), "{}")
	if attrs != "" {
		what += " (" + strings.ReplaceAll(strings.ReplaceAll(attrs, `"`, ""), ":", " ") + ")"
	}
	on := "every server it fits"
	if len(f.Kinds) > 0 {
		on = strings.Join(f.Kinds, ", ") + " servers"
	}
	return what + " on " + on
}

// Retention: the sessions of a workshop that ended (or expired) longer
// than Config.WorkshopRetention ago are deleted, checked every
// retentionEvery.
const retentionEvery = time.Minute

func (s *Server) sweepWorkshops() {
	defer s.streams.Done()
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		if n, err := s.SweepWorkshops(s.streamsCtx); err != nil && s.streamsCtx.Err() == nil {
			s.log.Error("workshop retention", "err", err)
		} else if n > 0 {
			s.log.Info("workshop retention: deleted the sessions of ended workshops", "sessions", n, "retention", s.cfg.WorkshopRetention)
		}
		select {
		case <-s.streamsCtx.Done():
			return
		case <-t.C:
		}
	}
}

// SweepWorkshops deletes the sessions of workshops that ended (or expired)
// more than the retention period ago, and returns how many it deleted.
func (s *Server) SweepWorkshops(ctx context.Context) (int, error) {
	if !s.cfg.Workshop || s.cfg.WorkshopRetention <= 0 {
		return 0, nil
	}
	ids, err := s.ws.store.ExpiredSessions(ctx, time.Now().Add(-s.cfg.WorkshopRetention))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		if err := s.deleteSession(ctx, sessions.Session{ID: id}); err != nil {
			return n, err
		}
		s.ws.live.forget(id)
		n++
	}
	return n, nil
}

// itoa64 formats n for a header or a file name.
func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// inWorkshop reports whether a page is drawn for a caller of workshop mode
// (workshopGate put them in the context): the session page's hook is drawn
// only then.
func inWorkshop(ctx context.Context) bool {
	_, ok := ctx.Value(callerKey{}).(caller)
	return ok
}

// pushPreset is one choice of the dashboard's "Push to everyone": a fault
// type and the attribute its amount sets.
type pushPreset struct {
	Type, Attr, Label string
}

var pushPresets = []pushPreset{
	{"reset", "bytes", "reset (RST) after N bytes"},
	{"latency", "latency_ms", "latency of N ms"},
	{"slicer", "size", "slice into N-byte pieces"},
	{"bandwidth", "rate", "bandwidth of N KB/s"},
	{"idle-timeout", "timeout_ms", "close when idle for N ms"},
	{"refuse", "", "refuse new connections"},
	{"drop", "", "drop N% of datagrams (udp)"},
}

func serverKindNames() []string { return engine.ServerKindNames() }

// pushFromForm reads the dashboard's push form: a preset, its amount and a
// kind ("" every kind it fits).
func pushFromForm(r *http.Request) (pushRequest, error) {
	typ := r.PostFormValue("type")
	i := slices.IndexFunc(pushPresets, func(p pushPreset) bool { return p.Type == typ })
	if i < 0 {
		return pushRequest{}, badRequest(fmt.Sprintf("type %q is not one the form offers", typ))
	}
	p := pushPresets[i]
	in := pushRequest{FaultSpec: engine.FaultSpec{Type: p.Type}}
	amount := strings.TrimSpace(r.PostFormValue("amount"))
	if p.Attr != "" || p.Type == "drop" {
		n, err := strconv.Atoi(amount)
		if err != nil || n < 0 {
			return pushRequest{}, badRequest(fmt.Sprintf("the amount %q is not a whole number of 0 or more", amount))
		}
		if p.Type == "drop" {
			if n > 100 {
				return pushRequest{}, badRequest("drop takes a percentage: 0 to 100")
			}
			tox := float64(n) / 100
			in.Toxicity = &tox
		} else {
			in.Attributes = []byte(`{"` + p.Attr + `":` + strconv.Itoa(n) + `}`)
		}
	}
	if k := r.PostFormValue("kind"); k != "" {
		in.Kinds = []string{k}
	}
	return in, nil
}

func (s *Server) handleDashboardPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderDashboard(w, r, http.StatusOK, "")
}

func (s *Server) renderDashboard(w http.ResponseWriter, r *http.Request, status int, notice string) error {
	wk, err := s.workshopParam(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	q.Set("sort", "help")
	r.URL.RawQuery = q.Encode()
	v, err := s.workshopView(r, wk)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return render(w, r, dashboardPage(v, notice))
}

// handleParticipantRows is the dashboard's table body alone, sorted by
// who needs help: what static/workshop.js fetches every two seconds.
func (s *Server) handleParticipantRows(w http.ResponseWriter, r *http.Request) error {
	wk, err := s.workshopParam(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	q.Set("sort", "help")
	r.URL.RawQuery = q.Encode()
	v, err := s.workshopView(r, wk)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return render(w, r, participantRows(v))
}

// dashboardForm runs a dashboard form's action, then shows the dashboard
// again: after a redirect when it worked, with what went wrong when not.
func (s *Server) dashboardForm(act func(r *http.Request) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.readForm(w, r); err != nil {
			return err
		}
		if err := act(r); err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.status == http.StatusNotFound {
				return err
			}
			status, body := s.errorResponse(r, err)
			return s.renderDashboard(w, r, status, body.Error)
		}
		http.Redirect(w, r, "/instructor/workshops/"+chi.URLParam(r, "wid"), http.StatusSeeOther)
		return nil
	}
}

func (s *Server) formMessage(r *http.Request) error {
	msg := r.PostFormValue("message")
	if r.PostFormValue("clear") != "" {
		msg = ""
	}
	_, err := s.setMessage(r, msg)
	return err
}

func (s *Server) formPush(r *http.Request) error {
	in, err := pushFromForm(r)
	if err != nil {
		return err
	}
	_, err = s.pushFault(r, in)
	return err
}

func (s *Server) formLift(r *http.Request) error {
	_, err := s.liftFault(r, chi.URLParam(r, "name"))
	return err
}

func (s *Server) formFreeze(r *http.Request) error {
	_, err := s.setFrozen(r, r.PostFormValue("frozen") == "1")
	return err
}

// spotlightName is the display name of the owner of wk's spotlighted session.
func (s *Server) spotlightName(ctx context.Context, wk sessions.Workshop) string {
	if _, p, ok, err := s.workshopOf(ctx, wk.SpotlightSession); err == nil && ok {
		return p.Name
	}
	return "a participant"
}

// showToEveryone shows session (a participant's of the workshop of the
// URL) to every participant, read-only, through a share link made for it;
// session "" stops showing (the link is revoked). It returns the workshop.
func (s *Server) showToEveryone(r *http.Request, session string) (sessions.Workshop, error) {
	return s.changeWorkshop(r, "workshop spotlight", session == "", func(wk sessions.Workshop) (sessions.Workshop, []any, error) {
		if session != "" {
			of, _, ok, err := s.workshopOf(r.Context(), session)
			if err != nil {
				return wk, nil, err
			}
			if !ok || of.ID != wk.ID {
				return wk, nil, &apiError{status: http.StatusNotFound, msg: "session " + session + " is not the session of a participant of this workshop"}
			}
		}
		if wk.SpotlightToken != "" { // one at a time: the previous link stops working
			if err := s.store.RevokeShare(r.Context(), wk.SpotlightSession, wk.SpotlightToken); err != nil && !errors.Is(err, sessions.ErrNotFound) {
				return wk, nil, err
			}
		}
		token := ""
		if session != "" {
			sh, err := s.store.CreateShare(r.Context(), session)
			if err != nil {
				return wk, nil, err
			}
			token = sh.Token
		}
		wk, err := s.ws.store.SetWorkshopSpotlight(r.Context(), wk.ID, session, token)
		return wk, []any{"session", session}, err
	})
}

func (s *Server) handleShowToEveryone(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Session *string `json:"session"`
	}
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if in.Session == nil {
		return badRequest(`say "session": the participant's session to show to everyone ("" stops showing it)`)
	}
	wk, err := s.showToEveryone(r, *in.Session)
	if err != nil {
		return err
	}
	out := map[string]any{"session": wk.SpotlightSession, "url": ""}
	if wk.SpotlightToken != "" {
		out["url"] = shareURL(r, wk.SpotlightToken)
	}
	return respond(w, http.StatusOK, out)
}

func (s *Server) formShowToEveryone(r *http.Request) error {
	_, err := s.showToEveryone(r, r.PostFormValue("session"))
	return err
}

// showingName is the display name of the participant whose session v
// shows to everyone.
func showingName(v workshopView) string {
	for _, p := range v.Participants {
		if p.Session == v.SpotlightSession {
			return p.Name
		}
	}
	return "a participant"
}
