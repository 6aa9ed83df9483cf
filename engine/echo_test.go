package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Each case sends one chunk in one write and reads the reply of the server
// byte by byte as a terminal client would.
func TestEchoModeReplies(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{CaptureCap: -1})
	tests := []struct {
		name string
		opts string
		send string
		want string
	}{
		{"echo returns bytes unchanged", `{"mode":"echo"}`, "hello \x00\xff world\n", "hello \x00\xff world\n"},
		{"default mode is echo", ``, "ping", "ping"},
		{"prefix default", `{"mode":"prefix"}`, "hello", "Echo: hello"},
		{"prefix custom", `{"mode":"prefix","prefix":"Server received: "}`, "hello", "Server received: hello"},
		{"prefix explicitly empty", `{"mode":"prefix","prefix":""}`, "hello", "hello"},
		{"upper ASCII", `{"mode":"upper"}`, "hello, world 42\n", "HELLO, WORLD 42\n"},
		{"upper non-ASCII", `{"mode":"upper"}`, "héllo", "HÉLLO"},
		{"upper leaves invalid UTF-8 bytes unchanged", `{"mode":"upper"}`, "a\xffb\xc3", "A\xffB\xc3"},
		{"reverse", `{"mode":"reverse"}`, "hello", "olleh"},
		{"reverse keeps the line ending last", `{"mode":"reverse"}`, "hello\n", "olleh\n"},
		{"reverse keeps CRLF last", `{"mode":"reverse"}`, "hello\r\n", "olleh\r\n"},
		{"reverse is rune-aware", `{"mode":"reverse"}`, "héllo wörld", "dlröw olléh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startEcho(t, lab, "s", tt.opts)
			t.Cleanup(func() { lab.StopServer("s", srv.ID) })
			c := dial(t, srv.Addr)
			write(t, c, []byte(tt.send))
			if got := readN(t, c, len(tt.want)); string(got) != tt.want {
				t.Errorf("sent %q, got %q, want %q", tt.send, got, tt.want)
			}
		})
	}
}

func TestEchoGreetSendsGreetingThenCloses(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"mode":"greet"}`)
	c := dial(t, srv.Addr)
	if got := readToEOF(t, c); string(got) != "Hello Client!" {
		t.Errorf("got %q, want %q then EOF", got, "Hello Client!")
	}
}

func TestEchoDaytimeSendsCtimeLineThenCloses(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"mode":"daytime"}`)
	c := dial(t, srv.Addr)
	before := time.Now().Truncate(time.Second)
	got := readToEOF(t, c)
	after := time.Now()
	line, ok := strings.CutSuffix(string(got), "\r\n")
	if !ok || strings.ContainsAny(line, "\r\n") {
		t.Fatalf("got %q, want one line ending in \\r\\n", got)
	}
	at, err := time.ParseInLocation("Mon Jan _2 15:04:05 2006", line, time.Local)
	if err != nil {
		t.Fatalf("got %q: %v", got, err)
	}
	if at.Before(before) || at.After(after) {
		t.Errorf("daytime %v is not between %v and %v", at, before, after)
	}
}

func TestEchoAcceptCloseRepliesAccepted(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"mode":"accept-close"}`)
	c := dial(t, srv.Addr)
	for _, msg := range []string{"hi", "hello there\n"} {
		write(t, c, []byte(msg))
		if got := readN(t, c, len("accepted")); string(got) != "accepted" {
			t.Errorf("sent %q, got %q, want %q", msg, got, "accepted")
		}
	}
}

func TestEchoAcceptCloseClosesOnClose(t *testing.T) {
	for _, msg := range []string{"CLOSE\n", "close", "Close\r\n"} {
		t.Run(fmt.Sprintf("%q", msg), func(t *testing.T) {
			lab, _ := newTestLab(t, LabConfig{})
			srv := startEcho(t, lab, "s", `{"mode":"accept-close"}`)
			c := dial(t, srv.Addr)
			write(t, c, []byte(msg))
			if got := readToEOF(t, c); string(got) != "closed" {
				t.Errorf("sent %q, got %q, want %q then EOF", msg, got, "closed")
			}
		})
	}
}

func TestEchoOneshotRepliesOnceThenCloses(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"mode":"upper","oneshot":true}`)
	c := dial(t, srv.Addr)
	write(t, c, []byte("once"))
	if got := readToEOF(t, c); string(got) != "ONCE" {
		t.Errorf("got %q, want %q then EOF", got, "ONCE")
	}
}

