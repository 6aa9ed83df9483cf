package web

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"

	"github.com/sockplay/sockplay/sessions"
)

// Share links: a session's owner makes a read-only link
// (POST /api/sessions/{id}/shares → {"token","url"}); whoever holds it may
// watch the session, live and recorded, and export it — through the routes
// under /api/shared/{token}, /ws/shared/{token} and the page
// /shared/{token}, which only read. A wrong or revoked token is 404 with
// the same words, so it does not say whether the session exists.
//
// The session's id is what lets the owner's routes (/api/sessions/{id}/…)
// start, stop, send and delete, so nothing served through a link carries
// it: every JSON string equal to it (an event's "session", the session's
// "id", its servers' and clients' "session") is written as "".

// shareView is a link as its owner lists it.
type shareView struct {
	sessions.Share
	URL string `json:"url"`
}

func shareURL(r *http.Request, token string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/shared/" + token
}

func (s *Server) handleCreateShare(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	sh, err := s.store.CreateShare(r.Context(), sess.ID)
	if err != nil {
		return err
	}
	return respond(w, http.StatusCreated, shareView{Share: sh, URL: shareURL(r, sh.Token)})
}

func (s *Server) handleListShares(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	list, err := s.store.Shares(r.Context(), sess.ID)
	if err != nil {
		return err
	}
	out := make([]shareView, 0, len(list))
	for _, sh := range list {
		out = append(out, shareView{Share: sh, URL: shareURL(r, sh.Token)})
	}
	return respond(w, http.StatusOK, map[string]any{"shares": out})
}

func (s *Server) handleRevokeShare(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	token := chi.URLParam(r, "token")
	if err := s.store.RevokeShare(r.Context(), sess.ID, token); err != nil {
		return err
	}
	liveShares.cut(token) // its open live streams end too
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// errNoShare is the one answer to a token that is wrong or revoked.
var errNoShare = &apiError{status: http.StatusNotFound, msg: "no such share link: it may be mistyped, or its owner revoked it"}

// sharedFunc is a handler of a route under /…/shared/{token}: it gets the
// session the link opens and the token.
type sharedFunc func(w http.ResponseWriter, r *http.Request, sess sessions.Session, token string) error

// inShare resolves {token} to its session and hands both to h.
func (s *Server) inShare(h sharedFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		token := chi.URLParam(r, "token")
		sess, err := s.store.SharedSession(r.Context(), token)
		if err != nil {
			if errors.Is(err, sessions.ErrNotFound) {
				return errNoShare
			}
			return err
		}
		return h(w, r, sess, token)
	}
}

// redacted runs an owner's read-only JSON handler for a link's holder and
// withholds the session's id from its answer.
func (s *Server) redacted(h sessionHandlerFunc) sharedFunc {
	return func(w http.ResponseWriter, r *http.Request, sess sessions.Session, token string) error {
		rw := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
		if err := h(rw, r, sess); err != nil {
			return err
		}
		for k, v := range rw.header {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rw.status)
		_, _ = w.Write(redactSession(rw.body.Bytes(), sess.ID))
		return nil
	}
}

// bufferedResponse holds a small JSON answer (a session, a page of events)
// so that it can be redacted before it is sent.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedResponse) WriteHeader(status int)      { b.status = status }

// redactSession replaces every JSON string that is exactly the session's
// id with "". Ids are base32 (nothing to escape) and base64 data holds no
// quotes, so only such strings match.
func redactSession(b []byte, id string) []byte {
	if id == "" {
		return b
	}
	return bytes.ReplaceAll(b, []byte(`"`+id+`"`), []byte(`""`))
}

type redactKey struct{}

// withRedaction marks a live stream's context: its events are written
// without the session's id (see writeEvents in live.go).
func withRedaction(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, redactKey{}, id)
}

// redactFor redacts b if ctx is a link holder's stream.
func redactFor(ctx context.Context, b []byte) []byte {
	if id, ok := ctx.Value(redactKey{}).(string); ok {
		return redactSession(b, id)
	}
	return b
}

func (s *Server) handleSharedSession(w http.ResponseWriter, r *http.Request, sess sessions.Session, token string) error {
	return s.redacted(s.handleGetSession)(w, r, sess, token)
}

func (s *Server) handleSharedEvents(w http.ResponseWriter, r *http.Request, sess sessions.Session, token string) error {
	return s.redacted(s.handleEvents)(w, r, sess, token)
}

// handleSharedLive is the session's live stream (the same as
// /ws/sessions/{id}) for a link's holder.
func (s *Server) handleSharedLive(w http.ResponseWriter, r *http.Request, sess sessions.Session, token string) error {
	ctx, cancel := context.WithCancel(withRedaction(r.Context(), sess.ID))
	defer cancel()
	defer liveShares.add(token, cancel)()
	return s.handleLive(w, r.WithContext(ctx), sess)
}

// liveShares are the open live streams of each share link, ended when the
// link is revoked. Tokens are random, so one table serves every Server.
var liveShares = &shareStreams{m: map[string]map[*context.CancelFunc]bool{}}

type shareStreams struct {
	mu sync.Mutex
	m  map[string]map[*context.CancelFunc]bool
}

// add registers a stream's cancel under token; the function it returns
// removes it.
func (t *shareStreams) add(token string, cancel context.CancelFunc) (remove func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[token] == nil {
		t.m[token] = map[*context.CancelFunc]bool{}
	}
	t.m[token][&cancel] = true
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		delete(t.m[token], &cancel)
		if len(t.m[token]) == 0 {
			delete(t.m, token)
		}
	}
}

// cut ends token's streams.
func (t *shareStreams) cut(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.m[token] {
		(*c)()
	}
}

func (s *Server) handleSharedExport(format string) sharedFunc {
	return func(w http.ResponseWriter, r *http.Request, sess sessions.Session, token string) error {
		return s.export(w, r, sess, format, token)
	}
}

// handleSharedPage is the session page without its controls: no start,
// stop, send, close, faults or delete, and no session id in it.
func (s *Server) handleSharedPage(w http.ResponseWriter, r *http.Request, sess sessions.Session, token string) error {
	v, err := s.sharedView(r, sess, token)
	if err != nil {
		return err
	}
	return render(w, r, sessionPage(v))
}

func (s *Server) handleSharedEndpoints(w http.ResponseWriter, r *http.Request, sess sessions.Session, token string) error {
	v, err := s.sharedView(r, sess, token)
	if err != nil {
		return err
	}
	return render(w, r, endpoints(v))
}

func (s *Server) sharedView(r *http.Request, sess sessions.Session, token string) (sessionView, error) {
	v, err := s.view(r, sess)
	if err != nil {
		return v, err
	}
	v.ID, v.ReadOnly, v.Share = "", true, token
	for i := range v.Servers {
		v.Servers[i].Session = ""
	}
	for i := range v.Clients {
		v.Clients[i].Session = ""
	}
	return v, nil
}
