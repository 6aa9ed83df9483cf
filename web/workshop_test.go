package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

const testPassword = "correct horse battery staple"

// withWorkshop turns workshop mode on with the instructor password
// testPassword, and lets change lets a test adjust the rest.
func withWorkshop(change func(*Config)) appOption {
	return func(_ *engine.LabConfig, cfg *Config, _ *int) {
		cfg.Workshop, cfg.InstructorPassword = true, testPassword
		if change != nil {
			change(cfg)
		}
	}
}

// browser is one person's browser: its own cookie jar.
type browser struct {
	t   testing.TB
	a   *testApp
	jar *cookiejar.Jar
	c   *http.Client
}

func (a *testApp) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		a.t.Fatal(err)
	}
	return &browser{t: a.t, a: a, jar: jar, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// send makes a request with a JSON (or, with form set, a form) body and
// returns the answer with its body read.
func (b *browser) send(method, path, body string, form bool) (*http.Response, []byte) {
	b.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.a.URL+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	switch {
	case form:
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return res, raw
}

// do sends JSON and decodes the JSON answer into out; it returns the status.
func (b *browser) do(method, path string, body any, out any) int {
	b.t.Helper()
	var s string
	switch v := body.(type) {
	case nil:
	case string:
		s = v
	default:
		buf, _ := json.Marshal(v)
		s = string(buf)
	}
	res, raw := b.send(method, path, s, false)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			b.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return res.StatusCode
}

func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.a.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// instructor logs a new browser in as the instructor.
func (a *testApp) instructor() *browser {
	a.t.Helper()
	b := a.browser()
	if code := b.do("POST", "/api/workshop/login", map[string]string{"password": testPassword}, nil); code != http.StatusNoContent {
		a.t.Fatalf("instructor log-in: status %d", code)
	}
	return b
}

type workshopOut struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Code    string `json:"code"`
	JoinURL string `json:"join_url"`
}

func (b *browser) createWorkshop(name string) workshopOut {
	b.t.Helper()
	var w workshopOut
	if code := b.do("POST", "/api/workshops", map[string]string{"name": name}, &w); code != http.StatusCreated {
		b.t.Fatalf("create workshop: status %d", code)
	}
	return w
}

type joinOut struct {
	Session     string `json:"session"`
	URL         string `json:"url"`
	Participant struct{ ID, Name string }
	Error       string `json:"error"`
}

// participant joins the workshop with code in a new browser.
func (a *testApp) participant(code, name string) (*browser, joinOut) {
	a.t.Helper()
	b := a.browser()
	return b, b.join(code, name)
}

func (b *browser) join(code, name string) joinOut {
	b.t.Helper()
	var out joinOut
	if status := b.do("POST", "/api/join", map[string]string{"code": code, "name": name}, &out); status != http.StatusCreated {
		b.t.Fatalf("join %s as %s: status %d %s", code, name, status, out.Error)
	}
	return out
}

// Without -workshop nothing of workshop mode answers, and sessions stay
// open to whoever is at the laptop, without a cookie.
func TestWorkshopModeOff(t *testing.T) {
	a := newTestApp(t)
	b := a.browser()
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/api/workshop/login", `{"password":"x"}`},
		{"POST", "/api/join", `{"code":"K7P-Q2M","name":"Ada"}`},
		{"POST", "/api/workshops", `{"name":"w"}`},
		{"GET", "/api/workshops", ""},
		{"GET", "/join", ""},
		{"GET", "/instructor", ""},
	} {
		res, raw := b.send(r.method, r.path, r.body, false)
		if res.StatusCode != http.StatusNotFound || !strings.Contains(string(raw), "workshop mode is off") {
			t.Errorf("%s %s: %d %s; want 404 saying workshop mode is off", r.method, r.path, res.StatusCode, raw)
		}
		if len(res.Cookies()) != 0 {
			t.Errorf("%s %s set cookies %v", r.method, r.path, res.Cookies())
		}
	}
	sess := a.newSession()
	if code := b.do("GET", "/api/sessions/"+sess, nil, nil); code != http.StatusOK {
		t.Errorf("GET session without a cookie: %d; want 200", code)
	}
	if res, _ := b.send("GET", "/", "", false); res.StatusCode != http.StatusOK {
		t.Errorf("home page: %d", res.StatusCode)
	}
}

