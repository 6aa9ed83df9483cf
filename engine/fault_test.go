package engine

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func addFault(t testing.TB, lab *Lab, session, id, js string) Fault {
	t.Helper()
	var spec FaultSpec
	if err := json.Unmarshal([]byte(js), &spec); err != nil {
		t.Fatal(err)
	}
	f, err := lab.AddFault(session, id, spec)
	if err != nil {
		t.Fatalf("AddFault(%s): %v", js, err)
	}
	return f
}

// faultEvents returns the fault events of owner of type typ where the
// fault acted (not those saying how it changed).
func faultEvents(evs []Event, owner, typ string) []Event {
	var out []Event
	for _, ev := range filter(evs, KindFault, owner) {
		if ev.Meta["type"] == typ && ev.Meta["change"] == nil {
			out = append(out, ev)
		}
	}
	return out
}

func hasFault(owner, typ string) func([]Event) bool {
	return func(evs []Event) bool { return len(faultEvents(evs, owner, typ)) > 0 }
}

// readErr reads from c until an error and returns it.
func readErr(c net.Conn) error {
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			return err
		}
	}
}

func TestFaultBadInput(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	udp := startUDPEcho(t, lab, "s", "")
	for _, tc := range []struct {
		srv, spec, want string
	}{
		{srv.ID, `{"type":"lag"}`, "valid types: bandwidth, drop, duplicate, half-close, idle-timeout, latency, refuse, reorder, reset, slicer, stall"},
		{srv.ID, `{"type":"latency","attributes":{"latency":5}}`, "valid attributes: latency_ms, jitter_ms"},
		{srv.ID, `{"type":"latency","attributes":{"latency_ms":-5}}`, `"latency_ms"`},
		{srv.ID, `{"type":"latency","toxicity":2}`, "toxicity 2 is out of range"},
		{srv.ID, `{"type":"bandwidth","attributes":{"rate":0}}`, `attribute "rate": 0 is out of range`},
		{srv.ID, `{"type":"latency","direction":"sideways"}`, "valid directions"},
		{srv.ID, `{"type":"drop"}`, "only udp-echo has those"},
		{udp.ID, `{"type":"latency"}`, "UDP has none"},
	} {
		var spec FaultSpec
		json.Unmarshal([]byte(tc.spec), &spec)
		_, err := lab.AddFault("s", tc.srv, spec)
		var oe *OptionError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddFault(%s) = %v, want an OptionError saying %q", tc.spec, err, tc.want)
		}
	}
	addFault(t, lab, "s", srv.ID, `{"type":"latency"}`)
	if _, err := lab.AddFault("s", srv.ID, FaultSpec{Type: "latency"}); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("second fault of the same name: %v", err)
	}
	if err := lab.RemoveFault("s", srv.ID, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveFault(absent) = %v, want ErrNotFound", err)
	}
	if _, err := lab.AddFault("s", "srv-nope", FaultSpec{Type: "latency"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddFault on an unknown server = %v, want ErrNotFound", err)
	}
	f, err := lab.UpdateFault("s", srv.ID, "latency", FaultPatch{Toxicity: new(0.5), Attributes: json.RawMessage(`{"jitter_ms":3}`)})
	if err != nil || f.Toxicity != 0.5 || f.Attributes.Int("jitter_ms") != 3 || f.Attributes.Int("latency_ms") != 100 {
		t.Errorf("UpdateFault = %+v, %v", f, err)
	}
	if _, err := lab.UpdateFault("s", srv.ID, "latency", FaultPatch{Attributes: json.RawMessage(`{"latency_ms":-1}`)}); err == nil {
		t.Error("UpdateFault with a negative latency: no error")
	}
	list, _ := lab.Faults("s", srv.ID)
	if len(list) != 1 || list[0].Name != "latency" || list[0].Direction != DirBoth {
		t.Errorf("Faults = %+v", list)
	}
	for _, p := range FaultPresets {
		if _, err := newFault(p.Fault, false, false); err != nil {
			t.Errorf("preset %s: %v", p.Label, err)
		}
	}
}

