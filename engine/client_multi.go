package engine

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The multi client is the tutorials' multi-connection client: it opens N
// connections at once, and on each sends M messages of S bytes, one write
// each, and reads the echoes back until every byte came back (then it
// shuts down its sending side and closes). Every connection is its own conn
// id under the one client; its close event carries what it sent, received
// and whether the echo matched, and the client's counters add them up live.
var multiClientKind = &ClientKind{
	Name: "multi", Title: "Multi-connection client", Net: NetTCP,
	Description: "Opens N connections at once; each sends M messages of S bytes and reads the echoes back, as the tutorials' multiconn-client does against an echo server.",
	Options: []OptionSpec{
		{Name: "connections", Type: OptInt, Default: 5, Min: intp(1), Max: intp(maxMultiConns), Primary: true, Suggest: []int{2, 10, 50},
			Help: "how many connections to open at once"},
		{Name: "messages", Type: OptInt, Default: 3, Min: intp(1), Max: intp(maxMultiMessages), Primary: true,
			Help: "how many messages each connection sends, one write call each"},
		{Name: "size", Type: OptInt, Default: 32, Min: intp(1), Max: intp(maxMultiSize), Unit: "bytes", Primary: true,
			Help: "the size of each message"},
		recvSizeOption(4096),
	},
	start: startMultiClient,
}

// multi client limits.
const (
	maxMultiConns    = 200
	maxMultiMessages = 1000
	maxMultiSize     = 64 << 10
)

type multiClient struct {
	env   *clientEnv
	conns []*Conn
	wg    sync.WaitGroup

	sent, received, matched, failed, done atomic.Int64

	mu   sync.Mutex
	info ClientInfo
	err  error // the first connection that failed to connect
}

func startMultiClient(ctx context.Context, env *clientEnv, o Options) (Client, error) {
	n, m, size := o.Int("connections"), o.Int("messages"), o.Int("size")
	lab := env.lab
	// The lab's open sockets must leave room for all of them: refuse before
	// anything is dialed (the first socket's place OpenClient reserved).
	if open, max := lab.OpenSockets(); max > 0 && open+int64(n-1) > max {
		return nil, fmt.Errorf("%w: %d connections would pass sockplay's limit of %d open sockets (%d are open; -max-sockets)", ErrLimit, n, max, open)
	}
	if q := env.socks.limit(); q > 0 && env.socks.open.Load()+int64(n-1) > q {
		return nil, fmt.Errorf("%w: %d connections would pass this session's quota of %d open sockets (%d are open; a workshop participant's -participant-max-sockets)", ErrLimit, n, q, env.socks.open.Load())
	}
	mc := &multiClient{env: env, info: ClientInfo{ID: env.ID, Session: env.Session, Kind: env.Kind, Target: env.Target,
		State: StateConnected, OpenedAt: time.Now()}}
	// Every socket's place first (refused before anything is dialed), then
	// the N dials at once, as the tutorials' client opens them.
	releases := make([]func(), n)
	releases[0] = env.release
	for i := 1; i < n; i++ {
		release, err := env.takeSocket()
		if err != nil {
			for _, r := range releases[:i] {
				r()
			}
			return nil, err
		}
		releases[i] = release
	}
	conns := make([]*Conn, n)
	errs := make([]error, n)
	var dials sync.WaitGroup
	for i := range n {
		dials.Go(func() {
			c, err := env.dialer().DialContext(ctx, "tcp", env.Target)
			if err != nil {
				releases[i]()
				errs[i] = err
				return
			}
			t := env.tap(NetTCP, c.LocalAddr().String(), c.RemoteAddr().String())
			conns[i] = newConn(c, t, releases[i])
			env.connectEvent(t, o, map[string]any{"connection": i + 1, "of": n})
		})
	}
	dials.Wait()
	for i, c := range conns {
		if c != nil {
			mc.conns = append(mc.conns, c)
		} else if mc.err == nil {
			mc.err = errs[i]
		}
	}
	if err := mc.err; err != nil {
		// One failed: the error event says why, and the others close.
		env.connectFailed("tcp", err)
		mc.closeAll()
		return nil, err
	}
	mc.info.Conn, mc.info.Local, mc.info.Remote = mc.conns[0].ID(), mc.conns[0].tap.local, mc.conns[0].tap.remote
	for i, c := range mc.conns {
		mc.wg.Go(func() { mc.exchange(i+1, c, m, size, o.Int("recv_size")) })
	}
	return mc, nil
}

