package engine

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// blocksLab is a lab whose sessions "alice" and "bob" are two participants
// of workshop w1, each with a block of 10 ports of the test range.
func blocksLab(t *testing.T) (*Lab, *testSink, PortBlock, PortBlock) {
	t.Helper()
	lab, sink := newTestLab(t, LabConfig{})
	r := lab.Ports()
	a := PortBlock{Ports: PortRange{r.First, r.First + 9}, Owner: "Alice", Group: "w1"}
	b := PortBlock{Ports: PortRange{r.First + 10, r.First + 19}, Owner: "Bob", Group: "w1"}
	lab.SetPortBlock("alice", a)
	lab.SetPortBlock("bob", b)
	return lab, sink, a, b
}

func TestBlockServersListenInTheirBlock(t *testing.T) {
	lab, _, a, b := blocksLab(t)
	for range 3 {
		if p := portNum(t, startEcho(t, lab, "alice", "").Addr); !a.Ports.Contains(p) {
			t.Errorf("alice's server on %d, want inside %s", p, a.Ports)
		}
		if p := portNum(t, startEcho(t, lab, "bob", "").Addr); !b.Ports.Contains(p) {
			t.Errorf("bob's server on %d, want inside %s", p, b.Ports)
		}
	}
	// An explicit port of the other block: refused before anything binds,
	// naming the participant's own block.
	_, err := lab.StartServer("alice", ServerSpec{Kind: "tcp-echo", Port: b.Ports.First + 5})
	if !errors.Is(err, ErrPortOutOfRange) || !strings.Contains(err.Error(), "your servers listen on ports") ||
		!strings.Contains(err.Error(), a.Ports.String()[:5]) {
		t.Fatalf("explicit port in bob's block: %v, want a refusal naming alice's block %s", err, a.Ports)
	}
	// A session without a block (the instructor's) picks outside every block
	// and may not ask for a participant's port.
	if p := portNum(t, startEcho(t, lab, "instructor-demo", "").Addr); a.Ports.Contains(p) || b.Ports.Contains(p) {
		t.Errorf("instructor's server on %d, inside a participant's block", p)
	}
	if _, err := lab.StartServer("instructor-demo", ServerSpec{Kind: "tcp-echo", Port: a.Ports.Last}); err == nil || !strings.Contains(err.Error(), "Alice") {
		t.Errorf("instructor asking for alice's port: %v, want a refusal naming Alice", err)
	}
	// The block full: a clear error.
	full := PortBlock{Ports: PortRange{lab.Ports().First + 30, lab.Ports().First + 31}, Owner: "Carol", Group: "w1"}
	lab.SetPortBlock("carol", full)
	startEcho(t, lab, "carol", "")
	startEcho(t, lab, "carol", "")
	if _, err := lab.StartServer("carol", ServerSpec{Kind: "tcp-echo"}); !errors.Is(err, ErrNoFreePort) || !strings.Contains(err.Error(), "your ports") {
		t.Errorf("third server in a block of two: %v, want every one of your ports is taken", err)
	}
}

