package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/" {
		return &apiError{status: http.StatusNotFound, msg: "no such page: " + r.URL.Path}
	}
	return s.renderHome(w, r) // sessions_list.go
}

// handleNewSessionForm is the home page's form: it works without JS.
func (s *Server) handleNewSessionForm(w http.ResponseWriter, r *http.Request) error {
	clearDeadline := s.bodyDeadline(w)
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		return s.formError(err)
	}
	clearDeadline()
	name := r.PostFormValue("name")
	if _, err := sessions.CheckName(name); err != nil {
		return err
	}
	if err := s.visitors.allowSession(r); err != nil {
		return err
	}
	sess, err := s.createSession(r, name)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/s/"+sess.ID, http.StatusSeeOther)
	return nil
}

// handleDeleteSessionForm is the session page's Delete button without JS.
func (s *Server) handleDeleteSessionForm(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	if err := s.deleteSession(r.Context(), sess); err != nil {
		return err
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

func (s *Server) handleSessionPage(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	v, err := s.view(r, sess)
	if err != nil {
		return err
	}
	return render(w, r, sessionPage(v))
}

func (s *Server) handleEndpointsFragment(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	v, err := s.view(r, sess)
	if err != nil {
		return err
	}
	return render(w, r, endpoints(v))
}

// pageError answers a page request with a page that says what went wrong
// and links back to the sessions.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	setRetryAfter(w, err)
	status, body := s.errorResponse(r, err)
	msg := body.Error
	if body.Hint != "" {
		msg += "\n" + body.Hint
	}
	title := http.StatusText(status)
	if status == http.StatusNotFound {
		title = "Not found"
		if strings.HasPrefix(r.URL.Path, "/s/") {
			msg += "\nThe link may be mistyped, or the session was deleted."
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := errorPage(title, msg).Render(r.Context(), w); err != nil {
		s.log.Error("render error page", "path", r.URL.Path, "err", err)
	}
}

// render writes a page. It returns nil even when rendering fails midway:
// the status line is gone by then, so the log is all that can help.
func render(w http.ResponseWriter, r *http.Request, c templ.Component) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := c.Render(r.Context(), w); err != nil {
		slog.Default().Error("render page", "path", r.URL.Path, "err", err)
	}
	return nil
}

// The helpers below write what the templates show.

// whenText is an option's condition as the page's script reads it
// ("mode=prefix,other"), or "" when it always applies.
func whenText(o engine.OptionSpec) string {
	if o.When == nil {
		return ""
	}
	return o.When.Option + "=" + strings.Join(o.When.Values, ",")
}

func defaultText(o engine.OptionSpec) string {
	if o.Default == nil {
		return ""
	}
	return fmt.Sprint(o.Default)
}

func boundText(n *int) string {
	if n == nil || *n == 0 {
		return ""
	}
	return strconv.Itoa(*n)
}

func suggestList(kind string, o engine.OptionSpec) string {
	if len(o.Suggest) == 0 {
		return ""
	}
	return "suggest-" + kind + "-" + o.Name
}

func joinPorts(ports []int) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ", ")
}

// restoredAt is what a restored server kept: its port, or a Unix socket's path.
func restoredAt(network string) string {
	if network == engine.NetUnix {
		return "socket path"
	}
	return "port"
}

func portOf(addr string) int {
	_, p, _ := strings.Cut(addr[strings.LastIndexByte(addr, ']')+1:], ":")
	n, _ := strconv.Atoi(p)
	return n
}

// countersText writes a server's live counters: "inbound 120 B · outbound 5 B".
func countersText(c map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, k+" "+strconv.FormatInt(c[k], 10))
	}
	return strings.Join(parts, " · ")
}

// detailsText writes a server's kind-specific details, one line each.
func detailsText(d map[string]any) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(d)) {
		v := d[k]
		if s, ok := v.(string); ok {
			out = append(out, k+": "+s)
			continue
		}
		b, _ := json.Marshal(v)
		out = append(out, k+": "+string(b))
	}
	return out
}

// requiredText is the placeholder of a required option's field. The field
// is not marked required for the browser: without JavaScript every kind's
// fieldset is in the one form, and a required field of another kind would
// block it; the server says what is missing instead.
func requiredText(o engine.OptionSpec) string {
	if o.Required {
		return "required"
	}
	return ""
}

// hasRunning reports whether any server runs: the start form folds away
// once one does, to leave the panel room.
func hasRunning(servers []serverView) bool {
	return slices.ContainsFunc(servers, func(s serverView) bool { return s.State == engine.StateRunning })
}

// faultPresets are the presets the servers panel offers.
func faultPresets() []engine.FaultPreset { return engine.FaultPresets }

