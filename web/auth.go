package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/sockplay/sockplay/sessions"
)

// Who is asking, in workshop mode (docs/workshop.md): the instructor (a
// cookie issued by POST /api/workshop/login, held in memory until it
// expires), a participant (a cookie issued by POST /api/join, stored hashed
// with the participant) or nobody. Without -workshop every request is the
// person at the laptop and nothing here applies.

const (
	instructorCookie  = "sockplay_instructor"
	participantCookie = "sockplay_participant"
)

// caller is who made a request in workshop mode.
type caller struct {
	instructor  bool
	participant *sessions.Participant
}

// owner is the Owner of the sessions the caller creates and lists.
func (c caller) owner() string {
	switch {
	case c.instructor:
		return sessions.OwnerInstructor
	case c.participant != nil:
		return c.participant.ID
	}
	return ""
}

func (c caller) known() bool { return c.instructor || c.participant != nil }

type callerKey struct{}

// callerOf returns who made r (resolved once per request by workshopGate).
func (s *Server) callerOf(r *http.Request) (caller, error) {
	if c, ok := r.Context().Value(callerKey{}).(caller); ok {
		return c, nil
	}
	return s.resolveCaller(r)
}

func (s *Server) resolveCaller(r *http.Request) (caller, error) {
	var c caller
	if ck, err := r.Cookie(instructorCookie); err == nil && s.ws.instructors.valid(ck.Value) {
		c.instructor = true
	}
	if ck, err := r.Cookie(participantCookie); err == nil && ck.Value != "" {
		p, err := s.ws.store.ParticipantByToken(r.Context(), sessions.HashToken(ck.Value))
		switch {
		case err == nil:
			c.participant = &p
		case !errors.Is(err, sessions.ErrNotFound):
			return caller{}, err
		}
	}
	return c, nil
}

// errSignIn answers a workshop-mode request that holds neither cookie.
var errSignIn = &apiError{status: http.StatusUnauthorized, msg: "this sockplay runs a workshop: join it with your instructor's code at /join first (instructor: log in at /instructor)"}

// protectedPath reports whether path reaches sessions: in workshop mode a
// caller must be signed in for it.
func protectedPath(path string) bool {
	for _, p := range []string{"/api/sessions", "/ws/sessions", "/s/", "/sessions"} {
		if path == p || strings.HasPrefix(path, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

// workshopGate, in workshop mode, resolves who is asking once per request
// and refuses every session route to a caller with neither cookie (401); the
// home page sends them to /join. Ownership of one session is checked by
// inSession.
func (s *Server) workshopGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.Workshop || !protectedPath(r.URL.Path) && r.URL.Path != "/" {
			next.ServeHTTP(w, r) // other routes ask callerOf when they need to
			return
		}
		c, err := s.resolveCaller(r)
		if err != nil {
			s.respondError(w, r, err)
			return
		}
		if !c.known() {
			switch {
			case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
				http.Redirect(w, r, "/join", http.StatusSeeOther)
				return
			case protectedPath(r.URL.Path):
				if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/ws/") {
					s.respondError(w, r, errSignIn)
				} else {
					s.pageError(w, r, errSignIn)
				}
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	})
}

// mayUse decides whether the caller may reach sess: the one ownership check
// (inSession calls it). A participant reaches only their own sessions; the
// instructor reaches every session, and a participant's read-only. Another
// participant's session is "not found", exactly as one that does not exist.
func (s *Server) mayUse(r *http.Request, sess sessions.Session) error {
	if !s.cfg.Workshop {
		return nil
	}
	c, err := s.callerOf(r)
	if err != nil {
		return err
	}
	readOnly := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case c.participant != nil && sess.Owner == c.participant.ID && c.participant.Closed && !readOnly:
		return errWorkshopEnded
	case c.participant != nil && sess.Owner == c.participant.ID:
		return nil
	case c.instructor && sess.Owner == sessions.OwnerInstructor:
		return nil
	case c.instructor:
		if readOnly {
			return nil
		}
		return &apiError{status: http.StatusForbidden, msg: "the instructor sees participants' sessions read-only: nothing was changed"}
	case !c.known():
		return errSignIn
	}
	return sessions.ErrNotFound
}

