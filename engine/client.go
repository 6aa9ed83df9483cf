package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ClientInfo describes a client for listings.
type ClientInfo struct {
	ID       string    `json:"id"`
	Session  string    `json:"session"`
	Kind     string    `json:"kind"`
	Target   string    `json:"target"`
	Conn     string    `json:"conn"`
	Local    string    `json:"local"`
	Remote   string    `json:"remote"`
	State    string    `json:"state"` // connected, write-closed, peer-closed, closed
	Sent     int64     `json:"sent"`
	Received int64     `json:"received"`
	OpenedAt time.Time `json:"opened_at"`
	ClosedAt time.Time `json:"closed_at,omitzero"`
	// Counters are kind-specific live counts (a multi client's connections
	// done and messages matched).
	Counters map[string]int64 `json:"counters,omitempty"`
}

// Client states beyond StateRunning/StateStopped.
const (
	StateConnected   = "connected"
	StateWriteClosed = "write-closed"
	StatePeerClosed  = "peer-closed"
	StateClosed      = "closed"
)

// ClientKind is one kind of client: what GET /api/kinds shows of it (name,
// description, option schema) and how it opens. Adding a kind means adding
// a value to clientKinds; the web layer checks its options from the schema.
type ClientKind struct {
	Name        string       `json:"name"`
	Title       string       `json:"title"`
	Description string       `json:"description"`
	Net         string       `json:"net"`
	Options     []OptionSpec `json:"options"`

	// patient kinds take longer to open than one connect (the retry client
	// waits between attempts): the lab does not bound their start by its
	// connect timeout, only by its own closing.
	patient bool

	// check validates the options together, after each was checked alone
	// against its spec (nil: nothing more to check).
	check func(o Options) error
	// start opens the client: it dials env.Target through env (the dial
	// policy, the lab's connect timeout, cut short when the lab closes;
	// ctx carries both) and returns the running client. A failed connect
	// is already an error event (env.dial emits it).
	start func(ctx context.Context, env *clientEnv, o Options) (Client, error)
}

// Client is a running client of any kind, as the lab holds it.
type Client interface {
	// Info returns the client's description.
	Info() ClientInfo
	// Send sends one message: one write on a stream, one datagram on UDP,
	// one request on a new connection for the app client. A client that
	// can no longer send answers a *SendClosedError.
	Send(b []byte) error
	// Close closes the client (with half, only its sending direction where
	// the transport has one); closing a closed client does nothing. It
	// waits for every goroutine the client started.
	Close(half bool) error
}

// clientKinds is the registry of client kinds.
var clientKinds = map[string]*ClientKind{
	"tcp":   tcpClientKind,
	"udp":   udpClientKind,
	"tls":   tlsClientKind,
	"app":   appClientKind,
	"http":  httpClientKind,
	"retry": retryClientKind,
	"multi": multiClientKind,
	"unix":  unixClientKind,
}

// ClientKinds returns the registered client kinds: tcp first (where every
// tutorial starts), then by name.
func ClientKinds() []*ClientKind {
	var out []*ClientKind
	for _, name := range ClientKindNames() {
		out = append(out, clientKinds[name])
	}
	return out
}

// ClientKindNames returns the names of the client kinds, tcp first, then
// sorted.
func ClientKindNames() []string {
	names := slices.Sorted(maps.Keys(clientKinds))
	slices.SortStableFunc(names, func(a, b string) int { return boolCmp(b == "tcp", a == "tcp") })
	return names
}

// ErrClientClosed is returned by Send on a client that can no longer send.
// It unwraps to EPIPE so it classifies as a tutorial would name it.
var ErrClientClosed = errors.New("this client can no longer send")

// SendClosedError explains why a Send was refused.
type SendClosedError struct{ State string }

func (e *SendClosedError) Error() string {
	if e.State == StateWriteClosed {
		return "send after shutdown(SHUT_WR): this client already half-closed its sending side"
	}
	return "send on a closed connection: this client is closed"
}

