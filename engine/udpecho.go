package engine

import (
	"container/list"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// udp-echo defaults and limits.
const (
	DefaultUDPPrefix = "ACK: "
	// DefaultUDPRecvSize is the largest UDP payload over IPv4 (65535 minus
	// the 20-byte IP and 8-byte UDP headers): no datagram is cut short.
	DefaultUDPRecvSize = 65507
	MaxUDPRecvSize     = 65535
	DefaultUDPRate     = 100
	MaxUDPRate         = 100000
	// udpFlowsKept bounds the peers a packet server remembers (each with its
	// connection id and rate bucket); the least recently heard is forgotten.
	udpFlowsKept = 1024
	// udpDropShown is how often a dropped datagram of one peer gets an event
	// of its own; the others in between are counted.
	udpDropShown = time.Second
)

var udpEchoKind = &ServerKind{
	Name: "udp-echo", Title: "UDP echo", Net: NetUDP, TutorialPort: 9090,
	Description: "A UDP echo server: every datagram is sent back to its sender as one datagram, unchanged or prefixed. " +
		"There is no connection and no accept: each datagram stands alone, keeps its boundaries, and one longer than the read buffer is cut short by the kernel.",
	Options: []OptionSpec{
		{Name: "mode", Type: OptEnum, Default: "echo", Primary: true, Help: "what the server answers to each datagram", Values: []Choice{
			{"echo", "echo: send every datagram back"},
			{"prefix", `prefix: "ACK: " + datagram`},
		}},
		{Name: "prefix", Type: OptString, Default: DefaultUDPPrefix, MaxLen: 1024, Primary: true,
			When: &When{Option: "mode", Values: []string{"prefix"}}, Help: "sent before the datagram, in the same reply datagram"},
		{Name: "recv_size", Type: OptInt, Default: DefaultUDPRecvSize, Min: intp(1), Max: intp(MaxUDPRecvSize),
			Suggest: []int{512, 1024, DefaultUDPRecvSize}, Unit: "bytes", Primary: true,
			Help: "the buffer of each recvfrom(): a longer datagram is cut to this size by the kernel and the rest is lost (a datagram is never split over two reads)"},
		{Name: "rate", Type: OptInt, Default: DefaultUDPRate, Min: intp(1), Max: intp(MaxUDPRate), Unit: "replies/s", Advanced: true,
			Help: "the most replies a second to one source address; datagrams past it are not answered, only counted"},
	},
	start:    startUDPEchoServer,
	snippets: udpEchoSnippets,
}

func startUDPEchoServer(env *Env, o Options) (server, error) {
	pc, err := env.ListenPacket(&net.ListenConfig{}, "")
	if err != nil {
		return nil, err
	}
	var prefix []byte
	if o.String("mode") == "prefix" {
		prefix = []byte(o.String("prefix"))
	}
	return newPacketServer(env, pc.(*net.UDPConn), o.Int("recv_size"), o.Int("rate"), prefix), nil
}

// udpEchoSnippets reach a udp-echo server from a terminal. nc -u sends each
// line typed as one datagram; the one-shot form waits a second for the
// reply. The Python client gives up after 2 seconds: a datagram can be lost
// and recvfrom would otherwise wait for ever.
func udpEchoSnippets(host, port string, o Options) []Snippet {
	family := "AF_INET"
	if strings.Contains(host, ":") {
		family = "AF_INET6"
	}
	return []Snippet{
		{"nc", "netcat (type a line: each line goes out as one datagram; Ctrl-C ends)", "nc -u " + host + " " + port},
		{"nc-once", "netcat, one datagram (-w1: wait a second for the reply, then quit)", "echo hello | nc -u -w1 " + host + " " + port},
		{"python", "Python", "import socket\n\n" +
			"with socket.socket(socket." + family + ", socket.SOCK_DGRAM) as s:\n" +
			"    s.settimeout(2)  # UDP may lose a datagram: do not wait for ever\n" +
			"    s.sendto(b\"hello\\n\", (\"" + host + "\", " + port + "))\n" +
			"    data, addr = s.recvfrom(65535)\n" +
			"    print(f\"{len(data)} bytes from {addr}: {data!r}\")\n"},
	}
}

// msgTrunc is recvmsg's MSG_TRUNC flag (the datagram was longer than the
// buffer) where sockplay knows its value: syscall.MSG_TRUNC, which cannot be
// named here because Windows lacks it. 0: compare the length read with the
// buffer instead.
var msgTrunc = func() int {
	switch runtime.GOOS {
	case "linux", "android":
		return 0x20
	case "darwin", "ios", "freebsd", "netbsd", "openbsd", "dragonfly":
		return 0x10
	}
	return 0
}()

// packetServer is a UDP server: one socket, one read goroutine, and a flow
// per peer address (its connection id in the events, its rate bucket). It
// answers each datagram with one datagram, never a datagram from a port that
// may be another playground server (two echo servers would answer each
// other for ever), and at most rate replies a second to one peer.
type packetServer struct {
	serverBase
	pc       *net.UDPConn
	local    string
	recvSize int
	rate     int
	prefix   []byte // nil: echo unchanged
	out      []byte // the reply being built (read goroutine only)

	labPorts      PortRange
	tutorialPorts []int
	ownIPs        map[netip.Addr]bool // this machine's addresses, when bound beyond loopback

	received, replied, droppedLab, droppedService, droppedRate atomic.Int64

	mu       sync.Mutex // guards flows, lru and stopping (serverBase.mu guards info)
	flows    map[netip.AddrPort]*list.Element
	lru      list.List // of *udpFlow, the most recently heard first
	stopping bool

	faults faultSet      // drop, duplicate, reorder (fault_udp.go)
	held   *heldDatagram // a datagram a reorder fault holds back (read goroutine only)

	closing  atomic.Bool   // set before the socket closes: errors after it are its own doing
	done     chan struct{} // closed by stop
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// udpFlow is what the server knows of one peer address.
type udpFlow struct {
	peer   netip.AddrPort
	tap    *tap
	bucket *bucket
	// shownAt is when the last dropped datagram of this peer got an event;
	// unshown counts those dropped since without one.
	shownAt time.Time
	unshown int
}

func newPacketServer(env *Env, pc *net.UDPConn, recvSize, rate int, prefix []byte) *packetServer {
	s := &packetServer{serverBase: serverBase{env: env}, pc: pc, local: pc.LocalAddr().String(),
		recvSize: recvSize, rate: rate, prefix: prefix,
		labPorts: env.lab.cfg.Ports, tutorialPorts: env.lab.cfg.TutorialPorts,
		flows: map[netip.AddrPort]*list.Element{}, done: make(chan struct{})}
	if ap, err := netip.ParseAddrPort(s.local); err == nil && !ap.Addr().IsLoopback() {
		// Bound to all interfaces or to another address: a datagram from any
		// address of this machine may come from a playground server.
		s.ownIPs = ownAddrs()
	}
	s.Counters = func() map[string]int64 {
		return map[string]int64{
			"received":             s.received.Load(),
			"replied":              s.replied.Load(),
			"dropped_lab_port":     s.droppedLab.Load(),
			"dropped_service_port": s.droppedService.Load(),
			"dropped_rate":         s.droppedRate.Load(),
		}
	}
	return s
}

// ownAddrs returns the addresses of this machine's interfaces.
func ownAddrs() map[netip.Addr]bool {
	out := map[netip.Addr]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out[ip.Unmap()] = true
			}
		}
	}
	return out
}

