// Command sockplay serves a web-based socket playground: visitors start real
// TCP servers and clients inside this process, talk to them from the browser
// or their own terminal, and watch every socket event and byte live, recorded
// in SQLite.
//
// Run it with `go run .` and open http://127.0.0.1:8080; `-h` lists every
// setting and its SOCKPLAY_* environment variable.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
	"github.com/sockplay/sockplay/web"
	"github.com/sockplay/sockplay/web/lessons"
)

// workshopSessionsInBudget is how many sessions' recordings at their cap
// the database budget holds in workshop mode (the room of 200 the issue
// sizes it for).
const workshopSessionsInBudget = 200

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "sockplay:", err)
		os.Exit(1)
	}
}

// config is every setting; each has a flag and a SOCKPLAY_* variable.
type config struct {
	Addr           string
	DB             string
	LabHost        string
	LabPorts       engine.PortRange
	TutorialPorts  []int
	CaptureCap     int64
	MaxServers     int
	MaxClients     int
	MaxConns       int
	MaxEventRate   int
	EventBudget    int
	MaxSockets     int
	MaxNewSessions int
	BodyTimeout    time.Duration
	MaxBody        int64
	MaxMessage     int
	MaxSubscribers int
	LiveBuffer     int
	Queue          int
	DialAllow      []string
	AllowedHosts   []string
	HeaderTimeout  time.Duration
	IdleTimeout    time.Duration
	ShutdownWait   time.Duration
	LogLevel       slog.Level

	// Workshop mode (docs/workshop.md).
	Workshop               bool
	InstructorPassword     string // only from $SOCKPLAY_INSTRUCTOR_PASSWORD: a flag would show in ps
	InstructorTTL          time.Duration
	SecureCookies          bool
	MaxJoins               int
	MaxParticipantSessions int
	ParticipantPorts       int
	ParticipantMaxSockets  int
	ParticipantMaxRate     int
	WorkshopRetention      time.Duration
	MetricsAddr            string
	TrustedProxies         []netip.Prefix
	Lessons                string
	SocketDir              string
	EmbedOrigins           []string

	// The disk budget (docs/disk-budget.md).
	SessionMaxEvents int64
	SessionMaxBytes  int64
	MaxDBBytes       int64
	MaxAge           time.Duration
	RetentionEvery   time.Duration
	MaxImportBytes   int64
}