// The instructor logs in with the password: a wrong one is 401, the right
// one 204 with an HttpOnly, SameSite=Lax cookie that expires; only then may
// they create workshops, whose codes read well aloud.
func TestWorkshopLogin(t *testing.T) {
	a := newTestApp(t, withWorkshop(func(c *Config) { c.InstructorTTL = time.Hour }))
	b := a.browser()
	var e errorBody
	if code := b.do("POST", "/api/workshop/login", map[string]string{"password": "wrong"}, &e); code != http.StatusUnauthorized || !strings.Contains(e.Error, "wrong password") {
		t.Errorf("wrong password: %d %q", code, e.Error)
	}
	if code := b.do("POST", "/api/workshop/login", map[string]string{"password": testPassword + " "}, nil); code != http.StatusUnauthorized {
		t.Errorf("password with a space more: %d", code)
	}
	if code := b.do("POST", "/api/workshop/login", `{"password":"x","user":"y"}`, &e); code != http.StatusBadRequest || !strings.Contains(e.Error, "user") {
		t.Errorf("unknown field: %d %q", code, e.Error)
	}
	if code := b.do("POST", "/api/workshops", map[string]string{"name": "w"}, &e); code != http.StatusUnauthorized || !strings.Contains(e.Error, "instructor") {
		t.Errorf("create workshop before log-in: %d %q", code, e.Error)
	}
	res, _ := b.send("POST", "/api/workshop/login", `{"password":"`+testPassword+`"}`, false)
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("log-in: %d", res.StatusCode)
	}
	ck := findCookie(res, instructorCookie)
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure || ck.Path != "/" ||
		ck.MaxAge != 3600 || len(ck.Value) < 40 {
		t.Fatalf("instructor cookie %+v; want HttpOnly, SameSite=Lax, not Secure over plain HTTP, Max-Age 3600, 256 bits", ck)
	}
	w := b.createWorkshop("Sockets 101")
	if !regexp.MustCompile(`^[2-9A-HJ-NP-Z]{3}-[2-9A-HJ-NP-Z]{3}$`).MatchString(w.Code) || w.ID == "" || w.Name != "Sockets 101" ||
		w.JoinURL != a.URL+"/join?code="+w.Code {
		t.Errorf("workshop %+v", w)
	}
	var list struct{ Workshops []workshopView }
	if code := b.do("GET", "/api/workshops", nil, &list); code != http.StatusOK || len(list.Workshops) != 1 || list.Workshops[0].Code != w.Code {
		t.Errorf("GET /api/workshops: %d %+v", code, list)
	}
	if code := b.do("POST", "/api/workshops", map[string]string{"name": "x", "expires": "yesterday"}, &e); code != http.StatusBadRequest || !strings.Contains(e.Error, "3h") {
		t.Errorf("bad expiry: %d %q", code, e.Error)
	}
	// Logging out ends the cookie's worth, even for a copy of it.
	stolen := a.browser()
	u, _ := url.Parse(a.URL)
	stolen.jar.SetCookies(u, []*http.Cookie{{Name: instructorCookie, Value: ck.Value}})
	if code := stolen.do("GET", "/api/workshops", nil, nil); code != http.StatusOK {
		t.Fatalf("a copy of the cookie before log-out: %d", code)
	}
	if code := b.do("POST", "/api/workshop/logout", nil, nil); code != http.StatusNoContent {
		t.Errorf("log-out: %d", code)
	}
	if code := stolen.do("GET", "/api/workshops", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("the cookie after log-out: %d; want 401", code)
	}
}

func findCookie(res *http.Response, name string) *http.Cookie {
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Log-in attempts are rate-limited per address: after the burst even the
// right password waits (and is told when to try again).
func TestWorkshopLoginRateLimited(t *testing.T) {
	a := newTestApp(t, withWorkshop(nil))
	b := a.browser()
	for i := range loginBurst {
		if code := b.do("POST", "/api/workshop/login", map[string]string{"password": "guess"}, nil); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d; want 401", i+1, code)
		}
	}
	res, raw := b.send("POST", "/api/workshop/login", `{"password":"`+testPassword+`"}`, false)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || !strings.Contains(string(raw), "too many log-in attempts") {
		t.Errorf("attempt past the burst: %d %s (Retry-After %q); want 429", res.StatusCode, raw, res.Header.Get("Retry-After"))
	}
	if findCookie(res, instructorCookie) != nil {
		t.Error("a refused attempt set the instructor cookie")
	}
}

