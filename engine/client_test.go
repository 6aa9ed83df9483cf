package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// openClient opens a tcp client of session to target and fails the test if
// it cannot.
func openClient(t testing.TB, lab *Lab, session, target string) ClientInfo {
	t.Helper()
	ci, err := lab.OpenClient(context.Background(), session, ClientSpec{Kind: "tcp", Target: target})
	if err != nil {
		t.Fatalf("OpenClient(%s): %v", target, err)
	}
	return ci
}

// clientState returns the current state of client id.
func clientState(t testing.TB, lab *Lab, session, id string) string {
	t.Helper()
	c, err := lab.Client(session, id)
	if err != nil {
		t.Fatalf("Client(%s): %v", id, err)
	}
	return c.Info().State
}

func TestClientSendReceivesEcho(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startEcho(t, lab, session, `{"mode":"echo"}`)
	ci := openClient(t, lab, session, srv.Addr)
	if !strings.HasPrefix(ci.ID, "cli-") || ci.State != StateConnected || ci.Remote != srv.Addr || ci.Target != srv.Addr || ci.Conn == "" {
		t.Errorf("client info %+v: want a cli- id, connected, remote and target %s, a conn id", ci, srv.Addr)
	}
	connects := filter(sink.events(), KindConnect, ci.ID)
	if len(connects) != 1 {
		t.Fatalf("%d connect events, want 1:\n%s", len(connects), dumpEvents(sink.events()))
	}
	if ev := connects[0]; ev.Session != session || ev.Conn != ci.Conn || ev.Local != ci.Local || ev.Remote != srv.Addr {
		t.Errorf("connect event session %q conn %q local %q remote %q; want %q %q %q %q",
			ev.Session, ev.Conn, ev.Local, ev.Remote, session, ci.Conn, ci.Local, srv.Addr)
	}

	if err := lab.Send(session, ci.ID, []byte("hello")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	evs := sink.waitFor(t, "the client's recv of the echo", func(evs []Event) bool {
		return sumLen(filter(evs, KindRecv, ci.ID)) == 5
	})
	recvs := filter(evs, KindRecv, ci.ID)
	if len(recvs) != 1 || string(recvs[0].Data) != "hello" || recvs[0].Conn != ci.Conn {
		t.Errorf("client recv events, want one with \"hello\" on %s:\n%s", ci.Conn, dumpEvents(recvs))
	}
	sends := filter(evs, KindSend, ci.ID)
	if len(sends) != 1 || string(sends[0].Data) != "hello" || sends[0].Len != 5 {
		t.Errorf("client send events, want one with \"hello\":\n%s", dumpEvents(sends))
	}
	// Received is counted after the recv event is emitted.
	sink.waitFor(t, "the client's counters", func([]Event) bool {
		c, err := lab.Client(session, ci.ID)
		return err == nil && c.Info().Sent == 5 && c.Info().Received == 5
	})
}

func TestClientHalfCloseEndsConnection(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, session, `{"mode":"echo"}`)
	ci := openClient(t, lab, session, srv.Addr)

	info, err := lab.CloseClient(session, ci.ID, true)
	if err != nil {
		t.Fatalf("CloseClient(half): %v", err)
	}
	// The server may already have answered the FIN with its own.
	if info.State != StateWriteClosed && info.State != StateClosed {
		t.Errorf("state after half-close = %q, want write-closed (or closed)", info.State)
	}
	evs := sink.waitFor(t, "the server's close and the client's end of stream", func(evs []Event) bool {
		return len(filter(evs, KindClose, srv.ID)) == 2 && len(filter(evs, KindClose, ci.ID)) == 2
	})
	server := filter(evs, KindClose, srv.ID)
	if !isClose(server[0], "peer", true) || !isClose(server[1], "local", false) {
		t.Errorf("server close events %v then %v, want by=peer half=true then by=local", server[0].Meta, server[1].Meta)
	}
	// Which of the client's two close events comes first is
	// TestClientHalfCloseEventPrecedesPeerClose's business.
	client := filter(evs, KindClose, ci.ID)
	for _, want := range []string{"local", "peer"} {
		if indexOf(client, func(ev Event) bool { return isClose(ev, want, true) }) < 0 {
			t.Errorf("no client close event by=%s half=true:\n%s", want, dumpEvents(client))
		}
	}
	sink.waitFor(t, "the client's state to become closed", func([]Event) bool {
		return clientState(t, lab, session, ci.ID) == StateClosed
	})
	if c, _ := lab.Client(session, ci.ID); c.Info().ClosedAt.IsZero() {
		t.Errorf("closed client has no ClosedAt")
	}
}

