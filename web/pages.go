package web

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/a-h/templ"
)

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	list, err := s.store.ListSessions(r.Context())
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	render(w, r, homePage(list))
}

// handleNewSessionForm is the home page's form: it works without JS.
func (s *Server) handleNewSessionForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.pageError(w, r, err)
			return
		}
		s.pageError(w, r, badRequest("the form could not be read: "+err.Error()))
		return
	}
	name := r.PostFormValue("name")
	sess, err := s.store.CreateSession(r.Context(), name)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/s/"+sess.ID, http.StatusSeeOther)
}

func (s *Server) handleSessionPage(w http.ResponseWriter, r *http.Request) {
	sess, err := s.session(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v, err := s.view(r, sess)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	render(w, r, sessionPage(v))
}

func (s *Server) handleEndpointsFragment(w http.ResponseWriter, r *http.Request) {
	sess, err := s.session(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v, err := s.view(r, sess)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	render(w, r, endpoints(v))
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

func render(w http.ResponseWriter, r *http.Request, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := c.Render(r.Context(), w); err != nil {
		// Headers are gone by now; the log is all that can help.
		slog.Default().Error("render page", "path", r.URL.Path, "err", err)
	}
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
