package engine

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"syscall"
	"testing"
)

// openClientKind opens a client of kind with the JSON options opts (may be
// "") and fails the test if it cannot.
func openClientKind(t testing.TB, lab *Lab, session, kind, target, opts string) ClientInfo {
	t.Helper()
	spec := ClientSpec{Kind: kind, Target: target}
	if opts != "" {
		spec.Options = json.RawMessage(opts)
	}
	ci, err := lab.OpenClient(context.Background(), session, spec)
	if err != nil {
		t.Fatalf("OpenClient(%s %s %s): %v", kind, target, opts, err)
	}
	return ci
}

// A read that gets nothing within read_timeout_ms is a timeout event; the
// connection stays open (a send after it is echoed), and a quiet spell
// gives one timeout event, not one per period.
func TestTCPClientReadTimeout(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, session, `{"mode":"echo"}`)
	ci := openClientKind(t, lab, session, "tcp", srv.Addr, `{"read_timeout_ms":50}`)
	evs := sink.waitFor(t, "a timeout event", func(evs []Event) bool { return len(filter(evs, KindTimeout, ci.ID)) == 1 })
	to := filter(evs, KindTimeout, ci.ID)[0]
	if to.Meta["op"] != "recv" || to.Meta["timeout_ms"] != int64(50) || to.Conn != ci.Conn || to.Net != NetTCP {
		t.Errorf("timeout event %v conn %s net %s, want op recv, timeout_ms 50 on %s", to.Meta, to.Conn, to.Net, ci.Conn)
	}
	if n := len(filter(evs, KindError, ci.ID)) + len(filter(evs, KindClose, ci.ID)); n != 0 {
		t.Errorf("a read timeout emitted errors or closes:\n%s", dumpEvents(evs))
	}
	if err := lab.Send(session, ci.ID, []byte("still here")); err != nil {
		t.Fatalf("Send after the timeout: %v", err)
	}
	sink.waitFor(t, "the echo after the timeout", func(evs []Event) bool { return sumLen(filter(evs, KindRecv, ci.ID)) == 10 })
	// After the echo the deadline is armed again: one more timeout.
	sink.waitFor(t, "a second timeout after the echo", func(evs []Event) bool { return len(filter(evs, KindTimeout, ci.ID)) >= 2 })
	if st := clientState(t, lab, session, ci.ID); st != StateConnected {
		t.Errorf("state after timeouts = %s, want connected", st)
	}
}

func TestTCPClientNodelay(t *testing.T) {
	const session = "s"
	lab, _ := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, session, "")
	for _, tt := range []struct {
		opts string
		want int
	}{{"", 1}, {`{"nodelay":true}`, 1}, {`{"nodelay":false}`, 0}} {
		ci := openClientKind(t, lab, session, "tcp", srv.Addr, tt.opts)
		c, err := lab.Client(session, ci.ID)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := c.(*TCPClient).tcp.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var got int
		var gerr error
		rc.Control(func(fd uintptr) { got, gerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY) })
		if gerr != nil {
			t.Fatal(gerr)
		}
		if (got != 0) != (tt.want != 0) {
			t.Errorf("options %s: TCP_NODELAY = %d, want %d", tt.opts, got, tt.want)
		}
	}
}

// A connect whose SYN is never answered fails with ETIMEDOUT after
// connect_timeout_ms: a listener whose accept queue is full (backlog 0
// holds one, nobody accepts) makes Linux drop further SYNs.
func TestTCPClientConnectTimeout(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{})
	port := freeLabPort(t)
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// Fill the accept queue.
	for range 4 {
		d := net.Dialer{Timeout: 200e6}
		c, err := d.Dial("tcp", target)
		if err != nil {
			break
		}
		defer c.Close()
	}
	_, err = lab.OpenClient(context.Background(), session, ClientSpec{Kind: "tcp", Target: target, Options: json.RawMessage(`{"connect_timeout_ms":200}`)})
	if err == nil {
		t.Fatal("OpenClient to a full accept queue succeeded")
	}
	if se := Classify(err); se.Errno != "ETIMEDOUT" {
		t.Fatalf("err = %v (%s), want ETIMEDOUT", err, se.Errno)
	}
	errs := filter(sink.events(), KindError, "")
	if len(errs) != 1 || errs[0].Err.Errno != "ETIMEDOUT" || errs[0].Meta["op"] != "connect" {
		t.Errorf("want one ETIMEDOUT connect error event:\n%s", dumpEvents(sink.events()))
	}
}

func TestTCPClientRepeatAndPayload(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startEcho(t, lab, session, `{"mode":"echo","recv_size":1024}`)
	ci := openClientKind(t, lab, session, "tcp", srv.Addr, `{"repeat":3}`)
	if err := lab.Send(session, ci.ID, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	evs := sink.waitFor(t, "the three echoes", func(evs []Event) bool { return sumLen(filter(evs, KindRecv, ci.ID)) == 9 })
	if sends := filter(evs, KindSend, ci.ID); len(sends) != 3 || string(sends[2].Data) != "abc" {
		t.Errorf("want three send events of abc:\n%s", dumpEvents(sends))
	}

	const size = 100_000
	big := openClientKind(t, lab, session, "tcp", srv.Addr, `{"payload_size":100000}`)
	evs = sink.waitFor(t, "the payload's echo", func(evs []Event) bool { return sumLen(filter(evs, KindRecv, big.ID)) == size })
	sends := filter(evs, KindSend, big.ID)
	if len(sends) != 1 || sends[0].Len != size || string(sends[0].Data[:12]) != "012345678901" {
		t.Errorf("want one send of the generated payload:\n%s", dumpEvents(sends))
	}
	// The server's reads of 1024 bytes split it.
	var serverReads int
	for _, ev := range filter(evs, KindRecv, srv.ID) {
		if ev.Remote == big.Local {
			serverReads++
		}
	}
	if serverReads < size/1024 {
		t.Errorf("the server read the payload in %d reads, want at least %d", serverReads, size/1024)
	}
}
