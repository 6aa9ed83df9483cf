package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
	"github.com/sockplay/sockplay/web/lessons"
)

type lessonRun struct {
	Lesson struct {
		ID    string
		Title string
		Steps []struct{ Title, Do, Text string }
	}
	Steps []struct {
		Title     string
		Done      bool
		DoneAtSeq int64 `json:"done_at_seq"`
		Do        string
	}
	Current int
	Notices []string
}

func (a *testApp) startLesson(id string) string {
	a.t.Helper()
	var out struct{ Session, URL string }
	if code := a.do("POST", "/api/lessons/"+id+"/start", nil, &out); code != http.StatusCreated {
		a.t.Fatalf("start lesson %s: status %d", id, code)
	}
	if out.Session == "" || out.URL != "/s/"+out.Session {
		a.t.Fatalf("start lesson %s: answer %+v", id, out)
	}
	return out.Session
}

func (a *testApp) lesson(session string) lessonRun {
	a.t.Helper()
	var out lessonRun
	if code := a.do("GET", "/api/sessions/"+session+"/lesson", nil, &out); code != http.StatusOK {
		a.t.Fatalf("lesson of %s: status %d", session, code)
	}
	return out
}

// waitSteps waits until exactly the first n steps are done, in order, and
// fails at once if a later step turns done first.
func (a *testApp) waitSteps(session string, n int) lessonRun {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		run := a.lesson(session)
		done := 0
		for i, st := range run.Steps {
			if st.Done {
				if i != done {
					a.t.Fatalf("step %d (%s) is done before step %d: %+v", i+1, st.Title, done+1, run.Steps)
				}
				if done > 0 && st.DoneAtSeq <= run.Steps[done-1].DoneAtSeq {
					a.t.Fatalf("step %d done at seq %d, not after step %d (seq %d)", i+1, st.DoneAtSeq, done, run.Steps[done-1].DoneAtSeq)
				}
				done++
			}
		}
		if done > n {
			a.t.Fatalf("%d steps are done, want %d: %+v", done, n, run.Steps)
		}
		if done == n {
			if run.Current != n {
				a.t.Fatalf("current step %d, want %d", run.Current, n)
			}
			return run
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("after 30s %d steps are done, want %d: %+v", done, n, run.Steps)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serverAddr is the address of the session's server called name.
func (a *testApp) serverAddr(session, name string) (id, addr string) {
	a.t.Helper()
	for _, s := range a.Lab.Servers(session) {
		if s.Name == name {
			return s.ID, strings.Replace(s.Addr, "0.0.0.0", "127.0.0.1", 1)
		}
	}
	a.t.Fatalf("session %s has no server %s", session, name)
	return "", ""
}

func TestLessonsList(t *testing.T) {
	a := newTestApp(t)
	var out struct {
		Lessons []struct {
			ID, Title, Start string
			Steps            []struct{ Title, Do, Text string }
		}
	}
	if code := a.do("GET", "/api/lessons", nil, &out); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	var ids []string
	for _, l := range out.Lessons {
		ids = append(ids, l.ID)
		if l.Title == "" || len(l.Steps) == 0 || l.Start != "/start/"+l.ID {
			t.Errorf("lesson %+v", l)
		}
		for _, st := range l.Steps {
			if st.Title == "" || st.Do == "" || st.Text == "" {
				t.Errorf("lesson %s: step %+v lacks a title, a do or a text", l.ID, st)
			}
		}
	}
	if !slices.Contains(ids, "tcp-echo-basics") || !slices.Contains(ids, "errors") {
		t.Errorf("lessons %v", ids)
	}
}

func TestLessonUnknown(t *testing.T) {
	a := newTestApp(t)
	var e struct{ Error string }
	if code := a.do("POST", "/api/lessons/nope/start", nil, &e); code != http.StatusNotFound || !strings.Contains(e.Error, "tcp-echo-basics") {
		t.Errorf("POST unknown lesson: %d %q", code, e.Error)
	}
	res, err := http.Get(a.URL + "/start/nope")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `href="/start/tcp-echo-basics"`) ||
		!strings.Contains(string(body), "There is no lesson") {
		t.Errorf("GET /start/nope: %d %s", res.StatusCode, body)
	}
	// A session that follows no lesson.
	sess := a.newSession()
	if code := a.do("GET", "/api/sessions/"+sess+"/lesson", nil, &e); code != http.StatusNotFound || !strings.Contains(e.Error, "follows no lesson") {
		t.Errorf("lesson of a plain session: %d %q", code, e.Error)
	}
	if code := a.do("GET", "/api/sessions/nosuch/lesson", nil, nil); code != http.StatusNotFound {
		t.Errorf("lesson of no session: %d", code)
	}
}

func TestLessonStartLinkRedirects(t *testing.T) {
	a := newTestApp(t)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(a.URL + "/start/tcp-echo-basics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !regexp.MustCompile(`^/s/[A-Za-z0-9_-]+$`).MatchString(loc) {
		t.Fatalf("GET /start/tcp-echo-basics: %d %q", res.StatusCode, loc)
	}
	sess := strings.TrimPrefix(loc, "/s/")
	run := a.lesson(sess)
	if run.Lesson.ID != "tcp-echo-basics" || len(run.Steps) != 4 || run.Current != 0 {
		t.Errorf("lesson %+v", run)
	}
	// The tests' lab allows no tutorial port: the echo server got a lab
	// port, which the step's command and a notice say.
	_, addr := a.serverAddr(sess, "echo")
	_, port, _ := net.SplitHostPort(addr)
	if !strings.Contains(run.Steps[0].Do, port) || len(run.Notices) != 1 || !strings.Contains(run.Notices[0], "65432") {
		t.Errorf("do %q, notices %q (port %s)", run.Steps[0].Do, run.Notices, port)
	}
	// Loaded by another page as an image or a fetch: refused, nothing starts.
	req, _ := http.NewRequest("GET", a.URL+"/start/tcp-echo-basics", nil)
	req.Header.Set("Sec-Fetch-Mode", "no-cors")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a no-cors load of /start/…: %d, want 403", res.StatusCode)
	}
	res, err = http.Get(a.URL + "/start")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "Errors and what they mean") {
		t.Errorf("GET /start: %d %s", res.StatusCode, body)
	}
}

