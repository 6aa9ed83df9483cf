package engine

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// RefusedError is returned when the dial policy refuses a target.
type RefusedError struct {
	Target string // the address actually dialed, after name resolution
	Reason string
	// Hint, when set, replaces the generic hint of EREFUSED (which speaks of
	// the lab range) for a rule that has its own story.
	Hint string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("dial %s refused: %s", e.Target, e.Reason)
}

// DialPolicy decides which addresses clients (and, later, proxies) may dial.
// By default only loopback addresses on the lab port range are allowed: the
// instance's own playground servers. The decision is made on the resolved IP
// inside net.Dialer.Control, so DNS rebinding and odd spellings of an address
// (127.1, 2130706433, [::ffff:127.0.0.1]) are judged by what is really dialed.
type DialPolicy struct {
	// LabPorts are the ports allowed on loopback addresses.
	LabPorts PortRange
	// ExtraPorts are single ports allowed on loopback besides the range
	// (the tutorials' fixed ports).
	ExtraPorts []int
	// AllowPrefixes are extra networks the operator allows (any port). Naming a
	// link-local or metadata network here is the only way to allow one.
	AllowPrefixes []netip.Prefix
	// AllowAddrs are extra exact ip:port targets the operator allows.
	AllowAddrs []netip.AddrPort
	// LabHost is the address the lab's servers listen on when it is not
	// loopback (-lab-host 192.168.1.20 in a workshop): allowed on the lab
	// ports like loopback.
	LabHost netip.Addr

	// blocks are the workshop participants' own port blocks (the Lab sets
	// them): CheckFrom refuses a dial into another participant's block.
	blocks *portBlocks
}

// never-without-naming: link-local and cloud metadata addresses.
var sensitive = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
	netip.MustParsePrefix("100.100.100.200/32"),
}

// Check returns nil if ap may be dialed, or a *RefusedError saying why not.
func (p *DialPolicy) Check(ap netip.AddrPort) error {
	// Judge the address without its zone (fe80::1%eth0) and in its IPv4 form
	// when it is IPv4-mapped; report it as dialed.
	ip := ap.Addr().Unmap().WithZone("")
	port := int(ap.Port())
	target := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	if isSensitive(ip) {
		if p.namesSensitive(ip, ap.Port()) {
			return nil
		}
		return &RefusedError{Target: target, Reason: "link-local and cloud metadata addresses are never dialed unless the operator allows them by name"}
	}
	for _, a := range p.AllowAddrs {
		if a.Addr() == ip && a.Port() == ap.Port() {
			return nil
		}
	}
	for _, pre := range p.AllowPrefixes {
		if pre.Contains(ip) {
			return nil
		}
	}
	switch {
	case ip.IsUnspecified():
		return &RefusedError{Target: target, Reason: "the unspecified address (0.0.0.0 or ::) is not a destination"}
	case ip.IsLoopback() && (p.LabPorts.Contains(port) || slices.Contains(p.ExtraPorts, port)):
		return nil
	case p.isLabHost(ip) && p.LabPorts.Contains(port):
		return nil
	case ip.IsLoopback():
		return &RefusedError{Target: target, Reason: fmt.Sprintf("only the lab ports %s are allowed on this machine (other local services such as sockplay itself, ssh or databases are off limits)", p.LabPorts)}
	}
	return &RefusedError{Target: target, Reason: fmt.Sprintf("only this instance's own lab servers (loopback, ports %s) may be dialed; the operator can allow more with -dial-allow", p.LabPorts)}
}

// namesSensitive reports whether the operator allowed a link-local or
// metadata address by name: an exact ip:port, or a network inside a
// sensitive range. A broad entry such as 0.0.0.0/0 does not count.
func (p *DialPolicy) namesSensitive(ip netip.Addr, port uint16) bool {
	for _, a := range p.AllowAddrs {
		if a.Addr() == ip && a.Port() == port {
			return true
		}
	}
	for _, pre := range p.AllowPrefixes {
		if !pre.Contains(ip) {
			continue
		}
		for _, s := range sensitive {
			if s.Contains(pre.Addr()) && pre.Bits() >= s.Bits() {
				return true
			}
		}
	}
	return false
}

func isSensitive(ip netip.Addr) bool {
	for _, pre := range sensitive {
		if pre.Contains(ip) {
			return true
		}
	}
	return false
}

// Control is a net.Dialer.Control function enforcing the policy on the
// address being dialed, after resolution.
func (p *DialPolicy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Target: address, Reason: "not an IP address and port"}
	}
	return p.Check(ap)
}

// Dialer returns a net.Dialer that enforces the policy.
func (p *DialPolicy) Dialer() *net.Dialer {
	return &net.Dialer{Control: p.Control}
}

