package web

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Who may show sockplay's pages in a frame (clickjacking: a page elsewhere
// that frames sockplay's could trick a learner into pressing its buttons).
//
// This is the ONE place that decides it: every response says
// frame-ancestors 'none' (and X-Frame-Options: DENY for older browsers),
// except a session's compact view, GET /s/{id}?embed=1, which the origins
// the operator lists with -embed-origins may frame (frame-ancestors
// naming them; off by default). The browser enforces the header; a framed
// request whose Referer names a page of another origin is also refused
// here, so nothing of the session is even sent to it.

// embedPathRE is the path of a session page (the only embeddable one).
var embedPathRE = regexp.MustCompile(`^/s/[^/]+$`)

// isEmbedRequest tells whether r asks for a session's compact view.
func isEmbedRequest(r *http.Request) bool {
	return (r.Method == http.MethodGet || r.Method == http.MethodHead) && embedPathRE.MatchString(r.URL.Path) &&
		r.URL.Query().Get("embed") == "1"
}

const frameNone = "frame-ancestors 'none'"

// frameHeaders sets the framing policy of every response (see above).
func (s *Server) frameHeaders(next http.Handler) http.Handler {
	allow := "frame-ancestors " + strings.Join(s.cfg.EmbedOrigins, " ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if len(s.cfg.EmbedOrigins) > 0 && isEmbedRequest(r) {
			if o := framingOrigin(r); o != "" && !slices.Contains(s.cfg.EmbedOrigins, o) {
				h.Set("Content-Security-Policy", frameNone)
				h.Set("X-Frame-Options", "DENY")
				writeError(w, http.StatusForbidden, "a page of "+o+" may not show sockplay in a frame: the operator lists the sites that may (-embed-origins)")
				return
			}
			h.Set("Content-Security-Policy", allow)
		} else {
			h.Set("Content-Security-Policy", frameNone)
			h.Set("X-Frame-Options", "DENY")
		}
		next.ServeHTTP(w, r)
	})
}

// framingOrigin is, for a request to fill a frame, the origin of the page
// that frames it as its Referer says ("" when it is not a frame, the
// browser sent no Referer, or the frame was already sockplay's: the header
// then decides alone).
func framingOrigin(r *http.Request) string {
	if d := r.Header.Get("Sec-Fetch-Dest"); d != "iframe" && d != "frame" {
		return ""
	}
	ref, err := url.Parse(r.Header.Get("Referer"))
	if err != nil || ref.Scheme == "" || ref.Host == "" || strings.EqualFold(ref.Host, r.Host) {
		return "" // sockplay's own page in the frame went on (a "show me" link)
	}
	return strings.ToLower(ref.Scheme + "://" + ref.Host)
}

// ParseEmbedOrigins reads -embed-origins: comma-separated origins such as
// https://tutorial.example or http://localhost:4000 (a scheme, a host, an
// optional port; no path, no wildcard).
func ParseEmbedOrigins(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Contains(u.Host, "*") ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("%q is not an origin: write a scheme and a host, with a port if it has one, such as https://tutorial.example or http://localhost:4000 (no path, no *)", p)
		}
		o := strings.ToLower(u.Scheme + "://" + u.Host)
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out, nil
}
