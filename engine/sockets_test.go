package engine

import (
	"context"
	"encoding/json"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// waitSockets polls session's socket table until cond holds (or fails the
// test after waitTimeout, showing the last table).
func waitSockets(t testing.TB, lab *Lab, session, what string, cond func([]SocketInfo) bool) []SocketInfo {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		rows := lab.Sockets(session)
		if cond(rows) {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket table: %s never happened; last table:\n%s", what, dumpSockets(rows))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func dumpSockets(rows []SocketInfo) string {
	var b strings.Builder
	for _, r := range rows {
		j, _ := json.Marshal(r)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// openRows leaves out the connections closed here that the kernel still
// holds (TIME-WAIT…).
func openRows(rows []SocketInfo) []SocketInfo {
	var out []SocketInfo
	for _, r := range rows {
		if !r.Closed {
			out = append(out, r)
		}
	}
	return out
}

// row returns the row of role owned by owner, or nil.
func sockRow(rows []SocketInfo, owner, role string) *SocketInfo {
	for i := range rows {
		if rows[i].Owner == owner && rows[i].Role == role {
			return &rows[i]
		}
	}
	return nil
}

func openTCPClient(t testing.TB, lab *Lab, session, target, opts string) ClientInfo {
	t.Helper()
	spec := ClientSpec{Kind: "tcp", Target: target}
	if opts != "" {
		spec.Options = json.RawMessage(opts)
	}
	info, err := lab.OpenClient(context.Background(), session, spec)
	if err != nil {
		t.Fatalf("OpenClient(%s): %v", target, err)
	}
	return info
}

// A tcp-echo server and a tcp client of the session: the table lists the
// listener (LISTEN), the accepted connection and the client's (both
// ESTABLISHED, each the other's mirror), their bytes once the client sent,
// and on Linux the kernel's TCP_INFO. Closing the client removes both.
func TestSocketTableShowsAnEchoPair(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	cli := openTCPClient(t, lab, "s", srv.Addr, "")
	rows := waitSockets(t, lab, "s", "listener, accepted and client rows", func(r []SocketInfo) bool {
		return len(r) == 3 && sockRow(r, srv.ID, "accepted") != nil
	})
	ln, acc, c := sockRow(rows, srv.ID, "listener"), sockRow(rows, srv.ID, "accepted"), sockRow(rows, cli.ID, "client")
	if ln == nil || c == nil {
		t.Fatalf("want a listener of %s and a client row of %s:\n%s", srv.ID, cli.ID, dumpSockets(rows))
	}
	if ln.State != "LISTEN" || ln.Local != srv.Addr || ln.Proto != "tcp" {
		t.Errorf("listener row %+v, want LISTEN on %s", ln, srv.Addr)
	}
	if acc.State != "ESTABLISHED" || c.State != "ESTABLISHED" {
		t.Errorf("states %s (accepted) and %s (client), want ESTABLISHED", acc.State, c.State)
	}
	if acc.Local != c.Remote || acc.Remote != c.Local || c.ID != cli.Conn {
		t.Errorf("accepted %s⇄%s is not the client's %s⇄%s mirrored (or the client row's id %s is not its conn %s)",
			acc.Local, acc.Remote, c.Local, c.Remote, c.ID, cli.Conn)
	}
	if err := lab.Send("s", cli.ID, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	rows = waitSockets(t, lab, "s", "the echo counted both ways", func(r []SocketInfo) bool {
		a, c := sockRow(r, srv.ID, "accepted"), sockRow(r, cli.ID, "client")
		return a != nil && c != nil && a.BytesIn == 5 && a.BytesOut == 5 && c.BytesOut == 5 && c.BytesIn == 5
	})
	acc, c = sockRow(rows, srv.ID, "accepted"), sockRow(rows, cli.ID, "client")
	if acc.Events < 2 || c.Events < 2 {
		t.Errorf("events %d (accepted) and %d (client), want at least a recv and a send each", acc.Events, c.Events)
	}
	if runtime.GOOS == "linux" {
		if ln.TCPInfo == nil || ln.TCPInfo.State != "LISTEN" || ln.TCPInfo.Backlog == 0 {
			t.Errorf("listener tcp_info %+v, want LISTEN with its backlog", ln.TCPInfo)
		}
		ti := c.TCPInfo
		if ti == nil || ti.State != "ESTABLISHED" || ti.RTTus == 0 || ti.SndCwnd == 0 || ti.BytesAcked < 5 || ti.BytesReceived < 5 {
			t.Errorf("client tcp_info %+v, want ESTABLISHED with an rtt, a cwnd and 5 bytes acked and received", ti)
		}
	} else if c.TCPInfo != nil {
		t.Errorf("tcp_info %+v outside Linux", c.TCPInfo)
	}
	if _, err := lab.CloseClient("s", cli.ID, false); err != nil {
		t.Fatal(err)
	}
	waitSockets(t, lab, "s", "only the listener left open", func(r []SocketInfo) bool {
		r = openRows(r)
		return len(r) == 1 && r[0].Role == "listener"
	})
	if _, err := lab.StopServer("s", srv.ID); err != nil {
		t.Fatal(err)
	}
	if rows := openRows(lab.Sockets("s")); len(rows) != 0 {
		t.Errorf("a stopped server's sockets are still listed:\n%s", dumpSockets(rows))
	}
}

// The kernel's states after one side closes: a client whose peer closed
// sits in CLOSE-WAIT until it closes too; a client that shut down its
// sending side waits in FIN-WAIT-2 for the peer's FIN.
func TestSocketTableShowsCloseWaitAndFinWait(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel's states come from TCP_INFO (Linux)")
	}
	lab, _ := newTestLab(t, LabConfig{})
	port := freeLabPort(t)
	ln := listenLoopback(t, port)
	target := "127.0.0.1:" + strconv.Itoa(port)

	// The peer (a plain listener outside the session) closes at once.
	a := openTCPClient(t, lab, "s", target, "")
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	peer.Close()
	waitSockets(t, lab, "s", "CLOSE-WAIT after the peer's FIN", func(r []SocketInfo) bool {
		row := sockRow(r, a.ID, "client")
		return row != nil && row.State == "CLOSE-WAIT"
	})

	// This side shuts down its sending side; the peer keeps its side open.
	b := openTCPClient(t, lab, "s", target, "")
	peer2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer2.Close()
	if _, err := lab.CloseClient("s", b.ID, true); err != nil {
		t.Fatal(err)
	}
	waitSockets(t, lab, "s", "FIN-WAIT-2 after shutdown(SHUT_WR)", func(r []SocketInfo) bool {
		row := sockRow(r, b.ID, "client")
		return row != nil && row.State == "FIN-WAIT-2"
	})
}

// UDP sockets: a udp-echo server's socket (UNCONN) and a connected udp
// client's (ESTABLISHED, its target as remote). Other sessions see none of
// them.
func TestSocketTableListsUDPSocketsOfTheSessionOnly(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startKind(t, lab, "s", "udp-echo", "")
	cli, err := lab.OpenClient(context.Background(), "s", ClientSpec{Kind: "udp", Target: srv.Addr, Options: json.RawMessage(`{"connect":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	rows := lab.Sockets("s")
	s, c := sockRow(rows, srv.ID, "listener"), sockRow(rows, cli.ID, "client")
	if len(rows) != 2 || s == nil || c == nil {
		t.Fatalf("want the server's and the client's UDP sockets:\n%s", dumpSockets(rows))
	}
	if s.Proto != "udp" || s.State != "UNCONN" || s.Local != srv.Addr || c.State != "ESTABLISHED" || c.Remote != srv.Addr || c.TCPInfo != nil {
		t.Errorf("rows %+v and %+v, want UNCONN on %s and ESTABLISHED to it, no tcp_info", s, c, srv.Addr)
	}
	startEcho(t, lab, "other", "")
	for _, r := range lab.Sockets("other") {
		if r.Owner == srv.ID || r.Owner == cli.ID {
			t.Errorf("session other lists %+v of session s", r)
		}
	}
	if rows := lab.Sockets("nobody"); len(rows) != 0 {
		t.Errorf("a session without servers lists %d sockets", len(rows))
	}
}

// A tcp-proxy's two legs: the accepted connection and its upstream one to
// the target, both the proxy's.
func TestSocketTableShowsAProxysUpstreamLeg(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	echo := startEcho(t, lab, "s", "")
	proxy := startKind(t, lab, "s", "tcp-proxy", `{"target":"`+echo.Addr+`"}`)
	c := dial(t, proxy.Addr)
	write(t, c, []byte("ping"))
	readN(t, c, 4)
	rows := lab.Sockets("s")
	up := sockRow(rows, proxy.ID, "upstream")
	acc := sockRow(rows, proxy.ID, "accepted")
	if up == nil || acc == nil || up.Remote != echo.Addr || up.BytesOut != 4 || acc.BytesIn != 4 {
		t.Fatalf("want the proxy's accepted leg and its upstream leg to %s with 4 bytes each way:\n%s", echo.Addr, dumpSockets(rows))
	}
	if e := sockRow(rows, echo.ID, "accepted"); e == nil || e.Remote != up.Local {
		t.Errorf("the echo's accepted connection is not the proxy's upstream leg:\n%s", dumpSockets(rows))
	}
}

// The side that closes first keeps the connection in the kernel after its
// socket is gone: the table still lists it, marked closed, with the
// kernel's state (FIN-WAIT-2, then TIME-WAIT once the peer closed too).
func TestSocketTableShowsTimeWaitAfterTheClose(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("closed connections' states come from /proc/net/tcp (Linux)")
	}
	lab, _ := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	cli := openTCPClient(t, lab, "s", srv.Addr, "")
	waitSockets(t, lab, "s", "the pair", func(r []SocketInfo) bool { return sockRow(r, srv.ID, "accepted") != nil })
	if _, err := lab.CloseClient("s", cli.ID, false); err != nil {
		t.Fatal(err)
	}
	rows := waitSockets(t, lab, "s", "the closed client in TIME-WAIT", func(r []SocketInfo) bool {
		c := sockRow(r, cli.ID, "client")
		return c != nil && c.State == "TIME-WAIT" && sockRow(r, srv.ID, "accepted") == nil
	})
	c := sockRow(rows, cli.ID, "client")
	if !c.Closed || c.ID != cli.Conn || c.TCPInfo != nil || c.Remote != srv.Addr {
		t.Errorf("row %+v: want the client's connection, closed, without tcp_info", c)
	}
}

// The table lists its rows oldest first (ties by id), each once, whatever
// order the registry holds them in: a session of 30 clients and the 30
// connections its echo accepted.
func TestSocketTableOldestFirst(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	for range 30 {
		openTCPClient(t, lab, "s", srv.Addr, "")
	}
	rows := waitSockets(t, lab, "s", "the listener and 60 connections", func(r []SocketInfo) bool { return len(r) == 61 })
	seen := map[string]bool{}
	var prev time.Time
	for i, r := range rows {
		at, err := time.Parse(time.RFC3339Nano, r.Since)
		if err != nil {
			t.Fatalf("row %d: since %q: %v", i, r.Since, err)
		}
		if i > 0 && (at.Before(prev) || at.Equal(prev) && r.ID < rows[i-1].ID) {
			t.Errorf("row %d (%s, %s) comes after %s (%s)", i, r.ID, r.Since, rows[i-1].ID, rows[i-1].Since)
		}
		k := r.ID + " " + r.Role
		if seen[k] {
			t.Errorf("row %s listed twice", k)
		}
		seen[k] = true
		prev = at
	}
}
