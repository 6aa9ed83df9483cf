package web

import (
	"archive/zip"
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/sockplay/sockplay/sessions"
)

// GET /api/workshops/{wid}/export.zip: every session of the workshop in one
// zip, streamed as it is written (nothing is held in memory but the current
// chunk of events): for each participant's session a folder
// "NN-name-sessionid/" with session.jsonl and session.pcapng (the same
// files as the session's own exports), and a README.txt listing them.
func (s *Server) handleExportWorkshop(w http.ResponseWriter, r *http.Request) error {
	wk, err := s.workshopParam(r)
	if err != nil {
		return err
	}
	list, err := s.ws.store.WorkshopSessions(r.Context(), wk.ID)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": exportFilename(wk.Name, "zip")}))
	h.Set("Cache-Control", "no-store")
	bw := bufio.NewWriterSize(w, 64<<10)
	zw := zip.NewWriter(bw)
	var index strings.Builder
	fmt.Fprintf(&index, "sockplay workshop %q (code %s), exported %s\n\n", wk.Name, wk.Code, time.Now().UTC().Format(time.RFC3339))
	fail := func(err error) error {
		// The status line is gone: cut the response off so that the
		// download is seen to be incomplete (a zip without its directory).
		if r.Context().Err() == nil {
			s.log.Error("workshop export failed", "workshop", wk.ID, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	now := time.Now()
	for i, x := range list {
		dir := fmt.Sprintf("%02d-%s-%s/", i+1, strings.TrimSuffix(exportFilename(x.Participant.Name, ""), "."), x.Session.ID)
		fmt.Fprintf(&index, "%s\t%s\t%d events\n", dir, x.Participant.Name, x.Session.Events)
		for _, format := range []string{"jsonl", "pcapng"} {
			f, err := zw.CreateHeader(&zip.FileHeader{Name: dir + "session." + format, Method: zip.Deflate, Modified: now})
			if err != nil {
				return fail(err)
			}
			if err := s.writeExport(r, f, x.Session, format); err != nil {
				return fail(err)
			}
		}
	}
	f, err := zw.CreateHeader(&zip.FileHeader{Name: "README.txt", Method: zip.Deflate, Modified: now})
	if err == nil {
		_, err = io.WriteString(f, index.String())
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fail(err)
	}
	s.log.Info("workshop exported", "workshop", wk.ID, "sessions", len(list))
	return nil
}

// writeExport writes sess in format (jsonl or pcapng) to w, up to the last
// event recorded when it began, as the session's own export does.
func (s *Server) writeExport(r *http.Request, w io.Writer, sess sessions.Session, format string) error {
	bw := bufio.NewWriterSize(w, 32<<10)
	last := sess.Events
	var err error
	switch format {
	case "jsonl":
		if err := sessions.WriteJSONLHeader(bw, sess); err != nil {
			return err
		}
		var line []byte
		err = s.store.ScanRaw(r.Context(), sess.ID, 0, func(e sessions.RawEvent) error {
			if e.Seq > last {
				return errExportDone
			}
			line = e.AppendJSON(line[:0])
			bw.Write(line)
			return bw.WriteByte('\n')
		})
	case "pcapng":
		pw, perr := sessions.NewPcapWriter(bw, sess)
		if perr != nil {
			return perr
		}
		err = s.store.Scan(r.Context(), sess.ID, 0, func(rec *sessions.Record) error {
			if rec.Seq > last {
				return errExportDone
			}
			return pw.Write(rec)
		})
		if err == nil || errors.Is(err, errExportDone) {
			err = pw.Flush()
		}
	}
	if err != nil && !errors.Is(err, errExportDone) {
		return err
	}
	return bw.Flush()
}

// GET /instructor/workshops/{wid}/qr.svg: the join URL as a QR code, drawn
// as SVG so it stays sharp on a projector at any size.
func (s *Server) handleWorkshopQR(w http.ResponseWriter, r *http.Request) error {
	wk, err := s.ws.store.GetWorkshop(r.Context(), chi.URLParam(r, "wid"))
	if errors.Is(err, sessions.ErrNotFound) {
		return &apiError{status: http.StatusNotFound, msg: "no such workshop"}
	}
	if err != nil {
		return err
	}
	svg, err := qrSVG(s.joinURL(r, wk.Code))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	_, err = io.WriteString(w, svg)
	return err
}

// qrSVG draws text as a QR code (medium error correction, with its quiet
// zone): one path of unit squares.
func qrSVG(text string) (string, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", err
	}
	bm := q.Bitmap()
	n := len(bm)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img" aria-label="QR code of %s">`, n, n, htmlEscape(text))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y, row := range bm {
		for x, on := range row {
			if on {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x, y)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String(), nil
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