// parseConfig reads flags, falling back to SOCKPLAY_* variables, then to the
// defaults. A flag given on the command line wins over the variable.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (config, error) {
	fs := flag.NewFlagSet("sockplay", flag.ContinueOnError)
	fs.SetOutput(out)
	var errs []error
	str := func(name, env, def, usage string) *string {
		if v := getenv(env); v != "" {
			def = v
		}
		return fs.String(name, def, usage+" ($"+env+")")
	}
	num := func(name, env string, def int64, usage string) *int64 {
		if v := getenv(env); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("$%s=%q: want a whole number", env, v))
			}
			def = n
		}
		return fs.Int64(name, def, usage+" ($"+env+")")
	}
	dur := func(name, env string, def time.Duration, usage string) *time.Duration {
		if v := getenv(env); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("$%s=%q: want a duration such as 10s", env, v))
			}
			def = d
		}
		return fs.Duration(name, def, usage+" ($"+env+")")
	}
	boolean := func(name, env string, usage string) *bool {
		def := false
		if v := getenv(env); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("$%s=%q: want true or false", env, v))
			}
			def = b
		}
		return fs.Bool(name, def, usage+" ($"+env+")")
	}
	addr := str("addr", "SOCKPLAY_ADDR", "127.0.0.1:8080", "web server address; keep it on loopback unless you mean to share the instance")
	db := str("db", "SOCKPLAY_DB", "sockplay.db", "SQLite database file")
	labHost := str("lab-host", "SOCKPLAY_LAB_HOST", "127.0.0.1", "address playground servers bind")
	labPorts := str("lab-ports", "SOCKPLAY_LAB_PORTS", "20000-20999", "port range for playground servers (and the default dial allow-list)")
	tutorialPorts := str("tutorial-ports", "SOCKPLAY_TUTORIAL_PORTS", "65432,12345,8000,8080,8888,9090,9999,5005",
		"fixed ports the tutorials' programs use, allowed for servers by number and for clients besides the lab range; the web server's own port is left out (\"none\": no extra ports)")
	capture := num("capture-cap", "SOCKPLAY_CAPTURE_CAP", 1<<20, "bytes captured per connection; later events keep their lengths and say truncated (-1: no cap)")
	maxServers := num("max-servers", "SOCKPLAY_MAX_SERVERS", 20, "servers running at once per session")
	maxClients := num("max-clients", "SOCKPLAY_MAX_CLIENTS", 50, "open clients per session")
	maxConns := num("max-conns", "SOCKPLAY_MAX_CONNS", 200, "open connections per server")
	maxEventRate := num("max-event-rate", "SOCKPLAY_MAX_EVENT_RATE", 0, "hard cap on events a second per session, on top of its fair share of -event-budget; past it the session's sockets slow down, nothing is dropped (0: no cap)")
	eventBudget := num("event-budget", "SOCKPLAY_EVENT_BUDGET", 200000, "events a second all sessions together may record, shared fairly among the sessions that want them: one alone gets it all; past its share a session's sockets slow down, nothing is dropped (0: no budget)")
	maxSockets := num("max-sockets", "SOCKPLAY_MAX_SOCKETS", 4096, "open sockets of all sessions together: listeners, accepted connections, clients (0: no limit)")
	maxNewSessions := num("max-new-sessions", "SOCKPLAY_MAX_NEW_SESSIONS", 30, "sessions one visitor (client IP) may create a minute (0: no limit)")
	maxBody := num("max-body", "SOCKPLAY_MAX_BODY", 1<<20, "bytes in one API request body")
	maxMessage := num("max-message", "SOCKPLAY_MAX_MESSAGE", 64<<10, "bytes in one client send")
	maxSubs := num("max-subscribers", "SOCKPLAY_MAX_SUBSCRIBERS", 32, "live WebSocket viewers per session")
	liveBuffer := num("live-buffer", "SOCKPLAY_LIVE_BUFFER", 4096, "events buffered per live viewer before it gets a gap notice")
	queue := num("queue", "SOCKPLAY_QUEUE", 16384, "events waiting for the database before sockets wait (backpressure)")
	dialAllow := str("dial-allow", "SOCKPLAY_DIAL_ALLOW", "", "extra targets clients may dial: comma-separated CIDRs, IPs or IP:PORTs")
	hosts := str("allowed-hosts", "SOCKPLAY_ALLOWED_HOSTS", "", "extra Host names the web server answers to, comma-separated (* for any)")
	headerTimeout := dur("header-timeout", "SOCKPLAY_HEADER_TIMEOUT", 10*time.Second, "time to read a request's headers")
	idle := dur("idle-timeout", "SOCKPLAY_IDLE_TIMEOUT", 2*time.Minute, "time an idle keep-alive HTTP connection stays open (live WebSocket streams are not idle connections)")
	bodyTimeout := dur("body-timeout", "SOCKPLAY_BODY_TIMEOUT", 30*time.Second, "time to read a request's body")
	shutdownWait := dur("shutdown-wait", "SOCKPLAY_SHUTDOWN_WAIT", 10*time.Second, "time given to HTTP requests to finish at shutdown")
	workshop := boolean("workshop", "SOCKPLAY_WORKSHOP", "workshop mode: participants join with a code and see only their own sessions; the instructor logs in at /instructor with $SOCKPLAY_INSTRUCTOR_PASSWORD (generated and printed at start when unset)")
	instructorTTL := dur("instructor-ttl", "SOCKPLAY_INSTRUCTOR_TTL", 12*time.Hour, "how long an instructor's log-in lasts (workshop mode)")
	secureCookies := boolean("secure-cookies", "SOCKPLAY_SECURE_COOKIES", "mark cookies Secure even over plain HTTP here: sockplay is behind an HTTPS reverse proxy (over TLS they always are)")
	maxJoins := num("max-joins", "SOCKPLAY_MAX_JOINS", 30, "attempts to join a workshop one client address may make a minute (0: no limit)")
	trustedProxies := str("trusted-proxies", "SOCKPLAY_TRUSTED_PROXIES", "", "reverse proxies (comma-separated IPs or CIDRs) whose X-Forwarded-Proto and X-Forwarded-For workshop mode believes: for Secure cookies and per-address log-in and join limits")
	metricsAddr := str("metrics-addr", "SOCKPLAY_METRICS_ADDR", "", "address for /metrics in the Prometheus text format, such as 127.0.0.1:9090 (off when empty); keep it off the participants' network")
	workshopRetention := dur("workshop-retention", "SOCKPLAY_WORKSHOP_RETENTION", 7*24*time.Hour, "how long the sessions of an ended (or expired) workshop are kept, read-only and exportable, before they are deleted (0: kept)")
	participantPorts := num("participant-ports", "SOCKPLAY_PARTICIPANT_PORTS", 20, "workshop mode: each participant's session gets a block of this many lab ports of its own (its servers listen only there, other participants' clients are kept out unless the instructor opens the lab); 0: no blocks, participants share the lab range")
	maxParticipantSessions := num("max-participant-sessions", "SOCKPLAY_MAX_PARTICIPANT_SESSIONS", 1, "sessions one workshop participant may have; the per-session limits (-max-servers, -max-clients) then bound each participant (0: no limit)")
	participantSockets := num("participant-max-sockets", "SOCKPLAY_PARTICIPANT_MAX_SOCKETS", 256, "open sockets one workshop participant's session may hold: its listeners, their connections and its clients together (0: no limit)")
	participantRate := num("participant-max-event-rate", "SOCKPLAY_PARTICIPANT_MAX_EVENT_RATE", 2000, "events a second one workshop participant's session may emit, on top of its fair share of -event-budget; past it its sockets slow down, nothing is dropped (0: no cap)")
	logLevel := str("log-level", "SOCKPLAY_LOG_LEVEL", "info", "debug, info, warn or error")
	socketDir := str("socket-dir", "SOCKPLAY_SOCKET_DIR", "", "directory of the unix-echo servers' sockets, one 0700 subdirectory per session (default: sockets/ beside the -db file; a path too long for a Unix socket falls back to /tmp/sockplay-UID)")
	lessonsDir := str("lessons", "SOCKPLAY_LESSONS", "", "directory of extra lesson scenarios (*.md), offered besides the built-in ones")
	embedOrigins := str("embed-origins", "SOCKPLAY_EMBED_ORIGINS", "", "origins whose pages may show a session's compact view (/s/ID?embed=1) in an iframe, comma-separated (https://tutorial.example); none: no page may frame sockplay's")
	sessionMaxEvents := num("session-max-events", "SOCKPLAY_SESSION_MAX_EVENTS", 1_000_000, "events one session records; past it one loss event says so and later events are not kept, the sockets go on (0: no cap)")
	sessionMaxBytes := num("session-max-bytes", "SOCKPLAY_SESSION_MAX_BYTES", 128<<20, "bytes one session's recording may take in the database; past it one loss event says so and later events are not kept (0: no cap; in workshop mode the default is -max-db-bytes/200, 5 MiB)")
	maxDBBytes := num("max-db-bytes", "SOCKPLAY_MAX_DB_BYTES", 1<<30, "bytes the whole database may hold; past it the sessions active longest ago are deleted first, never one with a running server or client, and the file shrinks (0: no limit)")
	maxAge := dur("max-age", "SOCKPLAY_MAX_AGE", 30*24*time.Hour, "sessions with no activity for longer are deleted (unless a server or client of theirs runs) (0: kept for ever)")
	retentionEvery := dur("retention-every", "SOCKPLAY_RETENTION_EVERY", time.Minute, "how often the database's budget and age are checked")
	maxImportBytes := num("max-import-bytes", "SOCKPLAY_MAX_IMPORT_BYTES", 64<<20, "bytes of an export.jsonl one import may send (413 past it)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	given := map[string]bool{} // the flags set on the command line
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q; settings are flags (-h lists them)", fs.Arg(0))
	}
	if len(errs) > 0 {
		return config{}, errors.Join(errs...)
	}
	c := config{Addr: *addr, DB: *db, LabHost: *labHost, CaptureCap: *capture,
		MaxServers: int(*maxServers), MaxClients: int(*maxClients), MaxConns: int(*maxConns),
		MaxEventRate: int(*maxEventRate), EventBudget: int(*eventBudget), MaxSockets: int(*maxSockets), MaxNewSessions: int(*maxNewSessions), BodyTimeout: *bodyTimeout,
		MaxBody: *maxBody, MaxMessage: int(*maxMessage), MaxSubscribers: int(*maxSubs),
		LiveBuffer: int(*liveBuffer), Queue: int(*queue), DialAllow: splitList(*dialAllow),
		AllowedHosts: splitList(*hosts), HeaderTimeout: *headerTimeout, IdleTimeout: *idle, ShutdownWait: *shutdownWait,
		Workshop: *workshop, InstructorPassword: getenv("SOCKPLAY_INSTRUCTOR_PASSWORD"), InstructorTTL: *instructorTTL,
		SecureCookies: *secureCookies, MaxJoins: int(*maxJoins), MaxParticipantSessions: int(*maxParticipantSessions), ParticipantPorts: int(*participantPorts),
		ParticipantMaxSockets: int(*participantSockets), ParticipantMaxRate: int(*participantRate),
		WorkshopRetention: *workshopRetention, MetricsAddr: *metricsAddr, Lessons: *lessonsDir, SocketDir: *socketDir,
		SessionMaxEvents: *sessionMaxEvents, SessionMaxBytes: *sessionMaxBytes, MaxDBBytes: *maxDBBytes, MaxAge: *maxAge,
		RetentionEvery: *retentionEvery, MaxImportBytes: *maxImportBytes}
	// A room shares one database: in workshop mode each session's recording
	// cap is, unless set, a 200th of the database's budget (5 MiB of the
	// default 1 GiB), so 200 participants recording all they may still fit.
	if c.Workshop && !given["session-max-bytes"] && getenv("SOCKPLAY_SESSION_MAX_BYTES") == "" && c.MaxDBBytes > 0 {
		c.SessionMaxBytes = min(c.SessionMaxBytes, max(c.MaxDBBytes/workshopSessionsInBudget, 1<<20))
	}
	var err error
	if c.LabPorts, err = engine.ParsePortRange(*labPorts); err != nil {
		return config{}, fmt.Errorf("-lab-ports: %w", err)
	}
	if c.TutorialPorts, err = parsePorts(*tutorialPorts); err != nil {
		return config{}, fmt.Errorf("-tutorial-ports: %w", err)
	}
	if err := c.LogLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return config{}, fmt.Errorf("-log-level %q: want debug, info, warn or error", *logLevel)
	}
	for name, v := range map[string]int64{"max-body": c.MaxBody, "max-message": int64(c.MaxMessage),
		"live-buffer": int64(c.LiveBuffer), "queue": int64(c.Queue), "max-subscribers": int64(c.MaxSubscribers)} {
		if v <= 0 {
			return config{}, fmt.Errorf("-%s must be positive", name)
		}
	}
	for name, v := range map[string]int64{"max-event-rate": int64(c.MaxEventRate), "event-budget": int64(c.EventBudget), "max-sockets": int64(c.MaxSockets),
		"max-new-sessions": int64(c.MaxNewSessions), "max-servers": int64(c.MaxServers), "max-clients": int64(c.MaxClients),
		"max-conns": int64(c.MaxConns), "max-joins": int64(c.MaxJoins), "max-participant-sessions": int64(c.MaxParticipantSessions), "participant-ports": int64(c.ParticipantPorts),
		"participant-max-sockets": int64(c.ParticipantMaxSockets), "participant-max-event-rate": int64(c.ParticipantMaxRate),
		"session-max-events": c.SessionMaxEvents, "session-max-bytes": c.SessionMaxBytes, "max-db-bytes": c.MaxDBBytes, "max-age": int64(c.MaxAge)} {
		if v < 0 {
			return config{}, fmt.Errorf("-%s must be 0 (no limit) or more", name)
		}
	}
	for _, p := range splitList(*trustedProxies) {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			a, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return config{}, fmt.Errorf("-trusted-proxies: %q is not an IP address or CIDR such as 10.0.0.0/8", p)
			}
			pfx = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, pfx.Masked())
	}
	if c.EmbedOrigins, err = web.ParseEmbedOrigins(*embedOrigins); err != nil {
		return config{}, fmt.Errorf("-embed-origins: %w", err)
	}
	if c.RetentionEvery <= 0 || c.MaxImportBytes <= 0 {
		return config{}, errors.New("-retention-every and -max-import-bytes must be positive")
	}
	if c.InstructorTTL <= 0 {
		return config{}, errors.New("-instructor-ttl must be positive")
	}
	if c.BodyTimeout <= 0 || c.HeaderTimeout <= 0 || c.IdleTimeout <= 0 {
		return config{}, errors.New("-header-timeout, -body-timeout and -idle-timeout must be positive")
	}
	return c, nil
}

