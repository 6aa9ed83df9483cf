package engine

import (
	"encoding/json"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func startWithFaults(lab *Lab, session, kind, opts, faults string) (ServerInfo, error) {
	spec := ServerSpec{Kind: kind}
	if opts != "" {
		spec.Options = json.RawMessage(opts)
	}
	if err := json.Unmarshal([]byte(faults), &spec.Faults); err != nil {
		panic(err)
	}
	return lab.StartServer(session, spec)
}

// Faults given at start act on the very first connection: a reset after 0
// bytes resets it, and server-start lists the faults.
func TestFaultsAtStartActOnTheFirstConnection(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv, err := startWithFaults(lab, "s", "tcp-echo", "", `[{"type":"reset","direction":"upstream","attributes":{"bytes":3}},{"name":"slow","type":"latency","enabled":false}]`)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv.Addr)
	write(t, c, []byte("hello"))
	if err := readErr(c); Classify(err).Errno != "ECONNRESET" {
		t.Fatalf("peer's read: %v, want ECONNRESET", err)
	}
	evs := sink.waitFor(t, "the reset's fault event", hasFault(srv.ID, "reset"))
	start := filter(evs, KindServerStart, srv.ID)
	if len(start) != 1 {
		t.Fatalf("server-start events: %v", start)
	}
	listed, _ := start[0].Meta["faults"].([]Fault)
	if len(listed) != 2 || listed[0].Type != "reset" || listed[1].Name != "slow" || listed[1].Enabled {
		t.Errorf("server-start faults %+v", start[0].Meta["faults"])
	}
	// The added events follow server-start and precede the first accept.
	added := indexOf(evs, func(ev Event) bool {
		return ev.Kind == KindFault && ev.Meta["change"] == "added" && ev.Meta["fault"] == "slow"
	})
	accept := indexOf(evs, func(ev Event) bool { return ev.Kind == KindAccept })
	if added < 0 || accept < 0 || added > accept {
		t.Errorf("added event at %d, accept at %d\n%s", added, accept, dumpEvents(evs))
	}
	if fe := faultEvents(evs, srv.ID, "latency"); len(fe) != 0 {
		t.Errorf("a fault started switched off acted: %v", fe)
	}
	list, _ := lab.Faults("s", srv.ID)
	if len(list) != 2 || !list[0].Enabled || list[1].Enabled {
		t.Errorf("Faults = %+v", list)
	}
}

// A refuse given at start: the port is bound but nothing is accepted;
// removing it accepts on the same port.
func TestFaultsAtStartRefuse(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv, err := startWithFaults(lab, "s", "tcp-echo", "", `[{"type":"refuse"}]`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", srv.Addr, waitTimeout); Classify(err).Errno != "ECONNREFUSED" {
		t.Fatalf("dial: %v, want ECONNREFUSED", err)
	}
	if err := lab.RemoveFault("s", srv.ID, "refuse"); err != nil {
		t.Fatal(err)
	}
	c := dial(t, srv.Addr)
	write(t, c, []byte("hi"))
	if got := readN(t, c, 2); string(got) != "hi" {
		t.Errorf("echoed %q", got)
	}
}

// A wrong fault refuses the start, naming the fault and its field, and
// nothing starts: no server, no event, the port stays free.
func TestFaultsAtStartBadSpecStartsNothing(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	port := freeLabPort(t)
	for _, tc := range []struct{ kind, faults, option, want string }{
		{"tcp-echo", `[{"type":"latency"},{"type":"lag"}]`, "faults[1].type", `fault 2 (lag), faults[1].type: unknown fault type "lag"; valid types:`},
		{"tcp-echo", `[{"type":"latency","attributes":{"latency_ms":-1}}]`, "faults[0].attributes.latency_ms", "faults[0].attributes.latency_ms"},
		{"tcp-echo", `[{"type":"latency","attributes":{"ms":1}}]`, "faults[0].attributes.ms", "valid attributes: latency_ms, jitter_ms"},
		{"tcp-echo", `[{"type":"reset","toxicity":3}]`, "faults[0].toxicity", "toxicity 3 is out of range"},
		{"tcp-echo", `[{"type":"latency"},{"type":"latency"}]`, "faults[1].name", `fault 1 and fault 2 are both named "latency"`},
		{"tcp-echo", `[{"type":"drop"}]`, "faults[0].type", "only udp-echo has those"},
		{"udp-echo", `[{"type":"latency"}]`, "faults[0].type", "UDP has none"},
		{"tcp-proxy", `[{"type":"stall","direction":"up"}]`, "faults[0].direction", "valid directions"},
	} {
		opts := ""
		if tc.kind == "tcp-proxy" {
			opts = `{"target":"127.0.0.1:` + itoa(port) + `"}`
		}
		spec := ServerSpec{Kind: tc.kind, Port: port, Options: json.RawMessage(opts)}
		if opts == "" {
			spec.Options = nil
		}
		json.Unmarshal([]byte(tc.faults), &spec.Faults)
		_, err := lab.StartServer("s", spec)
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != tc.option || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s with %s: %v (option %q), want option %q saying %q", tc.kind, tc.faults, err, optionOf(oe), tc.option, tc.want)
		}
	}
	if n := len(lab.Servers("s")); n != 0 {
		t.Errorf("%d servers listed after refused starts", n)
	}
	if evs := sink.events(); len(evs) != 0 {
		t.Errorf("refused starts emitted events:\n%s", dumpEvents(evs))
	}
	// The port is still free: a good start takes it.
	if _, err := lab.StartServer("s", ServerSpec{Kind: "tcp-echo", Port: port}); err != nil {
		t.Errorf("start on the port after the refused starts: %v", err)
	}
}