// Unwrap makes errors.Is(err, syscall.EPIPE) and ErrClientClosed true.
func (e *SendClosedError) Unwrap() []error { return []error{ErrClientClosed, syscall.EPIPE} }

// clientEnv is what the lab provides to a client kind: the target, the
// policy-checked dialer, the socket slot OpenClient reserved, and taps.
type clientEnv struct {
	lab                       *Lab
	Session, ID, Kind, Target string
	pace                      *pacer
	socks                     *sockets // the session's count of open sockets
	// release gives back the socket slot OpenClient reserved (idempotent):
	// pass it to the first socket the client opens.
	release func()
}

// dialer returns a dialer that enforces the lab's dial policy on the
// resolved address, with the lab's connect timeout.
func (e *clientEnv) dialer() *net.Dialer {
	d := e.lab.policy.dialerFor(e.Session)
	d.Timeout = e.lab.cfg.DialTimeout
	return d
}

// dial connects to the target over network (tcp or udp) through the dial
// policy. A failure is an error event (op connect) and is returned.
func (e *clientEnv) dial(ctx context.Context, network string) (net.Conn, error) {
	c, err := e.dialer().DialContext(ctx, network, e.Target)
	if err != nil {
		e.connectFailed(network, err)
		return nil, err
	}
	return c, nil
}

// connectFailed emits the error event of a failed connect.
func (e *clientEnv) connectFailed(network string, err error) {
	e.lab.sink.Emit(Event{Session: e.Session, Server: e.ID, At: time.Now(), Kind: KindError, Net: network,
		Remote: e.Target, Err: Classify(err), Meta: map[string]any{"op": "connect", "target": e.Target}})
}

// dialContext returns a context for a dial after the client opened (the
// app client's next request): the lab's connect timeout, cut short when
// the lab closes.
func (e *clientEnv) dialContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), e.lab.cfg.DialTimeout)
	stop := context.AfterFunc(e.lab.closing, cancel)
	return ctx, func() { stop(); cancel() }
}

// begin registers a dial after the client opened (the next request of an
// app or http client) with the lab, so that Lab.Close waits for its events;
// it fails once the lab is closing. Call done when the dial is over.
func (e *clientEnv) begin() (done func(), err error) {
	l := e.lab
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrLabClosed
	}
	l.ops.Add(1)
	return l.ops.Done, nil
}

// takeSocket takes another place in the session's and the lab's counts of
// open sockets (for a socket after the first), or returns the refusal at a
// limit. The function it returns gives it back, once.
func (e *clientEnv) takeSocket() (func(), error) {
	if full := e.socks.acquire(); full != nil {
		e.lab.refusedSocket(e.Session, full)
		return nil, full.limitError()
	}
	return sync.OnceFunc(e.socks.put), nil
}

// tap returns an event tap for one socket of the client.
func (e *clientEnv) tap(network, local, remote string) *tap {
	return newTap(e.lab.sink, e.pace, e.Session, e.ID, network, local, remote, e.lab.cfg.CaptureCap)
}

// connectEvent emits a connection's connect event: the client's kind,
// target and options, and extra keys.
func (e *clientEnv) connectEvent(t *tap, o Options, extra map[string]any) {
	ev := t.event(KindConnect)
	ev.Meta = map[string]any{"client": e.Kind, "target": e.Target, "options": o}
	if peer := e.lab.peerName(e.Session, t.remote); peer != "" {
		ev.Meta["peer_name"] = peer // open lab: another participant's server
	}
	for k, v := range extra {
		ev.Meta[k] = v
	}
	t.emit(ev)
}

// Client timeouts and limits.
const (
	MaxClientTimeoutMS = 600_000
	// DefaultUDPTimeoutMS is how long a UDP client waits for a reply.
	DefaultUDPTimeoutMS = 2000
)

