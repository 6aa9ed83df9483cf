package engine

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// optionEvent waits for the option event of server id and checks that it
// follows the listen event.
func optionEvent(t *testing.T, sink *testSink, id string) Event {
	t.Helper()
	evs := sink.waitFor(t, "the option event", func(evs []Event) bool { return len(filter(evs, KindOption, id)) > 0 })
	iListen := indexOf(evs, func(ev Event) bool { return ev.Server == id && ev.Kind == KindListen })
	iOption := indexOf(evs, func(ev Event) bool { return ev.Server == id && ev.Kind == KindOption })
	if iListen < 0 || iListen > iOption {
		t.Errorf("option event (#%d) does not follow the listen event (#%d):\n%s", iOption, iListen, dumpEvents(evs))
	}
	ev := evs[iOption]
	if ev.Net != NetTCP || ev.Conn != "" {
		t.Errorf("option event net %q conn %q, want tcp and no connection", ev.Net, ev.Conn)
	}
	return ev
}

// metaMap returns the map under key in ev's meta.
func metaMap(t *testing.T, ev Event, key string) map[string]any {
	t.Helper()
	m, ok := ev.Meta[key].(map[string]any)
	if !ok {
		t.Fatalf("%s event meta %v has no map %q", ev.Kind, ev.Meta, key)
	}
	return m
}

// acceptMeta dials srv, waits for the server's accept event of that
// connection and returns its meta.
func acceptMeta(t *testing.T, sink *testSink, srv ServerInfo) map[string]any {
	t.Helper()
	c := dial(t, srv.Addr)
	local := c.LocalAddr().String()
	evs := sink.waitFor(t, "the accept event", func(evs []Event) bool {
		return indexOf(evs, func(ev Event) bool { return ev.Kind == KindAccept && ev.Remote == local }) >= 0
	})
	return evs[indexOf(evs, func(ev Event) bool { return ev.Kind == KindAccept && ev.Remote == local })].Meta
}

// acceptQueueOf returns the live accept_queue counter of the only server
// of session s.
func acceptQueueOf(lab *Lab) (int64, bool) {
	n, ok := lab.Servers("s")[0].Counters["accept_queue"]
	return n, ok
}

// waitAcceptQueue waits until the kernel holds n connections in the
// server's accept queue.
func waitAcceptQueue(t *testing.T, lab *Lab, sink *testSink, n int64) {
	t.Helper()
	sink.waitFor(t, fmt.Sprintf("%d connections in the accept queue (now %v)", n, lab.Servers("s")[0].Counters), func([]Event) bool {
		got, ok := acceptQueueOf(lab)
		return ok && got == n
	})
}

// echoes writes msg on c and checks it comes back.
func echoes(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	write(t, c, []byte(msg))
	if got := readN(t, c, len(msg)); string(got) != msg {
		t.Fatalf("sent %q, got %q back", msg, got)
	}
}

