package engine

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// StateIdle is a request client (app, http) between requests: open, with
// no connection.
const StateIdle = "idle"

// requestClient is a client that makes one request per connection (the app
// and http clients): the first on open, another on each Send, each on a
// new connection whose exchange runs in its own goroutine.
type requestClient struct {
	env     *clientEnv
	opts    Options
	timeout time.Duration // for the response (0: none)
	// parse turns what Send got into a request (an *OptionError when it is
	// not one); frame encodes a request into the bytes sent and the connect
	// event's "request" meta; converse sends and reads the response.
	parse    func(b []byte) (any, error)
	frame    func(req any) ([]byte, map[string]any, error)
	converse func(x *requestConn, msg []byte)
	wg       sync.WaitGroup

	mu     sync.Mutex
	info   ClientInfo
	conns  map[*Conn]struct{} // the connections of exchanges under way
	closed bool
}

// requestConn is one request's connection.
type requestConn struct {
	c        *requestClient
	conn     *Conn
	tcp      *net.TCPConn
	timedOut *atomic.Bool
}

func newRequestClient(env *clientEnv, o Options, timeout time.Duration) *requestClient {
	c := &requestClient{env: env, opts: o, timeout: timeout, conns: map[*Conn]struct{}{}}
	c.info = ClientInfo{ID: env.ID, Session: env.Session, Kind: env.Kind, Target: env.Target, State: StateIdle, OpenedAt: time.Now()}
	return c
}

// open makes the first request (its socket slot is the one OpenClient
// reserved).
func (c *requestClient) open(ctx context.Context, req any) (Client, error) {
	if err := c.exchange(ctx, req, c.env.release); err != nil {
		return nil, err
	}
	return c, nil
}

// exchange dials a new connection (its socket slot given back by release),
// and sends req and reads the response in a goroutine.
func (c *requestClient) exchange(ctx context.Context, req any, release func()) error {
	msg, reqMeta, err := c.frame(req)
	if err != nil {
		release()
		return err
	}
	raw, err := c.env.dial(ctx, "tcp")
	if err != nil {
		release()
		return err
	}
	tc := raw.(*net.TCPConn)
	x := &requestConn{c: c, tcp: tc, timedOut: new(atomic.Bool),
		conn: newConn(tc, c.env.tap(NetTCP, tc.LocalAddr().String(), tc.RemoteAddr().String()), release)}
	if c.timeout > 0 {
		x.conn.rw = &timeoutRW{Conn: tc, timedOut: x.timedOut}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		x.conn.closeSocket("")
		return &SendClosedError{State: StateClosed}
	}
	c.conns[x.conn] = struct{}{}
	c.info.Conn, c.info.Local, c.info.Remote, c.info.State = x.conn.ID(), x.conn.tap.local, x.conn.tap.remote, StateConnected
	c.wg.Add(1)
	c.mu.Unlock()
	c.env.connectEvent(x.conn.tap, c.opts, map[string]any{"request": reqMeta})
	go func() {
		defer c.wg.Done()
		defer x.end()
		c.converse(x, msg)
	}()
	return nil
}

// end closes the exchange's connection.
func (x *requestConn) end() {
	x.conn.Close()
	c := x.c
	c.mu.Lock()
	delete(c.conns, x.conn)
	if !c.closed && len(c.conns) == 0 {
		c.info.State = StateIdle
	}
	c.mu.Unlock()
}

// write sends msg in one write and arms the response timeout.
func (x *requestConn) write(msg []byte) error {
	n, err := x.conn.Write(msg)
	x.c.mu.Lock()
	x.c.info.Sent += int64(n)
	x.c.mu.Unlock()
	if err == nil && x.c.timeout > 0 {
		x.tcp.SetReadDeadline(time.Now().Add(x.c.timeout))
	}
	return err
}

// Read reads once through the Conn (one recv event), counting the bytes.
// A read that hit the response timeout returns errResponseTimeout, once its
// timeout event is emitted.
func (x *requestConn) Read(b []byte) (int, error) {
	n, err := x.conn.Read(b)
	if n > 0 {
		x.c.mu.Lock()
		x.c.info.Received += int64(n)
		x.c.mu.Unlock()
	}
	if err == nil && n == 0 && x.timedOut.Swap(false) {
		ms := x.c.timeout.Milliseconds()
		ev := x.conn.tap.event(KindTimeout)
		ev.Meta = map[string]any{"op": "recv", "timeout_ms": ms,
			"message": "no complete response within timeout_ms", "python": "socket.timeout (TimeoutError)"}
		x.conn.tap.emit(ev)
		x.conn.SetCloseReason("no response within timeout_ms")
		return 0, errResponseTimeout
	}
	return n, err
}

// errResponseTimeout ends an exchange whose response did not come in time
// (its timeout event is emitted).
var errResponseTimeout = &SockErr{Errno: "ETIMEDOUT", Message: "no response within timeout_ms"}

// Info returns the client's description.
func (c *requestClient) Info() ClientInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info
}

// Send makes another request on a new connection; b is the request as the
// kind's parse reads it (JSON).
func (c *requestClient) Send(b []byte) error {
	req, err := c.parse(b)
	if err != nil {
		return err
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return &SendClosedError{State: StateClosed}
	}
	done, err := c.env.begin()
	if err != nil {
		return err
	}
	defer done()
	release, err := c.env.takeSocket()
	if err != nil {
		return err
	}
	ctx, cancel := c.env.dialContext()
	defer cancel()
	return c.exchange(ctx, req, release)
}

// Close closes the connections of exchanges under way (their close events
// say so) and refuses further requests. There is no half-close of a
// request client: half closes it too.
func (c *requestClient) Close(half bool) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closed = true
	c.info.State, c.info.ClosedAt = StateClosed, time.Now()
	conns := make([]*Conn, 0, len(c.conns))
	for conn := range c.conns {
		conns = append(conns, conn)
	}
	c.mu.Unlock()
	for _, conn := range conns {
		conn.closeSocket("the client was closed")
	}
	c.wg.Wait()
	return nil
}