func TestEchoRecvSizeSplitsOneWriteIntoReads(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startEcho(t, lab, "s", `{"mode":"echo","recv_size":1024}`)
	if got := srv.Options.Int("recv_size"); got != 1024 {
		t.Fatalf("shown recv_size = %d, want 1024", got)
	}
	c := dial(t, srv.Addr)
	payload := make([]byte, 10000)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	write(t, c, payload)
	if got := readN(t, c, len(payload)); !bytes.Equal(got, payload) {
		t.Fatalf("echoed bytes differ from the 10000 sent")
	}
	evs := sink.waitFor(t, "recv and send events summing to 10000 bytes", func(evs []Event) bool {
		return sumLen(filter(evs, KindRecv, srv.ID)) == len(payload) && sumLen(filter(evs, KindSend, srv.ID)) == len(payload)
	})
	recvs := filter(evs, KindRecv, srv.ID)
	if len(recvs) < 10 {
		t.Errorf("got %d recv events, want at least 10 (10000 bytes in reads of at most 1024)", len(recvs))
	}
	var got []byte
	for _, ev := range recvs {
		if ev.Len < 1 || ev.Len > 1024 {
			t.Errorf("recv event Len = %d, want 1..1024", ev.Len)
		}
		if len(ev.Data) != ev.Len || ev.Truncated {
			t.Errorf("recv event has %d bytes of data for Len %d (truncated %v) with no capture cap", len(ev.Data), ev.Len, ev.Truncated)
		}
		got = append(got, ev.Data...)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("recv events' data differ from the bytes sent")
	}
}

func TestEventsDescribeAcceptRecvSendClose(t *testing.T) {
	const session = "sess-events"
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startEcho(t, lab, session, `{"mode":"echo"}`)
	c := dial(t, srv.Addr)
	write(t, c, []byte("ping"))
	readN(t, c, 4)
	c.Close()

	evs := sink.waitFor(t, "the server's local close", func(evs []Event) bool {
		return indexOf(filter(evs, KindClose, srv.ID), func(ev Event) bool { return isClose(ev, "local", false) }) >= 0
	})
	if n := len(filter(evs, KindServerStart, srv.ID)); n != 1 {
		t.Errorf("%d server-start events, want 1", n)
	}
	if n := len(filter(evs, KindListen, srv.ID)); n != 1 {
		t.Errorf("%d listen events, want 1", n)
	}
	accepts := filter(evs, KindAccept, srv.ID)
	if len(accepts) != 1 {
		t.Fatalf("%d accept events, want 1:\n%s", len(accepts), dumpEvents(evs))
	}
	conn := accepts[0].Conn
	if !strings.HasPrefix(conn, "c-") {
		t.Errorf("Conn = %q, want a c- id", conn)
	}
	// The server's side of the connection: its local address is the test's
	// remote one and the other way round.
	wantLocal, wantRemote := c.RemoteAddr().String(), c.LocalAddr().String()
	got := connEvents(evs, conn)
	var kinds []Kind
	for _, ev := range got {
		kinds = append(kinds, ev.Kind)
		if ev.Session != session || ev.Server != srv.ID || ev.Local != wantLocal || ev.Remote != wantRemote {
			t.Errorf("%s event: session %q server %q local %q remote %q; want %q %q %q %q",
				ev.Kind, ev.Session, ev.Server, ev.Local, ev.Remote, session, srv.ID, wantLocal, wantRemote)
		}
		if ev.At.IsZero() {
			t.Errorf("%s event has no time", ev.Kind)
		}
	}
	wantKinds := []Kind{KindAccept, KindRecv, KindSend, KindClose, KindClose}
	if !slices.Equal(kinds, wantKinds) {
		t.Fatalf("connection events %v, want %v:\n%s", kinds, wantKinds, dumpEvents(evs))
	}
	for _, ev := range got[1:3] {
		if string(ev.Data) != "ping" || ev.Len != 4 || ev.Truncated {
			t.Errorf("%s event: data %q len %d truncated %v, want \"ping\" 4 false", ev.Kind, ev.Data, ev.Len, ev.Truncated)
		}
	}
	// A full close from the test is a FIN like a half-close: the server sees
	// the peer's end of stream, then closes its own side.
	if !isClose(got[3], "peer", true) || !isClose(got[4], "local", false) {
		t.Errorf("close events %v then %v, want by=peer half=true then by=local half=false", got[3].Meta, got[4].Meta)
	}
}

