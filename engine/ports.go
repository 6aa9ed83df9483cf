package engine

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// PortRange is an inclusive range of TCP/UDP ports, the "lab range" in which
// playground servers listen and to which clients may dial by default.
type PortRange struct{ First, Last int }

// ParsePortRange parses "20000-20999" (or a single port "20000").
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, found := strings.Cut(strings.TrimSpace(s), "-")
	if !found {
		hi = lo
	}
	first, err1 := strconv.Atoi(strings.TrimSpace(lo))
	last, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || first < 1 || last > 65535 || first > last {
		return PortRange{}, fmt.Errorf("port range %q: want FIRST-LAST with 1 <= FIRST <= LAST <= 65535", s)
	}
	return PortRange{first, last}, nil
}

// Contains reports whether port p is inside the range.
func (r PortRange) Contains(p int) bool { return p >= r.First && p <= r.Last }

// String formats the range as "FIRST-LAST".
func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// ErrPortOutOfRange is returned when an explicit port lies outside the lab range.
var ErrPortOutOfRange = errors.New("port outside the lab range")

// ErrNoFreePort is returned when every port of the lab range is taken.
var ErrNoFreePort = errors.New("no free port left in the lab range")

// PortPool hands out ports of the lab range for listeners. Picking tries ports
// round-robin from where it last stopped so that a just-closed port (which may
// still have connections in TIME_WAIT) is not reused at once.
type PortPool struct {
	host  string
	r     PortRange
	extra []int // ports outside the range that may be asked for by number
	mu    sync.Mutex
	next  int
	inUse map[int]bool
}

// NewPortPool returns a pool over r for listeners bound to host. The extra
// ports (the tutorials' fixed ports) may be asked for by number but are
// never picked.
func NewPortPool(host string, r PortRange, extra []int) *PortPool {
	return &PortPool{host: host, r: r, extra: extra, next: r.First, inUse: map[int]bool{}}
}

// Range returns the pool's port range.
func (p *PortPool) Range() PortRange { return p.r }

// Host returns the host listeners bind to.
func (p *PortPool) Host() string { return p.host }

// poolBind binds a socket on port (0 = the next free port of the range)
// with bind and returns it with its port, claimed until Release. An explicit
// port must be inside the range or one of the extra ports; one that is taken
// fails with the operating system's EADDRINUSE, so the learner sees the real
// error (the operating system is the judge of a taken port).
func poolBind[T interface{ Close() error }](p *PortPool, port int, bind func(port int) (T, error)) (T, int, error) {
	var zero T
	if port != 0 {
		if !p.Allows(port) {
			return zero, 0, fmt.Errorf("port %d: %w %s", port, ErrPortOutOfRange, p.r)
		}
		t, err := bind(port)
		if err != nil {
			return zero, 0, err
		}
		p.claim(port)
		return t, port, nil
	}
	size := p.r.Last - p.r.First + 1
	for range size {
		cand := p.advance()
		if !p.claim(cand) {
			continue
		}
		t, err := bind(cand)
		if err == nil {
			return t, cand, nil
		}
		p.Release(cand)
		if !isAddrInUse(err) {
			return zero, 0, err
		}
	}
	return zero, 0, ErrNoFreePort
}

// Allows reports whether an explicit port may be asked for: inside the
// range, or one of the extra (tutorial) ports.
func (p *PortPool) Allows(port int) bool { return p.r.Contains(port) || slices.Contains(p.extra, port) }

func (p *PortPool) advance() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	cand := p.next
	p.next++
	if p.next > p.r.Last {
		p.next = p.r.First
	}
	return cand
}

func (p *PortPool) claim(port int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inUse[port] {
		return false
	}
	p.inUse[port] = true
	return true
}

// Release returns port to the pool.
func (p *PortPool) Release(port int) {
	p.mu.Lock()
	delete(p.inUse, port)
	p.mu.Unlock()
}

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
