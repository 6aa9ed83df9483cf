package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// handleErrors answers GET /api/errors: a card for every error sockplay
// explains (what it means, the usual cause, what to try, the Python
// exception), and whether the session can reproduce it.
func (s *Server) handleErrors(w http.ResponseWriter, r *http.Request) error {
	return respond(w, http.StatusOK, map[string]any{"errors": engine.ErrorCards()})
}

// reproductionView is what POST …/reproduce answers: what was done, and the
// session it was done in (a fresh one, unless "in":"this").
type reproductionView struct {
	engine.Reproduction
	Session string `json:"session"`
	// URL is the page of that session.
	URL string `json:"url"`
	// Fresh says the session was made for the reproduction.
	Fresh bool `json:"fresh"`
}

// handleReproduce answers POST /api/sessions/{id}/reproduce {"errno"}: it
// makes that error happen for real (servers and clients that stay, an
// error event like any other) in a FRESH session, owned as a session made
// from the home page would be, so that the learner's own session is left
// as it was and the new one shows nothing but the situation and the error;
// {"errno", "in":"this"} does it in session {id} instead. It answers 201
// with what it did and where.
func (s *Server) handleReproduce(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	var in struct {
		Errno string `json:"errno"`
		In    string `json:"in"`
	}
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.Errno) == "" {
		return badRequest(`errno is required, e.g. {"errno":"ECONNREFUSED"}; sockplay can reproduce: ` + strings.Join(engine.ReproducibleErrnos(), ", "))
	}
	if in.In != "" && in.In != "fresh" && in.In != "this" {
		return badRequest(fmt.Sprintf(`"in" is %q; it is "fresh" (a new session, the default) or "this" (this session)`, in.In))
	}
	if !engine.CanReproduce(in.Errno) { // before a session is made for it
		_, err := s.lab.Reproduce(r.Context(), sess.ID, in.Errno) // the engine's refusal names those it can
		return err
	}
	target, fresh := sess, in.In != "this"
	if fresh {
		if err := s.visitors.allowSession(r); err != nil {
			return err
		}
		errno := strings.ToUpper(strings.TrimSpace(in.Errno))
		var err error
		if target, err = s.createSession(r, "Reproduce "+errno); err != nil {
			return err
		}
	}
	out, err := s.lab.Reproduce(r.Context(), target.ID, in.Errno)
	if err != nil {
		if fresh {
			// A set-up that failed (the lab's limits) leaves no half-made session.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
			defer cancel()
			if derr := s.deleteSession(ctx, target); derr != nil {
				s.log.Warn("could not delete a failed reproduction's session", "session", target.ID, "err", derr)
			}
		}
		return err
	}
	return respond(w, http.StatusCreated, reproductionView{Reproduction: out, Session: target.ID, URL: "/s/" + target.ID, Fresh: fresh})
}
