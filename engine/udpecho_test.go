package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startUDPEcho starts a udp-echo server (see startKind).
func startUDPEcho(t testing.TB, lab *Lab, session, opts string) ServerInfo {
	t.Helper()
	return startKind(t, lab, session, "udp-echo", opts)
}

// udpClient is a plain UDP socket on 127.0.0.1 (port 0: any), with a
// deadline on every read and write, closed when the test ends.
func udpClient(t testing.TB, port int) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatalf("bind UDP 127.0.0.1:%d: %v", port, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	return c
}

func udpAddr(t testing.TB, addr string) *net.UDPAddr {
	t.Helper()
	a, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// udpSend sends b to addr as one datagram.
func udpSend(t testing.TB, c *net.UDPConn, addr string, b []byte) {
	t.Helper()
	if n, err := c.WriteToUDP(b, udpAddr(t, addr)); err != nil || n != len(b) {
		t.Fatalf("sendto %s (%d bytes): wrote %d: %v", addr, len(b), n, err)
	}
}

// udpRecv reads one datagram and checks that it comes from addr.
func udpRecv(t testing.TB, c *net.UDPConn, addr string) []byte {
	t.Helper()
	buf := make([]byte, 1<<17)
	n, from, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("recvfrom: %v", err)
	}
	if from.String() != addr {
		t.Errorf("reply from %s, want %s", from, addr)
	}
	return buf[:n]
}

// udpNothingQueued reports whether no datagram waits on c (it does not wait).
func udpNothingQueued(t testing.TB, c *net.UDPConn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now())
	defer c.SetReadDeadline(time.Now().Add(waitTimeout))
	n, from, err := c.ReadFromUDP(make([]byte, 1<<16))
	if err == nil {
		t.Logf("queued: %d bytes from %s", n, from)
		return false
	}
	return errors.Is(err, os.ErrDeadlineExceeded)
}

// udpCounters returns the live counters of server id.
func udpCounters(t testing.TB, lab *Lab, session, id string) map[string]int64 {
	t.Helper()
	for _, s := range lab.Servers(session) {
		if s.ID == id {
			return s.Counters
		}
	}
	t.Fatalf("server %s is not listed", id)
	return nil
}

// udpWaitCounters waits until cond holds over server id's counters (events
// wake the wait; the recording is listed if it times out).
func udpWaitCounters(t testing.TB, lab *Lab, sink *testSink, session, id, what string, cond func(map[string]int64) bool) map[string]int64 {
	t.Helper()
	var c map[string]int64
	sink.waitFor(t, what, func([]Event) bool {
		c = udpCounters(t, lab, session, id)
		return cond(c)
	})
	return c
}

// udpHandled waits until server id has received n datagrams and answered
// or dropped each of them (the counters move after the reply is sent,
// which the client may see first), and returns its counters.
func udpHandled(t testing.TB, lab *Lab, sink *testSink, session, id string, n int64) map[string]int64 {
	t.Helper()
	return udpWaitCounters(t, lab, sink, session, id, fmt.Sprintf("%d datagrams received and handled", n), func(c map[string]int64) bool {
		return c["received"] == n && c["replied"]+c["dropped_lab_port"]+c["dropped_service_port"]+c["dropped_rate"] == n
	})
}

// udpDatagrams returns the datagram-in or -out events of server srv from peer.
func udpDatagrams(evs []Event, k Kind, srv, peer string) []Event {
	var out []Event
	for _, ev := range filter(evs, k, srv) {
		if ev.Remote == peer {
			out = append(out, ev)
		}
	}
	return out
}

// freeUDPLabPort binds a UDP socket on a free port of the test range,
// searching from the top, away from the ports the pool hands out first.
func freeUDPLabPort(t testing.TB) *net.UDPConn {
	t.Helper()
	for p := testPorts.Last; p >= testPorts.First; p-- {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			continue
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(waitTimeout))
		return c
	}
	t.Fatal("no free UDP port in the test range")
	return nil
}

