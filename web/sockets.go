package web

import (
	"net/http"
	"strconv"
	"sync"
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
	bp := socketsBufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledSockets {
			socketsBufs.Put(bp)
		}
	}()
	b := append((*bp)[:0], `{"sockets":`...)
	b = engine.AppendSocketsJSON(b, rows)
	b = append(b, `,"at":"`...)
	b = time.Now().UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\"}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b)
	*bp = b
	return err
}

// socketsBufs keep the tables' JSON between refreshes (a thousand rows are
// 430 KB, made anew and cleared every second by every open panel
// otherwise); one past maxPooledSockets is let go.
var socketsBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledSockets = 4 << 20
