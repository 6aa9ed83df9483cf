package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// DefaultProxyRecvSize is the read size of each leg of a tcp-proxy.
const DefaultProxyRecvSize = 32768

// proxyDetailsMax bounds how many open connections a proxy lists in its
// ServerInfo.Details (the oldest ones).
const proxyDetailsMax = 20

var proxyKind = &ServerKind{
	Name: "tcp-proxy", Title: "TCP proxy", Net: NetTCP,
	Description: "A man in the middle you control: every connection it accepts is forwarded to the target (another lab server, or your own program on a lab or tutorial port), and both legs are recorded, so you see every byte each side sent and how each side closed.",
	Options: []OptionSpec{
		{Name: "target", Type: OptString, Required: true, MaxLen: 300, Primary: true,
			Help: "host:port the proxy connects to for each client, e.g. 127.0.0.1:65432: a lab server or your own program on a lab or tutorial port"},
		proxyRecvSizeOption(),
	},
	start:    startProxyServer,
	snippets: proxySnippets,
}

func proxyRecvSizeOption() OptionSpec {
	s := recvSizeOption(DefaultProxyRecvSize)
	s.Help = "the most one recv() reads on each leg; a small size splits what one side sent into several forwarded writes"
	return s
}

// proxyServer is a running tcp-proxy: a stream server whose handler dials
// the target for each accepted connection (the client leg) and copies both
// ways through the two Conns.
type proxyServer struct {
	*StreamServer
	env    *Env
	target string
	size   int
	dialer *net.Dialer
	ctx    context.Context // cancelled by stop: dials under way end
	cancel context.CancelFunc

	outbound, inbound        atomic.Int64 // bytes client→target, target→client
	connections, failedDials atomic.Int64 // upstream connections made, dials that failed

	pairsMu  sync.Mutex
	pairs    map[*proxyPair]struct{}
	seq      uint64
	stopping bool
	stopWhy  string // the connections' close reason once stopping
}

func startProxyServer(env *Env, o Options) (server, error) {
	target := o.String("target")
	ctx, cancel := context.WithTimeout(env.lab.closing, env.lab.cfg.DialTimeout)
	defer cancel()
	if err := env.CheckTarget(ctx, target); err != nil {
		return nil, targetError(target, err)
	}
	ln, err := env.Listen(&net.ListenConfig{}, "")
	if err != nil {
		return nil, err
	}
	if proxiesItself(ctx, target, ln.Addr()) {
		ln.Close()
		return nil, &OptionError{Option: "target", Msg: fmt.Sprintf("target %q is this proxy's own address %s: every connection would connect to the proxy again; point it at another server", target, ln.Addr())}
	}
	p := &proxyServer{env: env, target: target, size: o.Int("recv_size"), dialer: env.Dialer(), pairs: map[*proxyPair]struct{}{}}
	p.ctx, p.cancel = context.WithCancel(env.lab.closing)
	p.StreamServer = env.Stream(ln, NetTCP, p.handle)
	p.Counters = p.counters
	p.Details = p.details
	return p, nil
}

// targetError passes on what CheckTarget refused (*OptionError,
// *RefusedError) and turns a name that did not resolve into an
// *OptionError, without the resolver's own address (which the resolver's
// message names).
func targetError(target string, err error) error {
	var oe *OptionError
	var re *RefusedError
	if errors.As(err, &oe) || errors.As(err, &re) {
		return err
	}
	host, _, _ := net.SplitHostPort(target)
	why := "did not resolve to an address: check its spelling, or use an IP address such as 127.0.0.1"
	var dnsErr *net.DNSError
	if (errors.As(err, &dnsErr) && dnsErr.IsTimeout) || errors.Is(err, context.DeadlineExceeded) {
		why = "could not be resolved in time: check the name, or use an IP address such as 127.0.0.1"
	}
	return &OptionError{Option: "target", Msg: fmt.Sprintf("target %q: the name %q %s", target, host, why)}
}