func TestUDPEchoRepliesByteExact(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{CaptureCap: -1})
	tests := []struct {
		name string
		opts string
		send string
		want string
	}{
		{"echo returns bytes unchanged", `{"mode":"echo"}`, "hello \x00\xff world\n", "hello \x00\xff world\n"},
		{"default mode is echo", ``, "ping", "ping"},
		{"prefix default", `{"mode":"prefix"}`, "hello\n", "ACK: hello\n"},
		{"prefix custom", `{"mode":"prefix","prefix":"Server received: "}`, "\x00\x01", "Server received: \x00\x01"},
		{"prefix explicitly empty", `{"mode":"prefix","prefix":""}`, "hello", "hello"},
		{"echo ignores the prefix", `{"mode":"echo","prefix":">> "}`, "hi", "hi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startUDPEcho(t, lab, "s", tt.opts)
			t.Cleanup(func() { lab.StopServer("s", srv.ID) })
			c := udpClient(t, 0)
			// Two datagrams: the reply buffer of the prefix mode is reused.
			for range 2 {
				udpSend(t, c, srv.Addr, []byte(tt.send))
				if got := udpRecv(t, c, srv.Addr); string(got) != tt.want {
					t.Errorf("sent %q, got %q, want %q", tt.send, got, tt.want)
				}
			}
		})
	}
}

// One datagram is one recvfrom is one datagram-in event, and one reply is
// one datagram: three datagrams sent back to back stay three.
func TestUDPEchoKeepsDatagramBoundaries(t *testing.T) {
	const session = "sess-udp"
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startUDPEcho(t, lab, session, `{"mode":"echo"}`)
	if srv.Net != NetUDP || srv.Kind != "udp-echo" {
		t.Errorf("server net %q kind %q, want udp udp-echo", srv.Net, srv.Kind)
	}
	c := udpClient(t, 0)
	peer := c.LocalAddr().String()
	sent := [][]byte{[]byte("a"), bytes.Repeat([]byte("b"), 300), bytes.Repeat([]byte("c"), 1400)}
	for _, b := range sent {
		udpSend(t, c, srv.Addr, b)
	}
	for i, b := range sent {
		if got := udpRecv(t, c, srv.Addr); !bytes.Equal(got, b) {
			t.Errorf("reply %d: %d bytes, want the %d bytes of datagram %d", i, len(got), len(b), i)
		}
	}
	evs := sink.waitFor(t, "3 datagram-out events", func(evs []Event) bool { return len(filter(evs, KindDatagramOut, srv.ID)) == 3 })
	if ls := filter(evs, KindListen, srv.ID); len(ls) != 1 || ls[0].Net != NetUDP || ls[0].Local != srv.Addr {
		t.Errorf("listen events %v, want one with net udp local %s", ls, srv.Addr)
	}
	if ss := filter(evs, KindServerStart, srv.ID); len(ss) != 1 || ss[0].Net != NetUDP {
		t.Errorf("server-start events %v, want one with net udp", ss)
	}
	ins, outs := filter(evs, KindDatagramIn, srv.ID), filter(evs, KindDatagramOut, srv.ID)
	if len(ins) != 3 || len(outs) != 3 {
		t.Fatalf("%d datagram-in and %d datagram-out events, want 3 and 3:\n%s", len(ins), len(outs), dumpEvents(evs))
	}
	conn := ins[0].Conn
	if !strings.HasPrefix(conn, "c-") {
		t.Errorf("Conn = %q, want a c- id", conn)
	}
	var kinds []Kind
	for _, ev := range connEvents(evs, conn) {
		kinds = append(kinds, ev.Kind)
		if ev.Session != session || ev.Net != NetUDP || ev.Local != srv.Addr || ev.Remote != peer {
			t.Errorf("%s event: session %q net %q local %q remote %q; want %q udp %q %q", ev.Kind, ev.Session, ev.Net, ev.Local, ev.Remote, session, srv.Addr, peer)
		}
	}
	want := []Kind{KindDatagramIn, KindDatagramOut, KindDatagramIn, KindDatagramOut, KindDatagramIn, KindDatagramOut}
	if !slices.Equal(kinds, want) {
		t.Errorf("the peer's events %v, want %v", kinds, want)
	}
	for i, b := range sent {
		for _, ev := range []Event{ins[i], outs[i]} {
			if ev.Len != len(b) || !bytes.Equal(ev.Data, b) || ev.Truncated || ev.Meta != nil {
				t.Errorf("%s %d: len %d, %d bytes of data, truncated %v, meta %v; want the %d bytes sent and no meta",
					ev.Kind, i, ev.Len, len(ev.Data), ev.Truncated, ev.Meta, len(b))
			}
		}
	}
	got := udpHandled(t, lab, sink, session, srv.ID, 3)
	if got["received"] != 3 || got["replied"] != 3 || got["dropped_lab_port"] != 0 || got["dropped_rate"] != 0 {
		t.Errorf("counters %v, want received 3 replied 3, nothing dropped", got)
	}
}

