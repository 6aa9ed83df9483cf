package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

var udpClientKind = &ClientKind{
	Name: "udp", Title: "UDP client", Net: NetUDP,
	Description: "Send datagrams to host:port (sendto) and see every reply; a reply that does not come within the timeout is a timeout event. " +
		"Connect the socket to see an ICMP port-unreachable come back as ECONNREFUSED.",
	Options: []OptionSpec{
		{Name: "timeout_ms", Type: OptInt, Default: DefaultUDPTimeoutMS, Min: intp(1), Max: intp(MaxClientTimeoutMS),
			Suggest: []int{500, DefaultUDPTimeoutMS, 5000}, Unit: "ms", Primary: true,
			Help: "how long to wait for a reply after each datagram sent; none by then is a timeout event (Python: socket.timeout) — UDP itself never says a datagram was lost"},
		{Name: "connect", Type: OptBool, Default: false, Primary: true,
			Help: "connect() the UDP socket to the target first: it then takes replies only from there, and an ICMP port-unreachable (nothing listens) comes back as ECONNREFUSED on the next call; unconnected, the same datagram just gets no reply"},
		{Name: "recv_size", Type: OptInt, Default: DefaultUDPRecvSize, Min: intp(1), Max: intp(MaxUDPRecvSize),
			Suggest: []int{512, 1024, DefaultUDPRecvSize}, Unit: "bytes", Advanced: true,
			Help: "the buffer of each recvfrom(): a longer reply is cut to this size by the kernel and the rest is lost"},
	},
	start: startUDPClient,
}

// hintICMPRefused explains ECONNREFUSED on a UDP socket.
const hintICMPRefused = "Nothing listens on that UDP port: the peer's kernel answered a datagram with an ICMP port-unreachable, " +
	"which a connected UDP socket reports as ECONNREFUSED on its next recv or send (Python: ConnectionRefusedError). " +
	"An unconnected socket never sees it: its recvfrom just times out."

// UDPClient is a UDP socket that sends datagrams to one target and reads
// every datagram that comes back.
type UDPClient struct {
	env       *clientEnv
	pc        *net.UDPConn
	tap       *tap
	peer      netip.AddrPort // the target, resolved and checked once
	connected bool
	timeout   time.Duration
	recvSize  int
	wg        sync.WaitGroup
	sendMu    sync.Mutex

	mu       sync.Mutex
	info     ClientInfo
	pending  int       // datagrams sent since the last reply or timeout
	deadline time.Time // the read deadline set (zero: none)
	closing  bool
}

func startUDPClient(ctx context.Context, env *clientEnv, o Options) (Client, error) {
	c := &UDPClient{env: env, connected: o.Bool("connect"), timeout: time.Duration(o.Int("timeout_ms")) * time.Millisecond,
		recvSize: o.Int("recv_size")}
	if c.connected {
		conn, err := env.dial(ctx, "udp")
		if err != nil {
			return nil, err
		}
		c.pc = conn.(*net.UDPConn)
		c.peer = c.pc.RemoteAddr().(*net.UDPAddr).AddrPort()
	} else {
		peer, err := env.lab.resolveAllowed(ctx, env.Session, env.Target)
		if err != nil {
			env.connectFailed(NetUDP, err)
			return nil, err
		}
		laddr := &net.UDPAddr{IP: net.IPv4zero}
		if peer.Addr().Is6() {
			laddr.IP = net.IPv6unspecified
		}
		pc, err := net.ListenUDP("udp", laddr)
		if err != nil {
			env.connectFailed(NetUDP, err)
			return nil, err
		}
		c.pc, c.peer = pc, peer
	}
	c.tap = env.tap(NetUDP, c.pc.LocalAddr().String(), c.peer.String())
	c.info = ClientInfo{ID: env.ID, Session: env.Session, Kind: env.Kind, Target: env.Target, Conn: c.tap.conn,
		Local: c.tap.local, Remote: c.tap.remote, State: StateConnected, OpenedAt: time.Now()}
	extra := map[string]any{"connected": c.connected, "peer": c.peer.String()}
	if !c.connected {
		extra["note"] = "no connect(): each datagram is sent with sendto to the peer"
	}
	env.connectEvent(c.tap, o, extra)
	c.wg.Add(1)
	go c.readLoop()
	return c, nil
}

// resolveAllowed resolves target to one address (the first the resolver
// gives, in its IPv4 form when it is IPv4-mapped) and checks it against the
// dial policy: a datagram is only ever sent there.
func (l *Lab) resolveAllowed(ctx context.Context, session, target string) (netip.AddrPort, error) {
	host, port, _ := net.SplitHostPort(target)
	p, _ := strconv.Atoi(port)
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	ap := netip.AddrPortFrom(ips[0].Unmap(), uint16(p))
	if err := l.policy.CheckFrom(session, ap); err != nil {
		return netip.AddrPort{}, err
	}
	return ap, nil
}

// setDeadline sets the read deadline (zero: none). Call with c.mu held.
func (c *UDPClient) setDeadline(t time.Time) {
	c.deadline = t
	c.pc.SetReadDeadline(t)
}