func (s *packetServer) addr() string { return s.local }

func (s *packetServer) discard() { s.pc.Close() }

func (s *packetServer) serve() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping { // stopped before it served: nothing to start
		return
	}
	s.env.Emit(Event{Kind: KindListen, Net: NetUDP, Local: s.local})
	s.wg.Add(1)
	go s.readLoop()
}

// stop closes the socket, waits for the read goroutine and emits
// server-stop. A read goroutine waiting for the session's event rate stops
// waiting at once.
func (s *packetServer) stop(reason string) {
	s.stopOnce.Do(func() {
		s.closing.Store(true)
		close(s.done)
		s.mu.Lock()
		s.stopping = true
		for e := s.lru.Front(); e != nil; e = e.Next() {
			e.Value.(*udpFlow).tap.stop()
		}
		s.mu.Unlock()
		s.pc.Close()
		s.wg.Wait()
		s.stopped(reason)
	})
}

func (s *packetServer) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, s.recvSize)
	for {
		n, _, flags, from, err := s.pc.ReadMsgUDPAddrPort(buf, nil)
		if err != nil {
			if s.heldTimeout(err) {
				continue
			}
			if s.closing.Load() || errors.Is(err, net.ErrClosed) || !s.readFailed(err) {
				return
			}
			continue
		}
		truncated := n == len(buf)
		if msgTrunc != 0 {
			truncated = flags&msgTrunc != 0
		}
		peer := netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if p := s.faults.cur.Load(); p != nil || s.held != nil {
			s.handleFaulted(p, buf[:n], truncated, peer)
			continue
		}
		s.handle(buf[:n], truncated, peer)
	}
}

