package web

import (
	"net/http"
	"strings"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// handleErrors answers GET /api/errors: a card for every error sockplay
// explains (what it means, the usual cause, what to try, the Python
// exception), and whether the session can reproduce it.
func (s *Server) handleErrors(w http.ResponseWriter, r *http.Request) error {
	return respond(w, http.StatusOK, map[string]any{"errors": engine.ErrorCards()})
}

// handleReproduce answers POST /api/sessions/{id}/reproduce {"errno"}: it
// makes that error happen in the session for real (servers and clients
// that stay, an error event like any other) and answers 201 with what it
// did.
func (s *Server) handleReproduce(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	var in struct {
		Errno string `json:"errno"`
	}
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Errno) == "" {
		return badRequest(`errno is required, e.g. {"errno":"ECONNREFUSED"}; sockplay can reproduce: ` + strings.Join(engine.ReproducibleErrnos(), ", "))
	}
	out, err := s.lab.Reproduce(r.Context(), sess.ID, in.Errno)
	if err != nil {
		return err
	}
	return respond(w, http.StatusCreated, out)
}
