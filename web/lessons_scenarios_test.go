package web

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
	"github.com/sockplay/sockplay/web/lessons"
)

// The tests below complete each shipped lesson as a learner would: the
// step's own "do" command, as the API gives it (with the session's real
// ports), run by sh with python3, nc or openssl; a page action through the
// API the page's buttons call. Each also does something that looks close
// but is wrong, and sees the step stay undone.

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skip(name + " is not installed")
	}
	return p
}

// runDo runs a step's do command with sh in dir, feeding it stdin, and
// returns what it printed.
func runDo(t *testing.T, dir, do, stdin string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", do)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", do, err, out)
	}
	return string(out)
}

// freePort is a loopback port nothing listens on now (for a program of the
// learner's that a lesson's proxy or client dials).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// withTutorialPort lets the lab's clients and proxies dial port (as the
// default -tutorial-ports lets them dial 65432 or 12345).
func withTutorialPort(port int) appOption {
	return func(l *engine.LabConfig, _ *Config, _ *int) { l.TutorialPorts = []int{port} }
}

// builtinWithPort is the built-in lessons with one scenario's fixed port
// replaced (a test cannot count on 65432 being free on a shared machine):
// the same steps and checks, another number.
func builtinWithPort(t *testing.T, file string, from, to int) *lessons.Catalog {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("lessons", "scenarios", file))
	if err != nil {
		t.Fatal(err)
	}
	src = bytes.ReplaceAll(src, []byte(strconv.Itoa(from)), []byte(strconv.Itoa(to)))
	dir := t.TempDir()
	// Same id as the built-in one: a copy under another id keeps the test
	// honest about which lesson it completes.
	src = bytes.Replace(src, []byte("\nid: "), []byte("\nid: port-"), 1)
	if err := os.WriteFile(filepath.Join(dir, file), src, 0o644); err != nil {
		t.Fatal(err)
	}
	cat, errs := lessons.Load(dir)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return cat
}

// startProgram starts a learner's program and waits until it listens on
// 127.0.0.1:port; it is killed when the test ends.
func startProgram(t *testing.T, port int, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			t.Fatalf("%s %v ended: %s", name, args, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %v does not listen on %d: %s", name, args, port, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startProgramOnce is startProgram for a program that serves one
// connection (Real Python's echo-server.py): it waits for the port by
// reading the program's "listening" line rather than by connecting.
func startProgramOnce(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		s.Scan()
		line <- s.Text()
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		if !strings.HasPrefix(l, "listening on") {
			t.Fatalf("%s %v: %q", name, args, l)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s %v does not say it listens", name, args)
	}
}

func (a *testApp) addFault(sess, server string, f map[string]any) {
	a.t.Helper()
	if code := a.do("POST", "/api/sessions/"+sess+"/servers/"+server+"/faults", f, nil); code != http.StatusCreated {
		a.t.Fatalf("add fault %v: %d", f, code)
	}
}

func (a *testApp) removeFault(sess, server, name string) {
	a.t.Helper()
	if code := a.do("DELETE", "/api/sessions/"+sess+"/servers/"+server+"/faults/"+name, nil, nil); code/100 != 2 {
		a.t.Fatalf("remove fault %s: %d", name, code)
	}
}

// waitFaultChange waits until the session recorded that a fault of type
// typ was changed (added, removed…): a step that must not turn done on it
// is then checked.
func (a *testApp) waitFaultChange(sess, typ, change string) {
	a.t.Helper()
	a.waitEvents(sess, "the "+typ+" fault "+change, func(recs []sessions.Record) bool {
		return slices.ContainsFunc(recs, func(r sessions.Record) bool {
			return r.Kind == engine.KindFault && r.Meta["type"] == typ && r.Meta["change"] == change
		})
	})
}

func countEvents(recs []sessions.Record, f func(r sessions.Record) bool) int {
	n := 0
	for _, r := range recs {
		if f(r) {
			n++
		}
	}
	return n
}

// TestLessonMessageBoundaries: the lesson's python3 one-liner sends 3000
// bytes in one sendall(); the echo server (recv_size 1024) reads them in
// three recvs; with a slicer of 100 bytes in about thirty. Short lines first
// (nc-like) do not count: none fills the server's 1024-byte buffer.
func TestLessonMessageBoundaries(t *testing.T) {
	needTool(t, "python3")
	a := newTestApp(t)
	sess := a.startLesson("message-boundaries")
	run := a.waitSteps(sess, 0)
	id, addr := a.serverAddr(sess, "echo")

	// Wrong: three short lines on one connection make three recvs, but no
	// recv of a whole buffer.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c.Write([]byte("hello\n"))
		if _, err := io.ReadFull(c, make([]byte, 6)); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	a.waitEvents(sess, "three short recvs", func(recs []sessions.Record) bool {
		return countEvents(recs, func(r sessions.Record) bool { return r.Kind == engine.KindRecv && r.Len == 6 }) == 3
	})
	a.waitSteps(sess, 0)

	out := runDo(t, t.TempDir(), run.Steps[0].Do, "")
	if got := strings.TrimSpace(out); !strings.HasPrefix(got, "[") || sumList(t, got) != 3000 {
		t.Errorf("the command printed %q: want a list of recv sizes adding up to 3000", got)
	}
	a.waitSteps(sess, 2)

	// Adding the slicer is not yet the slicer acting.
	a.addFault(sess, id, map[string]any{"type": "slicer", "direction": "upstream", "attributes": map[string]any{"size": 100}})
	a.waitFaultChange(sess, "slicer", "added")
	a.waitSteps(sess, 2)
	out = runDo(t, t.TempDir(), run.Steps[0].Do, "")
	if sumList(t, strings.TrimSpace(out)) != 3000 {
		t.Errorf("with the slicer the command printed %q", out)
	}
	a.waitSteps(sess, 4)
}

// sumList adds up a Python list of ints as printed: "[1024, 1024, 952]".
func sumList(t *testing.T, s string) int {
	t.Helper()
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	sum := 0
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			t.Fatalf("not a list of numbers: %q", s)
		}
		sum += n
	}
	return sum
}

