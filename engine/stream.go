package engine

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"time"
)

// ServerInfo describes a server for listings.
type ServerInfo struct {
	ID      string `json:"id"`
	Session string `json:"session"`
	Kind    string `json:"kind"`
	Net     string `json:"net"`
	Name    string `json:"name,omitempty"`
	Addr    string `json:"addr"`
	// Options are the server's options with their defaults filled in.
	Options   Options   `json:"options,omitempty"`
	State     string    `json:"state"` // "running" or "stopped"
	Conns     int       `json:"conns"` // open connections now
	Accepted  int       `json:"accepted"`
	StartedAt time.Time `json:"started_at"`
	StoppedAt time.Time `json:"stopped_at,omitzero"`
	// Counters are kind-specific live counts (a proxy's inbound and
	// outbound bytes, a UDP server's dropped datagrams).
	Counters map[string]int64 `json:"counters,omitempty"`
	// Details are kind-specific facts (a TLS server's certificate
	// fingerprint, the socket options the kernel applied).
	Details map[string]any `json:"details,omitempty"`
	// Restored says the server was started again when sockplay restarted.
	Restored bool `json:"restored,omitempty"`
	// StopReason says why a stopped server stopped.
	StopReason string `json:"stop_reason,omitempty"`
}

// States of servers and clients.
const (
	StateRunning = "running"
	StateStopped = "stopped"
)

// StreamServer is the listener, accept loop and connection bookkeeping
// shared by the stream (TCP and TLS) server kinds. A kind supplies a
// handler that talks on one Conn; the server emits accept events, counts
// and limits connections, and owns every goroutine.
type StreamServer struct {
	serverBase
	ln       net.Listener
	net      string
	handle   func(*Conn)
	maxConns int
	// OnServe, when set, runs once before the first accept (after
	// server-start and listen are emitted): a kind emits its own start
	// events there (the socket options the kernel applied).
	OnServe func()
	// OnAccept, when set, runs for every connection the server takes,
	// before its accept event and its handler: a kind sets per-connection
	// socket options there, and what it returns is the accept event's meta.
	OnAccept func(*Conn) map[string]any
	// MaxClients, when positive, is how many connections the server holds
	// at once: while it holds that many it does not call Accept, so further
	// clients complete their handshake in the kernel's listen backlog and
	// wait there (their connect succeeds; nothing answers them) until a
	// handler ends. Set it before serve.
	MaxClients int
	// Relisten, when set, listens again on addr after a refuse fault is
	// lifted, as the kind first did (its socket options); nil: net.Listen.
	Relisten func(addr string) (net.Listener, error)

	conns    map[*Conn]struct{} // guarded by mu
	stopping bool               // guarded by mu
	// faults are the server's faults (fault.go); refused says a refuse
	// fault closed the listener, and relisten is closed when it listens
	// again (both guarded by mu).
	faults   faultSet
	refused  bool
	relisten chan struct{}
	quit     chan struct{} // closed by stop; made on first use (guarded by mu)

	wg       sync.WaitGroup
	stopOnce sync.Once
}

// serverBase is what every kind of server shares: its environment and its
// description, and hooks for kind-specific counters and details.
type serverBase struct {
	env *Env
	// Counters and Details, when set, fill ServerInfo's.
	Counters func() map[string]int64
	Details  func() map[string]any

	mu   sync.Mutex
	info ServerInfo
}

func (b *serverBase) setInfo(info ServerInfo) {
	b.mu.Lock()
	b.info = info
	b.mu.Unlock()
}

// Info returns the server's description.
func (b *serverBase) Info() ServerInfo {
	b.mu.Lock()
	info := b.info
	b.mu.Unlock()
	if b.Counters != nil {
		info.Counters = b.Counters()
	}
	if b.Details != nil {
		info.Details = b.Details()
	}
	return info
}

// stopped gives back the server's ports and socket, marks it stopped and
// emits server-stop. Call it once, after every goroutine of the server ended.
func (b *serverBase) stopped(reason string) {
	b.env.release()
	b.env.socks.put() // the listening socket's place
	b.mu.Lock()
	b.info.State, b.info.StoppedAt, b.info.StopReason = StateStopped, time.Now(), reason
	info := b.info
	b.mu.Unlock()
	b.env.Emit(Event{At: info.StoppedAt, Kind: KindServerStop, Net: info.Net, Local: info.Addr,
		Meta: map[string]any{"kind": info.Kind, "reason": reason}})
}

func (s *StreamServer) addr() string { return s.listener().Addr().String() }

func (s *StreamServer) discard() { s.listener().Close() }

// listener returns the listening socket (a refuse fault replaces it).
func (s *StreamServer) listener() net.Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ln
}

