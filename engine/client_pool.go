package engine

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The pool client keeps K connections open and sends R requests over them
// in turn, as a connection pool of an HTTP library or a database driver
// does: a request takes the next pooled connection and reuses it, and only
// when there is none yet, or the one it took is broken (the server closed
// or reset it), does it dial a new one. The broken connection's close event
// says the pool replaces it, and the new one's connect event names the one
// it replaces. Its counters add up reuses, new dials and replacements.
var poolClientKind = &ClientKind{
	Name: "pool", Title: "Connection pool client", Net: NetTCP, patient: true,
	Description: "Keeps K connections open and sends R requests over them in turn, reusing each; a connection the server closed or reset is replaced by a new dial (an event says so). Counts reuses versus new dials.",
	Options: []OptionSpec{
		{Name: "connections", Type: OptInt, Default: 3, Min: intp(1), Max: intp(maxPoolConns), Primary: true, Suggest: []int{1, 3, 10},
			Help: "how many connections the pool keeps (K)"},
		{Name: "requests", Type: OptInt, Default: 10, Min: intp(1), Max: intp(maxPoolRequests), Primary: true,
			Help: "how many requests to send (R), each on the next pooled connection"},
		messageOption(),
		timeoutOption("timeout_ms", 1000, "how long a request waits for its whole reply (and a connect may take) before it fails with ETIMEDOUT"),
		recvSizeOption(4096),
	},
	start: startPoolClient,
}

// pool and round-robin limits.
const (
	maxPoolConns    = 50
	maxPoolRequests = 1000
	maxRRRequests   = 200
	maxRRTargets    = 10
)

func messageOption() OptionSpec {
	return OptionSpec{Name: "message", Type: OptString, Default: "ping\n", MaxLen: 4096, Primary: true,
		Help: "the request each connection sends; the reply is read until as many bytes came back (an echo's answer) or the timeout"}
}

// requester is what the pool and round-robin clients share: one exchange
// of a request and its reply on a Conn, the client's counters and its
// description.
type requester struct {
	env      *clientEnv
	msg      []byte
	timeout  time.Duration
	recvSize int

	sent, received atomic.Int64
	counters       sync.Map // name → *atomic.Int64

	mu   sync.Mutex
	info ClientInfo
}

func newRequester(env *clientEnv, o Options) *requester {
	return &requester{env: env, msg: []byte(o.String("message")), timeout: time.Duration(max(o.Int("timeout_ms"), 1)) * time.Millisecond,
		recvSize: o.Int("recv_size"), info: ClientInfo{ID: env.ID, Session: env.Session, Kind: env.Kind, Target: env.Target,
			State: StateConnected, OpenedAt: time.Now()}}
}

func (r *requester) count(name string, n int64) {
	v, _ := r.counters.LoadOrStore(name, new(atomic.Int64))
	v.(*atomic.Int64).Add(n)
}

// dial connects to target through the dial policy (every target, every
// attempt), taking a place in the lab's count of open sockets (first, the
// one OpenClient reserved). A failure is an error event naming the target.
func (r *requester) dial(ctx context.Context, target string, first *bool, meta map[string]any) (*Conn, error) {
	release := r.env.release
	if !*first {
		var err error
		if release, err = r.env.takeSocket(); err != nil {
			r.failed(target, err, meta)
			return nil, err
		}
	}
	*first = false
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	c, err := r.env.dialer().DialContext(ctx, "tcp", target)
	if err != nil {
		release()
		r.failed(target, err, meta)
		return nil, err
	}
	t := r.env.tap(NetTCP, c.LocalAddr().String(), c.RemoteAddr().String())
	conn := newConn(c, t, release)
	ev := t.event(KindConnect)
	ev.Meta = map[string]any{"client": r.env.Kind, "target": target}
	if peer := r.env.lab.peerName(r.env.Session, t.remote); peer != "" {
		ev.Meta["peer_name"] = peer // open lab: another participant's server
	}
	for k, v := range meta {
		ev.Meta[k] = v
	}
	t.emit(ev)
	return conn, nil
}

// failed emits the error event of a connect to target that failed.
func (r *requester) failed(target string, err error, meta map[string]any) {
	m := map[string]any{"op": "connect", "target": target}
	for k, v := range meta {
		m[k] = v
	}
	r.env.lab.sink.Emit(Event{Session: r.env.Session, Server: r.env.ID, At: time.Now(), Kind: KindError, Net: NetTCP,
		Remote: target, Err: Classify(err), Meta: m})
}