// TestLessonAppProtocol: the tutorial's app client (a stand-alone one
// written from it, run as the lesson's command names it) against
// sockplay's app server; a header that is not JSON; then the tutorial's
// server run by the learner, and sockplay's app client opened to it.
func TestLessonAppProtocol(t *testing.T) {
	needTool(t, "python3")
	needTool(t, "nc")
	mine := freePort(t)
	a := newTestApp(t, withTutorialPort(mine))
	sess := a.startLesson("app-protocol")
	run := a.waitSteps(sess, 0)

	// The lesson says app-client.py, as the tutorial calls it.
	dir := t.TempDir()
	for from, to := range map[string]string{"app_client.py": "app-client.py", "app_server.py": "app-server.py"} {
		src, err := os.ReadFile(filepath.Join("..", "engine", "testdata", "app", from))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, to), src, 0o755)
	}
	if !strings.HasPrefix(run.Steps[0].Do, "python3 app-client.py 127.0.0.1 ") {
		t.Fatalf("step 1 says %q", run.Steps[0].Do)
	}
	// Wrong: another search is a request, but not for morpheus.
	runDo(t, dir, strings.Replace(run.Steps[0].Do, "morpheus", "ring", 1), "")
	a.waitEvents(sess, "the ring request", func(recs []sessions.Record) bool {
		return slices.ContainsFunc(recs, func(r sessions.Record) bool {
			return r.Kind == engine.KindAppFrame && r.Meta["direction"] == "response"
		})
	})
	a.waitSteps(sess, 0)

	out := runDo(t, dir, run.Steps[0].Do, "")
	if !strings.Contains(out, "Follow the white rabbit") {
		t.Errorf("app-client.py printed %s", out)
	}
	run = a.waitSteps(sess, 2)

	runDo(t, dir, run.Steps[2].Do, "")
	a.waitSteps(sess, 3)

	// Wrong: sockplay's app client to a port where the learner's server is
	// not running yet is refused, and no response is decoded.
	target := "127.0.0.1:" + strconv.Itoa(mine)
	var e struct{ Error string }
	if code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"kind": "app", "target": target}, &e); code == http.StatusCreated {
		t.Fatalf("an app client to a port nothing listens on was opened")
	}
	a.waitSteps(sess, 3)

	do := run.Steps[3].Do
	if !strings.Contains(do, "python3 app-server.py 127.0.0.1 12345") || !strings.Contains(do, "target 127.0.0.1:12345") {
		t.Fatalf("step 4 says %q", do)
	}
	startProgram(t, mine, "python3", filepath.Join(dir, "app-server.py"), "127.0.0.1", strconv.Itoa(mine))
	a.clientTo(sess, "app", target, nil)
	a.waitSteps(sess, 4)
}