// presetJSON is a preset's fault as the API takes it (the page's script
// posts it).
func presetJSON(p engine.FaultPreset) string {
	b, _ := json.Marshal(p.Fault)
	return string(b)
}

// faultAttrsText writes a fault's attributes: " · latency_ms 200 · jitter_ms 50".
func faultAttrsText(f engine.Fault) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(f.Attributes)) {
		fmt.Fprintf(&b, " · %s %v", k, f.Attributes[k])
	}
	return b.String()
}

// faultFromForm reads a fault from the panel's form: a preset by its
// index, or a type, a direction, a toxicity and attributes written as
// "name=value name=value".
func faultFromForm(form url.Values) (engine.FaultSpec, error) {
	if v := form.Get("preset"); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= len(engine.FaultPresets) {
			return engine.FaultSpec{}, badRequest(fmt.Sprintf("preset %q: no such preset", v))
		}
		return engine.FaultPresets[i].Fault, nil
	}
	spec := engine.FaultSpec{Name: strings.TrimSpace(form.Get("name")), Type: form.Get("type"), Direction: form.Get("direction")}
	if v := strings.TrimSpace(form.Get("toxicity")); v != "" {
		t, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return spec, badRequest(fmt.Sprintf("toxicity %q: want a number from 0 to 1", v))
		}
		spec.Toxicity = &t
	}
	attrs := map[string]any{}
	for _, kv := range strings.Fields(strings.ReplaceAll(form.Get("attributes"), ",", " ")) {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			return spec, badRequest(fmt.Sprintf("attribute %q: write name=number, e.g. latency_ms=200", kv))
		}
		attrs[k] = n
	}
	if len(attrs) > 0 {
		spec.Attributes, _ = json.Marshal(attrs)
	}
	return spec, nil
}

func (s *Server) formAddFault(r *http.Request, sess sessions.Session) error {
	spec, err := faultFromForm(r.PostForm)
	if err != nil {
		return err
	}
	if err := s.checkClientOpen(r, sess); err != nil {
		return err
	}
	_, err = s.lab.AddFault(sess.ID, faultOwnerID(r), spec)
	return s.faultError(r, sess, err)
}

func (s *Server) formRemoveFault(r *http.Request, sess sessions.Session) error {
	return s.faultError(r, sess, s.lab.RemoveFault(sess.ID, faultOwnerID(r), chi.URLParam(r, "name")))
}

func hasAdvanced(opts []engine.OptionSpec) bool {
	return slices.ContainsFunc(opts, func(o engine.OptionSpec) bool { return o.Advanced })
}

// detailsSummary names what a server's details hold, for the folded line.
func detailsSummary(d map[string]any) string {
	return strings.Join(slices.Sorted(maps.Keys(d)), ", ")
}

// stopReasonText says why a server stopped, for its panel.
func stopReasonText(reason string) string {
	switch reason {
	case engine.StopByUser:
		return "Stopped."
	case engine.StopShutdown:
		return "Stopped when sockplay shut down."
	case engine.StopRestoreFails:
		return "Could not start again after sockplay restarted (see the error event: usually its port is taken)."
	case engine.StopSessionGone:
		return "Stopped: the session was deleted."
	}
	return "Stopped: " + reason + "."
}

// formField is one hidden field of a "Start again" form.
type formField struct{ Name, Value, Type string }

// optionFields writes a server's options as the start form's fields
// (kind.option), so "Start again" posts what the form would.
func optionFields(kind string, opts map[string]any) []formField {
	k := engine.LookupServerKind(kind)
	if k == nil {
		return nil
	}
	var out []formField
	for _, o := range k.Options {
		v, ok := opts[o.Name]
		if !ok {
			continue
		}
		if o.Type == engine.OptBool {
			if v == true {
				out = append(out, formField{kind + "." + o.Name, "on", "bool"})
			} else {
				out = append(out, formField{kind + "." + o.Name, "off", "bool"})
			}
			continue
		}
		out = append(out, formField{kind + "." + o.Name, fmt.Sprint(v), string(o.Type)})
	}
	return out
}

// optionsFromForm reads a kind's options from the form's fields
// (prefix.option): a checkbox that is absent (or "off") is false, an empty
// number takes its default, text is taken as typed.
func optionsFromForm(prefix string, specs []engine.OptionSpec, form url.Values) (json.RawMessage, error) {
	opts := map[string]any{}
	for _, o := range specs {
		key := prefix + "." + o.Name
		v := form.Get(key)
		switch o.Type {
		case engine.OptBool:
			opts[o.Name] = v != "" && v != "off"
		case engine.OptInt:
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, badRequest(fmt.Sprintf("option %q: %q is not a whole number", o.Name, v))
			}
			opts[o.Name] = n
		default:
			if !form.Has(key) {
				continue
			}
			opts[o.Name] = v
		}
	}
	return json.Marshal(opts)
}