func TestEventsPeerHalfCloseThenLocalClose(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"mode":"echo"}`)
	c := dial(t, srv.Addr)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	// The server has nothing more to read, so it closes: the test reads EOF.
	if got := readToEOF(t, c); len(got) != 0 {
		t.Errorf("got %q after half-close, want nothing", got)
	}
	evs := sink.waitFor(t, "two close events", func(evs []Event) bool {
		return len(filter(evs, KindClose, srv.ID)) == 2
	})
	closes := filter(evs, KindClose, srv.ID)
	if !isClose(closes[0], "peer", true) {
		t.Errorf("first close meta %v, want by=peer half=true", closes[0].Meta)
	}
	if !isClose(closes[1], "local", false) {
		t.Errorf("second close meta %v, want by=local half=false", closes[1].Meta)
	}
	if closes[0].Conn != closes[1].Conn {
		t.Errorf("close events on connections %s and %s, want one connection", closes[0].Conn, closes[1].Conn)
	}
}

func TestStopServerClosesLiveConnection(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, session, `{"mode":"echo"}`)
	port := portNum(t, srv.Addr)
	c := dial(t, srv.Addr)
	write(t, c, []byte("x"))
	readN(t, c, 1)

	stopped, err := lab.StopServer(session, srv.ID)
	if err != nil {
		t.Fatalf("StopServer: %v", err)
	}
	if stopped.State != StateStopped || stopped.StoppedAt.IsZero() || stopped.Conns != 0 {
		t.Errorf("after stop: state %q stopped_at %v conns %d, want stopped, a time, 0", stopped.State, stopped.StoppedAt, stopped.Conns)
	}
	if _, err := c.Read(make([]byte, 1)); !isEOFOrReset(err) {
		t.Errorf("read on the live connection after stop: %v, want EOF or reset", err)
	}
	// StopServer returns after every close: no waiting needed.
	evs := sink.events()
	iClose := indexOf(evs, func(ev Event) bool {
		return ev.Server == srv.ID && isClose(ev, "local", false) && ev.Meta["reason"] == "server stopped"
	})
	iStop := indexOf(evs, func(ev Event) bool { return ev.Server == srv.ID && ev.Kind == KindServerStop })
	if iClose < 0 || iStop < 0 || iClose > iStop {
		t.Errorf("want close (by=local, reason \"server stopped\") then server-stop; got indexes %d and %d:\n%s", iClose, iStop, dumpEvents(evs))
	}
	if n := len(filter(evs, KindServerStop, srv.ID)); n != 1 {
		t.Errorf("%d server-stop events, want 1", n)
	}
	if got := lab.Servers(session); len(got) != 1 || got[0].State != StateStopped || got[0].StoppedAt.IsZero() {
		t.Errorf("Servers after stop = %v, want it listed once as stopped", got)
	}
	lab.pool.mu.Lock()
	held := lab.pool.inUse[port]
	lab.pool.mu.Unlock()
	if held {
		t.Errorf("port %d is still marked in use in the pool after stop", port)
	}
	// The port is really free: a new server binds it (SO_REUSEADDR lets it
	// past the old connection's TIME_WAIT).
	again, err := lab.StartServer(session, ServerSpec{Kind: "tcp-echo", Port: port})
	if err != nil {
		t.Fatalf("restart on port %d: %v", port, err)
	}
	if again.Addr != srv.Addr {
		t.Errorf("restarted on %s, want %s", again.Addr, srv.Addr)
	}
	if _, err := lab.StopServer(session, srv.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second StopServer of %s: %v, want ErrNotFound", srv.ID, err)
	}
}

// The capture budget is per connection, both directions together: events
// always report the real Len, and Data holds what is left of the budget.
func TestCaptureCap(t *testing.T) {
	payload := []byte("abcdefghijklmnopqrstuvwxy") // 25 bytes
	tests := []struct {
		name      string
		cap       int64
		wantKept  int // bytes of Data over the whole connection
		wantTrunc bool
	}{
		{"cap 10", 10, 10, true},
		{"cap 30", 30, 30, true},
		{"cap 0 keeps nothing", 0, 0, true},
		{"unlimited", -1, 50, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lab, sink := newTestLab(t, LabConfig{CaptureCap: tt.cap})
			srv := startEcho(t, lab, "s", `{"mode":"echo"}`)
			c := dial(t, srv.Addr)
			write(t, c, payload)
			readN(t, c, len(payload))
			evs := sink.waitFor(t, "25 bytes received and sent", func(evs []Event) bool {
				return sumLen(filter(evs, KindRecv, srv.ID)) == len(payload) && sumLen(filter(evs, KindSend, srv.ID)) == len(payload)
			})
			kept, seenTrunc := 0, false
			off := map[Kind]int{} // how far into payload each direction is
			for _, ev := range evs {
				if ev.Server != srv.ID || (ev.Kind != KindRecv && ev.Kind != KindSend) {
					continue
				}
				whole := payload[off[ev.Kind] : off[ev.Kind]+ev.Len]
				off[ev.Kind] += ev.Len
				left := len(whole)
				if tt.cap >= 0 {
					left = max(0, min(len(whole), int(tt.cap)-kept))
				}
				if !bytes.Equal(ev.Data, whole[:left]) {
					t.Errorf("%s event (Len %d): Data %q, want %q", ev.Kind, ev.Len, ev.Data, whole[:left])
				}
				if want := left < len(whole); ev.Truncated != want {
					t.Errorf("%s event (Len %d, %d kept): Truncated %v, want %v", ev.Kind, ev.Len, len(ev.Data), ev.Truncated, want)
				}
				kept += len(ev.Data)
				seenTrunc = seenTrunc || ev.Truncated
			}
			if kept != tt.wantKept || seenTrunc != tt.wantTrunc {
				t.Errorf("kept %d bytes (truncated %v), want %d (%v):\n%s", kept, seenTrunc, tt.wantKept, tt.wantTrunc, dumpEvents(evs))
			}
		})
	}
}

func TestStartServerUnknownModeListsModes(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	_, err := lab.StartServer("s", ServerSpec{Kind: "tcp-echo", Options: []byte(`{"mode":"shout"}`)})
	var oe *OptionError
	if !errors.As(err, &oe) {
		t.Fatalf("err = %v, want *OptionError", err)
	}
	if oe.Option != "mode" {
		t.Errorf("Option = %q, want mode", oe.Option)
	}
	for _, m := range EchoModes {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not list mode %q", err, m)
		}
	}
	if !strings.Contains(err.Error(), "shout") {
		t.Errorf("error %q does not name the bad mode", err)
	}
}

func TestStartServerRecvSize(t *testing.T) {
	tests := []struct {
		opts    string
		want    int // the recv_size shown back; 0 = an *OptionError
		wantErr bool
	}{
		{`{"recv_size":0}`, 0, true},
		{`{}`, DefaultRecvSize, false},
		{`{"recv_size":1}`, 1, false},
		{`{"recv_size":65536}`, 65536, false},
		{`{"recv_size":65537}`, 0, true},
		{`{"recv_size":70000}`, 0, true},
		{`{"recv_size":-1}`, 0, true},
	}
	lab, _ := newTestLab(t, LabConfig{})
	for _, tt := range tests {
		t.Run(tt.opts, func(t *testing.T) {
			info, err := lab.StartServer("s", ServerSpec{Kind: "tcp-echo", Options: []byte(tt.opts)})
			if tt.wantErr {
				var oe *OptionError
				if !errors.As(err, &oe) || oe.Option != "recv_size" {
					t.Fatalf("err = %v, want an *OptionError on recv_size", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer lab.StopServer("s", info.ID)
			if got := info.Options.Int("recv_size"); got != tt.want {
				t.Errorf("recv_size shown = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestStartServerUnknownOptionIsNamed(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	_, err := lab.StartServer("s", ServerSpec{Kind: "tcp-echo", Options: []byte(`{"mode":"echo","recvsize":10}`)})
	var oe *OptionError
	if !errors.As(err, &oe) {
		t.Fatalf("err = %v, want *OptionError", err)
	}
	if oe.Option != "recvsize" || !strings.Contains(err.Error(), "recvsize") {
		t.Errorf("err = %q (option %q), want one naming recvsize", err, oe.Option)
	}
}

func TestStartServerUnknownKindListsKinds(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	_, err := lab.StartServer("s", ServerSpec{Kind: "tcp-ehco"})
	var uk *UnknownKindError
	if !errors.As(err, &uk) {
		t.Fatalf("err = %v, want *UnknownKindError", err)
	}
	if !errors.Is(err, ErrUnknownKind) {
		t.Errorf("errors.Is(%v, ErrUnknownKind) = false", err)
	}
	if !slices.Contains(uk.Valid, "tcp-echo") || !strings.Contains(err.Error(), "tcp-echo") {
		t.Errorf("err = %q, valid %v: want tcp-echo listed", err, uk.Valid)
	}
}

func TestStartServerPortOutOfRange(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	for _, port := range []int{80, testPorts.First - 1, testPorts.Last + 1, 65535} {
		_, err := lab.StartServer("s", ServerSpec{Kind: "tcp-echo", Port: port})
		if !errors.Is(err, ErrPortOutOfRange) {
			t.Errorf("port %d: err = %v, want ErrPortOutOfRange", port, err)
		}
	}
	if n := len(filter(sink.events(), KindServerStart, "")); n != 0 {
		t.Errorf("%d server-start events, want none", n)
	}
}

func TestStartServerPortInUse(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	port := freeLabPort(t)
	first, err := lab.StartServer("s", ServerSpec{Kind: "tcp-echo", Port: port})
	if err != nil {
		t.Fatalf("first server on port %d: %v", port, err)
	}
	_, err = lab.StartServer("s", ServerSpec{Kind: "tcp-echo", Port: port})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second server on port %d: err = %v, want EADDRINUSE", port, err)
	}
	evs := filter(sink.events(), KindError, "")
	if len(evs) != 1 || evs[0].Err == nil {
		t.Fatalf("want one error event:\n%s", dumpEvents(sink.events()))
	}
	ev := evs[0]
	if ev.Err.Errno != "EADDRINUSE" || ev.Err.Hint == "" || ev.Err.Message == "" {
		t.Errorf("error event %+v, want errno EADDRINUSE with a message and a hint", *ev.Err)
	}
	if ev.Session != "s" || ev.Meta["op"] != "listen" {
		t.Errorf("error event session %q meta %v, want s and op=listen", ev.Session, ev.Meta)
	}
	if got := lab.Servers("s"); len(got) != 1 || got[0].ID != first.ID {
		t.Errorf("Servers = %v, want only the first one", got)
	}
}

func TestStartServerLimitPerSession(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{MaxServersPerSession: 2})
	a := startEcho(t, lab, "a", "")
	startEcho(t, lab, "a", "")
	if _, err := lab.StartServer("a", ServerSpec{Kind: "tcp-echo"}); !errors.Is(err, ErrLimit) {
		t.Fatalf("third server: err = %v, want ErrLimit", err)
	}
	// The limit is per session, and a stopped server no longer counts.
	startEcho(t, lab, "b", "")
	if _, err := lab.StopServer("a", a.ID); err != nil {
		t.Fatal(err)
	}
	startEcho(t, lab, "a", "")
}

// Every echo connection handled by the server gets its own id; the ids do not
// repeat.
func TestEventsConnIDsAreDistinct(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"mode":"greet"}`)
	for range 3 {
		c := dial(t, srv.Addr)
		if _, err := io.ReadAll(c); err != nil {
			t.Fatal(err)
		}
	}
	evs := sink.waitFor(t, "three accepts", func(evs []Event) bool { return len(filter(evs, KindAccept, srv.ID)) == 3 })
	seen := map[string]bool{}
	for _, ev := range filter(evs, KindAccept, srv.ID) {
		if seen[ev.Conn] {
			t.Errorf("connection id %s used twice", ev.Conn)
		}
		seen[ev.Conn] = true
	}
}

