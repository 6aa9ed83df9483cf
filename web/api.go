package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

func itoa[T ~int | ~int64](n T) string { return strconv.FormatInt(int64(n), 10) }

// decode reads a JSON body strictly: bounded size, unknown fields refused,
// exactly one value.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	clearDeadline := s.bodyDeadline(w)
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooBig):
			return err
		case errors.Is(err, os.ErrDeadlineExceeded):
			return s.slowBody()
		case errors.Is(err, io.EOF):
			return badRequest("the request body is empty; send a JSON object")
		case errors.As(err, &syn):
			return badRequest(fmt.Sprintf("malformed JSON at byte %d: %s", syn.Offset, syn.Error()))
		case errors.As(err, &typ) && typ.Field == "":
			return badRequest(fmt.Sprintf("the request body must be a JSON object, not %s", typ.Value))
		case errors.As(err, &typ):
			return badRequest(fmt.Sprintf("field %q must be a JSON %s, not %s", typ.Field, engine.JSONType(typ.Type), typ.Value))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return badRequest("unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return badRequest("malformed JSON: " + strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return s.slowBody()
		}
		return badRequest("the request body must hold a single JSON object")
	}
	clearDeadline()
	return nil
}

// bodyDeadline bounds how long the request body may take to arrive (the
// http.Server's header timeout covers only the headers). Call the function
// it returns once the body is read: a deadline left on the connection would
// cancel the request's context while the handler still works. (After a read
// error it stays: the server then gives up on the rest of the body at once
// instead of waiting for it to keep the connection.)
func (s *Server) bodyDeadline(w http.ResponseWriter) (clear func()) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))
	return func() { _ = rc.SetReadDeadline(time.Time{}) }
}

func (s *Server) slowBody() error {
	return &apiError{status: http.StatusRequestTimeout, msg: fmt.Sprintf("the request body did not arrive within %s", s.cfg.BodyTimeout)}
}

// handleStatus reports the recorder's health for the page's banner: whether
// recording is failing (and what is held meanwhile) and how often sockets
// had to wait for the disk.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) error {
	st := s.recorder.Stats()
	open, max := s.lab.OpenSockets()
	return respond(w, http.StatusOK, map[string]any{"healthy": !st.Failing, "recording": st,
		"lab": map[string]int64{"open_sockets": open, "max_sockets": max}})
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	st := s.recorder.Stats()
	if st.Failing {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "recording is failing: %s\n", st.LastError)
		return
	}
	fmt.Fprintln(w, "ok")
}

// session loads the session named in the URL.
func (s *Server) session(r *http.Request) (sessions.Session, error) {
	return s.store.GetSession(r.Context(), chi.URLParam(r, "id"))
}

// handlerFunc is a handler that returns its error instead of writing it;
// api and page write it in one place each.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// sessionHandlerFunc is a handler of a route under /…/{id}: it receives the
// session, already loaded (404 when it does not exist).
type sessionHandlerFunc func(w http.ResponseWriter, r *http.Request, sess sessions.Session) error

// api adapts h to http.HandlerFunc, answering errors as JSON.
func (s *Server) api(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.respondError(w, r, err)
		}
	}
}

// page adapts h to http.HandlerFunc, answering errors as plain text.
func (s *Server) page(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.pageError(w, r, err)
		}
	}
}

// inSession loads the session named in the URL and hands it to h, if the
// caller may use it (in workshop mode: their own, see mayUse; another's is
// 404 like one that does not exist). Every route under a session, its
// servers, clients and faults included, goes through it.
func (s *Server) inSession(h sessionHandlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, err := s.session(r)
		if err != nil {
			return err
		}
		if err := s.mayUse(r, sess); err != nil { // workshop mode: the caller's own only
			return err
		}
		return h(w, r, sess)
	}
}

// inSessionRow is inSession for a handler that uses no more of the session
// than its id and owner: its Events and LastAt are zero (see
// sessions.Store.LookupSession, one prepared statement instead of the
// progress's subqueries). The same answers otherwise: 404 for a session
// that does not exist or is another participant's.
func (s *Server) inSessionRow(h sessionHandlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, err := s.store.LookupSession(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			return err
		}
		if err := s.mayUse(r, sess); err != nil {
			return err
		}
		return h(w, r, sess)
	}
}

