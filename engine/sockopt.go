package engine

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Socket options of a TCP server kind (tcp-echo has them): the listen(2)
// backlog, SO_REUSEADDR, the buffer sizes and the bind address are set on a
// listening socket sockplay builds itself (net.Listen takes no backlog);
// TCP_NODELAY and SO_KEEPALIVE on each accepted connection; max_clients
// makes the accept loop wait. The kernel's answer (getsockopt) is reported
// in an option event after the listen event, in the server's details and in
// each accept event's meta, so a learner sees what was asked and what the
// kernel did with it (Linux doubles the buffer sizes).

// Socket option bounds and defaults.
const (
	DefaultBacklog   = 128
	MaxBacklog       = 4096
	MaxMaxClients    = 1024
	MaxSocketBuffer  = 8 << 20 // 8 MiB
	DefaultKeepAlive = 15      // seconds: Go's default idle time and interval
	MaxKeepAlive     = 7200    // seconds: Linux's own default idle time
	bindLab          = "lab"
)

// sockOptions is the schema of the socket options, folded under "more
// options" in the form.
func sockOptions() []OptionSpec {
	return []OptionSpec{
		{Name: "bind", Type: OptEnum, Default: bindLab, Advanced: true, Values: []Choice{
			{bindLab, "the lab's address (127.0.0.1, IPv4, unless sockplay runs with another)"},
			{"::1", "::1: IPv6 loopback"},
		}, Help: "the address the server binds; an IPv6 server (::1) is reached only over IPv6 (nc ::1 PORT), an IPv4 one only over IPv4"},
		{Name: "max_clients", Type: OptInt, Default: 0, Min: intp(0), Max: intp(MaxMaxClients), Unit: "connections", Advanced: true,
			Help: "how many clients the server serves at once (0: no limit); at 1 it is a one-at-a-time server: it does not call accept() while it holds a client, so the next ones still connect (the kernel finishes their handshake and queues them in the backlog) but get no answer until the first one leaves"},
		{Name: "backlog", Type: OptInt, Default: DefaultBacklog, Min: intp(0), Max: intp(MaxBacklog), Unit: "connections", Advanced: true,
			Suggest: []int{0, 1, 5, 128},
			Help:    "the listen() backlog: how many connected clients the kernel queues until the server accepts them; Linux caps it at net.core.somaxconn and queues one more than asked, and past that it ignores new SYNs so connect() waits, retries and may time out (try 0 or 1 with max_clients 1)"},
		{Name: "reuse_addr", Type: OptBool, Default: true, Advanced: true,
			Help: "SO_REUSEADDR: lets the server bind its port again while connections of an earlier run wait in TIME_WAIT (Linux wants it on both: a run without it holds the port for a minute); without it a restart right after the server closed a connection fails with EADDRINUSE (Go sets it on every listener, C and Python programs must ask for it)"},
		{Name: "rcvbuf", Type: OptInt, Default: 0, Min: intp(0), Max: intp(MaxSocketBuffer), Unit: "bytes", Advanced: true,
			Suggest: []int{0, 4096, 65536},
			Help:    "SO_RCVBUF, the kernel's receive buffer, set on the listening socket before listen() so accepted connections inherit it (0: the kernel's default); Linux doubles what you ask for its bookkeeping and caps it at net.core.rmem_max"},
		{Name: "sndbuf", Type: OptInt, Default: 0, Min: intp(0), Max: intp(MaxSocketBuffer), Unit: "bytes", Advanced: true,
			Suggest: []int{0, 4096, 65536},
			Help:    "SO_SNDBUF, the kernel's send buffer, set like rcvbuf (0: the kernel's default); a full send buffer is what makes send() block; Linux doubles it and caps it at net.core.wmem_max"},
		{Name: "nodelay", Type: OptBool, Default: true, Advanced: true,
			Help: "TCP_NODELAY on each accepted connection: on (Go's default) every send leaves at once; off, Nagle's algorithm holds a small send back while an earlier one is unacknowledged and coalesces them (the default of C and Python sockets)"},
		{Name: "keepalive", Type: OptBool, Default: true, Advanced: true,
			Help: "SO_KEEPALIVE on each accepted connection: the kernel probes a client that stays silent and ends the connection with ETIMEDOUT when it is gone (on by default in Go, off in C and Python)"},
		{Name: "keepalive_interval", Type: OptInt, Default: DefaultKeepAlive, Min: intp(1), Max: intp(MaxKeepAlive), Unit: "seconds", Advanced: true,
			When: &When{Option: "keepalive", Values: []string{"true"}},
			Help: "seconds of silence before the first keepalive probe and between probes (TCP_KEEPIDLE and TCP_KEEPINTVL; Go uses 15, Linux on its own 7200)"},
	}
}

