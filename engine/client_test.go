package engine

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
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
	client := filter(evs, KindClose, ci.ID)
	if !isClose(client[0], "local", true) || !isClose(client[1], "peer", true) {
		t.Errorf("client close events %v then %v, want by=local half=true then by=peer half=true", client[0].Meta, client[1].Meta)
	}
	sink.waitFor(t, "the client's state to become closed", func([]Event) bool {
		return clientState(t, lab, session, ci.ID) == StateClosed
	})
	if c, _ := lab.Client(session, ci.ID); c.Info().ClosedAt.IsZero() {
		t.Errorf("closed client has no ClosedAt")
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
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(closedLabPort(t)))
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
