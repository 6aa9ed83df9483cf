package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
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
	// TutorialPorts are fixed ports outside the range that the tutorials'
	// programs use (65432, 12345…): a server may be started on one by
	// number, and clients may dial them on loopback. They are never picked
	// for port 0.
	TutorialPorts []int
	// Policy decides what clients may dial; nil means the default policy
	// (loopback on the lab range and the tutorial ports).
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
	// EventBudget is how many events a second all sessions together may
	// emit, shared fairly among them (see budget.go; 0 = no budget).
	EventBudget int
	// MaxSockets bounds the open sockets of all sessions together:
	// listeners, accepted connections and clients (0 = no limit).
	MaxSockets int
	// DialTimeout bounds a client's connect (default 5s).
	DialTimeout time.Duration
	// SocketDir holds the sessions' Unix sockets, <SocketDir>/<session>/<name>.sock
	// (default: sockplay-<uid>/sockets in the temporary directory).
	SocketDir string
}

// DefaultTutorialPorts are the ports socket tutorials hard-code: Real
// Python's echo and app programs use 65432, others 12345, 8000, 8080, 8888,
// 9090 (UDP), 9999 and 5005. The web server's own port is left out.
var DefaultTutorialPorts = []int{65432, 12345, 8000, 8080, 8888, 9090, 9999, 5005}

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
	// Faults are active from the server's first accept: the start is
	// refused (nothing binds) when one of them is wrong.
	Faults []FaultSpec
	// ID and Restore start a recorded server again after a restart, with
	// its id (its events continue its history).
	ID      string
	Restore bool
}

// ClientSpec is what a visitor asks to open.
type ClientSpec struct {
	Kind    string
	Target  string
	Options json.RawMessage
	// Faults act on the client's connection from its connect (tcp, tls and
	// retry clients); a wrong one refuses the open before any dial.
	Faults []FaultSpec
}

// Quota is what one session may hold open at once and the events a second
// it may emit (0 = no limit). A session's quota starts from the lab's
// per-session limits; SetQuota changes it (workshop mode gives each
// participant's session the participant's quota). What a session stores
// is bounded by the recorder (-session-max-events, -session-max-bytes).
type Quota struct {
	Servers int `json:"servers"`
	Clients int `json:"clients"`
	// Sockets bounds the session's open sockets: its servers' listeners,
	// their accepted connections and its clients' sockets together.
	Sockets int `json:"sockets"`
	// EventRate caps the session's events a second on top of its fair
	// share of the event budget (and of LabConfig.MaxEventRate).
	EventRate int `json:"event_rate"`
}

// sessionLab is the lab's state of one session: what runs in it, its event
// pacer and its quota. Every route of the web layer reaches a session's
// servers and clients through it.
type sessionLab struct {
	quota    Quota
	servers  map[string]server
	stopped  []ServerInfo      // recently stopped servers, newest last (bounded)
	clients  map[string]Client // clients, closed ones too (bounded)
	starting int               // servers being started now (bound outside the lock)
	dialing  int               // clients being dialed now
	pace     *pacer            // the session's event rate (nil: no limit)
	socks    sockets           // the session's open sockets (counted in the lab's too)
	log      *slog.Logger      // its lines' logger (SetSessionLog; nil: the lab's)
	logged   time.Time         // when a quota refusal was last logged
	refusals map[string]int64  // what each quota refused in this session (nil: nothing)
	gone     bool              // closed by CloseSession (deleted): nothing new starts
}

