package engine

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ServerKind is one kind of playground server: what the page and GET
// /api/kinds show of it (name, description, option schema) and how it
// starts. Adding a kind means adding a value to serverKinds; the web layer
// draws its form and checks its options from the schema.
type ServerKind struct {
	Name        string `json:"name"`
	Title       string `json:"title"`
	Description string `json:"description"`
	// Net is the transport of its sockets: tcp, udp, tls or unix.
	Net string `json:"net"`
	// TutorialPort is the port the tutorials use for this program, which the
	// start form suggests (0: none).
	TutorialPort int          `json:"tutorial_port,omitempty"`
	Options      []OptionSpec `json:"options"`

	// check validates the options together, after each was checked alone
	// against its spec (nil: nothing more to check).
	check func(o Options) error
	// start binds the server's socket through env (before it returns: the
	// address is real) and returns the server, not yet serving.
	start func(env *Env, o Options) (server, error)
	// snippets are the terminal commands and programs that reach a server of
	// this kind on host:port.
	snippets func(host, port string, o Options) []Snippet
}

// Snippet is a command or a program a learner can copy to reach a server
// from their own terminal.
type Snippet struct {
	Name  string `json:"name"`  // "nc", "python"…: for tests and tutorials
	Label string `json:"label"` // what the page shows above it
	Code  string `json:"code"`
}

// server is a running server of any kind.
type server interface {
	Info() ServerInfo
	// setInfo gives the server its description once it is bound.
	setInfo(ServerInfo)
	// addr is the address it is bound to.
	addr() string
	// discard closes a server that was bound but never served (its session
	// was deleted meanwhile): nothing of it is recorded.
	discard()
	// serve begins serving; the lab calls it once server-start is emitted, so
	// that the server's own events follow it in the recording.
	serve()
	// stop stops the server (idempotently), waits for every goroutine it
	// started and emits server-stop with the reason.
	stop(reason string)
}

// Reasons a server stops, in its server-stop event's meta. A server stopped
// by "shutdown" (or never stopped: a crash) is started again when sockplay
// starts again.
const (
	StopByUser       = "stopped"
	StopShutdown     = "shutdown"
	StopSessionGone  = "session deleted"
	StopRestoreFails = "could not start again"
)

// serverKinds is the registry of server kinds.
var serverKinds = map[string]*ServerKind{
	"tcp-echo":  echoKind,
	"tls-echo":  tlsEchoKind,
	"http-api":  httpAPIKind,
	"tcp-proxy": proxyKind,
	"udp-echo":  udpEchoKind,
	"app":       appKind,
	"unix-echo": unixEchoKind,
}

