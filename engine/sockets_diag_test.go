package engine

import (
	"errors"
	"net"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// rowsByID indexes a table by socket id (a closed connection's id with a
// "closed " prefix: a client's closed connection and its open one differ).
func rowsByID(rows []SocketInfo) map[string]SocketInfo {
	m := make(map[string]SocketInfo, len(rows))
	for _, r := range rows {
		k := r.ID
		if r.Closed {
			k = "closed " + k
		}
		m[k] = r
	}
	return m
}

// The kernel's view is the same whichever way the table asks: one dump of
// every state, getsockopt per socket with exact lookups of the closed
// connections (what Sockets does for a small session) or a dump of the
// closing states, and the fallback where netlink
// is refused (a dump that fails, as in a sandbox without it: getsockopt and
// /proc/net/tcp) or a socket is not in the dump (opened after it). Each has
// the open connections' TCP_INFO and the closed one's TIME-WAIT.
func TestSocketTableKernelPathsAgree(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel's view is Linux's")
	}
	lab, _ := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	gone := openTCPClient(t, lab, "s", srv.Addr, "")
	if _, err := lab.CloseClient("s", gone.ID, false); err != nil {
		t.Fatal(err)
	}
	cli := openTCPClient(t, lab, "s", srv.Addr, "")
	if err := lab.Send("s", cli.ID, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	want := waitSockets(t, lab, "s", "the pair, the echo and the closed client in TIME-WAIT", func(r []SocketInfo) bool {
		c, a, g := sockRow(r, cli.ID, "client"), sockRow(r, srv.ID, "accepted"), sockRow(r, gone.ID, "client")
		return len(r) == 4 && c != nil && a != nil && c.BytesIn == 5 && g != nil && g.Closed && g.State == "TIME-WAIT"
	})
	refused := func([]uint8, uint32, func(*diagSock)) error { return syscall.EPERM }
	empty := func([]uint8, uint32, func(*diagSock)) error { return nil }
	refusedLookup := func([]diagQuery, func(int, uint8)) error { return syscall.EPERM }
	for _, p := range []struct {
		name   string
		k      kernelPath
		closed bool // the closed connection is listed (an empty dump has no TIME-WAIT)
	}{
		{"one dump of every state", kernelPath{dump: kernelDump}, true},
		{"getsockopt and exact lookups of the closed (Sockets)", autoKernel, true},
		{"getsockopt and a dump of the closing states", kernelPath{dump: kernelDump, openAtLeast: diagOpenAtLeast}, true},
		{"lookups refused: a dump of the closing states", kernelPath{dump: kernelDump, lookup: refusedLookup, openAtLeast: diagOpenAtLeast}, true},
		{"no netlink: getsockopt and /proc/net/tcp", kernelPath{}, true},
		{"netlink refused", kernelPath{dump: refused}, true},
		{"sockets not in the dump", kernelPath{dump: empty, openAtLeast: 1}, false},
	} {
		got := rowsByID(lab.sockets("s", p.k))
		n := len(want)
		if !p.closed {
			n--
		}
		if len(got) != n {
			t.Errorf("%s: %d rows, want %d:\n%s", p.name, len(got), len(want), dumpSockets(lab.sockets("s", p.k)))
			continue
		}
		for _, w := range want {
			k := w.ID
			if w.Closed {
				k = "closed " + k
				if !p.closed {
					if _, ok := got[k]; ok {
						t.Errorf("%s: a closed connection the dump does not have is listed", p.name)
					}
					continue
				}
			}
			g, ok := got[k]
			if !ok {
				t.Errorf("%s: no row %s", p.name, k)
				continue
			}
			if g.State != w.State || g.Proto != "tcp" || g.Role != w.Role || g.Local != w.Local || g.Remote != w.Remote {
				t.Errorf("%s: row %+v, want %+v", p.name, g, w)
			}
			if w.Closed {
				continue
			}
			if g.TCPInfo == nil || g.TCPInfo.State != g.State {
				t.Errorf("%s: row %s has tcp_info %+v, want the kernel's, state %s", p.name, g.ID, g.TCPInfo, g.State)
			} else if g.Role != "listener" && (g.TCPInfo.RTTus == 0 || g.TCPInfo.SndCwnd == 0) {
				t.Errorf("%s: row %s tcp_info %+v has no rtt or cwnd", p.name, g.ID, g.TCPInfo)
			}
		}
	}
	if n := dumpFound(lab, "s"); n != 2 {
		t.Errorf("one dump found %d of the session's 2 open connections with their tcp_info, want both", n)
	}
	if err := kernelDump([]uint8{famInet}, diagClosing, func(*diagSock) {}); errors.Is(err, syscall.EPERM) {
		t.Logf("netlink sock_diag is refused here: Sockets takes the fallback")
	}
}

// One side of a real connection closes: the closing side (the server, in
// greet mode: a greeting, then close) is listed, closed, in FIN-WAIT-2 and
// the side that has not closed yet in CLOSE-WAIT; once that side closes
// too, the first is in TIME-WAIT and the second is gone. The same through
// the fallback (/proc/net/tcp and getsockopt).
func TestSocketTableShowsBothSidesOfAClose(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the kernel's states are Linux's")
	}
	lab, _ := newTestLab(t, LabConfig{})
	srv := startKind(t, lab, "s", "tcp-echo", `{"mode":"greet"}`)
	cli := openTCPClient(t, lab, "s", srv.Addr, "")
	halfClosed := func(r []SocketInfo) bool {
		a, c := sockRow(r, srv.ID, "accepted"), sockRow(r, cli.ID, "client")
		return a != nil && a.Closed && a.State == "FIN-WAIT-2" && c != nil && !c.Closed && c.State == "CLOSE-WAIT"
	}
	rows := waitSockets(t, lab, "s", "the server's side in FIN-WAIT-2 and the client's in CLOSE-WAIT", halfClosed)
	if a := sockRow(rows, srv.ID, "accepted"); a.Local != srv.Addr || a.BytesOut == 0 || a.TCPInfo != nil {
		t.Errorf("the closed side %+v: want it on %s, its greeting counted, no tcp_info (no socket to ask)", a, srv.Addr)
	}
	if r := lab.sockets("s", kernelPath{}); !halfClosed(r) {
		t.Errorf("the fallback does not show FIN-WAIT-2 and CLOSE-WAIT:\n%s", dumpSockets(r))
	}
	if _, err := lab.CloseClient("s", cli.ID, false); err != nil {
		t.Fatal(err)
	}
	waitSockets(t, lab, "s", "the server's side in TIME-WAIT, the client's gone", func(r []SocketInfo) bool {
		a := sockRow(r, srv.ID, "accepted")
		return a != nil && a.Closed && a.State == "TIME-WAIT" && sockRow(r, cli.ID, "client") == nil
	})
}