// Over TLS (or with -secure-cookies) the cookies are Secure.
func TestWorkshopCookiesSecure(t *testing.T) {
	a := newTestApp(t, withWorkshop(nil))
	srv := httptest.NewTLSServer(a.Site)
	t.Cleanup(srv.Close)
	c := srv.Client()
	res, err := c.Post(srv.URL+"/api/workshop/login", "application/json", strings.NewReader(`{"password":"`+testPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if ck := findCookie(res, instructorCookie); res.StatusCode != http.StatusNoContent || ck == nil || !ck.Secure {
		t.Errorf("log-in over TLS: %d, cookie %+v; want Secure", res.StatusCode, ck)
	}

	b := newTestApp(t, withWorkshop(func(c *Config) { c.SecureCookies = true })).browser()
	res, _ = b.send("POST", "/api/workshop/login", `{"password":"`+testPassword+`"}`, false)
	if ck := findCookie(res, instructorCookie); ck == nil || !ck.Secure {
		t.Errorf("log-in with SecureCookies: cookie %+v; want Secure", ck)
	}
}

// A participant joins with the code as typed and lands in a session of
// their own; rejoining from the same browser returns to it with a new
// cookie (the old one is worth nothing); a wrong code is 404 and says
// nothing of the workshops that exist.
func TestWorkshopJoin(t *testing.T) {
	a := newTestApp(t, withWorkshop(nil))
	inst := a.instructor()
	w := inst.createWorkshop("Sockets")

	ada := a.browser()
	res, raw := ada.send("POST", "/api/join", `{"code":"`+strings.ToLower(strings.ReplaceAll(w.Code, "-", ""))+`","name":" Ada "}`, false)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("join: %d %s", res.StatusCode, raw)
	}
	var j joinOut
	json.Unmarshal(raw, &j)
	ck := findCookie(res, participantCookie)
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.MaxAge <= 0 || len(ck.Value) < 40 {
		t.Fatalf("participant cookie %+v", ck)
	}
	if j.Session == "" || j.URL != "/s/"+j.Session || j.Participant.Name != "Ada" {
		t.Errorf("join answered %s", raw)
	}
	var got sessions.Session
	if code := ada.do("GET", "/api/sessions/"+j.Session, nil, &got); code != http.StatusOK || got.Owner != j.Participant.ID {
		t.Errorf("own session: %d owner %q", code, got.Owner)
	}
	var list struct{ Sessions []sessions.Session }
	if code := ada.do("GET", "/api/sessions", nil, &list); code != http.StatusOK || len(list.Sessions) != 1 || list.Sessions[0].ID != j.Session {
		t.Errorf("list: %d %+v", code, list)
	}

	old := ck.Value
	again := ada.join(w.Code, "Ada")
	if again.Session != j.Session || again.Participant.ID != j.Participant.ID {
		t.Errorf("rejoin: %+v; want session %s back", again, j.Session)
	}
	if now := ada.cookie(participantCookie); now == old || now == "" {
		t.Error("rejoin did not rotate the participant cookie")
	}
	thief := a.browser()
	u, _ := url.Parse(a.URL)
	thief.jar.SetCookies(u, []*http.Cookie{{Name: participantCookie, Value: old}})
	if code := thief.do("GET", "/api/sessions/"+j.Session, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("the cookie from before the rejoin: %d; want 401", code)
	}

	// Someone else, from another browser: another participant, another session.
	_, bob := a.participant(w.Code, "Bob")
	if bob.Session == j.Session || bob.Participant.ID == j.Participant.ID {
		t.Errorf("Bob got Ada's session or identity: %+v", bob)
	}

	// A participant of a workshop holds one session; the quota says so.
	var e errorBody
	if code := ada.do("POST", "/api/sessions", map[string]string{"name": "more"}, &e); code != http.StatusTooManyRequests || !strings.Contains(e.Error, "1 sessions") {
		t.Errorf("second session: %d %q; want 429", code, e.Error)
	}

	unknown := "XXX-XXX"
	if w.Code == unknown {
		unknown = "YYY-YYY"
	}
	for _, c := range []struct {
		code, name string
		status     int
		want       string
	}{
		{unknown, "Eve", http.StatusNotFound, "no open workshop has the code " + unknown + "; check it with your instructor"},
		{"K7P-Q2O", "Eve", http.StatusBadRequest, "leave out 0, O, 1 and I"},
		{"K7P", "Eve", http.StatusBadRequest, "six letters and digits"},
		{w.Code, "", http.StatusBadRequest, "display name"},
		{w.Code, strings.Repeat("x", 61), http.StatusBadRequest, "longer than 60"},
	} {
		eve := a.browser()
		var e errorBody
		status := eve.do("POST", "/api/join", map[string]string{"code": c.code, "name": c.name}, &e)
		if status != c.status || !strings.Contains(e.Error, c.want) {
			t.Errorf("join %q as %q: %d %q; want %d saying %q", c.code, c.name, status, e.Error, c.status, c.want)
		}
		if eve.cookie(participantCookie) != "" {
			t.Errorf("join %q as %q set a cookie", c.code, c.name)
		}
	}

	// An expired or ended workshop answers like a wrong code.
	for _, col := range []string{"expires_at", "ended_at"} {
		var ew workshopOut
		if code := inst.do("POST", "/api/workshops", map[string]string{"name": col, "expires": "1h"}, &ew); code != http.StatusCreated {
			t.Fatal(code)
		}
		if _, err := a.Store.DB().Exec(`UPDATE workshops SET `+col+` = ? WHERE id = ?`, time.Now().Add(-time.Minute).UnixNano(), ew.ID); err != nil {
			t.Fatal(err)
		}
		if status := a.browser().do("POST", "/api/join", map[string]string{"code": ew.Code, "name": "Late"}, &e); status != http.StatusNotFound ||
			e.Error != "no open workshop has the code "+ew.Code+"; check it with your instructor" {
			t.Errorf("workshop with %s past: %d %q", col, status, e.Error)
		}
	}

	// The dashboard's API lists both participants.
	var wl struct{ Workshops []workshopView }
	inst.do("GET", "/api/workshops", nil, &wl)
	var names []string
	for _, wv := range wl.Workshops {
		if wv.ID == w.ID {
			for _, p := range wv.Participants {
				names = append(names, p.Name)
			}
		}
	}
	if !slices.Equal(names, []string{"Ada", "Bob"}) {
		t.Errorf("dashboard participants %v; want [Ada Bob]", names)
	}
}

// Joining is rate-limited per address.
func TestWorkshopJoinRateLimited(t *testing.T) {
	a := newTestApp(t, withWorkshop(func(c *Config) { c.JoinsPerMinute = 3 }))
	b := a.browser()
	for i := range 3 {
		if code := b.do("POST", "/api/join", map[string]string{"code": "XXX-XXX", "name": "Eve"}, nil); code != http.StatusNotFound {
			t.Fatalf("attempt %d: %d; want 404", i+1, code)
		}
	}
	res, raw := b.send("POST", "/api/join", `{"code":"XXX-XXX","name":"Eve"}`, false)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" || !strings.Contains(string(raw), "attempts to join") {
		t.Errorf("past the limit: %d %s", res.StatusCode, raw)
	}
}

