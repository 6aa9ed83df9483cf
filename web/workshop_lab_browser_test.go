package web

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// A participant's page in real Chromium shows their own block of ports and
// the lab host; their server lands in it and its snippets use that port; a
// client to another participant's server is refused with the message that
// says why; the instructor's dashboard shows each one's ports and opens the
// lab, after which the same client connects and its event names the other
// participant's server.
func TestBrowserWorkshopPortBlock(t *testing.T) {
	a := newTestApp(t, withWorkshop(func(c *Config) { c.ParticipantPorts = 20 }))
	w := a.instructor().createWorkshop("Pairs")
	bob, bobJ := a.participant(w.Code, "Bob")
	_, bobAddr := bob.startServer(bobJ.Session, "tcp-echo")

	ada := newBrowser(t)
	step(t, ada, "Ada joins with the code",
		chromedp.Navigate(a.URL+"/join?code="+w.Code),
		chromedp.WaitVisible(`[data-testid=join-form]`),
		chromedp.SendKeys(`[data-testid=join-name]`, "Ada"),
		chromedp.Click(`[data-testid=join]`),
		chromedp.WaitVisible(`[data-testid=lab-block]`),
		chromedp.WaitVisible(`[data-testid=live-state][data-state=live]`),
	)
	action := browserAttr(t, ada, `[data-testid=server-form]`, "action")
	session := strings.TrimSuffix(strings.TrimPrefix(action, "/s/"), "/servers")
	block, ok := a.Lab.PortBlockOf(session)
	if !ok {
		t.Fatalf("Ada's session %s has no block", session)
	}
	want := fmt.Sprintf("Your ports %d–%d on 127.0.0.1", block.Ports.First, block.Ports.Last)
	if got := browserText(t, ada, `[data-testid=lab-block]`); !strings.HasPrefix(got, want) {
		t.Errorf("the page says %q, want it to begin %q", got, want)
	}
	if got := browserText(t, ada, `[data-testid=port-hint]`); !strings.Contains(got, fmt.Sprintf("%d–%d", block.Ports.First, block.Ports.Last)) {
		t.Errorf("port hint %q does not name Ada's block", got)
	}
	step(t, ada, "Ada starts an echo server",
		chromedp.Click(`[data-testid=start-server]`),
		chromedp.WaitVisible(`li[data-testid=server][data-state=running]`),
	)
	var adaPort int
	for _, srv := range a.Lab.Servers(session) {
		_, p, _ := net.SplitHostPort(srv.Addr)
		fmt.Sscan(p, &adaPort)
	}
	if !block.Ports.Contains(adaPort) {
		t.Fatalf("Ada's server on %d, outside %v", adaPort, block.Ports)
	}
	if got := browserText(t, ada, `li[data-testid=server]`); !strings.Contains(got, fmt.Sprint(adaPort)) {
		t.Errorf("the server's row %q does not show its port %d", got, adaPort)
	}
	step(t, ada, "Ada connects to Bob's server",
		chromedp.SetValue(`[data-testid=client-target]`, bobAddr),
		chromedp.Click(`[data-testid=open-client]`),
		chromedp.WaitVisible(`#banner:not([hidden])`),
	)
	if got := browserText(t, ada, `#banner`); !strings.Contains(got, "belongs to another participant") || !strings.Contains(got, "open the lab") {
		t.Errorf("the refusal reads %q", got)
	}
	if got := browserText(t, ada, `[data-testid=port-hint]`); !strings.Contains(got, "Tutorial ports are off") || strings.Contains(got, "Use 65432") {
		t.Errorf("port hint %q: want tutorial ports off, and no Use 65432", got)
	}
	step(t, ada, "scroll to the top", chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=lab-block]").scrollIntoView()`))
	shot(t, ada, "workshop-ports-1366")
	viewport(t, ada, 420, 900)
	step(t, ada, "scroll to the top", chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=lab-block]").scrollIntoView()`))
	shot(t, ada, "workshop-ports-420")
	viewport(t, ada, 1366, 768)

	inst := newBrowser(t)
	step(t, inst, "the instructor logs in and opens the dashboard",
		chromedp.Navigate(a.URL+"/instructor"),
		chromedp.WaitVisible(`[data-testid=password]`),
		chromedp.SendKeys(`[data-testid=password]`, testPassword),
		chromedp.Click(`[data-testid=login]`),
		chromedp.WaitVisible(`[data-testid=new-workshop-form]`),
		chromedp.Navigate(a.URL+"/instructor/workshops/"+w.ID),
		chromedp.WaitVisible(`[data-testid=participant-ports]`),
	)
	if got := browserText(t, inst, `[data-testid=participants]`); !strings.Contains(got, "ports "+block.Ports.String()) {
		t.Errorf("the dashboard %q does not show Ada's ports %v", got, block.Ports)
	}
	step(t, inst, "open the lab",
		chromedp.Click(`[data-testid=open-lab]`),
		chromedp.WaitVisible(`[data-testid=close-lab]`),
	)
	shot(t, inst, "workshop-openlab-1366")

	step(t, ada, "Ada connects to Bob's server again",
		chromedp.Click(`#banner button.dismiss`),
		chromedp.SetValue(`[data-testid=client-target]`, bobAddr),
		chromedp.Click(`[data-testid=open-client]`),
		chromedp.WaitVisible(`li[data-testid=client]`),
	)
	step(t, ada, "the connect event names Bob's server",
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=events]").textContent.includes("Bob's tcp-echo server")`))
	shot(t, ada, "workshop-openlab-participant-1366")
}