// UDP has empty datagrams (TCP cannot send zero bytes): one is received as
// one event of length 0 and echoed as an empty datagram.
func TestUDPEchoEmptyDatagram(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startUDPEcho(t, lab, "s", "")
	c := udpClient(t, 0)
	udpSend(t, c, srv.Addr, nil)
	if got := udpRecv(t, c, srv.Addr); len(got) != 0 {
		t.Errorf("reply %q, want an empty datagram", got)
	}
	evs := sink.waitFor(t, "the datagram-out", func(evs []Event) bool { return len(filter(evs, KindDatagramOut, srv.ID)) == 1 })
	if in := filter(evs, KindDatagramIn, srv.ID); len(in) != 1 || in[0].Len != 0 {
		t.Errorf("datagram-in events %v, want one of length 0", in)
	}
}

// A datagram longer than recv_size is cut by the kernel, as recvfrom does:
// the rest is lost (not read by a next call), and the event says so.
func TestUDPEchoRecvSizeTruncates(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startUDPEcho(t, lab, "s", `{"recv_size":10}`)
	c := udpClient(t, 0)
	udpSend(t, c, srv.Addr, []byte("0123456789abcdefghijklmno"))
	if got := udpRecv(t, c, srv.Addr); string(got) != "0123456789" {
		t.Errorf("reply %q, want the first 10 bytes %q", got, "0123456789")
	}
	udpSend(t, c, srv.Addr, []byte("exactly10!"))
	if got := udpRecv(t, c, srv.Addr); string(got) != "exactly10!" {
		t.Errorf("reply %q, want %q", got, "exactly10!")
	}
	evs := sink.waitFor(t, "2 datagram-out events", func(evs []Event) bool { return len(filter(evs, KindDatagramOut, srv.ID)) == 2 })
	ins := filter(evs, KindDatagramIn, srv.ID)
	if len(ins) != 2 {
		t.Fatalf("%d datagram-in events, want 2 (the rest of a cut datagram is not another read):\n%s", len(ins), dumpEvents(evs))
	}
	if ev := ins[0]; ev.Len != 10 || string(ev.Data) != "0123456789" || ev.Meta["truncated_by_kernel"] != true || ev.Meta["recv_size"] != 10 {
		t.Errorf("cut datagram's event: len %d data %q meta %v, want 10 bytes, truncated_by_kernel and recv_size 10", ev.Len, ev.Data, ev.Meta)
	}
	// The kernel's MSG_TRUNC tells a datagram that just fits from a longer
	// one; where it is not known, a full buffer counts as cut.
	if msgTrunc != 0 {
		if ev := ins[1]; ev.Len != 10 || ev.Meta != nil {
			t.Errorf("a datagram of exactly recv_size: len %d meta %v, want 10 and no meta", ev.Len, ev.Meta)
		}
	}
}

// Each peer address is a flow with its own connection id, so the page can
// filter one peer's exchange.
func TestUDPEchoPeersHaveTheirOwnConnIDs(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startUDPEcho(t, lab, "s", "")
	a, b := udpClient(t, 0), udpClient(t, 0)
	for _, msg := range []string{"a1", "b1", "a2", "b2"} {
		c := a
		if msg[0] == 'b' {
			c = b
		}
		udpSend(t, c, srv.Addr, []byte(msg))
		udpRecv(t, c, srv.Addr)
	}
	evs := sink.waitFor(t, "4 datagram-out events", func(evs []Event) bool { return len(filter(evs, KindDatagramOut, srv.ID)) == 4 })
	ids := map[string]string{}
	for _, c := range []*net.UDPConn{a, b} {
		peer := c.LocalAddr().String()
		got := append(udpDatagrams(evs, KindDatagramIn, srv.ID, peer), udpDatagrams(evs, KindDatagramOut, srv.ID, peer)...)
		if len(got) != 4 {
			t.Fatalf("%d events with remote %s, want 4:\n%s", len(got), peer, dumpEvents(evs))
		}
		for _, ev := range got {
			if ev.Conn != got[0].Conn {
				t.Errorf("peer %s: events on connections %s and %s, want one", peer, got[0].Conn, ev.Conn)
			}
		}
		ids[peer] = got[0].Conn
	}
	if ids[a.LocalAddr().String()] == ids[b.LocalAddr().String()] {
		t.Errorf("two peers share the connection id %s", ids[a.LocalAddr().String()])
	}
}

