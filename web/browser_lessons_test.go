package web

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sockplay/sockplay/engine"
)

// TestBrowserLessonHintAndShowMe: after a while on a step the panel offers
// its hint (closed until asked for); a done step links to the moment its
// check held: /s/{id}?at=DONE_AT_SEQ, the seq the API says.
func TestBrowserLessonHintAndShowMe(t *testing.T) {
	a := newTestApp(t, func(_ *engine.LabConfig, cfg *Config, _ *int) { cfg.LessonHintAfter = 1500 * time.Millisecond })
	ctx := newBrowser(t)
	sess := a.startLesson("tcp-echo-basics")
	step(t, ctx, "open the lesson's session",
		chromedp.Navigate(a.URL+"/s/"+sess),
		chromedp.WaitVisible(`[data-testid=lesson-panel] li.current [data-testid=lesson-do]`),
	)
	step(t, ctx, "after a while the hint is offered, folded",
		chromedp.WaitVisible(`li.current [data-testid=lesson-hint-toggle]`),
		chromedp.Poll[chromedp.Void](`!document.querySelector("[data-testid=lesson-hint]").open`),
	)
	step(t, ctx, "open it: the step's hint",
		chromedp.Click(`[data-testid=lesson-hint-toggle]`),
		chromedp.Poll[chromedp.Void](`document.querySelector("[data-testid=lesson-hint]").open &&
			document.querySelector("[data-testid=lesson-hint] p").textContent.includes("Run the command in a terminal")`),
	)
	shootBoth(t, ctx, "lesson-hint")

	_, addr := a.serverAddr(sess, "echo")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	run := a.waitSteps(sess, 1)
	step(t, ctx, "the done step has its show-me link",
		chromedp.WaitVisible(`li.done [data-testid=lesson-showme]`),
	)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	href, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.querySelector("li.done [data-testid=lesson-showme]").getAttribute("href")`))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("/s/%s?at=%d", sess, run.Steps[0].DoneAtSeq)
	if href != want || run.Steps[0].DoneAtSeq <= 0 {
		t.Errorf("show me links to %q, want %q", href, want)
	}
	// The seq is the accept's: the event the check held on.
	recs := a.events(sess, 0)
	for _, r := range recs {
		if r.Seq == run.Steps[0].DoneAtSeq && r.Kind != engine.KindAccept {
			t.Errorf("done_at_seq %d is a %s, not the accept", r.Seq, r.Kind)
		}
	}
	shootBoth(t, ctx, "lesson-showme")
	// Clicking it opens the session at that seq (the replay there is the
	// session page's).
	step(t, ctx, "follow it", chromedp.Click(`li.done [data-testid=lesson-showme]`))
	deadline := time.Now().Add(30 * time.Second)
	for {
		loc, err := chromedp.Run(tctx, chromedp.Location())
		if err == nil && strings.HasSuffix(loc, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the click the page is at %q (%v), want %s", loc, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	step(t, ctx, "the session's page, its lesson still done", chromedp.WaitVisible(`[data-testid=lesson-panel] li.done`))
}

// shootBoth saves the page at 1366×768 and 420 px wide, then goes back to
// the tests' size.
func shootBoth(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	for _, w := range []int64{1366, 420} {
		h := int64(768)
		if w == 420 {
			h = 900
		}
		viewport(t, ctx, w, h)
		step(t, ctx, "scroll the lesson into view", chromedp.Evaluate[chromedp.Void](`document.getElementById("lesson-panel").scrollIntoView()`))
		shot(t, ctx, name+"-"+strings.TrimSpace(fmt.Sprint(w)))
	}
	viewport(t, ctx, 1400, 900)
}