// parsePorts reads a comma-separated list of ports ("none" or "": none).
func parsePorts(s string) ([]int, error) {
	if strings.TrimSpace(s) == "none" {
		return nil, nil
	}
	var out []int
	for _, part := range splitList(s) {
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q is not a port number from 1 to 65535", part)
		}
		out = append(out, n)
	}
	return out, nil
}

// withoutPort returns ports without the web server's own port: a tutorial
// port that sockplay itself listens on cannot serve a lab server.
func withoutPort(ports []int, addr string) []int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ports
	}
	own, _ := strconv.Atoi(p)
	return slices.DeleteFunc(slices.Clone(ports), func(n int) bool { return n == own })
}

// restoreServers starts again the servers that ran when sockplay last
// stopped (or crashed), with their ids and on their ports, so a learner's
// nc and Python commands keep working across a restart. One whose port is
// now taken is recorded as an error and a stop; the page offers to start it
// again.
func restoreServers(ctx context.Context, store *sessions.Store, lab *engine.Lab, log *slog.Logger) {
	list, err := store.ServersToRestore(ctx)
	if err != nil {
		log.Error("cannot list the servers to start again", "err", err)
		return
	}
	started := 0
	for _, r := range list {
		spec := engine.ServerSpec{Kind: r.Kind, Name: r.Name, Port: r.Port, Options: r.Options, ID: r.ID, Restore: true,
			Faults: engine.FaultSpecs(r.Faults)}
		_, err := lab.StartServer(r.Session, spec)
		var bad *engine.OptionError
		if err != nil && len(spec.Faults) > 0 && errors.As(err, &bad) {
			// A fault this version refuses must not keep the server down:
			// it comes back without its faults, and the log says why.
			log.Warn("server started again without its faults", "session", r.Session, "server", r.ID, "err", err)
			spec.Faults = nil
			_, err = lab.StartServer(r.Session, spec)
		}
		if err != nil {
			log.Warn("server not started again", "session", r.Session, "server", r.ID, "port", r.Port, "err", err)
			continue
		}
		started++
	}
	if len(list) > 0 {
		log.Info("servers started again after the restart", "started", started, "of", len(list))
	}
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// run is main without the process: it parses the settings, listens and
// serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	return serve(ctx, cfg, ln, log)
}

