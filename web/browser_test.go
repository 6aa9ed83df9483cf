package web

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// chromePath finds Chromium: $SOCKPLAY_CHROME, then the usual names. With
// $SOCKPLAY_REQUIRE_BROWSER set (CI), a missing browser fails the test
// instead of skipping it.
func chromePath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SOCKPLAY_CHROME"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SOCKPLAY_REQUIRE_BROWSER") != "" {
		t.Fatal("no Chromium found and SOCKPLAY_REQUIRE_BROWSER is set: install chromium or set SOCKPLAY_CHROME")
	}
	t.Skip("no Chromium found (install the chromium package or set SOCKPLAY_CHROME); skipping browser test")
	return ""
}

// newBrowser starts a headless Chromium for one test. The flags keep it off
// the network: background services would try to reach Google and fail.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromePath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Start the browser on a context without a deadline (a deadline on the
	// first Run would bound the browser's whole life).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// step runs one browser step with a generous timeout, naming it on failure.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestBrowserEchoRoundTripShowsHexdump(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)

	step(t, ctx, "open the home page and start a new session",
		chromedp.Navigate(a.URL+"/"),
		chromedp.WaitVisible(`[data-testid=new-session]`),
		chromedp.Click(`[data-testid=new-session]`),
		chromedp.WaitVisible(`[data-testid=server-form]`),
		chromedp.WaitVisible(`[data-testid=live-state][data-state=live]`),
	)
	step(t, ctx, "start an echo server",
		chromedp.Click(`[data-testid=start-server]`),
		chromedp.WaitVisible(`li[data-testid=server][data-state=running]`),
	)
	step(t, ctx, "open a client to it",
		chromedp.Click(`[data-testid=open-client]`),
		chromedp.WaitVisible(`li[data-testid=client][data-state=connected]`),
		// The panel is rendered again for the server's accept too: wait
		// until it has been (the server shows its open connection), so
		// typing does not race a re-render.
		chromedp.Poll[chromedp.Void](`document.querySelector("li[data-testid=server]").textContent.includes("1 open")`),
	)
	waitPanelSettled(t, ctx)
	step(t, ctx, "send hello",
		chromedp.SendKeys(`[data-testid=send-input]`, "hello"),
		chromedp.Click(`[data-testid=send]`),
		// The client's recv: the echo coming back (the last recv row).
		chromedp.WaitVisible(`tr.k-recv.data`),
	)
	// Wait for both recv rows (the server's and the client's), then open the
	// client's hexdump.
	step(t, ctx, "wait for the echo",
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("tr.k-recv.data").length >= 2`),
	)
	step(t, ctx, "expand the recv row",
		chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll("tr.k-recv.data")].pop().click()`),
		chromedp.WaitVisible(`[data-testid=hexdump]`),
	)
	dump := browserText(t, ctx, `[data-testid=hexdump]`)
	if !strings.Contains(dump, "68 65 6c 6c 6f") || !strings.Contains(dump, "hello") {
		t.Fatalf("hexdump %q does not show the bytes of hello", dump)
	}
	if !strings.HasPrefix(dump, "00000000  68 65 6c 6c 6f") {
		t.Errorf("hexdump %q does not start with the offset and bytes", dump)
	}
}

// openSession opens the session page and waits for the live stream.
func openSession(t *testing.T, ctx context.Context, a *testApp, sid string) {
	t.Helper()
	step(t, ctx, "open the session page",
		chromedp.Navigate(a.URL+"/s/"+sid),
		chromedp.WaitVisible(`[data-testid=live-state][data-state=live]`),
	)
}

// shownSeqs returns the seqs of the event rows in the table, in DOM order.
func shownSeqs(t *testing.T, ctx context.Context) []int64 {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	seqs, err := chromedp.Run(tctx, chromedp.Evaluate[[]int64](`[...document.querySelectorAll("tr.ev")].map(tr => Number(tr.dataset.seq))`))
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}

// checkContiguous fails unless seqs run first, first+1, … without a repeat.
func checkContiguous(t *testing.T, seqs []int64) {
	t.Helper()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("table rows are not contiguous at %d: …%v…", i, seqs[max(0, i-3):min(len(seqs), i+3)])
		}
	}
}