// proxiesItself reports whether target is the proxy's own listening address
// ln (a loop that would take every socket of the lab).
func proxiesItself(ctx context.Context, target string, ln net.Addr) bool {
	bound, err := netip.ParseAddrPort(ln.String())
	if err != nil {
		return false
	}
	host, port, _ := net.SplitHostPort(target)
	if port != strconv.Itoa(int(bound.Port())) {
		return false
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(ips, func(ip netip.Addr) bool {
		ip = ip.Unmap()
		return ip == bound.Addr().Unmap() || (bound.Addr().IsUnspecified() && ip.IsLoopback())
	})
}

func (p *proxyServer) counters() map[string]int64 {
	return map[string]int64{"outbound": p.outbound.Load(), "inbound": p.inbound.Load(),
		"connections": p.connections.Load(), "failed_dials": p.failedDials.Load()}
}

// details lists the open connections (the oldest proxyDetailsMax) under
// their client leg's conn id: the upstream leg's id and the bytes so far.
func (p *proxyServer) details() map[string]any {
	p.pairsMu.Lock()
	pairs := make([]*proxyPair, 0, len(p.pairs))
	for pp := range p.pairs {
		pairs = append(pairs, pp)
	}
	p.pairsMu.Unlock()
	if len(pairs) == 0 {
		return nil
	}
	slices.SortFunc(pairs, func(a, b *proxyPair) int { return cmp.Compare(a.seq, b.seq) })
	out := map[string]any{}
	if len(pairs) > proxyDetailsMax {
		out["more_connections"] = len(pairs) - proxyDetailsMax
		pairs = pairs[:proxyDetailsMax]
	}
	for _, pp := range pairs {
		out[pp.client.ID()] = map[string]any{"upstream": pp.up.ID(), "outbound": pp.out.Load(), "inbound": pp.in.Load()}
	}
	return out
}

// stop closes both legs of every connection (and cuts dials short), then
// stops the stream server, which waits for every handler.
func (p *proxyServer) stop(reason string) {
	p.pairsMu.Lock()
	if !p.stopping {
		p.stopping, p.stopWhy = true, stopText(reason)
		for pp := range p.pairs {
			pp.stop(p.stopWhy)
		}
	}
	p.pairsMu.Unlock()
	p.cancel()
	p.StreamServer.stop(reason)
}

func (p *proxyServer) discard() {
	p.cancel()
	p.StreamServer.discard()
}

// add registers a connection, unless the server is stopping.
func (p *proxyServer) add(pp *proxyPair) bool {
	p.pairsMu.Lock()
	defer p.pairsMu.Unlock()
	if p.stopping {
		return false
	}
	p.seq++
	pp.seq = p.seq
	p.pairs[pp] = struct{}{}
	return true
}

func (p *proxyServer) remove(pp *proxyPair) {
	p.pairsMu.Lock()
	delete(p.pairs, pp)
	p.pairsMu.Unlock()
}

// dialEvent emits the proxy-dial event on the client leg: the dial's
// outcome, and the upstream leg's conn id ("" when there is none).
func dialEvent(client *Conn, target, upstream string, err *SockErr) {
	ev := client.tap.event(KindProxyDial)
	ev.Meta = map[string]any{"target": target, "upstream": upstream, "client_conn": client.ID()}
	ev.Err = err
	client.tap.emit(ev)
}

// handle serves one accepted connection: it dials the target and copies
// both ways until both directions ended, or one leg failed.
func (p *proxyServer) handle(client *Conn) {
	raw, err := p.dialer.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		p.failedDials.Add(1)
		se := Classify(err)
		dialEvent(client, p.target, "", se)
		client.SetCloseReason(p.dialFailure(se))
		return
	}
	up, full := p.env.newConn(raw, NetTCP, client)
	if up == nil {
		raw.Close()
		p.failedDials.Add(1)
		refusal := full.refusal("the proxy accepted this connection but could not open its own to the target")
		dialEvent(client, p.target, "", refusal)
		client.SetCloseReason(refusal.Message + ": the proxy could not connect to its target")
		return
	}
	p.connections.Add(1)
	dialEvent(client, p.target, up.ID(), nil)
	ev := up.tap.event(KindConnect)
	ev.Meta = map[string]any{"proxy_for": client.ID(), "target": p.target}
	up.tap.emit(ev)

	pp := &proxyPair{p: p, client: client, up: up}
	// Both legs' last close events carry the connection's byte totals.
	totals := func() map[string]any { return map[string]any{"outbound": pp.out.Load(), "inbound": pp.in.Load()} }
	client.closeMeta, up.closeMeta = totals, totals
	if !p.add(pp) {
		why := p.stopReason()
		setCloseReason(up, why)
		setCloseReason(client, why)
		up.Close()
		return
	}
	defer p.remove(pp)
	var wg sync.WaitGroup
	wg.Go(func() { pp.pipe(client, up, &pp.out, &p.outbound) })
	pp.pipe(up, client, &pp.in, &p.inbound)
	wg.Wait()
	pp.finish()
}

func (p *proxyServer) stopReason() string {
	p.pairsMu.Lock()
	defer p.pairsMu.Unlock()
	return p.stopWhy
}

// dialFailure is the client leg's close reason when the dial failed.
func (p *proxyServer) dialFailure(se *SockErr) string {
	switch {
	case p.ctx.Err() != nil:
		if why := p.stopReason(); why != "" {
			return why
		}
		return "sockplay is shutting down"
	case se.Errno == "ECONNREFUSED":
		return "the proxy's target refused the connection"
	case se.Errno == "EREFUSED":
		return "sockplay's dial policy refused the proxy's target"
	}
	return "the proxy could not connect to its target (" + se.Errno + ")"
}

// setCloseReason sets the reason of c's last close event, replacing one
// set before: the proxy's final reason adds the byte counts.
func setCloseReason(c *Conn, reason string) {
	c.mu.Lock()
	c.reason = reason
	c.mu.Unlock()
}

