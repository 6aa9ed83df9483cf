package engine

import (
	"context"
	"errors"
	"io"
	"net"
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

// ClientOptions configure a tcp client.
type ClientOptions struct {
	// RecvSize is the most one read call takes (default 65536).
	RecvSize int `json:"recv_size"`
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

// TCPClient is a TCP connection the visitor drives from the page or the API.
// A goroutine reads and emits every chunk received until the connection ends.
type TCPClient struct {
	conn *net.TCPConn
	tap  *tap
	wg   sync.WaitGroup

	mu   sync.Mutex
	info ClientInfo
	// localClose is set before this side closes, so the read loop's
	// "use of closed connection" is not reported as an error.
	localClose bool
	writeMu    sync.Mutex // one Send at a time
	closeMu    sync.Mutex // one Close at a time

	release   func() // gives back the lab's socket count
	closeOnce sync.Once
}

// closeConn closes the socket (once) and gives back its place in the lab's
// count of open sockets.
func (c *TCPClient) closeConn() {
	c.closeOnce.Do(func() {
		c.tap.stop()
		c.conn.Close()
		c.release()
	})
}

// dialTCP connects a client. release is called once when its socket is
// closed (or at once if the connect fails).
func dialTCP(ctx context.Context, d *net.Dialer, sink Sink, pace *pacer, release func(), session, id, target string, opts ClientOptions, capLimit int64) (*TCPClient, error) {
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		release()
		sink.Emit(Event{Session: session, Server: id, At: time.Now(), Kind: KindError,
			Remote: target, Err: Classify(err), Meta: map[string]any{"op": "connect", "target": target}})
		return nil, err
	}
	tc := c.(*net.TCPConn)
	cl := &TCPClient{conn: tc, release: release, tap: newTap(sink, pace, session, id, tc.LocalAddr().String(), tc.RemoteAddr().String(), capLimit)}
	cl.info = ClientInfo{ID: id, Session: session, Kind: "tcp", Target: target, Conn: cl.tap.conn,
		Local: cl.tap.local, Remote: cl.tap.remote, State: StateConnected, OpenedAt: time.Now()}
	ev := cl.tap.event(KindConnect)
	ev.Meta = map[string]any{"client": "tcp", "target": target}
	cl.tap.emit(ev)
	cl.wg.Add(1)
	go cl.readLoop(opts.RecvSize)
	return cl, nil
}

func (c *TCPClient) readLoop(size int) {
	defer c.wg.Done()
	buf := make([]byte, size)
	for {
		n, err := c.conn.Read(buf)
		if n > 0 {
			c.tap.data(KindRecv, buf[:n])
			c.mu.Lock()
			c.info.Received += int64(n)
			c.mu.Unlock()
		}
		if err == nil {
			continue
		}
		c.mu.Lock()
		local := c.localClose
		c.mu.Unlock()
		switch {
		case local:
		case errors.Is(err, io.EOF):
			c.tap.closed("peer", true, "the peer sent FIN: recv returned 0 bytes")
			c.directionDone(StatePeerClosed, StateWriteClosed)
		default:
			c.tap.fail(err, map[string]any{"op": "recv"})
			c.mu.Lock()
			c.localClose = true
			c.mu.Unlock()
			c.closeConn()
			by, reason := "local", ""
			if errors.Is(err, syscall.ECONNRESET) {
				by, reason = "peer", "reset by peer (RST)"
			}
			c.tap.closed(by, false, reason)
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
			c.closeConn()
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
		c.tap.fail(err, map[string]any{"op": "send", "state": state})
		return err
	}
	// As for servers, the send event precedes the write so that it comes
	// before the peer's recv of the same bytes.
	c.tap.data(KindSend, b)
	n, err := c.conn.Write(b)
	c.setState(func(i *ClientInfo) { i.Sent += int64(n) })
	if err != nil {
		c.tap.fail(err, map[string]any{"op": "send", "written": n})
		return err
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
		// Emitted first so that it precedes the peer's reaction to our FIN.
		c.tap.closed("local", true, "shutdown(SHUT_WR): no more sends from this side")
		if err := c.conn.CloseWrite(); err != nil {
			c.tap.fail(err, map[string]any{"op": "shutdown"})
			return err
		}
		c.directionDone(StateWriteClosed, StatePeerClosed)
		return nil
	}
	c.localClose = true
	c.mu.Unlock()
	c.closeConn()
	c.wg.Wait()
	c.writeMu.Lock() // a Send that was under way has reported its end
	c.writeMu.Unlock()
	c.tap.closed("local", false, "")
	c.setState(func(i *ClientInfo) { i.State = StateClosed; i.ClosedAt = time.Now() })
	return nil
}