// The server remembers the udpFlowsKept most recently heard peers: an older
// one that comes back is a new flow (a new id), a recent one is not.
func TestUDPEchoForgetsTheLeastRecentPeer(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startUDPEcho(t, lab, "s", "")
	first, recent := udpClient(t, 0), udpClient(t, 0)
	exchange := func(c *net.UDPConn) {
		t.Helper()
		udpSend(t, c, srv.Addr, []byte("x"))
		udpRecv(t, c, srv.Addr)
	}
	exchange(first)
	// udpFlowsKept-1 other peers, on distinct ports (the kernel may hand a
	// closed socket's port out again), below the ephemeral range and above
	// the test range so that none is a lab port.
	for p, n := testPorts.Last+1000, 0; n < udpFlowsKept-1; p++ {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			continue
		}
		c.SetDeadline(time.Now().Add(waitTimeout))
		exchange(c)
		c.Close()
		n++
	}
	exchange(recent) // the first peer is now the least recent of udpFlowsKept+1
	exchange(first)
	exchange(recent)
	evs := sink.events()
	ids := func(c *net.UDPConn) []string {
		var out []string
		for _, ev := range udpDatagrams(evs, KindDatagramIn, srv.ID, c.LocalAddr().String()) {
			out = append(out, ev.Conn)
		}
		return out
	}
	if got := ids(first); len(got) != 2 || got[0] == got[1] {
		t.Errorf("the forgotten peer's connection ids %v, want two different ones", got)
	}
	if got := ids(recent); len(got) != 2 || got[0] != got[1] {
		t.Errorf("the recent peer's connection ids %v, want the same one twice", got)
	}
}

// Two echo servers pointed at each other would answer each other for ever:
// a datagram from a lab port of this machine (where another playground
// server may run) gets its datagram-in event saying why, and no reply.
func TestUDPEchoNeverAnswersALabPort(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startUDPEcho(t, lab, "s", "")
	other := freeUDPLabPort(t) // as if another udp-echo server sent it
	udpSend(t, other, srv.Addr, []byte("loop?"))
	// The server reads in order: once a later datagram is answered, the
	// first one has been handled.
	c := udpClient(t, 0)
	udpSend(t, c, srv.Addr, []byte("ping"))
	udpRecv(t, c, srv.Addr)
	got := udpHandled(t, lab, sink, "s", srv.ID, 2)
	if got["dropped_lab_port"] != 1 || got["replied"] != 1 {
		t.Errorf("counters %v, want dropped_lab_port 1 and replied 1", got)
	}
	if !udpNothingQueued(t, other) {
		t.Errorf("the lab port got a reply")
	}
	evs := sink.events()
	peer := other.LocalAddr().String()
	if outs := udpDatagrams(evs, KindDatagramOut, srv.ID, peer); len(outs) != 0 {
		t.Errorf("datagram-out events to the lab port: %v", outs)
	}
	ins := udpDatagrams(evs, KindDatagramIn, srv.ID, peer)
	if len(ins) != 1 {
		t.Fatalf("%d datagram-in events from the lab port, want 1:\n%s", len(ins), dumpEvents(evs))
	}
	why, _ := ins[0].Meta["dropped"].(string)
	if string(ins[0].Data) != "loop?" || ins[0].Meta["drop_rule"] != "lab_port" ||
		!strings.Contains(why, strconv.Itoa(portNum(t, peer))) || !strings.Contains(why, "lab port") {
		t.Errorf("datagram-in data %q meta %v, want \"loop?\", drop_rule lab_port and a reason naming port %d, a lab port", ins[0].Data, ins[0].Meta, portNum(t, peer))
	}
}

// Bound to all interfaces (as in the container image), the server answers
// a loopback client from its own address and still never answers a lab
// port: datagrams from any address of this machine are judged like
// loopback ones.
func TestUDPEchoOnAllInterfaces(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{Host: "0.0.0.0"})
	srv := startUDPEcho(t, lab, "s", "")
	port := portNum(t, srv.Addr)
	local := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := udpClient(t, 0)
	udpSend(t, c, local, []byte("hi"))
	if got := udpRecv(t, c, local); string(got) != "hi" {
		t.Errorf("reply %q, want %q", got, "hi")
	}
	other := freeUDPLabPort(t)
	udpSend(t, other, local, []byte("loop?"))
	udpSend(t, c, local, []byte("ping"))
	udpRecv(t, c, local)
	got := udpHandled(t, lab, sink, "s", srv.ID, 3)
	if got["dropped_lab_port"] != 1 || got["replied"] != 2 || !udpNothingQueued(t, other) {
		t.Errorf("counters %v, want dropped_lab_port 1 and replied 2, and no reply to the lab port", got)
	}
	// From another address of this machine, when it has one.
	var own net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			own = n.IP.To4()
			break
		}
	}
	if own == nil {
		t.Log("no IPv4 address besides loopback: the check of the machine's other addresses is not tried")
		return
	}
	var fromOwn *net.UDPConn
	for p := testPorts.Last; p >= testPorts.First && fromOwn == nil; p-- {
		fromOwn, _ = net.ListenUDP("udp", &net.UDPAddr{IP: own, Port: p})
	}
	if fromOwn == nil {
		t.Fatalf("no free UDP port of the test range on %s", own)
	}
	defer fromOwn.Close()
	fromOwn.SetDeadline(time.Now().Add(waitTimeout))
	there := net.JoinHostPort(own.String(), strconv.Itoa(port))
	udpSend(t, fromOwn, there, []byte("loop?"))
	udpSend(t, c, local, []byte("ping"))
	udpRecv(t, c, local)
	got = udpHandled(t, lab, sink, "s", srv.ID, 5)
	if got["dropped_lab_port"] != 2 || got["replied"] != 3 || !udpNothingQueued(t, fromOwn) {
		t.Errorf("counters %v, want dropped_lab_port 2 and replied 3, and no reply to %s", got, fromOwn.LocalAddr())
	}
}

