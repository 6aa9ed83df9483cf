package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reproduction is what Lab.Reproduce did to make an error happen in a
// session: the servers and clients it started (they stay, so the page
// shows them and their events) and each step in words.
type Reproduction struct {
	Errno string   `json:"errno"`
	Title string   `json:"title"`
	Steps []string `json:"steps"`
	// Servers and Clients are the ids of what it started.
	Servers []string `json:"servers,omitempty"`
	Clients []string `json:"clients,omitempty"`
	// Observed is the errno the last step failed with; Produced says it is
	// the one asked for (its error event is in the session's events).
	Observed string `json:"observed"`
	Produced bool   `json:"produced"`
	// Message is the operating system's message of that failure.
	Message string `json:"message,omitempty"`
}

// reproducer sets up the situation of one errno in a session.
type reproducer struct {
	title string
	run   func(ctx context.Context, r *repro) error
}

// reproducers are the errors Reproduce can make happen, each for real
// through the lab: the dial policy, the lab's ports and its faults.
var reproducers = map[string]reproducer{
	"ECONNREFUSED": {"Connection refused: connect to a port where nothing listens", reproRefused},
	"ECONNRESET":   {"Connection reset: the server resets the connection right after accept", reproReset},
	"ETIMEDOUT":    {"Connect timed out: the server's accept queue is full, so the kernel drops the SYN", reproTimeout},
	"EADDRINUSE":   {"Address already in use: start a second server on a port a server holds", reproAddrInUse},
	"EPIPE":        {"Broken pipe: write again after the peer closed and answered with RST", reproBrokenPipe},
	"DNS":          {"Name not resolved: connect to a host name that does not exist", reproDNS},
	"EMSGSIZE":     {"Message too long: send a UDP datagram larger than 65,507 bytes", reproMsgSize},
	"EREFUSED":     {"Refused by sockplay's dial policy: connect to a port outside the lab", reproPolicy},
}

// ReproducibleErrnos lists the errnos Reproduce knows, sorted.
func ReproducibleErrnos() []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range reproducers {
			if !yield(k) {
				return
			}
		}
	})
}

// CanReproduce says whether Reproduce knows errno (spelt as Reproduce
// takes it: any case, spaces around).
func CanReproduce(errno string) bool {
	_, ok := reproducers[strings.ToUpper(strings.TrimSpace(errno))]
	return ok
}

// repro is one reproduction under way.
type repro struct {
	lab     *Lab
	session string
	out     *Reproduction
}

func (r *repro) step(format string, args ...any) {
	r.out.Steps = append(r.out.Steps, fmt.Sprintf(format, args...))
}

func (r *repro) server(kind, name, opts string, port int) (ServerInfo, error) {
	spec := ServerSpec{Kind: kind, Name: name, Port: port}
	if opts != "" {
		spec.Options = json.RawMessage(opts)
	}
	info, err := r.lab.StartServer(r.session, spec)
	if err == nil {
		r.out.Servers = append(r.out.Servers, info.ID)
	}
	return info, err
}

func (r *repro) client(ctx context.Context, kind, target, opts string) (ClientInfo, error) {
	spec := ClientSpec{Kind: kind, Target: target}
	if opts != "" {
		spec.Options = json.RawMessage(opts)
	}
	info, err := r.lab.OpenClient(ctx, r.session, spec)
	if err == nil {
		r.out.Clients = append(r.out.Clients, info.ID)
	}
	return info, err
}

// observed records the error the situation produced.
func (r *repro) observed(err error) {
	se := Classify(err)
	if se == nil {
		return
	}
	r.out.Observed, r.out.Message = se.Errno, se.Message
}

// setupError is a step of the set-up that failed (not the error being
// reproduced): the lab's limits, a full port range.
type setupError struct {
	step string
	err  error
}

func (e *setupError) Error() string {
	return "could not set up the reproduction: " + e.step + ": " + e.err.Error()
}
func (e *setupError) Unwrap() error { return e.err }

// Reproduce makes the error errno happen in session for real, through the
// lab, and says what it did. The servers and clients it starts stay (the
// session's limits apply to them as to any other); the error is an event of
// the session like any other. An errno it does not know is an
// *OptionError listing those it does.
func (l *Lab) Reproduce(ctx context.Context, session, errno string) (Reproduction, error) {
	errno = strings.ToUpper(strings.TrimSpace(errno))
	p, ok := reproducers[errno]
	if !ok {
		return Reproduction{}, &OptionError{Option: "errno", Msg: fmt.Sprintf("sockplay cannot reproduce %q; it can reproduce: %s",
			errno, strings.Join(ReproducibleErrnos(), ", "))}
	}
	out := Reproduction{Errno: errno, Title: p.title}
	r := &repro{lab: l, session: session, out: &out}
	if err := p.run(ctx, r); err != nil {
		return out, err
	}
	out.Produced = out.Observed == errno
	return out, nil
}

