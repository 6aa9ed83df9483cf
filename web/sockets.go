package web

import (
	"net/http"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// socketsView is the answer of GET /api/sessions/{id}/sockets: every socket
// the session holds open now (see engine.Lab.Sockets), like ss -tanp for
// the session's own sockets.
type socketsView struct {
	Sockets []engine.SocketInfo `json:"sockets"`
	// At is when the table was read (RFC 3339, UTC).
	At string `json:"at"`
}

func (s *Server) handleSockets(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	rows := s.lab.Sockets(sess.ID)
	if rows == nil {
		rows = []engine.SocketInfo{}
	}
	w.Header().Set("Cache-Control", "no-store")
	return respond(w, http.StatusOK, socketsView{Sockets: rows, At: time.Now().UTC().Format(time.RFC3339Nano)})
}