// readFailed reports a failed recvfrom and says whether to read on. An
// ICMP error about an earlier reply (the peer's port was closed: ECONNREFUSED,
// which Linux can report on an unconnected socket) says nothing about this
// socket; another error pauses the loop a little so that a lasting one does
// not spin.
func (s *packetServer) readFailed(err error) bool {
	meta := map[string]any{"op": "recvfrom"}
	icmp := errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.ECONNRESET)
	if icmp {
		meta["icmp"] = true
		meta["note"] = "an ICMP error came back for an earlier reply (the peer's port was closed or unreachable); the server keeps serving"
	}
	s.env.Emit(Event{Kind: KindError, Net: NetUDP, Local: s.local, Err: Classify(err), Meta: meta})
	if icmp {
		return true
	}
	select {
	case <-s.done:
		return false
	case <-time.After(50 * time.Millisecond):
		return true
	}
}

// The rules by which a datagram is not answered, as the drop_rule meta
// and the counters name them.
const (
	dropLabPort     = "lab_port"
	dropServicePort = "service_port"
	dropRate        = "rate"
)

// handle answers one datagram b from peer (or not: see refuse and the rate).
func (s *packetServer) handle(b []byte, truncated bool, peer netip.AddrPort) {
	s.received.Add(1)
	now := time.Now()
	f := s.flow(peer)
	if rule := s.refuse(peer); rule != "" {
		if rule == dropLabPort {
			s.droppedLab.Add(1)
		} else {
			s.droppedService.Add(1)
		}
		s.dropped(f, b, truncated, rule, now)
		return
	}
	if f.bucket.reserve(1, now) > 0 {
		f.bucket.giveBack(1) // not answered: the token is not used
		s.droppedRate.Add(1)
		s.dropped(f, b, truncated, dropRate, now)
		return
	}
	s.datagramIn(f, b, truncated, nil)
	reply := b
	if s.prefix != nil {
		s.out = append(append(s.out[:0], s.prefix...), b...)
		reply = s.out
	}
	if p := s.faults.cur.Load(); p != nil && s.faultReply(p, f, reply, peer) {
		return
	}
	// The event comes first, so that it precedes the peer's reaction in the
	// recording; a failed sendto follows it with an error event.
	f.tap.data(KindDatagramOut, reply)
	if _, err := s.pc.WriteToUDPAddrPort(reply, peer); err != nil {
		if !s.closing.Load() {
			f.tap.fail(err, map[string]any{"op": "sendto", "len": len(reply)})
		}
		return
	}
	s.replied.Add(1)
}

