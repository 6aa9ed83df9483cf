package web

import (
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// unix-echo from the form: a real client over the socket's path gets its
// echo, and the rows name the ends by path and as an unnamed socket, with
// no port anywhere; the card shows the path and the nc -U snippet.
func TestBrowserUnixEchoFromTheForm(t *testing.T) {
	a := newTestApp(t, withSocketDir(filepath.Join(t.TempDir(), "sockets")))
	ctx := newBrowser(t)
	sid := a.newSession()
	openSession(t, ctx, a, sid)
	path := startFromForm(t, ctx, a, sid, "unix-echo", map[string]string{"socket": "ipc"})
	// A Unix socket has a path, not a port: the form has no port field for
	// it, and has one again for a tcp-echo.
	portShown := `!document.querySelector("[data-testid=server-port]").closest("label").hidden`
	if evalIn[bool](t, ctx, portShown) {
		t.Error("the start form shows a port field for unix-echo")
	}
	step(t, ctx, "choose tcp-echo: the port field is back",
		chromedp.SetValue(`[data-testid=server-kind]`, "tcp-echo"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=server-kind]").dispatchEvent(new Event("change", {bubbles: true}))`),
		chromedp.Poll[chromedp.Void](portShown))
	if !strings.HasSuffix(path, "/"+sid+"/ipc.sock") {
		t.Fatalf("socket at %s", path)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "hello over a path\n")
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "hello over a path\n" {
		t.Fatalf("echo %q, %v", buf[:n], err)
	}
	waitRow(t, ctx, "recv", "an unnamed Unix socket")
	waitRow(t, ctx, "accept", "accepted an unnamed Unix socket (a program on this machine) on "+path)
	rows := evalIn[string](t, ctx, `[...document.querySelectorAll("tr.k-recv, tr.k-send, tr.k-accept")].map(tr => tr.cells[4].textContent + " | " + tr.cells[5].textContent).join("\n")`)
	if regexp.MustCompile(`:\d`).MatchString(rows) || !strings.Contains(rows, "ipc.sock | ← an unnamed Unix socket") {
		t.Errorf("a unix row names a port:\n%s", rows)
	}
	card := evalIn[string](t, ctx, `document.querySelector('li[data-testid=server][data-addr="`+path+`"]').textContent`)
	if !strings.Contains(card, "unix") || !strings.Contains(card, "nc -U "+path) {
		t.Errorf("the server card reads %q", card)
	}
	// The client form offers a socket path to a unix client only: a tcp
	// client's target is never a path, and choosing unix fills the path in.
	_, tcpAddr := a.startEcho(sid, nil)
	step(t, ctx, "a tcp client is offered the tcp server",
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=client-target]").value === "`+tcpAddr+`"`))
	if got := evalIn[[]string](t, ctx, `[...document.querySelectorAll("#targets option")].map(o => o.value)`); len(got) != 1 || got[0] != tcpAddr {
		t.Errorf("tcp client: targets %v, want only %s", got, tcpAddr)
	}
	step(t, ctx, "choosing unix offers the socket path",
		chromedp.SetValue(`[data-testid=client-kind]`, "unix"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=client-kind]").dispatchEvent(new Event("change"))`),
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=client-target]").value === "`+path+`"`))
	// Connect: the client's end and the server's pair up (the client binds a
	// name of its own), so the connection filter names the conversation
	// by both its ends, as for TCP.
	step(t, ctx, "open the unix client",
		chromedp.Click(`[data-testid=open-client]`),
		chromedp.WaitVisible(`li[data-testid=client][data-state=connected]`))
	step(t, ctx, "the conversation named by both ends",
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#filter-conn option")].some(o => /unix client .+ ⇄ unix-echo .*server ipc\.sock/.test(o.textContent))`,
			chromedp.WithPollingTimeout(30*time.Second)))
	shoot(t, ctx, "unix-echo-1366", 1366, 768)
	shoot(t, ctx, "unix-echo-420", 420, 900)
}
