package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func openKind(t *testing.T, lab *Lab, kind, target, opts string) (ClientInfo, error) {
	t.Helper()
	return lab.OpenClient(context.Background(), "s", ClientSpec{Kind: kind, Target: target, Options: json.RawMessage(opts)})
}

// A pool of 3 connections sends 10 requests to an echo: 3 dials, 7 reuses,
// every reply back; when the pool is done its connections close.
func TestPoolClientReusesItsConnections(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	info, err := openKind(t, lab, "pool", srv.Addr, `{"connections":3,"requests":10,"message":"hello\n"}`)
	if err != nil {
		t.Fatal(err)
	}
	c := info.Counters
	if c["new_dials"] != 3 || c["reused"] != 7 || c["answered"] != 10 || c["replaced"] != 0 || info.Sent != 60 || info.Received != 60 {
		t.Errorf("counters %v, sent %d, received %d: want 3 dials, 7 reuses, 10 answers, 60 bytes each way", c, info.Sent, info.Received)
	}
	evs := sink.waitFor(t, "the pool's three closes", func(evs []Event) bool { return len(filter(evs, KindClose, info.ID)) >= 3 })
	if n := len(filter(evs, KindConnect, info.ID)); n != 3 {
		t.Errorf("%d connect events, want 3", n)
	}
	if n := len(filter(evs, KindSend, info.ID)); n != 10 {
		t.Errorf("%d send events, want 10", n)
	}
	// The echo's side closes once it reads the pool's FIN (CLOSE-WAIT until then).
	waitSockets(t, lab, "s", "only the listener left open", func(r []SocketInfo) bool { return len(openRows(r)) == 1 })
}

// Against a server that closes after each reply (oneshot), every reused
// connection is found broken and replaced: its close says so, and the new
// connection's connect event names the one it replaces.
func TestPoolClientReplacesABrokenConnection(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"oneshot":true}`)
	info, err := openKind(t, lab, "pool", srv.Addr, `{"connections":2,"requests":4}`)
	if err != nil {
		t.Fatal(err)
	}
	c := info.Counters
	if c["new_dials"] != 4 || c["reused"] != 2 || c["replaced"] != 2 || c["answered"] != 4 {
		t.Errorf("counters %v: want 4 dials, 2 reuses, 2 replaced, 4 answers", c)
	}
	evs := sink.events()
	replaced := map[string]bool{}
	for _, ev := range filter(evs, KindClose, info.ID) {
		if r, _ := ev.Meta["reason"].(string); strings.Contains(r, "the pool replaces it") {
			replaced[ev.Conn] = true
		}
	}
	named := 0
	for _, ev := range filter(evs, KindConnect, info.ID) {
		if id, _ := ev.Meta["replaces"].(string); id != "" {
			if !replaced[id] {
				t.Errorf("connect %v replaces %s, whose close does not say it was replaced", ev.Meta, id)
			}
			named++
		}
	}
	if len(replaced) != 2 || named != 2 {
		t.Errorf("%d closes say replaced, %d connects name what they replace; want 2 each:\n%s", len(replaced), named, dumpEvents(evs))
	}
}

// Requests go to each target in turn; the dead one is skipped with an
// error event naming where the request goes instead, and the counters say
// which target answered how many.
func TestRoundRobinClientSkipsADeadTarget(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	a := startEcho(t, lab, "s", "")
	b := startKind(t, lab, "s", "tcp-echo", `{"mode":"upper"}`)
	dead := "127.0.0.1:" + strconv.Itoa(freeLabPort(t))
	info, err := openKind(t, lab, "round-robin", a.Addr, `{"targets":"`+dead+`, `+b.Addr+`","requests":6,"message":"hi\n"}`)
	if err != nil {
		t.Fatal(err)
	}
	c := info.Counters
	if c["target_1_answered"] != 3 || c["target_3_answered"] != 3 || c["target_2_down"] != 3 || c["skipped"] != 3 || c["answered"] != 6 {
		t.Errorf("counters %v: want 3 answers from targets 1 and 3, target 2 skipped 3 times", c)
	}
	evs := sink.events()
	skips := 0
	for _, ev := range filter(evs, KindError, info.ID) {
		if ev.Err.Errno == "ECONNREFUSED" && ev.Remote == dead && strings.Contains(ev.Meta["skipped"].(string), "goes to target 3 ("+b.Addr+")") {
			skips++
		}
	}
	if skips != 3 {
		t.Errorf("%d skip events, want 3:\n%s", skips, dumpEvents(evs))
	}
	// Which target answered what: target 3 upper-cases.
	upper := 0
	for _, ev := range filter(evs, KindRecv, info.ID) {
		if string(ev.Data) == "HI\n" && ev.Remote == b.Addr {
			upper++
		}
	}
	if upper != 3 {
		t.Errorf("%d upper-cased replies from %s, want 3:\n%s", upper, b.Addr, dumpEvents(filter(evs, KindRecv, info.ID)))
	}
}

// Every target of a round-robin client goes through the dial policy: one
// outside the lab is refused without a dial (and skipped); targets that are
// not host:port are refused before anything starts.
func TestRoundRobinClientChecksEveryTarget(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	a := startEcho(t, lab, "s", "")
	info, err := openKind(t, lab, "round-robin", a.Addr, `{"targets":"127.0.0.1:22","requests":2}`)
	if err != nil {
		t.Fatal(err)
	}
	if info.Counters["target_2_down"] != 1 || info.Counters["answered"] != 2 {
		t.Errorf("counters %v", info.Counters)
	}
	refused := 0
	for _, ev := range filter(sink.events(), KindError, info.ID) {
		if ev.Err.Errno == "EREFUSED" && ev.Remote == "127.0.0.1:22" {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d EREFUSED events for 127.0.0.1:22, want 1", refused)
	}
	for _, bad := range []string{"nonsense", "127.0.0.1:0", "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3,127.0.0.1:4,127.0.0.1:5,127.0.0.1:6,127.0.0.1:7,127.0.0.1:8,127.0.0.1:9,127.0.0.1:10"} {
		_, err := openKind(t, lab, "round-robin", a.Addr, `{"targets":"`+bad+`"}`)
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != "targets" {
			t.Errorf("targets %q: err %v, want an option error about targets", bad, err)
		}
	}
	// Every target down: the open fails with the last error.
	if _, err := openKind(t, lab, "round-robin", "127.0.0.1:"+strconv.Itoa(freeLabPort(t)), `{"requests":1}`); Classify(err).Errno != "ECONNREFUSED" {
		t.Errorf("all targets down: %v, want ECONNREFUSED", err)
	}
}