// proxyPair is one proxied connection: the client leg (accepted) and the
// upstream leg (dialed), copied both ways by two pipes.
type proxyPair struct {
	p          *proxyServer
	seq        uint64
	client, up *Conn
	out, in    atomic.Int64 // bytes client→target, target→client

	mu               sync.Mutex
	cut              bool   // a leg failed or the server stops: both legs are closing
	whyClient, whyUp string // the legs' close reasons once cut
}

// pipe copies src to dst, one Read and one Write at a time (each an event
// on its own leg), until src ends. The peer's FIN on src is passed on as a
// shutdown(SHUT_WR) of dst; a failure of either leg cuts the pair.
func (pp *proxyPair) pipe(src, dst *Conn, count, total *atomic.Int64) {
	buf := make([]byte, pp.p.size)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			w, werr := dst.Write(buf[:n])
			count.Add(int64(w))
			total.Add(int64(w))
			if werr != nil {
				pp.fail(dst, werr)
				return
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			if !pp.isCut() {
				dst.CloseWrite()
			}
			return
		default:
			pp.fail(src, err) // nothing more to do if the pair was already cut: the error is our own close
			return
		}
	}
}

func (pp *proxyPair) isCut() bool {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return pp.cut
}

// side names a leg's peer for people.
func (pp *proxyPair) side(c *Conn) string {
	if c == pp.client {
		return "client"
	}
	return "target"
}

// fail cuts the pair because leg broken failed with err: the other leg is
// reset (SO_LINGER 0), so its peer sees what the broken leg's peer did, and
// both sockets close at once, which ends both pipes.
func (pp *proxyPair) fail(broken *Conn, err error) {
	other := pp.client
	if broken == pp.client {
		other = pp.up
	}
	what := "the " + pp.side(broken) + "'s connection failed (" + Classify(err).Errno + ")"
	if isReset(err) {
		what = "the " + pp.side(broken) + " reset its connection (RST)"
	}
	pp.mu.Lock()
	if pp.cut {
		pp.mu.Unlock()
		return
	}
	pp.cut = true
	whyBroken, whyOther := what+": the proxy resets the other leg", what+": the proxy resets this leg too (SO_LINGER 0)"
	if broken == pp.client {
		pp.whyClient, pp.whyUp = whyBroken, whyOther
	} else {
		pp.whyClient, pp.whyUp = whyOther, whyBroken
	}
	pp.mu.Unlock()
	other.abort("")
	broken.closeSocket("")
}

// stop is the server's stop: both legs close now, quietly; the handler
// emits their close events.
func (pp *proxyPair) stop(why string) {
	pp.mu.Lock()
	if !pp.cut {
		pp.cut, pp.whyClient, pp.whyUp = true, why, why
	}
	pp.mu.Unlock()
	pp.client.stop(why)
	pp.up.stop(why)
}

// finish closes both legs once both pipes returned, each close event saying
// why and how many bytes went each way.
func (pp *proxyPair) finish() {
	totals := fmt.Sprintf("%d bytes went to the target, %d came back", pp.out.Load(), pp.in.Load())
	pp.mu.Lock()
	whyClient, whyUp := pp.whyClient, pp.whyUp
	if !pp.cut {
		whyClient, whyUp = "both directions ended (a FIN each way)", "both directions ended (a FIN each way)"
	}
	pp.mu.Unlock()
	setCloseReason(pp.up, whyUp+"; "+totals)
	setCloseReason(pp.client, whyClient+"; "+totals)
	pp.up.Close()
	pp.client.Close()
}

// proxySnippets reach a proxy: netcat, the recipe to watch your own
// program through it, and a Python client.
func proxySnippets(host, port string, o Options) []Snippet {
	target := o.String("target")
	thost, tport, _ := net.SplitHostPort(target)
	return []Snippet{
		{"nc", "netcat through the proxy (type lines; Ctrl-D ends)", "nc " + host + " " + port},
		{"own-program", "watch your own program: run your server on the target, then connect through the proxy",
			"# 1. in one terminal, your own server listening on the target " + target + "\n" +
				"#    (a lab or tutorial port); to try it, this one-connection echo server:\n" +
				"python3 -c 'import socket; s = socket.create_server((\"" + thost + "\", " + tport + ")); c, _ = s.accept(); [c.sendall(d) for d in iter(lambda: c.recv(4096), b\"\")]'\n" +
				"# 2. in another terminal, talk to it through the proxy: both legs show on this page\n" +
				"nc " + host + " " + port + "\n"},
		{"python", "Python client through the proxy", "import socket\n\n" +
			"with socket.create_connection((\"" + host + "\", " + port + ")) as s:\n" +
			"    s.sendall(b\"hello\\n\")\n" +
			"    s.shutdown(socket.SHUT_WR)  # half-close: the proxy passes the FIN on to the target\n" +
			"    while data := s.recv(4096):\n" +
			"        print(data.decode(errors=\"replace\"), end=\"\")\n"},
	}
}
