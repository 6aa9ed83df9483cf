package web

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// These Chromium tests come from watching a new user: each is something
// that went wrong on the page.

// evalIn runs a JavaScript expression in the page and returns its value.
func evalIn[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// floodEvents pushes n bytes through the echo at addr (whose recv_size
// should be small, so that this makes many events), reads them back and
// waits for the recording to hold them all. It returns the last seq.
func floodEvents(t *testing.T, a *testApp, sid, addr string, n int) int64 {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	go c.Write([]byte(strings.Repeat("x", n)))
	if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
		t.Fatal(err)
	}
	// Hang up and wait for both closes (the peer's FIN seen, then the
	// server's own close), so no event of this connection comes after the
	// seq returned.
	c.Close()
	evs := a.waitEvents(sid, "the flood's echo and both closes recorded", func(evs []sessions.Record) bool {
		sent, closes := 0, 0
		for _, e := range evs {
			switch e.Kind {
			case engine.KindSend:
				sent += e.Len
			case engine.KindClose:
				closes++
			}
		}
		return sent >= n && closes >= 2
	})
	return evs[len(evs)-1].Seq
}

// floodedPage opens, in Chromium, a session whose echo server (recv_size
// 1024) has already echoed kib KiB: about 2*kib events.
func floodedPage(t *testing.T, kib int) (a *testApp, ctx context.Context, sid, addr string) {
	t.Helper()
	a = newTestApp(t)
	ctx = newBrowser(t)
	sid = a.newSession()
	_, addr = a.startEcho(sid, map[string]any{"recv_size": 1024})
	floodEvents(t, a, sid, addr, kib*1024)
	openSession(t, ctx, a, sid)
	return a, ctx, sid, addr
}

// pauseTable scrolls the events table to its top: it stops following.
func pauseTable(t *testing.T, ctx context.Context) {
	t.Helper()
	step(t, ctx, "scroll up: the table pauses",
		chromedp.Evaluate[chromedp.Void](`document.getElementById("events-scroll").scrollTop = 0`),
		chromedp.WaitVisible(`[data-testid=jump-latest]`),
	)
}

// ticker sends a short line every 2 ms on a new connection to addr (and
// reads the echoes) until the test ends: live traffic while the page is
// used.
func ticker(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(io.Discard, c) }()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if _, err := c.Write([]byte("tick\n")); err != nil {
					return
				}
			}
		}
	}()
	t.Cleanup(func() { close(done); c.Close(); wg.Wait() })
}

// Paging back while events keep arriving leaves no hole in the table, and
// "Latest" returns to the live tail.
func TestBrowserScrollBackDuringTrafficKeepsTableContiguous(t *testing.T) {
	a, ctx, sid, addr := floodedPage(t, 3000) // ~6000 events
	ticker(t, addr)
	// A full table is trimmed at its top as live rows arrive: the moment a
	// page of older rows could land next to the wrong row.
	// (The list is virtualised: the DOM holds the rows on screen, the page
	// a page or more of events in memory.)
	step(t, ctx, "live traffic fills the list",
		chromedp.Poll[chromedp.Void](`Number(document.getElementById("events-scroll").dataset.count) >= 1000`))

	for i := range 4 {
		// Read the first row and scroll in one go: while the table follows,
		// live rows trim its top, and a first row read a moment before the
		// scroll may already be gone (the older page then ends above it).
		first := evalIn[int64](t, ctx, `(() => {
			const first = Number(document.querySelector("tr.ev").dataset.seq);
			document.getElementById("events-scroll").scrollTop = 0;
			return first;
		})()`)
		step(t, ctx, "scroll the table to its top and wait for an older page",
			chromedp.Poll[chromedp.Void](`Number(document.querySelector("tr.ev").dataset.seq) < `+itoa(first)),
		)
		seqs := shownSeqs(t, ctx)
		checkContiguous(t, seqs)
		if len(seqs) > maxRows {
			t.Fatalf("scroll %d: %d rows, want at most %d", i, len(seqs), maxRows)
		}
	}
	step(t, ctx, "Latest returns to the live tail",
		chromedp.WaitVisible(`[data-testid=jump-latest]`),
		chromedp.Click(`[data-testid=jump-latest]`),
		chromedp.WaitNotVisible(`[data-testid=jump-latest]`),
	)
	// The table follows again: a new event shows up at its end.
	last := a.events(sid, 0)
	want := last[len(last)-1].Seq + 10
	step(t, ctx, "new events appear at the end",
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("tr.ev")].pop().dataset.seq >= `+itoa(want)))
	checkContiguous(t, shownSeqs(t, ctx))
}

// Scrolling back down after a long pause (longer than the table holds)
// returns to the live tail instead of staying frozen.
func TestBrowserScrollBackDownAfterLongPauseFollowsAgain(t *testing.T) {
	a, ctx, sid, addr := floodedPage(t, 1000)
	ticker(t, addr)
	last := evalIn[int64](t, ctx, `Number([...document.querySelectorAll("tr.ev")].pop().dataset.seq)`)
	pauseTable(t, ctx)
	// More events than the table holds arrive while paused.
	a.waitEvents(sid, "a table's worth of new events", func(evs []sessions.Record) bool {
		return evs[len(evs)-1].Seq > last+int64(maxRows)+200
	})
	newest := a.events(sid, 0)
	want := newest[len(newest)-1].Seq
	step(t, ctx, "scroll back down: the newest events show and keep coming",
		chromedp.Evaluate[chromedp.Void](`const s = document.getElementById("events-scroll"); s.scrollTop = s.scrollHeight`),
		chromedp.Poll[chromedp.Void](`Number([...document.querySelectorAll("tr.ev")].pop().dataset.seq) > `+itoa(want)),
	)
	checkContiguous(t, shownSeqs(t, ctx))
}

// A filter that matches nothing loaded says so and searches older pages.
func TestBrowserFilterSearchesOlderEvents(t *testing.T) {
	_, ctx, _, _ := floodedPage(t, 2000) // the accept is ~4000 events back
	step(t, ctx, "filter on accept: nothing among the loaded rows",
		chromedp.SetValue(`[data-testid=filter-kind]`, "accept"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=filter-kind]").dispatchEvent(new Event("change"))`),
		chromedp.WaitVisible(`[data-testid=filter-empty]`),
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=filter-empty]").textContent.includes("No matching events")`),
	)
	step(t, ctx, "search older finds the accept",
		chromedp.Click(`[data-testid=search-older]`),
		chromedp.WaitVisible(`tr.ev[data-kind=accept]`),
		chromedp.WaitNotVisible(`[data-testid=filter-empty]`),
	)
	checkContiguous(t, shownSeqs(t, ctx))
}