// The home page is where a learner who opens sockplay finds the lessons:
// every lesson of the catalogue is listed there with its /start link, and
// following the link (as a click does) opens the lesson's new session.
func TestHomePageListsTheLessons(t *testing.T) {
	a := newTestApp(t)
	res, err := http.Get(a.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var out struct {
		Lessons []struct{ ID, Title string }
	}
	if code := a.do("GET", "/api/lessons", nil, &out); code != http.StatusOK || len(out.Lessons) == 0 {
		t.Fatalf("GET /api/lessons: %d, %d lessons", code, len(out.Lessons))
	}
	for _, l := range out.Lessons {
		if !strings.Contains(string(body), `href="/start/`+l.ID+`"`) || !strings.Contains(string(body), html.EscapeString(l.Title)) {
			t.Errorf("the home page does not link lesson %s (%q)", l.ID, l.Title)
		}
	}
	res, err = http.Get(a.URL + "/start/" + out.Lessons[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Request.URL.Path, "/s/") {
		t.Errorf("following the home page's first lesson link: %d at %s, want the new session's page", res.StatusCode, res.Request.URL.Path)
	}
}

// TestLessonTCPEchoBasics completes the first lesson as a learner with a
// terminal would, one step at a time, over real sockets.
func TestLessonTCPEchoBasics(t *testing.T) {
	a := newTestApp(t)
	sess := a.startLesson("tcp-echo-basics")
	a.waitSteps(sess, 0)
	_, addr := a.serverAddr(sess, "echo")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a.waitSteps(sess, 1)
	if _, err := c.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello\n" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	// The server echoes at once: the recv and the send steps are both done,
	// the close is not.
	a.waitSteps(sess, 3)
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	run := a.waitSteps(sess, 4)

	// A fresh tracker over the same database (a restart, a reload) finds
	// the same steps done at the same events.
	fresh := lessons.NewTracker(lessons.Builtin(), a.Store.DB(), a.Store)
	_, states, _, err := fresh.Progress(context.Background(), sess)
	if err != nil {
		t.Fatal(err)
	}
	for i, st := range states {
		if !st.Done || st.DoneAtSeq != run.Steps[i].DoneAtSeq {
			t.Errorf("step %d: fresh %+v, API %+v", i+1, st, run.Steps[i])
		}
	}
}

// TestLessonTCPEchoBasicsPython runs the tutorial's own client (written
// from Real Python's) against the lesson's server: every step turns done.
func TestLessonTCPEchoBasicsPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	a := newTestApp(t)
	sess := a.startLesson("tcp-echo-basics")
	_, addr := a.serverAddr(sess, "echo")
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, filepath.Join("lessons", "testdata", "echo-client.py"), host, port).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Received b'Hello, world'") {
		t.Fatalf("echo-client.py: %v\n%s", err, out)
	}
	a.waitSteps(sess, 4)
}