// sockOpts are the socket options of one server, decoded.
type sockOpts struct {
	bind       string // bindLab or an address
	maxClients int
	backlog    int
	reuseAddr  bool
	rcvbuf     int // 0: the kernel's default
	sndbuf     int
	nodelay    bool
	keepalive  bool
	keepIdle   int // seconds
}

func sockOptsOf(o Options) sockOpts {
	return sockOpts{bind: o.String("bind"), maxClients: o.Int("max_clients"), backlog: o.Int("backlog"),
		reuseAddr: o.Bool("reuse_addr"), rcvbuf: o.Int("rcvbuf"), sndbuf: o.Int("sndbuf"),
		nodelay: o.Bool("nodelay"), keepalive: o.Bool("keepalive"), keepIdle: o.Int("keepalive_interval")}
}

// host is the address to bind ("": the lab's).
func (so sockOpts) host() string {
	if so.bind == bindLab {
		return ""
	}
	return so.bind
}

// requested is what the option event says was asked for.
func (so sockOpts) requested() map[string]any {
	m := map[string]any{"backlog": so.backlog, "reuse_addr": so.reuseAddr, "nodelay": so.nodelay, "keepalive": so.keepalive}
	if so.keepalive {
		m["keepalive_interval"] = so.keepIdle
	}
	if so.rcvbuf > 0 {
		m["rcvbuf"] = so.rcvbuf
	}
	if so.sndbuf > 0 {
		m["sndbuf"] = so.sndbuf
	}
	if so.maxClients > 0 {
		m["max_clients"] = so.maxClients
	}
	return m
}

// listenFacts are a listening socket's options as the kernel reports them.
type listenFacts struct {
	rcvbuf, sndbuf int
	reuseAddr      bool
	// backlog is the kernel's accept queue limit (Linux: from TCP_INFO, the
	// Send-Q that ss -lnt shows), or the backlog asked for where the kernel
	// does not say.
	backlog   int
	somaxconn int // 0: unknown
}

// effective is the option event's and the server details' account of f
// (a new map each time: events and listings do not share it).
func (f listenFacts) effective() map[string]any {
	m := map[string]any{"SO_RCVBUF": f.rcvbuf, "SO_SNDBUF": f.sndbuf, "SO_REUSEADDR": f.reuseAddr, "backlog": f.backlog}
	if f.somaxconn > 0 {
		m["somaxconn"] = f.somaxconn
	}
	return m
}

// listenSockopts binds a TCP listener on the lab's port pool (port 0 picks
// one, a taken port fails with EADDRINUSE) with the socket options so.
func listenSockopts(env *Env, so sockOpts) (net.Listener, listenFacts, error) {
	var facts listenFacts
	ln, err := Bind(env, so.host(), func(addr string) (net.Listener, error) {
		ln, f, err := listenTCP(addr, so)
		facts = f
		return ln, err
	})
	return ln, facts, err
}

