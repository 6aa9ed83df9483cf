package web

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
	)
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
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	dump, err := chromedp.Run(tctx, chromedp.Text(`[data-testid=hexdump]`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dump, "68 65 6c 6c 6f") || !strings.Contains(dump, "hello") {
		t.Fatalf("hexdump %q does not show the bytes of hello", dump)
	}
	if !strings.HasPrefix(dump, "00000000  68 65 6c 6c 6f") {
		t.Errorf("hexdump %q does not start with the offset and bytes", dump)
	}
}
