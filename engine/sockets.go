package engine

import (
	"cmp"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The live socket table: every socket a session holds open now, like
// `ss -tanp` for the session's own sockets. TCP connections (accepted,
// dialed by a client, a proxy's upstream leg) are Conns, which register
// themselves in openConns when they are made and leave it when their socket
// closes; listeners and UDP sockets are found through the session's servers
// and clients. On Linux every TCP row carries the kernel's TCP_INFO.

// SocketInfo is one row of the socket table.
type SocketInfo struct {
	// ID is the connection id of the events (a listener or a UDP server's
	// socket, which have none, use their server's id).
	ID string `json:"id"`
	// Owner is the server or client id; Kind its kind.
	Owner string `json:"owner"`
	Kind  string `json:"kind,omitempty"`
	// Role is "listener", "accepted" (a connection a server accepted),
	// "upstream" (a proxy's connection to its target) or "client".
	Role string `json:"role"`
	// Proto is the transport (tcp or udp); Net is the events' net (tcp,
	// tls or udp).
	Proto  string `json:"proto"`
	Net    string `json:"net"`
	Local  string `json:"local"`
	Remote string `json:"remote,omitempty"`
	// State is spelled as ss spells it: LISTEN, ESTABLISHED, CLOSE-WAIT,
	// FIN-WAIT-2…, UNCONN for an unconnected UDP socket.
	State string `json:"state"`
	// Since is when the socket opened (RFC 3339, UTC); at the same, for
	// sorting.
	Since string    `json:"since"`
	at    time.Time `json:"-"`
	// BytesIn and BytesOut are what the program read and wrote (the
	// plaintext on TLS); Events the recv and send events the Conn emitted.
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
	Events   int64 `json:"events"`
	// Counters are a UDP socket's own counts (datagrams).
	Counters map[string]int64 `json:"counters,omitempty"`
	// Closed says the program closed this socket and the kernel still
	// holds the connection (FIN-WAIT-2, TIME-WAIT, LAST-ACK…): its state
	// is the kernel's (Linux), its counts are those at the close.
	Closed bool `json:"closed,omitempty"`
	// TCPInfo is the kernel's view of a TCP socket (Linux only).
	TCPInfo *TCPInfo `json:"tcp_info,omitempty"`
}

// TCPInfo is what the kernel reports of a TCP socket (getsockopt TCP_INFO):
// its state, the round-trip time it measures, the congestion window and
// what is in flight. Times are microseconds.
type TCPInfo struct {
	State       string `json:"state"`
	RTTus       uint32 `json:"rtt_us"`
	RTTVarUs    uint32 `json:"rttvar_us"`
	Retransmits uint8  `json:"retransmits"`   // retransmissions of the current segment
	TotalRetr   uint32 `json:"total_retrans"` // over the connection's life
	SndCwnd     uint32 `json:"snd_cwnd"`      // segments
	Unacked     uint32 `json:"unacked"`       // segments sent, not yet acknowledged (a listener: its accept queue)
	// Backlog is a listener's accept queue limit (tcpi_sacked of a listener).
	Backlog       uint32 `json:"backlog,omitempty"`
	BytesAcked    uint64 `json:"bytes_acked"`
	BytesReceived uint64 `json:"bytes_received"`
	NotSent       uint32 `json:"notsent_bytes"` // written by the program, not yet sent
}

// tcpStates are the kernel's TCP states (include/net/tcp_states.h) as ss
// spells them.
var tcpStates = [...]string{1: "ESTABLISHED", 2: "SYN-SENT", 3: "SYN-RECV", 4: "FIN-WAIT-1", 5: "FIN-WAIT-2",
	6: "TIME-WAIT", 7: "CLOSED", 8: "CLOSE-WAIT", 9: "LAST-ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW-SYN-RECV"}

func tcpStateName(s uint8) string {
	if int(s) < len(tcpStates) && tcpStates[s] != "" {
		return tcpStates[s]
	}
	return "UNKNOWN"
}

// connStats are what a Conn counts for the socket table.
type connStats struct {
	opened            time.Time
	bytesIn, bytesOut atomic.Int64
	events            atomic.Int64
	// ino is the socket's inode, as a sock_diag dump reports it, and fam its
	// address family: learned (one fstat) the first time the table lists the
	// socket, then the dump finds it by ino (0: not learned yet).
	ino atomic.Uint32
	fam atomic.Uint32
	// rc is the socket's RawConn, kept once the table asked for it.
	rc atomic.Pointer[syscall.RawConn]
	// since is opened as the table writes it (RFC 3339, UTC), made the
	// first time the table lists the socket: formatting a thousand of them
	// was 80–100 µs of every refresh.
	since atomic.Pointer[string]
}

// sinceText is the Conn's Since.
func (c *Conn) sinceText() string {
	if p := c.stats.since.Load(); p != nil {
		return *p
	}
	t := c.stats.opened.UTC().Format(time.RFC3339Nano)
	c.stats.since.Store(&t)
	return t
}

func (s *connStats) read(n int) {
	if n > 0 {
		s.bytesIn.Add(int64(n))
		s.events.Add(1)
	}
}

func (s *connStats) wrote(n int) {
	s.bytesOut.Add(int64(n))
	s.events.Add(1)
}

// connRegistry holds the open Conns by owner (server or client id). It is
// one for the process: a Conn does not know its lab, but owner ids are
// random (40 bits) and unique in a lab, and a lab asks only for the owners
// of one of its sessions. An owner's Conns are a slice (each Conn knows its
// place, so it leaves it at once): the table reads every owner's each
// refresh, and five hundred maps' iterations were a tenth of its Go work.
type connRegistry struct {
	mu      sync.Mutex
	byOwner map[string][]*Conn
	closed  []goneConn // a ring of the latest closed connections
	next    int
}

var openConns = connRegistry{byOwner: map[string][]*Conn{}, closed: make([]goneConn, closedKept)}

func (r *connRegistry) add(c *Conn) {
	r.mu.Lock()
	s := r.byOwner[c.tap.owner]
	c.regIdx = len(s)
	r.byOwner[c.tap.owner] = append(s, c)
	r.mu.Unlock()
}

func (r *connRegistry) remove(c *Conn) {
	r.mu.Lock()
	s := r.byOwner[c.tap.owner]
	if i := c.regIdx; i >= 0 && i < len(s) && s[i] == c {
		if !isUnixConn(c) {
			r.closed[r.next%len(r.closed)] = goneConn{owner: c.tap.owner, id: c.tap.conn, local: c.tap.local, remote: c.tap.remote,
				opened: c.stats.opened, closed: time.Now(), in: c.stats.bytesIn.Load(), out: c.stats.bytesOut.Load(), events: c.stats.events.Load(),
				fam: uint8(c.stats.fam.Load())}
			r.next++
		}
		last := s[len(s)-1]
		s[i], last.regIdx = last, i
		s[len(s)-1] = nil
		s = s[:len(s)-1]
		c.regIdx = -1
		if len(s) == 0 {
			delete(r.byOwner, c.tap.owner)
		} else {
			r.byOwner[c.tap.owner] = s
		}
	}
	r.mu.Unlock()
}

// goneConn is a connection whose socket the program closed: the kernel
// may hold it a while longer (FIN-WAIT-2, TIME-WAIT, LAST-ACK), and the
// table shows it while it does.
type goneConn struct {
	owner, id, local, remote string
	opened, closed           time.Time
	in, out, events          int64
	fam                      uint8 // the socket's address family, where the table learned it
}

// closedKept is how many closed connections the registry remembers (all
// sessions together), and closedFor how long: a TIME-WAIT lasts 60 s on
// Linux.
const (
	closedKept = 4096
	closedFor  = 2 * time.Minute
)

// closedOf appends the connections of owners closed within closedFor, in
// the ring's order. The ring's entries were closed in the order they were
// written (under the lock), so those within closedFor are the newest few:
// it reads back from the newest to the first older one, not the whole
// ring: copying its 4096 entries of 150 bytes one by one took 19 µs with
// a warm cache, and 5% of the server's CPU in a profile of the sockets
// route, where the ring is read cold (0.08 µs now with nothing closed).
func (r *connRegistry) closedOf(of []socketOwner, dst []goneConn) []goneConn {
	since := time.Now().Add(-closedFor)
	r.mu.Lock()
	defer r.mu.Unlock()
	ring := len(r.closed)
	lo := r.next // the entries lo to next-1 are within closedFor
	for lo > r.next-min(r.next, ring) && r.closed[(lo-1)%ring].closed.After(since) {
		lo--
	}
	if lo == r.next {
		return dst
	}
	owners := make(map[string]bool, len(of)) // (only now: a session of 500 clients is 500 owners)
	for i := range of {
		owners[of[i].id] = true
	}
	// In the ring's order: from the entry at index 0 (if the range wraps
	// round) to the newest, then the older ones.
	wrap := min(lo+(ring-lo%ring)%ring, r.next)
	for _, span := range [2][2]int{{wrap, r.next}, {lo, wrap}} {
		for seq := span[0]; seq < span[1]; seq++ {
			if c := &r.closed[seq%ring]; c.owner != "" && owners[c.owner] {
				dst = append(dst, *c)
			}
		}
	}
	return dst
}

// ofOwners lists the open Conns of the owners that are not gone (one lock
// for them all: a session of 500 clients is 500 owners).
func (r *connRegistry) ofOwners(owners []socketOwner) []tableConn {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for i := range owners {
		if !owners[i].gone {
			n += len(r.byOwner[owners[i].id])
		}
	}
	out := make([]tableConn, 0, n)
	for i := range owners {
		if owners[i].gone {
			continue
		}
		for _, c := range r.byOwner[owners[i].id] {
			out = append(out, tableConn{c: c, o: &owners[i]})
		}
	}
	return out
}

// of appends the open Conns of owner to dst.
func (r *connRegistry) of(owner string, dst []*Conn) []*Conn {
	r.mu.Lock()
	dst = append(dst, r.byOwner[owner]...)
	r.mu.Unlock()
	return dst
}

// socketOwner is a server or client of the session, as the table needs it.
type socketOwner struct {
	id, kind, net string
	addr          string // a server's listening address
	port          int    // a server's listening port (its accepted connections have it)
	client        bool
	gone          bool // a closed client or a stopped server: only its closed connections may be left
	srv           server
	cli           Client
	since         time.Time
}

// sessionOwners lists the running servers and open clients of session.
func (l *Lab) sessionOwners(session string) []socketOwner {
	l.mu.Lock()
	defer l.mu.Unlock()
	sl := l.find(session)
	if sl == nil {
		return nil
	}
	out := make([]socketOwner, 0, len(sl.servers)+len(sl.clients))
	for id, s := range sl.servers {
		info := s.Info()
		out = append(out, socketOwner{id: id, kind: info.Kind, net: info.Net, addr: info.Addr, port: portOf(info.Addr), srv: s, since: info.StartedAt})
	}
	for _, info := range sl.stopped {
		out = append(out, socketOwner{id: info.ID, kind: info.Kind, net: info.Net, addr: info.Addr, port: portOf(info.Addr), gone: true, since: info.StartedAt})
	}
	for id, c := range sl.clients {
		info := c.Info()
		n := NetTCP
		if k := clientKinds[info.Kind]; k != nil && k.Net != "" {
			n = k.Net
		}
		out = append(out, socketOwner{id: id, kind: info.Kind, net: n, client: true, cli: c, since: info.OpenedAt, gone: info.State == StateClosed})
	}
	return out
}

// Sockets returns the table of the sockets session holds open now: its
// servers' listeners and UDP sockets, every connection they accepted, and
// its clients' sockets, oldest first, then the connections it closed that
// the kernel still holds. On Linux each TCP row has the kernel's state and
// TCP_INFO: from one getsockopt per socket, or, for a session of at least
// diagOpenAtLeast connections, from one sock_diag dump; the closed
// connections' states come from one sock_diag dump of the closing states.
func (l *Lab) Sockets(session string) []SocketInfo {
	return l.sockets(session, autoKernel)
}

// autoKernel is how Sockets asks the kernel.
var autoKernel = kernelPath{dump: kernelDump, lookup: kernelLookup, openAtLeast: diagOpenAtLeast}

// kernelPath is how the table asks the kernel: dump (nil: not at all, each
// socket by getsockopt and the closed ones in /proc/net/tcp), and from how
// many TCP connections on the open ones are found in the dump too.
type kernelPath struct {
	dump        dumper
	lookup      looker // the closed connections, when the open ones are not dumped (nil: dump them)
	openAtLeast int
}

// looker asks the kernel for the state of each of the queries' TCP
// connections and calls fn for each it has (sockDiagLookup).
type looker func(queries []diagQuery, fn func(i int, state uint8)) error

// diagQuery is a connection to look up: its address family and addresses.
type diagQuery struct {
	family        uint8
	local, remote diagAddr
}

// diagOpenAtLeast is where one dump of every TCP state costs less CPU than
// a getsockopt(TCP_INFO) per connection. A dump walks the kernel's whole
// established hash (262,144 buckets on the 24 GiB test machine: 2.5 ms of
// CPU with nothing to report), then costs about 1.3 µs a socket, every
// socket of the machine in the states asked for; getsockopt costs about
// 1.9 µs a socket (BenchmarkSocketTable1000 measures both).
const diagOpenAtLeast = 4000

// dumper dumps the kernel's TCP sockets of the address families and calls
// fn for each (sockDiag; nil where the system has none). An error means
// the table asks each socket itself (getsockopt) and reads /proc/net/tcp
// for the closed ones.
type dumper func(families []uint8, states uint32, fn func(*diagSock)) error

// diagStates are the states a dump of open connections asks for: every
// TCP state but LISTEN (the table asks its few listeners directly, and the
// machine's listening hash is then not walked) and the half-open SYN-RECV
// request sockets, which are no socket of the program's; diagClosing those
// of a connection the program may have closed while the kernel holds it.
const (
	diagStates  = (1<<12 - 1) &^ (1<<10 | 1<<3)
	diagClosing = 1<<4 | 1<<5 | 1<<6 | 1<<9 | 1<<11 // FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT, LAST-ACK, CLOSING
)

// diagSock is one socket of a dump, valid during the dump's callback only:
// info is the kernel's tcp_info (nil for a TIME-WAIT socket, which has
// none). A socket the program still holds has its inode; one it closed
// (orphaned: FIN-WAIT-2, LAST-ACK, TIME-WAIT) has 0, and is found by its
// addresses.
type diagSock struct {
	family         uint8
	state          uint8
	inode          uint32
	rqueue, wqueue uint32
	local, remote  diagAddr
	info           []byte
}

// diagAddr is an address and port as the dump gives them (an IPv4 address
// in the first 4 bytes); comparable, so a map key.
type diagAddr struct {
	ip   [16]byte
	port uint16
}

// diagAddrOf is the dump's form of an address ("127.0.0.1:20000",
// "[::1]:20000"); ok false when s is no IP address and port.
func diagAddrOf(s string) (a diagAddr, v6, ok bool) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return a, false, false
	}
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		x := ip.As4()
		copy(a.ip[:], x[:])
	} else {
		a.ip, v6 = ip.As16(), true
	}
	a.port = ap.Port()
	return a, v6, true
}