// TestLessonErrors completes "Errors and what they mean": a refused dial
// through the proxy, the fault removed, then a reset the client sees.
func TestLessonErrors(t *testing.T) {
	a := newTestApp(t)
	sess := a.startLesson("errors")
	a.waitSteps(sess, 0)
	_, gate := a.serverAddr(sess, "gate")
	echoID, _ := a.serverAddr(sess, "echo")

	// 1. The proxy accepts, its dial of the echo server is refused, and it
	// closes the learner's connection.
	c, err := net.Dial("tcp", gate)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 10)); err == nil {
		t.Fatalf("read %d bytes through a proxy whose target refuses", n)
	}
	c.Close()
	a.waitSteps(sess, 1)

	// 2. Remove the refuse fault, as the page's button does.
	var faults struct{ Faults []engine.Fault }
	if code := a.do("GET", "/api/sessions/"+sess+"/servers/"+echoID+"/faults", nil, &faults); code != http.StatusOK ||
		len(faults.Faults) != 1 || faults.Faults[0].Type != "refuse" {
		t.Fatalf("faults of echo: %d %+v", code, faults)
	}
	if code := a.do("DELETE", "/api/sessions/"+sess+"/servers/"+echoID+"/faults/"+faults.Faults[0].Name, nil, nil); code/100 != 2 {
		t.Fatalf("remove fault: %d", code)
	}
	a.waitSteps(sess, 2)

	// 3. Through the proxy again: after 10 bytes the reset fault aborts the
	// connection, and the learner's side sees ECONNRESET.
	c, err = net.Dial("tcp", gate)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	_, werr := c.Write([]byte("hello, this line is longer than ten bytes\n"))
	var rerr error
	for rerr == nil {
		_, rerr = c.Read(make([]byte, 100))
	}
	if !errors.Is(werr, syscall.ECONNRESET) && !errors.Is(rerr, syscall.ECONNRESET) {
		t.Errorf("write %v, read %v: want connection reset", werr, rerr)
	}
	a.waitSteps(sess, 3)

	// 4. Address already in use: a second server on echo's port, as the
	// page's start form asks. A server on a free port first: no error.
	_, echoAddr := a.serverAddr(sess, "echo")
	_, port, _ := net.SplitHostPort(echoAddr)
	echoPort, _ := strconv.Atoi(port)
	if code := a.do("POST", "/api/sessions/"+sess+"/servers", map[string]any{"kind": "tcp-echo"}, nil); code != http.StatusCreated {
		t.Fatalf("start a server on a free port: %d", code)
	}
	if code := a.do("POST", "/api/sessions/"+sess+"/servers", map[string]any{"kind": "tcp-echo", "port": echoPort}, nil); code == http.StatusCreated {
		t.Fatalf("a second server on port %d started", echoPort)
	}
	a.waitSteps(sess, 4)

	// 5. Broken pipe: a page client of the greeter, which greets and
	// closes; sending on until a send fails.
	_, greeter := a.serverAddr(sess, "greeter")
	cli := a.clientTo(sess, "tcp", greeter, nil)
	a.waitEvents(sess, "the greeting", func(recs []sessions.Record) bool {
		return slices.ContainsFunc(recs, func(r sessions.Record) bool {
			return r.Server == cli && r.Kind == engine.KindClose && r.Meta["by"] == "peer"
		})
	})
	a.waitSteps(sess, 4) // the server's close is not yet a broken pipe
	var sendErr struct{ Error string }
	for i := 0; ; i++ {
		code := a.do("POST", "/api/sessions/"+sess+"/clients/"+cli+"/send", map[string]string{"text": "are you there?\n"}, &sendErr)
		if code != http.StatusOK {
			break
		}
		if i == 50 {
			t.Fatal("50 sends to a closed peer succeeded")
		}
		time.Sleep(20 * time.Millisecond) // the RST crosses loopback meanwhile
	}
	a.waitSteps(sess, 5)

	// 6. A timeout: a client that sends nothing, read_timeout_ms 2000. One
	// without a timeout first: it waits, and nothing is done.
	a.clientTo(sess, "tcp", echoAddr, nil)
	a.clientTo(sess, "tcp", echoAddr, map[string]any{"read_timeout_ms": 2000})
	a.waitSteps(sess, 6)

	// 7. A name that does not resolve; localhost first, which does.
	a.clientTo(sess, "tcp", "localhost:"+port, nil)
	a.waitEvents(sess, "the client of localhost", func(recs []sessions.Record) bool {
		return slices.ContainsFunc(recs, func(r sessions.Record) bool {
			return r.Kind == engine.KindConnect && r.Meta["target"] == "localhost:"+port
		})
	})
	a.waitSteps(sess, 6)
	var e struct{ Error string }
	if code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"kind": "tcp", "target": "no-such-host.invalid:" + port}, &e); code == http.StatusCreated {
		t.Fatal("a client of no-such-host.invalid opened")
	}
	a.waitSteps(sess, 7)
}