// The tutorial ports are where the tutorials' own servers listen (9090 for
// UDP): never answered either.
func TestUDPEchoNeverAnswersATutorialPort(t *testing.T) {
	tut := udpClient(t, 0) // its port stands for a tutorial port
	lab, sink := newTestLab(t, LabConfig{TutorialPorts: []int{portNum(t, tut.LocalAddr().String())}})
	srv := startUDPEcho(t, lab, "s", "")
	udpSend(t, tut, srv.Addr, []byte("loop?"))
	c := udpClient(t, 0)
	udpSend(t, c, srv.Addr, []byte("ping"))
	udpRecv(t, c, srv.Addr)
	got := udpHandled(t, lab, sink, "s", srv.ID, 2)
	if got["dropped_lab_port"] != 1 || got["replied"] != 1 || !udpNothingQueued(t, tut) {
		t.Errorf("counters %v, want dropped_lab_port 1 and replied 1, and no reply to the tutorial port", got)
	}
	ins := udpDatagrams(sink.events(), KindDatagramIn, srv.ID, tut.LocalAddr().String())
	if len(ins) != 1 || !strings.Contains(fmt.Sprint(ins[0].Meta["dropped"]), "tutorial port") {
		t.Errorf("datagram-in events from the tutorial port %v, want one whose reason says tutorial port", ins)
	}
}

// A datagram from a port below 1024 (chargen 19, DNS 53…) is never
// answered: echo servers pointed at such services loop or bounce attacks.
func TestUDPEchoNeverAnswersAServicePort(t *testing.T) {
	var svc *net.UDPConn
	for _, p := range []int{19, 7, 53, 1023} {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err == nil {
			svc = c
			break
		}
		if errors.Is(err, syscall.EACCES) {
			t.Skip("binding a port below 1024 needs privileges here: the service-port rule is not tried")
		}
	}
	if svc == nil {
		t.Skip("no free port below 1024: the service-port rule is not tried")
	}
	t.Cleanup(func() { svc.Close() })
	svc.SetDeadline(time.Now().Add(waitTimeout))
	lab, sink := newTestLab(t, LabConfig{})
	srv := startUDPEcho(t, lab, "s", "")
	udpSend(t, svc, srv.Addr, []byte("chargen?"))
	c := udpClient(t, 0)
	udpSend(t, c, srv.Addr, []byte("ping"))
	udpRecv(t, c, srv.Addr)
	got := udpHandled(t, lab, sink, "s", srv.ID, 2)
	if got["dropped_service_port"] != 1 || got["replied"] != 1 || !udpNothingQueued(t, svc) {
		t.Errorf("counters %v, want dropped_service_port 1 and replied 1, and no reply to %s", got, svc.LocalAddr())
	}
	ins := udpDatagrams(sink.events(), KindDatagramIn, srv.ID, svc.LocalAddr().String())
	if len(ins) != 1 || ins[0].Meta["drop_rule"] != "service_port" || !strings.Contains(fmt.Sprint(ins[0].Meta["dropped"]), "below 1024") {
		t.Errorf("datagram-in events from the service port %v, want one with drop_rule service_port saying below 1024", ins)
	}
}