// tableConn is one Conn the table lists, with what the dump found of it.
type tableConn struct {
	c     *Conn
	o     *socketOwner
	found bool // in the dump: state and info are the kernel's
	state uint8
	info  *TCPInfo
}

func (l *Lab) sockets(session string, k kernelPath) []SocketInfo {
	owners := l.sessionOwners(session)
	out := make([]SocketInfo, 0, 2*len(owners))
	for i := range owners {
		if !owners[i].gone {
			out = owners[i].ownSockets(out)
		}
	}
	table := openConns.ofOwners(owners)
	closed := openConns.closedOf(owners, nil)
	closedStates := make([]string, len(closed))
	var infos tcpInfos
	tcpConns := 0
	for i := range table {
		if !isUnixConn(table[i].c) {
			tcpConns++
		}
	}
	open := tcpConns > 0 && tcpConns >= k.openAtLeast
	dumped := false
	if !open && len(closed) > 0 && k.lookup != nil {
		dumped = lookupClosed(k.lookup, closed, closedStates)
	}
	if !dumped && k.dump != nil && (open || len(closed) > 0) {
		dumped = kernelView(k.dump, open, table, closed, closedStates, &infos)
	}
	rd := newInfoReader()
	for i := range table {
		// Each row is written in its place (a row is 230 bytes).
		out = append(out, SocketInfo{})
		if !table[i].row(&out[len(out)-1], &infos, rd) {
			out = out[:len(out)-1]
		}
	}
	if !dumped && len(closed) > 0 {
		pairs := make([][2]string, len(closed))
		for i, c := range closed {
			pairs[i] = [2]string{c.local, c.remote}
		}
		closedStates = kernelStates(pairs)
	}
	out = closedRows(owners, closed, closedStates, out)
	// Oldest first: sorting the indices moves 16 bytes a swap, not a row.
	order := make([]sortKey, len(out))
	for i := range out {
		order[i] = sortKey{out[i].at.UnixNano(), int32(i)}
	}
	slices.SortFunc(order, func(a, b sortKey) int {
		if a.at != b.at {
			return cmp.Compare(a.at, b.at)
		}
		return cmp.Compare(out[a.i].ID, out[b.i].ID) // (only for a tie: a string compare a swap was a tenth of the sort)
	})
	// The rows move into that order in place (a cycle at a time: no second
	// table of rows).
	perm := make([]int32, len(order))
	for i, k := range order {
		perm[i] = k.i
	}
	for i := range out {
		if perm[i] < 0 || perm[i] == int32(i) {
			continue
		}
		tmp := out[i]
		j := i
		for {
			k := perm[j]
			perm[j] = -1
			if k == int32(i) {
				out[j] = tmp
				break
			}
			out[j] = out[k]
			j = int(k)
		}
	}
	// The rows of Conns have their Since already (sinceText); the others'
	// are one allocation.
	const sinceLen = len("2006-01-02T15:04:05.999999999Z")
	n := 0
	for i := range out {
		if out[i].Since == "" {
			n++
		}
	}
	buf := make([]byte, 0, n*sinceLen)
	ends := make([]int32, 0, n)
	for i := range out {
		if out[i].Since == "" {
			buf = out[i].at.UTC().AppendFormat(buf, time.RFC3339Nano)
			ends = append(ends, int32(len(buf)))
		}
	}
	all := string(buf)
	start, j := int32(0), 0
	for i := range out {
		if out[i].Since == "" {
			out[i].Since = all[start:ends[j]]
			start = ends[j]
			j++
		}
	}
	return out
}

