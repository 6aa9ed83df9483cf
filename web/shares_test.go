package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"github.com/sockplay/sockplay/sessions"
)

type shareOut struct {
	Token     string    `json:"token"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at"`
}

func (a *testApp) share(sess string) shareOut {
	a.t.Helper()
	var sh shareOut
	if code := a.do("POST", "/api/sessions/"+sess+"/shares", nil, &sh); code != http.StatusCreated {
		a.t.Fatalf("create a share link: status %d", code)
	}
	return sh
}

// rawEventsOf is the events API's events as it sent them.
func (a *testApp) rawEventsOf(path string) [][]byte {
	a.t.Helper()
	code, _, body := a.get(path + "?limit=5000")
	if code != http.StatusOK {
		a.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	var out struct{ Events []json.RawMessage }
	if err := json.Unmarshal(body, &out); err != nil {
		a.t.Fatal(err)
	}
	evs := make([][]byte, len(out.Events))
	for i, e := range out.Events {
		evs[i] = e
	}
	return evs
}

func (a *testApp) dialShared(ctx context.Context, token string) (*websocket.Conn, *http.Response, error) {
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.URL, "http")+"/ws/shared/"+token, nil)
	if err == nil {
		c.SetReadLimit(64 << 20)
	}
	return c, res, err
}