// Past rate replies a second, a source is not answered; the drops are
// counted, and only the first of each second gets an event.
func TestUDPEchoRateLimitDropsAndCounts(t *testing.T) {
	const n = 20
	lab, sink := newTestLab(t, LabConfig{})
	srv := startUDPEcho(t, lab, "s", `{"rate":1}`)
	c := udpClient(t, 0)
	start := time.Now()
	for i := range n {
		udpSend(t, c, srv.Addr, []byte(strconv.Itoa(i)))
	}
	got := udpHandled(t, lab, sink, "s", srv.ID, n)
	elapsed := time.Since(start)
	if got["replied"]+got["dropped_rate"] != n || got["replied"] < 1 || got["dropped_rate"] < 1 {
		t.Fatalf("counters %v, want replied + dropped_rate = %d, each at least 1", got, n)
	}
	// Exactly what was answered arrives, and nothing more.
	for range got["replied"] {
		udpRecv(t, c, srv.Addr)
	}
	if !udpNothingQueued(t, c) {
		t.Errorf("more replies than the %d counted", got["replied"])
	}
	evs := sink.events()
	peer := c.LocalAddr().String()
	var shown int
	for _, ev := range udpDatagrams(evs, KindDatagramIn, srv.ID, peer) {
		if ev.Meta["dropped"] == nil {
			continue
		}
		shown++
		if ev.Meta["drop_rule"] != "rate" || !strings.Contains(fmt.Sprint(ev.Meta["dropped"]), "the rate option answers (1 a second)") {
			t.Errorf("dropped datagram's meta %v, want drop_rule rate and a reason naming the rate", ev.Meta)
		}
	}
	if shown < 1 || int64(shown) > got["dropped_rate"] {
		t.Errorf("%d dropped datagrams shown, want 1 to %d", shown, got["dropped_rate"])
	}
	if outs := udpDatagrams(evs, KindDatagramOut, srv.ID, peer); int64(len(outs)) != got["replied"] {
		t.Errorf("%d datagram-out events, want %d", len(outs), got["replied"])
	}
	// Within one second (a machine that did not stall): one reply, one event.
	if elapsed < time.Second && (got["replied"] != 1 || shown != 1) {
		t.Errorf("within %v: %d replied and %d drops shown, want 1 and 1", elapsed, got["replied"], shown)
	}
	// The limit is per source: another one is answered.
	d := udpClient(t, 0)
	udpSend(t, d, srv.Addr, []byte("other"))
	if got := udpRecv(t, d, srv.Addr); string(got) != "other" {
		t.Errorf("another source got %q, want %q", got, "other")
	}
}

// A failed sendto is an error event on the peer's flow; the server goes on.
func TestUDPEchoSendtoErrorKeepsServing(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startUDPEcho(t, lab, "s", `{"mode":"prefix","prefix":"`+strings.Repeat("p", 1024)+`"}`)
	c := udpClient(t, 0)
	// 65000 bytes fit in a datagram; with the prefix the reply is over the
	// 65507 bytes UDP over IPv4 carries: EMSGSIZE.
	udpSend(t, c, srv.Addr, make([]byte, 65000))
	evs := sink.waitFor(t, "the sendto error", func(evs []Event) bool { return len(filter(evs, KindError, srv.ID)) == 1 })
	ev := filter(evs, KindError, srv.ID)[0]
	if ev.Err == nil || ev.Err.Errno != "EMSGSIZE" || ev.Err.Hint == "" || ev.Meta["op"] != "sendto" || ev.Meta["len"] != 66024 ||
		ev.Net != NetUDP || ev.Remote != c.LocalAddr().String() {
		t.Errorf("error event %+v meta %v remote %s, want EMSGSIZE with a hint, op sendto, len 66024, remote the client", ev.Err, ev.Meta, ev.Remote)
	}
	udpSend(t, c, srv.Addr, []byte("small"))
	if got := udpRecv(t, c, srv.Addr); string(got) != strings.Repeat("p", 1024)+"small" {
		t.Errorf("after the error: reply of %d bytes, want the prefix and \"small\"", len(got))
	}
	udpWaitCounters(t, lab, sink, "s", srv.ID, "received 2 replied 1", func(c map[string]int64) bool { return c["received"] == 2 && c["replied"] == 1 })
}

// udpGateSink holds the server's goroutine on the first datagram-in from peer
// until the test opens the gate.
type udpGateSink struct {
	*testSink
	peer    string
	reached chan struct{}
	open    chan struct{}
}

func (g *udpGateSink) Emit(ev Event) {
	g.testSink.Emit(ev)
	if ev.Kind == KindDatagramIn && ev.Remote == g.peer {
		select {
		case <-g.reached:
		default:
			close(g.reached)
			<-g.open
		}
	}
}