// kernelView fills the closed connections' states, and with open table's
// states and TCP_INFO too, from one dump per address family they use;
// false when the dump failed (the table then asks each socket itself and
// reads /proc/net/tcp). A Conn not in the dump (opened after it, or closed
// meanwhile) is left for its row to ask.
func kernelView(dump dumper, open bool, table []tableConn, closed []goneConn, closedStates []string, infos *tcpInfos) bool {
	var byInode map[uint32]int32
	var fams famSet
	states := uint32(diagClosing)
	if open {
		byInode = make(map[uint32]int32, len(table))
		states = diagStates
	}
	for i := range table {
		if !open {
			break
		}
		t := &table[i]
		if isUnixConn(t.c) {
			continue
		}
		ino := t.c.stats.ino.Load()
		if ino == 0 {
			ino = t.c.learnSocket()
			if ino == 0 {
				continue // closed meanwhile, or no socket to look into
			}
		}
		byInode[ino] = int32(i)
		fams.add(uint8(t.c.stats.fam.Load()))
	}
	var byAddr map[[2]diagAddr]int32
	if len(closed) > 0 {
		byAddr = make(map[[2]diagAddr]int32, len(closed))
		for i, c := range closed {
			l, v6, ok1 := diagAddrOf(c.local)
			r, _, ok2 := diagAddrOf(c.remote)
			if !ok1 || !ok2 {
				continue
			}
			byAddr[[2]diagAddr{l, r}] = int32(i)
			switch {
			case c.fam != 0:
				fams.add(c.fam)
			case v6:
				fams.add(famInet6)
			default:
				fams.add(famInet)
			}
		}
	}
	if len(byInode) == 0 && len(byAddr) == 0 {
		return true
	}
	err := dump(fams.list(), states, func(s *diagSock) {
		if s.inode != 0 {
			i, ok := byInode[s.inode]
			if !ok {
				return // another program's socket, or another session's
			}
			t := &table[i]
			t.found, t.state = true, s.state
			if s.info != nil {
				t.info = infos.next()
				diagInfo(s.info, t.info)
			}
			return
		}
		if i, ok := byAddr[[2]diagAddr{s.local, s.remote}]; ok {
			closedStates[i] = tcpStateName(s.state)
		}
	})
	if err != nil {
		for i := range table {
			table[i].found, table[i].info = false, nil
		}
		clear(closedStates)
		return false
	}
	return true
}