func optionOf(oe *OptionError) string {
	if oe == nil {
		return ""
	}
	return oe.Option
}

func itoa(n int) string { return strconv.Itoa(n) }

func mustUnmarshal(t testing.TB, js string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(js), v); err != nil {
		t.Fatal(err)
	}
}

// A fault switched off stays listed and does nothing; switched on it acts
// again. A refuse switched off listens again; on, it refuses again.
func TestFaultSwitchOffAndOn(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	addFault(t, lab, "s", srv.ID, `{"type":"reset","direction":"upstream","attributes":{"bytes":0}}`)
	f, err := lab.UpdateFault("s", srv.ID, "reset", FaultPatch{Enabled: new(false)})
	if err != nil || f.Enabled {
		t.Fatalf("switch off: %+v, %v", f, err)
	}
	c := dial(t, srv.Addr)
	write(t, c, []byte("hi"))
	if got := readN(t, c, 2); string(got) != "hi" {
		t.Errorf("echo with the reset off: %q", got)
	}
	if fe := faultEvents(sink.events(), srv.ID, "reset"); len(fe) != 0 {
		t.Errorf("a fault switched off acted: %v", fe)
	}
	// Switched on, it acts on the open connection at once (bytes 0).
	if _, err := lab.UpdateFault("s", srv.ID, "reset", FaultPatch{Enabled: new(true)}); err != nil {
		t.Fatal(err)
	}
	if err := readErr(c); Classify(err).Errno != "ECONNRESET" {
		t.Errorf("read after switching on: %v, want ECONNRESET", err)
	}
	evs := sink.waitFor(t, "the switch events", func(evs []Event) bool {
		n := 0
		for _, ev := range filter(evs, KindFault, srv.ID) {
			if ev.Meta["change"] == "off" || ev.Meta["change"] == "on" {
				n++
			}
		}
		return n == 2
	})
	for _, ev := range filter(evs, KindFault, srv.ID) {
		if ev.Meta["change"] == "off" && ev.Conn != "" {
			t.Errorf("the switch event is on connection %s, want on the server", ev.Conn)
		}
	}

	// refuse: off listens again, on refuses again.
	addFault(t, lab, "s", srv.ID, `{"type":"refuse"}`)
	if _, err := net.DialTimeout("tcp", srv.Addr, waitTimeout); Classify(err).Errno != "ECONNREFUSED" {
		t.Fatalf("dial while refused: %v", err)
	}
	lab.RemoveFault("s", srv.ID, "reset")
	if _, err := lab.UpdateFault("s", srv.ID, "refuse", FaultPatch{Enabled: new(false)}); err != nil {
		t.Fatal(err)
	}
	c2 := dial(t, srv.Addr)
	write(t, c2, []byte("ok"))
	if got := readN(t, c2, 2); string(got) != "ok" {
		t.Errorf("echo with refuse off: %q", got)
	}
	if _, err := lab.UpdateFault("s", srv.ID, "refuse", FaultPatch{Enabled: new(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", srv.Addr, time.Second); Classify(err).Errno != "ECONNREFUSED" {
		t.Errorf("dial with refuse on again: %v", err)
	}
	// Removing it listens again.
	if err := lab.RemoveFault("s", srv.ID, "refuse"); err != nil {
		t.Fatal(err)
	}
	c3 := dial(t, srv.Addr)
	write(t, c3, []byte("3"))
	readN(t, c3, 1)
}

// A fault switched off while the server waits in a read does not act on
// the bytes that read brings.
func TestFaultSwitchedOffWhileAReadWaits(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	addFault(t, lab, "s", srv.ID, `{"type":"latency","direction":"upstream","attributes":{"latency_ms":20}}`)
	c := dial(t, srv.Addr)
	write(t, c, []byte("a"))
	readN(t, c, 1)
	waitFaultedReadBlocks(t)
	if _, err := lab.UpdateFault("s", srv.ID, "latency", FaultPatch{Enabled: new(false)}); err != nil {
		t.Fatal(err)
	}
	write(t, c, []byte("b"))
	readN(t, c, 1)
	evs := sink.waitFor(t, "the second echo's send", func(evs []Event) bool { return len(filter(evs, KindSend, srv.ID)) == 2 })
	if fe := faultEvents(evs, srv.ID, "latency"); len(fe) != 1 {
		t.Errorf("%d latency events, want 1 (none after the switch off)\n%s", len(fe), dumpEvents(evs))
	}
}

// waitFaultedReadBlocks waits until a goroutine is blocked in a socket read
// under the fault pipeline (its stack shows both), so that a change made
// next comes while that read waits.
func waitFaultedReadBlocks(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "(*connFaults).read(") && strings.Contains(g, "internal/poll.runtime_pollWait") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no read blocked under the fault pipeline")
		}
		runtime.Gosched()
	}
}