func timeoutOption(name string, def int, help string) OptionSpec {
	return OptionSpec{Name: name, Type: OptInt, Default: def, Min: intp(0), Max: intp(MaxClientTimeoutMS),
		Suggest: []int{500, 2000, 5000}, Unit: "ms", Help: help}
}

var tcpClientKind = &ClientKind{
	Name: "tcp", Title: "TCP client", Net: NetTCP,
	Description: "Connect to host:port, send text or bytes, see every chunk received, half-close or close.",
	Options: []OptionSpec{
		recvSizeOption(MaxRecvSize),
		timeoutOption("connect_timeout_ms", 0,
			"how long connect() may take before it fails with ETIMEDOUT (Python: socket.timeout); 0: sockplay's own limit (it also caps longer values)"),
		timeoutOption("read_timeout_ms", 0,
			"when no bytes arrive this long after the connect, a send or the last recv, a timeout event says so (Python raises socket.timeout) and the connection stays open; 0: wait for ever"),
		{Name: "repeat", Type: OptInt, Default: 1, Min: intp(1), Max: intp(maxTCPRepeat), Suggest: []int{1, 3, 10}, Advanced: true,
			Help: "each send writes the message this many times, one write call each: the peer's reads may join them, since TCP keeps no message boundaries"},
		{Name: "payload_size", Type: OptInt, Default: 0, Min: intp(0), Max: intp(maxTCPPayload), Suggest: []int{65536, 1 << 20}, Unit: "bytes", Advanced: true,
			Help: "on connect, send this many generated bytes (0123456789 repeated) in one write: the peer reads them in several chunks (partial reads); 0: none"},
		{Name: "nodelay", Type: OptBool, Default: true, Advanced: true,
			Help: "TCP_NODELAY: send each write at once (Go's default); off turns Nagle's algorithm on, which holds small writes back while earlier data is unacknowledged (Python's default)"},
		rttRoundsOption, rttSizeOption,
	},
	start: startTCPClient,
}

func startTCPClient(ctx context.Context, env *clientEnv, o Options) (Client, error) {
	if ms := o.Int("connect_timeout_ms"); ms > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	c, err := env.dial(ctx, "tcp")
	if err != nil {
		env.release()
		return nil, err
	}
	tc := c.(*net.TCPConn)
	if !o.Bool("nodelay") {
		tc.SetNoDelay(false)
	}
	cl := newTCPClient(env, tc, NetTCP)
	cl.configure(tc, o)
	env.connectEvent(cl.conn.tap, o, nil)
	cl.run(o.Int("recv_size"))
	if n := o.Int("payload_size"); n > 0 {
		cl.wg.Go(func() { cl.Send(generatedPayload(n)) })
	}
	return cl, nil
}

// tcp client limits.
const (
	maxTCPRepeat  = 1000
	maxTCPPayload = 16 << 20
)

// generatedPayload returns n bytes of 0123456789 repeated: easy to check
// by eye where a partial read cut it.
func generatedPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0' + byte(i%10)
	}
	return b
}

// timeoutRW is a TCP socket whose read that hits its deadline returns no
// bytes and no error, and says so in timedOut: the client's read loop
// reports it as a timeout event (the connection stays open), not as the
// Conn's error.
type timeoutRW struct {
	net.Conn
	timedOut *atomic.Bool
}

func (t *timeoutRW) Read(b []byte) (int, error) {
	n, err := t.Conn.Read(b)
	if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		t.timedOut.Store(true)
		return 0, nil
	}
	return n, err
}