// exchange sends the request on c and reads until as many bytes came back
// or the timeout. It returns the reply, and an error when the connection
// is broken (it then closes it) or the reply did not all come.
func (r *requester) exchange(c *Conn) ([]byte, error) {
	n, err := c.Write(r.msg)
	r.sent.Add(int64(n))
	if err != nil {
		return nil, err
	}
	c.raw.SetReadDeadline(time.Now().Add(r.timeout))
	defer c.raw.SetReadDeadline(time.Time{})
	reply := make([]byte, 0, len(r.msg))
	buf := make([]byte, r.recvSize)
	for len(reply) < len(r.msg) {
		n, err := c.Read(buf)
		reply = append(reply, buf[:n]...)
		r.received.Add(int64(n))
		if err != nil {
			return reply, err
		}
	}
	return reply, nil
}

// done marks the client closed.
func (r *requester) done() {
	r.mu.Lock()
	r.info.State, r.info.ClosedAt = StateClosed, time.Now()
	r.mu.Unlock()
}

// Info returns the client's description with its counters.
func (r *requester) Info() ClientInfo {
	r.mu.Lock()
	info := r.info
	r.mu.Unlock()
	info.Sent, info.Received = r.sent.Load(), r.received.Load()
	info.Counters = map[string]int64{}
	r.counters.Range(func(k, v any) bool {
		info.Counters[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return info
}

// Send is refused: these clients send their own requests.
func (r *requester) Send([]byte) error {
	return &OptionError{Msg: "a " + r.env.Kind + " client sends its own requests (option message); open a tcp client to send your own"}
}

// Close does nothing more: the client ran its requests and closed its
// connections before it was listed.
func (r *requester) Close(bool) error { return nil }

// broken reports whether err means the server closed or reset the
// connection (a new one may do), as opposed to a slow reply.
func broken(err error) bool {
	return err != nil && Classify(err).Errno != "ETIMEDOUT"
}

type poolClient struct{ *requester }

func startPoolClient(ctx context.Context, env *clientEnv, o Options) (Client, error) {
	k, reqs := o.Int("connections"), o.Int("requests")
	if open, max := env.lab.OpenSockets(); max > 0 && open+int64(k-1) > max {
		env.release()
		return nil, fmt.Errorf("%w: a pool of %d connections would pass sockplay's limit of %d open sockets (%d are open; -max-sockets)", ErrLimit, k, max, open)
	}
	r := newRequester(env, o)
	pool := make([]*Conn, k)
	first := true
	defer func() {
		for _, c := range pool {
			if c != nil {
				c.SetCloseReason(fmt.Sprintf("the pool is done: %d requests", reqs))
				c.Close()
			}
		}
		if first {
			env.release() // it never dialed
		}
		r.done()
	}()
	var last error
	answered := 0
	for i := 1; i <= reqs && ctx.Err() == nil; i++ {
		slot := (i - 1) % k
		replaced := ""
		for try := 0; try < 2; try++ {
			c := pool[slot]
			if c == nil {
				meta := map[string]any{"request": i, "of": reqs, "pool_slot": slot + 1}
				if replaced != "" {
					meta["replaces"] = replaced
				}
				var err error
				if c, err = r.dial(ctx, env.Target, &first, meta); err != nil {
					last = err
					r.count("failed", 1)
					break
				}
				pool[slot] = c
				r.count("new_dials", 1)
				if replaced != "" {
					r.count("replaced", 1)
				}
			} else {
				r.count("reused", 1)
			}
			_, err := r.exchange(c)
			if err == nil {
				answered++
				r.count("answered", 1)
				break
			}
			last = err
			pool[slot] = nil
			if !broken(err) { // a slow reply: its late bytes would answer the next request
				c.SetCloseReason(fmt.Sprintf("request %d got no whole reply in time: the pool drops this connection", i))
				c.Close()
				r.count("failed", 1)
				break
			}
			// The server closed or reset this connection: the pool throws
			// it away and dials a new one for the same request.
			c.SetCloseReason(fmt.Sprintf("broken (%s) when request %d took it: the pool replaces it with a new connection", Classify(err).Errno, i))
			c.Close()
			replaced = c.ID()
			if try == 1 {
				r.count("failed", 1)
			}
		}
	}
	if answered == 0 && last != nil {
		return nil, last
	}
	return poolClient{r}, nil
}

// parseTargets reads the round-robin client's extra targets: host:port,
// comma-separated.
func parseTargets(s string) ([]string, error) {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		host, port, err := net.SplitHostPort(f)
		if err != nil || host == "" {
			return nil, &OptionError{Option: "targets", Msg: fmt.Sprintf("target %q is not host:port (e.g. 127.0.0.1:20001); separate targets with commas", f)}
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, &OptionError{Option: "targets", Msg: fmt.Sprintf("target %q: port %q is not a number from 1 to 65535", f, port)}
		}
		out = append(out, f)
	}
	if len(out)+1 > maxRRTargets {
		return nil, &OptionError{Option: "targets", Msg: fmt.Sprintf("%d targets: a round-robin client takes at most %d (the target and %d more)", len(out)+1, maxRRTargets, maxRRTargets-1)}
	}
	return out, nil
}
