package web

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// visitors limits how fast one visitor creates sessions. Until workshop mode
// gives visitors an identity, a visitor is a client IP address (sockplay
// trusts no proxy header: behind a reverse proxy every visitor shares the
// proxy's address, so raise the limit there).
type visitors struct {
	perMinute int // 0: no limit

	mu    sync.Mutex
	seen  map[string]*visitor
	swept time.Time
}

type visitor struct {
	lim  *rate.Limiter
	last time.Time
}

func newVisitors(perMinute int) *visitors {
	return &visitors{perMinute: perMinute, seen: map[string]*visitor{}, swept: time.Now()}
}

// allowSession reports whether r's visitor may create one more session now,
// and otherwise an error saying why (a 429). Check the request first: a
// refused one should not use up the allowance.
func (v *visitors) allowSession(r *http.Request) error {
	if v.perMinute <= 0 {
		return nil
	}
	ip := visitorOf(r)
	now := time.Now()
	v.mu.Lock()
	defer v.mu.Unlock()
	// Forget visitors idle long enough to have a full allowance again.
	if now.Sub(v.swept) > time.Minute {
		for k, x := range v.seen {
			if now.Sub(x.last) > time.Minute {
				delete(v.seen, k)
			}
		}
		v.swept = now
	}
	x := v.seen[ip]
	if x == nil {
		x = &visitor{lim: rate.NewLimiter(rate.Every(time.Minute/time.Duration(v.perMinute)), v.perMinute)}
		v.seen[ip] = x
	}
	x.last = now
	r1 := x.lim.ReserveN(now, 1)
	if d := r1.DelayFrom(now); d > 0 {
		r1.CancelAt(now)
		return &apiError{status: http.StatusTooManyRequests, retryAfter: d, msg: fmt.Sprintf(
			"this address may create %d sessions a minute and has just done so; wait a little, or reuse a session (the home page lists them)", v.perMinute)}
	}
	return nil
}

// visitorOf names r's visitor: its IPv4 address, or the /64 of its IPv6
// address (one host usually holds a whole /64).
func visitorOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if addr.Is4() || addr.Is4In6() {
		return addr.Unmap().String()
	}
	p, _ := addr.Prefix(64)
	return p.String()
}