// TestLessonsFromDir loads an instructor's directory: its good lesson is
// offered beside the built-in ones, its bad one is refused with its line.
func TestLessonsFromDir(t *testing.T) {
	dir := t.TempDir()
	good := "---\nid: my-echo\ntitle: My echo\nservers:\n  - {kind: tcp-echo, name: e}\nsteps:\n  - title: Say hi\n    do: nc 127.0.0.1 {e.port}\n    check: {kind: recv, server: e, data_contains: hi}\n---\n"
	bad := "---\nid: broken\ntitle: Broken\nsteps:\n  - title: x\n    check: {kind: recieve}\n---\n"
	os.WriteFile(filepath.Join(dir, "good.md"), []byte(good), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.md"), []byte(bad), 0o644)
	cat, errs := lessons.Load(dir)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "bad.md:6:") || !strings.Contains(errs[0].Error(), `"recieve"`) {
		t.Fatalf("errors %v", errs)
	}
	a := newTestApp(t, func(_ *engine.LabConfig, cfg *Config, _ *int) { cfg.Lessons = cat })
	sess := a.startLesson("my-echo")
	_, addr := a.serverAddr(sess, "e")
	run := a.lesson(sess)
	if _, port, _ := net.SplitHostPort(addr); run.Steps[0].Do != "nc 127.0.0.1 "+port {
		t.Errorf("do %q, server on %s", run.Steps[0].Do, addr)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hi"))
	a.waitSteps(sess, 1)
	if code := a.do("POST", "/api/lessons/broken/start", nil, nil); code != http.StatusNotFound {
		t.Errorf("start the refused lesson: %d", code)
	}
}

// TestLessonWaitAnswersWhenAStepIsDone: ?wait=N holds the request until
// more than N steps are done (the page's panel waits this way).
func TestLessonWaitAnswersWhenAStepIsDone(t *testing.T) {
	a := newTestApp(t)
	sess := a.startLesson("tcp-echo-basics")
	_, addr := a.serverAddr(sess, "echo")
	got := make(chan lessonRun, 1)
	go func() {
		var out lessonRun
		res, err := http.Get(a.URL + "/api/sessions/" + sess + "/lesson?wait=0")
		if err == nil {
			json.NewDecoder(res.Body).Decode(&out)
			res.Body.Close()
		}
		got <- out
	}()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run := <-got
	if len(run.Steps) != 4 || !run.Steps[0].Done || run.Steps[1].Done || run.Current != 1 {
		t.Errorf("wait=0 answered %+v", run)
	}
	// Already further than the caller knows: answered at once.
	var out lessonRun
	if code := a.do("GET", "/api/sessions/"+sess+"/lesson?wait=0", nil, &out); code != http.StatusOK || !out.Steps[0].Done {
		t.Errorf("wait=0 again: %d %+v", code, out)
	}
	var e struct{ Error string }
	if code := a.do("GET", "/api/sessions/"+sess+"/lesson?wait=x", nil, &e); code != http.StatusBadRequest || !strings.Contains(e.Error, "wait=x") {
		t.Errorf("wait=x: %d %q", code, e.Error)
	}
}

// TestBrowserLessonFromLinkToLastStep follows a tutorial's link into a
// lesson and does its steps from a "terminal" (Go sockets): the panel shows
// the current step's command with the session's real port, and each step
// turns green in order, up to "Lesson complete".
func TestBrowserLessonFromLinkToLastStep(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	step(t, ctx, "follow the lesson link",
		chromedp.Navigate(a.URL+"/start/tcp-echo-basics"),
		chromedp.WaitVisible(`[data-testid=lesson-panel] li.current`),
	)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	loc, err := chromedp.Run(tctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(loc, "/s/")
	if i < 0 {
		t.Fatalf("the link led to %s, not a session page", loc)
	}
	sess := loc[i+3:]
	_, addr := a.serverAddr(sess, "echo")
	_, port, _ := net.SplitHostPort(addr)
	if do := browserText(t, tctx, `[data-testid=lesson-do]`); do != "nc 127.0.0.1 "+port {
		t.Errorf("the first step says to run %q; the server is on %s", do, addr)
	}
	doneIs := func(n int) string {
		return fmt.Sprintf(`document.querySelectorAll("[data-testid=lesson-step][data-done=true]").length === %d && `+
			`[...document.querySelectorAll("[data-testid=lesson-step]")].slice(0, %d).every(li => li.dataset.done === "true")`, n, n)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	step(t, ctx, "connect: the first step turns green", chromedp.Poll[chromedp.Void](doneIs(1)))
	if _, err := c.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 6)); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "send hello, see it echoed: three steps green", chromedp.Poll[chromedp.Void](doneIs(3)))
	c.(*net.TCPConn).CloseWrite()
	step(t, ctx, "close: the lesson is complete",
		chromedp.Poll[chromedp.Void](doneIs(4)),
		chromedp.WaitVisible(`[data-testid=lesson-complete]`),
	)
}