// Lab owns every running playground server and client, the port pool and the
// dial policy. It is safe for concurrent use.
type Lab struct {
	cfg    LabConfig
	sink   Sink
	log    *slog.Logger
	pool   *PortPool
	policy *DialPolicy
	socks  sockets
	budget *budget // nil: no event pacing
	quotas quotaCounts

	mu       sync.Mutex
	closed   bool
	sessions map[string]*sessionLab
	ids      map[string]bool // ids of the servers and clients the lab holds: new ones never collide
	goneAge  []string        // sessions marked gone, oldest first (bounded)

	ops       sync.WaitGroup  // opens, starts and stops under way (Add under mu, not after closed)
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

// stoppedServersKept is how many stopped servers per session stay listed by
// the lab; older ones are listed from the recording.
const stoppedServersKept = 32

// NewLab returns a Lab that emits to sink.
func NewLab(cfg LabConfig, sink Sink, log *slog.Logger) *Lab {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.SocketDir == "" {
		cfg.SocketDir = defaultSocketDir()
	}
	policy := cfg.Policy
	if policy == nil {
		policy = &DialPolicy{LabPorts: cfg.Ports, ExtraPorts: cfg.TutorialPorts}
	}
	if policy.blocks == nil {
		policy.blocks = newPortBlocks() // workshop participants' blocks (ports.go)
	}
	if a, err := netip.ParseAddr(cfg.Host); err == nil && !a.IsLoopback() && !policy.LabHost.IsValid() {
		policy.LabHost = a // -lab-host on a LAN address: its lab ports are the lab's own
	}
	l := &Lab{cfg: cfg, sink: sink, log: log, pool: NewPortPool(cfg.Host, cfg.Ports, cfg.TutorialPorts), policy: policy,
		sessions: map[string]*sessionLab{}, ids: map[string]bool{}, socks: sockets{max: int64(cfg.MaxSockets)},
		budget: newBudget(cfg.EventBudget, cfg.MaxEventRate)}
	l.closing, l.stopDials = context.WithCancel(context.Background())
	return l
}

// session returns the state of session id, made on first use. Call with
// l.mu held.
func (l *Lab) session(id string) *sessionLab {
	sl := l.sessions[id]
	if sl == nil {
		sl = &sessionLab{quota: Quota{Servers: l.cfg.MaxServersPerSession, Clients: l.cfg.MaxClientsPerSession},
			servers: map[string]server{}, clients: map[string]Client{}, pace: l.budget.join(0)}
		sl.socks.parent = &l.socks
		l.sessions[id] = sl
	}
	return sl
}

// find returns the state of session id if the lab has any. Call with l.mu held.
func (l *Lab) find(id string) *sessionLab { return l.sessions[id] }

// usable returns the session's state, or refuses new servers and clients
// once the lab is closed or the session deleted. Call with l.mu held.
func (l *Lab) usable(session string) (*sessionLab, error) {
	if l.closed {
		return nil, ErrLabClosed
	}
	sl := l.session(session)
	if sl.gone {
		return nil, fmt.Errorf("session %s: %w (it was deleted)", session, ErrNotFound)
	}
	return sl, nil
}

// newID returns an id with prefix that no server or client of the lab
// holds: 40 random bits, short enough to read aloud in a workshop. Call
// with l.mu held; the id is held until forgotten.
func (l *Lab) newID(prefix string) string {
	for {
		id := randomID(prefix, 5)
		if !l.ids[id] {
			l.ids[id] = true
			return id
		}
	}
}

// Throttled returns how many times session's sockets waited for its event
// rate limit.
func (l *Lab) Throttled(session string) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sl := l.find(session); sl != nil && sl.pace != nil {
		return sl.pace.waits.Load()
	}
	return 0
}

// OpenSockets returns how many sockets the lab holds open now (listeners,
// accepted connections and clients) and its limit (0: none).
func (l *Lab) OpenSockets() (open, max int64) { return l.socks.open.Load(), l.socks.max }

// EventRate returns the events a second session's sockets may emit now:
// its share of the event budget (0: no limit).
func (l *Lab) EventRate(session string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sl := l.find(session); sl != nil {
		return int(sl.pace.rate())
	}
	return 0
}

// EventBudget returns the events a second all sessions together may emit
// (0: no budget).
func (l *Lab) EventBudget() int { return l.cfg.EventBudget }

// MaxEventRate returns the lab's event rate limit per session (0: none).
func (l *Lab) MaxEventRate() int { return l.cfg.MaxEventRate }

// Ports returns the lab port range.
func (l *Lab) Ports() PortRange { return l.cfg.Ports }

// TutorialPorts returns the fixed ports outside the range that servers may
// use by number.
func (l *Lab) TutorialPorts() []int { return slices.Clone(l.cfg.TutorialPorts) }

// checkName checks a server's name: short, printable text.
func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if len(name) > 100 {
		return "", &OptionError{Option: "name", Msg: "name is longer than 100 bytes"}
	}
	if !printable(name) {
		return "", &OptionError{Option: "name", Msg: "name must be printable UTF-8 text (no control or invisible formatting characters)"}
	}
	return name, nil
}

// printable reports whether s is valid UTF-8 without control characters or
// invisible format characters (bidi overrides such as U+202E would let a
// name show as something else).
func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
	}) < 0
}

// Printable reports whether s can be shown as it is: valid UTF-8 without
// control characters or invisible format characters (bidi overrides).
func Printable(s string) bool { return printable(s) }

