package engine

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
)

// Every client kind dials through the dial policy: each target below is
// refused with nothing dialed (a listener on the address a connect would
// reach finds nothing in its accept queue, no connect event), and the
// allowed ones connect.
func TestSafeDialTable(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{TutorialPorts: []int{}})
	// A local service outside the lab range (sockplay's own web server, an
	// ssh, a database), and a lab port on which 0.0.0.0 or [::] would land.
	outside := listenLoopback(t, 0)
	op := strconv.Itoa(portNum(t, outside.Addr().String()))
	labPort := strconv.Itoa(freeLabPort(t))
	inside := listenLoopback(t, portNum(t, "x:"+labPort))
	listeners := []*net.TCPListener{outside, inside}

	type outcome int
	const (
		refused    outcome = iota // *RefusedError (EREFUSED)
		badTarget                 // *OptionError on target: not host:port
		unresolved                // a spelling no resolver takes as an address: DNS, nothing dialed
	)
	tests := []struct {
		target string
		want   outcome
	}{
		{"127.0.0.1:22", refused},
		{"127.0.0.1:" + op, refused}, // the web server's port
		{"localhost:" + op, refused}, // a name that resolves to a refused address
		{"169.254.169.254:80", refused},
		{"[fd00:ec2::254]:80", refused},
		{"100.100.100.200:80", refused},
		{"10.0.0.1:" + labPort, refused},
		{"0.0.0.0:" + labPort, refused},
		{"[::]:" + labPort, refused},
		{"[::ffff:169.254.169.254]:80", refused},
		{"[::ffff:127.0.0.1]:" + op, refused},
		{"127.1:22", unresolved},
		{"127.1:" + op, unresolved},
		{"0x7f000001:22", unresolved},
		{"2130706433:22", unresolved},
		{"0177.0.0.1:22", unresolved},
		{"127.0.0.1:0", badTarget},
		{"127.0.0.1:65536", badTarget},
		{"127.0.0.1:-1", badTarget},
	}
	for _, kind := range ClientKindNames() {
		for _, tt := range tests {
			t.Run(kind+"/"+tt.target, func(t *testing.T) {
				_, err := lab.OpenClient(context.Background(), session, ClientSpec{Kind: kind, Target: tt.target})
				var re *RefusedError
				var dns *net.DNSError
				switch {
				case err == nil:
					t.Fatalf("OpenClient(%s %s) succeeded", kind, tt.target)
				case kind == "unix":
					// No host:port is a unix client's target: its own rule
					// (CheckUnixTarget) refuses every one, nothing dialed.
					if !errors.As(err, &re) {
						t.Errorf("err = %v, want the unix rule's refusal", err)
					}
				case tt.want == refused && !errors.As(err, &re):
					t.Errorf("err = %v, want a refusal by the dial policy", err)
				case tt.want == badTarget && !isOptionError("target")(err):
					t.Errorf("err = %v, want an option error on target", err)
				case tt.want == unresolved && !errors.As(err, &re) && !errors.As(err, &dns):
					t.Errorf("err = %v, want a refusal or a name that does not resolve", err)
				}
				for _, ln := range listeners {
					if pendingConn(t, ln) {
						t.Errorf("a connection reached %s", ln.Addr())
					}
				}
			})
		}
	}
	if evs := filter(sink.events(), KindConnect, ""); len(evs) != 0 {
		t.Errorf("connect events for refused targets:\n%s", dumpEvents(evs))
	}
	for _, ev := range filter(sink.events(), KindError, "") {
		if ev.Err.Errno != "EREFUSED" && ev.Err.Errno != "DNS" {
			t.Errorf("error event %s %+v: want EREFUSED or DNS", ev.Remote, *ev.Err)
		}
	}

	// Allowed: the lab's own ports, by address and by name.
	for _, target := range []string{"127.0.0.1:" + labPort, "localhost:" + labPort} {
		ci := openClientKind(t, lab, session, "tcp", target, "")
		if !pendingConn(t, inside) {
			t.Errorf("%s: the connect did not reach the listener", target)
		}
		lab.CloseClient(session, ci.ID, false)
	}
}

// [::1] on a lab port is allowed when an IPv6 server listens there.
func TestSafeDialAllowsIPv6Loopback(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback here:", err)
	}
	ln.Close()
	lab, _ := newTestLab(t, LabConfig{Host: "::1"})
	srv, err := lab.StartServer("s", ServerSpec{Kind: "tcp-echo"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.Addr, "[::1]:") {
		t.Fatalf("server on %s, want [::1]", srv.Addr)
	}
	openClientKind(t, lab, "s", "tcp", srv.Addr, "")
}

// A tutorial port outside the range is allowed.
func TestSafeDialAllowsTutorialPorts(t *testing.T) {
	const port = 65432
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Skipf("port %d is taken here: %v", port, err)
	}
	ln.Close()
	lab, _ := newTestLab(t, LabConfig{TutorialPorts: []int{port}})
	srv, err := lab.StartServer("s", ServerSpec{Kind: "tcp-echo", Port: port})
	if err != nil {
		t.Fatal(err)
	}
	openClientKind(t, lab, "s", "tcp", srv.Addr, "")
}
