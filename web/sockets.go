package web

import (
	"net/http"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// handleSockets answers GET /api/sessions/{id}/sockets: every socket the
// session holds open now (see engine.Lab.Sockets), like ss -tanp for the
// session's own sockets: {"sockets":[…],"at"} where at is when the table
// was read (RFC 3339, UTC). The rows are written without reflection
// (engine.AppendSocketsJSON): every open panel asks every second.
func (s *Server) handleSockets(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	rows := s.lab.Sockets(sess.ID)
	b := append(make([]byte, 0, 256+300*len(rows)), `{"sockets":`...)
	b = engine.AppendSocketsJSON(b, rows)
	b = append(b, `,"at":"`...)
	b = time.Now().UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\"}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b)
	return err
}