// StartServer starts a server in session. It binds before returning: the
// returned Addr is the real address (port 0 picks a free lab port).
func (l *Lab) StartServer(session string, spec ServerSpec) (ServerInfo, error) {
	var faults []*faultInst
	kind := serverKinds[spec.Kind]
	if kind == nil {
		err := &UnknownKindError{What: "server", Kind: spec.Kind, Valid: ServerKindNames()}
		if spec.Restore { // a kind this version no longer has
			l.emitStartFailure(session, spec.ID, spec, &ServerKind{Name: spec.Kind}, &OptionError{Option: "kind", Msg: err.Error()})
		}
		return ServerInfo{}, err
	}
	opts, err := l.checkSpec(kind, &spec)
	if err == nil {
		err = l.checkBlockPort(session, spec.Port) // a workshop participant's own ports (ports.go)
	}
	if err == nil {
		faults, err = startFaults(kind, spec.Faults)
	}
	if err != nil {
		if spec.Restore {
			l.emitStartFailure(session, spec.ID, spec, kind, err)
		}
		return ServerInfo{}, err
	}
	// Reserve the server's place under the lock (so the per-session limit
	// holds), bind without it (a kind may resolve a name or make a
	// certificate), and register it under the lock again.
	l.mu.Lock()
	sl, err := l.usable(session)
	if err != nil {
		l.mu.Unlock()
		return ServerInfo{}, err
	}
	if max := sl.quota.Servers; max > 0 && len(sl.servers)+sl.starting >= max {
		l.mu.Unlock()
		l.refused(session, QuotaServers)
		return ServerInfo{}, fmt.Errorf("%w: a session may run at most %d servers at once; stop one first", ErrLimit, max)
	}
	id := spec.ID
	switch {
	case id == "":
		id = l.newID("srv")
	case l.ids[id]:
		l.mu.Unlock()
		return ServerInfo{}, fmt.Errorf("server %s is already running", id)
	default:
		l.ids[id] = true
	}
	if full := sl.socks.acquire(); full != nil {
		delete(l.ids, id)
		l.mu.Unlock()
		l.refusedSocket(session, full)
		return ServerInfo{}, full.limitError()
	}
	sl.starting++
	l.ops.Add(1)
	defer l.ops.Done()
	log := l.log.With("session", session)
	if sl.log != nil {
		log = sl.log
	}
	env := &Env{Session: session, ID: id, Kind: kind.Name, Port: spec.Port, Log: log, lab: l, pace: sl.pace, socks: &sl.socks}
	l.mu.Unlock()

	srv, err := kind.start(env, opts)
	var fs *faultSet
	if err == nil && len(faults) > 0 {
		if f, ok := srv.(faultable); ok {
			fs = f.faultSet()
		} else {
			srv.discard()
			err = faultError("faults", "a %s server cannot take faults", kind.Name)
		}
	}
	l.mu.Lock()
	if err == nil {
		if _, err = l.usable(session); err != nil {
			// Deleted (or shut down) while binding: nothing of it is recorded.
			l.mu.Unlock()
			env.release()
			srv.discard()
			l.mu.Lock()
		}
	}
	if err != nil {
		sl.starting--
		delete(l.ids, id)
		l.mu.Unlock()
		sl.socks.put()
		env.release()
		err = l.portHeld(session, spec.Port, err) // EADDRINUSE: say which server holds the port
		l.emitStartFailure(session, id, spec, kind, err)
		return ServerInfo{}, fmt.Errorf("start %s: %w", spec.Kind, err)
	}
	addr := srv.addr()
	info := ServerInfo{ID: id, Session: session, Kind: kind.Name, Net: kind.Net, Name: spec.Name, Addr: addr,
		Options: opts, State: StateRunning, StartedAt: time.Now(), Restored: spec.Restore}
	srv.setInfo(info)
	l.mu.Unlock()

	meta := map[string]any{"kind": kind.Name, "name": spec.Name, "options": opts, "port": portOf(addr),
		"summary": kind.Summary(opts)}
	if spec.Restore {
		meta["restored"] = true
	}
	if len(faults) > 0 {
		meta["faults"] = describeFaults(faults)
	}
	l.sink.Emit(Event{Session: session, Server: id, At: info.StartedAt, Kind: KindServerStart, Net: kind.Net, Local: addr, Meta: meta})
	for _, f := range faults { // checked before the start: only a duplicate name could fail, and startFaults refused those
		fs.add(f)
	}
	srv.serve()
	// The server is listed only once it serves, so a stop (a deleted
	// session, shutdown) never races its start; one that came meanwhile
	// stops it here.
	l.mu.Lock()
	sl.starting--
	if _, err := l.usable(session); err != nil {
		reason := StopSessionGone
		if l.closed {
			reason = StopShutdown
		}
		delete(l.ids, id)
		l.mu.Unlock()
		srv.stop(reason)
		return ServerInfo{}, err
	}
	sl.servers[id] = srv
	l.mu.Unlock()
	env.Log.Info("server started", "server", id, "kind", kind.Name, "addr", addr, "restored", spec.Restore)
	return srv.Info(), nil
}

