// Package web serves sockplay's pages, its JSON API and the live WebSocket
// stream. It takes its dependencies through the small interfaces below, so
// main wires the real engine and sessions packages and tests can do the same.
package web

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
	"github.com/sockplay/sockplay/web/lessons"
)

// Lab is what web needs of the engine.
type Lab interface {
	StartServer(session string, spec engine.ServerSpec) (engine.ServerInfo, error)
	StopServer(session, id string) (engine.ServerInfo, error)
	Servers(session string) []engine.ServerInfo
	OpenClient(ctx context.Context, session string, spec engine.ClientSpec) (engine.ClientInfo, error)
	Send(session, id string, b []byte) error
	CloseClient(session, id string, half bool) (engine.ClientInfo, error)
	Clients(session string) []engine.ClientInfo
	CloseSession(session string)
	Ports() engine.PortRange
	TutorialPorts() []int
	MaxEventRate() int
	EventBudget() int
	EventRate(session string) int
	Throttled(session string) int64
	OpenSockets() (open, max int64)
	AddFault(session, serverID string, spec engine.FaultSpec) (engine.Fault, error)
	Faults(session, serverID string) ([]engine.Fault, error)
	UpdateFault(session, serverID, name string, patch engine.FaultPatch) (engine.Fault, error)
	RemoveFault(session, serverID, name string) error
	Sockets(session string) []engine.SocketInfo
	Reproduce(ctx context.Context, session, errno string) (engine.Reproduction, error)
	// Quotas (workshop_quota.go).
	SetQuota(session string, q engine.Quota)
	QuotaOf(session string) (engine.Quota, int64)
	SetSessionLog(session string, log *slog.Logger)
	QuotaRefusals() map[string]int64
	QuotaRefusalsOf(session string) map[string]int64
	OpenSocketsByKind() map[string]int64
}

// Store is what web reads of the recording.
type Store interface {
	CreateSession(ctx context.Context, name string) (sessions.Session, error)
	ListSessions(ctx context.Context, before string, limit int) (list []sessions.Session, next string, err error)
	GetSession(ctx context.Context, id string) (sessions.Session, error)
	// LookupSession is GetSession without the progress (Events, LastAt).
	LookupSession(ctx context.Context, id string) (sessions.Session, error)
	Events(ctx context.Context, session string, after, before int64, limit int) ([]sessions.Record, error)
	// RawEvents is Events as stored JSON, not decoded: what the API and the
	// live stream send.
	RawEvents(ctx context.Context, session string, after, before int64, limit int) ([]sessions.RawEvent, error)
	// Scan streams a session's events with seq > after, oldest first (see
	// sessions.Store.Scan): exports read through it.
	Scan(ctx context.Context, session string, after int64, fn func(r *sessions.Record) error) error
	// ScanRaw is Scan without decoding (the jsonl export).
	ScanRaw(ctx context.Context, session string, after int64, fn func(e sessions.RawEvent) error) error
	// Timeline counts a session's events and errors in n time buckets.
	Timeline(ctx context.Context, session string, n int) ([]sessions.Bucket, error)
	// SeqAt is the seq of the first event at or after t (0: none): a seek.
	SeqAt(ctx context.Context, session string, t time.Time) (int64, error)
	RecordedServers(ctx context.Context, session string) (servers, clients []sessions.Endpoint, err error)
	// Share links (sessions/shares.go).
	CreateShare(ctx context.Context, session string) (sessions.Share, error)
	Shares(ctx context.Context, session string) ([]sessions.Share, error)
	RevokeShare(ctx context.Context, session, token string) error
	SharedSession(ctx context.Context, token string) (sessions.Session, error)
}

// Recorder is what web needs of the recorder.
type Recorder interface {
	DeleteSession(ctx context.Context, id string) error
	Flush(ctx context.Context) error
	Stats() sessions.RecorderStats
}

// Hub is the live fan-out.
type Hub interface {
	Subscribe(session string) *sessions.Subscriber
	Unsubscribe(s *sessions.Subscriber)
	CloseSession(session string)
}