// ServerKinds returns the registered server kinds, sorted by name.
func ServerKinds() []*ServerKind {
	out := slices.Collect(maps.Values(serverKinds))
	slices.SortFunc(out, func(a, b *ServerKind) int {
		// tcp-echo first: it is where every tutorial starts.
		if a.Name == "tcp-echo" || b.Name == "tcp-echo" {
			return boolCmp(b.Name == "tcp-echo", a.Name == "tcp-echo")
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// ServerKindNames returns the names of the server kinds.
func ServerKindNames() []string {
	var out []string
	for _, k := range ServerKinds() {
		out = append(out, k.Name)
	}
	return out
}

// LookupServerKind returns the kind called name, or nil.
func LookupServerKind(name string) *ServerKind { return serverKinds[name] }

// SnippetsFor returns the snippets that reach a server of this kind bound
// to addr (a server bound to all interfaces is reached on 127.0.0.1).
func (k *ServerKind) SnippetsFor(addr string, o Options) []Snippet {
	if k.Net == NetUnix && k.snippets != nil { // the address is the socket's path
		return k.snippets(addr, "", o)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || k.snippets == nil {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return k.snippets(host, port, o)
}

// Summary writes a server's options for people (see Summary).
func (k *ServerKind) Summary(opts map[string]any) string { return Summary(k.Options, opts) }

// Env is what the engine provides to a kind's start function: the port pool,
// the dial policy, event taps for the server's own sockets and the logger.
type Env struct {
	// Session and ID are the server's session and id; Kind its kind.
	Session, ID, Kind string
	// Port is the port asked for (0: pick a free lab port).
	Port int
	Log  *slog.Logger

	lab   *Lab
	pace  *pacer
	socks *sockets // the session's count of open sockets
	ports []int    // ports claimed from the pool, released by release
}

// Host is the address the lab's servers bind.
func (e *Env) Host() string { return e.lab.cfg.Host }

// Listen binds a TCP listener on the port asked for (or a free lab port)
// on host ("" : the lab host), with lc's options.
func (e *Env) Listen(lc *net.ListenConfig, host string) (net.Listener, error) {
	return bindPort(e, host, func(addr string) (net.Listener, error) {
		return lc.Listen(context.Background(), "tcp", addr)
	})
}

// ListenPacket binds a UDP socket like Listen.
func (e *Env) ListenPacket(lc *net.ListenConfig, host string) (net.PacketConn, error) {
	return bindPort(e, host, func(addr string) (net.PacketConn, error) {
		return lc.ListenPacket(context.Background(), "udp", addr)
	})
}

// Bind binds a socket of the kind's own making (a listener built from a raw
// socket, with a listen(2) backlog of its choice) on the port asked for or a
// free one: bind receives host:port.
func Bind[T interface{ Close() error }](e *Env, host string, bind func(addr string) (T, error)) (T, error) {
	return bindPort(e, host, bind)
}

func bindPort[T interface{ Close() error }](e *Env, host string, bind func(addr string) (T, error)) (T, error) {
	if host == "" {
		host = e.lab.cfg.Host
	}
	t, port, err := poolBind(e.lab.pool, e.lab.blockRange(e.Session), e.lab.inOtherBlock(e.Session), e.Port, func(port int) (T, error) {
		return bind(net.JoinHostPort(host, strconv.Itoa(port)))
	})
	if err == nil {
		e.ports = append(e.ports, port)
	}
	return t, err
}

// release gives back the ports the server claimed.
func (e *Env) release() {
	for _, p := range e.ports {
		e.lab.pool.Release(p)
	}
	e.ports = nil
}

// Dialer returns a dialer that enforces the lab's dial policy on the
// resolved address, with the lab's connect timeout.
func (e *Env) Dialer() *net.Dialer {
	d := e.lab.policy.dialerFor(e.Session)
	d.Timeout = e.lab.cfg.DialTimeout
	return d
}

// CheckTarget resolves host:port and checks every address against the dial
// policy without dialing, so a server whose target can never be dialed is
// refused when it starts.
func (e *Env) CheckTarget(ctx context.Context, target string) error {
	return e.lab.checkTargetAllowed(ctx, e.Session, target)
}

// NewConn wraps a socket the server opened itself (a proxy's upstream leg)
// in a tapped Conn owned by the server. It takes a place in the lab's count
// of open sockets, or returns nil at the limit. With leg set, the new Conn
// shares leg's capture budget: a proxy's two legs carry the same bytes, so
// they are one connection's worth of capture, not two.
func (e *Env) NewConn(c net.Conn, network string, leg *Conn) *Conn {
	conn, _ := e.newConn(c, network, leg)
	return conn
}

// newConn is NewConn that says which limit refused the socket.
func (e *Env) newConn(c net.Conn, network string, leg *Conn) (*Conn, *sockets) {
	if full := e.socks.acquire(); full != nil {
		e.lab.refusedSocket(e.Session, full)
		return nil, full
	}
	t := newTap(e.lab.sink, e.pace, e.Session, e.ID, network, c.LocalAddr().String(), c.RemoteAddr().String(), e.lab.cfg.CaptureCap)
	if leg != nil {
		t.captured = leg.tap.captured
	}
	return newConn(c, t, e.socks.put), nil
}

// Tap returns an event tap for a socket of the server that is not a Conn
// (a UDP socket, a flow of datagrams from one peer).
func (e *Env) Tap(network, local, remote string) *tap {
	return newTap(e.lab.sink, e.pace, e.Session, e.ID, network, local, remote, e.lab.cfg.CaptureCap)
}

// Emit emits a server-level event (not about one connection).
func (e *Env) Emit(ev Event) {
	ev.Session, ev.Server = e.Session, e.ID
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	e.lab.sink.Emit(ev)
}

// Stream returns a stream server that accepts on ln and runs handle for
// every connection in its own goroutine. The handler reads and writes
// through the Conn (each call an event); when it returns the connection is
// closed (by this side, unless it already ended).
func (e *Env) Stream(ln net.Listener, network string, handle func(*Conn)) *StreamServer {
	return &StreamServer{serverBase: serverBase{env: e}, ln: ln, net: network, handle: handle,
		maxConns: e.lab.cfg.MaxConnsPerServer, conns: map[*Conn]struct{}{}}
}

// UnknownKindError reports an unknown server or client kind, listing the valid ones.
type UnknownKindError struct {
	What  string // "server" or "client"
	Kind  string
	Valid []string
}

func (e *UnknownKindError) Error() string {
	return fmt.Sprintf("unknown %s kind %q; valid kinds: %s", e.What, e.Kind, strings.Join(e.Valid, ", "))
}

// Unwrap returns ErrUnknownKind.
func (e *UnknownKindError) Unwrap() error { return ErrUnknownKind }