// checkSpec checks what a start asks for before anything is bound: the
// options against the kind's schema, the port and the name.
func (l *Lab) checkSpec(kind *ServerKind, spec *ServerSpec) (Options, error) {
	opts, err := decodeOptions(kind.Options, spec.Options)
	if err != nil {
		return nil, err
	}
	if kind.check != nil {
		if err := kind.check(opts); err != nil {
			return nil, err
		}
	}
	if spec.Port != 0 && !l.pool.Allows(spec.Port) {
		return nil, fmt.Errorf("port %d: %w %s%s (or 0 to pick a free one)", spec.Port, ErrPortOutOfRange, l.cfg.Ports, l.tutorialPortsText())
	}
	if spec.Name, err = checkName(spec.Name); err != nil {
		return nil, err
	}
	return opts, nil
}

func (l *Lab) tutorialPortsText() string {
	if len(l.cfg.TutorialPorts) == 0 {
		return ""
	}
	return " or a tutorial port (" + joinInts(l.cfg.TutorialPorts) + ")"
}

// emitStartFailure records why a server did not start: an error event (a
// port that is taken is EADDRINUSE, as a learner's own program would see)
// and, for a server being restored, its server-stop, so the page offers to
// start it again.
func (l *Lab) emitStartFailure(session, id string, spec ServerSpec, kind *ServerKind, err error) {
	var oe *OptionError
	var re *RefusedError
	refused := errors.As(err, &oe) || errors.As(err, &re) || errors.Is(err, ErrPortOutOfRange)
	if refused && !spec.Restore {
		return // a request that was refused: answered, not a socket event
	}
	local := net.JoinHostPort(l.cfg.Host, strconv.Itoa(spec.Port))
	se := Classify(err)
	if refused {
		se = &SockErr{Errno: "ERESTORE", Message: err.Error(),
			Hint: "This server's settings are no longer allowed by this sockplay (its options, port or target changed): start a new one."}
	}
	l.sink.Emit(Event{Session: session, Server: id, At: time.Now(), Kind: KindError, Net: kind.Net, Local: local, Err: se,
		Meta: map[string]any{"op": "listen", "kind": spec.Kind, "port": spec.Port, "restore": spec.Restore}})
	if spec.Restore {
		l.sink.Emit(Event{Session: session, Server: id, At: time.Now(), Kind: KindServerStop, Net: kind.Net, Local: local,
			Meta: map[string]any{"kind": spec.Kind, "reason": StopRestoreFails, "error": se.Errno}})
	}
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

// StopServer stops a running server of session; its connections close first.
func (l *Lab) StopServer(session, id string) (ServerInfo, error) {
	l.mu.Lock()
	sl := l.find(session)
	var s server
	if sl != nil {
		s = sl.servers[id]
	}
	if s == nil {
		l.mu.Unlock()
		return ServerInfo{}, fmt.Errorf("server %s: %w", id, ErrNotFound)
	}
	delete(sl.servers, id)
	l.ops.Add(1) // Close waits for the server-stop (the server is no longer listed for it)
	defer l.ops.Done()
	l.mu.Unlock()
	s.stop(StopByUser)
	info := s.Info()
	l.mu.Lock()
	delete(l.ids, id)
	// Listed until the recording surely has it (its server-start may still
	// be in the recorder's queue right after a quick start and stop).
	sl.stopped = append(sl.stopped, info)
	if len(sl.stopped) > stoppedServersKept {
		sl.stopped = slices.Delete(sl.stopped, 0, len(sl.stopped)-stoppedServersKept)
	}
	l.mu.Unlock()
	l.SessionLog(session).Info("server stopped", "server", id)
	return info, nil
}

// Servers lists the running and recently stopped servers of session, oldest
// first.
func (l *Lab) Servers(session string) []ServerInfo {
	l.mu.Lock()
	var out []ServerInfo
	if sl := l.find(session); sl != nil {
		for _, s := range sl.servers {
			out = append(out, s.Info())
		}
		out = append(out, sl.stopped...)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].StartedAt.Before(out[j].StartedAt) })
	return out
}

