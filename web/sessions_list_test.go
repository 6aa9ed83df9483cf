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

	"github.com/sockplay/sockplay/sessions"
)

// evalString runs js in the page and returns its string result.
func evalString(t *testing.T, ctx context.Context, js string) string {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(tctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return s
}

// The home page as a user works it: the list with sizes, Rename in place,
// Import of an export (and of a bad file, which says why in place),
// Delete; then the session page's Share control: make a link, copy it,
// revoke it, and the link's page says plainly that it is not valid — as it
// does for a wrong token and for the link of a deleted session.
func TestBrowserHomeListImportAndShare(t *testing.T) {
	a := newTestApp(t, withBudget(DiskBudget{MaxSessionEvents: 1_000_000, MaxSessionBytes: 128 << 20}))
	ctx := newBrowser(t)
	busy := a.newSession()
	_, addr := a.startEcho(busy, nil)
	cli := a.clientTo(busy, "tcp", addr, nil)
	a.send(busy, cli, map[string]string{"text": "hello from the list"})
	a.waitEvents(busy, "the echo", func(evs []sessions.Record) bool { return recvData(evs, cli) == "hello from the list" })
	quiet := a.newSession()

	step(t, ctx, "open the home page",
		chromedp.Navigate(a.URL+"/"),
		chromedp.WaitVisible(`tr[data-session="`+busy+`"] [data-testid=session-size]`),
		chromedp.WaitVisible(`tr[data-session="`+quiet+`"] [data-testid=rename-session]`),
	)
	if size := evalString(t, ctx, `document.querySelector('tr[data-session="`+busy+`"] [data-testid=session-size]').textContent`); !strings.HasSuffix(size, " B") && !strings.HasSuffix(size, " KiB") {
		t.Errorf("size on disk %q", size)
	}
	shoot(t, ctx, "home-1366", 1366, 768)
	shoot(t, ctx, "home-420", 420, 900)
	step(t, ctx, "rename the quiet session",
		chromedp.EmulateViewport(1366, 768),
		chromedp.Click(`tr[data-session="`+quiet+`"] [data-testid=rename-session]`),
		chromedp.WaitVisible(`[data-testid=rename-input]`),
		chromedp.SetValue(`[data-testid=rename-input]`, "renamed in place"),
		chromedp.Click(`[data-testid=rename-save]`),
		chromedp.WaitNotPresent(`[data-testid=rename-input]`),
	)
	if s, err := a.Store.GetSession(t.Context(), quiet); err != nil || s.Name != "renamed in place" {
		t.Errorf("after Rename: %+v %v", s, err)
	}

	// Import a bad file: the page says the line and the problem, and stays.
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("this is not an export\n"), 0o600)
	step(t, ctx, "import a bad file",
		chromedp.SetUploadFiles(`[data-testid=import-file]`, []string{bad}),
		chromedp.Click(`[data-testid=import]`),
		chromedp.WaitVisible(`[data-testid=import-status].error`),
	)
	if msg := evalString(t, ctx, `document.querySelector('[data-testid=import-status]').textContent`); !strings.Contains(msg, "line 1: not a JSON object") {
		t.Errorf("import status %q", msg)
	}
	shoot(t, ctx, "home-import-error-420", 420, 900)

	// Import a real export: the page opens the new session with its events.
	_, _, export := a.get("/api/sessions/" + busy + "/export.jsonl")
	good := filepath.Join(dir, "export.jsonl")
	os.WriteFile(good, export, 0o600)
	step(t, ctx, "import an export",
		chromedp.EmulateViewport(1366, 768),
		chromedp.SetUploadFiles(`[data-testid=import-file]`, []string{good}),
		chromedp.Click(`[data-testid=import]`),
		chromedp.WaitVisible(`tr.k-recv.data`),
	)
	loc := evalString(t, ctx, `location.pathname`)
	if !strings.HasPrefix(loc, "/s/") || loc == "/s/"+busy {
		t.Fatalf("after the import the page is %s", loc)
	}
	imported := strings.TrimPrefix(loc, "/s/")

	// Delete from the list (the confirm is answered yes).
	step(t, ctx, "delete the import from the list",
		chromedp.Navigate(a.URL+"/"),
		chromedp.WaitVisible(`tr[data-session="`+imported+`"]`),
		chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`),
		chromedp.Click(`tr[data-session="`+imported+`"] [data-testid=delete-session]`),
		chromedp.WaitNotPresent(`tr[data-session="`+imported+`"]`),
	)
	if _, err := a.Store.GetSession(t.Context(), imported); err == nil {
		t.Errorf("the session deleted from the list is still there")
	}

	// Share: make a link, copy it, revoke it.
	step(t, ctx, "open the session's Share control",
		chromedp.Navigate(a.URL+"/s/"+busy),
		chromedp.WaitVisible(`tr.k-recv.data`),
		chromedp.Click(`[data-testid=share-menu] summary`),
		chromedp.WaitVisible(`[data-testid=share-none]`),
		chromedp.Click(`[data-testid=share-create]`),
		chromedp.WaitVisible(`[data-testid=share-url]`),
		chromedp.Click(`[data-testid=share-copy]`),
		chromedp.WaitVisible(`[data-testid=share-status]`),
	)
	link := evalString(t, ctx, `document.querySelector('[data-testid=share-url]').value`)
	if !strings.HasPrefix(link, a.URL+"/shared/") {
		t.Fatalf("share link %q", link)
	}
	shoot(t, ctx, "share-1366", 1366, 768)
	shoot(t, ctx, "share-420", 420, 900)
	if code, _, _ := a.get(strings.TrimPrefix(link, a.URL)); code != http.StatusOK {
		t.Errorf("the link answers %d before revoking", code)
	}
	step(t, ctx, "revoke it",
		chromedp.EmulateViewport(1366, 768),
		chromedp.Click(`[data-testid=share-revoke]`),
		chromedp.WaitVisible(`[data-testid=share-none]`),
	)
	notValid := func(what, url string) {
		t.Helper()
		step(t, ctx, "open "+what, chromedp.Navigate(url), chromedp.WaitReady(`body`))
		body := evalString(t, ctx, `document.body.innerText`)
		if !strings.Contains(body, "no such share link") || strings.Contains(body, "session not found") {
			t.Errorf("%s: the page says %q", what, body)
		}
	}
	notValid("the revoked link", link)
	notValid("a wrong link", a.URL+"/shared/abcdefghijklmnopqrstuvwxyz234567")
	// A deleted session's link says the same.
	sh := a.share(quiet)
	if code := a.do("DELETE", "/api/sessions/"+quiet, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	notValid("the link of a deleted session", sh.URL)
	shoot(t, ctx, "share-revoked-420", 420, 700)
}