// serve runs sockplay on ln until ctx ends. Shutdown follows docs/architecture.md:
// stop accepting HTTP, close live WebSocket streams (going away), close the
// engine's servers and clients (their close events are emitted), drain the
// recorder, close the database. Nothing emitted is dropped.
func serve(ctx context.Context, cfg config, ln net.Listener, log *slog.Logger) error {
	tutorial := withoutPort(cfg.TutorialPorts, ln.Addr().String())
	if cfg.Workshop && cfg.ParticipantPorts > 0 {
		tutorial = nil // one tutorial port cannot serve a room: each participant has their own block
	}
	policy := &engine.DialPolicy{LabPorts: cfg.LabPorts, ExtraPorts: tutorial}
	for _, a := range cfg.DialAllow {
		if err := policy.ParseAllow(a); err != nil {
			ln.Close()
			return fmt.Errorf("-dial-allow: %w", err)
		}
	}
	var metricsLn net.Listener // -metrics-addr: /metrics on an address of its own
	if cfg.MetricsAddr != "" {
		var err error
		if metricsLn, err = net.Listen("tcp", cfg.MetricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("-metrics-addr: %w", err)
		}
	}
	store, err := sessions.Open(ctx, cfg.DB, log)
	if err != nil {
		ln.Close()
		if metricsLn != nil {
			metricsLn.Close()
		}
		return err
	}
	hub := sessions.NewHub(cfg.LiveBuffer)
	commits := web.NewCommitStats()
	rec := sessions.NewRecorder(store, hub, sessions.RecorderConfig{QueueSize: cfg.Queue,
		MaxSessionEvents: cfg.SessionMaxEvents, MaxSessionBytes: cfg.SessionMaxBytes, OnCommit: commits.Observe}, log)
	lab := engine.NewLab(engine.LabConfig{Host: cfg.LabHost, Ports: cfg.LabPorts, TutorialPorts: tutorial, Policy: policy,
		CaptureCap: cfg.CaptureCap, MaxServersPerSession: cfg.MaxServers,
		MaxClientsPerSession: cfg.MaxClients, MaxConnsPerServer: cfg.MaxConns,
		MaxEventRate: cfg.MaxEventRate, EventBudget: cfg.EventBudget, MaxSockets: cfg.MaxSockets, SocketDir: socketDirOf(cfg)}, rec, log)
	if cfg.Workshop && cfg.InstructorPassword == "" {
		// 130 random bits: printed this once, never stored.
		cfg.InstructorPassword = rand.Text()
		log.Warn("workshop mode: $SOCKPLAY_INSTRUCTOR_PASSWORD is not set, so this run's instructor password is made up and printed only here",
			"instructor_password", cfg.InstructorPassword)
	} else if cfg.Workshop && len(cfg.InstructorPassword) < 12 {
		log.Warn("workshop mode: $SOCKPLAY_INSTRUCTOR_PASSWORD is shorter than 12 characters; anyone on the network can try to guess it (5 tries, then one every 10 s per address)")
	}
	retention := sessions.NewRetention(store, rec, sessions.RetentionConfig{MaxBytes: cfg.MaxDBBytes, MaxAge: cfg.MaxAge, Every: cfg.RetentionEvery},
		func(id string) bool { return sessionBusy(lab, id) },
		func(id string) { lab.CloseSession(id); hub.CloseSession(id) }, log)
	catalog, lessonErrs := lessons.Load(cfg.Lessons)
	for _, err := range lessonErrs {
		log.Warn("lesson refused", "err", err)
	}
	site := web.NewServer(web.Deps{Lab: lab, Store: store, Recorder: rec, Hub: hub, Log: log, Commits: commits,
		Config: web.Config{LabHost: cfg.LabHost, MaxBodyBytes: cfg.MaxBody, MaxMessageBytes: cfg.MaxMessage,
			AllowedHosts: cfg.AllowedHosts, ListenAddr: ln.Addr().String(), MaxSubscribers: cfg.MaxSubscribers,
			MaxNewSessions: cfg.MaxNewSessions, BodyTimeout: cfg.BodyTimeout,
			Workshop: cfg.Workshop, InstructorPassword: cfg.InstructorPassword, InstructorTTL: cfg.InstructorTTL,
			SecureCookies: cfg.SecureCookies, JoinsPerMinute: noLimit(cfg.MaxJoins), TrustedProxies: cfg.TrustedProxies,
			MaxParticipantSessions: noLimit(cfg.MaxParticipantSessions), ParticipantPorts: noLimit(cfg.ParticipantPorts), ParticipantMaxSockets: noLimit(cfg.ParticipantMaxSockets),
			ParticipantMaxEventRate: noLimit(cfg.ParticipantMaxRate), WorkshopRetention: cfg.WorkshopRetention, Lessons: catalog, EmbedOrigins: cfg.EmbedOrigins,
			Budget: web.DiskBudget{MaxImportBytes: cfg.MaxImportBytes, MaxSessionEvents: cfg.SessionMaxEvents,
				MaxSessionBytes: cfg.SessionMaxBytes, Retention: retention}}})
	// IdleTimeout closes keep-alive connections nobody uses (a local client
	// could otherwise hold thousands open); WebSocket streams are hijacked
	// and not subject to it.
	srv := &http.Server{Handler: site, ReadHeaderTimeout: cfg.HeaderTimeout, IdleTimeout: cfg.IdleTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", site.MetricsHandler())
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: cfg.HeaderTimeout, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go msrv.Serve(metricsLn)
		defer msrv.Close()
		log.Info("metrics in the Prometheus text format", "url", "http://"+metricsLn.Addr().String()+"/metrics")
	}
	if err := site.ApplyParticipantQuotas(ctx); err != nil {
		log.Warn("workshop quotas before the restore", "err", err)
	}
	restoreServers(ctx, store, lab, log)

	retentionCtx, stopRetention := context.WithCancel(context.Background())
	retentionDone := make(chan struct{})
	go func() { defer close(retentionDone); retention.Run(retentionCtx) }()

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("sockplay is serving", "url", "http://"+ln.Addr().String(), "db", cfg.DB,
		"lab", net.JoinHostPort(cfg.LabHost, cfg.LabPorts.String()))
	if cfg.Workshop {
		logWorkshop(cfg, ln.Addr(), log)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-serveErr:
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownWait)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("HTTP shutdown", "err", err)
	}
	stopRetention()
	<-retentionDone
	hub.Close()
	site.Wait()
	lab.Close()
	rec.Close()
	st := rec.Stats()
	if err := store.Close(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("close database: %w", err))
	}
	log.Info("stopped", "events_recorded", st.Committed, "backpressure_waits", st.Waits)
	if errors.Is(runErr, http.ErrServerClosed) {
		runErr = nil
	}
	return runErr
}