// Linux doubles the buffer sizes asked for (the kernel counts its own
// bookkeeping in them): the option event, the details and the accept
// event say what the kernel reports.
func TestSockoptBufferSizesAsTheKernelReportsThem(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"rcvbuf":65536,"sndbuf":32768}`)
	ev := optionEvent(t, sink, srv.ID)
	req, eff := metaMap(t, ev, "requested"), metaMap(t, ev, "effective")
	if req["rcvbuf"] != 65536 || req["sndbuf"] != 32768 || req["backlog"] != DefaultBacklog || req["reuse_addr"] != true {
		t.Errorf("requested %v, want rcvbuf 65536, sndbuf 32768, backlog %d, reuse_addr true", req, DefaultBacklog)
	}
	meta := acceptMeta(t, sink, srv)
	if runtime.GOOS != "linux" {
		if n, _ := eff["SO_RCVBUF"].(int); n < 65536 {
			t.Errorf("effective SO_RCVBUF %v, want at least 65536", eff["SO_RCVBUF"])
		}
		return
	}
	if eff["SO_RCVBUF"] != 131072 || eff["SO_SNDBUF"] != 65536 || eff["SO_REUSEADDR"] != true || eff["backlog"] != DefaultBacklog {
		t.Errorf("effective %v, want SO_RCVBUF 131072, SO_SNDBUF 65536, SO_REUSEADDR true, backlog %d", eff, DefaultBacklog)
	}
	if n := readProcInt("/proc/sys/net/core/somaxconn"); n > 0 && eff["somaxconn"] != n {
		t.Errorf("effective somaxconn %v, want %d", eff["somaxconn"], n)
	}
	note, _ := ev.Meta["note"].(string)
	for _, want := range []string{"Linux doubles SO_RCVBUF", "you asked for 65536, it reports 131072", "you asked for 32768, it reports 65536"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q does not say %q", note, want)
		}
	}
	info := lab.Servers("s")[0]
	if info.Details["SO_RCVBUF"] != 131072 || info.Details["SO_SNDBUF"] != 65536 {
		t.Errorf("details %v, want SO_RCVBUF 131072 and SO_SNDBUF 65536", info.Details)
	}
	// Accepted sockets inherit the listener's buffers.
	if meta["SO_RCVBUF"] != 131072 || meta["SO_SNDBUF"] != 65536 {
		t.Errorf("accept meta %v, want the inherited SO_RCVBUF 131072 and SO_SNDBUF 65536", meta)
	}
}

// Without buffer sizes asked for, the kernel's defaults are reported and
// there is nothing to explain.
func TestSockoptDefaultsHaveNoNote(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	ev := optionEvent(t, sink, srv.ID)
	if _, ok := ev.Meta["note"]; ok {
		t.Errorf("option event has a note without buffer sizes asked for: %v", ev.Meta)
	}
	req := metaMap(t, ev, "requested")
	if _, ok := req["rcvbuf"]; ok {
		t.Errorf("requested %v names rcvbuf, which was not asked for", req)
	}
	if _, ok := lab.Servers("s")[0].Counters["accept_queue"]; ok {
		t.Errorf("counters %v: accept_queue only matters with max_clients", lab.Servers("s")[0].Counters)
	}
	if meta := acceptMeta(t, sink, srv); meta["TCP_NODELAY"] != true || meta["SO_KEEPALIVE"] != true {
		t.Errorf("accept meta %v, want Go's defaults TCP_NODELAY and SO_KEEPALIVE true", meta)
	}
}

// max_clients 1 is a one-at-a-time server: a second client connects (the
// kernel finishes its handshake and queues it) and sends, but nothing reads
// its bytes until the first client leaves.
func TestSockoptMaxClientsOneAtATime(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startEcho(t, lab, "s", `{"max_clients":1}`)
	first := dial(t, srv.Addr)
	echoes(t, first, "one")

	second := dial(t, srv.Addr) // the connect succeeds: the kernel completed it
	write(t, second, []byte("two"))
	if runtime.GOOS == "linux" {
		// The kernel holds it, unaccepted (TCP_INFO of the listener).
		waitAcceptQueue(t, lab, sink, 1)
	}
	// No reply comes. The short deadline is sound for a negative
	// assertion: an answer needs the server to accept this connection, and
	// its accept loop waits for the first client's slot, which only this
	// test can free (by closing first, below). So no deadline, however
	// long, could see a reply; the deadline only bounds how long we look,
	// and a slow machine cannot turn this into a failure.
	if err := second.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := second.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second client read %d bytes, err %v, want no reply (a read timeout)", n, err)
	}
	if n := len(filter(sink.events(), KindAccept, srv.ID)); n != 1 {
		t.Fatalf("%d accept events while the first client is served, want 1", n)
	}
	if info := lab.Servers("s")[0]; info.Conns != 1 {
		t.Errorf("server holds %d connections, want 1", info.Conns)
	}

	first.Close()
	if err := second.SetDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, second, 3); string(got) != "two" {
		t.Fatalf("second client got %q, want its \"two\" echoed once the first left", got)
	}
	evs := sink.waitFor(t, "the second accept", func(evs []Event) bool { return len(filter(evs, KindAccept, srv.ID)) == 2 })
	accepts := filter(evs, KindAccept, srv.ID)
	iFirstClose := indexOf(evs, func(ev Event) bool { return ev.Conn == accepts[0].Conn && isClose(ev, "local", false) })
	iSecondAccept := indexOf(evs, func(ev Event) bool { return ev.Conn == accepts[1].Conn && ev.Kind == KindAccept })
	if iFirstClose < 0 || iFirstClose > iSecondAccept {
		t.Errorf("the second client is accepted (#%d) before the first connection closed (#%d):\n%s", iSecondAccept, iFirstClose, dumpEvents(evs))
	}
	if accepts[1].Remote != second.LocalAddr().String() {
		t.Errorf("second accept from %s, want %s", accepts[1].Remote, second.LocalAddr())
	}
}

// Stopping a server whose accept loop waits for a free slot ends it: the
// client still in the kernel's queue is reset, never accepted.
func TestSockoptMaxClientsStopUnblocksTheAcceptLoop(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"max_clients":1}`)
	first := dial(t, srv.Addr)
	echoes(t, first, "1")
	waiting := dial(t, srv.Addr)
	if runtime.GOOS == "linux" {
		waitAcceptQueue(t, lab, sink, 1)
	}
	if _, err := lab.StopServer("s", srv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := waiting.Read(make([]byte, 1)); !isEOFOrReset(err) {
		t.Errorf("queued client read after stop: %v, want EOF or reset", err)
	}
	evs := sink.events()
	if n := len(filter(evs, KindAccept, srv.ID)); n != 1 {
		t.Errorf("%d accept events, want 1 (the queued client is never accepted)", n)
	}
	if n := len(filter(evs, KindServerStop, srv.ID)); n != 1 {
		t.Errorf("%d server-stop events, want 1", n)
	}
	if c := lab.Servers("s")[0].Counters; c != nil {
		t.Errorf("stopped server counters %v, want none", c)
	}
}

