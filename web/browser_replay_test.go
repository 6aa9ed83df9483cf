package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sockplay/sockplay/sessions"
)

// Replay mode as a learner uses it: a short session recorded with real
// sockets, opened in replay; dragging the timeline to its middle shows the
// recording up to the event at that moment, selected and in view; its deep
// link, opened in a new page, opens the session at it, selected; step back
// and forward move one event; Play at full speed reaches the end.
func TestBrowserReplayDragStepAndDeepLink(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	_, addr := a.startEcho(sid, nil)
	cli := a.openClient(sid, addr)
	// Twenty messages spread over about a second: a timeline with a middle.
	for i := range 20 {
		if code := a.do("POST", "/api/sessions/"+sid+"/clients/"+cli+"/send", map[string]string{"text": fmt.Sprintf("msg-%02d\n", i)}, nil); code != http.StatusOK && code != http.StatusAccepted {
			t.Fatalf("send: %d", code)
		}
		time.Sleep(40 * time.Millisecond) // the recording's timing, not a wait for anything
	}
	evs := a.waitEvents(sid, "the 20 echoes", func(evs []sessions.Record) bool {
		n := 0
		for _, e := range evs {
			if e.Kind == "recv" && strings.HasPrefix(string(e.Data), "msg-19") {
				n++
			}
		}
		return n == 2 // the server's recv and the client's
	})
	last := evs[len(evs)-1].Seq

	viewport(t, ctx, 1366, 768)
	openSession(t, ctx, a, sid)
	shot(t, ctx, "replay-live-1366")
	step(t, ctx, "open the session in replay mode with the page's Replay button",
		chromedp.Click(`[data-testid=replay-toggle]`),
		chromedp.WaitVisible(`[data-testid=replay]`),
		chromedp.Poll[chromedp.Void](`Number(document.querySelector("[data-testid=timeline]").dataset.buckets) > 0`),
		chromedp.WaitVisible(`[data-testid=live-state][data-state=replay]`),
	)
	if n := evalIn[int](t, ctx, `document.querySelectorAll("tr.ev").length`); n != 0 {
		t.Errorf("replay from the start shows %d rows before Play", n)
	}

	// Drag from near the start to the middle of the bar.
	box := evalIn[[]float64](t, ctx, `(() => { const r = document.querySelector("[data-testid=timeline]").getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
	left, top, width, height := box[0], box[1], box[2], box[3]
	step(t, ctx, "drag the timeline to its middle",
		chromedp.DragAndDropXY(left+5, top+height/2, left+width/2, top+height/2, 12),
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=replay]").dataset.cursor !== "0"`),
	)
	// The event at that moment, as the store says (the page computes the
	// same time: the bar's span in milliseconds, half way).
	var tl struct{ Buckets []sessions.Bucket }
	a.do("GET", "/api/sessions/"+sid+"/timeline?buckets="+strconv.Itoa(evalIn[int](t, ctx, `Number(document.querySelector("[data-testid=timeline]").dataset.buckets)`)), nil, &tl)
	lo, hi := tl.Buckets[0].From.UnixMilli(), tl.Buckets[len(tl.Buckets)-1].To.UnixMilli()
	mid := time.UnixMilli(int64(float64(lo) + float64(hi-lo)*0.5)).UTC()
	var seek struct{ Seq int64 }
	a.do("GET", "/api/sessions/"+sid+"/seek?at="+url.QueryEscape(mid.Format(time.RFC3339Nano)), nil, &seek)
	want := seek.Seq
	if want <= 3 || want >= last-3 {
		t.Fatalf("the middle of the recording is #%d of %d: not a middle", want, last)
	}
	step(t, ctx, "see the event at the middle selected, in view, with its detail",
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector("[data-testid=replay]").dataset.cursor === "%d"`, want)),
		chromedp.WaitVisible(fmt.Sprintf(`tr.ev.selected[data-seq="%d"]`, want)),
		chromedp.WaitVisible(fmt.Sprintf(`[data-testid=detail][data-seq="%d"]`, want)),
	)
	checkSelectedInView(t, ctx, want)
	if got := evalIn[int](t, ctx, `Number(document.querySelector("[data-testid=events-scroll]").dataset.last)`); int64(got) != want {
		t.Errorf("the list ends at #%d; a replay at #%d shows the recording up to it", got, want)
	}
	if loc := evalIn[string](t, ctx, `location.search`); loc != fmt.Sprintf("?at=%d", want) {
		t.Errorf("the page's URL says %q; want ?at=%d", loc, want)
	}
	shot(t, ctx, "replay-1366")
	viewport(t, ctx, 420, 800)
	shot(t, ctx, "replay-420")
	viewport(t, ctx, 1366, 768)

	// Step back, then forward: one event each.
	step(t, ctx, "step back one event",
		chromedp.Click(`[data-testid=replay-back]`),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector("[data-testid=replay]").dataset.cursor === "%d"`, want-1)),
		chromedp.WaitVisible(fmt.Sprintf(`tr.ev.selected[data-seq="%d"]`, want-1)),
	)
	if got := evalIn[int](t, ctx, `Number(document.querySelector("[data-testid=events-scroll]").dataset.last)`); int64(got) != want-1 {
		t.Errorf("after a step back the list ends at #%d, want #%d", got, want-1)
	}
	step(t, ctx, "step forward one event",
		chromedp.Click(`[data-testid=replay-fwd]`),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector("[data-testid=replay]").dataset.cursor === "%d"`, want)),
		chromedp.WaitVisible(fmt.Sprintf(`tr.ev.selected[data-seq="%d"]`, want)),
		chromedp.WaitVisible(fmt.Sprintf(`[data-testid=detail][data-seq="%d"]`, want)),
	)

	// The deep link, in a new page.
	href := evalIn[string](t, ctx, `document.querySelector("[data-testid=detail-link]").href`)
	if !strings.HasSuffix(href, fmt.Sprintf("/s/%s?at=%d", sid, want)) {
		t.Fatalf("the detail's link is %q; want /s/%s?at=%d", href, sid, want)
	}
	step(t, ctx, "play at 1×, then pause",
		chromedp.Click(`[data-testid=replay-play]`),
		chromedp.WaitVisible(`[data-testid=replay][data-playing="1"]`),
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=replay-play]").textContent.includes("Pause")`),
	)
	shot(t, ctx, "replay-playing-1366")
	step(t, ctx, "pause",
		chromedp.Click(`[data-testid=replay-play]`),
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=replay]").dataset.playing === ""`),
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=replay-play]").textContent.includes("Play")`),
	)
	tab, cancelTab := chromedp.NewContext(ctx)
	defer cancelTab()
	// Open the tab without a deadline: one on its first run would bound the
	// tab's whole life (as in newBrowser).
	if err := chromedp.Do(tab); err != nil {
		t.Fatal(err)
	}
	step(t, tab, "open the deep link in a new page",
		chromedp.EmulateViewport(1366, 768),
		chromedp.Navigate(href),
		chromedp.WaitVisible(fmt.Sprintf(`tr.ev.selected[data-seq="%d"]`, want)),
		chromedp.WaitVisible(fmt.Sprintf(`[data-testid=detail][data-seq="%d"]`, want)),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector("[data-testid=replay-pos]").textContent.startsWith("#%d of %d")`, want, last)),
	)
	checkSelectedInView(t, tab, want)

	// A share link's page opens at an event too.
	sh := a.share(sid)
	step(t, tab, "open the share link's page at the event",
		chromedp.Navigate(fmt.Sprintf("%s/shared/%s?at=%d", a.URL, sh.Token, want)),
		chromedp.WaitVisible(fmt.Sprintf(`tr.ev.selected[data-seq="%d"]`, want)),
		chromedp.WaitVisible(fmt.Sprintf(`[data-testid=detail][data-seq="%d"]`, want)),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector("[data-testid=detail-link]").getAttribute("href") === "/shared/%s?at=%d"`, sh.Token, want)),
	)

	// Play at full speed from there: the rest of the recording, in order.
	step(t, tab, "play to the end as fast as possible",
		chromedp.SetValue(`[data-testid=replay-speed]`, "max"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-testid=replay-speed]").dispatchEvent(new Event("change"))`),
		chromedp.Click(`[data-testid=replay-play]`),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`document.querySelector("[data-testid=replay]").dataset.cursor === "%d"`, last)),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`Number(document.querySelector("[data-testid=events-scroll]").dataset.last) === %d`, last)),
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=live-state]").textContent.includes("end")`),
	)
	step(t, tab, "see the last row drawn",
		chromedp.WaitVisible(fmt.Sprintf(`tr.ev[data-seq="%d"]`, last)),
	)
}