// respond writes v as JSON with status; it returns nil so handlers can end
// with it.
func respond(w http.ResponseWriter, status int, v any) error {
	writeJSON(w, status, v)
	return nil
}

func (s *Server) handleListSessions(w http.ResponseWriter, r *http.Request) error {
	list, next, err := s.listSessions(r)
	if err != nil {
		return err
	}
	out := map[string]any{"sessions": list}
	if next != "" {
		out["next"] = next // pass as before= for the next page
	}
	return respond(w, http.StatusOK, out)
}

// listSessions reads one page of sessions as ?before=ID&limit=N ask (the
// API and the home page).
func (s *Server) listSessions(r *http.Request) ([]sessions.Session, string, error) {
	limit, err := queryInt(r, "limit")
	if err != nil {
		return nil, "", err
	}
	if limit > sessions.MaxSessionsPage {
		return nil, "", badRequest(fmt.Sprintf("limit %d: at most %d sessions per page", limit, sessions.MaxSessionsPage))
	}
	return s.listSessionsFor(r, r.URL.Query().Get("before"), int(limit))
}

func (s *Server) handleCreateSession(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name string `json:"name"`
	}
	if r.ContentLength != 0 {
		if err := s.decode(w, r, &in); err != nil {
			return err
		}
	}
	if _, err := sessions.CheckName(in.Name); err != nil {
		return err
	}
	if err := s.visitors.allowSession(r); err != nil {
		return err
	}
	sess, err := s.createSession(r, in.Name)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/sessions/"+sess.ID)
	return respond(w, http.StatusCreated, sess)
}

// sessionView is a session with what runs in it and what the recording
// remembers having run.
type sessionView struct {
	sessions.Session
	// Notice is an error to show on the page (a form that failed without JS).
	Notice string  `json:"-"`
	Lab    labInfo `json:"lab"`
	// Kinds are the server and client kinds the page's forms offer.
	Kinds   kindsView    `json:"-"`
	Servers []serverView `json:"servers"`
	Clients []clientView `json:"clients"`
	// Throttled is how many times this session's sockets waited for the
	// event rate limit (Lab.MaxEventRate).
	Throttled int64 `json:"throttled"`
	// EventRate is this session's share of the event budget now, in events
	// a second (0: no limit): all of it when it is alone, an equal share of
	// what quieter sessions leave when several want more.
	EventRate int `json:"event_rate"`
	// Quota is what the session may hold open and emit (a workshop
	// participant's quotas), and OpenSockets what it holds now.
	Quota       engine.Quota `json:"quota"`
	OpenSockets int64        `json:"open_sockets"`
	// ReadOnly is the page of a share link (Share its token): no controls.
	ReadOnly bool   `json:"-"`
	Share    string `json:"-"`
}

type labInfo struct {
	Host  string `json:"host"`
	Ports string `json:"ports"`
	// Block says Ports are the session's own (a workshop participant's).
	Block bool `json:"block,omitempty"`
	// MaxEventRate is the hard cap on events a second per session (0: none).
	MaxEventRate int `json:"max_event_rate"`
	// EventBudget is the events a second all sessions together may record,
	// shared fairly (0: no budget).
	EventBudget int `json:"event_budget"`
}

type serverView struct {
	engine.ServerInfo
	// Summary is the options in words ("mode prefix · recv_size 4096").
	Summary  string           `json:"summary"`
	Snippets []engine.Snippet `json:"snippets"`
	// Faults are a running server's active faults.
	Faults []engine.Fault `json:"faults,omitempty"`
}

// newServerView adds what the page shows of a server to its description.
func newServerView(info engine.ServerInfo) serverView {
	v := serverView{ServerInfo: info, Snippets: []engine.Snippet{}}
	if k := engine.LookupServerKind(info.Kind); k != nil {
		v.Summary = k.Summary(info.Options)
		if info.State == engine.StateRunning {
			v.Snippets = k.SnippetsFor(info.Addr, info.Options)
		}
	}
	return v
}

type clientView struct {
	engine.ClientInfo
	// Faults are an open client's faults; TakesFaults says its kind takes
	// them (one TCP connection: tcp, tls, retry).
	Faults      []engine.Fault `json:"faults,omitempty"`
	TakesFaults bool           `json:"-"`
}