// newToken returns 256 random bits, URL-safe: a cookie's value.
func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// secure reports whether cookies set in answer to r must be Secure: the
// request came over TLS, or the operator said sockplay is behind HTTPS.
func (s *Server) secure(r *http.Request) bool {
	return r.TLS != nil || s.cfg.SecureCookies || s.fromProxy(r) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// fromProxy reports whether r comes from one of Config.TrustedProxies.
func (s *Server) fromProxy(r *http.Request) bool {
	if len(s.cfg.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// clientOf names r's client for the log-in and join limits: the client
// address, or behind a trusted proxy the address the proxy saw (the last
// entry of X-Forwarded-For, the one the proxy itself added), grouped as
// visitorOf groups addresses.
func (s *Server) clientOf(r *http.Request) string {
	if s.fromProxy(r) {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if a, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
				r2 := *r
				r2.RemoteAddr = netip.AddrPortFrom(a, 0).String()
				return visitorOf(&r2)
			}
		}
	}
	return visitorOf(r)
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.secure(r), MaxAge: int(maxAge.Seconds()), Expires: time.Now().Add(maxAge)})
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: s.secure(r), MaxAge: -1})
}

// instructors holds the instructor's logins: the hash of each cookie and
// when it expires. They live in memory: a restart logs the instructor out.
type instructors struct {
	ttl time.Duration

	mu     sync.Mutex
	tokens map[[32]byte]time.Time
}

func (in *instructors) add(token string) {
	now := time.Now()
	in.mu.Lock()
	defer in.mu.Unlock()
	for k, exp := range in.tokens {
		if now.After(exp) {
			delete(in.tokens, k)
		}
	}
	in.tokens[sha256.Sum256([]byte(token))] = now.Add(in.ttl)
}

func (in *instructors) valid(token string) bool {
	if token == "" {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	k := sha256.Sum256([]byte(token))
	exp, ok := in.tokens[k]
	if ok && time.Now().After(exp) {
		delete(in.tokens, k)
		return false
	}
	return ok
}

func (in *instructors) remove(token string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.tokens, sha256.Sum256([]byte(token)))
}

// passwordOK compares a typed password with the instructor's in constant
// time (both hashed first, so neither length shows either).
func passwordOK(typed, want string) bool {
	a, b := sha256.Sum256([]byte(typed)), sha256.Sum256([]byte(want))
	return want != "" && subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// limiter is a token bucket per visitor (client address, see visitorOf),
// plus one for everybody together; idle visitors are forgotten.
type limiter struct {
	every time.Duration // one more attempt per every
	burst int
	all   *rate.Limiter // nil: no overall limit
	what  string        // "log-in attempts", for the message

	mu    sync.Mutex
	seen  map[string]*visitor
	swept time.Time
}

func newLimiter(perMinute, burst int, allPerMinute int, what string) *limiter {
	if perMinute <= 0 {
		return &limiter{what: what}
	}
	l := &limiter{every: time.Minute / time.Duration(perMinute), burst: burst, what: what, seen: map[string]*visitor{}, swept: time.Now()}
	if allPerMinute > 0 {
		l.all = rate.NewLimiter(rate.Every(time.Minute/time.Duration(allPerMinute)), allPerMinute)
	}
	return l
}

// allow takes one attempt of client ip, or says when to try again (429).
func (l *limiter) allow(ip string) error {
	if l.every == 0 {
		return nil
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, x := range l.seen {
			if now.Sub(x.last) > time.Duration(l.burst)*l.every {
				delete(l.seen, k)
			}
		}
		l.swept = now
	}
	x := l.seen[ip]
	if x == nil {
		x = &visitor{lim: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.seen[ip] = x
	}
	x.last = now
	res := x.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return &apiError{status: http.StatusTooManyRequests, retryAfter: d,
			msg: fmt.Sprintf("too many %s from this address; try again in %s", l.what, max(d, time.Second).Round(time.Second))}
	}
	if l.all != nil {
		all := l.all.ReserveN(now, 1)
		if d := all.DelayFrom(now); d > 0 {
			all.CancelAt(now)
			res.CancelAt(now)
			return &apiError{status: http.StatusTooManyRequests, retryAfter: d,
				msg: fmt.Sprintf("too many %s right now; try again in %s", l.what, max(d, time.Second).Round(time.Second))}
		}
	}
	return nil
}