func TestStartServerRejectsBadOptions(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	tests := []struct {
		name   string
		spec   ServerSpec
		option string
		msg    string
	}{
		{"prefix over 1024 bytes", ServerSpec{Kind: "tcp-echo", Options: []byte(`{"mode":"prefix","prefix":"` + strings.Repeat("x", 1025) + `"}`)}, "prefix", "1024"},
		{"recv_size of the wrong type", ServerSpec{Kind: "tcp-echo", Options: []byte(`{"recv_size":"big"}`)}, "recv_size", `option "recv_size": got a string, want a whole number`},
		{"oneshot of the wrong type", ServerSpec{Kind: "tcp-echo", Options: []byte(`{"oneshot":1}`)}, "oneshot", "want a boolean (true or false)"},
		{"options not an object", ServerSpec{Kind: "tcp-echo", Options: []byte(`[1]`)}, "", "got an array, want an object"},
		{"options not JSON", ServerSpec{Kind: "tcp-echo", Options: []byte(`{"mode":}`)}, "", "invalid JSON"},
		{"name over 100 bytes", ServerSpec{Kind: "tcp-echo", Name: strings.Repeat("n", 101)}, "name", "100 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lab.StartServer("s", tt.spec)
			var oe *OptionError
			if !errors.As(err, &oe) || oe.Option != tt.option || !strings.Contains(oe.Msg, tt.msg) {
				t.Errorf("err = %v, want an *OptionError on %q saying %q", err, tt.option, tt.msg)
			}
			// Messages speak JSON, not Go.
			if strings.Contains(err.Error(), "Go ") || strings.Contains(err.Error(), "struct") || strings.Contains(err.Error(), "engine.") {
				t.Errorf("err = %v names Go types", err)
			}
		})
	}
	if evs := sink.events(); len(evs) != 0 {
		t.Errorf("rejected specs emitted events:\n%s", dumpEvents(evs))
	}
}