// listenOverflows returns the kernel's count of SYNs dropped because a
// listener's accept queue was full (TcpExt ListenOverflows, the "times the
// listen queue of a socket overflowed" of netstat -s).
func listenOverflows() (int64, bool) {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return 0, false
	}
	var names []string
	for line := range strings.Lines(string(b)) {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "TcpExt:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, name := range names {
			if name == "ListenOverflows" && i < len(fields) {
				n, err := strconv.ParseInt(fields[i], 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

// The backlog is real: with max_clients 1 the server does not accept, and
// Linux queues backlog+1 connected clients (backlog 0 still queues one).
// The next client's SYN is dropped (the kernel counts a listen overflow)
// and its connect waits; it is retried and gets through once the queue
// has room. What is asserted is what Linux does deterministically: the
// queue length (TCP_INFO, the Recv-Q of ss -lnt), the dropped SYN, and that
// every client is served in the end. How long the extra connect waits (the
// SYN is retried after 1 s, then 3 s…) is not.
func TestSockoptBacklogQueuesBacklogPlusOne(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the accept queue is read with Linux's TCP_INFO")
	}
	for _, backlog := range []int{0, 1} {
		t.Run(fmt.Sprint("backlog ", backlog), func(t *testing.T) {
			lab, sink := newTestLab(t, LabConfig{})
			srv := startEcho(t, lab, "s", fmt.Sprintf(`{"max_clients":1,"backlog":%d}`, backlog))
			ev := optionEvent(t, sink, srv.ID)
			if req, eff := metaMap(t, ev, "requested"), metaMap(t, ev, "effective"); req["backlog"] != backlog || eff["backlog"] != backlog {
				t.Errorf("requested %v effective %v, want backlog %d in both", req, eff, backlog)
			}
			first := dial(t, srv.Addr)
			echoes(t, first, "first")

			// One at a time, so that each connect is queued before the next.
			var queued []net.Conn
			for i := range backlog + 1 {
				queued = append(queued, dial(t, srv.Addr))
				waitAcceptQueue(t, lab, sink, int64(i+1))
			}

			before, counted := listenOverflows()
			type dialed struct {
				c   net.Conn
				err error
			}
			extra := make(chan dialed, 1)
			var wg sync.WaitGroup
			t.Cleanup(wg.Wait)
			wg.Go(func() {
				c, err := net.DialTimeout("tcp", srv.Addr, waitTimeout)
				extra <- dialed{c, err}
			})
			if counted {
				sink.waitFor(t, "the kernel to drop the extra client's SYN (a listen overflow)", func([]Event) bool {
					n, _ := listenOverflows()
					return n > before
				})
			}
			if n, _ := acceptQueueOf(lab); n != int64(backlog+1) {
				t.Errorf("accept queue %d after the extra connect, want %d: it is full", n, backlog+1)
			}
			if n := len(filter(sink.events(), KindAccept, srv.ID)); n != 1 {
				t.Errorf("%d accept events, want 1", n)
			}

			// Each client leaving lets the next one in.
			first.Close()
			for i, c := range queued {
				if err := c.SetDeadline(time.Now().Add(waitTimeout)); err != nil {
					t.Fatal(err)
				}
				echoes(t, c, fmt.Sprint("queued ", i))
				c.Close()
			}
			d := <-extra
			if d.err != nil {
				t.Fatalf("the extra client's connect failed: %v (its SYN is retried, and the queue had room)", d.err)
			}
			defer d.c.Close()
			if err := d.c.SetDeadline(time.Now().Add(waitTimeout)); err != nil {
				t.Fatal(err)
			}
			echoes(t, d.c, "extra")
			if n := len(filter(sink.events(), KindAccept, srv.ID)); n != backlog+3 {
				t.Errorf("%d accept events, want %d: every client is served in turn", n, backlog+3)
			}
		})
	}
}

// nodelay and keepalive are set on each accepted connection; its accept
// event says what the kernel reports.
func TestSockoptAcceptMetaShowsNodelayAndKeepalive(t *testing.T) {
	tests := []struct {
		opts      string
		nodelay   bool
		keepalive bool
		idle      int // 0: not reported
	}{
		{``, true, true, DefaultKeepAlive},
		{`{"nodelay":false}`, false, true, DefaultKeepAlive},
		{`{"keepalive":false}`, true, false, 0},
		{`{"keepalive_interval":30}`, true, true, 30},
	}
	lab, sink := newTestLab(t, LabConfig{})
	for _, tt := range tests {
		t.Run(tt.opts, func(t *testing.T) {
			srv := startEcho(t, lab, "s", tt.opts)
			t.Cleanup(func() { lab.StopServer("s", srv.ID) })
			meta := acceptMeta(t, sink, srv)
			if meta["TCP_NODELAY"] != tt.nodelay || meta["SO_KEEPALIVE"] != tt.keepalive {
				t.Errorf("accept meta %v, want TCP_NODELAY %v SO_KEEPALIVE %v", meta, tt.nodelay, tt.keepalive)
			}
			if tt.idle == 0 {
				if _, ok := meta["TCP_KEEPIDLE"]; ok {
					t.Errorf("accept meta %v names TCP_KEEPIDLE without keepalive", meta)
				}
			} else if runtime.GOOS == "linux" && (meta["TCP_KEEPIDLE"] != tt.idle || meta["TCP_KEEPINTVL"] != tt.idle) {
				t.Errorf("accept meta %v, want TCP_KEEPIDLE and TCP_KEEPINTVL %d", meta, tt.idle)
			}
			if _, ok := meta["SO_RCVBUF"]; ok {
				t.Errorf("accept meta %v names SO_RCVBUF, which was not asked for", meta)
			}
		})
	}
}

// bind ::1 listens on IPv6 loopback, on a port of the lab's pool, and IPv6
// clients reach it: a terminal's, the lab's own, the Python snippet.
func TestSockoptBindIPv6Loopback(t *testing.T) {
	probe, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("IPv6 loopback is not available here: %v", err)
	}
	probe.Close()
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startEcho(t, lab, "s", `{"bind":"::1","mode":"upper"}`)
	host, port, err := net.SplitHostPort(srv.Addr)
	if err != nil || host != "::1" {
		t.Fatalf("server on %q, want [::1]:port", srv.Addr)
	}
	if p, _ := strconv.Atoi(port); !testPorts.Contains(p) {
		t.Errorf("port %s is not from the lab's pool %s", port, testPorts)
	}
	if ev := optionEvent(t, sink, srv.ID); ev.Local != srv.Addr {
		t.Errorf("option event local %q, want %q", ev.Local, srv.Addr)
	}
	c := dial(t, srv.Addr)
	write(t, c, []byte("hi"))
	if got := readN(t, c, 2); string(got) != "HI" {
		t.Errorf("got %q, want \"HI\"", got)
	}
	// A lab client reaches it too (the dial policy allows IPv6 loopback).
	ci := openClient(t, lab, "s", srv.Addr)
	if err := lab.Send("s", ci.ID, []byte("lab")); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, "the lab client's echo", func(evs []Event) bool {
		recvs := filter(evs, KindRecv, ci.ID)
		return len(recvs) > 0 && string(recvs[0].Data) == "LAB"
	})
	// (That 127.0.0.1 on the same port is refused is not asserted: the
	// lab's pool knows only its own ports, and another program, such as a
	// test run in another checkout, may listen there.)
	// The snippets name the IPv6 address, and the Python one works.
	snips := echoKind.SnippetsFor(srv.Addr, srv.Options)
	if !strings.Contains(snips[0].Code, "nc ::1 "+port) {
		t.Errorf("nc snippet %q, want nc ::1 %s", snips[0].Code, port)
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Log("python3 not found: the Python snippet is not run")
		return
	}
	for _, s := range snips {
		if s.Name != "python" {
			continue
		}
		out, err := exec.Command(python, "-c", s.Code).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "HELLO") {
			t.Errorf("python snippet: %v, output %q, want HELLO", err, out)
		}
	}
}

