package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
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
	list, next, err := s.listSessions(r)
	if err != nil {
		return err
	}
	return render(w, r, homePage(list, next, r.URL.Query().Get("before") != ""))
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
	sess, err := s.store.CreateSession(r.Context(), name)
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

func optionsText(opts any) string {
	if opts == nil {
		return ""
	}
	b, err := json.Marshal(opts)
	if err != nil {
		return ""
	}
	// Walk the object's tokens (not a map) to keep the options' own order:
	// mode first.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	var parts []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return strings.Join(parts, " · ")
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return strings.Join(parts, " · ")
		}
		parts = append(parts, fmt.Sprint(k)+" "+optionValueText(v))
	}
	return strings.Join(parts, " · ")
}

// optionValueText writes one option's value for people: words as they are,
// other text quoted (so a prefix of ">> " shows its space), yes/no for
// switches.
func optionValueText(v any) string {
	switch v := v.(type) {
	case bool:
		if v {
			return "yes"
		}
		return "no"
	case string:
		if v != "" && strings.IndexFunc(v, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
		}) < 0 {
			return v
		}
		return strconv.Quote(v)
	case json.Number:
		return v.String()
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
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
	opts := map[string]any{"mode": r.PostFormValue("mode"), "oneshot": r.PostFormValue("oneshot") != ""}
	if v := r.PostFormValue("recv_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return badRequest(fmt.Sprintf("recv_size %q: want a number of bytes", v))
		}
		opts["recv_size"] = n
	}
	if opts["mode"] == "prefix" {
		opts["prefix"] = r.PostFormValue("prefix")
	}
	raw, err := json.Marshal(opts)
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
	kind := r.PostFormValue("kind")
	if kind == "" {
		kind = "tcp-echo"
	}
	_, err = s.startServer(sess, kind, r.PostFormValue("name"), port, raw)
	return err
}

func (s *Server) formStopServer(r *http.Request, sess sessions.Session) error {
	_, err := s.stopServer(r.Context(), sess, chi.URLParam(r, "sid"))
	return err
}

func (s *Server) formOpenClient(r *http.Request, sess sessions.Session) error {
	_, err := s.lab.OpenClient(r.Context(), sess.ID, engine.ClientSpec{Kind: "tcp", Target: strings.TrimSpace(r.PostFormValue("target"))})
	return err
}

func (s *Server) formSend(r *http.Request, sess sessions.Session) error {
	data := r.PostFormValue("data")
	var err error
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