// The client's shutdown(SHUT_WR) causes the server's FIN, so the client's
// events must say so in that order: the recorder numbers events in the order
// they are emitted, and the live view and the pcapng export (FIN sequence
// numbers) follow that order. The race is between Close and the client's
// read loop, so one try rarely shows it; the test repeats the exchange.
func TestClientHalfCloseEventPrecedesPeerClose(t *testing.T) {
	const session, tries = "s", 100
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, session, `{"mode":"echo"}`)
	bad := 0
	for range tries {
		ci := openClient(t, lab, session, srv.Addr)
		if _, err := lab.CloseClient(session, ci.ID, true); err != nil {
			t.Fatalf("CloseClient(half): %v", err)
		}
		evs := sink.waitFor(t, "the client's two close events", func(evs []Event) bool {
			return len(filter(evs, KindClose, ci.ID)) == 2
		})
		closes := filter(evs, KindClose, ci.ID)
		if !isClose(closes[0], "local", true) || !isClose(closes[1], "peer", true) {
			if bad == 0 {
				t.Errorf("client close events out of causal order:\n%s", dumpEvents(closes))
			}
			bad++
		}
		lab.CloseClient(session, ci.ID, false)
	}
	if bad > 0 {
		t.Errorf("%d of %d half-closes recorded the peer's FIN before the client's own shutdown", bad, tries)
	}
}

func TestClientSendAfterCloseIsEPIPE(t *testing.T) {
	for _, half := range []bool{true, false} {
		t.Run("half="+strconv.FormatBool(half), func(t *testing.T) {
			const session = "s"
			lab, sink := newTestLab(t, LabConfig{})
			srv := startEcho(t, lab, session, `{"mode":"echo"}`)
			ci := openClient(t, lab, session, srv.Addr)
			if _, err := lab.CloseClient(session, ci.ID, half); err != nil {
				t.Fatalf("CloseClient: %v", err)
			}
			err := lab.Send(session, ci.ID, []byte("late"))
			if !errors.Is(err, syscall.EPIPE) || !errors.Is(err, ErrClientClosed) {
				t.Fatalf("Send after close: err = %v, want one that is EPIPE and ErrClientClosed", err)
			}
			var sce *SendClosedError
			if !errors.As(err, &sce) {
				t.Errorf("err = %T, want *SendClosedError", err)
			}
			errs := filter(sink.events(), KindError, ci.ID)
			if len(errs) != 1 || errs[0].Err == nil {
				t.Fatalf("want one error event for the client:\n%s", dumpEvents(sink.events()))
			}
			if e := errs[0]; e.Err.Errno != "EPIPE" || e.Err.Hint == "" || e.Meta["op"] != "send" || e.Conn != ci.Conn {
				t.Errorf("error event %+v meta %v conn %s, want EPIPE with a hint, op=send, conn %s", *e.Err, e.Meta, e.Conn, ci.Conn)
			}
			if n := len(filter(sink.events(), KindSend, ci.ID)); n != 0 {
				t.Errorf("%d send events after close, want none", n)
			}
		})
	}
}