func TestMaxConnsPerServerRefusesExtraConnection(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{MaxConnsPerServer: 1, CaptureCap: -1})
	srv := startEcho(t, lab, "s", `{"mode":"echo"}`)
	first := dial(t, srv.Addr)
	write(t, first, []byte("1"))
	readN(t, first, 1)

	second := dial(t, srv.Addr)
	if _, err := second.Read(make([]byte, 1)); !isEOFOrReset(err) {
		t.Fatalf("second connection: read %v, want EOF or reset", err)
	}
	evs := sink.waitFor(t, "the refused connection's close", func(evs []Event) bool {
		return indexOf(evs, func(ev Event) bool { return ev.Kind == KindClose && ev.Meta["reason"] == "connection limit reached" }) >= 0
	})
	conn := evs[indexOf(evs, func(ev Event) bool { return ev.Kind == KindAccept && ev.Remote == second.LocalAddr().String() })].Conn
	var kinds []Kind
	for _, ev := range connEvents(evs, conn) {
		kinds = append(kinds, ev.Kind)
		if ev.Kind == KindError && (ev.Meta["op"] != "accept" || ev.Meta["limit"] != 1) {
			t.Errorf("error event meta %v, want op=accept limit=1", ev.Meta)
		}
	}
	if want := []Kind{KindAccept, KindError, KindClose}; !slices.Equal(kinds, want) {
		t.Errorf("refused connection's events %v, want %v", kinds, want)
	}
	// The first connection is still served.
	write(t, first, []byte("2"))
	if got := readN(t, first, 1); string(got) != "2" {
		t.Errorf("first connection got %q, want \"2\"", got)
	}
	if info := lab.Servers("s")[0]; info.Conns != 1 || info.Accepted != 1 {
		t.Errorf("server conns %d accepted %d, want 1 and 1", info.Conns, info.Accepted)
	}
}