// OpenClient connects a client of session to spec.Target, if the dial policy
// allows it. A failed connect emits an error event and returns the error.
func (l *Lab) OpenClient(ctx context.Context, session string, spec ClientSpec) (ClientInfo, error) {
	kind := clientKinds[spec.Kind]
	if kind == nil {
		return ClientInfo{}, &UnknownKindError{What: "client", Kind: spec.Kind, Valid: ClientKindNames()}
	}
	opts, err := decodeOptions(kind.Options, spec.Options)
	if err != nil {
		return ClientInfo{}, err
	}
	if kind.check != nil {
		if err := kind.check(opts); err != nil {
			return ClientInfo{}, err
		}
	}
	if err := l.checkClientTarget(kind, spec.Target); err != nil {
		return ClientInfo{}, err
	}
	faults, err := openFaults(kind, spec.Faults)
	if err != nil {
		return ClientInfo{}, err
	}
	// The dial runs without the lock; the slot it will take is reserved
	// under it, so concurrent opens cannot pass the limit together.
	l.mu.Lock()
	sl, err := l.usable(session)
	if err != nil {
		l.mu.Unlock()
		return ClientInfo{}, err
	}
	if max := sl.quota.Clients; max > 0 && sl.openClients()+sl.dialing >= max {
		l.mu.Unlock()
		l.refused(session, QuotaClients)
		return ClientInfo{}, fmt.Errorf("%w: a session may hold at most %d open clients; close one first", ErrLimit, max)
	}
	if full := sl.socks.acquire(); full != nil {
		l.mu.Unlock()
		l.refusedSocket(session, full)
		return ClientInfo{}, full.limitError()
	}
	sl.dialing++
	l.ops.Add(1) // Close waits for this open to finish (and emit)
	defer l.ops.Done()
	id := l.newID("cli")
	pace := sl.pace
	l.mu.Unlock()
	dialed := false
	defer func() {
		if !dialed { // registered below otherwise, under the same lock
			l.mu.Lock()
			sl.dialing--
			delete(l.ids, id)
			l.mu.Unlock()
		}
	}()
	var cancel context.CancelFunc
	if kind.patient {
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithTimeout(ctx, l.cfg.DialTimeout)
	}
	defer cancel()
	defer context.AfterFunc(l.closing, cancel)() // Close cuts a dial short
	socks := &sl.socks
	env := &clientEnv{lab: l, Session: session, ID: id, Kind: kind.Name, Target: spec.Target, pace: pace, socks: socks,
		release: sync.OnceFunc(socks.put)}
	c, err := kind.start(ctx, env, opts)
	if err != nil {
		env.release() // (a kind gives it back when its socket closes; once)
		return ClientInfo{}, fmt.Errorf("connect to %s: %w", spec.Target, err)
	}
	addOpenFaults(c, faults)
	l.mu.Lock()
	dialed = true
	sl.dialing--
	if _, err := l.usable(session); err != nil {
		// Closed or deleted while dialing: the client's close is emitted
		// (and dropped by the recorder for a deleted session).
		delete(l.ids, id)
		l.mu.Unlock()
		c.Close(false)
		return ClientInfo{}, err
	}
	sl.clients[id] = c
	l.pruneClosedClients(sl)
	l.mu.Unlock()
	return c.Info(), nil
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

// checkTargetAllowed checks target's form, resolves it and judges every
// address with the dial policy, without dialing.
func (l *Lab) checkTargetAllowed(ctx context.Context, session, target string) error {
	if err := l.checkTarget(target); err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(target)
	p, _ := strconv.Atoi(port)
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return err
	}
	for _, ip := range ips {
		if err := l.policy.CheckFrom(session, netip.AddrPortFrom(ip, uint16(p))); err != nil {
			return err
		}
	}
	return nil
}

func (sl *sessionLab) openClients() int {
	n := 0
	for _, c := range sl.clients {
		if c.Info().State != StateClosed {
			n++
		}
	}
	return n
}