// ECONNREFUSED: a tcp-echo server with a refuse fault has closed its
// listening socket, so the port is the lab's (nobody else takes it) and
// nothing listens on it: the kernel answers the SYN with RST.
func reproRefused(ctx context.Context, r *repro) error {
	srv, err := r.server("tcp-echo", "reproduce ECONNREFUSED", "", 0)
	if err != nil {
		return &setupError{"start a tcp-echo server", err}
	}
	if _, err := r.lab.AddFault(r.session, srv.ID, FaultSpec{Name: "refuse", Type: "refuse"}); err != nil {
		return &setupError{"add a refuse fault", err}
	}
	r.step("started tcp-echo %s on %s and added a refuse fault: it closed its listening socket, so nothing listens on port %d now", srv.ID, srv.Addr, portOf(srv.Addr))
	_, err = r.client(ctx, "tcp", srv.Addr, "")
	r.observed(err)
	r.step("a tcp client tried to connect to %s: the kernel answered its SYN with RST, and connect() failed with %s", srv.Addr, r.out.Observed)
	return nil
}

// ECONNRESET: a tcp-echo server with a reset fault of 0 bytes closes every
// connection with SO_LINGER 0 right after accept; the client's next recv
// fails.
func reproReset(ctx context.Context, r *repro) error {
	srv, err := r.server("tcp-echo", "reproduce ECONNRESET", "", 0)
	if err != nil {
		return &setupError{"start a tcp-echo server", err}
	}
	if _, err := r.lab.AddFault(r.session, srv.ID, FaultSpec{Name: "reset", Type: "reset", Attributes: json.RawMessage(`{"bytes":0}`)}); err != nil {
		return &setupError{"add a reset fault", err}
	}
	r.step("started tcp-echo %s on %s with a reset fault: it resets (RST) every connection right after accept", srv.ID, srv.Addr)
	cli, err := r.client(ctx, "tcp", srv.Addr, "")
	if err != nil {
		r.observed(err)
		r.step("the connect failed: %s", r.out.Observed)
		return nil
	}
	r.step("a tcp client %s connected; its recv waits for the echo", cli.ID)
	if state := r.waitClient(ctx, cli.ID, StateClosed); state == StateClosed {
		r.out.Observed, r.out.Message = "ECONNRESET", "connection reset by peer"
		r.step("the server's RST arrived: the client's recv failed with ECONNRESET and the connection is gone")
	} else {
		r.out.Observed = state
		r.step("the client is %s, not reset", state)
	}
	return nil
}