// The session page's forms post here when JavaScript is off (with it, the
// page calls the JSON API instead). Each answers 303 back to the page, or
// the page again with the error in its banner and the error's status.

// formError explains a form body that could not be read.
func (s *Server) formError(err error) error {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return s.slowBody()
	}
	return badRequest("the form could not be read: " + err.Error())
}

// formHandlerFunc handles one form post of a session page.
type formHandlerFunc func(r *http.Request, sess sessions.Session) error

// form parses a small urlencoded body and runs h.
func (s *Server) form(h formHandlerFunc) handlerFunc {
	return s.inSession(func(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
		clearDeadline := s.bodyDeadline(w)
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		err := r.ParseForm()
		if err != nil {
			err = s.formError(err)
		} else {
			clearDeadline()
			err = h(r, sess)
		}
		if err == nil {
			http.Redirect(w, r, "/s/"+sess.ID, http.StatusSeeOther)
			return nil
		}
		status, body := s.errorResponse(r, err)
		v, verr := s.view(r, sess)
		if verr != nil {
			return err
		}
		v.Notice = body.Error
		if body.Errno != "" {
			v.Notice = body.Errno + ": " + v.Notice
		}
		if body.Hint != "" {
			v.Notice += " — " + body.Hint
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		return render(w, r, sessionPage(v))
	})
}

func (s *Server) formStartServer(r *http.Request, sess sessions.Session) error {
	kind := r.PostFormValue("kind")
	if kind == "" {
		kind = "tcp-echo"
	}
	k := engine.LookupServerKind(kind)
	if k == nil {
		return &engine.UnknownKindError{What: "server", Kind: kind, Valid: engine.ServerKindNames()}
	}
	raw, err := optionsFromForm(k.Name, k.Options, r.PostForm)
	if err != nil {
		return err
	}
	var port *int
	if v := strings.TrimSpace(r.PostFormValue("port")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return badRequest(fmt.Sprintf("port %q: want a number (0 picks a free lab port)", v))
		}
		port = &n
	}
	faults, err := startFaultsFromForm(r.PostForm)
	if err != nil {
		return err
	}
	_, err = s.startServer(sess, kind, r.PostFormValue("name"), port, raw, faults)
	return err
}

func (s *Server) formStopServer(r *http.Request, sess sessions.Session) error {
	_, err := s.stopServer(r.Context(), sess, chi.URLParam(r, "sid"))
	return err
}

func (s *Server) formOpenClient(r *http.Request, sess sessions.Session) error {
	kind := r.PostFormValue("kind")
	if kind == "" {
		kind = "tcp"
	}
	var opts json.RawMessage
	for _, k := range engine.ClientKinds() {
		if k.Name != kind {
			continue
		}
		// A form without this kind's fields (a script posting only a
		// target) takes the defaults.
		if hasPrefixed(r.PostForm, "client-"+k.Name+".") {
			var err error
			if opts, err = optionsFromForm("client-"+k.Name, k.Options, r.PostForm); err != nil {
				return err
			}
		}
	}
	_, err := s.lab.OpenClient(r.Context(), sess.ID, engine.ClientSpec{Kind: kind, Target: s.target(r.PostFormValue("target")), Options: opts})
	return err
}

// hasPrefixed reports whether form has a field whose name starts with prefix.
func hasPrefixed(form url.Values, prefix string) bool {
	for k := range form {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// sendPlaceholder suggests what a client of kind sends.
func sendPlaceholder(kind string) string {
	if kind == "http" {
		return `{"method":"GET","path":"/hello"}  (empty: the client's request)`
	}
	return "hello  or  68 65 6c 6c 6f"
}

func (s *Server) formSend(r *http.Request, sess sessions.Session) error {
	data := r.PostFormValue("data")
	var err error
	if f := r.PostFormValue("format"); f == "search" || f == "binary" {
		// An app client's request: its JSON is what the send route takes.
		b, _ := json.Marshal(engine.AppRequest{Action: f, Value: data})
		text := string(b)
		_, err = s.send(r.Context(), sess, chi.URLParam(r, "cid"), &text, nil, nil)
		return err
	}
	if r.PostFormValue("format") == "hex" {
		if r.PostFormValue("newline") != "" {
			data += " 0a"
		}
		_, err = s.send(r.Context(), sess, chi.URLParam(r, "cid"), nil, &data, nil)
	} else {
		if r.PostFormValue("newline") != "" {
			data += "\n"
		}
		_, err = s.send(r.Context(), sess, chi.URLParam(r, "cid"), &data, nil, nil)
	}
	return err
}

func (s *Server) formCloseClient(r *http.Request, sess sessions.Session) error {
	_, err := s.closeClient(r.Context(), sess, chi.URLParam(r, "cid"), r.PostFormValue("half") != "")
	return err
}
