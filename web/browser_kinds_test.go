package web

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

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

// startFromForm starts a server of kind from the page's form, drawn from
// the kinds' schemas: it chooses the kind, fills the fields given (option
// name → value) and waits for the new server in the panel. It returns the
// server's address.
func startFromForm(t *testing.T, ctx context.Context, a *testApp, sid, kind string, fields map[string]string) string {
	t.Helper()
	before := len(a.Lab.Servers(sid))
	step(t, ctx, "choose "+kind+" in the start form",
		chromedp.Evaluate[chromedp.Void](`(() => {
			const s = document.querySelector("[data-testid=server-kind]");
			s.value = `+jsString(kind)+`;
			s.dispatchEvent(new Event("change", {bubbles: true}));
		})()`),
		chromedp.WaitVisible(`fieldset[data-kind="`+kind+`"]`),
	)
	for name, v := range fields {
		step(t, ctx, "set "+name,
			chromedp.Evaluate[chromedp.Void](`(() => {
				const el = document.querySelector(`+jsString(`[name="`+kind+`.`+name+`"]`)+`);
				if (el.type === "checkbox") el.checked = `+jsString(v)+` === "on"; else el.value = `+jsString(v)+`;
				el.dispatchEvent(new Event("change", {bubbles: true}));
			})()`),
		)
	}
	step(t, ctx, "start the "+kind+" server", chromedp.Click(`[data-testid=start-server]`))
	var addr string
	deadline := time.Now().Add(30 * time.Second)
	for {
		if s := a.Lab.Servers(sid); len(s) > before {
			addr = s[len(s)-1].Addr
			if s[len(s)-1].Kind != kind {
				t.Fatalf("started a %s, want %s", s[len(s)-1].Kind, kind)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s server started from the form; banner: %q", kind, evalIn[string](t, ctx, `document.getElementById("banner").textContent`))
		}
		time.Sleep(20 * time.Millisecond)
	}
	step(t, ctx, "the panel shows the "+kind+" server",
		chromedp.WaitVisible(`li[data-testid=server][data-state=running][data-addr="`+addr+`"]`),
	)
	return addr
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// waitRow waits for an event row of kind whose text contains want.
func waitRow(t *testing.T, ctx context.Context, kind, want string) {
	t.Helper()
	step(t, ctx, "a "+kind+" row saying "+want,
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("tr.k-`+kind+`")].some(tr => tr.textContent.includes(`+jsString(want)+`))`),
	)
}

// tls-echo from the form: a TLS client that trusts the certificate the
// panel shows gets its echo, and the handshake row says the version.
func TestBrowserTLSEchoFromTheForm(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	openSession(t, ctx, a, sid)
	addr := startFromForm(t, ctx, a, sid, "tls-echo", map[string]string{"min_version": "1.3"})
	step(t, ctx, "the panel shows the certificate's fingerprint",
		chromedp.Poll[chromedp.Void](`document.querySelector("li[data-testid=server]").textContent.includes("cert_sha256")`),
	)
	pem, _ := a.Lab.Servers(sid)[0].Details["cert_pem"].(string)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pem)) {
		t.Fatal("no certificate in the server's details")
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "secret\n")
	buf := make([]byte, 7)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "secret\n" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	waitRow(t, ctx, "tls-handshake", "TLS 1.3")
	waitRow(t, ctx, "recv", `"secret\n"`)
}

// http-api from the form: a GET from a real HTTP client gets the tutorial's
// JSON, and the page shows the request and the response as rows.
func TestBrowserHTTPAPIFromTheForm(t *testing.T) {
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	openSession(t, ctx, a, sid)
	addr := startFromForm(t, ctx, a, sid, "http-api", nil)
	res, err := http.Get("http://" + addr + "/hello?name=ada&name=grace")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Method      string              `json:"method"`
		Path        string              `json:"path"`
		QueryParams map[string][]string `json:"query_params"`
	}
	json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != 200 || body.Method != "GET" || body.Path != "/hello" || len(body.QueryParams["name"]) != 2 {
		t.Fatalf("answer %d %+v", res.StatusCode, body)
	}
	waitRow(t, ctx, "http-request", "GET /hello?name=ada&name=grace")
	waitRow(t, ctx, "http-response", "200 OK")
}