// pruneClosedClients forgets the oldest closed clients past
// closedClientsKept. Call with l.mu held.
func (l *Lab) pruneClosedClients(sl *sessionLab) {
	var closed []ClientInfo
	for _, c := range sl.clients {
		if i := c.Info(); i.State == StateClosed {
			closed = append(closed, i)
		}
	}
	if len(closed) <= closedClientsKept {
		return
	}
	sort.Slice(closed, func(i, j int) bool { return closed[i].ClosedAt.Before(closed[j].ClosedAt) })
	for _, i := range closed[:len(closed)-closedClientsKept] {
		delete(sl.clients, i.ID)
		delete(l.ids, i.ID)
	}
}

// Client returns a client of session.
func (l *Lab) Client(session, id string) (Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sl := l.find(session); sl != nil {
		if c := sl.clients[id]; c != nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("client %s: %w", id, ErrNotFound)
}

// Clients lists the clients of session, oldest first.
func (l *Lab) Clients(session string) []ClientInfo {
	l.mu.Lock()
	var out []ClientInfo
	if sl := l.find(session); sl != nil {
		for _, c := range sl.clients {
			out = append(out, c.Info())
		}
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].OpenedAt.Before(out[j].OpenedAt) })
	return out
}

// CloseSession stops every server and client of session (before the session
// is deleted) and refuses new ones.
func (l *Lab) CloseSession(session string) {
	l.SetPortBlock(session, PortBlock{}) // a deleted session's block is free (ports.go)
	l.mu.Lock()
	sl := l.session(session)
	if !sl.gone {
		sl.gone = true
		l.goneAge = append(l.goneAge, session)
		if len(l.goneAge) > goneKept {
			delete(l.sessions, l.goneAge[0])
			l.goneAge = l.goneAge[1:]
		}
	}
	servers := slices.Collect(maps.Values(sl.servers))
	clients := slices.Collect(maps.Values(sl.clients))
	for id := range sl.servers {
		delete(l.ids, id)
	}
	for id := range sl.clients {
		delete(l.ids, id)
	}
	clear(sl.servers)
	clear(sl.clients)
	sl.stopped = nil
	l.budget.leave(sl.pace)
	sl.pace = nil
	if !l.closed { // (after Close began, Close closes everything itself)
		l.ops.Add(1) // Close waits for these closes
		defer l.ops.Done()
	}
	l.mu.Unlock()
	closeAll(servers, clients, StopSessionGone)
	l.removeSocketDirs(session)
}

// Close stops every server and client and refuses new ones. Every close is
// emitted before Close returns. Servers stop with the reason "shutdown":
// the recording remembers to start them again.
func (l *Lab) Close() error {
	l.mu.Lock()
	l.closed = true
	l.stopDials()
	var servers []server
	var clients []Client
	for _, sl := range l.sessions {
		servers = append(servers, slices.Collect(maps.Values(sl.servers))...)
		clients = append(clients, slices.Collect(maps.Values(sl.clients))...)
		clear(sl.servers)
		clear(sl.clients)
	}
	l.mu.Unlock()
	closeAll(servers, clients, StopShutdown)
	l.ops.Wait() // opens, starts and stops under way have emitted their events
	return nil
}

func closeAll(servers []server, clients []Client, reason string) {
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Go(func() { s.stop(reason) })
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

// AddFault adds a fault to a running server of session, or to an open
// client (id "cli-…"); it acts at once on the open connections and on
// every new one.
func (l *Lab) AddFault(session, id string, spec FaultSpec) (Fault, error) {
	srv, err := l.faultServer(session, id)
	if err != nil {
		return Fault{}, err
	}
	fs := srv.faultSet()
	f, err := newFault(spec, srv.faultsUDP(), fs.client)
	if err != nil {
		return Fault{}, err
	}
	if err := fs.add(f); err != nil {
		return Fault{}, err
	}
	return f.describe(), nil
}

// Faults lists the faults of a running server (or a client) of session,
// in the order they were added.
func (l *Lab) Faults(session, id string) ([]Fault, error) {
	srv, err := l.faultServer(session, id)
	if err != nil {
		return nil, err
	}
	return srv.faultSet().describe(), nil
}

// UpdateFault changes a fault's toxicity and attributes, or switches it on
// or off; traffic under way keeps its bytes and their order.
func (l *Lab) UpdateFault(session, id, name string, patch FaultPatch) (Fault, error) {
	srv, err := l.faultServer(session, id)
	if err != nil {
		return Fault{}, err
	}
	return srv.faultSet().update(name, patch)
}

// RemoveFault removes a fault (ErrNotFound when it is not there).
func (l *Lab) RemoveFault(session, id, name string) error {
	srv, err := l.faultServer(session, id)
	if err != nil {
		return err
	}
	return srv.faultSet().remove(name)
}
