package engine

import (
	"errors"
	"fmt"
	"net/netip"
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
	// blockNext is where picking resumes in each participant's block
	// (keyed by the block's first port), as next is for the whole range.
	blockNext map[int]int
}

// NewPortPool returns a pool over r for listeners bound to host. The extra
// ports (the tutorials' fixed ports) may be asked for by number but are
// never picked.
func NewPortPool(host string, r PortRange, extra []int) *PortPool {
	return &PortPool{host: host, r: r, extra: extra, next: r.First, inUse: map[int]bool{}, blockNext: map[int]int{}}
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
//
// A non-zero block (a workshop participant's own ports) narrows both: port
// 0 picks inside it, and an explicit port outside it is refused.
//
// skip (nil: none) names ports a session without a block may not take:
// the participants' blocks.
func poolBind[T interface{ Close() error }](p *PortPool, block PortRange, skip func(int) error, port int, bind func(port int) (T, error)) (T, int, error) {
	var zero T
	if block != (PortRange{}) {
		return poolBindBlock(p, block, port, bind)
	}
	if port != 0 {
		if !p.Allows(port) {
			return zero, 0, fmt.Errorf("port %d: %w %s", port, ErrPortOutOfRange, p.r)
		}
		if skip != nil {
			if err := skip(port); err != nil {
				return zero, 0, err
			}
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
		if skip != nil && skip(cand) != nil {
			continue
		}
		t, ok, err := tryPort(p, cand, bind)
		if err != nil {
			return zero, 0, err
		}
		if ok {
			return t, cand, nil
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

// tryPort claims cand and binds it: ok when it is bound; neither ok nor an
// error when another server or program has it (try the next one).
func tryPort[T interface{ Close() error }](p *PortPool, cand int, bind func(port int) (T, error)) (t T, ok bool, err error) {
	if !p.claim(cand) {
		return t, false, nil
	}
	if t, err = bind(cand); err == nil {
		return t, true, nil
	}
	p.Release(cand)
	if isAddrInUse(err) {
		err = nil
	}
	return t, false, err
}

// poolBindBlock is poolBind inside a participant's block.
func poolBindBlock[T interface{ Close() error }](p *PortPool, block PortRange, port int, bind func(port int) (T, error)) (T, int, error) {
	var zero T
	if port != 0 {
		if !block.Contains(port) {
			return zero, 0, &BlockPortError{Port: port, Block: block}
		}
		t, err := bind(port)
		if err != nil {
			return zero, 0, err
		}
		p.claim(port)
		return t, port, nil
	}
	for range block.Last - block.First + 1 {
		cand := p.advanceIn(block)
		t, ok, err := tryPort(p, cand, bind)
		if err != nil {
			return zero, 0, err
		}
		if ok {
			return t, cand, nil
		}
	}
	return zero, 0, &BlockFullError{Block: block}
}

func (p *PortPool) advanceIn(block PortRange) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	cand, ok := p.blockNext[block.First]
	if !ok || !block.Contains(cand) {
		cand = block.First
	}
	next := cand + 1
	if next > block.Last {
		next = block.First
	}
	p.blockNext[block.First] = next
	return cand
}

// BlockPortError is an explicit port outside the participant's own block.
type BlockPortError struct {
	Port  int
	Block PortRange
	// Owner is set instead of Block for a session without a block (the
	// instructor's) asking for a participant's port.
	Owner string
}

func (e *BlockPortError) Error() string {
	if e.Owner != "" {
		return fmt.Sprintf("port %d belongs to the workshop participant %s (each participant has a block of ports of their own); use 0 to pick a free port outside the blocks", e.Port, e.Owner)
	}
	return fmt.Sprintf("port %d is not one of your ports: in this workshop your servers listen on ports %d–%d (or 0 to pick a free one of them); the other ports belong to other participants",
		e.Port, e.Block.First, e.Block.Last)
}

// Unwrap makes errors.Is(err, ErrPortOutOfRange) true (a 400).
func (e *BlockPortError) Unwrap() error { return ErrPortOutOfRange }

// BlockFullError is a start when every port of the participant's block is
// taken.
type BlockFullError struct{ Block PortRange }

func (e *BlockFullError) Error() string {
	return fmt.Sprintf("every one of your ports (%d–%d) is taken: stop a server first (a port just closed may stay busy for a minute)", e.Block.First, e.Block.Last)
}

// Unwrap makes errors.Is(err, ErrNoFreePort) true.
func (e *BlockFullError) Unwrap() error { return ErrNoFreePort }

// PortBlock is a workshop participant's own block of lab ports: their
// servers listen only there, and other participants' clients may dial it
// only when the lab is open (see DialPolicy.CheckFrom).
type PortBlock struct {
	Ports PortRange `json:"ports"`
	// Owner is the participant's display name (events name it: "Alice's
	// tcp-echo server").
	Owner string `json:"owner"`
	// Group is the workshop: the instructor opens the lab of one workshop
	// (SetOpenLab), for dials between its participants' blocks.
	Group string `json:"group"`
}

// portBlocks is the lab's map of sessions to blocks, and which workshops
// have an open lab. The dial policy reads it on every dial.
type portBlocks struct {
	mu        sync.RWMutex
	bySession map[string]PortBlock
	open      map[string]bool
}

func newPortBlocks() *portBlocks {
	return &portBlocks{bySession: map[string]PortBlock{}, open: map[string]bool{}}
}

// owner returns the session whose block holds port, if any.
func (b *portBlocks) owner(port int) (string, PortBlock, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s, pb := range b.bySession {
		if pb.Ports.Contains(port) {
			return s, pb, true
		}
	}
	return "", PortBlock{}, false
}

func (b *portBlocks) of(session string) (PortBlock, bool) {
	if b == nil {
		return PortBlock{}, false
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	pb, ok := b.bySession[session]
	return pb, ok
}

func (b *portBlocks) isOpen(group string) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.open[group]
}

// SetPortBlock gives session its own block of lab ports (workshop mode): its
// servers then listen only inside it, and the dial policy refuses other
// sessions' clients there unless their workshop's lab is open. A zero
// block takes session's away. Blocks must lie inside the lab range and
// not overlap (the store hands them out so).
func (l *Lab) SetPortBlock(session string, b PortBlock) {
	bs := l.policy.blocks
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b.Ports == (PortRange{}) {
		delete(bs.bySession, session)
		return
	}
	bs.bySession[session] = b
}

// PortBlockOf returns session's own block of lab ports, if it has one.
func (l *Lab) PortBlockOf(session string) (PortBlock, bool) { return l.policy.blocks.of(session) }

// SetOpenLab opens (or closes) the lab of a workshop (group): while open,
// its participants' clients may dial each other's blocks (pair exercises).
func (l *Lab) SetOpenLab(group string, open bool) {
	bs := l.policy.blocks
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if open {
		bs.open[group] = true
	} else {
		delete(bs.open, group)
	}
}

// checkBlockPort refuses an explicit port outside session's block before
// anything is bound.
func (l *Lab) checkBlockPort(session string, port int) error {
	if pb, ok := l.policy.blocks.of(session); ok && port != 0 && !pb.Ports.Contains(port) {
		return &BlockPortError{Port: port, Block: pb.Ports}
	}
	return nil
}

// inOtherBlock returns, for a session without a block of its own (the
// instructor's, or any session outside workshop mode), the check that keeps
// its servers out of the participants' blocks; nil when no block exists.
func (l *Lab) inOtherBlock(session string) func(int) error {
	bs := l.policy.blocks
	bs.mu.RLock()
	n := len(bs.bySession)
	bs.mu.RUnlock()
	if n == 0 {
		return nil
	}
	return func(port int) error {
		if other, pb, ok := bs.owner(port); ok && other != session {
			return &BlockPortError{Port: port, Owner: pb.Owner}
		}
		return nil
	}
}

// blockRange returns session's block (zero: none, the whole range).
func (l *Lab) blockRange(session string) PortRange {
	pb, _ := l.policy.blocks.of(session)
	return pb.Ports
}

// peerName names the server another participant runs at addr ("Alice's
// tcp-echo server"), for the connect event of a dial across blocks the
// open lab allowed; "" when addr is in no other session's block.
func (l *Lab) peerName(session, addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || l.policy.blocks == nil {
		return ""
	}
	other, pb, ok := l.policy.blocks.owner(int(ap.Port()))
	if !ok || other == session {
		return ""
	}
	what := "server"
	l.mu.Lock()
	if sl := l.find(other); sl != nil {
		for _, s := range sl.servers {
			if i := s.Info(); portOf(i.Addr) == int(ap.Port()) {
				what = i.Kind + " server"
				if i.Name != "" {
					what += " " + strconv.Quote(i.Name)
				}
				break
			}
		}
	}
	l.mu.Unlock()
	return pb.Owner + "'s " + what
}