// TestBlockDialRefusedThenOpenLab: a client of Alice to Bob's server is
// refused by the dial policy (Bob's listener accepts nothing), for every
// client kind; once the lab of their workshop is open it connects and the
// connect event names Bob's server.
func TestBlockDialRefusedThenOpenLab(t *testing.T) {
	lab, sink, _, _ := blocksLab(t)
	bobSrv := startEcho(t, lab, "bob", "")
	ctx := context.Background()
	specs := []ClientSpec{
		{Kind: "tcp", Target: bobSrv.Addr},
		{Kind: "multi", Target: bobSrv.Addr},
		{Kind: "retry", Target: bobSrv.Addr, Options: []byte(`{"attempts":1}`)},
		{Kind: "round-robin", Target: bobSrv.Addr, Options: []byte(`{"requests":2}`)},
		{Kind: "pool", Target: bobSrv.Addr, Options: []byte(`{"connections":1,"requests":1}`)},
		{Kind: "udp", Target: bobSrv.Addr},
	}
	for _, spec := range specs {
		_, err := lab.OpenClient(ctx, "alice", spec)
		var re *RefusedError
		evs := filter(sink.events(), KindError, "")
		refusedEvent := false
		for _, ev := range evs {
			if ev.Session == "alice" && ev.Err != nil && strings.Contains(ev.Err.Message, "belongs to another participant") {
				refusedEvent = true
				// The hint tells the block's story, not the lab range's.
				if !strings.Contains(ev.Err.Hint, "a block of lab ports of their own") || strings.Contains(ev.Err.Hint, "by default clients may only reach") {
					t.Errorf("%s: the refusal's hint %q is not the workshop block's", spec.Kind, ev.Err.Hint)
				}
			}
		}
		if !errors.As(err, &re) && !refusedEvent {
			t.Errorf("%s client of alice to bob's %s: err %v, no refusal event; want refused", spec.Kind, bobSrv.Addr, err)
		}
		if err != nil && errors.As(err, &re) && !strings.Contains(re.Reason, "the instructor can open the lab") {
			t.Errorf("%s: reason %q does not say the instructor can open the lab", spec.Kind, re.Reason)
		}
	}
	if acc := filter(sink.events(), KindAccept, bobSrv.ID); len(acc) != 0 {
		t.Fatalf("bob's server accepted %d connections from refused dials:\n%s", len(acc), dumpEvents(acc))
	}
	// Bob's own client reaches it.
	if _, err := lab.OpenClient(ctx, "bob", ClientSpec{Kind: "tcp", Target: bobSrv.Addr}); err != nil {
		t.Fatalf("bob's own client: %v", err)
	}

	lab.SetOpenLab("w1", true)
	ci, err := lab.OpenClient(ctx, "alice", ClientSpec{Kind: "tcp", Target: bobSrv.Addr})
	if err != nil {
		t.Fatalf("open lab: alice's client to bob: %v", err)
	}
	evs := sink.waitFor(t, "alice's connect naming bob's server", func(evs []Event) bool {
		return len(filter(evs, KindConnect, ci.ID)) > 0
	})
	if got := filter(evs, KindConnect, ci.ID)[0].Meta["peer_name"]; got != "Bob's tcp-echo server" {
		t.Errorf("connect event peer_name = %v, want Bob's tcp-echo server", got)
	}
	// A udp client to Bob's udp-echo: its connect event names his server
	// too, and its peer stays the address its datagrams go to.
	bobUDP, err := lab.StartServer("bob", ServerSpec{Kind: "udp-echo"})
	if err != nil {
		t.Fatal(err)
	}
	uc, err := lab.OpenClient(ctx, "alice", ClientSpec{Kind: "udp", Target: bobUDP.Addr})
	if err != nil {
		t.Fatalf("open lab: alice's udp client to bob: %v", err)
	}
	evs = sink.waitFor(t, "alice's udp connect event", func(evs []Event) bool {
		return len(filter(evs, KindConnect, uc.ID)) > 0
	})
	if m := filter(evs, KindConnect, uc.ID)[0].Meta; m["peer_name"] != "Bob's udp-echo server" || m["peer"] != bobUDP.Addr {
		t.Errorf("udp connect event peer_name %v, peer %v; want Bob's udp-echo server at %s", m["peer_name"], m["peer"], bobUDP.Addr)
	}
	// Another workshop's participant stays out even with w1's lab open.
	lab.SetPortBlock("dave", PortBlock{Ports: PortRange{lab.Ports().First + 40, lab.Ports().First + 49}, Owner: "Dave", Group: "w2"})
	if _, err := lab.OpenClient(ctx, "dave", ClientSpec{Kind: "tcp", Target: bobSrv.Addr}); err == nil {
		t.Errorf("a participant of another workshop reached bob's server through w1's open lab")
	}
	lab.SetOpenLab("w1", false)
	if _, err := lab.OpenClient(ctx, "alice", ClientSpec{Kind: "tcp", Target: bobSrv.Addr}); err == nil {
		t.Errorf("lab closed again: alice's client still reaches bob")
	}
}

// A LAN -lab-host is the lab's own address: its lab ports may be dialed
// like loopback's, nothing else of it (and no other LAN address).
func TestPolicyLabHost(t *testing.T) {
	p := &DialPolicy{LabPorts: PortRange{20000, 20999}, LabHost: netip.MustParseAddr("192.168.1.20")}
	for _, c := range []struct {
		to string
		ok bool
	}{
		{"192.168.1.20:20040", true},
		{"[::ffff:192.168.1.20]:20040", true},
		{"192.168.1.20:22", false},
		{"192.168.1.21:20040", false},
		{"127.0.0.1:20040", true},
	} {
		err := p.Check(netip.MustParseAddrPort(c.to))
		if (err == nil) != c.ok {
			t.Errorf("Check(%s) = %v, want allowed %v", c.to, err, c.ok)
		}
	}
}
