package engine

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// closedUDPPort returns a port of the test range where no UDP socket is
// bound (one was, a moment ago).
func closedUDPPort(t testing.TB) int {
	t.Helper()
	pc := freeUDPLabPort(t)
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	return port
}

func TestUDPClientSendToEcho(t *testing.T) {
	for _, connect := range []bool{false, true} {
		t.Run("connect="+strconv.FormatBool(connect), func(t *testing.T) {
			const session = "s"
			lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
			srv, err := lab.StartServer(session, ServerSpec{Kind: "udp-echo"})
			if err != nil {
				t.Fatal(err)
			}
			ci := openClientKind(t, lab, session, "udp", srv.Addr, `{"connect":`+strconv.FormatBool(connect)+`}`)
			if ci.Kind != "udp" || ci.State != StateConnected || ci.Remote != srv.Addr {
				t.Errorf("client info %+v", ci)
			}
			for _, msg := range []string{"ping", "pong!"} {
				if err := lab.Send(session, ci.ID, []byte(msg)); err != nil {
					t.Fatalf("Send: %v", err)
				}
			}
			evs := sink.waitFor(t, "two replies", func(evs []Event) bool { return len(filter(evs, KindDatagramIn, ci.ID)) == 2 })
			outs, ins := filter(evs, KindDatagramOut, ci.ID), filter(evs, KindDatagramIn, ci.ID)
			if len(outs) != 2 || string(outs[0].Data) != "ping" || outs[0].Meta["peer"] != srv.Addr || outs[0].Net != NetUDP {
				t.Errorf("datagram-out events:\n%s", dumpEvents(outs))
			}
			if string(ins[0].Data) != "ping" || string(ins[1].Data) != "pong!" || ins[0].Meta["peer"] != srv.Addr || ins[0].Conn != ci.Conn {
				t.Errorf("datagram-in events:\n%s", dumpEvents(ins))
			}
			c := filter(evs, KindConnect, ci.ID)
			if len(c) != 1 || c[0].Meta["connected"] != connect || c[0].Meta["client"] != "udp" {
				t.Errorf("connect events:\n%s", dumpEvents(c))
			}
			if _, err := lab.CloseClient(session, ci.ID, true); !isOptionError("half")(err) {
				t.Errorf("half-close of a UDP client: err = %v, want an option error", err)
			}
			if _, err := lab.CloseClient(session, ci.ID, false); err != nil {
				t.Fatal(err)
			}
			if evs := filter(sink.events(), KindClose, ci.ID); len(evs) != 1 || !isClose(evs[0], "local", false) {
				t.Errorf("close events:\n%s", dumpEvents(evs))
			}
			if err := lab.Send(session, ci.ID, []byte("late")); err == nil {
				t.Error("Send after Close succeeded")
			}
			sink.waitFor(t, "the sockets to be given back", func([]Event) bool { open, _ := lab.OpenSockets(); return open == 1 })
		})
	}
}

// A datagram to a port where nothing listens: unconnected, the reply just
// does not come (a timeout event, never a hang); connected, the ICMP
// port-unreachable comes back as ECONNREFUSED.
func TestUDPClientNoListener(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{})
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(closedUDPPort(t)))

	plain := openClientKind(t, lab, session, "udp", target, `{"timeout_ms":100}`)
	if err := lab.Send(session, plain.ID, []byte("anyone?")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	evs := sink.waitFor(t, "the timeout", func(evs []Event) bool { return len(filter(evs, KindTimeout, plain.ID)) == 1 })
	to := filter(evs, KindTimeout, plain.ID)[0]
	if to.Meta["op"] != "recvfrom" || to.Meta["timeout_ms"] != int64(100) || to.Meta["unanswered"] != 1 || to.Net != NetUDP {
		t.Errorf("timeout event meta %v", to.Meta)
	}
	if errs := filter(evs, KindError, plain.ID); len(errs) != 0 {
		t.Errorf("an unconnected socket got errors:\n%s", dumpEvents(errs))
	}

	conn := openClientKind(t, lab, session, "udp", target, `{"connect":true,"timeout_ms":5000}`)
	if err := lab.Send(session, conn.ID, []byte("anyone?")); err != nil {
		t.Fatalf("first Send on the connected socket: %v", err)
	}
	evs = sink.waitFor(t, "ECONNREFUSED", func(evs []Event) bool { return len(filter(evs, KindError, conn.ID)) == 1 })
	e := filter(evs, KindError, conn.ID)[0]
	if e.Err.Errno != "ECONNREFUSED" || !strings.Contains(e.Err.Hint, "ICMP") || e.Meta["op"] != "recv" {
		t.Errorf("error event %+v meta %v, want ECONNREFUSED on recv explained by ICMP", *e.Err, e.Meta)
	}
	if n := len(filter(evs, KindTimeout, conn.ID)); n != 0 {
		t.Errorf("%d timeouts on the connected socket, want none: the refusal ends the wait", n)
	}
	if st := clientState(t, lab, session, conn.ID); st != StateConnected {
		t.Errorf("state after ECONNREFUSED = %s, want connected (a UDP socket stays usable)", st)
	}
}