func TestFaultResetPeerSeesECONNRESET(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	addFault(t, lab, "s", srv.ID, `{"type":"reset","direction":"upstream","attributes":{"bytes":5}}`)
	c := dial(t, srv.Addr)
	write(t, c, []byte("hello world"))
	if err := readErr(c); Classify(err).Errno != "ECONNRESET" {
		t.Fatalf("peer's read: %v, want ECONNRESET", err)
	}
	evs := sink.waitFor(t, "the server's close with rst", func(evs []Event) bool {
		return indexOf(filter(evs, KindClose, srv.ID), func(ev Event) bool { return ev.Meta["rst"] == true }) >= 0
	})
	fe := faultEvents(evs, srv.ID, "reset")
	if len(fe) != 1 || fe[0].Meta["action"] != "sent RST after 5 bytes" || fe[0].Meta["direction"] != "upstream" || fe[0].Meta["fault"] != "reset" {
		t.Errorf("fault events %v\n%s", fe, dumpEvents(evs))
	}
	if got := sumLen(filter(evs, KindRecv, srv.ID)); got != 5 {
		t.Errorf("server read %d bytes, want 5", got)
	}

	// bytes 0: right after accept.
	lab.UpdateFault("s", srv.ID, "reset", FaultPatch{Attributes: json.RawMessage(`{"bytes":0}`)})
	// (The RST can come so soon that connect itself reports it.)
	c2, err := net.DialTimeout("tcp", srv.Addr, waitTimeout)
	if err == nil {
		defer c2.Close()
		err = readErr(c2)
	}
	if Classify(err).Errno != "ECONNRESET" {
		t.Fatalf("peer after reset 0: %v, want ECONNRESET", err)
	}
}

func TestFaultStallBlocksThePeersWrite(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	addFault(t, lab, "s", srv.ID, `{"type":"stall","direction":"upstream"}`)
	c := dial(t, srv.Addr)
	c.SetWriteDeadline(time.Now().Add(time.Second))
	n, err := c.Write(make([]byte, 64<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write of 64 MiB into a stalled server: wrote %d, %v; want it to block until the deadline", n, err)
	}
	evs := sink.waitFor(t, "the stall event", hasFault(srv.ID, "stall"))
	if len(filter(evs, KindClose, srv.ID)) != 0 {
		t.Errorf("the connection closed:\n%s", dumpEvents(evs))
	}
	// Lifted: the server reads again and the connection goes on.
	if err := lab.RemoveFault("s", srv.ID, "stall"); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, "the server reading again", func(evs []Event) bool { return len(filter(evs, KindRecv, srv.ID)) > 0 })
}

func TestFaultHalfCloseOneDirection(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	addFault(t, lab, "s", srv.ID, `{"type":"half-close","direction":"downstream"}`)
	c := dial(t, srv.Addr)
	if b := readToEOF(t, c); len(b) != 0 {
		t.Errorf("read %q before EOF", b)
	}
	// The other direction still delivers.
	write(t, c, []byte("ping"))
	evs := sink.waitFor(t, "the server's recv of ping", func(evs []Event) bool {
		return indexOf(filter(evs, KindRecv, srv.ID), func(ev Event) bool { return ev.Len == 4 }) >= 0
	})
	if len(faultEvents(evs, srv.ID, "half-close")) == 0 {
		t.Errorf("no half-close fault event\n%s", dumpEvents(evs))
	}
}

func TestFaultRefuseThenListensAgainOnTheSamePort(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	open := dial(t, srv.Addr)
	// Accepted first: a connection still in the listen backlog is reset
	// when the listener closes.
	write(t, open, []byte("x"))
	readN(t, open, 1)
	addFault(t, lab, "s", srv.ID, `{"type":"refuse"}`)
	if _, err := net.DialTimeout("tcp", srv.Addr, waitTimeout); Classify(err).Errno != "ECONNREFUSED" {
		t.Fatalf("dial while refused: %v, want ECONNREFUSED", err)
	}
	// The open connection goes on.
	write(t, open, []byte("still"))
	if got := readN(t, open, 5); string(got) != "still" {
		t.Errorf("open connection echoed %q", got)
	}
	if err := lab.RemoveFault("s", srv.ID, "refuse"); err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv.Addr)
	write(t, c, []byte("again"))
	if got := readN(t, c, 5); string(got) != "again" {
		t.Errorf("echoed %q", got)
	}
	evs := sink.events()
	if fe := faultEvents(evs, srv.ID, "refuse"); len(fe) != 2 {
		t.Errorf("refuse events %v", fe)
	}
}