// listenTCP builds a listening socket on addr as a C program does (socket,
// setsockopt, bind, listen with so's backlog) and hands it to Go's poller.
// Its errors read like net.Listen's ("listen tcp 127.0.0.1:20000: bind:
// address already in use").
func listenTCP(addr string, so sockOpts) (ln net.Listener, facts listenFacts, err error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, facts, err
	}
	fail := func(call string, err error) error {
		return &net.OpError{Op: "listen", Net: "tcp", Addr: ta, Err: os.NewSyscallError(call, err)}
	}
	family, sa, err := sockaddrOf(ta)
	if err != nil {
		return nil, facts, &net.OpError{Op: "listen", Net: "tcp", Addr: ta, Err: err}
	}
	fd, err := socketCloexec(family)
	if err != nil {
		if errors.Is(err, unix.EAFNOSUPPORT) && family == unix.AF_INET6 {
			return nil, facts, &net.OpError{Op: "listen", Net: "tcp", Addr: ta,
				Err: fmt.Errorf("this machine has no IPv6 (the kernel refused an IPv6 socket): %w", os.NewSyscallError("socket", err))}
		}
		return nil, facts, fail("socket", err)
	}
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	set := func(level, opt, v int, name string) error {
		if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
			return fail("setsockopt "+name, err)
		}
		return nil
	}
	if family == unix.AF_INET6 {
		// As Go does: an IPv6 wildcard listener takes IPv4 clients too.
		if err := set(unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0, "IPV6_V6ONLY"); err != nil {
			return nil, facts, err
		}
	}
	if err := set(unix.SOL_SOCKET, unix.SO_REUSEADDR, boolInt(so.reuseAddr), "SO_REUSEADDR"); err != nil {
		return nil, facts, err
	}
	if so.rcvbuf > 0 {
		if err := set(unix.SOL_SOCKET, unix.SO_RCVBUF, so.rcvbuf, "SO_RCVBUF"); err != nil {
			return nil, facts, err
		}
	}
	if so.sndbuf > 0 {
		if err := set(unix.SOL_SOCKET, unix.SO_SNDBUF, so.sndbuf, "SO_SNDBUF"); err != nil {
			return nil, facts, err
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, facts, fail("bind", err)
	}
	if err := unix.Listen(fd, so.backlog); err != nil {
		return nil, facts, fail("listen", err)
	}
	facts = readListenFacts(fd, so.backlog)
	f := os.NewFile(uintptr(fd), "tcp listener "+addr)
	fd = -1                       // f owns it now
	ln, err = net.FileListener(f) // a dup of the socket, in Go's poller
	f.Close()
	if err != nil {
		return nil, facts, &net.OpError{Op: "listen", Net: "tcp", Addr: ta, Err: err}
	}
	return ln, facts, nil
}

func sockaddrOf(ta *net.TCPAddr) (family int, sa unix.Sockaddr, err error) {
	if ip4 := ta.IP.To4(); ip4 != nil || ta.IP == nil {
		s := &unix.SockaddrInet4{Port: ta.Port}
		copy(s.Addr[:], ip4)
		return unix.AF_INET, s, nil
	}
	s := &unix.SockaddrInet6{Port: ta.Port}
	copy(s.Addr[:], ta.IP.To16())
	if ta.Zone != "" {
		ifi, err := net.InterfaceByName(ta.Zone)
		if err != nil {
			return 0, nil, err
		}
		s.ZoneId = uint32(ifi.Index)
	}
	return unix.AF_INET6, s, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// readListenFacts asks the kernel for the listening socket's options.
func readListenFacts(fd, backlog int) listenFacts {
	f := listenFacts{backlog: backlog, somaxconn: readProcInt("/proc/sys/net/core/somaxconn")}
	f.rcvbuf, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	f.sndbuf, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	reuse, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR)
	f.reuseAddr = reuse != 0
	if _, max, ok := listenQueue(fd); ok {
		f.backlog = max
	} else if f.somaxconn > 0 {
		f.backlog = min(backlog, f.somaxconn)
	}
	return f
}