// Config holds web's settings.
type Config struct {
	// LabHost is the host playground servers bind, shown in snippets.
	LabHost string
	// MaxBodyBytes bounds a JSON request body (default 1 MiB).
	MaxBodyBytes int64
	// MaxMessageBytes bounds one client send (default 64 KiB).
	MaxMessageBytes int
	// AllowedHosts are extra Host header names accepted besides loopback
	// names and the listen address's host ("*" accepts any).
	AllowedHosts []string
	// ListenAddr is the web server's own address, whose host is allowed.
	ListenAddr string
	// MaxSubscribers bounds live WebSocket subscribers per session.
	MaxSubscribers int
	// LiveWriteTimeout bounds one write to a live viewer (default 15s): a
	// browser that stops reading for that long is disconnected.
	LiveWriteTimeout time.Duration
	// MaxNewSessions is how many sessions one visitor (client IP) may create
	// a minute (0 = no limit).
	MaxNewSessions int
	// BodyTimeout bounds reading a request body (default 30s): a body that
	// trickles in cannot hold a connection open for ever.
	BodyTimeout time.Duration

	// Workshop turns on workshop mode (docs/workshop.md): participants join
	// with a code and reach only their own sessions; the instructor logs in
	// with InstructorPassword.
	Workshop           bool
	InstructorPassword string
	// InstructorTTL is how long an instructor's log-in lasts (default 12h).
	InstructorTTL time.Duration
	// SecureCookies marks cookies Secure even without TLS here (sockplay
	// behind an HTTPS reverse proxy).
	SecureCookies bool
	// JoinsPerMinute bounds attempts to join a workshop per client address
	// (default 30; -1: no limit).
	JoinsPerMinute int
	// TrustedProxies are the reverse proxies whose X-Forwarded-Proto and
	// X-Forwarded-For workshop mode believes (for Secure cookies and for
	// rate-limiting log-ins and joins per participant address).
	TrustedProxies []netip.Prefix
	// ParticipantPorts is the size of each workshop participant's own block
	// of lab ports (default 20; -1: no blocks, they share the range).
	ParticipantPorts int
	// MaxParticipantSessions is how many sessions one participant may have
	// (default 1; -1: no limit).
	MaxParticipantSessions int
	// ParticipantMaxSockets and ParticipantMaxEventRate are each
	// participant's session's quotas: open sockets (default 256) and events
	// a second (default 2000) (-1: no limit; workshop_quota.go).
	ParticipantMaxSockets   int
	ParticipantMaxEventRate int
	// WorkshopRetention is how long the sessions of an ended (or expired)
	// workshop are kept before they are deleted (0: kept).
	WorkshopRetention time.Duration
	// Lessons are the guided lessons offered (nil: the built-in ones).
	Lessons *lessons.Catalog
	// LessonHintAfter is how long a learner is on one step before the
	// lesson panel offers its hint (default 45s).
	LessonHintAfter time.Duration
	// EmbedOrigins are the origins (https://tutorial.example) whose pages
	// may show a session's compact view (?embed=1) in an iframe; none: no
	// page may frame sockplay's (embed.go).
	EmbedOrigins []string
	// Budget is the disk budget and the import's limits (import.go).
	Budget DiskBudget
}

// Deps are the server's dependencies.
type Deps struct {
	Lab      Lab
	Store    Store
	Recorder Recorder
	Hub      Hub
	Log      *slog.Logger
	Config   Config
	// Commits, if set, is what the recorder's OnCommit measures (/metrics).
	Commits *CommitStats
}