func (s *Server) view(r *http.Request, sess sessions.Session) (sessionView, error) {
	v := sessionView{Session: sess, Kinds: s.kinds(), Lab: labInfo{Host: s.cfg.LabHost, Ports: s.lab.Ports().String(), MaxEventRate: s.lab.MaxEventRate(),
		EventBudget: s.lab.EventBudget()},
		Servers: []serverView{}, Clients: []clientView{}, Throttled: s.lab.Throttled(sess.ID), EventRate: s.lab.EventRate(sess.ID)}
	if b, ok := s.sessionBlock(sess.ID); ok { // a workshop participant's own ports (workshop_lab.go)
		v.Lab.Ports, v.Lab.Block = blockText(b.Ports), true
	}
	v.Quota, v.OpenSockets = s.lab.QuotaOf(sess.ID)
	recorded, recClients, err := s.store.RecordedServers(r.Context(), sess.ID)
	if err != nil {
		return v, err
	}
	servers := merge(recorded, s.lab.Servers(sess.ID), func(i engine.ServerInfo) string { return i.ID },
		func(e sessions.Endpoint) engine.ServerInfo {
			return engine.ServerInfo{ID: e.ID, Session: sess.ID, Kind: e.Kind, Net: e.Net, Name: e.Name, Addr: e.Addr,
				Options: e.Options, State: engine.StateStopped, StartedAt: e.At, StoppedAt: e.StoppedAt, StopReason: e.StopReason}
		})
	for _, info := range servers {
		sv := newServerView(info)
		if info.State == engine.StateRunning {
			sv.Faults, _ = s.lab.Faults(sess.ID, info.ID)
		}
		v.Servers = append(v.Servers, sv)
	}
	clients := merge(recClients, s.lab.Clients(sess.ID), func(c engine.ClientInfo) string { return c.ID },
		func(e sessions.Endpoint) engine.ClientInfo {
			return engine.ClientInfo{ID: e.ID, Session: sess.ID, Kind: e.Kind, Target: e.Target, Local: e.Addr,
				State: engine.StateClosed, OpenedAt: e.At}
		})
	for _, c := range clients {
		cv := clientView{ClientInfo: c}
		if c.State != engine.StateClosed {
			var err error
			cv.Faults, err = s.lab.Faults(sess.ID, c.ID)
			cv.TakesFaults = err == nil
		}
		v.Clients = append(v.Clients, cv)
	}
	return v, nil
}

// merge lists a session's servers or clients: the recorded ones in start
// order, each replaced by its live state if it is still running, then the
// live ones not yet committed to the recording.
func merge[T any](recorded []sessions.Endpoint, live []T, id func(T) string, fromRecord func(sessions.Endpoint) T) []T {
	byID := make(map[string]T, len(live))
	for _, x := range live {
		byID[id(x)] = x
	}
	out := make([]T, 0, len(recorded)+len(live))
	for _, e := range recorded {
		x, ok := byID[e.ID]
		if !ok {
			x = fromRecord(e)
		}
		delete(byID, e.ID)
		out = append(out, x)
	}
	for _, x := range live {
		if _, ok := byID[id(x)]; ok {
			out = append(out, x)
		}
	}
	return out
}

// kindsView is GET /api/kinds: every server and client kind with its
// option schema, what the page's forms are drawn from.
type kindsView struct {
	Servers []*engine.ServerKind `json:"servers"`
	Clients []*engine.ClientKind `json:"clients"`
	// TutorialPorts are the fixed ports outside the lab range that servers
	// may use by number.
	TutorialPorts []int `json:"tutorial_ports"`
}

func (s *Server) kinds() kindsView {
	return kindsView{Servers: engine.ServerKinds(), Clients: engine.ClientKinds(), TutorialPorts: s.lab.TutorialPorts()}
}

func (s *Server) handleKinds(w http.ResponseWriter, r *http.Request) error {
	return respond(w, http.StatusOK, s.kinds())
}

func (s *Server) handleGetSession(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	v, err := s.view(r, sess)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, v)
}