func TestClientConnectRefused(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{})
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(freeLabPort(t)))
	_, err := lab.OpenClient(context.Background(), session, ClientSpec{Kind: "tcp", Target: target})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("OpenClient(%s): err = %v, want ECONNREFUSED", target, err)
	}
	errs := filter(sink.events(), KindError, "")
	if len(errs) != 1 || errs[0].Err == nil {
		t.Fatalf("want one error event:\n%s", dumpEvents(sink.events()))
	}
	e := errs[0]
	if e.Err.Errno != "ECONNREFUSED" || e.Err.Hint == "" || e.Err.Message == "" {
		t.Errorf("error event %+v, want ECONNREFUSED with a message and a hint", *e.Err)
	}
	if e.Session != session || !strings.HasPrefix(e.Server, "cli-") || e.Remote != target || e.Meta["op"] != "connect" {
		t.Errorf("error event session %q owner %q remote %q meta %v; want %q, a cli- id, %s, op=connect", e.Session, e.Server, e.Remote, e.Meta, session, target)
	}
	if got := lab.Clients(session); len(got) != 0 {
		t.Errorf("Clients = %v, want none after a failed connect", got)
	}
}

// The default policy lets clients reach only the lab's own servers. A refusal
// happens in Dialer.Control, before connect(2): the listeners below, which a
// connect would have reached, find nothing in their accept queue.
func TestClientDialPolicyRefuses(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{})
	// A local service outside the lab range, and a lab port to which
	// connect("0.0.0.0") would really be routed on Linux.
	outside := listenLoopback(t, 0)
	labPort := freeLabPort(t)
	inside := listenLoopback(t, labPort)
	outsidePort := strconv.Itoa(portNum(t, outside.Addr().String()))
	// Check the check: a real connect does land in the accept queue.
	c, err := net.Dial("tcp", inside.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !pendingConn(t, inside) {
		t.Fatal("pendingConn does not see a connection that was made")
	}
	tests := []struct {
		target     string
		wantTarget string // the address the policy judged
	}{
		{"127.0.0.1:" + outsidePort, "127.0.0.1:" + outsidePort},
		{"127.0.0.1:22", "127.0.0.1:22"},
		{"127.0.0.1:" + strconv.Itoa(testPorts.Last+1), "127.0.0.1:" + strconv.Itoa(testPorts.Last+1)},
		{"[::1]:22", "[::1]:22"},
		{"0.0.0.0:" + strconv.Itoa(labPort), "0.0.0.0:" + strconv.Itoa(labPort)},
		{"10.0.0.1:80", "10.0.0.1:80"},
		{"169.254.169.254:80", "169.254.169.254:80"},
		{"[::ffff:169.254.169.254]:80", "169.254.169.254:80"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			before := len(filter(sink.events(), KindError, ""))
			_, err := lab.OpenClient(context.Background(), session, ClientSpec{Kind: "tcp", Target: tt.target})
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("OpenClient(%s): err = %v, want *RefusedError", tt.target, err)
			}
			if re.Target != tt.wantTarget || re.Reason == "" {
				t.Errorf("refused target %q reason %q, want target %q and a reason", re.Target, re.Reason, tt.wantTarget)
			}
			errs := filter(sink.events(), KindError, "")[before:]
			if len(errs) != 1 || errs[0].Err == nil || errs[0].Err.Errno != "EREFUSED" || errs[0].Err.Hint == "" {
				t.Errorf("want one EREFUSED error event with a hint:\n%s", dumpEvents(errs))
			}
			for _, ln := range []*net.TCPListener{outside, inside} {
				if pendingConn(t, ln) {
					t.Errorf("a connection reached %s: the policy must refuse before connect", ln.Addr())
				}
			}
		})
	}
	if n := len(filter(sink.events(), KindConnect, "")); n != 0 {
		t.Errorf("%d connect events, want none", n)
	}
}

// listenLoopback listens on 127.0.0.1:port (0 = any) without accepting.
func listenLoopback(t testing.TB, port int) *net.TCPListener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener)
}

