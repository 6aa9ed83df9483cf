package engine

import (
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// Conn is one TCP (or Unix domain stream) connection of the lab (accepted by a server, dialed by a
// client or by a proxy for its upstream leg) with its event tap. It is the
// only source of recv, send and close events, so every kind describes the
// same things the same way: one recv event per Read call, one send event per
// Write call, and one close classifier for how a connection ends.
//
// Read and Write go through rw: the socket itself, or a TLS layer over it
// (see startTLS), in which case the events carry the plaintext and net "tls".
type Conn struct {
	raw     net.Conn
	rw      io.ReadWriter
	tap     *tap
	release func() // gives back the lab's socket count, once, when the socket closes

	mu        sync.Mutex
	closing   bool   // this side is closing the socket: the read errors that follow are its own doing
	stopping  bool   // its server is stopping: write errors are not reported either
	reason    string // why this side closes, for the close event
	peerFIN   bool   // the peer's FIN was read
	shutWrite bool   // this side shut down its sending side
	ended     bool   // the connection's last close event is emitted
	closeOnce sync.Once
	abortRST  bool // this side resets the connection (SO_LINGER 0): its close says rst
	// closeMeta, when set, adds keys to the meta of the connection's last
	// close event (a TLS layer's ciphertext totals, see startTLS). It is
	// called when that event is emitted.
	closeMeta func() map[string]any
	// fx is the connection's state of its server's faults (nil: it takes
	// none, as a client's or a proxy's upstream leg).
	fx *connFaults
	// stats are the socket table's counts (sockets.go).
	stats connStats
	// regIdx is its place among its owner's Conns in openConns (-1: not
	// there), guarded by openConns.mu.
	regIdx int
}

// newConn wraps the socket c. release is called once when it closes.
func newConn(c net.Conn, t *tap, release func()) *Conn {
	if release == nil {
		release = func() {}
	}
	if _, ok := c.(*net.UnixConn); ok {
		t.local, t.remote = unixEnd(t.local), unixEnd(t.remote)
	}
	conn := &Conn{raw: c, rw: c, tap: t, release: release}
	conn.stats.opened = time.Now()
	openConns.add(conn) // the socket table lists it until its socket closes
	return conn
}

// unixEnd is how an event names one end of a Unix socket: its path, or ""
// for an unnamed socket (a client that did not bind, as nc -U and Python's
// connect() do; Go prints those as "@").
func unixEnd(a string) string {
	if a == "@" {
		return ""
	}
	return a
}

// ID returns the connection id of the events.
func (c *Conn) ID() string { return c.tap.conn }

// LocalAddr and RemoteAddr return the socket's addresses.
func (c *Conn) LocalAddr() net.Addr  { return c.raw.LocalAddr() }
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// Read does one read call and emits a recv event for what it returned. How
// a read ends is classified once, here: the peer's FIN (a half-close by the
// peer), a reset (RST: an error event, then the close), or another error.
// Errors after this side began closing are not reported: they are its own.
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.read(b)
	c.stats.read(n)
	return n, err
}

func (c *Conn) read(b []byte) (int, error) {
	if c.fx != nil && c.fx.on() {
		return c.fx.read(b)
	}
	n, err := c.rw.Read(b)
	if c.fx != nil && c.fx.on() {
		return c.fx.readLate(b, n, err) // a fault was added while this read waited
	}
	if n > 0 {
		c.tap.data(KindRecv, b[:n])
	}
	if err != nil {
		c.readFailed(err)
	}
	return n, err
}

func (c *Conn) readFailed(err error) {
	c.mu.Lock()
	closing, fin := c.closing, c.peerFIN
	c.mu.Unlock()
	switch {
	case closing || fin:
	case c.fx != nil && c.fx.ownEOF(err): // an upstream half-close fault: its fault event said it
	case errors.Is(err, io.EOF):
		c.mu.Lock()
		c.peerFIN = true
		c.mu.Unlock()
		reason := "the peer sent FIN: recv returned 0 bytes"
		if c.tap.net == NetTLS {
			reason = "the peer ended the TLS session (close_notify): recv returned 0 bytes"
		}
		c.tap.closed(CloseInfo{By: "peer", Half: true, Reason: reason}, nil)
	case isReset(err):
		c.tap.fail(err, map[string]any{"op": "recv"})
		c.reset()
	default:
		c.tap.fail(err, map[string]any{"op": "recv"})
	}
}

// reset records that the peer reset the connection: its last close event.
func (c *Conn) reset() {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	c.mu.Unlock()
	c.lastClose(CloseInfo{By: "peer", RST: true, Reason: "reset by peer (RST)"})
}