func TestShareLinkReadsTheSessionAndNothingElse(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	srv, addr := a.startEcho(sess, nil)
	cli := a.clientTo(sess, "tcp", addr, nil)
	a.send(sess, cli, map[string]string{"text": "hello"})
	a.waitEvents(sess, "the echo", func(evs []sessions.Record) bool { return recvData(evs, cli) == "hello" })

	sh := a.share(sess)
	if len(sh.Token) < 26 || !strings.HasSuffix(sh.URL, "/shared/"+sh.Token) || !strings.HasPrefix(sh.URL, a.URL) || sh.CreatedAt.IsZero() {
		t.Fatalf("share %+v", sh)
	}
	if other := a.share(sess); other.Token == sh.Token {
		t.Fatal("two links, one token")
	}
	var list struct{ Shares []shareOut }
	if code := a.do("GET", "/api/sessions/"+sess+"/shares", nil, &list); code != http.StatusOK || len(list.Shares) != 2 || list.Shares[0].Token != sh.Token {
		t.Fatalf("list shares: %d %+v", code, list)
	}
	if code := a.do("POST", "/api/sessions/nosuchsession/shares", nil, nil); code != http.StatusNotFound {
		t.Errorf("share of an unknown session: status %d", code)
	}

	// The session, its events and its exports through the link: everything
	// but the session id.
	base := "/api/shared/" + sh.Token
	code, _, body := a.get(base)
	var view struct {
		ID, Name string
		Events   int64
		Servers  []struct{ ID, Kind string }
	}
	if err := json.Unmarshal(body, &view); code != http.StatusOK || err != nil || view.Name != t.Name() || view.ID != "" ||
		len(view.Servers) != 1 || view.Servers[0].ID != srv || view.Events == 0 {
		t.Fatalf("GET %s: %d %s", base, code, body)
	}
	noID := func(what string, b []byte) {
		t.Helper()
		if bytes.Contains(b, []byte(sess)) {
			t.Errorf("%s through the link holds the session id:\n%.2000s", what, b)
		}
	}
	noID("the session", body)
	owner := a.rawEventsOf("/api/sessions/" + sess + "/events")
	shared := a.rawEventsOf(base + "/events")
	if len(shared) != len(owner) || len(owner) == 0 {
		t.Fatalf("events: %d through the link, %d for the owner", len(shared), len(owner))
	}
	for i := range owner {
		want := bytes.Replace(owner[i], []byte(`"session":"`+sess+`"`), []byte(`"session":""`), 1)
		if !bytes.Equal(shared[i], want) {
			t.Fatalf("event %d through the link:\n%s\nwant\n%s", i, shared[i], want)
		}
	}
	for _, f := range []string{"jsonl", "pcapng", "txt"} {
		code, hdr, b := a.get(base + "/export." + f)
		if code != http.StatusOK || !strings.Contains(hdr.Get("Content-Disposition"), "attachment") {
			t.Fatalf("export.%s through the link: %d", f, code)
		}
		noID("export."+f, b)
		_, _, ob := a.get("/api/sessions/" + sess + "/export." + f)
		switch f {
		case "jsonl":
			lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
			if !bytes.Contains(lines[0], []byte(`"id":""`)) {
				t.Errorf("jsonl header through the link: %s", lines[0])
			}
			for i, l := range lines[1:] {
				if !bytes.Equal(l, shared[i]) {
					t.Errorf("jsonl line %d through the link: %s, the link's events API %s", i+2, l, shared[i])
				}
			}
		default: // the capture and the transcript say nothing of the id
			if !bytes.Equal(b, ob) {
				t.Errorf("export.%s through the link differs from the owner's", f)
			}
		}
	}

	// The page: the session's events live, no controls.
	code, _, page := a.get("/shared/" + sh.Token)
	if code != http.StatusOK {
		t.Fatalf("shared page: %d %s", code, page)
	}
	noID("the page", page)
	for _, want := range []string{t.Name(), `data-share="` + sh.Token + `"`, `href="/api/shared/` + sh.Token + `/export.pcapng"`, `data-testid="read-only"`, `data-src="/shared/` + sh.Token + `/endpoints"`} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the shared page has no %s", want)
		}
	}
	for _, control := range []string{"delete-session", "server-form", "client-form", `data-action="stop-server"`, `data-action="send"`, "half-close", "fault-form", "<form"} {
		if bytes.Contains(page, []byte(control)) {
			t.Errorf("the shared page has a control: %s", control)
		}
	}
	if code, _, frag := a.get("/shared/" + sh.Token + "/endpoints"); code != http.StatusOK || bytes.Contains(frag, []byte("<form")) || !bytes.Contains(frag, []byte(srv)) {
		t.Errorf("the shared page's panel: %d %s", code, frag)
	}
	if code, _, own := a.get("/s/" + sess); code != http.StatusOK || !bytes.Contains(own, []byte(`href="/api/sessions/`+sess+`/export.jsonl"`)) || !bytes.Contains(own, []byte("delete-session")) {
		t.Errorf("the owner's page: %d, has no export menu or lost its controls", code)
	}

	// Live through the link: the stored events, then new ones as they come.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := a.dialShared(ctx, sh.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	a.send(sess, cli, map[string]string{"text": "live"})
	seen, _ := collect(ctx, t, c, 0, func(evs []sessions.Record) bool { return strings.HasSuffix(recvData(evs, cli), "live") })
	for _, e := range seen {
		if e.Session != "" {
			t.Fatalf("a live event through the link names its session: %+v", e)
		}
	}

	// The token opens nothing of the owner's.
	for _, r := range []struct{ method, path string }{
		{"GET", "/api/sessions/" + sh.Token},
		{"DELETE", "/api/sessions/" + sh.Token},
		{"GET", "/api/sessions/" + sh.Token + "/events"},
		{"POST", "/api/sessions/" + sh.Token + "/servers"},
		{"POST", "/api/sessions/" + sh.Token + "/clients"},
		{"POST", "/api/sessions/" + sh.Token + "/shares"},
		{"GET", "/api/sessions/" + sh.Token + "/export.jsonl"},
		{"GET", "/s/" + sh.Token},
		{"POST", "/s/" + sh.Token + "/delete"},
	} {
		if got := a.request(r.method, r.path, `{"kind":"tcp-echo","target":"127.0.0.1:1"}`, nil); got.Status != http.StatusNotFound {
			t.Errorf("%s %s with the token: status %d, want 404", r.method, r.path, got.Status)
		}
	}
	if _, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(a.URL, "http")+"/ws/sessions/"+sh.Token, nil); err == nil || res == nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("/ws/sessions/TOKEN: %v %v", err, res)
	}
	// Nothing under the link changes anything.
	for _, r := range []struct{ method, path string }{
		{"POST", base}, {"DELETE", base}, {"PATCH", base}, {"PUT", base},
		{"POST", base + "/events"}, {"DELETE", base + "/events"},
		{"POST", base + "/servers"}, {"DELETE", base + "/servers/" + srv},
		{"POST", base + "/clients"}, {"POST", base + "/clients/" + cli + "/send"}, {"POST", base + "/clients/" + cli + "/close"},
		{"POST", base + "/shares"}, {"DELETE", base + "/shares/" + sh.Token},
		{"PATCH", base + "/servers/" + srv + "/faults/x"},
		{"POST", base + "/export.jsonl"},
		{"POST", "/shared/" + sh.Token}, {"POST", "/shared/" + sh.Token + "/delete"}, {"POST", "/shared/" + sh.Token + "/servers"},
	} {
		if got := a.request(r.method, r.path, `{"text":"x","kind":"tcp-echo"}`, nil); got.Status != http.StatusNotFound && got.Status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: status %d, want 404 or 405", r.method, r.path, got.Status)
		}
	}
	if v := a.getSession(sess); len(v.running()) != 1 {
		t.Errorf("after the link's holder tried everything, the session runs %v", v.running())
	}
	if _, ok := a.getSession(sess).client(cli); !ok {
		t.Error("the client is gone")
	}

	// A wrong token and a revoked one read the same.
	_, _, wrong := a.get("/api/shared/" + strings.Repeat("a", len(sh.Token)))
	if code := a.do("DELETE", "/api/sessions/"+sess+"/shares/"+sh.Token, nil, nil); code != http.StatusNoContent {
		t.Fatalf("revoke: status %d", code)
	}
	if code := a.do("DELETE", "/api/sessions/"+sess+"/shares/"+sh.Token, nil, nil); code != http.StatusNotFound {
		t.Errorf("revoke twice: status %d", code)
	}
	// The open live stream ends.
	if _, _, err := c.Read(ctx); err == nil {
		t.Error("the live stream of a revoked link goes on")
	}
	for _, p := range []string{base, base + "/events", base + "/export.jsonl", base + "/export.pcapng", base + "/export.txt"} {
		code, _, b := a.get(p)
		if code != http.StatusNotFound || !bytes.Equal(b, wrong) {
			t.Errorf("GET %s after revoking: %d %s, want 404 %s", p, code, b, wrong)
		}
	}
	if code, _, b := a.get("/shared/" + sh.Token); code != http.StatusNotFound || bytes.Contains(b, []byte(t.Name())) {
		t.Errorf("the page of a revoked link: %d", code)
	}
	if _, res, err := a.dialShared(ctx, sh.Token); err == nil || res == nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("live through a revoked link: %v %v", err, res)
	}
	if !bytes.Contains(wrong, []byte("no such share link")) || bytes.Contains(wrong, []byte("session")) {
		t.Errorf("a wrong token's answer: %s", wrong)
	}
	if code := a.do("GET", "/api/sessions/"+sess+"/shares", nil, &list); code != http.StatusOK || list.Shares[0].RevokedAt.IsZero() {
		t.Errorf("the revoked link listed as %+v", list.Shares[0])
	}
	// Deleting the session takes its links with it.
	other := list.Shares[1].Token
	if code, _, _ := a.get("/api/shared/" + other); code != http.StatusOK {
		t.Fatalf("the second link: %d", code)
	}
	if code := a.do("DELETE", "/api/sessions/"+sess, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code, _, b := a.get("/api/shared/" + other); code != http.StatusNotFound || !bytes.Equal(b, wrong) {
		t.Errorf("a link of a deleted session: %d %s", code, b)
	}
	var n int
	if err := a.Store.DB().QueryRow(`SELECT COUNT(*) FROM shares`).Scan(&n); err != nil || n != 0 {
		t.Errorf("shares left after the session was deleted: %d %v", n, err)
	}
}