// sessionBusy reports whether a session has a running server or an open
// client: the disk budget never deletes such a session.
func sessionBusy(lab *engine.Lab, id string) bool {
	for _, s := range lab.Servers(id) {
		if s.State == engine.StateRunning {
			return true
		}
	}
	for _, c := range lab.Clients(id) {
		if c.State != engine.StateClosed {
			return true
		}
	}
	return false
}

// noLimit maps a flag's 0 ("no limit") to web's -1 (web's 0 is "default").
func noLimit(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// logWorkshop says at start how to run the workshop: where participants
// and the instructor go, and the instructor's password if sockplay made one
// up (printed this once; it is not stored).
func logWorkshop(cfg config, addr net.Addr, log *slog.Logger) {
	url := "http://" + addr.String()
	if host, port, err := net.SplitHostPort(addr.String()); err == nil && (host == "0.0.0.0" || host == "::") {
		url = "http://<this machine's address>:" + port
		// Name the LAN addresses participants may use, and say which
		// -allowed-hosts still lacks (their browsers send it as Host).
		var lan, missing []string
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				ipn, ok := a.(*net.IPNet)
				if !ok || ipn.IP.To4() == nil || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
					continue
				}
				ip := ipn.IP.String()
				lan = append(lan, "http://"+net.JoinHostPort(ip, port)+"/join")
				if !slices.Contains(cfg.AllowedHosts, ip) && !slices.Contains(cfg.AllowedHosts, "*") {
					missing = append(missing, ip)
				}
			}
		}
		if len(lan) == 1 {
			url = strings.TrimSuffix(lan[0], "/join")
		}
		log.Info("workshop mode on every interface: the addresses of this machine", "join_urls", strings.Join(lan, " "))
		if len(missing) > 0 {
			log.Warn("participants' browsers send the address they open as Host, and sockplay refuses names it does not know: add them to -allowed-hosts (or a LAN name that resolves to this machine)",
				"allowed_hosts_needed", strings.Join(missing, ","))
		}
	}
	log.Info("workshop mode: participants open the join page; the instructor logs in at /instructor", "join", url+"/join", "instructor", url+"/instructor")
	if ip := net.ParseIP(cfg.LabHost); ip != nil && ip.IsLoopback() {
		log.Info("playground servers listen on loopback: participants use them from the page; for nc or Python on their own laptops, -lab-host this machine's LAN address (then anyone on that network can reach the lab ports)")
	} else {
		log.Warn("playground servers listen on "+cfg.LabHost+": anyone who can reach that address can connect to the lab ports", "lab_host", cfg.LabHost)
	}
	if n := cfg.ParticipantPorts; n > 0 {
		log.Info(fmt.Sprintf("each participant gets %d lab ports of their own: the lab range holds %d participants (raise -lab-ports for more); tutorial ports are off", n, (cfg.LabPorts.Last-cfg.LabPorts.First+1)/n),
			"lab_ports", cfg.LabPorts.String(), "participant_ports", n)
	}
}

// socketDirOf is where the unix-echo servers' sockets go: -socket-dir, or
// sockets/ beside the database file.
func socketDirOf(cfg config) string {
	if cfg.SocketDir != "" {
		return cfg.SocketDir
	}
	db := strings.TrimPrefix(cfg.DB, "file:")
	if i := strings.IndexByte(db, '?'); i >= 0 {
		db = db[:i]
	}
	if db == "" || db == ":memory:" {
		return "" // the lab's default, in the temporary directory
	}
	if abs, err := filepath.Abs(db); err == nil {
		db = abs
	}
	return filepath.Join(filepath.Dir(db), "sockets")
}