func TestBrowserReloadResumesWithoutDuplicatesOrHoles(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	_, addr := a.startEcho(sid, nil)
	cid := a.openClient(sid, addr)
	send := func(text string) {
		if code := a.do("POST", "/api/sessions/"+sid+"/clients/"+cid+"/send", map[string]string{"text": text}, nil); code != 200 {
			t.Fatalf("send %q: %d", text, code)
		}
	}
	send("one")
	openSession(t, ctx, a, sid)
	send("two")
	a.waitEvents(sid, "the echo of two", hasRecv("two"))

	step(t, ctx, "reload", chromedp.Reload(),
		chromedp.WaitVisible(`[data-testid=live-state][data-state=live]`))
	send("three")
	evs := a.waitEvents(sid, "the echo of three", hasRecv("three"))
	last := evs[len(evs)-1].Seq
	step(t, ctx, "wait for the newest event in the table",
		chromedp.WaitVisible(`tr.ev[data-seq="`+itoa(last)+`"]`))
	seqs := shownSeqs(t, ctx)
	if seqs[0] != 1 || seqs[len(seqs)-1] != last {
		t.Fatalf("table shows seqs %d..%d, want 1..%d", seqs[0], seqs[len(seqs)-1], last)
	}
	checkContiguous(t, seqs)
}

// A flood from a real socket: the table stays bounded and catches up with
// the store, and the recording has every byte.
func TestBrowserFloodStaysBoundedAndComplete(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	_, addr := a.startEcho(sid, map[string]any{"recv_size": 1024})
	openSession(t, ctx, a, sid)

	const total = 4 << 20
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	errc := make(chan error, 1)
	go func() {
		chunk := []byte(strings.Repeat("y\n", 512))
		for sent := 0; sent < total; sent += len(chunk) {
			if _, err := conn.Write(chunk); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	// The page answers while the flood goes on.
	step(t, ctx, "the page responds during the flood",
		chromedp.Evaluate[chromedp.Void](`document.querySelectorAll("tr.ev").length`))
	if _, err := io.CopyN(io.Discard, conn, total); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	conn.Close()

	// Everything is recorded: the server's recv events add up to every byte.
	var received int
	evs := a.waitEvents(sid, "the server's close", func(evs []sessions.Record) bool {
		received = 0
		closed := false
		for _, e := range evs {
			if e.Kind == engine.KindRecv {
				received += e.Len
			}
			closed = closed || (e.Kind == engine.KindClose && e.Meta["by"] == "local")
		}
		return closed
	})
	if received != total {
		t.Fatalf("recorded %d received bytes, want %d", received, total)
	}
	last := evs[len(evs)-1].Seq
	if last < 2*maxRows {
		t.Fatalf("only %d events: the flood did not exceed the table's bound", last)
	}
	step(t, ctx, "the table catches up with the store",
		chromedp.WaitVisible(`tr.ev[data-seq="`+itoa(last)+`"]`))
	seqs := shownSeqs(t, ctx)
	if len(seqs) > maxRows {
		t.Fatalf("the table holds %d rows, want at most %d", len(seqs), maxRows)
	}
	checkContiguous(t, seqs)
}

// maxRows is MAX_ROWS of static/app.js.
const maxRows = 1500

func TestBrowserShowsBannerWhileRecordingFails(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	openSession(t, ctx, a, sid)

	if _, err := a.Store.DB().Exec(`CREATE TRIGGER fail_inserts BEFORE INSERT ON event_chunks
		BEGIN SELECT RAISE(ABORT, 'disk failure injected by the test'); END`); err != nil {
		t.Fatal(err)
	}
	// A server start emits events the store now refuses; the socket works.
	_, addr := a.startEcho(sid, nil)
	step(t, ctx, "the banner says recording is failing",
		chromedp.WaitVisible(`[data-testid=health-banner]`),
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=health-banner]").textContent.includes("Recording is failing")`),
	)
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write([]byte("still here"))
	buf := make([]byte, 10)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "still here" {
		t.Fatalf("echo while recording fails: %q %v", buf, err)
	}
	conn.Close()

	if _, err := a.Store.DB().Exec(`DROP TRIGGER fail_inserts`); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "the banner goes and the held events appear",
		chromedp.WaitNotVisible(`[data-testid=health-banner]`),
		chromedp.WaitVisible(`tr.k-server-start`),
		chromedp.WaitVisible(`tr.k-recv`),
	)
}

// The home page pages through sessions with its links, in a real browser.
func TestBrowserPagesThroughSessions(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	var ids []string // newest first
	for range 3 {
		ids = append([]string{a.newSession()}, ids...)
	}
	row := func(id string) string { return `[data-testid=sessions] a[href="/s/` + id + `"]` }
	step(t, ctx, "the first page shows the two newest sessions",
		chromedp.Navigate(a.URL+"/?limit=2"),
		chromedp.WaitVisible(row(ids[0])),
		chromedp.WaitVisible(row(ids[1])),
		chromedp.WaitVisible(`[data-testid=older-sessions]`),
	)
	step(t, ctx, "older sessions shows the oldest and a way back",
		chromedp.Click(`[data-testid=older-sessions]`),
		chromedp.WaitVisible(`[data-testid=newest-sessions]`),
		chromedp.WaitVisible(row(ids[2])),
		chromedp.WaitNotPresent(row(ids[0])),
		chromedp.WaitNotPresent(`[data-testid=older-sessions]`),
	)
}