// TCPClient is a TCP connection the visitor drives from the page or the API
// (the tcp client, and the tls client once its handshake is done). A
// goroutine reads and emits every chunk received until the connection ends.
type TCPClient struct {
	conn *Conn
	tcp  net.Conn // a *net.TCPConn, or a *net.UnixConn for the unix client
	wg   sync.WaitGroup

	// readTimeout, when set, makes a quiet read a timeout event: no bytes
	// this long after the connect, a send or the last recv. timedOut is
	// set by the socket's reader (timeoutRW) when a read hit the deadline.
	readTimeout time.Duration
	timedOut    *atomic.Bool
	// repeat is how many times each Send writes its message (0 or 1: once).
	repeat int
	// faults are the client's faults on its connection (fault_client.go).
	faults faultSet
	// rtt, when rounds is set, is a latency measurement the client runs
	// once connected, before its read loop (client_latency.go).
	rtt rttPlan

	mu       sync.Mutex
	info     ClientInfo
	deadline time.Time  // the read deadline set (zero: none); guarded by mu
	writeMu  sync.Mutex // one Send at a time
	closeMu  sync.Mutex // one Close at a time
}

// newTCPClient wraps a connected socket in a client of env (whose socket
// slot it releases when the socket closes); network is its events' net.
func newTCPClient(env *clientEnv, tc net.Conn, network string) *TCPClient {
	t := env.tap(network, tc.LocalAddr().String(), tc.RemoteAddr().String())
	cl := &TCPClient{conn: newConn(tc, t, env.release), tcp: tc}
	cl.faults.client = true
	cl.faults.attach(cl.conn)
	cl.info = ClientInfo{ID: env.ID, Session: env.Session, Kind: env.Kind, Target: env.Target, Conn: t.conn,
		Local: t.local, Remote: t.remote, State: StateConnected, OpenedAt: time.Now()}
	return cl
}

// configure applies the options the tcp and unix clients share: the read
// timeout, the repeat count and the latency measurement.
func (c *TCPClient) configure(sock net.Conn, o Options) {
	c.readTimeout = time.Duration(o.Int("read_timeout_ms")) * time.Millisecond
	if c.readTimeout > 0 {
		c.timedOut = new(atomic.Bool)
		c.conn.rw = &timeoutRW{Conn: sock, timedOut: c.timedOut}
	}
	c.repeat = o.Int("repeat")
	c.rtt = rttPlanOf(o)
}

// run starts the read loop, reading at most size bytes a call.
func (c *TCPClient) run(size int) {
	c.arm()
	c.wg.Add(1)
	if c.rtt.rounds > 0 { // the round trips first, then the read loop
		go func() {
			c.measure()
			c.readLoop(size)
		}()
		return
	}
	go c.readLoop(size)
}

// arm sets the read deadline readTimeout from now (when there is one).
func (c *TCPClient) arm() {
	if c.readTimeout <= 0 {
		return
	}
	c.mu.Lock()
	c.deadline = time.Now().Add(c.readTimeout)
	c.tcp.SetReadDeadline(c.deadline)
	c.mu.Unlock()
}

// timedOutRead reports a read that got nothing in readTimeout: a timeout
// event. The deadline is then lifted (one event per quiet spell) unless a
// send set a new one meanwhile.
func (c *TCPClient) timedOutRead() {
	c.mu.Lock()
	if !c.deadline.After(time.Now()) {
		c.deadline = time.Time{}
		c.tcp.SetReadDeadline(time.Time{})
	}
	c.mu.Unlock()
	ms := c.readTimeout.Milliseconds()
	ev := c.conn.tap.event(KindTimeout)
	ev.Meta = map[string]any{"op": "recv", "timeout_ms": ms,
		"message": fmt.Sprintf("recv got nothing within %d ms (read_timeout_ms); the connection stays open", ms),
		"python":  "socket.timeout (TimeoutError)"}
	c.conn.tap.emit(ev)
}

