package engine

import (
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ServerInfo describes a server for listings.
type ServerInfo struct {
	ID        string    `json:"id"`
	Session   string    `json:"session"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name,omitempty"`
	Addr      string    `json:"addr"`
	Options   any       `json:"options,omitempty"`
	State     string    `json:"state"` // "running" or "stopped"
	Conns     int       `json:"conns"` // open connections now
	Accepted  int       `json:"accepted"`
	StartedAt time.Time `json:"started_at"`
	StoppedAt time.Time `json:"stopped_at,omitzero"`
}

// States of servers and clients.
const (
	StateRunning = "running"
	StateStopped = "stopped"
)

// tcpServer is the listener, accept loop and connection bookkeeping shared by
// the TCP server kinds. Each kind supplies a handler that talks on one
// serverConn; the base emits accept and close events and owns every goroutine.
type tcpServer struct {
	sink     Sink
	ln       net.Listener
	handle   func(*serverConn)
	capLimit int64
	maxConns int
	pace     *pacer   // the session's event rate (nil: no limit)
	socks    *sockets // the lab's open sockets
	release  func()

	mu       sync.Mutex
	info     ServerInfo
	conns    map[*serverConn]struct{}
	stopping bool

	wg        sync.WaitGroup
	closeOnce sync.Once
	started   chan struct{} // closed once server-start and listen are emitted
}

func (s *tcpServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			stopping := s.stopping
			s.mu.Unlock()
			if stopping || errors.Is(err, net.ErrClosed) {
				return
			}
			// Accept errors such as EMFILE are temporary: report and go on,
			// pausing a little so a persistent one does not spin.
			s.sink.Emit(Event{Session: s.info.Session, Server: s.info.ID, At: time.Now(),
				Kind: KindError, Local: s.info.Addr, Err: Classify(err), Meta: map[string]any{"op": "accept"}})
			time.Sleep(50 * time.Millisecond)
			continue
		}
		sc := &serverConn{Conn: c, tap: newTap(s.sink, s.pace, s.info.Session, s.info.ID,
			c.LocalAddr().String(), c.RemoteAddr().String(), s.capLimit)}
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			c.Close()
			return
		}
		var refusal *SockErr
		var limit any
		switch {
		case s.maxConns > 0 && len(s.conns) >= s.maxConns:
			limit = s.maxConns
			refusal = limitRefusal("this server already has its maximum number of open connections",
				"sockplay accepted the connection and closed it at once: this server holds at most "+strconv.Itoa(s.maxConns)+" connections (-max-conns). Close some first.")
		case !s.socks.take():
			limit = s.socks.max
			refusal = limitRefusal("sockplay's limit of open sockets is reached",
				"sockplay accepted the connection and closed it at once: it holds at most "+strconv.FormatInt(s.socks.max, 10)+" open sockets for all sessions together (-max-sockets).")
		default:
			s.conns[sc] = struct{}{}
			s.info.Accepted++
			sc.release = s.socks.put
		}
		s.mu.Unlock()
		sc.tap.emit(sc.tap.event(KindAccept))
		if refusal != nil {
			ev := sc.tap.event(KindError)
			ev.Err = refusal
			ev.Meta = map[string]any{"op": "accept", "limit": limit}
			sc.tap.emit(ev)
			sc.tap.stop()
			sc.Close()
			sc.tap.closed("local", false, "connection limit reached")
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.forget(sc)
			s.handle(sc)
			sc.finish()
		}()
	}
}

func (s *tcpServer) forget(sc *serverConn) {
	s.mu.Lock()
	delete(s.conns, sc)
	s.mu.Unlock()
}

// Info returns the server's description.
func (s *tcpServer) Info() ServerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := s.info
	info.Conns = len(s.conns)
	return info
}

// Close stops accepting, closes every connection (each emits its close event),
// waits for all goroutines and emits server-stop. It is idempotent.
func (s *tcpServer) Close() error {
	s.closeOnce.Do(func() {
		<-s.started
		s.mu.Lock()
		s.stopping = true
		for sc := range s.conns {
			sc.stop()
		}
		s.mu.Unlock()
		s.ln.Close()
		s.wg.Wait()
		s.release()
		s.mu.Lock()
		s.info.State = StateStopped
		s.info.StoppedAt = time.Now()
		info := s.info
		s.mu.Unlock()
		s.sink.Emit(Event{Session: info.Session, Server: info.ID, At: info.StoppedAt,
			Kind: KindServerStop, Local: info.Addr, Meta: map[string]any{"kind": info.Kind}})
	})
	return nil
}

// serverConn is one accepted connection with its event tap. Handlers use
// read and write, which emit exactly one event per system call.
type serverConn struct {
	net.Conn
	tap *tap

	mu      sync.Mutex
	stopped bool // closed by the server's Close
	done    bool // close event emitted

	release func() // gives back the lab's socket count (in finish)
}

// stop is called by the server's Close: it unblocks the handler's read.
func (c *serverConn) stop() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	c.tap.stop()
	c.Conn.Close()
}

// read does one Read into buf. On end of stream or error it emits the events
// that explain it and reports ok=false; the handler then returns.
func (c *serverConn) read(buf []byte) (n int, ok bool) {
	n, err := c.Conn.Read(buf)
	if n > 0 {
		c.tap.data(KindRecv, buf[:n])
	}
	if err != nil {
		c.readFailed(err)
		return n, false
	}
	return n, true
}

func (c *serverConn) readFailed(err error) {
	c.mu.Lock()
	stopped := c.stopped
	c.mu.Unlock()
	switch {
	case stopped:
		// The server is stopping; finish reports the close.
	case errors.Is(err, io.EOF):
		c.tap.closed("peer", true, "the peer sent FIN: recv returned 0 bytes")
	case errors.Is(err, syscall.ECONNRESET):
		c.tap.fail(err, map[string]any{"op": "recv"})
		c.tap.closed("peer", false, "reset by peer (RST)")
		c.markDone()
	default:
		c.tap.fail(err, map[string]any{"op": "recv"})
	}
}

// write does one Write of b and emits the send event (and an error event if
// it fails). It reports whether the write succeeded.
//
// The send event is emitted before the write, so that it precedes the peer's
// recv of the same bytes in the recording (net.Conn.Write sends everything or
// fails; a failure is an error event saying how much was written).
func (c *serverConn) write(b []byte) bool {
	c.tap.data(KindSend, b)
	n, err := c.Conn.Write(b)
	if err != nil {
		c.mu.Lock()
		stopped := c.stopped
		c.mu.Unlock()
		if !stopped {
			c.tap.fail(err, map[string]any{"op": "send", "written": n})
		}
		return false
	}
	return true
}

func (c *serverConn) markDone() {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
}

// finish closes the connection and emits the server side's close event,
// unless the connection was already reported gone (reset by the peer).
func (c *serverConn) finish() {
	c.Conn.Close()
	c.release()
	c.tap.stop()
	c.mu.Lock()
	done, stopped := c.done, c.stopped
	c.done = true
	c.mu.Unlock()
	if done {
		return
	}
	reason := ""
	if stopped {
		reason = "server stopped"
	}
	c.tap.closed("local", false, reason)
}