// Downstream latency queues: back-to-back writes of the server are each
// delayed once, not one after the other. The server's reads go on while
// its replies wait, so every recv is recorded before the first send goes
// out (one at a time, each write would wait before the next read).
func TestFaultDownstreamLatencyQueues(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startEcho(t, lab, "s", `{"recv_size":1}`)
	addFault(t, lab, "s", srv.ID, `{"type":"latency","direction":"downstream","attributes":{"latency_ms":1000}}`)
	c := dial(t, srv.Addr)
	start := time.Now()
	write(t, c, []byte("abcdefgh"))
	if got := readN(t, c, 8); string(got) != "abcdefgh" {
		t.Errorf("echo %q, want abcdefgh in order", got)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("echo after %s, want at least about 1 s", d)
	}
	evs := sink.waitFor(t, "8 sends", func(evs []Event) bool { return len(filter(evs, KindSend, srv.ID)) == 8 })
	sent := false
	for _, ev := range evs {
		if ev.Server != srv.ID {
			continue
		}
		sent = sent || ev.Kind == KindSend
		if sent && ev.Kind == KindRecv {
			t.Errorf("a recv after the first send: the writes waited one after the other\n%s", dumpEvents(evs))
			break
		}
	}
	if fe := faultEvents(evs, srv.ID, "latency"); len(fe) != 8 {
		t.Errorf("%d latency events, want one per write (8)", len(fe))
	}
}

// A server that writes and closes at once (greet) under downstream
// latency: the greeting still arrives, then the FIN.
func TestFaultDownstreamLatencyThenCloseDelivers(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"mode":"greet"}`)
	addFault(t, lab, "s", srv.ID, `{"type":"latency","direction":"downstream","attributes":{"latency_ms":50}}`)
	c := dial(t, srv.Addr)
	if got := readToEOF(t, c); !strings.HasPrefix(string(got), "Hello") {
		t.Errorf("read %q before EOF, want the greeting", got)
	}
}

// A tcp-echo that listens again after a refuse keeps its socket options:
// the new listening socket has its SO_RCVBUF and its backlog.
func TestFaultRefuseListensAgainWithTheSocketOptions(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"rcvbuf":32768,"backlog":3}`)
	addFault(t, lab, "s", srv.ID, `{"type":"refuse"}`)
	if err := lab.RemoveFault("s", srv.ID, "refuse"); err != nil {
		t.Fatal(err)
	}
	lab.mu.Lock()
	ss := lab.find("s").servers[srv.ID].(*StreamServer)
	lab.mu.Unlock()
	rc, err := ss.listener().(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var rcvbuf, backlog int
	var ok bool
	rc.Control(func(fd uintptr) {
		rcvbuf, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		_, backlog, ok = listenQueue(int(fd))
	})
	if rcvbuf != 65536 {
		t.Errorf("SO_RCVBUF of the new listener %d, want 65536 (32768 asked, doubled by Linux)", rcvbuf)
	}
	if ok && backlog != 3 {
		t.Errorf("backlog of the new listener %d, want 3", backlog)
	}
	c := dial(t, srv.Addr)
	write(t, c, []byte("ok"))
	readN(t, c, 2)
}

// Removing a downstream latency while replies wait in its queue keeps
// their order: the next replies go behind them.
func TestFaultLatencyRemovedWhileQueuedKeepsOrder(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	addFault(t, lab, "s", srv.ID, `{"type":"latency","direction":"downstream","attributes":{"latency_ms":300}}`)
	c := dial(t, srv.Addr)
	write(t, c, []byte("first "))
	// The server read it and queued its reply (its fault event says so).
	deadline := time.Now().Add(waitTimeout)
	for f, _ := lab.Faults("s", srv.ID); f[0].Fired == 0; f, _ = lab.Faults("s", srv.ID) {
		if time.Now().After(deadline) {
			t.Fatal("the latency never acted")
		}
		runtime.Gosched()
	}
	if err := lab.RemoveFault("s", srv.ID, "latency"); err != nil {
		t.Fatal(err)
	}
	write(t, c, []byte("second"))
	if got := readN(t, c, 12); string(got) != "first second" {
		t.Errorf("echo %q, want \"first second\"", got)
	}
}