func (c *TCPClient) readLoop(size int) {
	defer c.wg.Done()
	buf := make([]byte, size)
	for {
		n, err := c.conn.Read(buf)
		if n > 0 {
			c.mu.Lock()
			c.info.Received += int64(n)
			c.mu.Unlock()
			c.arm()
		}
		if err == nil {
			if n == 0 && c.timedOut != nil && c.timedOut.Swap(false) {
				c.timedOutRead()
			}
			continue
		}
		c.mu.Lock()
		closing := c.info.State == StateClosed
		c.mu.Unlock()
		switch {
		case closing:
		case errors.Is(err, io.EOF):
			c.directionDone(StatePeerClosed, StateWriteClosed)
		default:
			// A reset (the Conn emitted it) or another error: the connection
			// is over.
			c.conn.Close()
			c.setState(func(i *ClientInfo) { i.State = StateClosed; i.ClosedAt = time.Now() })
		}
		return
	}
}

func (c *TCPClient) setState(f func(*ClientInfo)) {
	c.mu.Lock()
	f(&c.info)
	c.mu.Unlock()
}

// directionDone records that one direction of the connection ended (state
// becomes done), unless the other had already ended (state other): then the
// connection is over and its socket is closed.
func (c *TCPClient) directionDone(done, other string) {
	c.setState(func(i *ClientInfo) {
		if i.State == other {
			i.State, i.ClosedAt = StateClosed, time.Now()
			c.conn.endQuietly()
			return
		}
		i.State = done
	})
}

// Info returns the client's description. A connection whose last close
// event is out (the peer reset it) is closed, even before the read loop
// has recorded it.
func (c *TCPClient) Info() ClientInfo {
	c.mu.Lock()
	info := c.info
	c.mu.Unlock()
	if info.State != StateClosed {
		c.conn.mu.Lock()
		ended := c.conn.ended
		c.conn.mu.Unlock()
		if ended {
			info.State = StateClosed
		}
	}
	return info
}

// Send writes b in one write call. It fails with a *SendClosedError after a
// close or half-close, and with the operating system's error (EPIPE,
// ECONNRESET) when the peer is gone; either way an error event is emitted.
func (c *TCPClient) Send(b []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	state := c.info.State
	c.mu.Unlock()
	if state == StateWriteClosed || state == StateClosed {
		err := &SendClosedError{State: state}
		c.conn.tap.fail(err, map[string]any{"op": "send", "state": state})
		return err
	}
	for range max(c.repeat, 1) {
		n, err := c.conn.Write(b)
		c.setState(func(i *ClientInfo) { i.Sent += int64(n) })
		if err != nil {
			return err
		}
		c.arm() // a reply is due within the read timeout
	}
	return nil
}

// Close closes the connection, or with half=true shuts down only the sending
// side (the peer reads end-of-stream; replies can still arrive). Closing an
// already closed client does nothing.
//
// Close does not wait for a Send under way (one blocked in write on a peer
// that stopped reading would hold it for ever): closing the socket, or
// shutting down its sending side, makes that write fail at once (an error
// event), and the close event follows it.
func (c *TCPClient) Close(half bool) error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	c.mu.Lock()
	state := c.info.State
	if state == StateClosed || (half && state == StateWriteClosed) {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	if half {
		c.mu.Unlock()
		if err := c.conn.CloseWrite(); err != nil {
			return err
		}
		c.directionDone(StateWriteClosed, StatePeerClosed)
		return nil
	}
	c.info.State, c.info.ClosedAt = StateClosed, time.Now()
	c.mu.Unlock()
	// Over TLS, say the data ends here (close_notify) unless a Send is
	// under way (it may be blocked on a peer that stopped reading).
	if _, isTLS := c.conn.rw.(*tls.Conn); isTLS && c.writeMu.TryLock() {
		c.tcp.SetWriteDeadline(time.Now().Add(time.Second))
		c.conn.closeTLS()
		c.writeMu.Unlock()
	}
	c.conn.closeSocket("")
	c.wg.Wait()
	c.writeMu.Lock() // a Send that was under way has reported its end
	c.writeMu.Unlock()
	c.conn.Close()
	return nil
}