// pendingConn reports whether a connection waits in ln's accept queue, and
// takes it out. A connect on loopback completes its handshake before it
// returns, so after a dial has failed this is an exact test of whether it
// reached the listener. ln's socket is non-blocking: an empty queue answers
// EAGAIN at once.
func pendingConn(t testing.TB, ln *net.TCPListener) bool {
	t.Helper()
	rc, err := ln.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	var aerr error
	if err := rc.Control(func(lfd uintptr) { fd, _, aerr = syscall.Accept(int(lfd)) }); err != nil {
		t.Fatal(err)
	}
	if aerr != nil {
		if !errors.Is(aerr, syscall.EAGAIN) {
			t.Fatalf("accept: %v", aerr)
		}
		return false
	}
	syscall.Close(fd)
	return true
}

func TestOpenClientLimitPerSession(t *testing.T) {
	const session = "s"
	lab, _ := newTestLab(t, LabConfig{MaxClientsPerSession: 2})
	srv := startEcho(t, lab, session, "")
	a := openClient(t, lab, session, srv.Addr)
	openClient(t, lab, session, srv.Addr)
	_, err := lab.OpenClient(context.Background(), session, ClientSpec{Kind: "tcp", Target: srv.Addr})
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("third client: err = %v, want ErrLimit", err)
	}
	// Per session, and a closed client no longer counts.
	openClient(t, lab, "other", srv.Addr)
	if _, err := lab.CloseClient(session, a.ID, false); err != nil {
		t.Fatal(err)
	}
	openClient(t, lab, session, srv.Addr)
}

func TestOpenClientRejectsBadSpec(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	tests := []struct {
		name string
		spec ClientSpec
		ok   func(error) bool
	}{
		{"unknown kind", ClientSpec{Kind: "carrier-pigeon", Target: "127.0.0.1:21000"}, func(err error) bool {
			var uk *UnknownKindError
			return errors.As(err, &uk) && errors.Is(err, ErrUnknownKind) && strings.Contains(err.Error(), "tcp")
		}},
		{"no port", ClientSpec{Kind: "tcp", Target: "127.0.0.1"}, isOptionError("target")},
		{"port past 65535", ClientSpec{Kind: "tcp", Target: "127.0.0.1:70000"}, isOptionError("target")},
		{"negative port", ClientSpec{Kind: "tcp", Target: "127.0.0.1:-1"}, isOptionError("target")},
		{"port not a number", ClientSpec{Kind: "tcp", Target: "127.0.0.1:abc"}, isOptionError("target")},
		{"port 0", ClientSpec{Kind: "tcp", Target: "127.0.0.1:0"}, isOptionError("target")},
		{"no host", ClientSpec{Kind: "tcp", Target: ":21000"}, isOptionError("target")},
		{"recv_size too big", ClientSpec{Kind: "tcp", Target: "127.0.0.1:21000", Options: []byte(`{"recv_size":70000}`)}, isOptionError("recv_size")},
		{"unknown option", ClientSpec{Kind: "tcp", Target: "127.0.0.1:21000", Options: []byte(`{"no_such_option":true}`)}, isOptionError("no_such_option")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := lab.OpenClient(context.Background(), "s", tt.spec); !tt.ok(err) {
				t.Errorf("OpenClient(%+v): err = %v", tt.spec, err)
			}
		})
	}
	if evs := sink.events(); len(evs) != 0 {
		t.Errorf("a rejected spec emitted events:\n%s", dumpEvents(evs))
	}
}

// isOptionError returns a check that err is an *OptionError on option.
func isOptionError(option string) func(error) bool {
	return func(err error) bool {
		var oe *OptionError
		return errors.As(err, &oe) && oe.Option == option
	}
}