// TestLessonChecksOverRealSockets completes a lesson whose checks need what
// only real sockets give: one 3000-byte send (a page client's) that the
// echo server read as three recvs of at most 1024 bytes, and a datagram
// the drop fault lost.
func TestLessonChecksOverRealSockets(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("lessons", "testdata", "checks.md"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "checks.md"), src, 0o644)
	cat, errs := lessons.Load(dir)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	a := newTestApp(t, func(_ *engine.LabConfig, cfg *Config, _ *int) { cfg.Lessons = cat })
	sess := a.startLesson("checks")
	_, echo := a.serverAddr(sess, "echo")
	_, dgram := a.serverAddr(sess, "dgram")

	// A datagram first: step 2 must not turn done before step 1.
	u, err := net.Dial("udp", dgram)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write([]byte("early"))
	a.waitEvents(sess, "the early datagram", func(recs []sessions.Record) bool {
		return slices.ContainsFunc(recs, func(r sessions.Record) bool { return r.Kind == engine.KindFault && r.Meta["type"] == "drop" })
	})
	a.waitSteps(sess, 0)

	cli := a.openClient(sess, echo)
	if code := a.do("POST", "/api/sessions/"+sess+"/clients/"+cli+"/send", map[string]string{"text": strings.Repeat("x", 3000)}, nil); code != http.StatusOK {
		t.Fatalf("send: %d", code)
	}
	a.waitSteps(sess, 1)
	u.Write([]byte("late"))
	a.waitSteps(sess, 2)
}

// TestLessonUDPvsTCP completes "UDP vs TCP" with a real UDP socket and the
// drop fault added as the page's fault form does.
func TestLessonUDPvsTCP(t *testing.T) {
	a := newTestApp(t)
	sess := a.startLesson("udp-vs-tcp")
	a.waitSteps(sess, 0)
	id, addr := a.serverAddr(sess, "dgram")
	u, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	u.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 100)
	n, err := u.Read(buf)
	if err != nil || !strings.Contains(string(buf[:n]), "hello") {
		t.Fatalf("echo: %q %v", buf[:n], err)
	}
	a.waitSteps(sess, 2)
	if code := a.do("POST", "/api/sessions/"+sess+"/servers/"+id+"/faults", map[string]any{"type": "drop"}, nil); code != http.StatusCreated {
		t.Fatalf("add drop fault: %d", code)
	}
	// The fault added is not yet a datagram lost.
	a.waitFaultChange(sess, "drop", "added")
	a.waitSteps(sess, 2)
	u.Write([]byte("lost\n"))
	a.waitSteps(sess, 3)
}