func TestPortPoolSkipsBusyPort(t *testing.T) {
	first := freeLabPorts(t, 2)
	busy := listenLoopback(t, first)
	lab, _ := newTestLab(t, LabConfig{Ports: PortRange{first, first + 1}})
	srv := startEcho(t, lab, "s", "")
	if got := portNum(t, srv.Addr); got != first+1 {
		t.Errorf("server on port %d, want %d (%s is busy)", got, first+1, busy.Addr())
	}
	if _, err := lab.StartServer("s", ServerSpec{Kind: "tcp-echo"}); !errors.Is(err, ErrNoFreePort) {
		t.Errorf("with every port taken: err = %v, want ErrNoFreePort", err)
	}
}

// A port that was just closed may have connections in TIME_WAIT, so the pool
// hands out the others first.
func TestPortPoolAvoidsJustClosedPort(t *testing.T) {
	first := freeLabPorts(t, 2)
	lab, _ := newTestLab(t, LabConfig{Ports: PortRange{first, first + 1}})
	var got []int
	for range 3 {
		srv := startEcho(t, lab, "s", "")
		got = append(got, portNum(t, srv.Addr))
		if _, err := lab.StopServer("s", srv.ID); err != nil {
			t.Fatal(err)
		}
	}
	if want := []int{first, first + 1, first}; !slices.Equal(got, want) {
		t.Errorf("ports handed out %v, want %v", got, want)
	}
}