// TestLessonProxiesAndFaults: the learner's own server (Real Python's
// echo-server.py, one connection each time it runs) behind the lesson's
// proxy; a latency, a reset and a half-close fault each seen acting.
func TestLessonProxiesAndFaults(t *testing.T) {
	py := needTool(t, "python3")
	mine := freePort(t)
	cat := builtinWithPort(t, "06-proxies-and-faults.md", 65432, mine)
	a := newTestApp(t, withTutorialPort(mine), func(_ *engine.LabConfig, cfg *Config, _ *int) { cfg.Lessons = cat })
	sess := a.startLesson("port-proxies-and-faults")
	a.waitSteps(sess, 0)
	gateID, gate := a.serverAddr(sess, "gate")
	echoServer := func() {
		startProgramOnce(t, py, filepath.Join("lessons", "testdata", "echo-server.py"), "127.0.0.1", strconv.Itoa(mine))
	}

	// Wrong: through the proxy before the learner's server runs: the
	// proxy's dial is refused, nothing connects.
	c, err := net.Dial("tcp", gate)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	c.Read(make([]byte, 1))
	c.Close()
	a.waitEvents(sess, "the refused dial", func(recs []sessions.Record) bool {
		return slices.ContainsFunc(recs, func(r sessions.Record) bool { return r.Kind == engine.KindProxyDial && r.Err != nil })
	})
	a.waitSteps(sess, 0)

	echoServer()
	c, err = net.Dial("tcp", gate)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a.waitSteps(sess, 1)
	line := func(s string) {
		t.Helper()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, len(s))); err != nil {
			t.Fatal(err)
		}
	}
	line("hello\n")
	a.waitSteps(sess, 2)

	a.addFault(sess, gateID, map[string]any{"type": "latency", "direction": "both", "attributes": map[string]any{"latency_ms": 200, "jitter_ms": 50}})
	a.waitFaultChange(sess, "latency", "added")
	a.waitSteps(sess, 2)
	line("slower\n")
	a.waitSteps(sess, 3)
	c.Close()
	// Both legs closed before the next fault: a reset fault acts on the
	// connections open when it is added, too.
	a.waitEvents(sess, "both legs closed", func(recs []sessions.Record) bool {
		return countEvents(recs, func(r sessions.Record) bool {
			return r.Server == gateID && r.Kind == engine.KindClose && r.Meta["half"] != true
		}) >= 3 // the refused connection, then both legs of this one
	})

	a.removeFault(sess, gateID, "latency")
	a.addFault(sess, gateID, map[string]any{"type": "reset", "attributes": map[string]any{"bytes": 0}})
	a.waitFaultChange(sess, "reset", "added")
	a.waitSteps(sess, 3)
	// The RST comes right after the accept: sometimes before connect()
	// has returned here.
	c, rerr := net.Dial("tcp", gate)
	if rerr == nil {
		c.SetDeadline(time.Now().Add(20 * time.Second))
		_, rerr = c.Read(make([]byte, 10))
		c.Close()
	}
	if !errors.Is(rerr, syscall.ECONNRESET) {
		t.Errorf("through the reset fault, read: %v; want connection reset", rerr)
	}
	a.waitSteps(sess, 4)

	a.removeFault(sess, gateID, "reset")
	a.addFault(sess, gateID, map[string]any{"type": "half-close", "direction": "downstream"})
	a.waitFaultChange(sess, "half-close", "added")
	a.waitSteps(sess, 4)
	// The first echo-server.py has ended with its connection: start it again.
	echoServer()
	c, err = net.Dial("tcp", gate)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	c.Write([]byte("anyone there?\n"))
	if n, err := c.Read(make([]byte, 100)); err != io.EOF {
		t.Errorf("through the half-close fault, read %d bytes, %v; want end of stream", n, err)
	}
	a.waitSteps(sess, 5)
}