// unixServer is a server of Unix domain sockets as the table sees one: a
// listener (h15u's unix-echo is one; this test does not need it).
type unixServer struct{ ln net.Listener }

func (s unixServer) listener() net.Listener { return s.ln }
func (unixServer) Info() ServerInfo         { return ServerInfo{} }
func (unixServer) setInfo(ServerInfo)       {}
func (s unixServer) addr() string           { return s.ln.Addr().String() }
func (unixServer) discard()                 {}
func (unixServer) serve()                   {}
func (unixServer) stop(string)              {}

// A Unix domain socket is not TCP: its listener is listed LISTEN and a
// connection ESTABLISHED with proto unix and no tcp_info, whichever way
// the table asks the kernel, and a closed one is not kept.
func TestSocketTableListsUnixSockets(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", "")
	cli := openTCPClient(t, lab, "s", srv.Addr, "")
	path := filepath.Join(t.TempDir(), "echo.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	row := socketOwner{id: "srv-unix", kind: "unix-echo", net: protoUnix, addr: path, srv: unixServer{ln}}.ownSockets(nil)
	if len(row) != 1 || row[0].Proto != protoUnix || row[0].State != "LISTEN" || row[0].Local != path || row[0].TCPInfo != nil {
		t.Errorf("the Unix listener's row %+v, want proto unix, LISTEN on %s, no tcp_info", row, path)
	}
	uc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	// Registered the way the lab registers a connection: newConn, owned by
	// the session's client.
	c := newConn(uc, newTap(sink, nil, "s", cli.ID, protoUnix, path, "@", 0), nil)
	for _, k := range []kernelPath{autoKernel, {dump: kernelDump}, {}} {
		var u *SocketInfo
		rows := lab.sockets("s", k)
		for i := range rows {
			if rows[i].Proto == protoUnix {
				u = &rows[i]
			}
		}
		if u == nil || u.ID != c.ID() || u.State != "ESTABLISHED" || u.Owner != cli.ID || u.Role != "client" || u.TCPInfo != nil || u.Local != path {
			t.Errorf("kernel path %+v: the Unix connection's row %+v, want ESTABLISHED, proto unix, on %s, the client's, no tcp_info:\n%s",
				k, u, path, dumpSockets(rows))
		}
	}
	c.Close()
	waitSockets(t, lab, "s", "the Unix connection gone, not kept as closed", func(r []SocketInfo) bool {
		for _, x := range r {
			if x.Proto == protoUnix || x.ID == c.ID() {
				return false
			}
		}
		return true
	})
}
