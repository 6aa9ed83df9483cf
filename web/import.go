package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"

	"github.com/sockplay/sockplay/sessions"
)

// Importing a jsonl export (POST /api/sessions/import, the body is the
// file; or the home page's Import form, multipart with a "file" field)
// makes a new session of the caller holding the file's events, checked
// whole before anything is written (sessions/import.go). Nothing is
// started or dialed: the servers it shows are recorded history.

// DiskBudget is the disk budget and the import's limits (main's flags).
type DiskBudget struct {
	// MaxImportBytes bounds an import file (default
	// sessions.DefaultMaxImportBytes): past it, 413.
	MaxImportBytes int64
	// MaxSessionEvents and MaxSessionBytes are the recorder's per-session
	// caps (sessions.RecorderConfig), shown on the home page; an import of
	// more events than a session keeps is refused.
	MaxSessionEvents int64
	MaxSessionBytes  int64
	// Retention is the whole database's budget, or nil.
	Retention *sessions.Retention
}

// importer is what the recorder does for an import.
type importer interface {
	Import(ctx context.Context, p *sessions.ParsedImport, name, owner string) (sessions.Session, error)
}

func (s *Server) maxImportBytes() int64 {
	if s.cfg.Budget.MaxImportBytes > 0 {
		return s.cfg.Budget.MaxImportBytes
	}
	return sessions.DefaultMaxImportBytes
}

func (s *Server) handleImport(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.importSession(w, r)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/sessions/"+sess.ID)
	return respond(w, http.StatusCreated, map[string]any{"session": sess, "url": "/s/" + sess.ID})
}

// handleImportForm is the home page's Import form without JavaScript.
func (s *Server) handleImportForm(w http.ResponseWriter, r *http.Request) error {
	sess, err := s.importSession(w, r)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/s/"+sess.ID, http.StatusSeeOther)
	return nil
}

// importSession reads the file of r and imports it for r's caller.
func (s *Server) importSession(w http.ResponseWriter, r *http.Request) (sessions.Session, error) {
	imp, ok := s.recorder.(importer)
	if !ok {
		return sessions.Session{}, &apiError{status: http.StatusNotImplemented, msg: "this sockplay cannot import sessions"}
	}
	name := r.URL.Query().Get("name")
	if _, err := sessions.CheckName(name); err != nil {
		return sessions.Session{}, err
	}
	owner, err := s.importOwner(r)
	if err != nil {
		return sessions.Session{}, err
	}
	if err := s.visitors.allowSession(r); err != nil {
		return sessions.Session{}, err
	}
	limit := s.maxImportBytes()
	clearDeadline := s.bodyDeadline(w)
	// The multipart form's own bytes come on top of the file's.
	body := io.Reader(http.MaxBytesReader(w, r.Body, limit+64<<10))
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		f, err := filePart(r, params["boundary"])
		if err != nil {
			return sessions.Session{}, err
		}
		body = f
	}
	p, err := sessions.ParseImport(body, limit, s.cfg.Budget.MaxSessionEvents)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig), errors.Is(err, sessions.ErrTooLarge):
		return sessions.Session{}, &apiError{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("the file is too large to import: this sockplay imports files of up to %s (-max-import-bytes) and sessions of up to %d events (-session-max-events)", sessions.FormatBytes(limit), s.cfg.Budget.MaxSessionEvents)}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return sessions.Session{}, s.slowBody()
	case err != nil:
		return sessions.Session{}, err
	}
	clearDeadline()
	return imp.Import(r.Context(), p, name, owner)
}

// filePart returns the "file" field of a multipart body.
func filePart(r *http.Request, boundary string) (io.Reader, error) {
	if boundary == "" {
		return nil, badRequest("a multipart body without a boundary")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest("the form could not be read: " + err.Error())
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, badRequest("the form has no file: choose an export.jsonl to import")
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, err
			}
			return nil, badRequest("the form could not be read: " + err.Error())
		}
		if part.FormName() == "file" {
			return part, nil
		}
	}
}

// importOwner is whom an import belongs to, with the same rules as a new
// session (createSession): in workshop mode the caller, within their number
// of sessions.
func (s *Server) importOwner(r *http.Request) (string, error) {
	if !s.cfg.Workshop {
		return "", nil
	}
	c, err := s.callerOf(r)
	if err != nil {
		return "", err
	}
	if !c.known() {
		return "", errSignIn
	}
	if c.participant != nil && c.participant.Closed {
		return "", errWorkshopEnded
	}
	if c.participant != nil && s.cfg.MaxParticipantSessions > 0 {
		n, err := s.ws.store.CountSessionsOf(r.Context(), c.owner())
		if err != nil {
			return "", err
		}
		if n >= s.cfg.MaxParticipantSessions {
			return "", &apiError{status: http.StatusTooManyRequests, quota: "sessions", msg: fmt.Sprintf(
				"a workshop participant may have %d sessions and you have %d; delete one first (the home page lists them)", s.cfg.MaxParticipantSessions, n)}
		}
	}
	return c.owner(), nil
}