// waitClient waits (bounded) until client id reaches state, and returns
// the state it has then.
func (r *repro) waitClient(ctx context.Context, id, state string) string {
	c, err := r.lab.Client(r.session, id)
	if err != nil {
		return StateClosed
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := c.Info().State
		if s == state || time.Now().After(deadline) || ctx.Err() != nil {
			return s
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ETIMEDOUT: a tcp-echo server that holds one client at a time
// (max_clients 1) with a listen backlog of 0: one connection is accepted,
// the next completes its handshake and waits in the accept queue, and once
// the queue is full the kernel drops new SYNs. A client with a short connect
// timeout then gives up: connect() times out.
func reproTimeout(ctx context.Context, r *repro) error {
	srv, err := r.server("tcp-echo", "reproduce ETIMEDOUT", `{"max_clients":1,"backlog":0}`, 0)
	if err != nil {
		return &setupError{"start a tcp-echo server", err}
	}
	r.step("started tcp-echo %s on %s with max_clients 1 and backlog 0: it accepts one client, and its accept queue holds one more", srv.ID, srv.Addr)
	for i := 1; i <= 6; i++ {
		cli, err := r.client(ctx, "tcp", srv.Addr, `{"connect_timeout_ms":1000}`)
		if err != nil {
			r.observed(err)
			r.step("client %d (connect timeout 1000 ms) got no answer to its SYNs: the queue is full, the kernel drops them, and connect() failed with %s", i, r.out.Observed)
			return nil
		}
		switch i {
		case 1:
			r.step("client 1 (%s) connected and was accepted", cli.ID)
		default:
			r.step("client %d (%s) connected: the kernel completed its handshake, it waits in the accept queue", i, cli.ID)
		}
	}
	r.out.Observed = "connected"
	r.step("every client connected: this kernel does not drop SYNs when the accept queue is full")
	return nil
}

// EADDRINUSE: a second server on the port a first one holds; bind() fails.
func reproAddrInUse(ctx context.Context, r *repro) error {
	srv, err := r.server("tcp-echo", "reproduce EADDRINUSE", "", 0)
	if err != nil {
		return &setupError{"start a tcp-echo server", err}
	}
	port := portOf(srv.Addr)
	r.step("started tcp-echo %s on %s", srv.ID, srv.Addr)
	_, err = r.server("tcp-echo", "second server on a taken port", "", port)
	if err == nil {
		r.out.Observed = "started"
		r.step("a second server started on port %d: this system lets two listeners share a port", port)
		return nil
	}
	r.observed(err)
	r.step("started another tcp-echo on port %d: bind() failed with %s, because %s listens there", port, r.out.Observed, srv.ID)
	return nil
}

// EPIPE: a tcp-echo server in greet mode sends its greeting and closes
// (FIN). The client may still send: its first send reaches a socket that
// is gone, whose kernel answers with RST; the send after that fails with
// EPIPE (a write on a connection the peer reset after it closed).
func reproBrokenPipe(ctx context.Context, r *repro) error {
	srv, err := r.server("tcp-echo", "reproduce EPIPE", `{"mode":"greet"}`, 0)
	if err != nil {
		return &setupError{"start a tcp-echo server", err}
	}
	r.step("started tcp-echo %s on %s in greet mode: it sends \"Hello Client!\" and closes", srv.ID, srv.Addr)
	cli, err := r.client(ctx, "tcp", srv.Addr, "")
	if err != nil {
		return &setupError{"connect a tcp client", err}
	}
	if state := r.waitClient(ctx, cli.ID, StatePeerClosed); state != StatePeerClosed {
		r.out.Observed = state
		r.step("the client %s is %s, not half-closed by the server", cli.ID, state)
		return nil
	}
	r.step("a tcp client %s read the greeting, then the server's FIN (recv returned 0 bytes); it can still send", cli.ID)
	for i := 1; i <= 50; i++ {
		err := r.lab.Send(r.session, cli.ID, []byte("are you there?\n"))
		if err != nil {
			r.observed(err)
			r.step("send %d failed with %s: the server's kernel had answered the earlier send with RST", i, r.out.Observed)
			return nil
		}
		if i == 1 {
			r.step("send 1 succeeded (it went into the local send buffer), and reached a socket that is closed: its kernel answers with RST")
		}
		time.Sleep(20 * time.Millisecond) // the RST crosses loopback meanwhile
	}
	r.out.Observed = "sent"
	r.step("every send succeeded")
	return nil
}

// DNS: a name under .invalid, which never resolves (RFC 6761).
func reproDNS(ctx context.Context, r *repro) error {
	target := net.JoinHostPort("no-such-host.invalid", strconv.Itoa(r.lab.cfg.Ports.First))
	_, err := r.client(ctx, "tcp", target, "")
	r.observed(err)
	r.step("a tcp client tried to connect to %s: looking the name up failed (%s); names under .invalid never resolve", target, r.out.Observed)
	return nil
}

// EMSGSIZE: one datagram of 65,508 bytes, one more than fits in a UDP
// datagram over IPv4 (65,535 - 20 IP - 8 UDP header bytes).
func reproMsgSize(ctx context.Context, r *repro) error {
	srv, err := r.server("udp-echo", "reproduce EMSGSIZE", "", 0)
	if err != nil {
		return &setupError{"start a udp-echo server", err}
	}
	r.step("started udp-echo %s on %s", srv.ID, srv.Addr)
	cli, err := r.client(ctx, "udp", srv.Addr, "")
	if err != nil {
		return &setupError{"open a udp client", err}
	}
	err = r.lab.Send(r.session, cli.ID, make([]byte, 65508))
	if err == nil {
		r.out.Observed = "sent"
		r.step("the 65,508-byte datagram was sent")
		return nil
	}
	r.observed(err)
	r.step("a udp client %s sent one datagram of 65,508 bytes: sendto() failed with %s (at most 65,507 bytes fit over IPv4)", cli.ID, r.out.Observed)
	return nil
}

// EREFUSED: sockplay's own dial policy refuses a port outside the lab
// before anything is dialed.
func reproPolicy(ctx context.Context, r *repro) error {
	target := "127.0.0.1:22"
	cli, err := r.client(ctx, "tcp", target, "")
	if err == nil { // this sockplay's policy allows it (-dial-allow): do not stay connected
		r.lab.CloseClient(r.session, cli.ID, false)
		r.out.Observed = "connected"
		r.step("a tcp client connected to %s: this sockplay's dial policy allows it, so there is nothing to refuse; the client was closed", target)
		return nil
	}
	var re *RefusedError
	if !errors.As(err, &re) && Classify(err).Errno != "EREFUSED" {
		r.observed(err)
		r.step("a tcp client to %s failed with %s: this sockplay's policy allows the address", target, r.out.Observed)
		return nil
	}
	r.observed(err)
	r.step("a tcp client asked to connect to %s (the ssh port, outside the lab): sockplay's dial policy refused it before any packet was sent (%s)", target, r.out.Observed)
	return nil
}