// lastClose emits the connection's last close event, with the keys
// closeMeta adds (the standard keys win).
func (c *Conn) lastClose(info CloseInfo) {
	c.mu.Lock()
	extra := c.closeMeta
	c.mu.Unlock()
	var meta map[string]any
	if extra != nil {
		meta = extra()
	}
	c.tap.closed(info, meta)
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// Write does one write call of b. Its send event is emitted before the call,
// so that it precedes the peer's recv of the same bytes in the recording (a
// net.Conn writes everything or fails; a failure is an error event saying
// how much was written).
func (c *Conn) Write(b []byte) (int, error) {
	n, err := c.write(b)
	c.stats.wrote(n)
	return n, err
}

func (c *Conn) write(b []byte) (int, error) {
	if c.fx != nil && c.fx.on() {
		return c.fx.write(b)
	}
	c.tap.data(KindSend, b)
	n, err := c.rw.Write(b)
	if err != nil {
		c.mu.Lock()
		stopping := c.stopping
		c.mu.Unlock()
		if !stopping {
			// A write cut short by this side's own close is reported too: the
			// bytes did not all go out.
			c.tap.fail(err, map[string]any{"op": "send", "written": n})
			if isReset(err) {
				c.reset()
			}
		}
	}
	return n, err
}

// CloseWrite shuts down this side's sending direction (the peer reads
// end-of-stream; it can still send). The close event comes first, so that
// it precedes the peer's reaction to the FIN.
func (c *Conn) CloseWrite() error {
	c.fx.flush() // delayed bytes go before the FIN
	c.mu.Lock()
	if c.shutWrite || c.ended {
		c.mu.Unlock()
		return nil
	}
	c.shutWrite = true
	c.mu.Unlock()
	c.tap.closed(CloseInfo{By: "local", Half: true, Reason: "shutdown(SHUT_WR): no more sends from this side"}, nil)
	cw, ok := c.rw.(interface{ CloseWrite() error })
	if !ok {
		return nil
	}
	if err := cw.CloseWrite(); err != nil {
		c.tap.fail(err, map[string]any{"op": "shutdown"})
		return err
	}
	return nil
}

// SetCloseReason says why this side will close the connection (a one-shot
// reply was sent, the greeting is done…); the close event carries it.
func (c *Conn) SetCloseReason(reason string) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = reason
	}
	c.mu.Unlock()
}

// closeSocket closes the socket (once) without an event: reads and writes
// under way fail, and are not reported. Use it to unblock a handler; Close
// emits the close event.
func (c *Conn) closeSocket(reason string) {
	c.mu.Lock()
	c.closing = true
	if c.reason == "" {
		c.reason = reason
	}
	c.mu.Unlock()
	c.closeOnce.Do(func() {
		if c.fx != nil {
			c.fx.closed()
		}
		c.tap.stop()
		openConns.remove(c)
		c.raw.Close()
		c.release()
	})
}

// stop is its server's stop: the socket closes, the handler's reads and
// writes fail quietly, and Close (when the handler returns) says why.
func (c *Conn) stop(reason string) {
	c.mu.Lock()
	c.stopping = true
	c.mu.Unlock()
	c.closeSocket(reason)
}

// abort resets the connection from this side: SO_LINGER 0 makes the close
// send RST instead of FIN, so the peer's next read fails with ECONNRESET.
// The socket closes now; Close then emits the close event with rst.
// A Unix stream socket has no RST: its close is a close (a peer with
// unread bytes still gets ECONNRESET from the kernel).
func (c *Conn) abort(reason string) {
	tc, isTCP := c.raw.(*net.TCPConn)
	if isTCP {
		tc.SetLinger(0)
	}
	c.mu.Lock()
	c.abortRST = isTCP
	c.mu.Unlock()
	c.closeSocket(reason)
}

// Close closes the connection and emits its last close event (by this
// side), unless the connection already ended (the peer reset it). It is
// idempotent.
func (c *Conn) Close() error {
	c.fx.flush() // delayed bytes go before the close
	c.closeSocket("")
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return nil
	}
	c.ended = true
	info := CloseInfo{By: "local", Reason: c.reason, RST: c.abortRST}
	if c.peerFIN && info.Reason == "" {
		info.Reason = "closed after the peer's FIN"
	}
	c.mu.Unlock()
	c.lastClose(info)
	return nil
}

// endQuietly closes the socket when both directions already ended with
// their own half-close events: nothing more to say.
func (c *Conn) endQuietly() {
	c.mu.Lock()
	c.ended = true
	c.mu.Unlock()
	c.closeSocket("")
}