func TestFaultLatencyDelaysLowerBound(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	addFault(t, lab, "s", srv.ID, `{"type":"latency","direction":"downstream","attributes":{"latency_ms":100}}`)
	c := dial(t, srv.Addr)
	start := time.Now()
	write(t, c, []byte("hi"))
	readN(t, c, 2)
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("round trip %s, want at least about 100 ms", d)
	}
	// Changed mid-stream: the bytes keep their order.
	var want bytes.Buffer
	for i := range 20 {
		if i == 10 {
			lab.UpdateFault("s", srv.ID, "latency", FaultPatch{Attributes: json.RawMessage(`{"latency_ms":1}`)})
		}
		msg := []byte{byte('a' + i)}
		want.Write(msg)
		write(t, c, msg)
	}
	got := readN(t, c, want.Len())
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("echo %q, want %q", got, want.Bytes())
	}
	evs := sink.waitFor(t, "latency events", hasFault(srv.ID, "latency"))
	if fe := faultEvents(evs, srv.ID, "latency"); fe[0].Meta["delay_ms"] != int64(100) {
		t.Errorf("latency meta %v", fe[0].Meta)
	}
}

func TestFaultSlicerOneWriteManyReads(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	addFault(t, lab, "s", srv.ID, `{"type":"slicer","direction":"upstream","attributes":{"size":1}}`)
	c := dial(t, srv.Addr)
	write(t, c, []byte("sliced"))
	if got := readN(t, c, 6); string(got) != "sliced" {
		t.Errorf("echo %q", got)
	}
	evs := sink.waitFor(t, "6 recv events", func(evs []Event) bool { return len(filter(evs, KindRecv, srv.ID)) >= 6 })
	recvs := filter(evs, KindRecv, srv.ID)
	for _, ev := range recvs {
		if ev.Len != 1 {
			t.Errorf("recv of %d bytes, want 1", ev.Len)
		}
	}
	if len(recvs) != 6 || len(faultEvents(evs, srv.ID, "slicer")) != 1 {
		t.Errorf("want 6 recv events and one slicer event:\n%s", dumpEvents(evs))
	}

	// Downstream: one write becomes several send events, bytes intact.
	lab.RemoveFault("s", srv.ID, "slicer")
	addFault(t, lab, "s", srv.ID, `{"type":"slicer","direction":"downstream","attributes":{"size":2,"delay_us":1000}}`)
	c2 := dial(t, srv.Addr)
	write(t, c2, []byte("abcdef"))
	if got := readN(t, c2, 6); string(got) != "abcdef" {
		t.Errorf("echo %q", got)
	}
}

