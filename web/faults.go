package web

import (
	"errors"
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// The fault routes: a running server's faults, added, listed, changed and
// removed live (engine/fault.go).
//
//	POST   /api/sessions/{id}/servers/{sid}/faults         {"name"?, "type", "direction"?, "toxicity"?, "attributes"?} -> 201 the fault
//	GET    /api/sessions/{id}/servers/{sid}/faults         -> {"faults": [...], "presets": [...]}
//	PATCH  /api/sessions/{id}/servers/{sid}/faults/{name}  {"toxicity"?, "attributes"?} -> 200 the fault
//	DELETE /api/sessions/{id}/servers/{sid}/faults/{name}  -> 204

func (s *Server) handleAddFault(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	var in engine.FaultSpec
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	f, err := s.lab.AddFault(sess.ID, chi.URLParam(r, "sid"), in)
	if err != nil {
		return s.faultError(r, sess, err)
	}
	return respond(w, http.StatusCreated, f)
}

func (s *Server) handleListFaults(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	list, err := s.lab.Faults(sess.ID, chi.URLParam(r, "sid"))
	if err != nil {
		return s.faultError(r, sess, err)
	}
	return respond(w, http.StatusOK, map[string]any{"faults": list, "presets": engine.FaultPresets})
}

func (s *Server) handleUpdateFault(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	var in engine.FaultPatch
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	f, err := s.lab.UpdateFault(sess.ID, chi.URLParam(r, "sid"), chi.URLParam(r, "name"), in)
	if err != nil {
		return s.faultError(r, sess, err)
	}
	return respond(w, http.StatusOK, f)
}

func (s *Server) handleRemoveFault(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	if err := s.lab.RemoveFault(sess.ID, chi.URLParam(r, "sid"), chi.URLParam(r, "name")); err != nil {
		return s.faultError(r, sess, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// faultError answers a server the session had but that no longer runs
// with 409 (faults go on running servers), not an unknown id.
func (s *Server) faultError(r *http.Request, sess sessions.Session, err error) error {
	id := chi.URLParam(r, "sid")
	if !errors.Is(err, engine.ErrNotFound) {
		return err
	}
	running := slices.ContainsFunc(s.lab.Servers(sess.ID), func(i engine.ServerInfo) bool {
		return i.ID == id && i.State == engine.StateRunning
	})
	if !running && s.hadEndpoint(r.Context(), sess, id, false) {
		return &apiError{status: http.StatusConflict, msg: "server " + id + " is stopped: faults go on a running server; start it again first"}
	}
	return err
}
