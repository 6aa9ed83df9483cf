package engine

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// A session's socket quota (a workshop participant's) counts its listener,
// the connections its server accepted and its clients together: past it a
// new client is refused with ErrLimit naming the quota, a connection from
// outside is accepted and closed at once with a LIMIT event naming it, and
// another session of the same lab is not affected. Closing makes room.
func TestSessionSocketQuota(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{MaxSockets: 100})
	lab.SetQuota("a", Quota{Servers: 5, Clients: 5, Sockets: 3})
	srv := startEcho(t, lab, "a", "")        // 1: the listener
	cli := openClient(t, lab, "a", srv.Addr) // 2 and 3: the client and its accepted end
	sink.waitFor(t, "the accept", func(evs []Event) bool { return len(filter(evs, KindAccept, srv.ID)) == 1 })
	if q, open := lab.QuotaOf("a"); q.Sockets != 3 || open != 3 {
		t.Errorf("QuotaOf(a) = %+v, %d open; want 3 of 3", q, open)
	}

	_, err := lab.OpenClient(context.Background(), "a", ClientSpec{Kind: "tcp", Target: srv.Addr})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "at most 3 open sockets") || !strings.Contains(err.Error(), "-participant-max-sockets") {
		t.Errorf("a client past the quota: err = %v, want ErrLimit naming 3 sockets and -participant-max-sockets", err)
	}
	outside, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	outside.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := outside.Read(make([]byte, 1)); err == nil {
		t.Error("a connection past the quota was kept open")
	}
	outside.Close()
	evs := sink.waitFor(t, "the refusal", func(evs []Event) bool {
		return indexOf(filter(evs, KindError, srv.ID), func(ev Event) bool { return ev.Err != nil && ev.Err.Errno == "LIMIT" }) >= 0
	})
	refusal := filter(evs, KindError, srv.ID)[0]
	if !strings.Contains(refusal.Err.Hint, "-participant-max-sockets") || !strings.Contains(refusal.Err.Message, "quota") {
		t.Errorf("refusal %q / %q does not name the quota", refusal.Err.Message, refusal.Err.Hint)
	}

	// Session b has no quota: five clients on its own server.
	other := startEcho(t, lab, "b", "")
	for range 5 {
		openClient(t, lab, "b", other.Addr)
	}
	if _, open := lab.QuotaOf("b"); open < 6 {
		t.Errorf("session b holds %d sockets, want its listener and 5 clients at least", open)
	}
	got := lab.QuotaRefusals()
	if got[QuotaSockets] != 2 || got[QuotaLabSockets] != 0 {
		t.Errorf("refusals %v: want 2 by the sockets quota, none by -max-sockets", got)
	}

	if _, err := lab.CloseClient("a", cli.ID, false); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, "the server's end closed", func(evs []Event) bool {
		return len(filter(evs, KindClose, srv.ID)) >= 2 // the refused one and this one
	})
	openClient(t, lab, "a", srv.Addr)
}

// A session's rate quota paces it (its sockets wait, nothing is dropped),
// even in a lab with no event budget, and its share says so; a session
// without one is not paced. The quota's refusals of servers and clients
// are counted, and the session's own logger names what refused.
func TestSessionRateQuotaAndLog(t *testing.T) {
	var buf syncBuffer
	sink := newTestSink()
	lab := NewLab(LabConfig{Host: "127.0.0.1", Ports: testPorts}, sink, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { lab.Close() })
	lab.SetQuota("a", Quota{Servers: 1, Clients: 2, EventRate: 100})
	lab.SetSessionLog("a", slog.New(slog.NewTextHandler(&buf, nil)).With("session", "a", "workshop", "wk1", "participant", "p1"))
	if r := lab.EventRate("a"); r != 100 {
		t.Errorf("EventRate(a) = %d, want 100", r)
	}
	srv := startEcho(t, lab, "a", "")
	if _, err := lab.StartServer("a", ServerSpec{Kind: "tcp-echo"}); !errors.Is(err, ErrLimit) {
		t.Errorf("a second server: %v, want ErrLimit", err)
	}
	// 60 messages echoed are 240 events: past the burst of 64, so the
	// session's sockets must have waited.
	c := dial(t, srv.Addr)
	msg := bytes.Repeat([]byte("x"), 8)
	for range 60 {
		write(t, c, msg)
		readN(t, c, len(msg))
	}
	if lab.Throttled("a") == 0 {
		t.Error("session a sent 240 events against a quota of 100 a second and never waited")
	}
	other := startEcho(t, lab, "b", "")
	d := dial(t, other.Addr)
	for range 100 {
		write(t, d, msg)
		readN(t, d, len(msg))
	}
	if n := lab.Throttled("b"); n != 0 {
		t.Errorf("session b, without a quota, waited %d times", n)
	}
	if n := lab.QuotaRefusals()[QuotaServers]; n != 1 {
		t.Errorf("servers refused: %d, want 1", n)
	}
	log := buf.String()
	for _, want := range []string{`msg="server started"`, `quota=servers`, `workshop=wk1`, `participant=p1`} {
		if !strings.Contains(log, want) {
			t.Errorf("the session's log lacks %s:\n%s", want, log)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
