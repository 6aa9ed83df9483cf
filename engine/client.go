package engine

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"slices"
	"sync"
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
}

// Client states beyond StateRunning/StateStopped.
const (
	StateConnected   = "connected"
	StateWriteClosed = "write-closed"
	StatePeerClosed  = "peer-closed"
	StateClosed      = "closed"
)

// ClientKind is one kind of client: what GET /api/kinds shows of it.
type ClientKind struct {
	Name        string       `json:"name"`
	Title       string       `json:"title"`
	Description string       `json:"description"`
	Net         string       `json:"net"`
	Options     []OptionSpec `json:"options"`
}

// clientKinds is the registry of client kinds.
var clientKinds = map[string]*ClientKind{
	"tcp": {Name: "tcp", Title: "TCP client", Net: NetTCP,
		Description: "Connect to host:port, send text or bytes, see every chunk received, half-close or close.",
		Options:     []OptionSpec{recvSizeOption(MaxRecvSize)}},
}

// ClientKinds returns the registered client kinds, sorted by name.
func ClientKinds() []*ClientKind {
	var out []*ClientKind
	for _, name := range ClientKindNames() {
		out = append(out, clientKinds[name])
	}
	return out
}

// ClientKindNames returns the names of the client kinds, sorted.
func ClientKindNames() []string { return slices.Sorted(maps.Keys(clientKinds)) }

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

// TCPClient is a TCP connection the visitor drives from the page or the API.
// A goroutine reads and emits every chunk received until the connection ends.
type TCPClient struct {
	conn *Conn
	tcp  *net.TCPConn
	wg   sync.WaitGroup

	mu      sync.Mutex
	info    ClientInfo
	writeMu sync.Mutex // one Send at a time
	closeMu sync.Mutex // one Close at a time
}

// dialTCP connects a client. release is called once when its socket is
// closed (or at once if the connect fails).
func dialTCP(ctx context.Context, d *net.Dialer, sink Sink, pace *pacer, release func(), session, id, target string, opts Options, capLimit int64) (*TCPClient, error) {
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		release()
		sink.Emit(Event{Session: session, Server: id, At: time.Now(), Kind: KindError, Net: NetTCP,
			Remote: target, Err: Classify(err), Meta: map[string]any{"op": "connect", "target": target}})
		return nil, err
	}
	tc := c.(*net.TCPConn)
	t := newTap(sink, pace, session, id, NetTCP, tc.LocalAddr().String(), tc.RemoteAddr().String(), capLimit)
	cl := &TCPClient{conn: newConn(tc, t, release), tcp: tc}
	cl.info = ClientInfo{ID: id, Session: session, Kind: "tcp", Target: target, Conn: t.conn,
		Local: t.local, Remote: t.remote, State: StateConnected, OpenedAt: time.Now()}
	ev := t.event(KindConnect)
	ev.Meta = map[string]any{"client": "tcp", "target": target, "options": opts}
	t.emit(ev)
	cl.wg.Add(1)
	go cl.readLoop(opts.Int("recv_size"))
	return cl, nil
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
		}
		if err == nil {
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

// Info returns the client's description.
func (c *TCPClient) Info() ClientInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.info
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
	n, err := c.conn.Write(b)
	c.setState(func(i *ClientInfo) { i.Sent += int64(n) })
	return err
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
	c.conn.closeSocket("")
	c.wg.Wait()
	c.writeMu.Lock() // a Send that was under way has reported its end
	c.writeMu.Unlock()
	c.conn.Close()
	return nil
}