// Server is the HTTP handler of sockplay.
type Server struct {
	lab      Lab
	store    Store
	recorder Recorder
	hub      Hub
	log      *slog.Logger
	cfg      Config
	hosts    map[string]bool
	handler  http.Handler

	streams sync.WaitGroup // live WebSocket handlers, waited for at shutdown
	subsMu  sync.Mutex
	subs    map[string]int

	visitors *visitors
	stats    webStats         // counters for /metrics (workshop_quota.go)
	commits  *CommitStats     // nil: no commit histograms
	ws       *workshopState   // workshop mode (workshop.go)
	blocks   *labBlocks       // workshop mode: participants' port blocks (workshop_lab.go)
	lessons  *lessons.Tracker // nil: lessons are off

	streamsCtx    context.Context // cancelled by Wait to cut off streams
	cancelStreams context.CancelFunc
	streamsMu     sync.Mutex
	streamsDone   bool // Wait has begun: no new streams
}

// NewServer builds the handler.
func NewServer(d Deps) *Server {
	if d.Config.MaxBodyBytes <= 0 {
		d.Config.MaxBodyBytes = 1 << 20
	}
	if d.Config.MaxMessageBytes <= 0 {
		d.Config.MaxMessageBytes = 64 << 10
	}
	if d.Config.LiveWriteTimeout <= 0 {
		d.Config.LiveWriteTimeout = defaultLiveWriteTimeout
	}
	if d.Config.MaxSubscribers <= 0 {
		d.Config.MaxSubscribers = 32
	}
	if d.Config.LabHost == "" {
		d.Config.LabHost = "127.0.0.1"
	}
	if d.Config.LessonHintAfter <= 0 {
		d.Config.LessonHintAfter = 45 * time.Second
	}
	if d.Config.BodyTimeout <= 0 {
		d.Config.BodyTimeout = 30 * time.Second
	}
	s := &Server{lab: d.Lab, store: d.Store, recorder: d.Recorder, hub: d.Hub, log: d.Log, cfg: d.Config, commits: d.Commits,
		hosts: allowedHosts(d.Config), subs: map[string]int{}, visitors: newVisitors(d.Config.MaxNewSessions)}
	s.ws = newWorkshopState(d.Store, &s.cfg)
	s.streamsCtx, s.cancelStreams = context.WithCancel(context.Background())
	s.lab = s.ws.attach(s, s.lab) // workshop mode: freeze, faults pushed to everyone, retention
	s.setupPortBlocks(d.Lab)      // workshop mode: participants' own lab ports (workshop_lab.go)
	s.lessons = newLessons(d)
	s.handler = s.routes()
	return s
}

func allowedHosts(cfg Config) map[string]bool {
	h := map[string]bool{"127.0.0.1": true, "localhost": true, "::1": true}
	if host, _, err := net.SplitHostPort(cfg.ListenAddr); err == nil && host != "" && host != "0.0.0.0" && host != "::" {
		h[strings.ToLower(host)] = true
	}
	for _, a := range cfg.AllowedHosts {
		h[strings.ToLower(strings.TrimSpace(a))] = true
	}
	return h
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// addStream counts a new WebSocket stream, unless Wait has begun (a
// WaitGroup must not grow while it is being waited for).
func (s *Server) addStream() bool {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if s.streamsDone {
		return false
	}
	s.streams.Add(1)
	return true
}

// streamsGrace is how long Wait lets WebSocket streams end by themselves.
const streamsGrace = 2 * time.Second

// Wait ends every WebSocket stream, after the hub closed its subscribers at
// shutdown: each gets a going-away close once it has sent what it had. A
// stream still writing after streamsGrace (a browser that stopped reading)
// is cut off. Wait returns when all have ended.
func (s *Server) Wait() {
	s.streamsMu.Lock()
	s.streamsDone = true
	s.streamsMu.Unlock()
	done := make(chan struct{})
	go func() { s.streams.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(streamsGrace):
		s.cancelStreams()
		<-done
	}
	s.cancelStreams()
}

// checkHost refuses requests whose Host is not a name of this instance, so a
// web page on another site cannot reach it through DNS rebinding.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.ToLower(strings.Trim(host, "[]"))
		if !s.hosts["*"] && !s.hosts[host] {
			writeError(w, http.StatusMisdirectedRequest, "this sockplay instance does not answer to the host name "+
				r.Host+"; the operator can allow it with -allowed-hosts")
			return
		}
		next.ServeHTTP(w, r)
	})
}