// lookupClosed fills the closed connections' states by exact lookups (a
// hash lookup each: a dump walks the kernel's whole table, 2.5 ms of CPU
// even for a handful); false when they failed.
func lookupClosed(lookup looker, closed []goneConn, states []string) bool {
	qs := make([]diagQuery, 0, len(closed))
	idx := make([]int32, 0, len(closed))
	for i, c := range closed {
		l, v6, ok1 := diagAddrOf(c.local)
		r, _, ok2 := diagAddrOf(c.remote)
		if !ok1 || !ok2 {
			continue
		}
		fam := c.fam
		if fam == 0 {
			fam = famInet
			if v6 {
				fam = famInet6
			}
		}
		qs = append(qs, diagQuery{family: fam, local: l, remote: r})
		idx = append(idx, int32(i))
	}
	if len(qs) == 0 {
		return true
	}
	err := lookup(qs, func(i int, st uint8) {
		if i >= 0 && i < len(idx) {
			states[idx[i]] = tcpStateName(st)
		}
	})
	if err != nil {
		clear(states)
		return false
	}
	return true
}

// famSet is the address families a dump covers (IPv4 first).
type famSet struct{ v4, v6 bool }

func (f *famSet) add(fam uint8) {
	switch fam {
	case famInet:
		f.v4 = true
	case famInet6:
		f.v6 = true
	}
}

