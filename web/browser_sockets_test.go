package web

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// shoot saves a screenshot of the page at width×height in
// $SOCKPLAY_SCREENSHOTS (nothing when it is not set).
func shoot(t *testing.T, ctx context.Context, name string, width, height int64) {
	t.Helper()
	dir := os.Getenv("SOCKPLAY_SCREENSHOTS")
	if dir == "" {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.EmulateViewport(width, height)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(tctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The Sockets panel: opened, it shows the session's listener and both ends
// of a connection with their states, and follows the session live (a
// closed client's row goes away); closed, it stops asking.
func TestBrowserSocketPanelFollowsTheSession(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	_, addr := a.startEcho(sid, nil)
	cli := a.openClient(sid, addr)
	a.openClient(sid, addr)
	openSession(t, ctx, a, sid)
	step(t, ctx, "open the Sockets panel: the listener and two connected pairs",
		chromedp.Click(`#sockets-panel > summary`),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#sockets-body [data-testid=socket]").length === 5`),
	)
	states := evalIn[[]string](t, ctx, `[...document.querySelectorAll("#sockets-body [data-testid=socket]")].map(tr => tr.dataset.role + " " + tr.dataset.state)`)
	want := map[string]int{"listener LISTEN": 1, "accepted ESTABLISHED": 2, "client ESTABLISHED": 2}
	got := map[string]int{}
	for _, s := range states {
		got[s]++
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("rows %v: want %d %q", states, n, k)
		}
	}
	if head := evalIn[string](t, ctx, `document.getElementById("sockets-count").textContent`); !strings.Contains(head, "4 ESTABLISHED") || !strings.Contains(head, "1 LISTEN") {
		t.Errorf("panel heading %q does not count the states", head)
	}
	if kernel := evalIn[string](t, ctx, `document.querySelector("#sockets-body [data-role=client] .kernel").textContent`); !strings.Contains(kernel, "rtt") || !strings.Contains(kernel, "cwnd") {
		t.Errorf("a client's kernel cell %q shows no rtt and cwnd", kernel)
	}
	shoot(t, ctx, "sockets-1366", 1366, 768)
	shoot(t, ctx, "sockets-420", 420, 900)
	if code := a.do("POST", "/api/sessions/"+sid+"/clients/"+cli+"/close", map[string]any{}, nil); code != http.StatusOK {
		t.Fatalf("close client: %d", code)
	}
	step(t, ctx, "the closed client's pair leaves the table; its own end stays in TIME-WAIT, marked closed",
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("#sockets-body [data-testid=socket]:not([data-closed])").length === 3`),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#sockets-body [data-testid=socket][data-closed]")].some(li => li.dataset.state === "TIME-WAIT" && li.textContent.includes("closed here"))`),
	)
	shoot(t, ctx, "sockets-timewait-1366", 1366, 768)
	// Closed, the panel stops polling: its count of polls stays put over
	// more than two polling periods.
	step(t, ctx, "close the panel", chromedp.Click(`#sockets-panel > summary`))
	before := evalIn[string](t, ctx, `document.getElementById("sockets-panel").dataset.polled`)
	time.Sleep(2500 * time.Millisecond)
	if after := evalIn[string](t, ctx, `document.getElementById("sockets-panel").dataset.polled`); after != before {
		t.Errorf("the closed panel polled on: %s polls, then %s", before, after)
	}
}

// An ECONNREFUSED error event, selected, shows its card (what it means,
// the usual cause, Python's exception); Reproduce makes the error happen
// again in a fresh session and opens it: the steps, and its event in the
// table; the session the learner came from is left as it was.
func TestBrowserErrorCardAndReproduce(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	id, addr := a.startEcho(sid, nil)
	if code := a.do("DELETE", "/api/sessions/"+sid+"/servers/"+id, nil, nil); code != http.StatusOK {
		t.Fatalf("stop server: %d", code)
	}
	if code := a.do("POST", "/api/sessions/"+sid+"/clients", map[string]string{"kind": "tcp", "target": addr}, nil); code != http.StatusBadGateway {
		t.Fatalf("connect to a stopped server's port: %d, want 502", code)
	}
	openSession(t, ctx, a, sid)
	waitRow(t, ctx, "error", "ECONNREFUSED")
	step(t, ctx, "select the error row: its card appears",
		chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll("tr.k-error")].find(tr => tr.textContent.includes("ECONNREFUSED")).click()`),
		chromedp.WaitVisible(`[data-testid=error-card][data-errno=ECONNREFUSED]`),
	)
	card := evalIn[string](t, ctx, `document.getElementById("error-card").textContent`)
	for _, want := range []string{"Connection refused", "What it means", "no program listens", "Usual cause", "What to try", "ConnectionRefusedError"} {
		if !strings.Contains(card, want) {
			t.Errorf("card %q lacks %q", card, want)
		}
	}
	shoot(t, ctx, "errorcard-1366", 1366, 768)
	before := sessionEvents(t, a, sid)
	step(t, ctx, "press Reproduce", chromedp.Click(`[data-testid=reproduce]`))
	// The page navigates: until the new one is there, an evaluation may
	// fail (the old page's context is gone).
	for deadline := time.Now().Add(30 * time.Second); ; {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		path, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.readyState === "complete" ? location.pathname : ""`))
		cancel()
		if err == nil && path != "" && path != "/s/"+sid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Reproduce did not open a fresh session: the page is at %q (%v)", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	step(t, ctx, "the fresh session shows the steps and its ECONNREFUSED event",
		chromedp.Poll[chromedp.Void](`(document.querySelector("[data-testid=reproduction-result]")?.textContent || "").includes("Reproduced ECONNREFUSED")`),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("tr.k-error")].some(tr => tr.textContent.includes("ECONNREFUSED"))`),
	)
	if steps := evalIn[string](t, ctx, `document.querySelector("[data-testid=reproduction]").textContent`); !strings.Contains(steps, "refuse fault") {
		t.Errorf("reproduction steps %q", steps)
	}
	if back := evalIn[string](t, ctx, `document.querySelector("[data-testid=reproduction-back]")?.getAttribute("href") || ""`); back != "/s/"+sid {
		t.Errorf("the way back is %q, want /s/%s", back, sid)
	}
	fresh := strings.TrimPrefix(evalIn[string](t, ctx, `location.pathname`), "/s/")
	if n := sessionEvents(t, a, fresh); n == 0 {
		t.Errorf("the fresh session %s has no events", fresh)
	}
	if after := sessionEvents(t, a, sid); after != before {
		t.Errorf("the session the learner came from went from %d to %d events", before, after)
	}
	shoot(t, ctx, "errorcard-reproduced-1366", 1366, 768)
	shoot(t, ctx, "errorcard-reproduced-420", 420, 900)
}