// workshopFixture is a workshop with two participants, Ada and Bob; Bob's
// session runs an echo server with a fault and a client connected to it.
type workshopFixture struct {
	a               *testApp
	inst, ada, bob  *browser
	w               workshopOut
	adaJ, bobJ      joinOut
	bobSrv, bobCli  string
	bobFault        string
	adaSrv, bobAddr string
}

func newWorkshopFixture(t *testing.T) *workshopFixture {
	a := newTestApp(t, withWorkshop(nil))
	f := &workshopFixture{a: a, inst: a.instructor()}
	f.w = f.inst.createWorkshop("Sockets")
	f.ada, f.adaJ = a.participant(f.w.Code, "Ada")
	f.bob, f.bobJ = a.participant(f.w.Code, "Bob")
	var srv struct{ ID, Addr string }
	if code := f.bob.do("POST", "/api/sessions/"+f.bobJ.Session+"/servers", map[string]any{"kind": "tcp-echo", "port": 0}, &srv); code != http.StatusCreated {
		t.Fatalf("Bob's server: %d", code)
	}
	f.bobSrv, f.bobAddr = srv.ID, srv.Addr
	var fault engine.Fault
	if code := f.bob.do("POST", "/api/sessions/"+f.bobJ.Session+"/servers/"+f.bobSrv+"/faults", `{"type":"latency","attributes":{"latency_ms":1}}`, &fault); code != http.StatusCreated {
		t.Fatalf("Bob's fault: %d", code)
	}
	f.bobFault = fault.Name
	var cli struct{ ID string }
	if code := f.bob.do("POST", "/api/sessions/"+f.bobJ.Session+"/clients", map[string]any{"kind": "tcp", "target": f.bobAddr}, &cli); code != http.StatusCreated {
		t.Fatalf("Bob's client: %d", code)
	}
	f.bobCli = cli.ID
	if code := f.ada.do("POST", "/api/sessions/"+f.adaJ.Session+"/servers", map[string]any{"kind": "tcp-echo", "port": 0}, &srv); code != http.StatusCreated {
		t.Fatalf("Ada's server: %d", code)
	}
	f.adaSrv = srv.ID
	return f
}

// fill writes a route's pattern with ids: Bob's, or ones that exist nowhere.
func (f *workshopFixture) fill(pattern string, real bool) string {
	ids := map[string]string{"id": f.bobJ.Session, "sid": f.bobSrv, "cid": f.bobCli, "name": f.bobFault, "wid": f.w.ID,
		"token": "sharenosuchxxxxxxxxxxxxxxxxxxxxx"} // under Bob's session: refused for the session before any token
	if !real {
		ids = map[string]string{"id": "nosuchsessionxxxxxxxxxxx", "sid": "srv-nosuch", "cid": "cli-nosuch", "name": "nosuch", "wid": "wnosuch",
			"token": "sharenosuchxxxxxxxxxxxxxxxxxxxxx"}
	}
	return regexp.MustCompile(`\{(\w+)\}`).ReplaceAllStringFunc(pattern, func(m string) string {
		v, ok := ids[m[1:len(m)-1]]
		if !ok {
			f.a.t.Fatalf("route %s has a parameter %s the IDOR table does not know: add it to fill", pattern, m)
		}
		return v
	})
}

// routesWithoutIDs are the routes that take no id: they are public, or act
// on the caller's own things only (checked by the tests above and below).
var routesWithoutIDs = []string{
	"GET /healthz", "* /static/*", // the files of the pages (every method: r.Handle)
	"GET /", "POST /sessions",
	"GET /api/status", "GET /api/kinds", "GET /api/sessions", "POST /api/sessions",
	"GET /join", "POST /join", "GET /instructor", "POST /instructor/login", "POST /instructor/logout", "POST /instructor/workshops",
	"POST /api/workshop/login", "POST /api/workshop/logout", "POST /api/workshops", "GET /api/workshops", "POST /api/join",
	"GET /api/errors",                // the error cards: the same text for everyone
	"GET /api/lessons", "GET /start", // the lessons offered: the same list for everyone
	"POST /api/sessions/import", "POST /sessions/import", // a new session of the caller's own (import_test.go)
}

