package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// server, connection and client goroutine must have an owner that waits for it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testPorts is the lab range of the tests. It lies below Linux's default
// ephemeral range (32768-60999), so the kernel never hands one of these ports
// to an outgoing connection of the tests themselves; the pool skips ports
// another process holds. SOCKPLAY_TEST_SLOT (1-4) narrows it to a 200-port
// slice, so the suites of several work trees can run side by side.
var testPorts = testSlotRange(21000, 21999)

// testSlotRange narrows [first, last] to the slice SOCKPLAY_TEST_SLOT names.
func testSlotRange(first, last int) PortRange {
	slot, err := strconv.Atoi(os.Getenv("SOCKPLAY_TEST_SLOT"))
	if err != nil || slot < 1 || slot > 4 {
		return PortRange{First: first, Last: last}
	}
	w := (last - first + 1) / 5
	return PortRange{First: first + slot*w, Last: first + slot*w + w - 1}
}

// waitTimeout bounds every wait of the tests: a hang fails instead of blocking.
const waitTimeout = 10 * time.Second

// testSink records every event the engine emits and lets a test wait until a
// condition over them holds.
type testSink struct {
	mu     sync.Mutex
	evs    []Event
	notify chan struct{} // gets a token whenever an event arrives
}

func newTestSink() *testSink { return &testSink{notify: make(chan struct{}, 1)} }

// Emit implements Sink.
func (s *testSink) Emit(ev Event) {
	s.mu.Lock()
	s.evs = append(s.evs, ev)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// events returns a snapshot of the events so far.
func (s *testSink) events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.evs...)
}

// waitFor waits until cond holds over the events emitted so far and returns
// them; after waitTimeout it fails the test, naming what it waited for and
// listing the events it saw.
func (s *testSink) waitFor(t testing.TB, what string, cond func(evs []Event) bool) []Event {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	// The ticker only guards against a missed token; events normally wake us.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		evs := s.events()
		if cond(evs) {
			return evs
		}
		select {
		case <-s.notify:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s; events:\n%s", waitTimeout, what, dumpEvents(s.events()))
		}
	}
}

func dumpEvents(evs []Event) string {
	var b strings.Builder
	for i, ev := range evs {
		fmt.Fprintf(&b, "  %2d %-12s srv=%s conn=%s local=%s remote=%s len=%d data=%q trunc=%v",
			i, ev.Kind, ev.Server, ev.Conn, ev.Local, ev.Remote, ev.Len, ev.Data, ev.Truncated)
		if ev.Err != nil {
			fmt.Fprintf(&b, " err=%+v", *ev.Err)
		}
		if ev.Meta != nil {
			fmt.Fprintf(&b, " meta=%v", ev.Meta)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// filter returns the events of kind k owned by server (or client) owner; an
// empty owner matches every owner.
func filter(evs []Event, k Kind, owner string) []Event {
	var out []Event
	for _, ev := range evs {
		if ev.Kind == k && (owner == "" || ev.Server == owner) {
			out = append(out, ev)
		}
	}
	return out
}

// connEvents returns the events of connection conn, in emission order.
func connEvents(evs []Event, conn string) []Event {
	var out []Event
	for _, ev := range evs {
		if ev.Conn == conn {
			out = append(out, ev)
		}
	}
	return out
}

// indexOf returns the index of the first event matching match, or -1.
func indexOf(evs []Event, match func(Event) bool) int {
	for i, ev := range evs {
		if match(ev) {
			return i
		}
	}
	return -1
}

// isClose reports whether ev is a close event with the given by and half.
func isClose(ev Event, by string, half bool) bool {
	return ev.Kind == KindClose && ev.Meta["by"] == by && ev.Meta["half"] == half
}

// sumLen adds up the Len of evs.
func sumLen(evs []Event) int {
	n := 0
	for _, ev := range evs {
		n += ev.Len
	}
	return n
}

// newTestLab returns a Lab over the test port range on 127.0.0.1 (unless cfg
// names others) that emits to a fresh testSink, and closes it when the test
// ends.
func newTestLab(t testing.TB, cfg LabConfig) (*Lab, *testSink) {
	t.Helper()
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Ports == (PortRange{}) {
		cfg.Ports = testPorts
	}
	sink := newTestSink()
	lab := NewLab(cfg, sink, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { lab.Close() })
	return lab, sink
}

// startKind starts a server of kind with the JSON options opts (may be "")
// in session and returns its description; it fails the test if it cannot.
func startKind(t testing.TB, lab *Lab, session, kind, opts string) ServerInfo {
	t.Helper()
	spec := ServerSpec{Kind: kind}
	if opts != "" {
		spec.Options = json.RawMessage(opts)
	}
	info, err := lab.StartServer(session, spec)
	if err != nil {
		t.Fatalf("StartServer(%s, %s): %v", kind, opts, err)
	}
	return info
}

// startEcho starts a tcp-echo server (see startKind).
func startEcho(t testing.TB, lab *Lab, session, opts string) ServerInfo {
	t.Helper()
	return startKind(t, lab, session, "tcp-echo", opts)
}

// dial connects to addr over loopback with a deadline on every read and
// write, and closes the connection when the test ends.
func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn)
}

// write writes b on c in one call.
func write(t testing.TB, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write %q: %v", b, err)
	}
}

// readN reads exactly n bytes from c.
func readN(t testing.TB, c net.Conn, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	if got, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read %d bytes: got %d (%q): %v", n, got, buf[:got], err)
	}
	return buf
}

// readToEOF reads from c until the server closes it, and fails if the
// connection ends any other way (reset, or the deadline).
func readToEOF(t testing.TB, c net.Conn) []byte {
	t.Helper()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read until EOF: got %q, then %v", b, err)
	}
	return b
}

// freeLabPort returns a port of the test range on which nothing listens: it
// binds one and closes it again. It searches from the top of the range, away
// from the ports the pool hands out first.
func freeLabPort(t testing.TB) int {
	t.Helper()
	for p := testPorts.Last; p >= testPorts.First; p-- {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		return p
	}
	t.Fatal("no free port in the test range")
	return 0
}

// isEOFOrReset reports whether err is how a reader sees a closed connection.
func isEOFOrReset(err error) bool {
	return errors.Is(err, io.EOF) || Classify(err).Errno == "ECONNRESET"
}

// portNum returns the port of the host:port address addr.
func portNum(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// freeLabPorts returns the first of n consecutive ports of the test range on
// which nothing listens.
func freeLabPorts(t testing.TB, n int) int {
	t.Helper()
next:
	for first := testPorts.First; first+n-1 <= testPorts.Last; first++ {
		var lns []net.Listener
		for p := first; p < first+n; p++ {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				for _, ln := range lns {
					ln.Close()
				}
				continue next
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		return first
	}
	t.Fatalf("no %d consecutive free ports in the test range", n)
	return 0
}

// snippetCode returns the code of srv's snippet called name.
func snippetCode(t testing.TB, srv ServerInfo, name string) string {
	t.Helper()
	for _, s := range LookupServerKind(srv.Kind).SnippetsFor(srv.Addr, srv.Options) {
		if s.Name == name {
			return s.Code
		}
	}
	t.Fatalf("no %s snippet", name)
	return ""
}