func (f famSet) list() []uint8 {
	out := make([]uint8, 0, 2)
	if f.v4 {
		out = append(out, famInet)
	}
	if f.v6 {
		out = append(out, famInet6)
	}
	return out
}

// learnSocket learns the Conn's socket inode and address family (once:
// the dump then finds it by inode); 0 when its socket is closed or not
// one the system lets the table look into.
func (c *Conn) learnSocket() uint32 {
	sc, ok := c.raw.(syscall.Conn)
	if !ok {
		return 0
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0
	}
	var ino uint32
	var fam uint8
	if rc.Control(func(fd uintptr) { ino, fam = sockIdentity(int(fd)) }) != nil || ino == 0 {
		return 0
	}
	c.stats.fam.Store(uint32(fam))
	c.stats.ino.Store(ino)
	return ino
}

// isUnixConn says whether the Conn is a Unix domain socket's (no TCP
// state, no TCP_INFO: the table shows what the Conn knows).
func isUnixConn(c *Conn) bool {
	switch c.raw.(type) {
	case *net.TCPConn:
		return false
	case *net.UnixConn:
		return true
	}
	_, ok := c.raw.LocalAddr().(*net.UnixAddr)
	return ok
}

type sortKey struct {
	at int64
	i  int32
}

// SocketIDs lists the ids of the sockets session holds open, without
// asking the kernel anything: the socket table's cheapest possible form
// (the baseline of its benchmark).
func (l *Lab) SocketIDs(session string) []string {
	var out []string
	var conns []*Conn
	for _, o := range l.sessionOwners(session) {
		if o.gone {
			continue
		}
		conns = openConns.of(o.id, conns[:0])
		for _, c := range conns {
			out = append(out, c.tap.conn)
		}
	}
	return out
}