// instructorRoute reports whether a route is the instructor's only: anyone
// else gets 401 before any id is looked at.
func instructorRoute(pattern string) bool {
	return strings.HasPrefix(pattern, "/api/workshops") || strings.HasPrefix(pattern, "/instructor")
}

// shareRoute is a read-only share link's route: its token is the
// credential (the shares' own tests cover it).
func shareRoute(pattern string) bool {
	return strings.HasPrefix(pattern, "/api/shared") || strings.HasPrefix(pattern, "/ws/shared") || strings.HasPrefix(pattern, "/shared")
}

// The IDOR table: every route of the router (walked, so a route added later
// is in the table by itself), called by Ada with Bob's ids, answers exactly
// as for ids that exist nowhere: 404 (401 for the instructor's routes),
// never 403 or anything that hints Bob's things exist, and changes nothing
// of Bob's. Without a cookie, every session route is 401.
func TestWorkshopIDORTable(t *testing.T) {
	f := newWorkshopFixture(t)
	var routes [][2]string
	err := chi.Walk(f.a.Site.handler.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes = append(routes, [2]string{method, route})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) < 30 {
		t.Fatalf("walked only %d routes", len(routes))
	}
	nobody := f.a.browser()
	checked := 0
	for _, rt := range routes {
		method, pattern := rt[0], rt[1]
		if shareRoute(pattern) {
			continue
		}
		name := method + " " + pattern
		if !strings.Contains(pattern, "{") {
			if !slices.Contains(routesWithoutIDs, name) && !slices.Contains(routesWithoutIDs, "* "+pattern) {
				t.Errorf("%s is a new route without an id: say in routesWithoutIDs why anyone may call it, or give it an id checked by inSession", name)
			}
			continue
		}
		checked++
		body := ""
		if method != "GET" && method != "DELETE" {
			body = `{}`
		}
		form := strings.HasPrefix(pattern, "/s/")
		want := http.StatusNotFound
		if instructorRoute(pattern) {
			want = http.StatusUnauthorized
		}
		res, raw := f.ada.send(method, f.fill(pattern, true), body, form)
		resNone, rawNone := f.ada.send(method, f.fill(pattern, false), body, form)
		if res.StatusCode != want {
			t.Errorf("%s as Ada with Bob's ids: %d %s; want %d", name, res.StatusCode, raw, want)
		}
		if res.StatusCode != resNone.StatusCode || !sameShape(raw, rawNone, f) {
			t.Errorf("%s: Bob's ids answer %d %q, ids that exist nowhere %d %q: the difference tells Bob's exist", name, res.StatusCode, raw, resNone.StatusCode, rawNone)
		}
		if protectedPath(pattern) {
			if res, raw := nobody.send(method, f.fill(pattern, true), body, form); res.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s without a cookie: %d %s; want 401", name, res.StatusCode, raw)
			}
		}
	}
	if checked < 15 {
		t.Errorf("checked only %d routes with ids", checked)
	}
	// Without a cookie the session routes without ids are 401 too, and the
	// home page sends to /join.
	for _, r := range [][2]string{{"GET", "/api/sessions"}, {"POST", "/api/sessions"}, {"POST", "/sessions"}} {
		if res, raw := nobody.send(r[0], r[1], "", false); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without a cookie: %d %s; want 401", r[0], r[1], res.StatusCode, raw)
		}
	}
	if res, _ := nobody.send("GET", "/", "", false); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/join" {
		t.Errorf("home page without a cookie: %d → %q; want 303 to /join", res.StatusCode, res.Header.Get("Location"))
	}

	// Nothing of Bob's changed: his session, server, fault and client are as
	// they were, and he still reaches them.
	var v ownView
	if code := f.bob.do("GET", "/api/sessions/"+f.bobJ.Session, nil, &v); code != http.StatusOK {
		t.Fatalf("Bob's session after the table: %d", code)
	}
	if len(v.Servers) != 1 || v.Servers[0].State != engine.StateRunning || len(v.Servers[0].Faults) != 1 || v.Servers[0].Faults[0].Name != f.bobFault {
		t.Errorf("Bob's server after the table: %+v", v.Servers)
	}
	if len(v.Clients) != 1 || v.Clients[0].State == engine.StateClosed {
		t.Errorf("Bob's client after the table: %+v", v.Clients)
	}
	var sent struct{ Sent int }
	if code := f.bob.do("POST", "/api/sessions/"+f.bobJ.Session+"/clients/"+f.bobCli+"/send", map[string]string{"text": "hi"}, &sent); code != http.StatusOK || sent.Sent != 2 {
		t.Errorf("Bob sends after the table: %d %+v", code, sent)
	}
	// And the same ids are Ada's to use in her own session only: Bob's
	// server id under Ada's session is not found either.
	if code := f.ada.do("DELETE", "/api/sessions/"+f.adaJ.Session+"/servers/"+f.bobSrv, nil, nil); code != http.StatusNotFound {
		t.Errorf("Bob's server id under Ada's session: %d; want 404", code)
	}
}