// exchange sends m messages of size bytes on c and reads them back.
func (mc *multiClient) exchange(num int, c *Conn, m, size, recvSize int) {
	var want bytes.Buffer
	var sentN, gotN atomic.Int64
	c.mu.Lock()
	c.closeMeta = func() map[string]any {
		return map[string]any{"connection": num, "sent": sentN.Load(), "received": gotN.Load()}
	}
	c.mu.Unlock()
	msgs := make([][]byte, m)
	for k := range m {
		msgs[k] = multiMessage(num, k+1, size)
		want.Write(msgs[k])
	}
	readDone := make(chan []byte, 1)
	go func() {
		var got bytes.Buffer
		buf := make([]byte, recvSize)
		for got.Len() < want.Len() {
			n, err := c.Read(buf)
			got.Write(buf[:n])
			gotN.Add(int64(n))
			mc.received.Add(int64(n))
			if err != nil {
				break
			}
		}
		readDone <- got.Bytes()
	}()
	for _, msg := range msgs {
		w, err := c.Write(msg)
		sentN.Add(int64(w))
		mc.sent.Add(int64(w))
		if err != nil {
			break
		}
	}
	got := <-readDone
	if bytes.Equal(got, want.Bytes()) {
		mc.matched.Add(int64(m))
		c.SetCloseReason(fmt.Sprintf("all %d messages came back", m))
	} else {
		mc.failed.Add(1)
		c.SetCloseReason(fmt.Sprintf("%d of %d bytes came back", len(got), want.Len()))
	}
	c.CloseWrite()
	c.Close()
	if mc.done.Add(1) == int64(len(mc.conns)) {
		mc.mu.Lock()
		mc.info.State, mc.info.ClosedAt = StateClosed, time.Now()
		mc.mu.Unlock()
	}
}

// multiMessage is the k-th message of connection num, size bytes: its text says
// whose it is, so a reply that mixes connections shows.
func multiMessage(num, k, size int) []byte {
	var head [48]byte
	s := append(head[:0], "conn "...)
	s = strconv.AppendInt(s, int64(num), 10)
	s = append(s, " message "...)
	s = strconv.AppendInt(s, int64(k), 10)
	s = append(s, ' ')
	b := make([]byte, size)
	// The text, repeated: each copy doubles what is written.
	n := copy(b, s)
	for n < len(b) {
		n += copy(b[n:], b[:n])
	}
	return b
}

func (mc *multiClient) closeAll() {
	for _, c := range mc.conns {
		c.Close()
	}
}

// Info returns the client's description with its live counters.
func (mc *multiClient) Info() ClientInfo {
	mc.mu.Lock()
	info := mc.info
	mc.mu.Unlock()
	info.Sent, info.Received = mc.sent.Load(), mc.received.Load()
	info.Counters = map[string]int64{"connections": int64(len(mc.conns)), "done": mc.done.Load(),
		"messages_matched": mc.matched.Load(), "connections_failed": mc.failed.Load()}
	return info
}

// Send is refused: a multi client sends its own messages.
func (mc *multiClient) Send([]byte) error {
	return &OptionError{Msg: "a multi client sends its own messages on each of its connections; open a tcp client to send your own"}
}

// Close closes every connection still open and waits for their exchanges.
func (mc *multiClient) Close(bool) error {
	for _, c := range mc.conns {
		c.closeSocket("")
	}
	mc.wg.Wait()
	return nil
}