func (s *Server) handleDeleteSession(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	if err := s.deleteSession(r.Context(), sess); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteSession stops the session's servers and clients (their closes are
// recorded), then deletes it and its events, then ends its live streams.
func (s *Server) deleteSession(ctx context.Context, sess sessions.Session) error {
	s.lab.CloseSession(sess.ID)
	if err := s.recorder.DeleteSession(ctx, sess.ID); err != nil {
		return err
	}
	s.hub.CloseSession(sess.ID)
	return nil
}

// queryInt parses an optional non-negative integer query parameter.
func queryInt(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, badRequest(fmt.Sprintf("query parameter %s=%q: want a non-negative integer", name, v))
	}
	return n, nil
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	after, err := queryInt(r, "after")
	if err != nil {
		return err
	}
	before, err := queryInt(r, "before")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = 1000
	}
	if limit > sessions.MaxEventsPage {
		return badRequest(fmt.Sprintf("limit %d: at most %d events per page", limit, sessions.MaxEventsPage))
	}
	evs, err := s.store.RawEvents(r.Context(), sess.ID, after, before, int(limit))
	if err != nil {
		return err
	}
	// The stored JSON is sent as it is: encoding/json would only scan it
	// again to compact what is already compact.
	b := make([]byte, 0, 64+len(evs)*256)
	b = append(b, `{"events":[`...)
	for i, e := range evs {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.AppendJSON(b)
	}
	b = append(b, `],"last_seq":`...)
	b = strconv.AppendInt(b, sess.Events, 10)
	b = append(b, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}

// handleTimeline answers GET /api/sessions/{id}/timeline?buckets=N (default
// 100): the session's time span cut into N buckets, each with its events,
// errors and first seq, for a replay's timeline.
func (s *Server) handleTimeline(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	n, err := queryInt(r, "buckets")
	if err != nil {
		return err
	}
	if n == 0 {
		n = 100
	}
	if n > sessions.MaxBuckets {
		return badRequest(fmt.Sprintf("buckets=%d: at most %d", n, sessions.MaxBuckets))
	}
	tl, err := s.store.Timeline(r.Context(), sess.ID, int(n))
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, map[string]any{"buckets": tl, "events": sess.Events})
}

func (s *Server) handleStartServer(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	var in struct {
		Kind    string          `json:"kind"`
		Name    string          `json:"name"`
		Port    *int            `json:"port"`
		Options json.RawMessage `json:"options"`
		// Faults are active from the first accept (web/faults.go).
		Faults []engine.FaultSpec `json:"faults"`
	}
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	info, err := s.startServer(sess, in.Kind, in.Name, in.Port, in.Options, in.Faults)
	if err != nil {
		return err
	}
	v := newServerView(info)
	v.Faults, _ = s.lab.Faults(sess.ID, info.ID)
	return respond(w, http.StatusCreated, v)
}

// startServer validates what the API and the page's form share and starts
// the server.
func (s *Server) startServer(sess sessions.Session, kind, name string, port *int, options json.RawMessage, faults []engine.FaultSpec) (engine.ServerInfo, error) {
	if kind == "" {
		return engine.ServerInfo{}, badRequest("kind is required; valid kinds: " + strings.Join(engine.ServerKindNames(), ", "))
	}
	p := 0
	if port != nil {
		p = *port
		if p < 0 || p > 65535 {
			return engine.ServerInfo{}, badRequest(fmt.Sprintf("port %d is not a port number; use 0 to pick a free lab port (%s)", p, s.lab.Ports()))
		}
	}
	return s.lab.StartServer(sess.ID, engine.ServerSpec{Kind: kind, Name: name, Port: p, Options: options, Faults: faults})
}

func (s *Server) handleStopServer(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	info, err := s.stopServer(r.Context(), sess, chi.URLParam(r, "sid"))
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, info)
}

// stopServer stops a running server; one the session had but that no longer
// runs is a conflict ("already stopped"), not an unknown id.
func (s *Server) stopServer(ctx context.Context, sess sessions.Session, id string) (engine.ServerInfo, error) {
	info, err := s.lab.StopServer(sess.ID, id)
	if errors.Is(err, engine.ErrNotFound) && s.hadEndpoint(ctx, sess, id, false) {
		return info, &apiError{status: http.StatusConflict, msg: "server " + id + " is already stopped"}
	}
	return info, err
}