// ownView is what the workshop tests read of GET /api/sessions/{id}.
type ownView struct {
	Servers []struct {
		ID, State, Addr string
		Faults          []engine.Fault
	}
	Clients []struct{ ID, State string }
}

// sameShape compares two answers with the ids in them blanked out.
func sameShape(a, b []byte, f *workshopFixture) bool {
	blank := func(s []byte) string {
		out := string(s)
		for _, p := range []string{"{id}", "{sid}", "{cid}", "{name}", "{wid}"} {
			out = strings.ReplaceAll(out, f.fill(p, true), "ID")
			out = strings.ReplaceAll(out, f.fill(p, false), "ID")
		}
		return out
	}
	return blank(a) == blank(b)
}

// The live stream is behind the same check: Ada cannot watch Bob's events
// (404 before the upgrade), she can watch her own, and without a cookie it
// is 401.
func TestWorkshopLiveStreamIsOwned(t *testing.T) {
	f := newWorkshopFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hdr := func(b *browser) http.Header {
		u, _ := url.Parse(f.a.URL)
		h := http.Header{}
		for _, c := range b.jar.Cookies(u) {
			h.Add("Cookie", c.Name+"="+c.Value)
		}
		return h
	}
	for _, c := range []struct {
		who    string
		b      *browser
		sess   string
		status int
	}{
		{"Ada, Bob's session", f.ada, f.bobJ.Session, http.StatusNotFound},
		{"nobody, Bob's session", f.a.browser(), f.bobJ.Session, http.StatusUnauthorized},
	} {
		c2, res, err := f.a.dialLive(ctx, c.sess, 0, hdr(c.b))
		if err == nil {
			c2.CloseNow()
			t.Errorf("%s: the WebSocket opened", c.who)
			continue
		}
		if res == nil || res.StatusCode != c.status {
			t.Errorf("%s: %v %v; want %d", c.who, res, err, c.status)
		}
	}
	for _, c := range []struct {
		who  string
		b    *browser
		sess string
	}{{"Ada, her session", f.ada, f.adaJ.Session}, {"the instructor, Bob's session", f.inst, f.bobJ.Session}} {
		conn, _, err := f.a.dialLive(ctx, c.sess, 0, hdr(c.b))
		if err != nil {
			t.Fatalf("%s: %v", c.who, err)
		}
		evs, _ := collect(ctx, t, conn, 0, func(evs []sessions.Record) bool {
			return slices.ContainsFunc(evs, func(r sessions.Record) bool { return r.Kind == engine.KindServerStart })
		})
		if evs[0].Session != c.sess {
			t.Errorf("%s: events of session %s", c.who, evs[0].Session)
		}
		conn.CloseNow()
	}
}