// The servers and clients panel is re-rendered on every connect and close;
// what the visitor had going in it survives: the send box's format, text
// and focus, and an open snippet.
func TestBrowserPanelRefreshKeepsWhatTheVisitorTyped(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	_, addr := a.startEcho(sid, map[string]any{"mode": "prefix", "prefix": ">> "})
	a.openClient(sid, addr)
	openSession(t, ctx, a, sid)
	waitPanelSettled(t, ctx)
	step(t, ctx, "the options read as options, in the panel and in the server-start event",
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=server-options]").textContent.includes('prefix ">> "')`),
		chromedp.Poll[chromedp.Void](`document.querySelector("tr.k-server-start td.details").textContent.includes('mode prefix · prefix ">> "')`),
	)
	step(t, ctx, "open the snippet, choose hex, type, keep the focus",
		chromedp.Click(`li[data-testid=server] summary`),
		chromedp.SetValue(`form[data-action=send] select[name=format]`, "hex"),
		chromedp.SendKeys(`[data-testid=send-input]`, "68 69"),
	)
	a.startEcho(sid, nil) // a lifecycle event: the panel is rendered again
	step(t, ctx, "the panel shows the new server",
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("li[data-testid=server]").length === 2`),
	)
	got := evalIn[map[string]any](t, ctx, `({
		format: document.querySelector("form[data-action=send] select[name=format]").value,
		data: document.querySelector("[data-testid=send-input]").value,
		focused: document.activeElement === document.querySelector("[data-testid=send-input]"),
		open: document.querySelector("li[data-testid=server] details").open,
	})`)
	if got["format"] != "hex" || got["data"] != "68 69" || got["focused"] != true || got["open"] != true {
		t.Fatalf("after the refresh: %v, want hex, \"68 69\", focused, snippet open", got)
	}
	if strings.Contains(evalIn[string](t, ctx, `document.getElementById("endpoints").textContent`), `\u003e`) {
		t.Error("the servers panel shows JSON escapes")
	}
}

// A send whose write fails is marked on its row: the send event comes
// before the write call, so unmarked it reads as sent.
func TestBrowserFailedSendIsMarked(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	id, addr := a.startEcho(sid, nil)
	cid := a.openClient(sid, addr)
	openSession(t, ctx, a, sid)
	if code := a.do("DELETE", "/api/sessions/"+sid+"/servers/"+id, nil, nil); code != http.StatusOK {
		t.Fatalf("stop: status %d", code)
	}
	a.waitEvents(sid, "the client sees the FIN", func(evs []sessions.Record) bool {
		_, ok := findEvent(evs, func(e sessions.Record) bool { return e.Server == cid && e.Kind == engine.KindClose })
		return ok
	})
	// The first write after the peer closed goes out (the peer answers RST);
	// a later one fails.
	failed := false
	for i := 0; i < 10 && !failed; i++ {
		failed = a.do("POST", "/api/sessions/"+sid+"/clients/"+cid+"/send", map[string]string{"text": "anyone?"}, nil) == http.StatusConflict
	}
	if !failed {
		t.Fatal("no send failed after the server closed")
	}
	step(t, ctx, "the failed send's row says it was not sent",
		chromedp.WaitVisible(`tr.k-send.failed`),
		chromedp.Poll[chromedp.Void](`document.querySelector("tr.k-send.failed td.details").textContent.startsWith("not sent")`),
	)
	if n := evalIn[int](t, ctx, `document.querySelectorAll("tr.k-send.failed").length`); n != 1 {
		t.Errorf("%d send rows marked failed, want 1", n)
	}
}

// A page whose session is deleted says so instead of reconnecting forever.
func TestBrowserDeletedSessionSaysSo(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	_, addr := a.startEcho(sid, nil)
	openSession(t, ctx, a, sid)
	// An outside connection shows in the server's open count (an accept
	// re-renders the panel).
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	step(t, ctx, "the panel counts the outside connection",
		chromedp.Poll[chromedp.Void](`document.querySelector("li[data-testid=server]").textContent.includes("1 open")`))
	if code := a.do("DELETE", "/api/sessions/"+sid, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: status %d", code)
	}
	step(t, ctx, "the page says the session was deleted and lists nothing running",
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=live-state]").textContent === "this session was deleted"`),
		chromedp.WaitVisible(`[data-testid=banner]`),
		chromedp.WaitNotPresent(`li[data-testid=server]`),
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=start-server]").disabled`),
	)
}