// sClient runs a step's openssl s_client command, types lines into it and
// keeps it open until the test says stop (closing its input ends it).
type sClient struct {
	in   io.WriteCloser
	done chan struct{}
	out  bytes.Buffer
}

func startSClient(t *testing.T, do string) *sClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, "sh", "-c", do)
	s := &sClient{done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &s.out, &s.out
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.in = in
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); cancel(); close(s.done) }()
	t.Cleanup(s.stop)
	return s
}

func (s *sClient) stop() {
	s.in.Close()
	<-s.done
}

// TestLessonTLS: openssl s_client with TLS 1.3 (a TLS 1.2 handshake first
// does not count), a line of plaintext, sockplay's verifying tls client,
// then s_client through the proxy: the proxy carries TLS records, never the
// plaintext.
func TestLessonTLS(t *testing.T) {
	needTool(t, "openssl")
	a := newTestApp(t)
	sess := a.startLesson("tls")
	run := a.waitSteps(sess, 0)
	_, tlsAddr := a.serverAddr(sess, "tls")

	// Wrong: a TLS 1.2 handshake.
	old := startSClient(t, strings.Replace(run.Steps[0].Do, "-tls1_3", "-tls1_2", 1))
	a.waitEvents(sess, "the TLS 1.2 handshake", func(recs []sessions.Record) bool {
		return slices.ContainsFunc(recs, func(r sessions.Record) bool {
			return r.Kind == engine.KindTLSHandshake && r.Meta["version"] == "TLS 1.2"
		})
	})
	old.stop()
	a.waitSteps(sess, 0)

	s := startSClient(t, run.Steps[0].Do)
	a.waitSteps(sess, 1)
	io.WriteString(s.in, "hello\n")
	a.waitSteps(sess, 2)
	s.stop()

	a.clientTo(sess, "tls", tlsAddr, nil)
	a.waitSteps(sess, 3)

	p := startSClient(t, run.Steps[3].Do)
	a.waitSteps(sess, 4)
	io.WriteString(p.in, "secret\n")
	a.waitSteps(sess, 5)
	p.stop()

	spyID, _ := a.serverAddr(sess, "spy")
	recs := a.events(sess, 0)
	appData := false
	for _, r := range recs {
		if r.Server == spyID && bytes.Contains(r.Data, []byte("secret")) {
			t.Errorf("the proxy's %s #%d shows the plaintext: %q", r.Kind, r.Seq, r.Data)
		}
		if r.Server == spyID && r.Kind == engine.KindRecv && bytes.Contains(r.Data, []byte{0x17, 0x03, 0x03}) {
			appData = true
		}
	}
	if !appData {
		t.Error("the proxy read no TLS application-data record (17 03 03)")
	}
}

// TestLessonTCPEchoBasicsNc does the first lesson with the step's own nc
// command, typing hello and then ending the input as Ctrl-D does (-N: nc
// then closes its side, as the last step says).
func TestLessonTCPEchoBasicsNc(t *testing.T) {
	needTool(t, "nc")
	a := newTestApp(t)
	sess := a.startLesson("tcp-echo-basics")
	run := a.waitSteps(sess, 0)
	if !strings.HasPrefix(run.Steps[0].Do, "nc 127.0.0.1 ") {
		t.Fatalf("step 1 says %q", run.Steps[0].Do)
	}
	out := runDo(t, t.TempDir(), strings.Replace(run.Steps[0].Do, "nc ", "nc -N ", 1), "hello\n")
	if out != "hello\n" {
		t.Errorf("nc printed %q", out)
	}
	a.waitSteps(sess, 4)
}