// hadEndpoint reports whether session ever had server id (or, with client,
// client id): the engine forgets stopped ones after a while (and all of
// them at a restart), the recording does not.
func (s *Server) hadEndpoint(ctx context.Context, sess sessions.Session, id string, client bool) bool {
	if !client && slices.ContainsFunc(s.lab.Servers(sess.ID), func(i engine.ServerInfo) bool { return i.ID == id }) {
		return true
	}
	servers, clients, err := s.store.RecordedServers(ctx, sess.ID)
	if err != nil {
		return false
	}
	list := servers
	if client {
		list = clients
	}
	return slices.ContainsFunc(list, func(e sessions.Endpoint) bool { return e.ID == id })
}

func (s *Server) handleOpenClient(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	var in struct {
		Kind    string          `json:"kind"`
		Target  string          `json:"target"`
		Options json.RawMessage `json:"options"`
		// Faults act on its connection from the connect (web/faults.go).
		Faults []engine.FaultSpec `json:"faults"`
	}
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if in.Kind == "" {
		in.Kind = "tcp"
	}
	info, err := s.lab.OpenClient(r.Context(), sess.ID, engine.ClientSpec{Kind: in.Kind, Target: s.target(in.Target), Options: in.Options, Faults: in.Faults})
	if err != nil {
		return err
	}
	cv := clientView{ClientInfo: info}
	cv.Faults, _ = s.lab.Faults(sess.ID, info.ID)
	return respond(w, http.StatusCreated, cv)
}

// target reads a client's target as people type it: a port alone means
// that port on the lab's host ("20001" is 127.0.0.1:20001).
func (s *Server) target(t string) string {
	t = strings.TrimSpace(t)
	if n, err := strconv.Atoi(t); err == nil && n > 0 && n <= 65535 {
		return net.JoinHostPort(s.cfg.LabHost, t)
	}
	return t
}

// payload decodes the one of text, hex or base64 that a send carries.
func payload(text, hx, b64 *string) ([]byte, error) {
	n := 0
	for _, p := range []*string{text, hx, b64} {
		if p != nil {
			n++
		}
	}
	if n != 1 {
		return nil, badRequest(`send exactly one of "text", "hex" or "base64"`)
	}
	switch {
	case text != nil:
		return []byte(*text), nil
	case hx != nil:
		return parseHex(*hx)
	}
	return parseBase64(*b64)
}

// parseBase64 reads standard base64 as people paste it: white space
// anywhere, the trailing "=" padding optional. An error names the position
// (0-based, in characters) of the offending character.
func parseBase64(s string) ([]byte, error) {
	clean := make([]byte, 0, len(s))
	padAt := -1 // position of the first "="
	for i, c := range s {
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		case c == '=':
			if padAt < 0 {
				padAt = i
			}
		case padAt >= 0:
			return nil, badRequest(fmt.Sprintf("invalid base64 at position %d: %q after the \"=\" padding at position %d; padding may only end the text", i, c, padAt))
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			clean = append(clean, byte(c))
		default:
			return nil, badRequest(fmt.Sprintf("invalid base64 at position %d: %q is not a base64 character (A-Z, a-z, 0-9, + and /)", i, c))
		}
	}
	if len(clean)%4 == 1 {
		return nil, badRequest(fmt.Sprintf("invalid base64: %d characters leave one over; base64 comes in groups of 4 characters (the last group may have 2 or 3)", len(clean)))
	}
	b, err := base64.RawStdEncoding.DecodeString(string(clean))
	if err != nil {
		return nil, badRequest("invalid base64: " + err.Error())
	}
	return b, nil
}

// parseHex reads bytes written as pairs of hex digits, as people paste
// them: "68 65 6c 6c 6f", "68656c6c6f", "0x68 0x65" or "\\x68\\x65" (a 0x or
// \\x before a byte is skipped). An error names the position (0-based, in
// characters) of the offending character.
func parseHex(s string) ([]byte, error) {
	out := make([]byte, 0, len(s)/2)
	var hi byte
	half, start := false, 0
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			if half {
				return nil, badRequest(fmt.Sprintf("invalid hex at position %d: the byte starting at position %d has one digit; write two per byte (e.g. 0a)", i, start))
			}
			continue
		case !half && i+1 < len(rs) && (c == '0' && (rs[i+1] == 'x' || rs[i+1] == 'X') || c == '\\' && rs[i+1] == 'x'):
			i++ // a 0x or \x prefix
			continue
		}
		v, ok := hexVal(c)
		if !ok {
			return nil, badRequest(fmt.Sprintf("invalid hex at position %d: %q is not a hex digit (0-9, a-f)", i, c))
		}
		if !half {
			hi, half, start = v, true, i
			continue
		}
		out = append(out, hi<<4|v)
		half = false
	}
	if half {
		return nil, badRequest(fmt.Sprintf("invalid hex at position %d: the last byte has one digit; write two per byte (e.g. 0a)", start))
	}
	return out, nil
}

