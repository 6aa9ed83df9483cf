package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// LabConfig holds the limits and addresses of a Lab.
type LabConfig struct {
	// Host is the address playground servers bind (default 127.0.0.1).
	Host string
	// Ports is the lab port range.
	Ports PortRange
	// Policy decides what clients may dial; nil means the default policy
	// (loopback on the lab range).
	Policy *DialPolicy
	// CaptureCap is how many bytes of each connection are kept (per
	// connection, both directions together); negative means no cap.
	CaptureCap int64
	// MaxServersPerSession, MaxClientsPerSession and MaxConnsPerServer limit
	// what one session may hold open at once (0 = no limit).
	MaxServersPerSession int
	MaxClientsPerSession int
	MaxConnsPerServer    int
	// MaxEventRate is how many events a second one session may emit (0 = no
	// limit). Past it the session's sockets wait: reads and writes slow down,
	// TCP flow control slows the peers, nothing is dropped.
	MaxEventRate int
	// MaxSockets bounds the open sockets of all sessions together:
	// listeners, accepted connections and clients (0 = no limit).
	MaxSockets int
	// DialTimeout bounds a client's connect (default 5s).
	DialTimeout time.Duration
}

// Errors a Lab returns; web maps them to HTTP statuses.
var (
	ErrNotFound    = errors.New("not found")
	ErrLimit       = errors.New("limit reached")
	ErrUnknownKind = errors.New("unknown kind")
	ErrLabClosed   = errors.New("sockplay is shutting down")
)

// ServerSpec is what a visitor asks to start.
type ServerSpec struct {
	Kind    string
	Name    string
	Port    int
	Options json.RawMessage
}

// ClientSpec is what a visitor asks to open.
type ClientSpec struct {
	Kind    string
	Target  string
	Options json.RawMessage
}

// serverKind builds the connection handler of one kind of server from its
// options, and returns the options as they will be shown back (defaults filled).
type serverKind func(opts json.RawMessage) (handle func(*serverConn), shown any, err error)

// serverKinds is the registry of server kinds. Later kinds (udp-echo,
// tcp-proxy, app, http-api, tls-echo) are added here.
var serverKinds = map[string]serverKind{
	"tcp-echo": buildEcho,
}

// clientKinds lists the client kinds.
var clientKinds = []string{"tcp"}

// ServerKinds returns the registered server kinds, sorted.
func ServerKinds() []string { return slices.Sorted(maps.Keys(serverKinds)) }

// ClientKinds returns the client kinds.
func ClientKinds() []string { return slices.Clone(clientKinds) }

func buildEcho(raw json.RawMessage) (func(*serverConn), any, error) {
	var in struct {
		Mode     string  `json:"mode"`
		Prefix   *string `json:"prefix"`
		RecvSize int     `json:"recv_size"`
		Oneshot  bool    `json:"oneshot"`
	}
	if err := decodeOptions(raw, &in); err != nil {
		return nil, nil, err
	}
	o := EchoOptions{Mode: in.Mode, RecvSize: in.RecvSize, Oneshot: in.Oneshot}
	if in.Prefix != nil {
		o.Prefix = *in.Prefix
	}
	if err := o.normalize(in.Prefix != nil); err != nil {
		return nil, nil, err
	}
	return echoHandler(o), o, nil
}

// decodeOptions decodes a kind's options strictly: unknown names are errors.
func decodeOptions(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return optionsError(err)
	}
	return nil
}

// optionsError says what is wrong with a kind's options in the words of the
// JSON that was sent, never Go's type names.
func optionsError(err error) *OptionError {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	msg := err.Error()
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return &OptionError{Option: typeErr.Field, Msg: fmt.Sprintf("option %q: got %s, want %s", typeErr.Field, jsonKindText(typeErr.Value), withArticle(JSONType(typeErr.Type)))}
	case errors.As(err, &typeErr):
		return &OptionError{Msg: fmt.Sprintf(`options: got %s, want an object such as {"mode":"echo"}`, jsonKindText(typeErr.Value))}
	case errors.As(err, &syntaxErr):
		return &OptionError{Msg: fmt.Sprintf("options: invalid JSON at byte %d: %s", syntaxErr.Offset, strings.TrimPrefix(msg, "json: "))}
	}
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return &OptionError{Option: strings.Trim(name, `"`), Msg: "unknown option " + name}
	}
	return &OptionError{Msg: "options: " + strings.TrimPrefix(msg, "json: ")}
}

