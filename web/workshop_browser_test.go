package web

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The workshop as people do it, in real Chromium: the instructor logs in
// and creates a workshop; two participants, each in a browser context of
// their own (their own cookies), join with the code, land in their own
// session and start an echo server; the dashboard lists both with their
// server; one participant cannot open the other's session, and their home
// pages list only their own.
func TestBrowserWorkshopTwoParticipants(t *testing.T) {
	a := newTestApp(t, withWorkshop(nil))
	inst := newBrowser(t)
	step(t, inst, "log in as the instructor",
		chromedp.Navigate(a.URL+"/instructor"),
		chromedp.WaitVisible(`[data-testid=password]`),
		chromedp.SendKeys(`[data-testid=password]`, testPassword),
		chromedp.Click(`[data-testid=login]`),
		chromedp.WaitVisible(`[data-testid=new-workshop-form]`),
	)
	step(t, inst, "create a workshop",
		chromedp.SendKeys(`[data-testid=workshop-name]`, "Sockets 101"),
		chromedp.Click(`[data-testid=new-workshop]`),
		chromedp.WaitVisible(`[data-testid=workshop-code]`),
	)
	code := browserText(t, inst, `[data-testid=workshop-code]`)
	if !regexp.MustCompile(`^[2-9A-HJ-NP-Z]{3}-[2-9A-HJ-NP-Z]{3}$`).MatchString(code) {
		t.Fatalf("the dashboard shows the code %q", code)
	}

	sessionOf := map[string]string{}
	ctxOf := map[string]context.Context{}
	for _, name := range []string{"Ada", "Bob"} {
		ctx, cancel := chromedp.NewContext(inst, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		// Open the tab without a deadline: one on its first run would
		// bound the tab's whole life (as in newBrowser).
		if err := chromedp.Do(ctx); err != nil {
			t.Fatal(err)
		}
		ctxOf[name] = ctx
		step(t, ctx, name+" joins with the code typed in lower case",
			chromedp.Navigate(a.URL+"/"),
			chromedp.WaitVisible(`[data-testid=join-form]`), // the home page sent them to /join
			chromedp.SendKeys(`[data-testid=join-code]`, strings.ToLower(code)),
			chromedp.SendKeys(`[data-testid=join-name]`, name),
			chromedp.Click(`[data-testid=join]`),
			chromedp.WaitVisible(`[data-testid=server-form]`),
			chromedp.WaitVisible(`[data-testid=live-state][data-state=live]`),
		)
		action := browserAttr(t, ctx, `[data-testid=server-form]`, "action") // /s/{id}/servers
		if !strings.HasPrefix(action, "/s/") {
			t.Fatalf("%s landed on a page whose server form posts to %q", name, action)
		}
		sessionOf[name] = strings.TrimSuffix(strings.TrimPrefix(action, "/s/"), "/servers")
		step(t, ctx, name+" starts an echo server",
			chromedp.Click(`[data-testid=start-server]`),
			chromedp.WaitVisible(`li[data-testid=server][data-state=running]`),
		)
	}
	if sessionOf["Ada"] == sessionOf["Bob"] {
		t.Fatal("Ada and Bob share a session")
	}

	step(t, inst, "the dashboard lists both, each with a server",
		chromedp.Navigate(a.URL+"/instructor"),
		chromedp.WaitVisible(`[data-testid=participants]`),
	)
	var rows []string
	for _, line := range strings.Split(browserText(t, inst, `[data-testid=participants] tbody`), "\n") {
		cells := strings.Split(line, "\t")
		rows = append(rows, strings.TrimSpace(cells[0])+":"+strings.TrimSpace(cells[min(1, len(cells)-1)]))
	}
	if got := strings.Join(rows, ","); got != "Ada:1,Bob:1" {
		t.Errorf("dashboard rows %q; want Ada:1,Bob:1 (name:servers)", got)
	}

	ada := ctxOf["Ada"]
	step(t, ada, "Ada opens Bob's session by its URL",
		chromedp.Navigate(a.URL+"/s/"+sessionOf["Bob"]),
		chromedp.WaitVisible(`[data-testid=error-page]`),
	)
	if got := browserText(t, ada, `[data-testid=error-page] h1`); got != "Not found" {
		t.Errorf("Ada on Bob's session sees %q; want Not found", got)
	}
	step(t, ada, "Ada's home page",
		chromedp.Navigate(a.URL+"/"),
		chromedp.WaitVisible(`[data-testid=sessions]`),
	)
	tctx, cancel := context.WithTimeout(ada, 30*time.Second)
	defer cancel()
	links, err := chromedp.Run(tctx, chromedp.AttributesAll(chromedp.CSSAll(`[data-testid=sessions] a`)))
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 1 || links[0]["href"] != "/s/"+sessionOf["Ada"] {
		t.Errorf("Ada's home page links %v; want only her session", links)
	}
}

// browserText reads the visible text of sel.
func browserText(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Read in one script, not by node id: the page draws its panels again
	// as events arrive, and a node found a moment before may be gone
	// ("No node with given id found"); the selector finds its successor.
	q, _ := json.Marshal(sel)
	if _, err := chromedp.Run(tctx, chromedp.WaitVisible(sel)); err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	s, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.querySelector(`+string(q)+`).innerText`))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// browserAttr reads the attribute name of sel.
func browserAttr(t *testing.T, ctx context.Context, sel, name string) string {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	m, err := chromedp.Run(tctx, chromedp.Attributes(sel))
	if err != nil {
		t.Fatalf("read %s of %s: %v", name, sel, err)
	}
	return m[name]
}