// ParseAllow parses an operator's allow-list entry: a CIDR ("10.0.0.0/8"),
// a single IP (any port) or an ip:port.
func (p *DialPolicy) ParseAllow(s string) error {
	if pre, err := netip.ParsePrefix(s); err == nil {
		if a := pre.Addr(); a.Is4In6() && pre.Bits() >= 96 {
			pre = netip.PrefixFrom(a.Unmap(), pre.Bits()-96)
		}
		p.AllowPrefixes = append(p.AllowPrefixes, pre.Masked())
		return nil
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		ip = ip.Unmap().WithZone("")
		p.AllowPrefixes = append(p.AllowPrefixes, netip.PrefixFrom(ip, ip.BitLen()))
		return nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		p.AllowAddrs = append(p.AllowAddrs, netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()))
		return nil
	}
	return errors.New("dial allow entry " + strconv.Quote(s) + ": want a CIDR, an IP or IP:PORT")
}

// CheckUnixTarget judges a unix client's target (kept apart from Check: a
// Unix socket has no address or port). The rule: a unix client connects
// only to the sockets of its own session's running unix-echo servers. own
// maps each such socket's path to its socket name; target is one of those
// paths exactly as the server shows it, or a socket name alone ("echo" or
// "echo.sock"). Anything else — another path, a path with "..", "//" or a
// trailing "/", a symbolic link, a file that is not a socket — is refused.
// It returns the path to dial.
func CheckUnixTarget(target string, own map[string]string) (string, error) {
	refuse := func(why string) error {
		return &RefusedError{Target: target, Reason: why + "; a unix client may connect only to the sockets of this session's own unix-echo servers (their path, or their socket name alone)"}
	}
	if target == "" || len(target) > 300 || strings.ContainsRune(target, 0) {
		return "", refuse("not a socket path")
	}
	path := target
	if !strings.Contains(target, "/") {
		name := strings.TrimSuffix(target, ".sock")
		path = ""
		for p, n := range own {
			if n == name {
				path = p
			}
		}
		if path == "" {
			return "", refuse("no unix-echo server of this session has the socket name " + strconv.Quote(name))
		}
	} else if filepath.Clean(target) != target || !filepath.IsAbs(target) {
		return "", refuse("the path is not written plainly (relative, or with \"..\", \"//\" or a trailing \"/\")")
	} else if _, ok := own[target]; !ok {
		return "", refuse("this path is not a socket of one of this session's unix-echo servers")
	}
	fi, err := os.Lstat(path)
	switch {
	case err != nil:
		return "", refuse("the socket file is gone (its server stopped?)")
	case fi.Mode()&os.ModeSymlink != 0:
		return "", refuse("the path is a symbolic link, which is never followed")
	case fi.Mode()&os.ModeSocket == 0:
		return "", refuse("the path is not a socket")
	}
	return path, nil
}

// isLabHost reports whether ip is the lab's own (non-loopback) listening
// address.
func (p *DialPolicy) isLabHost(ip netip.Addr) bool {
	return p.LabHost.IsValid() && !p.LabHost.IsUnspecified() && ip == p.LabHost.Unmap()
}

// CheckFrom is Check for a dial by a client (or proxy) of session, with
// the workshop rule on top: a port of another participant's block is
// refused, unless both are of one workshop whose lab the instructor
// opened.
func (p *DialPolicy) CheckFrom(session string, ap netip.AddrPort) error {
	if err := p.Check(ap); err != nil {
		return err
	}
	return p.checkBlock(session, ap)
}

// checkBlock is the block rule of CheckFrom.
func (p *DialPolicy) checkBlock(session string, ap netip.AddrPort) error {
	if p.blocks == nil {
		return nil
	}
	ip := ap.Addr().Unmap().WithZone("")
	if !ip.IsLoopback() && !p.isLabHost(ip) {
		return nil
	}
	other, pb, ok := p.blocks.owner(int(ap.Port()))
	if !ok || other == session {
		return nil
	}
	mine, mineOK := p.blocks.of(session)
	if p.blocks.isOpen(pb.Group) && (!mineOK || mine.Group == pb.Group) {
		return nil // open lab: pair exercises (and the instructor's own sessions)
	}
	target := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
	const hint = "In a workshop each participant has a block of lab ports of their own, and clients reach only their own " +
		"session's servers, so that one person's client cannot talk to another's server by accident. Dial one of your own " +
		"servers, or ask the instructor to open the lab (the dashboard's toggle) for an exercise in pairs."
	if !mineOK {
		return &RefusedError{Target: target, Reason: fmt.Sprintf("port %d belongs to a workshop participant (%s); the instructor can open the lab to reach it", ap.Port(), pb.Owner), Hint: hint}
	}
	return &RefusedError{Target: target, Reason: fmt.Sprintf("port %d belongs to another participant (your ports are %d–%d); the instructor can open the lab for pair exercises", ap.Port(), mine.Ports.First, mine.Ports.Last), Hint: hint}
}

// dialerFor returns a net.Dialer that enforces CheckFrom for session.
func (p *DialPolicy) dialerFor(session string) *net.Dialer {
	return &net.Dialer{Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &RefusedError{Target: address, Reason: "not an IP address and port"}
		}
		return p.CheckFrom(session, ap)
	}}
}