// The instructor sees every participant's session, read-only, and lists
// only their own on the home page and in the API; a participant's home page
// lists only theirs.
func TestWorkshopInstructorReadsOnly(t *testing.T) {
	f := newWorkshopFixture(t)
	if code := f.inst.do("GET", "/api/sessions/"+f.bobJ.Session, nil, nil); code != http.StatusOK {
		t.Errorf("instructor reads Bob's session: %d", code)
	}
	var e errorBody
	if code := f.inst.do("DELETE", "/api/sessions/"+f.bobJ.Session+"/servers/"+f.bobSrv, nil, &e); code != http.StatusForbidden || !strings.Contains(e.Error, "read-only") {
		t.Errorf("instructor stops Bob's server: %d %q; want 403 read-only", code, e.Error)
	}
	if code := f.inst.do("DELETE", "/api/sessions/"+f.bobJ.Session, nil, nil); code != http.StatusForbidden {
		t.Errorf("instructor deletes Bob's session: %d; want 403", code)
	}
	var own sessions.Session
	if code := f.inst.do("POST", "/api/sessions", map[string]string{"name": "demo"}, &own); code != http.StatusCreated || own.Owner != sessions.OwnerInstructor {
		t.Fatalf("instructor's own session: %d %+v", code, own)
	}
	if code := f.inst.do("POST", "/api/sessions/"+own.ID+"/servers", map[string]any{"kind": "tcp-echo", "port": 0}, nil); code != http.StatusCreated {
		t.Errorf("instructor starts a server in their own session: %d", code)
	}
	var list struct{ Sessions []sessions.Session }
	f.inst.do("GET", "/api/sessions", nil, &list)
	if len(list.Sessions) != 1 || list.Sessions[0].ID != own.ID {
		t.Errorf("instructor's list: %+v; want only their own", list.Sessions)
	}
	if code := f.ada.do("GET", "/api/sessions/"+own.ID, nil, nil); code != http.StatusNotFound {
		t.Errorf("Ada reads the instructor's session: %d; want 404", code)
	}
	_, home := f.ada.send("GET", "/", "", false)
	if !strings.Contains(string(home), f.adaJ.Session) || strings.Contains(string(home), f.bobJ.Session) || strings.Contains(string(home), own.ID) {
		t.Errorf("Ada's home page does not list exactly her session:\n%s", home)
	}

	// The dashboard shows Bob with his server and client, linked to his session.
	_, dash := f.inst.send("GET", "/instructor", "", false)
	for _, want := range []string{f.w.Code, f.w.JoinURL, "Ada", "Bob", `href="/s/` + f.bobJ.Session + `"`} {
		if !bytes.Contains(dash, []byte(want)) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	var wv workshopView
	for deadline := time.Now().Add(30 * time.Second); ; { // until the recorder has committed Bob's events
		if code := f.inst.do("GET", "/api/workshops/"+f.w.ID, nil, &wv); code != http.StatusOK || len(wv.Participants) != 2 {
			t.Fatalf("GET workshop: %d %+v", code, wv)
		}
		if wv.Participants[1].Events > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	bob := wv.Participants[1]
	if bob.Name != "Bob" || bob.Servers != 1 || bob.Clients != 1 || bob.Events == 0 || bob.Session != f.bobJ.Session {
		t.Errorf("Bob's row: %+v", bob)
	}
	if code := f.inst.do("GET", "/api/workshops/wnosuch", nil, &e); code != http.StatusNotFound {
		t.Errorf("unknown workshop: %d", code)
	}
}

// The dashboard's last error is the newest error event of the session: a
// client dialing a port where nothing listens shows ECONNREFUSED.
func TestWorkshopDashboardLastError(t *testing.T) {
	f := newWorkshopFixture(t)
	// Ada's server stops: its port is free and refuses.
	var srv struct{ Addr string }
	f.ada.do("GET", "/api/sessions/"+f.adaJ.Session, nil, nil)
	var v ownView
	f.ada.do("GET", "/api/sessions/"+f.adaJ.Session, nil, &v)
	addr := v.Servers[0].Addr
	if code := f.ada.do("DELETE", "/api/sessions/"+f.adaJ.Session+"/servers/"+f.adaSrv, nil, &srv); code != http.StatusOK {
		t.Fatalf("stop: %d", code)
	}
	if code := f.ada.do("POST", "/api/sessions/"+f.adaJ.Session+"/clients", map[string]any{"kind": "tcp", "target": addr}, nil); code != http.StatusBadGateway {
		t.Fatalf("dial a stopped server: %d; want 502", code)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var wv workshopView
		f.inst.do("GET", "/api/workshops/"+f.w.ID, nil, &wv)
		if le := wv.Participants[0].LastError; le != nil {
			if le.Errno != "ECONNREFUSED" {
				t.Errorf("Ada's last error %+v; want ECONNREFUSED", le)
			}
			_, dash := f.inst.send("GET", "/instructor", "", false)
			if !bytes.Contains(dash, []byte("ECONNREFUSED")) {
				t.Error("the dashboard page does not show ECONNREFUSED")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Ada's last error never showed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The pages work without JavaScript: the join form lands in the session, a
// wrong code shows the form again with the reason; the instructor logs in
// and creates a workshop with forms.
func TestWorkshopPagesWithoutJS(t *testing.T) {
	a := newTestApp(t, withWorkshop(nil))
	inst := a.browser()
	res, page := inst.send("GET", "/instructor", "", false)
	if res.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(`data-testid="login-form"`)) {
		t.Fatalf("instructor page before log-in: %d", res.StatusCode)
	}
	res, page = inst.send("POST", "/instructor/login", url.Values{"password": {"nope"}}.Encode(), true)
	if res.StatusCode != http.StatusUnauthorized || !bytes.Contains(page, []byte("wrong password")) {
		t.Errorf("wrong password form: %d", res.StatusCode)
	}
	res, _ = inst.send("POST", "/instructor/login", url.Values{"password": {testPassword}}.Encode(), true)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/instructor" {
		t.Fatalf("log-in form: %d → %s", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = inst.send("POST", "/instructor/workshops", url.Values{"name": {"Morning class"}, "expires": {"3h"}}.Encode(), true)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("new workshop form: %d", res.StatusCode)
	}
	_, dash := inst.send("GET", "/instructor", "", false)
	code := regexp.MustCompile(`data-testid="workshop-code">([A-Z2-9-]+)<`).FindSubmatch(dash)
	if code == nil || !bytes.Contains(dash, []byte("Morning class")) || !bytes.Contains(dash, []byte("Nobody has joined yet")) {
		t.Fatalf("dashboard after creating:\n%s", dash)
	}

	p := a.browser()
	res, page = p.send("GET", "/join?code="+string(code[1]), "", false)
	if res.StatusCode != http.StatusOK || !bytes.Contains(page, []byte(`value="`+string(code[1])+`"`)) {
		t.Errorf("join page with the code in its URL: %d", res.StatusCode)
	}
	res, page = p.send("POST", "/join", url.Values{"code": {"XXX-XXX"}, "name": {"Ada"}}.Encode(), true)
	if res.StatusCode != http.StatusNotFound || !bytes.Contains(page, []byte("no open workshop has the code")) || !bytes.Contains(page, []byte(`value="Ada"`)) {
		t.Errorf("wrong code form: %d\n%s", res.StatusCode, page)
	}
	res, _ = p.send("POST", "/join", url.Values{"code": {string(code[1])}, "name": {"Ada"}}.Encode(), true)
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/s/") {
		t.Fatalf("join form: %d → %q", res.StatusCode, loc)
	}
	if res, page := p.send("GET", loc, "", false); res.StatusCode != http.StatusOK || !bytes.Contains(page, []byte("Ada")) {
		t.Errorf("the participant's session page: %d", res.StatusCode)
	}
	if res, page := a.browser().send("GET", loc, "", false); res.StatusCode != http.StatusUnauthorized || !bytes.Contains(page, []byte("/join")) {
		t.Errorf("the session page without a cookie: %d\n%s", res.StatusCode, page)
	}
}

// Ending a workshop: its code stops working, its participants' servers and
// clients stop, and their sessions become read-only (still readable).
func TestWorkshopEnd(t *testing.T) {
	f := newWorkshopFixture(t)
	var wv workshopView
	if code := f.ada.do("POST", "/api/workshops/"+f.w.ID+"/end", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("a participant ends the workshop: %d; want 401", code)
	}
	if code := f.inst.do("POST", "/api/workshops/"+f.w.ID+"/end", nil, &wv); code != http.StatusOK || wv.EndedAt.IsZero() {
		t.Fatalf("end: %d %+v", code, wv)
	}
	for _, p := range wv.Participants {
		if p.Servers != 0 || p.Clients != 0 {
			t.Errorf("%s still runs %d servers and %d clients", p.Name, p.Servers, p.Clients)
		}
	}
	var v ownView
	if code := f.bob.do("GET", "/api/sessions/"+f.bobJ.Session, nil, &v); code != http.StatusOK || len(v.Servers) != 1 || v.Servers[0].State == engine.StateRunning {
		t.Errorf("Bob reads his session after the end: %d %+v", code, v.Servers)
	}
	var e errorBody
	for _, r := range [][3]string{
		{"POST", "/api/sessions/" + f.bobJ.Session + "/servers", `{"kind":"tcp-echo"}`},
		{"DELETE", "/api/sessions/" + f.bobJ.Session, ""},
		{"POST", "/api/sessions", `{"name":"more"}`},
	} {
		if code := f.bob.do(r[0], r[1], r[2], &e); code != http.StatusForbidden || !strings.Contains(e.Error, "has ended") {
			t.Errorf("%s %s after the end: %d %q; want 403 saying the workshop has ended", r[0], r[1], code, e.Error)
		}
	}
	if code := f.bob.do("POST", "/api/join", map[string]string{"code": f.w.Code, "name": "Bob"}, &e); code != http.StatusNotFound {
		t.Errorf("joining an ended workshop: %d", code)
	}
	if code := f.inst.do("POST", "/api/workshops/wnosuch/end", nil, nil); code != http.StatusNotFound {
		t.Errorf("ending an unknown workshop: %d", code)
	}
	_, dash := f.inst.send("GET", "/instructor", "", false)
	if !bytes.Contains(dash, []byte(`data-testid="workshop-ended"`)) {
		t.Error("the dashboard does not show the workshop ended")
	}
}

// Behind a trusted reverse proxy, its X-Forwarded-Proto makes cookies
// Secure and join URLs https, and its X-Forwarded-For tells participants
// apart for the join limit; from anyone else those headers mean nothing.
func TestWorkshopBehindTrustedProxy(t *testing.T) {
	for _, trusted := range []bool{true, false} {
		a := newTestApp(t, withWorkshop(func(c *Config) {
			c.JoinsPerMinute = 2
			if trusted {
				c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			}
		}))
		req := func(path, body, xff string) *http.Response {
			r, err := http.NewRequest("POST", a.URL+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("X-Forwarded-Proto", "https")
			r.Header.Set("X-Forwarded-For", "198.51.100.9, "+xff) // the first is what a client claims
			res, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return res
		}
		res := req("/api/workshop/login", `{"password":"`+testPassword+`"}`, "203.0.113.1")
		if ck := findCookie(res, instructorCookie); ck == nil || ck.Secure != trusted {
			t.Errorf("trusted %v: instructor cookie %+v; want Secure %v", trusted, ck, trusted)
		}
		statuses := ""
		for _, xff := range []string{"203.0.113.1", "203.0.113.1", "203.0.113.2", "203.0.113.2", "203.0.113.1"} {
			statuses += strconv.Itoa(req("/api/join", `{"code":"XXX-XXX","name":"x"}`, xff).StatusCode) + " "
		}
		want := "404 404 404 404 429 " // two each, then the first is out
		if !trusted {
			want = "404 404 429 429 429 " // everybody is the proxy
		}
		if statuses != want {
			t.Errorf("trusted %v: joins answered %s; want %s", trusted, statuses, want)
		}
	}
}
