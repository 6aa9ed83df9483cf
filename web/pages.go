package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/a-h/templ"

	"github.com/sockplay/sockplay/sessions"
)

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path != "/" {
		return &apiError{http.StatusNotFound, "no such page: " + r.URL.Path}
	}
	list, err := s.store.ListSessions(r.Context())
	if err != nil {
		return err
	}
	return render(w, r, homePage(list))
}

// handleNewSessionForm is the home page's form: it works without JS.
func (s *Server) handleNewSessionForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return badRequest("the form could not be read: " + err.Error())
	}
	name := r.PostFormValue("name")
	sess, err := s.store.CreateSession(r.Context(), name)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/s/"+sess.ID, http.StatusSeeOther)
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

// pageError answers a page request with a plain message.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := s.errorResponse(r, err)
	msg := body.Error
	if body.Hint != "" {
		msg += "\n" + body.Hint
	}
	http.Error(w, msg, status)
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
	return strings.Trim(string(b), "{}")
}
