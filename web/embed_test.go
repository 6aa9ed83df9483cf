package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/sockplay/sockplay/engine"
)

func withEmbedOrigins(origins ...string) appOption {
	return func(_ *engine.LabConfig, cfg *Config, _ *int) { cfg.EmbedOrigins = origins }
}

func TestParseEmbedOrigins(t *testing.T) {
	got, err := ParseEmbedOrigins(" https://Tutorial.example , http://localhost:4000/,https://tutorial.example")
	if err != nil || strings.Join(got, " ") != "https://tutorial.example http://localhost:4000" {
		t.Errorf("ParseEmbedOrigins = %q, %v", got, err)
	}
	if got, err := ParseEmbedOrigins(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %q %v", got, err)
	}
	for _, bad := range []string{"tutorial.example", "https://*.example", "https://a.example/lessons", "ftp://a.example", "*", "https://a.example?x=1", "https://u@a.example"} {
		if _, err := ParseEmbedOrigins(bad); err == nil || !strings.Contains(err.Error(), "is not an origin") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestFrameHeaders: with no -embed-origins every response forbids framing;
// with it, only a session's ?embed=1 names the listed origins, and a framed
// request whose Referer is a page of another origin is refused.
func TestFrameHeaders(t *testing.T) {
	get := func(a *testApp, path string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", a.URL+path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	denies := func(res *http.Response) bool {
		return res.Header.Get("Content-Security-Policy") == "frame-ancestors 'none'" && res.Header.Get("X-Frame-Options") == "DENY"
	}

	off := newTestApp(t)
	sess := off.newSession()
	for _, p := range []string{"/", "/s/" + sess, "/s/" + sess + "?embed=1", "/start", "/api/lessons", "/api/sessions/" + sess, "/static/lesson.js", "/nope"} {
		if res := get(off, p, nil); !denies(res) {
			t.Errorf("no -embed-origins: GET %s: %d, CSP %q, X-Frame-Options %q", p, res.StatusCode,
				res.Header.Get("Content-Security-Policy"), res.Header.Get("X-Frame-Options"))
		}
	}

	on := newTestApp(t, withEmbedOrigins("http://tutorial.example", "http://127.0.0.1:4000"))
	sess = on.newSession()
	res := get(on, "/s/"+sess+"?embed=1", nil)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Security-Policy") != "frame-ancestors http://tutorial.example http://127.0.0.1:4000" ||
		res.Header.Get("X-Frame-Options") != "" {
		t.Errorf("embed with origins: %d, CSP %q, X-Frame-Options %q", res.StatusCode, res.Header.Get("Content-Security-Policy"), res.Header.Get("X-Frame-Options"))
	}
	for _, p := range []string{"/s/" + sess, "/s/" + sess + "?embed=0", "/s/" + sess + "/endpoints?embed=1", "/?embed=1", "/api/sessions/" + sess + "?embed=1"} {
		if res := get(on, p, nil); !denies(res) {
			t.Errorf("with origins, GET %s is not embeddable: CSP %q", p, res.Header.Get("Content-Security-Policy"))
		}
	}
	frame := func(referer string) map[string]string {
		return map[string]string{"Sec-Fetch-Dest": "iframe", "Referer": referer}
	}
	if res := get(on, "/s/"+sess+"?embed=1", frame("http://tutorial.example/lesson/3")); res.StatusCode != http.StatusOK {
		t.Errorf("framed by a listed origin: %d", res.StatusCode)
	}
	if res := get(on, "/s/"+sess+"?embed=1", frame("http://evil.example/")); res.StatusCode != http.StatusForbidden || !denies(res) {
		t.Errorf("framed by another origin: %d, CSP %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	// A link inside the frame (show me) comes from sockplay's own page.
	if res := get(on, "/s/"+sess+"?embed=1&at=3", frame(on.URL+"/s/"+sess+"?embed=1")); res.StatusCode != http.StatusOK {
		t.Errorf("a link inside the frame: %d", res.StatusCode)
	}
}

// tutorialSite is a real second web server on another loopback port: a
// tutorial's page that frames a sockplay session's compact view and keeps
// the progress messages the frame posts.
func tutorialSite(t *testing.T, ln net.Listener, frameSrc string) string {
	t.Helper()
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>A tutorial</title>
<style>body{font-family:sans-serif;margin:0;padding:8px;background:#fafaf5} iframe{width:100%%;height:calc(100vh - 40px);border:1px solid #ccc}</style></head>
<body><h1 style="font-size:1rem;margin:0 0 6px">Chapter 2: sockets, live</h1>
<script>window.got = []; addEventListener("message", (e) => window.got.push({origin: e.origin, data: e.data}));</script>
<iframe id="sp" src=%q></iframe></body></html>`, frameSrc)
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// childFrame is the URL of the page's first iframe as the browser holds it,
// and the URL it could not load (an error page: a frame refused).
func childFrame(ctx context.Context) (url, unreachable string, err error) {
	res, err := chromedp.Call(ctx, cdppage.GetFrameTree, cdp.Empty{})
	if err != nil {
		return "", "", err
	}
	if len(res.FrameTree.ChildFrames) == 0 {
		return "", "", nil
	}
	f := res.FrameTree.ChildFrames[0].Frame
	return f.URL, f.UnreachableURL, nil
}

// TestBrowserEmbedOnlyFromListedOrigins: a tutorial page on an origin the
// operator lists shows the compact view of a lesson's session in an iframe
// (the lesson and the event list, no forms) and receives its progress as
// it is made; the same page served from another origin gets nothing: the
// browser refuses the frame.
func TestBrowserEmbedOnlyFromListedOrigins(t *testing.T) {
	ctx := newBrowser(t)
	// The allowed site's origin must be known before sockplay starts.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	allowedOrigin := "http://" + ln.Addr().String()
	a := newTestApp(t, withEmbedOrigins(allowedOrigin))
	sess := a.startLesson("tcp-echo-basics")
	src := a.URL + "/s/" + sess + "?embed=1"
	allowed := tutorialSite(t, ln, src)
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	other := tutorialSite(t, ln2, src)

	step(t, ctx, "the listed site frames the lesson and hears its first progress",
		chromedp.Navigate(allowed+"/"),
		chromedp.Poll[chromedp.Void](`window.got.length > 0 && window.got[0].data.type === "sockplay-lesson"`),
	)
	first, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`window.got[0]`))
	if err != nil {
		t.Fatal(err)
	}
	if first["origin"] != strings.TrimSuffix(a.URL, "/") {
		t.Errorf("message from %v, want sockplay %s", first["origin"], a.URL)
	}
	if d, _ := first["data"].(map[string]any); d["lesson"] != "tcp-echo-basics" || d["done"] != float64(0) {
		t.Errorf("first message %v", d)
	}
	if u, unreachable, err := childFrame(ctx); err != nil || u != src || unreachable != "" {
		t.Errorf("allowed frame: url %q unreachable %q %v", u, unreachable, err)
	}
	_, addr := a.serverAddr(sess, "echo")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	step(t, ctx, "connecting turns the first step done: the tutorial page is told",
		chromedp.Poll[chromedp.Void](`window.got.some(m => m.data.done === 1 && m.data.steps[0].done && m.data.steps[0].done_at_seq > 0)`),
	)
	shootEmbed(t, ctx, a, allowed+"/", "lesson-embed")

	step(t, ctx, "another origin's page: the browser refuses the frame",
		chromedp.Navigate(other+"/"),
		chromedp.Poll[chromedp.Void](`document.getElementById("sp") !== null`),
	)
	deadline := time.Now().Add(30 * time.Second)
	for {
		u, unreachable, err := childFrame(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(u, "chrome-error://") || unreachable != "" {
			break // Chromium shows its error page in the frame
		}
		if u == src {
			// Loaded: it must not be sockplay's page.
			t.Fatalf("the frame from an unlisted origin loaded %s", u)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the frame from an unlisted origin is at %q after 30s", u)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.got.length`))
	if err != nil || got != 0 {
		t.Errorf("the unlisted page received %d messages (%v)", got, err)
	}
}

// shootEmbed saves the tutorial page with its frame at 1366×768 and 420 px.
func shootEmbed(t *testing.T, ctx context.Context, a *testApp, url, name string) {
	t.Helper()
	for _, w := range []int64{1366, 420} {
		h := int64(768)
		if w == 420 {
			h = 860
		}
		viewport(t, ctx, w, h)
		step(t, ctx, "reload at this size", chromedp.Navigate(url),
			chromedp.Poll[chromedp.Void](`window.got.some(m => m.data.done === 1)`))
		// The frame has drawn its list once the panel has.
		time.Sleep(300 * time.Millisecond) // screenshots only: no assertion waits on this
		shot(t, ctx, fmt.Sprintf("%s-%d", name, w))
	}
	viewport(t, ctx, 1400, 900)
}