func TestFaultBandwidthFloor(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"recv_size":65536}`)
	addFault(t, lab, "s", srv.ID, `{"type":"bandwidth","direction":"downstream","attributes":{"rate":4096}}`)
	c := dial(t, srv.Addr)
	const n = 1 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), n/16)
	start := time.Now()
	done := make(chan error, 1)
	go func() { _, err := c.Write(data); done <- err }()
	got := readN(t, c, n)
	d := time.Since(start)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Error("bytes changed")
	}
	floor := time.Duration(float64(n) / (4096 * 1024) * float64(time.Second)) // 250 ms
	if d < floor*9/10 {
		t.Errorf("1 MiB at 4096 KB/s took %s, want at least %s", d, floor)
	}
	sink.waitFor(t, "bandwidth events", hasFault(srv.ID, "bandwidth"))
}

func TestFaultIdleTimeoutCloses(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	addFault(t, lab, "s", srv.ID, `{"type":"idle-timeout","attributes":{"timeout_ms":50}}`)
	c := dial(t, srv.Addr)
	readToEOF(t, c)
	evs := sink.waitFor(t, "the close", func(evs []Event) bool { return len(filter(evs, KindClose, srv.ID)) > 0 })
	if len(faultEvents(evs, srv.ID, "idle-timeout")) != 1 {
		t.Errorf("no idle-timeout event\n%s", dumpEvents(evs))
	}
}

func TestFaultProxyUpstreamReset(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	echo := startEcho(t, lab, "s", "")
	opts, _ := json.Marshal(map[string]any{"target": echo.Addr})
	proxy, err := lab.StartServer("s", ServerSpec{Kind: "tcp-proxy", Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	addFault(t, lab, "s", proxy.ID, `{"type":"reset","direction":"upstream","attributes":{"bytes":3}}`)
	c := dial(t, proxy.Addr)
	write(t, c, []byte("abcdef"))
	if err := readErr(c); !isEOFOrReset(err) {
		t.Fatalf("read through the proxy: %v", err)
	}
	evs := sink.waitFor(t, "the echo's recv", func(evs []Event) bool { return len(filter(evs, KindRecv, echo.ID)) > 0 })
	if got := sumLen(filter(evs, KindRecv, echo.ID)); got > 3 {
		t.Errorf("the target got %d bytes, want at most 3", got)
	}
}

func TestFaultUDPDrop(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startUDPEcho(t, lab, "s", "")
	addFault(t, lab, "s", srv.ID, `{"type":"drop","toxicity":1}`)
	c := udpClient(t, 0)
	udpSend(t, c, srv.Addr, []byte("lost"))
	evs := sink.waitFor(t, "the drop event", hasFault(srv.ID, "drop"))
	if len(filter(evs, KindDatagramOut, srv.ID)) != 0 {
		t.Errorf("a reply went out:\n%s", dumpEvents(evs))
	}
	// Replies keep their order: once the fault is gone the next reply is
	// the next datagram's, so the first got none.
	lab.RemoveFault("s", srv.ID, "drop")
	udpSend(t, c, srv.Addr, []byte("kept"))
	if got := udpRecv(t, c, srv.Addr); string(got) != "kept" {
		t.Errorf("reply %q, want kept", got)
	}
}

func TestFaultUDPDuplicateAndReorder(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startUDPEcho(t, lab, "s", "")
	addFault(t, lab, "s", srv.ID, `{"type":"duplicate","direction":"downstream"}`)
	c := udpClient(t, 0)
	udpSend(t, c, srv.Addr, []byte("twice"))
	for range 2 {
		if got := udpRecv(t, c, srv.Addr); string(got) != "twice" {
			t.Errorf("reply %q", got)
		}
	}
	lab.RemoveFault("s", srv.ID, "duplicate")
	addFault(t, lab, "s", srv.ID, `{"type":"reorder","attributes":{"hold_ms":5000}}`)
	udpSend(t, c, srv.Addr, []byte("first"))
	udpSend(t, c, srv.Addr, []byte("second"))
	a, b := udpRecv(t, c, srv.Addr), udpRecv(t, c, srv.Addr)
	if string(a) != "second" || string(b) != "first" {
		t.Errorf("replies %q, %q; want second, first", a, b)
	}
	// Held with nothing after it: it goes after hold_ms.
	lab.UpdateFault("s", srv.ID, "reorder", FaultPatch{Attributes: json.RawMessage(`{"hold_ms":20}`)})
	udpSend(t, c, srv.Addr, []byte("alone"))
	if got := udpRecv(t, c, srv.Addr); string(got) != "alone" {
		t.Errorf("reply %q", got)
	}
}

// Upstream half-close on a proxy: the target reads end-of-stream while the
// client still gets what the target sends.
func TestFaultHalfCloseUpstreamThroughAProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lab, sink := newTestLab(t, LabConfig{Policy: &DialPolicy{LabPorts: testPorts,
		AllowAddrs: []netip.AddrPort{netip.MustParseAddrPort(ln.Addr().String())}}})
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitTimeout))
		b, err := io.ReadAll(c) // until the proxy passes the FIN on
		if err == nil {
			_, err = c.Write(append([]byte("bye after "), byte('0'+len(b))))
		}
		served <- err
	}()
	opts, _ := json.Marshal(map[string]any{"target": ln.Addr().String()})
	proxy, err := lab.StartServer("s", ServerSpec{Kind: "tcp-proxy", Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	addFault(t, lab, "s", proxy.ID, `{"type":"half-close","direction":"upstream"}`)
	c := dial(t, proxy.Addr)
	if got := readToEOF(t, c); string(got) != "bye after 0" {
		t.Errorf("client read %q, want the target's reply after its EOF", got)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, "the half-close event", hasFault(proxy.ID, "half-close"))
}

// Removing a slicer while it holds bytes back delivers them all, in order.
func TestFaultSlicerRemovedMidStreamKeepsBytes(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	addFault(t, lab, "s", srv.ID, `{"type":"slicer","direction":"upstream","attributes":{"size":1,"delay_us":20000}}`)
	c := dial(t, srv.Addr)
	data := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	write(t, c, data)
	sink.waitFor(t, "a few slices", func(evs []Event) bool { return len(filter(evs, KindRecv, srv.ID)) >= 3 })
	if err := lab.RemoveFault("s", srv.ID, "slicer"); err != nil {
		t.Fatal(err)
	}
	if got := readN(t, c, len(data)); !bytes.Equal(got, data) {
		t.Errorf("echo %q, want %q", got, data)
	}
}

// Toxicity 0: the fault never applies.
func TestFaultToxicityZeroNeverActs(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	addFault(t, lab, "s", srv.ID, `{"type":"reset","toxicity":0}`)
	c := dial(t, srv.Addr)
	write(t, c, []byte("fine"))
	if got := readN(t, c, 4); string(got) != "fine" {
		t.Errorf("echo %q", got)
	}
	if fe := faultEvents(sink.events(), srv.ID, "reset"); len(fe) != 0 {
		t.Errorf("fault events %v", fe)
	}
}

// On tls-echo the faults act on the plaintext: a slicer splits the
// decrypted bytes into reads, the TLS session stays intact.
func TestFaultTLSPlaintextSlicer(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startTLSEcho(t, lab, "")
	addFault(t, lab, "s", srv.ID, `{"type":"slicer","direction":"upstream","attributes":{"size":2}}`)
	c, err := dialTLS(t, srv.Addr, &tls.Config{RootCAs: serverPool(t, srv), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	write(t, c, []byte("secret"))
	if got := readN(t, c, 6); string(got) != "secret" {
		t.Errorf("echo %q", got)
	}
	evs := sink.waitFor(t, "3 plaintext reads", func(evs []Event) bool { return len(filter(evs, KindRecv, srv.ID)) >= 3 })
	for _, ev := range filter(evs, KindRecv, srv.ID) {
		if ev.Net != NetTLS || ev.Len != 2 {
			t.Errorf("recv %s of %d bytes, want tls and 2", ev.Net, ev.Len)
		}
	}
}

// A server stopped while it refuses stops cleanly, its open connections
// closed; faults added while it stops do not deadlock.
func TestFaultStopWhileRefusing(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	c := dial(t, srv.Addr)
	write(t, c, []byte("x"))
	readN(t, c, 1)
	addFault(t, lab, "s", srv.ID, `{"type":"refuse"}`)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			lab.AddFault("s", srv.ID, FaultSpec{Type: "latency"})
			lab.RemoveFault("s", srv.ID, "latency")
		}
	}()
	if _, err := lab.StopServer("s", srv.ID); err != nil {
		t.Fatal(err)
	}
	<-done
	readToEOF(t, c)
	sink.waitFor(t, "server-stop", func(evs []Event) bool { return len(filter(evs, KindServerStop, srv.ID)) == 1 })
}

// A downstream stall holds the server's writes: the client gets nothing
// until it is lifted, then everything, in order.
func TestFaultStallDownstreamHoldsWrites(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	addFault(t, lab, "s", srv.ID, `{"type":"stall","direction":"downstream"}`)
	c := dial(t, srv.Addr)
	write(t, c, []byte("held"))
	sink.waitFor(t, "the stall event", hasFault(srv.ID, "stall"))
	if len(filter(sink.events(), KindSend, srv.ID)) != 0 {
		t.Fatal("the server wrote while stalled")
	}
	lab.RemoveFault("s", srv.ID, "stall")
	if got := readN(t, c, 4); string(got) != "held" {
		t.Errorf("echo %q", got)
	}
}

// A fault added while the server waits in a read of an open connection
// applies to the bytes that read brings: a learner adds "reset" to a live
// connection and the very next send is cut off.
func TestFaultAddedDuringAWaitingReadApplies(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	c := dial(t, srv.Addr)
	write(t, c, []byte("a"))
	readN(t, c, 1) // the echo answered: its handler now waits in the next read
	sink.waitFor(t, "the echo's send", func(evs []Event) bool { return len(filter(evs, KindSend, srv.ID)) == 1 })
	addFault(t, lab, "s", srv.ID, `{"type":"reset","direction":"upstream","attributes":{"bytes":1}}`)
	write(t, c, []byte("hello"))
	if err := readErr(c); Classify(err).Errno != "ECONNRESET" {
		t.Fatalf("peer's read: %v, want ECONNRESET from the fault added while the server waited", err)
	}
	evs := sink.waitFor(t, "the reset's fault event", hasFault(srv.ID, "reset"))
	if got := sumLen(filter(evs, KindRecv, srv.ID)); got != 2 {
		t.Errorf("server read %d bytes, want 2 (a, then the 1 byte the fault let through)", got)
	}
}