// A share link's page in a real browser: the recorded events, then new ones
// live, the Export menu through the link, and no control at all.
func TestBrowserSharedPageIsLiveAndReadOnly(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sess := a.newSession()
	_, addr := a.startEcho(sess, nil)
	cli := a.clientTo(sess, "tcp", addr, nil)
	a.send(sess, cli, map[string]string{"text": "before"})
	a.waitEvents(sess, "the echo", func(evs []sessions.Record) bool { return recvData(evs, cli) == "before" })
	sh := a.share(sess)

	step(t, ctx, "open the link's page",
		chromedp.Navigate(sh.URL),
		chromedp.WaitVisible(`[data-testid=live-state][data-state=live]`),
		chromedp.WaitVisible(`tr.k-recv.data`),
		chromedp.WaitVisible(`[data-testid=read-only]`),
	)
	a.send(sess, cli, map[string]string{"text": "after"})
	evs := a.waitEvents(sess, "the second echo", func(evs []sessions.Record) bool { return recvData(evs, cli) == "beforeafter" })
	step(t, ctx, "the new events arrive live",
		chromedp.WaitVisible(`tr.ev[data-seq="`+itoa(evs[len(evs)-1].Seq)+`"]`),
		chromedp.Click(`[data-testid=export-menu] summary`),
		chromedp.WaitVisible(`[data-testid=export-pcapng]`),
	)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	got, err := chromedp.Run(tctx, chromedp.Evaluate[[]string](`[document.querySelectorAll("form, button[data-action]:not([data-action=conversation]):not([data-action=close-detail]), [data-testid=send-input]").length + "",
		document.querySelector("[data-testid=export-pcapng]").getAttribute("href"),
		document.getElementById("banner").hidden + "", document.body.innerHTML.includes("`+sess+`") + ""]`))
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != "0" || got[1] != "/api/shared/"+sh.Token+"/export.pcapng" || got[2] != "true" || got[3] != "false" {
		t.Errorf("the link's page: %s controls, pcapng link %q, banner hidden %s, session id in the page %s", got[0], got[1], got[2], got[3])
	}
}