// ownSockets appends the sockets an owner holds that are not Conns: a
// stream server's listener, a UDP server's or client's socket.
func (o socketOwner) ownSockets(out []SocketInfo) []SocketInfo {
	row := SocketInfo{ID: o.id, Owner: o.id, Kind: o.kind, at: o.since}
	switch s := o.srv.(type) {
	case interface{ listener() net.Listener }:
		ln := s.listener()
		row.Role, row.Proto, row.Net, row.Local, row.State = "listener", NetTCP, o.net, ln.Addr().String(), "LISTEN"
		if _, ok := ln.Addr().(*net.UnixAddr); ok {
			// A Unix domain socket: no TCP_INFO; listening is what the lab knows.
			row.Proto = protoUnix
			if _, open := sockInfo(ln, nil); !open {
				return out
			}
			return append(out, row)
		}
		info := new(TCPInfo)
		has, open := sockInfo(ln, info)
		if !open { // a refuse fault closed it: nothing listens now
			return out
		}
		if has {
			row.TCPInfo = info
		}
		return append(out, row)
	case *packetServer:
		if _, open := sockInfo(s.pc, nil); !open {
			return out
		}
		row.Role, row.Proto, row.Net, row.Local, row.State = "listener", NetUDP, NetUDP, s.local, "UNCONN"
		row.Counters = map[string]int64{"datagrams_in": s.received.Load(), "datagrams_out": s.replied.Load()}
		return append(out, row)
	}
	if c, ok := o.cli.(*UDPClient); ok {
		c.mu.Lock()
		closing, info := c.closing, c.info
		c.mu.Unlock()
		if closing || c.pc == nil {
			return out
		}
		if _, open := sockInfo(c.pc, nil); !open {
			return out
		}
		row.ID, row.Role, row.Proto, row.Net, row.Local = c.tap.conn, "client", NetUDP, NetUDP, c.pc.LocalAddr().String()
		row.State = "UNCONN"
		if c.connected {
			row.State, row.Remote = "ESTABLISHED", c.peer.String()
		} else {
			row.Remote = c.peer.String()
		}
		row.BytesIn, row.BytesOut = info.Received, info.Sent
		return append(out, row)
	}
	return out
}