func (s *StreamServer) serve() {
	s.env.Emit(Event{Kind: KindListen, Net: s.net, Local: s.listener().Addr().String()})
	if s.OnServe != nil {
		s.OnServe()
	}
	s.wg.Add(1)
	go s.acceptLoop()
}

// quitChan returns the channel stop closes.
func (s *StreamServer) quitChan() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quit == nil {
		s.quit = make(chan struct{})
	}
	return s.quit
}

func (s *StreamServer) acceptLoop() {
	defer s.wg.Done()
	lab := s.env.lab
	// slots holds a token for every connection a handler holds, when the
	// kind limits them (MaxClients): a token is taken before Accept and
	// given back when the handler ends, or at once if none runs.
	var slots chan struct{}
	if s.MaxClients > 0 {
		slots = make(chan struct{}, s.MaxClients)
	}
	free := func() {
		if slots != nil {
			<-slots
		}
	}
	quit := s.quitChan()
	for {
		if slots != nil {
			select {
			case slots <- struct{}{}:
			case <-quit:
				return
			}
		}
		ln := s.listener()
		c, err := ln.Accept()
		if err != nil {
			free()
			s.mu.Lock()
			stopping, refused, relisten := s.stopping, s.refused || s.ln != ln, s.relisten
			s.mu.Unlock()
			if refused && !stopping {
				select { // a refuse fault: wait until it is removed
				case <-relisten:
					continue
				case <-quit:
					return
				}
			}
			if stopping || errors.Is(err, net.ErrClosed) {
				return
			}
			// Accept errors such as EMFILE are temporary: report and go on,
			// pausing a little so a persistent one does not spin.
			s.env.Emit(Event{Kind: KindError, Net: s.net, Local: s.info.Addr, Err: Classify(err), Meta: map[string]any{"op": "accept"}})
			time.Sleep(50 * time.Millisecond)
			continue
		}
		t := newTap(lab.sink, s.env.pace, s.env.Session, s.env.ID, s.net, c.LocalAddr().String(), c.RemoteAddr().String(), lab.cfg.CaptureCap)
		conn := newConn(c, t, nil)
		s.faults.attach(conn)
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			openConns.remove(conn)
			c.Close()
			return
		}
		var refusal *SockErr
		var limit any
		var full *sockets
		if s.maxConns > 0 && len(s.conns) >= s.maxConns {
			limit = s.maxConns
			refusal = limitRefusal("this server already has its maximum number of open connections",
				"sockplay accepted the connection and closed it at once: this server holds at most "+strconv.Itoa(s.maxConns)+" connections (-max-conns). Close some first.")
		} else if full = s.env.socks.acquire(); full != nil {
			lab.refusedSocket(s.env.Session, full)
			limit = full.limit()
			refusal = full.refusal("sockplay accepted the connection and closed it at once")
		} else {
			s.conns[conn] = struct{}{}
			s.info.Accepted++
			conn.release = s.env.socks.put
		}
		s.mu.Unlock()
		accept := t.event(KindAccept)
		if refusal == nil && s.OnAccept != nil {
			accept.Meta = s.OnAccept(conn)
		}
		t.emit(accept)
		if refusal == nil {
			conn.fx.start()
		}
		if refusal != nil {
			free()
			ev := t.event(KindError)
			ev.Err = refusal
			ev.Meta = map[string]any{"op": "accept", "limit": limit}
			t.emit(ev)
			conn.SetCloseReason("connection limit reached")
			conn.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer free() // after the close: the next client is accepted once this one is gone
			defer s.forget(conn)
			s.handle(conn)
			conn.Close()
		}()
	}
}

func (s *StreamServer) forget(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Info returns the server's description.
func (s *StreamServer) Info() ServerInfo {
	info := s.serverBase.Info()
	s.mu.Lock()
	info.Conns = len(s.conns)
	s.mu.Unlock()
	return info
}

// stop stops accepting, closes every connection (each emits its close
// event), waits for all goroutines and emits server-stop.
func (s *StreamServer) stop(reason string) {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopping = true
		if s.quit == nil {
			s.quit = make(chan struct{})
		}
		close(s.quit)
		for c := range s.conns {
			c.stop(stopText(reason))
		}
		ln := s.ln
		s.mu.Unlock()
		ln.Close()
		s.wg.Wait()
		s.stopped(reason)
	})
}

// stopText is a connection's close reason when its server stops.
func stopText(reason string) string {
	switch reason {
	case StopShutdown:
		return "sockplay is shutting down"
	case StopSessionGone:
		return "the session was deleted"
	}
	return "server stopped"
}
