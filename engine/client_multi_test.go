package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// The tutorials' multiconn-client against an echo server: N connections,
// M messages of S bytes each, every echo matched, each connection its own
// conn id whose close says what went each way.
func TestMultiClientAllEchoesMatched(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startEcho(t, lab, "s", `{"recv_size":7}`) // small reads: echoes come back in pieces
	ci, err := lab.OpenClient(context.Background(), "s", ClientSpec{Kind: "multi", Target: srv.Addr,
		Options: json.RawMessage(`{"connections":50,"messages":20,"size":24}`)})
	if err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, "all 50 connections done", func([]Event) bool {
		i := clientInfo(t, lab, ci.ID)
		return i.Counters["done"] == 50
	})
	info := clientInfo(t, lab, ci.ID)
	if info.Counters["messages_matched"] != 50*20 || info.Counters["connections_failed"] != 0 ||
		info.Sent != 50*20*24 || info.Received != 50*20*24 || info.State != StateClosed {
		t.Errorf("client info %+v", info)
	}
	evs := sink.waitFor(t, "50 closes", func(evs []Event) bool {
		n := 0
		for _, ev := range filter(evs, KindClose, ci.ID) {
			if ev.Meta["by"] == "local" && ev.Meta["half"] == false {
				n++
			}
		}
		return n == 50
	})
	conns := map[string]bool{}
	for _, ev := range filter(evs, KindConnect, ci.ID) {
		conns[ev.Conn] = true
	}
	if len(conns) != 50 {
		t.Errorf("%d distinct connections, want 50", len(conns))
	}
	for _, ev := range filter(evs, KindClose, ci.ID) {
		if ev.Meta["half"] == false && (ev.Meta["sent"] != int64(480) || ev.Meta["received"] != int64(480) || ev.Meta["reason"] != "all 20 messages came back") {
			t.Fatalf("a connection's close %v", ev.Meta)
		}
	}
	if err := lab.Send("s", ci.ID, []byte("x")); err == nil || !strings.Contains(err.Error(), "sends its own") {
		t.Errorf("Send on a multi client: %v", err)
	}
}

// A multi client asking for more connections than the lab's open sockets
// leave is refused before anything is dialed.
func TestMultiClientRefusedPastTheSocketLimit(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{MaxSockets: 10})
	srv := startEcho(t, lab, "s", "")
	_, err := lab.OpenClient(context.Background(), "s", ClientSpec{Kind: "multi", Target: srv.Addr,
		Options: json.RawMessage(`{"connections":20}`)})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "-max-sockets") {
		t.Fatalf("err %v, want ErrLimit naming -max-sockets", err)
	}
	if n := len(filter(sink.events(), KindAccept, srv.ID)); n != 0 {
		t.Errorf("%d connections reached the server", n)
	}
	if open, _ := lab.OpenSockets(); open != 1 {
		t.Errorf("%d sockets open, want the listener's 1", open)
	}
}

func clientInfo(t *testing.T, lab *Lab, id string) ClientInfo {
	t.Helper()
	c, err := lab.Client("s", id)
	if err != nil {
		t.Fatal(err)
	}
	return c.Info()
}

// A multi client whose connections cannot all connect fails with one
// connect error event, closes the ones that did, and gives every socket
// back. Here none connect: nothing listens at the target.
func TestMultiClientFailsWhenAConnectionIsRefused(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	if _, err := lab.StopServer("s", srv.ID); err != nil {
		t.Fatal(err)
	}
	_, err := lab.OpenClient(context.Background(), "s", ClientSpec{Kind: "multi", Target: srv.Addr,
		Options: json.RawMessage(`{"connections":5}`)})
	if err == nil {
		t.Fatal("a multi client to a port nothing listens on opened")
	}
	evs := sink.waitFor(t, "the connect error", func(evs []Event) bool {
		for _, ev := range evs {
			if ev.Kind == KindError && ev.Meta["op"] == "connect" {
				return true
			}
		}
		return false
	})
	n := 0
	for _, ev := range evs {
		if ev.Kind == KindError && ev.Meta["op"] == "connect" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d connect error events, want 1", n)
	}
	sink.waitFor(t, "every socket given back", func([]Event) bool { open, _ := lab.OpenSockets(); return open == 0 })
}
