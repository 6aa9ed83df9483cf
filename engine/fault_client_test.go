package engine

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// acceptOne accepts one connection on ln, with a deadline on its reads and
// writes, closed when the test ends.
func acceptOne(t testing.TB, ln *net.TCPListener) *net.TCPConn {
	t.Helper()
	ln.SetDeadline(time.Now().Add(waitTimeout))
	c, err := ln.AcceptTCP()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitTimeout))
	return c
}

// A reset fault on a client, upstream (what it sends): the peer reads the
// bytes before the RST, then ECONNRESET; the fault event is on the
// client's connection.
func TestClientFaultResetUpstream(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	ln := listenLoopback(t, freeLabPort(t))
	ci := openClient(t, lab, "s", ln.Addr().String())
	peer := acceptOne(t, ln)
	addFault(t, lab, "s", ci.ID, `{"type":"reset","direction":"upstream","attributes":{"bytes":3}}`)
	err := lab.Send("s", ci.ID, []byte("hello"))
	if err == nil {
		t.Errorf("Send after the reset: no error")
	}
	got, rerr := io.ReadAll(peer)
	if string(got) != "hel" || Classify(rerr).Errno != "ECONNRESET" {
		t.Errorf("peer read %q then %v, want \"hel\" then ECONNRESET", got, rerr)
	}
	evs := sink.waitFor(t, "the reset's fault event", hasFault(ci.ID, "reset"))
	fe := faultEvents(evs, ci.ID, "reset")
	if fe[0].Conn != ci.Conn || fe[0].Meta["direction"] != "upstream" || fe[0].Meta["action"] != "sent RST after 3 bytes" {
		t.Errorf("fault event %+v", fe[0])
	}
	if c, _ := lab.Client("s", ci.ID); c.Info().State != StateClosed {
		sink.waitFor(t, "the client's close", func(evs []Event) bool { return len(filter(evs, KindClose, ci.ID)) > 0 })
	}
}

// A slicer downstream on a client: one write of the peer is several recv
// events of the client, bytes intact.
func TestClientFaultSlicerDownstream(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	ln := listenLoopback(t, freeLabPort(t))
	ci := openClient(t, lab, "s", ln.Addr().String())
	peer := acceptOne(t, ln)
	addFault(t, lab, "s", ci.ID, `{"type":"slicer","direction":"downstream","attributes":{"size":2}}`)
	write(t, peer, []byte("abcdef"))
	evs := sink.waitFor(t, "6 bytes received", func(evs []Event) bool { return sumLen(filter(evs, KindRecv, ci.ID)) == 6 })
	recvs := filter(evs, KindRecv, ci.ID)
	var got strings.Builder
	for _, r := range recvs {
		got.Write(r.Data)
	}
	if len(recvs) != 3 || got.String() != "abcdef" {
		t.Errorf("%d recv events %q, want 3 carrying abcdef", len(recvs), got.String())
	}
	if fe := faultEvents(evs, ci.ID, "slicer"); len(fe) != 1 || fe[0].Meta["direction"] != "downstream" {
		t.Errorf("slicer events %v", fe)
	}
}

// Latency upstream on a client delays what it sends: the peer gets it no
// sooner than the delay (a lower bound only).
func TestClientFaultLatencyUpstream(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	ln := listenLoopback(t, freeLabPort(t))
	ci := openClient(t, lab, "s", ln.Addr().String())
	peer := acceptOne(t, ln)
	addFault(t, lab, "s", ci.ID, `{"type":"latency","direction":"upstream","attributes":{"latency_ms":100}}`)
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- lab.Send("s", ci.ID, []byte("hi")) }()
	readN(t, peer, 2)
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("the peer got the bytes after %s, want at least about 100 ms", d)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, "the latency event", hasFault(ci.ID, "latency"))
}