// readProcInt reads a number from a /proc file (0 when there is none).
func readProcInt(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// bufferNote explains the buffer sizes the kernel reports, when some were
// asked for ("" otherwise).
func (so sockOpts) bufferNote(f listenFacts) string {
	var notes []string
	for _, b := range []struct {
		name, max  string
		asked, got int
	}{{"SO_RCVBUF", "rmem_max", so.rcvbuf, f.rcvbuf}, {"SO_SNDBUF", "wmem_max", so.sndbuf, f.sndbuf}} {
		if b.asked == 0 {
			continue
		}
		var s string
		switch {
		case runtime.GOOS != "linux":
			s = fmt.Sprintf("You asked for %s %d, the kernel reports %d.", b.name, b.asked, b.got)
		case b.got == 2*b.asked:
			s = fmt.Sprintf("Linux doubles %s to leave room for its bookkeeping: you asked for %d, it reports %d.", b.name, b.asked, b.got)
		case b.got < 2*b.asked:
			limit := ""
			if n := readProcInt("/proc/sys/net/core/" + b.max); n > 0 {
				limit = " (" + strconv.Itoa(n) + ")"
			}
			s = fmt.Sprintf("Linux caps %s at net.core.%s%s, then doubles it for its bookkeeping: you asked for %d, it reports %d.", b.name, b.max, limit, b.asked, b.got)
		default:
			s = fmt.Sprintf("Linux doubles %s for its bookkeeping and raises it to its minimum: you asked for %d, it reports %d.", b.name, b.asked, b.got)
		}
		notes = append(notes, s)
	}
	return strings.Join(notes, " ")
}

// applyConn sets TCP_NODELAY and SO_KEEPALIVE on an accepted connection and
// returns what the kernel reports of them, for its accept event (and the
// buffer sizes it inherited from the listener, when they were asked for).
func (so sockOpts) applyConn(c *Conn) map[string]any {
	tc, ok := c.raw.(*net.TCPConn)
	if !ok {
		return nil
	}
	var failed []string
	if err := tc.SetNoDelay(so.nodelay); err != nil {
		failed = append(failed, "TCP_NODELAY: "+Classify(err).Message)
	}
	var err error
	if so.keepalive {
		d := time.Duration(so.keepIdle) * time.Second
		err = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: d, Interval: d, Count: -1})
	} else {
		err = tc.SetKeepAlive(false)
	}
	if err != nil {
		failed = append(failed, "SO_KEEPALIVE: "+Classify(err).Message)
	}
	meta := so.connFacts(tc)
	if len(failed) > 0 {
		meta["setsockopt_failed"] = strings.Join(failed, "; ")
	}
	return meta
}

// connFacts reads an accepted connection's TCP_NODELAY and keepalive
// settings back from the kernel.
func (so sockOpts) connFacts(tc *net.TCPConn) map[string]any {
	meta := map[string]any{}
	rc, err := tc.SyscallConn()
	if err != nil {
		return meta
	}
	rc.Control(func(fd uintptr) {
		get := func(level, opt int) (int, bool) {
			v, err := unix.GetsockoptInt(int(fd), level, opt)
			return v, err == nil
		}
		if v, ok := get(unix.IPPROTO_TCP, unix.TCP_NODELAY); ok {
			meta["TCP_NODELAY"] = v != 0
		}
		if v, ok := get(unix.SOL_SOCKET, unix.SO_RCVBUF); ok && so.rcvbuf > 0 {
			meta["SO_RCVBUF"] = v
		}
		if v, ok := get(unix.SOL_SOCKET, unix.SO_SNDBUF); ok && so.sndbuf > 0 {
			meta["SO_SNDBUF"] = v
		}
		ka, ok := get(unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		if !ok {
			return
		}
		meta["SO_KEEPALIVE"] = ka != 0
		if ka == 0 {
			return
		}
		if keepIdleOpt >= 0 {
			if v, ok := get(unix.IPPROTO_TCP, keepIdleOpt); ok {
				meta["TCP_KEEPIDLE"] = v
			}
		}
		if v, ok := get(unix.IPPROTO_TCP, unix.TCP_KEEPINTVL); ok {
			meta["TCP_KEEPINTVL"] = v
		}
	})
	return meta
}

// acceptQueue returns how many connections wait in ln's accept queue
// (completed by the kernel, not yet accepted), where the kernel says.
func acceptQueue(ln net.Listener) (int, bool) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return 0, false
	}
	rc, err := tl.SyscallConn()
	if err != nil {
		return 0, false
	}
	var n int
	var known bool
	if rc.Control(func(fd uintptr) { n, _, known = listenQueue(int(fd)) }) != nil {
		return 0, false
	}
	return n, known
}

// attach gives the stream server s, listening with facts, its socket
// option behaviour: max_clients, per-connection options, the option event
// after listen, the details, and a live count of the accept queue when
// clients can wait in it.
func (so sockOpts) attach(env *Env, s *StreamServer, facts listenFacts) {
	s.MaxClients = so.maxClients
	s.OnAccept = so.applyConn
	s.OnServe = func() {
		meta := map[string]any{"requested": so.requested(), "effective": facts.effective()}
		if note := so.bufferNote(facts); note != "" {
			meta["note"] = note
		}
		env.Emit(Event{Kind: KindOption, Net: s.net, Local: s.addr(), Meta: meta})
	}
	s.Details = facts.effective
	if so.maxClients > 0 {
		s.Counters = func() map[string]int64 {
			n, ok := acceptQueue(s.listener()) // a refuse fault replaces it
			if !ok {
				return nil
			}
			return map[string]int64{"accept_queue": int64(n)}
		}
	}
}
