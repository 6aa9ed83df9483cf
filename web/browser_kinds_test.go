package web

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// While sockplay cannot be reached (stopped, restarting), an open page does
// not keep showing servers as running with working Stop buttons: it says it
// does not know, and disables them.
func TestBrowserUnreachableSockplayGreysThePanel(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	a.startEcho(sid, nil)
	openSession(t, ctx, a, sid)
	step(t, ctx, "the server shows as running with a Stop button",
		chromedp.WaitVisible(`li[data-testid=server][data-state=running] button[data-action=stop-server]`),
	)
	// sockplay goes away: no new connections, open ones cut, and the live
	// stream ends (a hijacked WebSocket is not among httptest's connections).
	a.srv.Listener.Close()
	a.srv.CloseClientConnections()
	a.Hub.CloseSession(sid)
	step(t, ctx, "the panel says it does not know, and its buttons are disabled",
		chromedp.Poll[chromedp.Void](`(() => {
			const li = document.querySelector("li[data-testid=server]");
			const stop = li.querySelector("button[data-action=stop-server]");
			return li.dataset.state === "unknown" && li.textContent.includes("not reachable") && stop.disabled;
		})()`),
	)
}
