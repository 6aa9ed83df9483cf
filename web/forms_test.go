package web

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/sockplay/sockplay/engine"
)

// postForm posts an urlencoded form without following the redirect and
// returns the status, the Location and the body.
func (a *testApp) postForm(path string, form url.Values) (int, string, string) {
	a.t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.PostForm(a.URL+path, form)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(b)
}

// The session page's forms work without JavaScript: each posts, answers
// 303 back to the page, and does what the API would.
func TestFormsWorkWithoutJavaScript(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	page := "/s/" + sid

	code, loc, _ := a.postForm(page+"/servers", url.Values{"kind": {"tcp-echo"}, "tcp-echo.mode": {"upper"}, "tcp-echo.recv_size": {"4096"}, "port": {"0"}})
	if code != http.StatusSeeOther || loc != page {
		t.Fatalf("start server form: %d %q, want 303 to %s", code, loc, page)
	}
	servers := a.Lab.Servers(sid)
	if len(servers) != 1 || servers[0].State != engine.StateRunning {
		t.Fatalf("servers after the form: %+v", servers)
	}
	addr := servers[0].Addr

	if code, _, _ := a.postForm(page+"/clients", url.Values{"target": {addr}}); code != http.StatusSeeOther {
		t.Fatalf("open client form: %d", code)
	}
	clients := a.Lab.Clients(sid)
	if len(clients) != 1 {
		t.Fatalf("clients after the form: %+v", clients)
	}
	cid := clients[0].ID
	if code, _, _ := a.postForm(page+"/clients/"+cid+"/send", url.Values{"format": {"text"}, "data": {"hi"}, "newline": {"on"}}); code != http.StatusSeeOther {
		t.Fatalf("send form: %d", code)
	}
	// Wait for each echo before the next send: two sends in quick
	// succession may reach the server as one read, echoed as "HI\nHO".
	a.waitEvents(sid, "the text echo", hasRecv("HI\n"))
	if code, _, _ := a.postForm(page+"/clients/"+cid+"/send", url.Values{"format": {"hex"}, "data": {"68 6f"}}); code != http.StatusSeeOther {
		t.Fatalf("send hex form: %d", code)
	}
	a.waitEvents(sid, "the hex echo", hasRecv("HO"))
	if code, _, _ := a.postForm(page+"/clients/"+cid+"/close", url.Values{"half": {"1"}}); code != http.StatusSeeOther {
		t.Fatalf("half-close form: %d", code)
	}
	if st := a.Lab.Clients(sid)[0].State; st != engine.StateWriteClosed && st != engine.StateClosed {
		t.Fatalf("client state after half-close form: %s", st)
	}
	if code, _, _ := a.postForm(page+"/servers/"+servers[0].ID+"/stop", nil); code != http.StatusSeeOther {
		t.Fatalf("stop form: %d", code)
	}
	if st := a.Lab.Servers(sid)[0].State; st != engine.StateStopped {
		t.Fatalf("server state after stop form: %s", st)
	}
}

// A form that fails answers the page again, with the error in its banner
// and the status the API would give.
func TestFormErrorsShowOnThePage(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	page := "/s/" + sid
	for _, tc := range []struct {
		name   string
		path   string
		form   url.Values
		status int
		want   string
	}{
		{"unknown mode", "/servers", url.Values{"tcp-echo.mode": {"shout"}}, 400, "accept-close"},
		{"port outside the lab range", "/servers", url.Values{"tcp-echo.mode": {"echo"}, "port": {"80"}}, 400, "lab range"},
		{"port not a number", "/servers", url.Values{"tcp-echo.mode": {"echo"}, "port": {"eighty"}}, 400, "eighty"},
		{"refused target", "/clients", url.Values{"target": {"127.0.0.1:22"}}, 403, "EREFUSED"},
		{"bad hex", "/clients/cli-none/send", url.Values{"format": {"hex"}, "data": {"6z"}}, 400, "position 1"},
		{"unknown client", "/clients/cli-none/close", nil, 404, "not found"},
		{"body over the limit", "/servers", url.Values{"name": {strings.Repeat("x", 2<<20)}}, 413, "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := a.postForm(page+tc.path, tc.form)
			if code != tc.status {
				t.Fatalf("status %d, want %d", code, tc.status)
			}
			if !strings.Contains(body, `data-testid="banner"`) || !strings.Contains(body, tc.want) {
				t.Fatalf("the page does not show %q in its banner:\n%.2000s", tc.want, body)
			}
		})
	}
	if n := len(a.Lab.Servers(sid)); n != 0 {
		t.Fatalf("%d servers started by failing forms", n)
	}
}

// With JavaScript off in a real browser, the page still starts a server.
func TestBrowserWithoutJavaScriptStartsServer(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Call(tctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "start a server with the plain form",
		chromedp.Navigate(a.URL+"/s/"+sid),
		chromedp.WaitVisible(`[data-testid=start-server]`),
		chromedp.Click(`[data-testid=start-server]`),
		chromedp.WaitVisible(`li[data-testid=server][data-state=running]`),
	)
	if got := a.Lab.Servers(sid); len(got) != 1 {
		t.Fatalf("servers: %+v", got)
	}
	// Nothing ran: the live view never connected.
	state, err := chromedp.Run(tctx, chromedp.Text(`[data-testid=live-state]`))
	if err != nil {
		t.Fatal(err)
	}
	if state != "connecting…" {
		t.Fatalf("live state %q: scripts ran", state)
	}
}

func TestFormDeletesSession(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	code, loc, _ := a.postForm("/s/"+sid+"/delete", url.Values{})
	if code != http.StatusSeeOther || loc != "/" {
		t.Fatalf("delete form: %d to %q, want 303 to /", code, loc)
	}
	if code := a.do("GET", "/api/sessions/"+sid, nil, nil); code != http.StatusNotFound {
		t.Errorf("the deleted session answers %d, want 404", code)
	}
}