// SO_REUSEADDR off still listens; it refuses to bind a port whose earlier
// server left a connection in TIME_WAIT, which SO_REUSEADDR on allows.
func TestSockoptReuseAddrOff(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"reuse_addr":false}`)
	if eff := metaMap(t, optionEvent(t, sink, srv.ID), "effective"); eff["SO_REUSEADDR"] != false {
		t.Errorf("effective %v, want SO_REUSEADDR false", eff)
	}
	if d := lab.Servers("s")[0].Details; d["SO_REUSEADDR"] != false {
		t.Errorf("details %v, want SO_REUSEADDR false", d)
	}
	c := dial(t, srv.Addr)
	echoes(t, c, "still listens")
	// The client closes first, so TIME_WAIT is on its side: a socket
	// without SO_REUSEADDR in TIME_WAIT would keep even SO_REUSEADDR
	// servers off this lab port for a minute (both sockets need it), and
	// the next test run would find the port taken.
	c.Close()
	sink.waitFor(t, "the server's close", func(evs []Event) bool {
		return indexOf(filter(evs, KindClose, srv.ID), func(ev Event) bool { return isClose(ev, "local", false) }) >= 0
	})
	if _, err := lab.StopServer("s", srv.ID); err != nil {
		t.Fatal(err)
	}

	if runtime.GOOS != "linux" {
		return
	}
	// A greeting server closes first, so its side of the connection waits
	// in TIME_WAIT, holding the port.
	port := freeLabPort(t)
	greet, err := lab.StartServer("s", ServerSpec{Kind: "tcp-echo", Port: port, Options: []byte(`{"mode":"greet"}`)})
	if err != nil {
		t.Fatal(err)
	}
	c = dial(t, greet.Addr)
	readToEOF(t, c)
	c.Close()
	if _, err := lab.StopServer("s", greet.ID); err != nil {
		t.Fatal(err)
	}
	_, err = lab.StartServer("s", ServerSpec{Kind: "tcp-echo", Port: port, Options: []byte(`{"reuse_addr":false}`)})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("reuse_addr false on port %d after a closed connection: err %v, want EADDRINUSE", port, err)
	}
	if _, err := lab.StartServer("s", ServerSpec{Kind: "tcp-echo", Port: port}); err != nil {
		t.Fatalf("reuse_addr true on port %d: %v, want it to bind", port, err)
	}
}

// Out-of-range socket options are refused by the schema before anything
// binds.
func TestSockoptBadValuesAreRefused(t *testing.T) {
	tests := []struct{ opts, option, want string }{
		{`{"backlog":-1}`, "backlog", "-1 is out of range; want 0 to 4096 connections"},
		{`{"backlog":4097}`, "backlog", "out of range"},
		{`{"rcvbuf":9e6}`, "rcvbuf", "9000000 is out of range; want 0 to 8388608 bytes"},
		{`{"sndbuf":-1}`, "sndbuf", "out of range"},
		{`{"keepalive_interval":0}`, "keepalive_interval", "0 is out of range; want 1 to 7200 seconds"},
		{`{"keepalive_interval":7201}`, "keepalive_interval", "out of range"},
		{`{"max_clients":-1}`, "max_clients", "out of range"},
		{`{"max_clients":1025}`, "max_clients", "want 0 to 1024 connections"},
		{`{"bind":"0.0.0.0"}`, "bind", `unknown value "0.0.0.0"; valid values: lab, ::1`},
		{`{"nodelay":"no"}`, "nodelay", "want a boolean"},
		{`{"reuse_addr":0}`, "reuse_addr", "want a boolean"},
	}
	lab, sink := newTestLab(t, LabConfig{})
	for _, tt := range tests {
		_, err := lab.StartServer("s", ServerSpec{Kind: "tcp-echo", Options: []byte(tt.opts)})
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != tt.option || !strings.Contains(oe.Msg, tt.want) {
			t.Errorf("%s: err %v, want an *OptionError on %s saying %q", tt.opts, err, tt.option, tt.want)
		}
	}
	if evs := sink.events(); len(evs) != 0 {
		t.Errorf("refused options emitted events:\n%s", dumpEvents(evs))
	}
}

// Every socket option is in the schema with a default of its type and a
// help line, folded under "more options"; the echo options are unchanged.
func TestSockoptSchema(t *testing.T) {
	primary := map[string]bool{"mode": true, "prefix": true, "recv_size": true, "oneshot": true}
	seen := map[string]bool{}
	for _, o := range echoKind.Options {
		seen[o.Name] = true
		if primary[o.Name] {
			if !o.Primary || o.Advanced {
				t.Errorf("%s: primary %v advanced %v, want a primary option as before", o.Name, o.Primary, o.Advanced)
			}
			continue
		}
		if !o.Advanced || o.Primary || o.Help == "" {
			t.Errorf("%s: advanced %v primary %v help %q, want an advanced option with help", o.Name, o.Advanced, o.Primary, o.Help)
		}
		if _, err := o.decodeValue([]byte(valueJSON(o.Default))); err != nil {
			t.Errorf("%s: its default %v is refused: %v", o.Name, o.Default, err)
		}
	}
	for _, name := range []string{"max_clients", "backlog", "reuse_addr", "nodelay", "keepalive", "keepalive_interval", "rcvbuf", "sndbuf", "bind"} {
		if !seen[name] {
			t.Errorf("no %s option", name)
		}
	}
}

func valueJSON(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}