// row writes the table's row of the Conn into row (false when its socket
// closed meanwhile): the kernel's state and TCP_INFO from the dump where it found
// the socket, else from getsockopt(TCP_INFO) (the fallback: no dump, or a
// socket opened after it), else what the Conn knows (off Linux, a Unix
// domain socket).
func (t *tableConn) row(row *SocketInfo, infos *tcpInfos, rd *infoReader) bool {
	o, c, tp := t.o, t.c, t.c.tap
	*row = SocketInfo{ID: tp.conn, Owner: o.id, Kind: o.kind, Proto: NetTCP, Net: o.net, Local: tp.local, Remote: tp.remote,
		at: c.stats.opened, Since: c.sinceText(), BytesIn: c.stats.bytesIn.Load(), BytesOut: c.stats.bytesOut.Load(), Events: c.stats.events.Load()}
	unixConn := isUnixConn(c)
	switch {
	case o.client:
		row.Role = "client"
	case portOf(tp.local) == o.port && (!unixConn || tp.local == o.addr):
		row.Role = "accepted"
	default:
		row.Role, row.Net = "upstream", NetTCP
	}
	if unixConn {
		row.Proto, row.State = protoUnix, c.ownState()
		if row.Role == "upstream" {
			row.Net = protoUnix
		}
		return true
	}
	if t.found {
		row.State, row.TCPInfo = tcpStateName(t.state), t.info
		return true
	}
	info := infos.next()
	has, open := c.tcpInfo(rd, info)
	if !open {
		return false
	}
	if has {
		row.TCPInfo = info
		row.State = info.State
	} else {
		row.State = c.ownState()
	}
	return true
}