func hexVal(c rune) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return byte(c - '0'), true
	case c >= 'a' && c <= 'f':
		return byte(c - 'a' + 10), true
	case c >= 'A' && c <= 'F':
		return byte(c - 'A' + 10), true
	}
	return 0, false
}

func (s *Server) handleSend(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	var in struct {
		Text   *string `json:"text"`
		Hex    *string `json:"hex"`
		Base64 *string `json:"base64"`
		// An app client's request, sent on a new connection.
		Action *string `json:"action"`
		Value  *string `json:"value"`
	}
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if in.Action != nil || in.Value != nil {
		if in.Text != nil || in.Hex != nil || in.Base64 != nil {
			return badRequest(`send either an app client's "action" and "value", or one of "text", "hex" or "base64"`)
		}
		cid := chi.URLParam(r, "cid")
		for _, c := range s.lab.Clients(sess.ID) {
			if c.ID == cid && c.Kind != "app" {
				return badRequest(`"action" and "value" are an app client's request; this is a ` + c.Kind + ` client: send "text", "hex" or "base64"`)
			}
		}
		req := engine.AppRequest{Action: "search"}
		if in.Action != nil {
			req.Action = *in.Action
		}
		if in.Value != nil {
			req.Value = *in.Value
		}
		b, _ := json.Marshal(req)
		text := string(b)
		in.Text = &text
	}
	n, err := s.send(r.Context(), sess, chi.URLParam(r, "cid"), in.Text, in.Hex, in.Base64)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, map[string]any{"sent": n})
}

// send decodes one of text, hex or base64, checks its size and sends it on
// a client: what the API and the page's form share.
func (s *Server) send(ctx context.Context, sess sessions.Session, cid string, text, hx, b64 *string) (int, error) {
	b, err := payload(text, hx, b64)
	if err != nil {
		return 0, err
	}
	if len(b) > s.cfg.MaxMessageBytes {
		return 0, &apiError{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("message is %d bytes; the limit is %d bytes per send", len(b), s.cfg.MaxMessageBytes)}
	}
	if len(b) == 0 {
		return 0, badRequest("nothing to send: the message is empty")
	}
	err = s.lab.Send(sess.ID, cid, b)
	var closed *engine.SendClosedError
	switch {
	case err == nil:
		return len(b), nil
	case errors.Is(err, engine.ErrNotFound) && s.hadEndpoint(ctx, sess, cid, true):
		// A client from before a restart, or closed long ago.
		return 0, &engine.SendClosedError{State: engine.StateClosed}
	case errors.As(err, &closed):
		return 0, err
	}
	// The peer is gone (EPIPE, ECONNRESET): the connection's state, not a
	// failing upstream, so 409 like a send after close.
	if se := engine.Classify(err); se.Errno == "EPIPE" || se.Errno == "ECONNRESET" {
		return 0, &connGoneError{err}
	}
	return 0, err
}

func (s *Server) handleCloseClient(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	var in struct {
		Half bool `json:"half"`
	}
	if r.ContentLength != 0 {
		if err := s.decode(w, r, &in); err != nil {
			return err
		}
	}
	info, err := s.closeClient(r.Context(), sess, chi.URLParam(r, "cid"), in.Half)
	if err != nil {
		return err
	}
	return respond(w, http.StatusOK, clientView{ClientInfo: info})
}

// closeClient closes a client; one the session had but that the engine no
// longer holds is a conflict ("already closed").
func (s *Server) closeClient(ctx context.Context, sess sessions.Session, id string, half bool) (engine.ClientInfo, error) {
	info, err := s.lab.CloseClient(sess.ID, id, half)
	if errors.Is(err, engine.ErrNotFound) && s.hadEndpoint(ctx, sess, id, true) {
		return info, &apiError{status: http.StatusConflict, msg: "client " + id + " is already closed"}
	}
	return info, err
}
