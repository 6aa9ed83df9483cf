package web

import (
	"bufio"
	"errors"
	"mime"
	"net/http"
	"strings"
	"unicode"

	"github.com/sockplay/sockplay/sessions"
)

// The exports of a session (GET …/export.jsonl, .pcapng, .txt) stream the
// events through Store.Scan: memory stays flat however large the session.
// An export is a snapshot: it ends at the last event recorded when it
// began, even if the session goes on recording.

// errExportDone stops the scan at the snapshot's end.
var errExportDone = errors.New("export done")

func (s *Server) handleExportJSONL(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	return s.export(w, r, sess, "jsonl", "")
}

func (s *Server) handleExportPcapng(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	return s.export(w, r, sess, "pcapng", "")
}

func (s *Server) handleExportText(w http.ResponseWriter, r *http.Request, sess sessions.Session) error {
	return s.export(w, r, sess, "txt", "")
}

// export streams sess in format. Through a share link (shared set), the
// session's id is withheld from what is written (see redactSession).
func (s *Server) export(w http.ResponseWriter, r *http.Request, sess sessions.Session, format string, shared string) error {
	one := r.URL.Query().Get("conn") // the transcript of one connection
	if one != "" && format != "txt" {
		return badRequest("conn= picks one connection of the text transcript (export.txt) only")
	}
	meta := sess
	if shared != "" {
		meta.ID = ""
	}
	types := map[string]string{"jsonl": "application/x-ndjson", "pcapng": "application/x-pcapng", "txt": "text/plain; charset=utf-8"}
	h := w.Header()
	h.Set("Content-Type", types[format])
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": exportFilename(sess.Name, format)}))
	h.Set("Cache-Control", "no-store")
	bw := bufio.NewWriterSize(w, 64<<10)
	last := sess.Events
	var write func(rec *sessions.Record) error
	var flush func() error
	switch format {
	case "jsonl":
		if err := sessions.WriteJSONLHeader(bw, meta); err != nil {
			return nil
		}
		// The stored JSON goes out as it is, never decoded.
		var line []byte
		err := s.store.ScanRaw(r.Context(), sess.ID, 0, func(e sessions.RawEvent) error {
			if e.Seq > last {
				return errExportDone
			}
			line = e.AppendJSON(line[:0])
			if shared != "" {
				line = redactSession(line, sess.ID)
			}
			bw.Write(line)
			return bw.WriteByte('\n')
		})
		return s.endExport(r, bw, sess, format, err, func() error { return nil })
	case "pcapng":
		pw, err := sessions.NewPcapWriter(bw, meta)
		if err != nil {
			return err
		}
		write, flush = pw.Write, pw.Flush
	case "txt":
		tw, err := sessions.NewTranscriptWriter(bw, meta, one)
		if err != nil {
			return nil
		}
		write, flush = tw.Write, tw.Flush
	}
	err := s.store.Scan(r.Context(), sess.ID, 0, func(rec *sessions.Record) error {
		if rec.Seq > last {
			return errExportDone
		}
		return write(rec)
	})
	return s.endExport(r, bw, sess, format, err, flush)
}

// endExport finishes an export that ended with err (errExportDone: at its
// last seq): flushes it, or cuts the response off if it failed.
func (s *Server) endExport(r *http.Request, bw *bufio.Writer, sess sessions.Session, format string, err error, flush func() error) error {
	if err == nil || errors.Is(err, errExportDone) {
		err = flush()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		// The status line is gone: cut the response off so that the
		// download is seen to be incomplete rather than ending cleanly.
		if r.Context().Err() == nil {
			s.logFor(r).Error("export failed", "session", sess.ID, "format", format, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	return nil
}

// exportFilename is a download's file name: the session's name with only
// letters, digits, dots, dashes and underscores kept (others become '-'),
// and the format's extension.
func exportFilename(name, ext string) string {
	var b strings.Builder
	dash := false
	for _, r := range name {
		ok := r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '_' || r == '-')
		if !ok {
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = true
			continue
		}
		b.WriteRune(r)
		dash = false
	}
	out := strings.Trim(b.String(), ".-")
	if len(out) > 80 {
		out = strings.Trim(out[:80], ".-")
	}
	if out == "" {
		out = "session"
	}
	return out + "." + ext
}

// exportBase is the API path the page's Export menu links under: the
// session's, or on a share link's page the link's.
func exportBase(v sessionView) string {
	if v.Share != "" {
		return "/api/shared/" + v.Share
	}
	return "/api/sessions/" + v.ID
}

// endpointsSrc is where the page's script refreshes the servers and
// clients panel from.
func endpointsSrc(v sessionView) string {
	if v.Share != "" {
		return "/shared/" + v.Share + "/endpoints"
	}
	return "/s/" + v.ID + "/endpoints"
}