func (c *UDPClient) readLoop() {
	defer c.wg.Done()
	buf := make([]byte, c.recvSize)
	for {
		n, _, flags, from, err := c.pc.ReadMsgUDPAddrPort(buf, nil)
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if closing {
			return
		}
		switch {
		case err == nil:
			c.datagramIn(buf[:n], from, (msgTrunc != 0 && flags&msgTrunc != 0) || (msgTrunc == 0 && n == len(buf)))
		case errors.Is(err, os.ErrDeadlineExceeded):
			c.timedOut()
		case errors.Is(err, syscall.ECONNREFUSED):
			c.refused("recv", err, 0)
		default:
			c.tap.fail(err, map[string]any{"op": "recv"})
			if errors.Is(err, net.ErrClosed) {
				return
			}
		}
	}
}

// datagramIn emits the datagram-in event of a reply; the wait for replies
// starts again for the datagrams still unanswered.
func (c *UDPClient) datagramIn(b []byte, from netip.AddrPort, truncated bool) {
	ev := c.tap.event(KindDatagramIn)
	c.tap.capture(&ev, b)
	ev.Meta = map[string]any{"peer": netip.AddrPortFrom(from.Addr().Unmap(), from.Port()).String()}
	if truncated {
		ev.Meta["truncated_by_kernel"] = true
		ev.Meta["recv_size"] = c.recvSize
	}
	c.tap.emit(ev)
	c.mu.Lock()
	c.info.Received += int64(len(b))
	if c.pending > 0 {
		c.pending--
	}
	if c.pending > 0 {
		c.setDeadline(time.Now().Add(c.timeout))
	} else {
		c.setDeadline(time.Time{})
	}
	c.mu.Unlock()
}

// timedOut reports that no reply came within the timeout (unless a send
// set a later deadline meanwhile).
func (c *UDPClient) timedOut() {
	c.mu.Lock()
	if c.deadline.After(time.Now()) {
		c.mu.Unlock()
		return
	}
	unanswered := c.pending
	c.pending = 0
	c.setDeadline(time.Time{})
	c.mu.Unlock()
	ms := c.timeout.Milliseconds()
	ev := c.tap.event(KindTimeout)
	ev.Meta = map[string]any{"op": "recvfrom", "timeout_ms": ms, "unanswered": unanswered,
		"message": fmt.Sprintf("no reply within %d ms (timeout_ms): UDP does not say whether the datagram or its reply was lost, or nobody listens", ms),
		"python":  "socket.timeout (TimeoutError)"}
	c.tap.emit(ev)
}

// refused emits the ECONNREFUSED of a connected socket, explained.
func (c *UDPClient) refused(op string, err error, written int) {
	ev := c.tap.event(KindError)
	se := *Classify(err)
	se.Hint = hintICMPRefused
	ev.Err = &se
	ev.Meta = map[string]any{"op": op}
	if op == "send" {
		ev.Meta["written"] = written
	}
	c.tap.emit(ev)
	c.mu.Lock()
	c.pending = 0
	c.setDeadline(time.Time{})
	c.mu.Unlock()
}

// Info returns the client's description.
func (c *UDPClient) Info() ClientInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info
}

// Send sends b as one datagram to the target; a reply is then due within
// the timeout.
func (c *UDPClient) Send(b []byte) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	c.mu.Lock()
	closed := c.closing
	c.mu.Unlock()
	if closed {
		err := &SendClosedError{State: StateClosed}
		c.tap.fail(err, map[string]any{"op": "send", "state": StateClosed})
		return err
	}
	ev := c.tap.event(KindDatagramOut)
	c.tap.capture(&ev, b)
	ev.Meta = map[string]any{"peer": c.peer.String()}
	c.tap.emit(ev)
	var n int
	var err error
	if c.connected {
		n, err = c.pc.Write(b)
	} else {
		n, err = c.pc.WriteToUDPAddrPort(b, c.peer)
	}
	switch {
	case err == nil:
		c.mu.Lock()
		c.info.Sent += int64(n)
		c.pending++
		c.setDeadline(time.Now().Add(c.timeout))
		c.mu.Unlock()
	case errors.Is(err, syscall.ECONNREFUSED):
		c.refused("send", err, n)
	default:
		c.tap.fail(err, map[string]any{"op": "send", "written": n})
	}
	return err
}

// Close closes the socket. A UDP socket has no half-close.
func (c *UDPClient) Close(half bool) error {
	if half {
		return &OptionError{Option: "half", Msg: "a UDP socket has no half-close (there is no connection with two directions to shut down one of): close it instead"}
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closing = true
	c.info.State, c.info.ClosedAt = StateClosed, time.Now()
	c.mu.Unlock()
	c.tap.stop()
	c.pc.Close()
	c.wg.Wait()
	c.sendMu.Lock() // a Send under way has reported its end
	c.sendMu.Unlock()
	c.env.release()
	c.tap.closed(CloseInfo{By: "local", Reason: "the client was closed"}, nil)
	return nil
}