func TestCloseSessionStopsOnlyItsServersAndClients(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	gone := startEcho(t, lab, "gone", "")
	kept := startEcho(t, lab, "kept", "")
	goneClient := openClient(t, lab, "gone", kept.Addr)
	keptClient := openClient(t, lab, "kept", gone.Addr)

	lab.CloseSession("gone")
	if got := lab.Servers("gone"); len(got) != 0 {
		t.Errorf("servers of the closed session: %v", got)
	}
	if got := lab.Clients("gone"); len(got) != 0 {
		t.Errorf("clients of the closed session: %v", got)
	}
	evs := sink.events()
	if n := len(filter(evs, KindServerStop, gone.ID)); n != 1 {
		t.Errorf("%d server-stop events for the closed session's server, want 1", n)
	}
	if indexOf(filter(evs, KindClose, goneClient.ID), func(ev Event) bool { return isClose(ev, "local", false) }) < 0 {
		t.Errorf("the closed session's client has no local close event:\n%s", dumpEvents(evs))
	}
	// The other session keeps its server, and its client (whose server
	// went away) is still listed.
	if got := lab.Servers("kept"); len(got) != 1 || got[0].ID != kept.ID {
		t.Errorf("servers of the other session: %v", got)
	}
	if _, err := lab.Client("kept", keptClient.ID); err != nil {
		t.Errorf("client of the other session: %v", err)
	}
	if n := len(filter(evs, KindServerStop, kept.ID)); n != 0 {
		t.Errorf("the other session's server was stopped")
	}
}

// Opens racing each other cannot pass the per-session limit together: the
// dial runs outside the lab's lock, its slot is reserved inside it.
func TestOpenClientLimitHoldsUnderConcurrentOpens(t *testing.T) {
	const session, max, tries = "s", 5, 40
	lab, _ := newTestLab(t, LabConfig{MaxClientsPerSession: max})
	srv := startEcho(t, lab, session, "")
	var wg sync.WaitGroup
	var opened, limited atomic.Int32
	for range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := lab.OpenClient(context.Background(), session, ClientSpec{Kind: "tcp", Target: srv.Addr})
			switch {
			case err == nil:
				opened.Add(1)
			case errors.Is(err, ErrLimit):
				limited.Add(1)
			default:
				t.Errorf("OpenClient: %v", err)
			}
		}()
	}
	wg.Wait()
	if opened.Load() != max || limited.Load() != tries-max {
		t.Errorf("%d opened and %d refused, want %d and %d", opened.Load(), limited.Load(), max, tries-max)
	}
	if n := len(lab.Clients(session)); n != max {
		t.Errorf("%d clients listed, want %d", n, max)
	}
}

// A start or open that races the session's deletion does not leave a
// server or client behind that nobody can stop: once CloseSession has run,
// the session takes no new ones.
func TestCloseSessionRacingStartsLeavesNothingRunning(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	target := startEcho(t, lab, "other", "")
	for round := range 20 {
		session := fmt.Sprintf("s%d", round)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				if _, err := lab.StartServer(session, ServerSpec{Kind: "tcp-echo"}); err != nil && !errors.Is(err, ErrNotFound) {
					t.Errorf("StartServer: %v", err)
				}
			}()
			go func() {
				defer wg.Done()
				if _, err := lab.OpenClient(context.Background(), session, ClientSpec{Kind: "tcp", Target: target.Addr}); err != nil && !errors.Is(err, ErrNotFound) {
					t.Errorf("OpenClient: %v", err)
				}
			}()
		}
		lab.CloseSession(session)
		wg.Wait()
		for _, s := range lab.Servers(session) {
			if s.State == StateRunning {
				t.Fatalf("round %d: server %s of the deleted session still runs", round, s.ID)
			}
		}
		for _, c := range lab.Clients(session) {
			if c.State != StateClosed {
				t.Fatalf("round %d: client %s of the deleted session is %s", round, c.ID, c.State)
			}
		}
		if _, err := lab.StartServer(session, ServerSpec{Kind: "tcp-echo"}); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "deleted") {
			t.Fatalf("start after delete: err = %v, want not found (deleted)", err)
		}
	}
}