// infoReader reads TCP_INFO into info from the socket a RawConn's Control
// hands it, with one func for the whole table (a closure a socket was an
// allocation each).
type infoReader struct {
	info *TCPInfo
	has  bool
	fn   func(fd uintptr)
}

func newInfoReader() *infoReader {
	r := &infoReader{}
	r.fn = func(fd uintptr) { r.has = readTCPInfo(int(fd), r.info) }
	return r
}

// tcpInfo is sockInfo for the Conn's socket, through its RawConn, kept
// from the first time (SyscallConn makes one a call).
func (c *Conn) tcpInfo(rd *infoReader, info *TCPInfo) (has, open bool) {
	tc, ok := c.raw.(*net.TCPConn)
	if !ok {
		return sockInfo(c.raw, info)
	}
	p := c.stats.rc.Load()
	if p == nil {
		rc, err := tc.SyscallConn()
		if err != nil {
			return false, false
		}
		p = &rc
		c.stats.rc.Store(p)
	}
	rd.info, rd.has = info, false
	if err := (*p).Control(rd.fn); err != nil {
		return false, false
	}
	return rd.has, true
}

// protoUnix is a Unix domain socket's proto (and net).
const protoUnix = "unix"

// ownState is the connection's state as the Conn knows it (where the
// kernel's is not available).
func (c *Conn) ownState() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.ended || c.closing:
		return "CLOSED"
	case c.peerFIN && c.shutWrite:
		return "LAST-ACK"
	case c.peerFIN:
		return "CLOSE-WAIT"
	case c.shutWrite:
		return "FIN-WAIT-2"
	}
	return "ESTABLISHED"
}

// sockInfo reads a socket's TCP_INFO into info where the system has it
// (has: not for UDP, nor off Linux) and reports whether the socket is
// still open.
func sockInfo(v any, info *TCPInfo) (has, open bool) {
	sc, ok := v.(syscall.Conn)
	if !ok {
		if nc, ok := v.(interface{ NetConn() net.Conn }); ok {
			return sockInfo(nc.NetConn(), info)
		}
		return false, true // not a socket sockplay can look into; say nothing
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, false
	}
	if _, isUDP := v.(*net.UDPConn); isUDP {
		info = nil
	}
	if err := rc.Control(func(fd uintptr) {
		has = info != nil && readTCPInfo(int(fd), info)
	}); err != nil {
		return false, false
	}
	return has, true
}

// tcpInfos hands out the table's TCPInfo structs from blocks (a refresh of
// a thousand rows makes a few allocations, not a thousand).
type tcpInfos struct{ block []TCPInfo }

func (a *tcpInfos) next() *TCPInfo {
	if len(a.block) == 0 {
		a.block = make([]TCPInfo, 128)
	}
	p := &a.block[0]
	a.block = a.block[1:]
	return p
}

// closedRows appends the connections the owners closed that the kernel
// still holds (states: the kernel's, "" for one it has forgotten).
func closedRows(owners []socketOwner, closed []goneConn, states []string, out []SocketInfo) []SocketInfo {
	if len(closed) == 0 {
		return out
	}
	byID := make(map[string]*socketOwner, len(owners))
	for i := range owners {
		byID[owners[i].id] = &owners[i]
	}
	for i, c := range closed {
		st := states[i]
		if st == "" {
			continue // the kernel has forgotten it
		}
		o := byID[c.owner]
		row := SocketInfo{ID: c.id, Owner: c.owner, Kind: o.kind, Proto: NetTCP, Net: o.net, Local: c.local, Remote: c.remote,
			State: st, at: c.opened, BytesIn: c.in, BytesOut: c.out, Events: c.events, Closed: true}
		switch {
		case o.client:
			row.Role = "client"
		case portOf(c.local) == o.port:
			row.Role = "accepted"
		default:
			row.Role, row.Net = "upstream", NetTCP
		}
		out = append(out, row)
	}
	return out
}