// A half-close upstream on a client: the peer reads EOF, and what the peer
// sends still reaches the client.
func TestClientFaultHalfCloseUpstream(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	ln := listenLoopback(t, freeLabPort(t))
	ci := openClient(t, lab, "s", ln.Addr().String())
	peer := acceptOne(t, ln)
	addFault(t, lab, "s", ci.ID, `{"type":"half-close","direction":"upstream"}`)
	if b, err := io.ReadAll(peer); err != nil || len(b) != 0 {
		t.Fatalf("peer read %q, %v; want EOF", b, err)
	}
	write(t, peer, []byte("still"))
	sink.waitFor(t, "the bytes after the FIN", func(evs []Event) bool { return sumLen(filter(evs, KindRecv, ci.ID)) == 5 })
}

// Bad input on a client's faults: a type a client cannot take, an unknown
// client, a client kind without one connection.
func TestClientFaultBadInput(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	ln := listenLoopback(t, freeLabPort(t))
	ci := openClient(t, lab, "s", ln.Addr().String())
	acceptOne(t, ln)
	for _, tc := range []struct{ spec, want string }{
		{`{"type":"refuse"}`, "cannot go on a client: it stops a server's listening socket"},
		{`{"type":"drop"}`, "cannot go on a client"},
		{`{"type":"latency","attributes":{"latency_ms":-3}}`, `"latency_ms"`},
	} {
		var spec FaultSpec
		mustUnmarshal(t, tc.spec, &spec)
		_, err := lab.AddFault("s", ci.ID, spec)
		var oe *OptionError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddFault(%s) = %v, want an OptionError saying %q", tc.spec, err, tc.want)
		}
	}
	if _, err := lab.AddFault("s", "cli-nope", FaultSpec{Type: "latency"}); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "client cli-nope") {
		t.Errorf("AddFault on an unknown client = %v", err)
	}
	srv := startKind(t, lab, "s", "udp-echo", "")
	u, err := lab.OpenClient(t.Context(), "s", ClientSpec{Kind: "udp", Target: srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lab.AddFault("s", u.ID, FaultSpec{Type: "latency"}); err == nil || !strings.Contains(err.Error(), "a udp client cannot take faults") {
		t.Errorf("AddFault on a udp client = %v", err)
	}
}

// A client opened with faults has them from its connect; a wrong one
// refuses the open before any dial.
func TestClientOpenedWithFaults(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	ln := listenLoopback(t, freeLabPort(t))
	ci, err := lab.OpenClient(t.Context(), "s", ClientSpec{Kind: "tcp", Target: ln.Addr().String(),
		Faults: []FaultSpec{{Type: "reset", Direction: DirUpstream, Attributes: []byte(`{"bytes":2}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	peer := acceptOne(t, ln)
	lab.Send("s", ci.ID, []byte("hello"))
	got, rerr := io.ReadAll(peer)
	if string(got) != "he" || Classify(rerr).Errno != "ECONNRESET" {
		t.Errorf("peer read %q then %v, want \"he\" then ECONNRESET", got, rerr)
	}
	evs := sink.waitFor(t, "the reset", hasFault(ci.ID, "reset"))
	connect := indexOf(evs, func(ev Event) bool { return ev.Kind == KindConnect && ev.Server == ci.ID })
	added := indexOf(evs, func(ev Event) bool { return ev.Kind == KindFault && ev.Server == ci.ID && ev.Meta["change"] == "added" })
	if connect < 0 || added < connect {
		t.Errorf("added at %d, connect at %d", added, connect)
	}

	for _, tc := range []struct {
		kind, faults, want string
	}{
		{"tcp", `[{"type":"refuse"}]`, "faults[0].type"},
		{"tcp", `[{"type":"latency","attributes":{"latency_ms":-1}}]`, "faults[0].attributes.latency_ms"},
		{"udp", `[{"type":"latency"}]`, "a udp client cannot take faults"},
	} {
		spec := ClientSpec{Kind: tc.kind, Target: ln.Addr().String()}
		mustUnmarshal(t, tc.faults, &spec.Faults)
		_, err := lab.OpenClient(t.Context(), "s", spec)
		var oe *OptionError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("open %s with %s: %v, want an OptionError saying %q", tc.kind, tc.faults, err, tc.want)
		}
	}
	if pendingConn(t, ln) {
		t.Error("a refused open dialed")
	}
}
