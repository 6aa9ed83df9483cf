package engine

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
)

// peerLab returns a lab whose dial policy allows a plain listener of the
// test (a peer that shares none of sockplay's code), and that listener.
func peerLab(t *testing.T) (*Lab, *testSink, *net.TCPListener) {
	t.Helper()
	ln := listenLoopback(t, 0)
	policy := &DialPolicy{LabPorts: testPorts}
	if err := policy.ParseAllow(ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	lab, sink := newTestLab(t, LabConfig{Policy: policy, CaptureCap: -1})
	return lab, sink, ln
}

func acceptTCP(t *testing.T, ln *net.TCPListener) *net.TCPConn {
	t.Helper()
	c, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// resetClose closes c with SO_LINGER 0: the kernel sends RST instead of FIN.
func resetClose(t *testing.T, c *net.TCPConn) {
	t.Helper()
	if err := c.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func lastClose(evs []Event, owner string) (Event, bool) {
	closes := filter(evs, KindClose, owner)
	if len(closes) == 0 {
		return Event{}, false
	}
	return closes[len(closes)-1], true
}

// A playground client whose peer resets the connection is told the peer
// did it, with RST: a learner whose server crashed must not read that their
// own side closed.
func TestClientPeerResetIsRecordedAsThePeers(t *testing.T) {
	lab, sink, ln := peerLab(t)
	cli := openClient(t, lab, "s", ln.Addr().String())
	resetClose(t, acceptTCP(t, ln))
	evs := sink.waitFor(t, "the client's close", func(evs []Event) bool {
		_, ok := lastClose(evs, cli.ID)
		return ok
	})
	ev, _ := lastClose(evs, cli.ID)
	if ev.Meta["by"] != "peer" || ev.Meta["rst"] != true || ev.Meta["half"] != false {
		t.Errorf("close meta %v, want by peer, rst true, half false\n%s", ev.Meta, dumpEvents(evs))
	}
	errs := filter(evs, KindError, cli.ID)
	if len(errs) != 1 || errs[0].Err.Errno != "ECONNRESET" || errs[0].Meta["op"] != "recv" {
		t.Errorf("want one ECONNRESET error on recv before the close:\n%s", dumpEvents(evs))
	}
	if n := len(filter(evs, KindClose, cli.ID)); n != 1 {
		t.Errorf("%d close events, want 1:\n%s", n, dumpEvents(evs))
	}
	// The state follows the close event (the read loop sets it after).
	sink.waitFor(t, "the client's state to be closed", func([]Event) bool { return clientState(t, lab, "s", cli.ID) == StateClosed })
}

// The same classifier runs on a server's connections: a terminal client
// that resets is recorded as the peer's RST.
func TestServerConnPeerResetIsRecordedAsThePeers(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	c := dial(t, srv.Addr)
	write(t, c, []byte("x"))
	readN(t, c, 1)
	resetClose(t, c)
	evs := sink.waitFor(t, "the server side's close", func(evs []Event) bool {
		_, ok := lastClose(evs, srv.ID)
		return ok
	})
	ev, _ := lastClose(evs, srv.ID)
	if ev.Meta["by"] != "peer" || ev.Meta["rst"] != true {
		t.Errorf("close meta %v, want by peer and rst\n%s", ev.Meta, dumpEvents(evs))
	}
}

// A clean FIN from the peer is a half-close by the peer; the client's own
// close that follows says it came after that FIN.
func TestClientPeerFINThenLocalClose(t *testing.T) {
	lab, sink, ln := peerLab(t)
	cli := openClient(t, lab, "s", ln.Addr().String())
	peer := acceptTCP(t, ln)
	peer.CloseWrite()
	sink.waitFor(t, "the peer's FIN", func(evs []Event) bool {
		return indexOf(evs, func(ev Event) bool { return ev.Server == cli.ID && isClose(ev, "peer", true) }) >= 0
	})
	if _, err := lab.CloseClient("s", cli.ID, false); err != nil {
		t.Fatal(err)
	}
	evs := sink.events()
	ev, _ := lastClose(evs, cli.ID)
	if ev.Meta["by"] != "local" || ev.Meta["rst"] != false || ev.Meta["reason"] != "closed after the peer's FIN" {
		t.Errorf("the client's own close: %v\n%s", ev.Meta, dumpEvents(evs))
	}
}

// A client's recv_size bounds every read: one 10-byte write of the peer
// arrives as reads of at most 3 bytes. The default is 65536.
func TestClientRecvSizeSplitsReads(t *testing.T) {
	lab, sink, ln := peerLab(t)
	ci, err := lab.OpenClient(context.Background(), "s", ClientSpec{Kind: "tcp", Target: ln.Addr().String(), Options: json.RawMessage(`{"recv_size":3}`)})
	if err != nil {
		t.Fatal(err)
	}
	peer := acceptTCP(t, ln)
	write(t, peer, []byte("0123456789"))
	evs := sink.waitFor(t, "10 bytes received", func(evs []Event) bool { return sumLen(filter(evs, KindRecv, ci.ID)) == 10 })
	var got strings.Builder
	for _, ev := range filter(evs, KindRecv, ci.ID) {
		if ev.Len > 3 {
			t.Errorf("a read of %d bytes with recv_size 3", ev.Len)
		}
		got.Write(ev.Data)
	}
	if got.String() != "0123456789" || len(filter(evs, KindRecv, ci.ID)) < 4 {
		t.Errorf("reads %q in %d events, want 0123456789 in at least 4", got.String(), len(filter(evs, KindRecv, ci.ID)))
	}

	def := openClient(t, lab, "s", ln.Addr().String())
	if c := filter(sink.events(), KindConnect, def.ID); len(c) != 1 || c[0].Meta["options"].(Options).Int("recv_size") != MaxRecvSize {
		t.Errorf("default client options: %v", c)
	}
}

// A name that does not resolve is explained without the resolver's address
// (which says where sockplay runs, and nothing a learner needs).
func TestDNSFailureMessageNamesTheNameOnly(t *testing.T) {
	se := Classify(&net.DNSError{Err: "no such host", Name: "nope.invalid", Server: "10.0.0.2:53", IsNotFound: true})
	if se.Errno != "DNS" || strings.Contains(se.Message, "10.0.0.2") || !strings.Contains(se.Message, `"nope.invalid" did not resolve`) {
		t.Errorf("got %+v", se)
	}
	lab, sink := newTestLab(t, LabConfig{})
	_, err := lab.OpenClient(context.Background(), "s", ClientSpec{Kind: "tcp", Target: "no-such-host.invalid:" + "21000"})
	var dns *net.DNSError
	if !errors.As(err, &dns) {
		t.Fatalf("err = %v, want a DNS error", err)
	}
	ev := filter(sink.events(), KindError, "")
	if len(ev) != 1 || ev[0].Err.Errno != "DNS" || strings.Contains(ev[0].Err.Message, ":53") {
		t.Errorf("error event %+v", ev)
	}
}

// Names that spoof what the page shows are refused: control characters and
// invisible format characters such as a right-to-left override.
func TestServerNameRefusesInvisibleCharacters(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	for _, name := range []string{"evil\u202egnp.exe", "a\u200bb", "tab\there", "bad\xffutf8"} {
		_, err := lab.StartServer("s", ServerSpec{Kind: "tcp-echo", Name: name})
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != "name" {
			t.Errorf("name %q: %v, want an OptionError on name", name, err)
		}
	}
}

// An error says what a Python program of the tutorials would see, so a
// learner can match the page with their own traceback.
func TestErrorsNameThePythonException(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	_, err := lab.OpenClient(context.Background(), "s", ClientSpec{Kind: "tcp", Target: "127.0.0.1:" + strconv.Itoa(freeLabPort(t))})
	if se := Classify(err); se.Errno != "ECONNREFUSED" || se.Python != "ConnectionRefusedError: [Errno 111] Connection refused" {
		t.Errorf("refused connect: %+v", se)
	}
	if ev := filter(sink.events(), KindError, ""); len(ev) != 1 || !strings.HasPrefix(ev[0].Err.Python, "ConnectionRefusedError") {
		t.Errorf("error event %+v", ev)
	}
	for errno, want := range map[string]string{"ECONNRESET": "ConnectionResetError", "EPIPE": "BrokenPipeError", "ETIMEDOUT": "TimeoutError", "EADDRINUSE": "OSError: [Errno 98]", "DNS": "socket.gaierror"} {
		if !strings.HasPrefix(pythonErrors[errno], want) {
			t.Errorf("%s: %q, want %s", errno, pythonErrors[errno], want)
		}
	}
}