// A reply to a port that closed meanwhile comes back as an ICMP port
// unreachable. With IP_RECVERR (what Linux does for connected sockets) the
// next recvfrom fails with ECONNREFUSED: an error event, and the server
// goes on serving.
func TestUDPEchoICMPErrorKeepsServing(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("IP_RECVERR is Linux's")
	}
	gone := udpClient(t, 0)
	sink := &udpGateSink{testSink: newTestSink(), peer: gone.LocalAddr().String(), reached: make(chan struct{}), open: make(chan struct{})}
	lab := NewLab(LabConfig{Host: "127.0.0.1", Ports: testPorts}, sink, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { lab.Close() })
	srv := startUDPEcho(t, lab, "s", "")
	lab.mu.Lock()
	ps := lab.sessions["s"].servers[srv.ID].(*packetServer)
	lab.mu.Unlock()
	raw, err := ps.pc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, 11 /* IP_RECVERR */, 1)
	}); err != nil || serr != nil {
		t.Fatalf("setsockopt IP_RECVERR: %v %v", err, serr)
	}

	udpSend(t, gone, srv.Addr, []byte("bye"))
	<-sink.reached // the server holds the datagram, its reply not yet sent
	gone.Close()
	close(sink.open)
	evs := sink.waitFor(t, "the ICMP error", func(evs []Event) bool { return len(filter(evs, KindError, srv.ID)) == 1 })
	ev := filter(evs, KindError, srv.ID)[0]
	if ev.Err == nil || ev.Err.Errno != "ECONNREFUSED" || ev.Meta["op"] != "recvfrom" || ev.Meta["icmp"] != true || ev.Net != NetUDP || ev.Local != srv.Addr {
		t.Errorf("error event %+v meta %v, want ECONNREFUSED op recvfrom icmp", ev.Err, ev.Meta)
	}
	c := udpClient(t, 0)
	udpSend(t, c, srv.Addr, []byte("still there?"))
	if got := udpRecv(t, c, srv.Addr); string(got) != "still there?" {
		t.Errorf("after the ICMP error: reply %q", got)
	}
}

func TestUDPEchoStopIsClean(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startUDPEcho(t, lab, "s", "")
	c := udpClient(t, 0)
	udpSend(t, c, srv.Addr, []byte("x"))
	udpRecv(t, c, srv.Addr)
	info, err := lab.StopServer("s", srv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != StateStopped || info.StopReason != StopByUser || info.Counters["replied"] != 1 {
		t.Errorf("stopped server: state %q reason %q counters %v, want stopped, %q, replied 1", info.State, info.StopReason, info.Counters, StopByUser)
	}
	evs := sink.events()
	last := evs[len(evs)-1]
	if last.Kind != KindServerStop || last.Server != srv.ID || last.Net != NetUDP || last.Meta["reason"] != StopByUser {
		t.Errorf("last event %s meta %v, want the server-stop", last.Kind, last.Meta)
	}
	// The port is free again (its claim in the pool too).
	again, err := net.ListenUDP("udp", udpAddr(t, srv.Addr))
	if err != nil {
		t.Fatalf("rebinding the stopped server's port: %v", err)
	}
	again.Close()
	if open, _ := lab.OpenSockets(); open != 0 {
		t.Errorf("%d sockets counted open, want 0", open)
	}
}

// A read goroutine that waits for the session's event rate stops waiting
// when the server stops.
func TestUDPEchoStopWhilePaced(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{MaxEventRate: 1})
	srv := startUDPEcho(t, lab, "s", "")
	// The session's other sockets used up its next 100 seconds of events.
	lab.mu.Lock()
	lab.sessions["s"].pace.bucket.reserve(100, time.Now())
	lab.mu.Unlock()
	c := udpClient(t, 0)
	udpSend(t, c, srv.Addr, []byte("x"))
	sink.waitFor(t, "the server waiting for the event rate", func([]Event) bool { return lab.Throttled("s") > 0 })
	done := make(chan struct{})
	go func() {
		defer close(done)
		lab.StopServer("s", srv.ID)
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("StopServer did not return while the server waited for the event rate")
	}
	evs := sink.events()
	if last := evs[len(evs)-1]; last.Kind != KindServerStop {
		t.Errorf("last event %s, want server-stop", last.Kind)
	}
	// The datagram it held is still recorded, before the stop.
	if n := len(filter(evs, KindDatagramIn, srv.ID)); n != 1 {
		t.Errorf("%d datagram-in events, want 1:\n%s", n, dumpEvents(evs))
	}
}