// jsonKindText names a JSON value kind as encoding/json reports it ("array",
// "number 3", "string"…) with an article.
func jsonKindText(v string) string {
	switch {
	case v == "array" || v == "object":
		return "an " + v
	case v == "":
		return "a value of the wrong type"
	}
	return "a " + v
}

// JSONType names, for people, the JSON type a Go type is decoded from:
// "string", "whole number", "boolean (true or false)"… Error messages about
// request bodies and options use it instead of Go's type names.
func JSONType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole number"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Pointer:
		return JSONType(t.Elem())
	}
	return "object"
}

// withArticle puts "a" or "an" before a type name.
func withArticle(s string) string {
	if strings.IndexByte("aeiou", s[0]) >= 0 {
		return "an " + s
	}
	return "a " + s
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

// Lab owns every running playground server and client, the port pool and the
// dial policy. It is safe for concurrent use.
type Lab struct {
	cfg    LabConfig
	sink   Sink
	log    *slog.Logger
	pool   *PortPool
	policy *DialPolicy

	mu      sync.Mutex
	closed  bool
	servers map[string]*tcpServer // running servers by id
	stopped []ServerInfo          // recently stopped servers, newest last (bounded)
	clients map[string]*TCPClient // clients by id, closed ones too (bounded)
	dialing map[string]int        // clients of each session being dialed now
	pacers  map[string]*pacer     // each session's event rate
	socks   sockets
	gone    map[string]bool // sessions closed by CloseSession (deleted)
	goneAge []string        // gone, oldest first (bounded)

	ops       sync.WaitGroup  // OpenClient and StopServer calls under way (Add under mu, not after closed)
	closing   context.Context // done when Close begins
	stopDials context.CancelFunc
}

// goneKept bounds how many deleted sessions the lab remembers (to refuse a
// start that raced the delete); ids are random, so forgetting old ones only
// matters for a request that arrives long after its session was deleted.
const goneKept = 1 << 16

// closedClientsKept is how many closed clients per session stay listed (so
// that a send on one explains itself instead of answering "not found").
const closedClientsKept = 32

// stoppedServersKept is how many stopped servers (all sessions) stay listed
// by the lab; older ones are listed from the recording.
const stoppedServersKept = 256

// NewLab returns a Lab that emits to sink.
func NewLab(cfg LabConfig, sink Sink, log *slog.Logger) *Lab {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	policy := cfg.Policy
	if policy == nil {
		policy = &DialPolicy{LabPorts: cfg.Ports}
	}
	l := &Lab{cfg: cfg, sink: sink, log: log, pool: NewPortPool(cfg.Host, cfg.Ports), policy: policy,
		servers: map[string]*tcpServer{}, clients: map[string]*TCPClient{}, dialing: map[string]int{}, gone: map[string]bool{},
		pacers: map[string]*pacer{}, socks: sockets{max: int64(cfg.MaxSockets)}}
	l.closing, l.stopDials = context.WithCancel(context.Background())
	return l
}

// usable refuses new servers and clients once the lab is closed or the
// session deleted. Call with l.mu held.
func (l *Lab) usable(session string) error {
	if l.closed {
		return ErrLabClosed
	}
	if l.gone[session] {
		return fmt.Errorf("session %s: %w (it was deleted)", session, ErrNotFound)
	}
	return nil
}

// pacer returns session's event pacer (nil without a rate limit). Call
// with l.mu held.
func (l *Lab) pacer(session string) *pacer {
	if l.cfg.MaxEventRate <= 0 {
		return nil
	}
	p := l.pacers[session]
	if p == nil {
		p = newPacer(l.cfg.MaxEventRate)
		l.pacers[session] = p
	}
	return p
}

// Throttled returns how many times session's sockets waited for its event
// rate limit.
func (l *Lab) Throttled(session string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.pacers[session]; p != nil {
		return p.waits.Load()
	}
	return 0
}

// OpenSockets returns how many sockets the lab holds open now (listeners,
// accepted connections and clients) and its limit (0: none).
func (l *Lab) OpenSockets() (open, max int64) { return l.socks.open.Load(), l.socks.max }

// MaxEventRate returns the lab's event rate limit per session (0: none).
func (l *Lab) MaxEventRate() int { return l.cfg.MaxEventRate }

// Ports returns the lab port range.
func (l *Lab) Ports() PortRange { return l.cfg.Ports }

// StartServer starts a server in session. It binds before returning: the
// returned Addr is the real address (port 0 picks a free lab port).
func (l *Lab) StartServer(session string, spec ServerSpec) (ServerInfo, error) {
	kind, ok := serverKinds[spec.Kind]
	if !ok {
		return ServerInfo{}, &UnknownKindError{What: "server", Kind: spec.Kind, Valid: ServerKinds()}
	}
	handle, shown, err := kind(spec.Options)
	if err != nil {
		return ServerInfo{}, err
	}
	if spec.Port != 0 && !l.cfg.Ports.Contains(spec.Port) {
		return ServerInfo{}, fmt.Errorf("port %d: %w %s (or 0 to pick a free one)", spec.Port, ErrPortOutOfRange, l.cfg.Ports)
	}
	spec.Name = strings.TrimSpace(spec.Name)
	if len(spec.Name) > 100 {
		return ServerInfo{}, &OptionError{Option: "name", Msg: "name is longer than 100 bytes"}
	}
	if i := strings.IndexFunc(spec.Name, unicode.IsControl); i >= 0 || !utf8.ValidString(spec.Name) {
		return ServerInfo{}, &OptionError{Option: "name", Msg: "name must be printable UTF-8 text (no control characters)"}
	}
	// Bind and register under the lock (so the per-session limit holds), but
	// emit after releasing it: Emit may wait for the disk, and listing or
	// stopping servers must not wait with it.
	l.mu.Lock()
	if err := l.usable(session); err != nil {
		l.mu.Unlock()
		return ServerInfo{}, err
	}
	if max := l.cfg.MaxServersPerSession; max > 0 && l.countServers(session) >= max {
		l.mu.Unlock()
		return ServerInfo{}, fmt.Errorf("%w: a session may run at most %d servers at once; stop one first", ErrLimit, max)
	}
	if !l.socks.take() {
		l.mu.Unlock()
		return ServerInfo{}, l.socks.limitError()
	}
	id := newID("srv")
	ln, err := l.pool.Listen(&net.ListenConfig{}, spec.Port)
	if err != nil {
		l.socks.put()
		l.mu.Unlock()
		l.sink.Emit(Event{Session: session, Server: id, At: time.Now(), Kind: KindError,
			Local: net.JoinHostPort(l.cfg.Host, fmt.Sprint(spec.Port)), Err: Classify(err),
			Meta: map[string]any{"op": "listen", "kind": spec.Kind, "port": spec.Port}})
		return ServerInfo{}, fmt.Errorf("start %s: %w", spec.Kind, err)
	}
	addr := ln.Addr().String()
	port := ln.Addr().(*net.TCPAddr).Port
	s := &tcpServer{sink: l.sink, ln: ln, handle: handle, capLimit: l.cfg.CaptureCap,
		maxConns: l.cfg.MaxConnsPerServer, pace: l.pacer(session), socks: &l.socks,
		release: func() { l.pool.Release(port); l.socks.put() },
		conns:   map[*serverConn]struct{}{}, started: make(chan struct{}),
		info: ServerInfo{ID: id, Session: session, Kind: spec.Kind, Name: spec.Name, Addr: addr,
			Options: shown, State: StateRunning, StartedAt: time.Now()}}
	l.servers[id] = s
	l.mu.Unlock()

	l.sink.Emit(Event{Session: session, Server: id, At: s.info.StartedAt, Kind: KindServerStart, Local: addr,
		Meta: map[string]any{"kind": spec.Kind, "name": spec.Name, "options": shown}})
	l.sink.Emit(Event{Session: session, Server: id, At: time.Now(), Kind: KindListen, Local: addr})
	s.wg.Add(1)
	go s.serve()
	close(s.started) // a Close waiting for it now emits server-stop after server-start
	l.log.Info("server started", "session", session, "server", id, "kind", spec.Kind, "addr", addr)
	return s.Info(), nil
}

func (l *Lab) countServers(session string) int {
	n := 0
	for _, s := range l.servers {
		if s.info.Session == session {
			n++
		}
	}
	return n
}

// StopServer stops a running server of session; its connections close first.
func (l *Lab) StopServer(session, id string) (ServerInfo, error) {
	l.mu.Lock()
	s, ok := l.servers[id]
	if !ok || s.info.Session != session {
		l.mu.Unlock()
		return ServerInfo{}, fmt.Errorf("server %s: %w", id, ErrNotFound)
	}
	delete(l.servers, id)
	l.ops.Add(1) // Close waits for the server-stop (the server is no longer listed for it)
	defer l.ops.Done()
	l.mu.Unlock()
	s.Close()
	info := s.Info()
	l.mu.Lock()
	// Listed until the recording surely has it (its server-start may still
	// be in the recorder's queue right after a quick start and stop).
	l.stopped = append(l.stopped, info)
	if len(l.stopped) > stoppedServersKept {
		l.stopped = slices.Delete(l.stopped, 0, len(l.stopped)-stoppedServersKept)
	}
	l.mu.Unlock()
	l.log.Info("server stopped", "session", session, "server", id)
	return info, nil
}

// Servers lists the running and recently stopped servers of session, oldest
// first.
func (l *Lab) Servers(session string) []ServerInfo {
	l.mu.Lock()
	var out []ServerInfo
	for _, s := range l.servers {
		if s.info.Session == session {
			out = append(out, s.Info())
		}
	}
	for _, info := range l.stopped {
		if info.Session == session {
			out = append(out, info)
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.Before(out[j].StartedAt) })
	return out
}

// OpenClient connects a client of session to spec.Target, if the dial policy
// allows it. A failed connect emits an error event and returns the error.
func (l *Lab) OpenClient(ctx context.Context, session string, spec ClientSpec) (ClientInfo, error) {
	if !slices.Contains(clientKinds, spec.Kind) {
		return ClientInfo{}, &UnknownKindError{What: "client", Kind: spec.Kind, Valid: ClientKinds()}
	}
	var opts ClientOptions
	if err := decodeOptions(spec.Options, &opts); err != nil {
		return ClientInfo{}, err
	}
	if opts.RecvSize == 0 {
		opts.RecvSize = MaxRecvSize
	}
	if opts.RecvSize < 1 || opts.RecvSize > MaxRecvSize {
		return ClientInfo{}, &OptionError{Option: "recv_size", Msg: fmt.Sprintf("recv_size %d: want 1 to %d bytes", opts.RecvSize, MaxRecvSize)}
	}
	if err := l.checkTarget(spec.Target); err != nil {
		return ClientInfo{}, err
	}
	// The dial runs without the lock; the slot it will take is reserved
	// under it, so concurrent opens cannot pass the limit together.
	l.mu.Lock()
	if err := l.usable(session); err != nil {
		l.mu.Unlock()
		return ClientInfo{}, err
	}
	if max := l.cfg.MaxClientsPerSession; max > 0 && l.countOpenClients(session)+l.dialing[session] >= max {
		l.mu.Unlock()
		return ClientInfo{}, fmt.Errorf("%w: a session may hold at most %d open clients; close one first", ErrLimit, max)
	}
	if !l.socks.take() {
		l.mu.Unlock()
		return ClientInfo{}, l.socks.limitError()
	}
	l.dialing[session]++
	l.ops.Add(1) // Close waits for this open to finish (and emit)
	defer l.ops.Done()
	pace := l.pacer(session)
	l.mu.Unlock()
	dialed := false
	defer func() {
		if !dialed { // registered below otherwise, under the same lock
			l.mu.Lock()
			l.undial(session)
			l.mu.Unlock()
		}
	}()
	id := newID("cli")
	ctx, cancel := context.WithTimeout(ctx, l.cfg.DialTimeout)
	defer cancel()
	defer context.AfterFunc(l.closing, cancel)() // Close cuts a dial short
	d := l.policy.Dialer()
	d.Timeout = l.cfg.DialTimeout
	c, err := dialTCP(ctx, d, l.sink, pace, l.socks.put, session, id, spec.Target, opts, l.cfg.CaptureCap)
	if err != nil {
		return ClientInfo{}, fmt.Errorf("connect to %s: %w", spec.Target, err)
	}
	l.mu.Lock()
	dialed = true
	l.undial(session)
	if err := l.usable(session); err != nil {
		// Closed or deleted while dialing: the client's close is emitted
		// (and dropped by the recorder for a deleted session).
		l.mu.Unlock()
		c.Close(false)
		return ClientInfo{}, err
	}
	l.clients[id] = c
	l.pruneClosedClients(session)
	l.mu.Unlock()
	return c.Info(), nil
}

// undial releases a dial's reserved slot. Call with l.mu held.
func (l *Lab) undial(session string) {
	if l.dialing[session]--; l.dialing[session] <= 0 {
		delete(l.dialing, session)
	}
}

// checkTarget refuses a target that is not host:port with a port number
// (the dial policy then judges the address itself).
func (l *Lab) checkTarget(target string) error {
	bad := func(why string) error {
		return &OptionError{Option: "target", Msg: fmt.Sprintf("target %q: %s; want host:port, e.g. 127.0.0.1:%d", target, why, l.cfg.Ports.First)}
	}
	if len(target) > 300 {
		return bad("too long")
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return bad("not host:port")
	}
	if host == "" {
		return bad("no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return bad(fmt.Sprintf("port %q is not a number from 1 to 65535", port))
	}
	return nil
}

func (l *Lab) countOpenClients(session string) int {
	n := 0
	for _, c := range l.clients {
		if i := c.Info(); i.Session == session && i.State != StateClosed {
			n++
		}
	}
	return n
}

func (l *Lab) pruneClosedClients(session string) {
	var closed []ClientInfo
	for _, c := range l.clients {
		if i := c.Info(); i.Session == session && i.State == StateClosed {
			closed = append(closed, i)
		}
	}
	if len(closed) <= closedClientsKept {
		return
	}
	sort.Slice(closed, func(i, j int) bool { return closed[i].ClosedAt.Before(closed[j].ClosedAt) })
	for _, i := range closed[:len(closed)-closedClientsKept] {
		delete(l.clients, i.ID)
	}
}

// Client returns a client of session.
func (l *Lab) Client(session, id string) (*TCPClient, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.clients[id]
	if !ok || c.Info().Session != session {
		return nil, fmt.Errorf("client %s: %w", id, ErrNotFound)
	}
	return c, nil
}

// Clients lists the clients of session, oldest first.
func (l *Lab) Clients(session string) []ClientInfo {
	l.mu.Lock()
	var out []ClientInfo
	for _, c := range l.clients {
		if i := c.Info(); i.Session == session {
			out = append(out, i)
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].OpenedAt.Before(out[j].OpenedAt) })
	return out
}

// CloseSession stops every server and client of session (before the session
// is deleted).
func (l *Lab) CloseSession(session string) {
	l.mu.Lock()
	if !l.gone[session] {
		l.gone[session] = true
		l.goneAge = append(l.goneAge, session)
		if len(l.goneAge) > goneKept {
			delete(l.gone, l.goneAge[0])
			l.goneAge = l.goneAge[1:]
		}
	}
	delete(l.pacers, session)
	var servers []*tcpServer
	for id, s := range l.servers {
		if s.info.Session == session {
			servers = append(servers, s)
			delete(l.servers, id)
		}
	}
	var clients []*TCPClient
	for id, c := range l.clients {
		if c.Info().Session == session {
			clients = append(clients, c)
			delete(l.clients, id)
		}
	}
	if !l.closed { // (after Close began, Close closes everything itself)
		l.ops.Add(1) // Close waits for these closes
		defer l.ops.Done()
	}
	l.mu.Unlock()
	closeAll(servers, clients)
}

// Close stops every server and client and refuses new ones. Every close is
// emitted before Close returns.
func (l *Lab) Close() error {
	l.mu.Lock()
	l.closed = true
	l.stopDials()
	servers := slices.Collect(maps.Values(l.servers))
	clients := slices.Collect(maps.Values(l.clients))
	clear(l.servers)
	clear(l.clients)
	l.mu.Unlock()
	closeAll(servers, clients)
	l.ops.Wait() // opens and stops under way have emitted their events
	return nil
}

func closeAll(servers []*tcpServer, clients []*TCPClient) {
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() { s.Close() })
	}
	for _, c := range clients {
		wg.Go(func() { c.Close(false) })
	}
	wg.Wait()
}

// Send writes b on client id of session in one write call.
func (l *Lab) Send(session, id string, b []byte) error {
	c, err := l.Client(session, id)
	if err != nil {
		return err
	}
	return c.Send(b)
}

// CloseClient closes (or half-closes) client id of session.
func (l *Lab) CloseClient(session, id string, half bool) (ClientInfo, error) {
	c, err := l.Client(session, id)
	if err != nil {
		return ClientInfo{}, err
	}
	err = c.Close(half)
	return c.Info(), err
}