// checkSelectedInView waits until the row of seq is inside the list's
// visible box (a poll: the page scrolls on its next frame), failing after
// the step's deadline.
func checkSelectedInView(t *testing.T, ctx context.Context, seq int64) {
	t.Helper()
	step(t, ctx, fmt.Sprintf("see the row of #%d in view", seq), chromedp.Poll[chromedp.Void](fmt.Sprintf(`(() => {
		const row = document.querySelector('tr.ev[data-seq="%d"]');
		const box = document.querySelector("[data-testid=events-scroll]").getBoundingClientRect();
		if (!row) return false;
		const r = row.getBoundingClientRect();
		return r.height > 0 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
	})()`, seq)))
}

// An empty session's replay shows an empty timeline and says there is
// nothing to replay yet.
func TestBrowserReplayOfAnEmptySession(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	step(t, ctx, "open an empty session in replay mode",
		chromedp.Navigate(a.URL+"/s/"+sid+"?replay"),
		chromedp.WaitVisible(`[data-testid=timeline].empty`),
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=replay-note]").textContent.includes("nothing to replay")`),
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=replay-pos]").textContent === "no events recorded yet"`),
	)
	shot(t, ctx, "replay-empty")
	if n := evalIn[int](t, ctx, `document.querySelectorAll("[data-testid=timeline] .tl-col").length`); n != 0 {
		t.Errorf("an empty session's timeline has %d columns", n)
	}
}