func TestEventsPeerResetIsReported(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"mode":"echo"}`)
	c := dial(t, srv.Addr)
	write(t, c, []byte("x"))
	readN(t, c, 1)
	// SO_LINGER 0 makes close send an RST instead of a FIN.
	if err := c.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	c.Close()
	evs := sink.waitFor(t, "the server's close after the reset", func(evs []Event) bool {
		return len(filter(evs, KindClose, srv.ID)) > 0
	})
	// Let the handler finish: once the server is stopped no event can follow.
	if _, err := lab.StopServer("s", srv.ID); err != nil {
		t.Fatal(err)
	}
	evs = sink.events()
	var kinds []Kind
	for _, ev := range connEvents(evs, filter(evs, KindAccept, srv.ID)[0].Conn) {
		kinds = append(kinds, ev.Kind)
		switch ev.Kind {
		case KindError:
			if ev.Err == nil || ev.Err.Errno != "ECONNRESET" || ev.Err.Hint == "" || ev.Meta["op"] != "recv" {
				t.Errorf("error event %+v meta %v, want ECONNRESET with a hint, op=recv", ev.Err, ev.Meta)
			}
		case KindClose:
			if !isClose(ev, "peer", false) || ev.Meta["reason"] != "reset by peer (RST)" {
				t.Errorf("close meta %v, want by=peer half=false reason \"reset by peer (RST)\"", ev.Meta)
			}
		}
	}
	if want := []Kind{KindAccept, KindRecv, KindSend, KindError, KindClose}; !slices.Equal(kinds, want) {
		t.Errorf("connection events %v, want %v (one close: the reset ends it)\n%s", kinds, want, dumpEvents(evs))
	}
}
