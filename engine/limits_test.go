package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestBucketReserve(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := &bucket{rate: 100, burst: 10, tokens: 10, last: t0}
	if d := b.reserve(10, t0); d != 0 {
		t.Fatalf("the burst: wait %v, want 0", d)
	}
	// Empty: 5 more tokens take 50 ms at 100 a second.
	if d := b.reserve(5, t0); d != 50*time.Millisecond {
		t.Fatalf("past the burst: wait %v, want 50ms", d)
	}
	// Those who come later queue behind: 5 more end 100 ms out.
	if d := b.reserve(5, t0); d != 100*time.Millisecond {
		t.Fatalf("queued: wait %v, want 100ms", d)
	}
	// A second later the debt is paid and the bucket is full again, no fuller.
	if d := b.reserve(10, t0.Add(time.Second)); d != 0 {
		t.Fatalf("after a second: wait %v, want 0", d)
	}
	if d := b.reserve(1, t0.Add(time.Second)); d != 10*time.Millisecond {
		t.Fatalf("the burst does not grow past its size: wait %v, want 10ms", d)
	}
	// A clock that goes back adds nothing.
	if d := b.reserve(1, t0); d != 20*time.Millisecond {
		t.Fatalf("clock going back: wait %v, want 20ms", d)
	}
}

// A session over its event rate is slowed, not cut: every byte still
// arrives and every event is emitted; another session is not slowed.
func TestEventRateSlowsTheSessionAndDropsNothing(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{MaxEventRate: 1000})
	srv := startEcho(t, lab, "busy", `{"recv_size":64}`)
	calm := startEcho(t, lab, "calm", "")
	const n = 500 * 64 // about 1000 events: well past the burst of 100
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go c.Write([]byte(strings.Repeat("x", n)))
	if _, err := io.CopyN(io.Discard, c, n); err != nil {
		t.Fatal(err)
	}
	roundTripLab(t, calm.Addr)
	evs := sink.events()
	got := 0
	for _, ev := range filter(evs, KindRecv, srv.ID) {
		got += ev.Len
	}
	if got != n {
		t.Errorf("recv events add up to %d bytes, want %d", got, n)
	}
	if lab.Throttled("busy") == 0 {
		t.Error("the busy session was never slowed")
	}
	if w := lab.Throttled("calm"); w != 0 {
		t.Errorf("the calm session waited %d times", w)
	}
}

// roundTripLab sends one line to an echo server and reads it back.
func roundTripLab(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitTimeout))
	c.Write([]byte("ping\n"))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping\n" {
		t.Fatalf("echo of ping: %q %v", buf, err)
	}
}

// The lab's sockets (listeners, accepted connections, clients) stop at
// MaxSockets: new servers and clients are refused with ErrLimit, a
// connection from outside is accepted and closed at once with a LIMIT error
// event, and closing sockets makes room again.
func TestMaxSockets(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{MaxSockets: 3})
	srv := startEcho(t, lab, "s", "")        // 1: the listener
	cli := openClient(t, lab, "s", srv.Addr) // 2 and 3: the client and its accepted end
	sink.waitFor(t, "the accept", func(evs []Event) bool { return len(filter(evs, KindAccept, srv.ID)) == 1 })

	if _, err := lab.StartServer("s", ServerSpec{Kind: "tcp-echo"}); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "3 open sockets") {
		t.Errorf("a server past the limit: err = %v, want ErrLimit naming 3 sockets", err)
	}
	if _, err := lab.OpenClient(context.Background(), "s", ClientSpec{Kind: "tcp", Target: srv.Addr}); !errors.Is(err, ErrLimit) {
		t.Errorf("a client past the limit: err = %v, want ErrLimit", err)
	}
	outside, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	outside.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := outside.Read(make([]byte, 1)); err == nil {
		t.Error("a connection past the limit was kept open")
	}
	outside.Close()
	evs := sink.waitFor(t, "the refusal", func(evs []Event) bool {
		return indexOf(filter(evs, KindError, srv.ID), func(ev Event) bool { return ev.Err != nil && ev.Err.Errno == "LIMIT" }) >= 0
	})
	refusal := filter(evs, KindError, srv.ID)[0]
	if !strings.Contains(refusal.Err.Hint, "-max-sockets") {
		t.Errorf("refusal hint %q does not name the setting", refusal.Err.Hint)
	}

	if _, err := lab.CloseClient("s", cli.ID, false); err != nil {
		t.Fatal(err)
	}
	// The server's end closes on the client's FIN: wait for its close.
	sink.waitFor(t, "the server's end closed", func(evs []Event) bool {
		return len(filter(evs, KindClose, srv.ID)) >= 2 // the refused one and this one
	})
	openClient(t, lab, "s", srv.Addr)
}

