package engine

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newUnixLab is a test lab whose sockets live in a directory of the test.
func newUnixLab(t *testing.T) (*Lab, *testSink, string) {
	t.Helper()
	dir := t.TempDir()
	lab, sink := newTestLab(t, LabConfig{SocketDir: filepath.Join(dir, "sockets"), CaptureCap: -1})
	return lab, sink, filepath.Join(dir, "sockets")
}

func startUnix(t *testing.T, lab *Lab, session, opts string) ServerInfo {
	t.Helper()
	return startKind(t, lab, session, "unix-echo", opts)
}

// A unix-echo server is a socket file in the session's own 0700 directory;
// a real client's bytes come back, and its events name the ends by path,
// with no port: the server's end is the path, the unnamed client's is "".
func TestUnixEchoServesARealClient(t *testing.T) {
	lab, sink, root := newUnixLab(t)
	srv := startUnix(t, lab, "s1", `{"socket":"echo"}`)
	want := filepath.Join(root, "s1", "echo.sock")
	if srv.Addr != want || srv.Net != NetUnix {
		t.Fatalf("addr %q net %q, want %q unix", srv.Addr, srv.Net, want)
	}
	fi, err := os.Stat(filepath.Join(root, "s1"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("session socket directory: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
	if fi, err := os.Lstat(want); err != nil || fi.Mode()&fs.ModeSocket == 0 {
		t.Fatalf("%s is not a socket: %v", want, err)
	}
	c, err := net.Dial("unix", want)
	if err != nil {
		t.Fatal(err)
	}
	write(t, c, []byte("hello\n"))
	if got := string(readN(t, c, 6)); got != "hello\n" {
		t.Fatalf("echo %q", got)
	}
	c.(*net.UnixConn).CloseWrite()
	if b := readToEOF(t, c); len(b) != 0 {
		t.Fatalf("after the FIN: %q", b)
	}
	c.Close()
	evs := sink.waitFor(t, "the close of the unix connection", func(evs []Event) bool {
		return len(filter(evs, KindClose, srv.ID)) >= 2
	})
	acc := filter(evs, KindAccept, srv.ID)
	if len(acc) != 1 || acc[0].Net != NetUnix || acc[0].Local != want || acc[0].Remote != "" {
		t.Fatalf("accept: %s", dumpEvents(acc))
	}
	if pid, _ := acc[0].Meta["peer_pid"].(int); pid != os.Getpid() {
		t.Errorf("accept meta peer_pid %v, want this process %d", acc[0].Meta["peer_pid"], os.Getpid())
	}
	recv := filter(evs, KindRecv, srv.ID)
	send := filter(evs, KindSend, srv.ID)
	if len(recv) < 1 || string(recv[0].Data) != "hello\n" || recv[0].Net != NetUnix || len(send) != 1 || string(send[0].Data) != "hello\n" {
		t.Fatalf("recv/send: %s", dumpEvents(evs))
	}
	closes := filter(evs, KindClose, srv.ID)
	if !isClose(closes[0], "peer", true) {
		t.Fatalf("first close should be the peer's FIN: %s", dumpEvents(closes))
	}
	for _, ev := range evs {
		if ev.Server == srv.ID && strings.Contains(ev.Local+ev.Remote, ":") {
			t.Errorf("an event of a unix socket names a port: %s", dumpEvents([]Event{ev}))
		}
	}
	if _, err := lab.StopServer("s1", srv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(want); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the socket file is still there after the stop: %v", err)
	}
}

// The snippets work as shown: nc -U, socat and the Python one, and a
// Python AF_UNIX client that shares none of sockplay's code.
func TestUnixEchoSnippetsAndPython(t *testing.T) {
	lab, _, _ := newUnixLab(t)
	srv := startUnix(t, lab, "s1", `{"socket":"echo","mode":"upper"}`)
	names := map[string]bool{}
	for _, s := range LookupServerKind("unix-echo").SnippetsFor(srv.Addr, srv.Options) {
		names[s.Name] = true
		if !strings.Contains(s.Code, srv.Addr) {
			t.Errorf("snippet %s does not name the path: %s", s.Name, s.Code)
		}
	}
	for _, n := range []string{"nc", "nc-once", "socat", "python"} {
		if !names[n] {
			t.Errorf("no %s snippet", n)
		}
	}
	if !strings.Contains(snippetCode(t, srv, "python"), "socket.AF_UNIX") {
		t.Error("the Python snippet does not use AF_UNIX")
	}
	run := func(name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	t.Run("nc", func(t *testing.T) {
		if _, err := exec.LookPath("nc"); err != nil {
			t.Skip("nc is not installed")
		}
		if got := run("sh", "-c", snippetCode(t, srv, "nc-once")); got != "HELLO\n" {
			t.Fatalf("nc -U printed %q", got)
		}
	})
	t.Run("python", func(t *testing.T) {
		if _, err := exec.LookPath("python3"); err != nil {
			t.Skip("python3 is not installed")
		}
		if got := run("python3", "testdata/unix/unix_client.py", srv.Addr, "ipc\n"); got != "IPC\n" {
			t.Fatalf("unix_client.py printed %q", got)
		}
		if got := run("python3", "-c", snippetCode(t, srv, "python")); got != "HELLO\n\n" {
			t.Fatalf("the Python snippet printed %q", got)
		}
	})
	t.Run("socat", func(t *testing.T) {
		if _, err := exec.LookPath("socat"); err != nil {
			t.Skip("socat is not installed")
		}
		cmd := exec.Command("sh", "-c", "echo hi | "+snippetCode(t, srv, "socat"))
		if out, err := cmd.CombinedOutput(); err != nil || string(out) != "HI\n" {
			t.Fatalf("socat: %v %q", err, out)
		}
	})
}

// Names with '/' or "..", a port, the same name twice, a path too long for
// sun_path: each refused with a reason, nothing left behind.
func TestUnixEchoBadInput(t *testing.T) {
	lab, _, root := newUnixLab(t)
	for _, opts := range []string{`{"socket":"a/b"}`, `{"socket":".."}`, `{"socket":"../x"}`, `{"socket":".hidden"}`, `{"socket":"a..b"}`} {
		_, err := lab.StartServer("s1", ServerSpec{Kind: "unix-echo", Options: []byte(opts)})
		var oe *OptionError
		if !errors.As(err, &oe) || !strings.Contains(oe.Msg, "plain file name") {
			t.Errorf("%s: %v, want an option error about the name", opts, err)
		}
	}
	if _, err := lab.StartServer("s1", ServerSpec{Kind: "unix-echo", Port: testPorts.First}); err == nil || !strings.Contains(err.Error(), "no port") {
		t.Errorf("a port: %v", err)
	}
	startUnix(t, lab, "s1", `{"socket":"twin"}`)
	_, err := lab.StartServer("s1", ServerSpec{Kind: "unix-echo", Options: []byte(`{"socket":"twin"}`)})
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "same socket name") {
		t.Errorf("the same name twice: %v", err)
	}
	if se := Classify(err); se.Errno != "EADDRINUSE" {
		t.Errorf("classified %s", se.Errno)
	}
	// A file that is not a socket is never removed.
	os.WriteFile(filepath.Join(root, "s1", "notes.sock"), []byte("mine"), 0o600)
	if _, err := lab.StartServer("s1", ServerSpec{Kind: "unix-echo", Options: []byte(`{"socket":"notes"}`)}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("a regular file in the way: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "s1", "notes.sock")); string(b) != "mine" {
		t.Error("the regular file was touched")
	}
	// A session id so long that even the short directory cannot hold it.
	long := strings.Repeat("x", 100)
	if _, err := lab.StartServer(long, ServerSpec{Kind: "unix-echo"}); err == nil || !strings.Contains(err.Error(), "at most 107") {
		t.Errorf("an over-long path: %v", err)
	}
}

// A socket directory whose paths would pass sun_path's 107 bytes: the
// socket goes to the short directory, and the server says so.
func TestUnixEchoLongDirFallsBack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	lab, _ := newTestLab(t, LabConfig{SocketDir: dir})
	srv := startUnix(t, lab, "s-long", `{"socket":"echo"}`)
	if !strings.HasPrefix(srv.Addr, fallbackSocketDir()+"/") || len(srv.Addr) > maxSunPath {
		t.Fatalf("addr %s", srv.Addr)
	}
	note, _ := srv.Details["socket_dir_note"].(string)
	if !strings.Contains(note, "more than the 107") || !strings.Contains(note, fallbackSocketDir()) {
		t.Fatalf("details %v", srv.Details)
	}
	c, err := net.Dial("unix", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	lab.CloseSession("s-long")
	if _, err := os.Lstat(filepath.Dir(srv.Addr)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the fallback session directory outlived the session: %v", err)
	}
}

// A socket file left by a killed sockplay (nothing answers on it) is
// removed at start; deleting the session removes its directory.
func TestUnixEchoStaleFileAndDelete(t *testing.T) {
	lab, sink, root := newUnixLab(t)
	path := filepath.Join(root, "s1", "echo.sock")
	os.MkdirAll(filepath.Dir(path), 0o700)
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false) // as kill -9 leaves it
	old.Close()
	srv := startUnix(t, lab, "s1", `{"socket":"echo"}`)
	c, err := net.Dial("unix", srv.Addr)
	if err != nil {
		t.Fatalf("after the stale file: %v", err)
	}
	sink.waitFor(t, "the accept", func(evs []Event) bool { return len(filter(evs, KindAccept, srv.ID)) == 1 })
	// A stop while a client is connected: the client reads end-of-stream,
	// the close event says why, the file goes.
	lab.CloseSession("s1")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the client's read after the session's delete: %v", err)
	}
	c.Close()
	evs := sink.waitFor(t, "server-stop", func(evs []Event) bool { return len(filter(evs, KindServerStop, srv.ID)) == 1 })
	cl := filter(evs, KindClose, srv.ID)
	if len(cl) != 1 || cl[0].Meta["reason"] != "the session was deleted" {
		t.Errorf("close: %s", dumpEvents(cl))
	}
	if _, err := os.Lstat(filepath.Join(root, "s1")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the session's socket directory is still there: %v", err)
	}
}

// A server started again after a restart (its id and options, as main's
// restore passes them) listens on the same path.
func TestUnixEchoRestore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sockets")
	lab1, _ := newTestLab(t, LabConfig{SocketDir: dir})
	srv := startUnix(t, lab1, "s1", `{"socket":"echo"}`)
	lab1.Close()
	lab2, sink := newTestLab(t, LabConfig{SocketDir: dir})
	info, err := lab2.StartServer("s1", ServerSpec{Kind: "unix-echo", ID: srv.ID, Restore: true, Options: []byte(`{"socket":"echo"}`)})
	if err != nil || info.Addr != srv.Addr || !info.Restored {
		t.Fatalf("restore: %+v %v", info, err)
	}
	c, err := net.Dial("unix", info.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	write(t, c, []byte("again"))
	if got := string(readN(t, c, 5)); got != "again" {
		t.Fatalf("%q", got)
	}
	sink.waitFor(t, "the restored server's recv", func(evs []Event) bool { return len(filter(evs, KindRecv, srv.ID)) > 0 })
}

// The unix client reaches its session's own sockets, by path or name, and
// nothing else.
func TestUnixClientPolicy(t *testing.T) {
	lab, sink, root := newUnixLab(t)
	srv := startUnix(t, lab, "s1", `{"socket":"echo"}`)
	other := startUnix(t, lab, "s2", `{"socket":"echo"}`)
	for _, target := range []string{srv.Addr, "echo", "echo.sock"} {
		ci := openClientKind(t, lab, "s1", "unix", target, "")
		if ci.Remote != srv.Addr || ci.Local != unixClientName(ci.ID) || !strings.HasPrefix(ci.Local, "@") {
			t.Errorf("%s: local %q remote %q; want the abstract name %q, then the socket", target, ci.Local, ci.Remote, unixClientName(ci.ID))
		}
		// The server's end names the client's as its peer: the two ends of
		// the connection pair up by address (the page's conversation view).
		sink.waitFor(t, "the server's accept from the client's name", func(evs []Event) bool {
			return slices.ContainsFunc(filter(evs, KindAccept, srv.ID), func(ev Event) bool { return ev.Remote == ci.Local })
		})
		if err := lab.Send("s1", ci.ID, []byte("hi "+target)); err != nil {
			t.Fatal(err)
		}
		sink.waitFor(t, "the client's recv", func(evs []Event) bool {
			for _, ev := range filter(evs, KindRecv, ci.ID) {
				if string(ev.Data) == "hi "+target && ev.Net == NetUnix {
					return true
				}
			}
			return false
		})
		lab.CloseClient("s1", ci.ID, false)
	}
	os.Symlink(srv.Addr, filepath.Join(root, "s1", "link.sock"))
	for _, target := range []string{other.Addr, "/etc/passwd", filepath.Join(root, "s1", "..", "s2", "echo.sock"),
		filepath.Join(root, "s1", "link.sock"), "link", "nothere", srv.Addr + "/", "relative/echo.sock", "127.0.0.1:20000"} {
		_, err := lab.OpenClient(context.Background(), "s1", ClientSpec{Kind: "unix", Target: target})
		var re *RefusedError
		if !errors.As(err, &re) || !strings.Contains(re.Reason, "only to the sockets of this session's own unix-echo servers") {
			t.Errorf("%s: %v, want the dial rule", target, err)
		}
	}
	evs := sink.events()
	n := 0
	for _, ev := range evs {
		if ev.Kind == KindError && ev.Net == NetUnix && ev.Meta["op"] == "connect" {
			n++
		}
	}
	if n != 9 {
		t.Errorf("%d refused connects recorded, want 9", n)
	}
}

// A latency measurement against a unix-echo and a tcp-echo: both give a
// latency event with every round trip done and the figures.
func TestLatencyMeasurementUnixAndTCP(t *testing.T) {
	lab, sink, _ := newUnixLab(t)
	un := startUnix(t, lab, "s1", `{"socket":"echo","recv_size":7}`)
	tc := startEcho(t, lab, "s1", "")
	cu := openClientKind(t, lab, "s1", "unix", un.Addr, `{"rtt_rounds":50,"rtt_size":100}`)
	ct := openClientKind(t, lab, "s1", "tcp", tc.Addr, `{"rtt_rounds":50,"rtt_size":100}`)
	for _, c := range []struct{ id, net string }{{cu.ID, NetUnix}, {ct.ID, NetTCP}} {
		evs := sink.waitFor(t, "a latency event", func(evs []Event) bool { return len(filter(evs, KindLatency, c.id)) == 1 })
		ev := filter(evs, KindLatency, c.id)[0]
		med, _ := ev.Meta["median_us"].(float64)
		p99, _ := ev.Meta["p99_us"].(float64)
		if ev.Net != c.net || ev.Meta["done"] != 50 || med <= 0 || p99 < med || ev.Meta["stopped"] != nil {
			t.Errorf("%s: %s", c.net, dumpEvents([]Event{ev}))
		}
		if got := len(filter(evs, KindSend, c.id)); got != 50 {
			t.Errorf("%s: %d sends, want 50", c.net, got)
		}
	}
	// After it the client is an ordinary one.
	if err := lab.Send("s1", cu.ID, []byte("after")); err != nil {
		t.Fatal(err)
	}
	sink.waitFor(t, "the echo after the measurement", func(evs []Event) bool {
		for _, ev := range filter(evs, KindRecv, cu.ID) {
			if string(ev.Data) == "after" {
				return true
			}
		}
		return false
	})
	// Against a server that answers nothing, the measurement says so.
	g := startUnix(t, lab, "s1", `{"socket":"greeter","mode":"greet"}`)
	cg := openClientKind(t, lab, "s1", "unix", g.Addr, `{"rtt_rounds":3,"rtt_size":100}`)
	evs := sink.waitFor(t, "a latency event", func(evs []Event) bool { return len(filter(evs, KindLatency, cg.ID)) == 1 })
	// The greeter closes after its greeting: the client sees the close, or,
	// when its first round's bytes were still unread on the server's side,
	// the reset that closing with unread data makes.
	if ev := filter(evs, KindLatency, cg.ID)[0]; ev.Meta["done"] != 0 ||
		!strings.Contains(metaStr(ev, "stopped"), "server closed") && !strings.Contains(metaStr(ev, "stopped"), "ECONNRESET") {
		t.Errorf("against greet: %s", dumpEvents(filter(evs, KindLatency, cg.ID)))
	}
}

func metaStr(ev Event, k string) string { s, _ := ev.Meta[k].(string); return s }

// The socket table with a unix-echo server and a connection (its rows are
// another helper's work this session; this only sees it does not fail).
func TestUnixSocketTableDoesNotFail(t *testing.T) {
	lab, sink, _ := newUnixLab(t)
	srv := startUnix(t, lab, "s1", `{"socket":"echo"}`)
	ci := openClientKind(t, lab, "s1", "unix", "echo", "")
	sink.waitFor(t, "the accept", func(evs []Event) bool { return len(filter(evs, KindAccept, srv.ID)) == 1 })
	rows := lab.Sockets("s1")
	for _, r := range rows {
		t.Logf("%+v", r)
	}
	if len(rows) < 3 {
		t.Errorf("%d socket rows (listener, accepted, client %s), want 3", len(rows), ci.ID)
	}
}

// Stopping a unix-echo while a unix client is connected: the client's
// read ends (the peer closed), both close events say so, the file goes.
func TestUnixEchoStopWithAClientConnected(t *testing.T) {
	lab, sink, _ := newUnixLab(t)
	srv := startUnix(t, lab, "s1", `{"socket":"echo"}`)
	ci := openClientKind(t, lab, "s1", "unix", "echo", "")
	sink.waitFor(t, "the accept", func(evs []Event) bool { return len(filter(evs, KindAccept, srv.ID)) == 1 })
	if _, err := lab.StopServer("s1", srv.ID); err != nil {
		t.Fatal(err)
	}
	evs := sink.waitFor(t, "the client's close by the peer", func(evs []Event) bool {
		for _, ev := range filter(evs, KindClose, ci.ID) {
			if ev.Meta["by"] == "peer" {
				return true
			}
		}
		return false
	})
	if cl := filter(evs, KindClose, srv.ID); len(cl) != 1 || cl[0].Meta["reason"] != "server stopped" || cl[0].Net != NetUnix {
		t.Errorf("the server's close: %s", dumpEvents(cl))
	}
	if _, err := os.Lstat(srv.Addr); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the socket file is still there: %v", err)
	}
	lab.CloseClient("s1", ci.ID, false)
}