// Filtering on a page client's connection shows the lab server's end of it
// too: one conversation, both sides.
func TestBrowserConnectionFilterShowsBothEnds(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	srv, addr := a.startEcho(sid, nil)
	cid := a.openClient(sid, addr)
	other, err := net.Dial("tcp", addr) // another connection, filtered out
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.Write([]byte("other\n"))
	if code := a.do("POST", "/api/sessions/"+sid+"/clients/"+cid+"/send", map[string]string{"text": "mine\n"}, nil); code != http.StatusOK {
		t.Fatalf("send: status %d", code)
	}
	evs := a.waitEvents(sid, "both echoes", func(evs []sessions.Record) bool {
		return recvData(evs, cid) == "mine\n" && strings.Contains(recvData(evs, srv), "other")
	})
	connect, _ := findEvent(evs, func(e sessions.Record) bool { return e.Server == cid && e.Kind == engine.KindConnect })
	openSession(t, ctx, a, sid)
	step(t, ctx, "filter on the client's connection",
		chromedp.Poll[chromedp.Void](`!!document.querySelector("#filter-conn option[value=\"`+connect.Conn+`\"]")`),
		chromedp.SetValue(`[data-testid=filter-conn]`, connect.Conn),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=filter-conn]").dispatchEvent(new Event("change"))`),
	)
	shown := evalIn[[]map[string]string](t, ctx, `[...document.querySelectorAll("tr.ev:not([hidden])")].map(tr => ({who: tr.dataset.owner, kind: tr.dataset.kind, details: tr.querySelector(".details").textContent}))`)
	var clientRecv, serverRecv, otherRows int
	for _, r := range shown {
		switch {
		case strings.Contains(r["details"], "other"):
			otherRows++
		case r["who"] == cid && r["kind"] == "recv":
			clientRecv++
		case r["who"] == srv && r["kind"] == "recv":
			serverRecv++
		}
	}
	if clientRecv != 1 || serverRecv != 1 || otherRows != 0 {
		t.Errorf("filtered rows: %d client recv, %d server recv, %d of the other connection; want 1, 1, 0:\n%v", clientRecv, serverRecv, otherRows, shown)
	}
}

// The session page deletes its session: servers stop, the recording goes,
// and the browser is back on the session list.
func TestBrowserDeletesSession(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	_, addr := a.startEcho(sid, nil)
	openSession(t, ctx, a, sid)
	step(t, ctx, "delete the session",
		chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`),
		chromedp.Click(`[data-testid=delete-session]`),
		chromedp.WaitVisible(`[data-testid=new-session]`), // the home page
	)
	if code := a.do("GET", "/api/sessions/"+sid, nil, nil); code != http.StatusNotFound {
		t.Errorf("the deleted session answers %d, want 404", code)
	}
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Errorf("the deleted session's server still accepts on %s", addr)
	}
}

// Two quick clicks on Latest load the newest page once: a second load
// landing after live rows were shown would drop them.
func TestBrowserLatestLoadsOnce(t *testing.T) {
	_, ctx, _, _ := floodedPage(t, 1000)
	pauseTable(t, ctx)
	step(t, ctx, "count the tail fetches and click Latest twice",
		chromedp.Evaluate[chromedp.Void](`(() => {
			const orig = window.fetch;
			window.tailFetches = 0;
			window.fetch = (url, opts) => {
				if (String(url).includes("before=9007199254740991")) window.tailFetches++;
				return orig(url, opts);
			};
			const b = document.querySelector("[data-testid=jump-latest]");
			b.click(); b.click();
		})()`),
		chromedp.WaitNotVisible(`[data-testid=jump-latest]`),
	)
	if n := evalIn[int](t, ctx, `window.tailFetches`); n != 1 {
		t.Errorf("%d tail loads for two quick clicks, want 1", n)
	}
	checkContiguous(t, shownSeqs(t, ctx))
}

// waitPanelSettled waits until the servers panel has no re-render due or
// under way (it re-renders after lifecycle events, replacing its nodes).
func waitPanelSettled(t *testing.T, ctx context.Context) {
	t.Helper()
	step(t, ctx, "the servers panel settles",
		chromedp.Poll[chromedp.Void](`!document.getElementById("endpoints").dataset.refreshing`),
	)
}