// Every socket the lab counts is given back: after servers with client and
// outside connections (some refused at the limit) stop and clients close,
// the count is zero again.
func TestOpenSocketsReturnToZero(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{MaxSockets: 6, MaxConnsPerServer: 1})
	a := startEcho(t, lab, "s", "")
	b := startEcho(t, lab, "s", "")
	c1 := openClient(t, lab, "s", a.Addr) // and a's accepted end
	openClient(t, lab, "s", b.Addr)       // and b's accepted end: 6
	sink.waitFor(t, "two accepts", func(evs []Event) bool { return len(filter(evs, KindAccept, "")) == 2 })
	if open, _ := lab.OpenSockets(); open != 6 {
		t.Fatalf("%d sockets open, want 6", open)
	}
	// Refused ones (the per-server limit, then the lab's) are not counted.
	for range 3 {
		if c, err := net.Dial("tcp", a.Addr); err == nil {
			c.SetDeadline(time.Now().Add(waitTimeout))
			c.Read(make([]byte, 1)) // closed at once
			c.Close()
		}
	}
	if _, err := lab.CloseClient("s", c1.ID, true); err != nil { // half-close, then the server closes
		t.Fatal(err)
	}
	for _, id := range []string{a.ID, b.ID} {
		if _, err := lab.StopServer("s", id); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range lab.Clients("s") {
		lab.CloseClient("s", c.ID, false)
	}
	if open, _ := lab.OpenSockets(); open != 0 {
		t.Fatalf("%d sockets still counted after everything closed", open)
	}
}

// A connection's unused tokens go back to its session: batches start at one
// token and double, and what is left at close is returned, so many short
// connections do not use up the session's rate.
func TestTokensSlowStartAndGiveBack(t *testing.T) {
	p := &pacer{bucket: newBucket(0.001, 100), batch: 64} // refills nothing in a test's time
	conn := newTokens(p)
	for range 5 { // batches of 1, 2 and 4: 7 reserved, 5 used
		conn.take()
	}
	conn.stop()
	conn.take() // after stop: free
	if got := p.bucket.tokens; got < 94.99 || got > 95.01 {
		t.Errorf("bucket holds %.3f tokens after a connection used 5, want 95", got)
	}
	for range 50 { // fifty connections of one event each cost fifty tokens
		c := newTokens(p)
		c.take()
		c.stop()
	}
	if got := p.bucket.tokens; got < 44.99 || got > 45.01 {
		t.Errorf("bucket holds %.3f tokens after 50 one-event connections, want 45", got)
	}
}

// Closing a client does not wait for a Send blocked in write on a peer that
// stopped reading: the close makes that write fail, then the close is
// emitted. (Before, Close took the send lock first and waited for ever, and
// so did deleting the session and shutdown.)
func TestCloseDoesNotWaitForABlockedSend(t *testing.T) {
	ln := listenLoopback(t, 0)
	policy := &DialPolicy{LabPorts: testPorts}
	if err := policy.ParseAllow(ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	lab, sink := newTestLab(t, LabConfig{Policy: policy})
	cli := openClient(t, lab, "s", ln.Addr().String())
	peer, err := ln.Accept() // and never read
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	sent := make(chan error, 1)
	go func() { sent <- lab.Send("s", cli.ID, make([]byte, 32<<20)) }() // far more than any socket buffer
	sink.waitFor(t, "the send event (emitted just before the write)", func(evs []Event) bool {
		return len(filter(evs, KindSend, cli.ID)) == 1
	})
	closed := make(chan struct{})
	go func() { lab.CloseClient("s", cli.ID, false); close(closed) }()
	select {
	case <-closed:
	case <-time.After(waitTimeout):
		t.Fatal("CloseClient waits behind a Send blocked in write")
	}
	if err := <-sent; err == nil {
		t.Error("the blocked Send reported success")
	}
	evs := sink.events()
	failed := indexOf(evs, func(ev Event) bool { return ev.Kind == KindError && ev.Server == cli.ID && ev.Meta["op"] == "send" })
	closedAt := indexOf(evs, func(ev Event) bool { return isClose(ev, "local", false) && ev.Server == cli.ID })
	if failed < 0 || closedAt < failed {
		t.Errorf("want the send's error event before the close:\n%s", dumpEvents(evs))
	}
}