func TestUDPEchoRejectsBadOptions(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	tests := []struct{ opts, option, msg string }{
		{`{"mode":"upper"}`, "mode", `unknown value "upper"; valid values: echo, prefix`},
		{`{"rate":0}`, "rate", "0 is out of range; want 1 to 100000"},
		{`{"rate":100001}`, "rate", "out of range"},
		{`{"recv_size":70000}`, "recv_size", "70000 is out of range; want 1 to 65535 bytes"},
		{`{"recv_size":0}`, "recv_size", "out of range"},
		{`{"prefix":"` + strings.Repeat("x", 1025) + `"}`, "prefix", "at most 1024 bytes"},
		{`{"oneshot":true}`, "oneshot", "valid options: mode, prefix, recv_size, rate"},
	}
	for _, tt := range tests {
		_, err := lab.StartServer("s", ServerSpec{Kind: "udp-echo", Options: json.RawMessage(tt.opts)})
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != tt.option || !strings.Contains(oe.Msg, tt.msg) {
			t.Errorf("%s: err = %v, want an *OptionError on %q saying %q", tt.opts, err, tt.option, tt.msg)
		}
	}
	if evs := sink.events(); len(evs) != 0 {
		t.Errorf("refused starts emitted events:\n%s", dumpEvents(evs))
	}
}

func TestUDPEchoKind(t *testing.T) {
	k := LookupServerKind("udp-echo")
	if k == nil || k.Net != NetUDP || k.TutorialPort != 9090 {
		t.Fatalf("udp-echo kind %+v, want net udp tutorial port 9090", k)
	}
	o, err := decodeOptions(k.Options, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.String("mode") != "echo" || o.String("prefix") != "ACK: " || o.Int("recv_size") != 65507 || o.Int("rate") != 100 {
		t.Errorf("defaults %v", o)
	}
	for _, s := range k.Options {
		if s.Help == "" {
			t.Errorf("option %s has no help", s.Name)
		}
	}
	if got := k.Summary(map[string]any{"mode": "prefix", "prefix": "ACK: ", "recv_size": 65507, "rate": 100}); got != `mode prefix · prefix "ACK: " · recv_size 65507` {
		t.Errorf("summary %q", got)
	}
	sn := k.SnippetsFor("0.0.0.0:9090", o)
	var names []string
	for _, s := range sn {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"nc", "nc-once", "python"}) || sn[0].Code != "nc -u 127.0.0.1 9090" ||
		sn[1].Code != "echo hello | nc -u -w1 127.0.0.1 9090" || !strings.Contains(sn[2].Code, "socket.AF_INET, socket.SOCK_DGRAM") {
		t.Errorf("snippets %v", sn)
	}
	if sn := k.SnippetsFor("[::1]:9090", o); !strings.Contains(sn[2].Code, "socket.AF_INET6") || !strings.Contains(sn[2].Code, `("::1", 9090)`) {
		t.Errorf("IPv6 python snippet:\n%s", sn[2].Code)
	}
}

func TestUDPEchoPythonSnippet(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the Python snippet is not tried")
	}
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	for _, tt := range []struct{ opts, want string }{
		{`{"mode":"echo"}`, `6 bytes from ('127.0.0.1', PORT): b'hello\n'`},
		{`{"mode":"prefix"}`, `11 bytes from ('127.0.0.1', PORT): b'ACK: hello\n'`},
	} {
		srv := startUDPEcho(t, lab, "s", tt.opts)
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		out, err := exec.CommandContext(ctx, python, "-c", snippetCode(t, srv, "python")).CombinedOutput()
		cancel()
		want := strings.ReplaceAll(tt.want, "PORT", strconv.Itoa(portNum(t, srv.Addr))) + "\n"
		if err != nil || string(out) != want {
			t.Errorf("%s: python printed %q (%v), want %q", tt.opts, out, err, want)
		}
		evs := sink.waitFor(t, "the reply's event", func(evs []Event) bool { return len(filter(evs, KindDatagramOut, srv.ID)) == 1 })
		if in := filter(evs, KindDatagramIn, srv.ID); len(in) != 1 || string(in[0].Data) != "hello\n" {
			t.Errorf("datagram-in events %v, want one of \"hello\\n\"", in)
		}
	}
}

func TestUDPEchoNcSnippet(t *testing.T) {
	if _, err := exec.LookPath("nc"); err != nil {
		t.Skip("nc is not installed: the netcat snippet is not tried")
	}
	lab, _ := newTestLab(t, LabConfig{})
	srv := startUDPEcho(t, lab, "s", `{"mode":"prefix"}`)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", snippetCode(t, srv, "nc-once")).CombinedOutput()
	if err != nil || string(out) != "ACK: hello\n" {
		t.Errorf("nc printed %q (%v), want %q", out, err, "ACK: hello\n")
	}
}