// TestLessonUDPvsTCPNc does "UDP vs TCP" with the step's own nc -u command
// (-q 2: nc ends 2 s after its input does, as a learner's Ctrl-C would).
func TestLessonUDPvsTCPNc(t *testing.T) {
	needTool(t, "nc")
	a := newTestApp(t)
	sess := a.startLesson("udp-vs-tcp")
	run := a.waitSteps(sess, 0)
	do := run.Steps[0].Do
	i, j := strings.Index(do, "`"), strings.LastIndex(do, "`")
	if i < 0 || j <= i || !strings.HasPrefix(do[i+1:j], "nc -u 127.0.0.1 ") {
		t.Fatalf("step 1 says %q", do)
	}
	cmd := strings.Replace(do[i+1:j], "nc -u ", "nc -u -q 2 ", 1)
	// (nc may end before it prints the answer: the recording is what counts.)
	runDo(t, t.TempDir(), cmd, "hello\n")
	a.waitSteps(sess, 2)
	id, _ := a.serverAddr(sess, "dgram")
	a.addFault(sess, id, map[string]any{"type": "drop"})
	a.waitFaultChange(sess, "drop", "added")
	a.waitSteps(sess, 2)
	runDo(t, t.TempDir(), cmd, "lost\n")
	a.waitSteps(sess, 3)
}

// TestLessonUnixSockets does "Sockets on one machine": the step's own
// nc -U command, the latency measurements through the API the client form
// posts to, and the stop; first, things that look close but are wrong
// (hello to the TCP echo, a TCP measurement alone) leave the steps undone.
func TestLessonUnixSockets(t *testing.T) {
	needTool(t, "nc")
	a := newTestApp(t, withSocketDir(filepath.Join(t.TempDir(), "sockets")))
	sess := a.startLesson("unix-sockets")
	run := a.waitSteps(sess, 0)
	ipcID, ipc := a.serverAddr(sess, "ipc")
	_, tcp := a.serverAddr(sess, "tcp")
	do := run.Steps[0].Do
	if want := "`echo hello | nc -N -U " + ipc + "`"; do != want {
		t.Fatalf("step 1 says %q, want %q", do, want)
	}
	// Wrong: hello over TCP is not over the Unix socket.
	host, port, _ := net.SplitHostPort(tcp)
	runDo(t, t.TempDir(), "echo hello | nc -N "+host+" "+port, "")
	a.waitEvents(sess, "the TCP echo's close", func(evs []sessions.Record) bool {
		return countEvents(evs, func(r sessions.Record) bool { return r.Kind == engine.KindClose && r.Net == engine.NetTCP }) > 0
	})
	a.waitSteps(sess, 0)
	if out := runDo(t, t.TempDir(), strings.Trim(do, "`"), ""); out != "hello\n" {
		t.Errorf("nc -U printed %q", out)
	}
	run = a.waitSteps(sess, 2)
	if !strings.Contains(run.Steps[2].Do, "`"+ipc+"`") || !strings.Contains(run.Steps[2].Do, "`"+tcp+"`") {
		t.Errorf("step 3 says %q", run.Steps[2].Do)
	}
	rtt := map[string]any{"rtt_rounds": 1000}
	// A TCP measurement alone is half of it.
	ct := a.clientTo(sess, "tcp", tcp, rtt)
	a.waitEvents(sess, "the TCP latency event", func(evs []sessions.Record) bool {
		return countEvents(evs, func(r sessions.Record) bool { return r.Kind == engine.KindLatency && r.Server == ct }) == 1
	})
	a.waitSteps(sess, 2)
	a.clientTo(sess, "unix", ipc, rtt)
	a.waitSteps(sess, 3)
	if code := a.do("DELETE", "/api/sessions/"+sess+"/servers/"+ipcID, nil, nil); code != http.StatusOK {
		t.Fatalf("stop ipc: %d", code)
	}
	a.waitSteps(sess, 4)
	d := run.Steps[3].Do
	cmd := d[strings.Index(d, "`")+1 : strings.LastIndex(d, "`")]
	out, err := exec.Command("sh", "-c", cmd).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "No such file") {
		t.Errorf("nc -U after the stop: %v %q", err, out)
	}
}