// datagramIn emits the datagram-in event of b.
func (s *packetServer) datagramIn(f *udpFlow, b []byte, truncated bool, meta map[string]any) {
	ev := f.tap.event(KindDatagramIn)
	f.tap.capture(&ev, b)
	if truncated {
		if meta == nil {
			meta = map[string]any{}
		}
		meta["truncated_by_kernel"] = true
		meta["recv_size"] = s.recvSize
	}
	ev.Meta = meta
	f.tap.emit(ev)
}

// dropped records a datagram that is not answered: the first of a peer in
// each second gets its datagram-in event saying why, the others are only
// counted (a flood does not flood the recording), and the next event says
// how many were not shown.
func (s *packetServer) dropped(f *udpFlow, b []byte, truncated bool, rule string, now time.Time) {
	if !f.shownAt.IsZero() && now.Sub(f.shownAt) < udpDropShown {
		f.unshown++
		return
	}
	meta := map[string]any{"dropped": s.dropReason(rule, f.peer), "drop_rule": rule}
	if f.unshown > 0 {
		meta["unshown"] = f.unshown
		f.unshown = 0
	}
	f.shownAt = now
	s.datagramIn(f, b, truncated, meta)
}

// refuse returns the rule by which a datagram from peer is never answered,
// or "". Linux hands out ephemeral ports from 32768 up, so a client's port
// is never one of these unless it was bound on purpose.
func (s *packetServer) refuse(peer netip.AddrPort) string {
	port := int(peer.Port())
	switch {
	case port < 1024:
		return dropServicePort
	case s.fromThisMachine(peer.Addr()) && (s.labPorts.Contains(port) || slices.Contains(s.tutorialPorts, port)):
		return dropLabPort
	}
	return ""
}

func (s *packetServer) fromThisMachine(ip netip.Addr) bool {
	return ip.IsLoopback() || ip.IsUnspecified() || s.ownIPs[ip]
}

// dropReason says, for a learner, why a datagram from peer was not answered.
func (s *packetServer) dropReason(rule string, peer netip.AddrPort) string {
	port := strconv.Itoa(int(peer.Port()))
	switch rule {
	case dropLabPort:
		what := "a sockplay lab port"
		if !s.labPorts.Contains(int(peer.Port())) {
			what = "a tutorial port"
		}
		return "not answered: it came from port " + port + " of this machine, " + what +
			", probably another playground server; answering could start two echo servers answering each other for ever"
	case dropServicePort:
		if peer.Port() == 0 {
			return "not answered: source port 0 is not a real port, so no reply could reach the sender"
		}
		return "not answered: source port " + port + " is a well-known service port (below 1024); echo servers never answer those, " +
			"as answering a service such as chargen or DNS can start an endless loop or bounce an attack"
	}
	return "not answered: this source sent more datagrams than the rate option answers (" + strconv.Itoa(s.rate) +
		" a second); the others are counted as dropped_rate, without an event each"
}

// flow returns the flow of peer, made on its first datagram. The least
// recently heard flow past udpFlowsKept is forgotten: when that peer comes
// back it gets a new connection id and a new rate bucket.
func (s *packetServer) flow(peer netip.AddrPort) *udpFlow {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.flows[peer]; ok {
		s.lru.MoveToFront(e)
		return e.Value.(*udpFlow)
	}
	f := &udpFlow{peer: peer, tap: s.env.Tap(NetUDP, s.local, peer.String()),
		bucket: newBucket(float64(s.rate), s.rate)}
	if s.stopping {
		f.tap.stop() // its last events do not wait for the event rate
	}
	s.flows[peer] = s.lru.PushFront(f)
	if s.lru.Len() > udpFlowsKept {
		old := s.lru.Remove(s.lru.Back()).(*udpFlow)
		delete(s.flows, old.peer)
		old.tap.stop()
	}
	return f
}
