package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// withBudget sets the disk budget's web side.
func withBudget(b DiskBudget) appOption {
	return func(_ *engine.LabConfig, c *Config, _ *int) { c.Budget = b }
}

type importOut struct {
	Session sessions.Session `json:"session"`
	URL     string           `json:"url"`
}

// postImport sends body as the import's file and returns the status and
// the answer.
func (a *testApp) postImport(body []byte, query string) (int, importOut, string) {
	a.t.Helper()
	res, err := http.Post(a.URL+"/api/sessions/import"+query, "application/x-ndjson", bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	var raw bytes.Buffer
	raw.ReadFrom(res.Body)
	var out importOut
	var e apiErrBody
	if res.StatusCode == http.StatusCreated {
		if err := json.Unmarshal(raw.Bytes(), &out); err != nil {
			a.t.Fatal(err)
		}
	} else {
		json.Unmarshal(raw.Bytes(), &e)
	}
	return res.StatusCode, out, e.Error
}

// dbCounts is what a refused import must leave as it was.
func dbCounts(t *testing.T, a *testApp) string {
	t.Helper()
	var s, c, b int64
	if err := a.Store.DB().QueryRow(`SELECT (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM event_chunks),
		(SELECT COALESCE(SUM(length(events)), 0) FROM event_chunks)`).Scan(&s, &c, &b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d sessions, %d chunks, %d bytes", s, c, b)
}

// TestImportRoundTripOfARealSession records a session with TCP, IPv6, UDP,
// TLS, a proxy, app frames, a reset and a refused connect through the real
// lab, exports it, imports the export and exports the import: the two
// files are the same but for the session's id (header and every event's
// "session") and created_at. The import starts nothing, and recording in it
// carries on from its last seq.
func TestImportRoundTripOfARealSession(t *testing.T) {
	a := newTestApp(t)
	sess, _ := recordRichSession(t, a)
	_, appAddr := a.start(sess, "app", nil)
	a.clientTo(sess, "app", appAddr, map[string]any{"action": "search", "value": "morpheus"})
	a.waitEvents(sess, "the app exchange", func(evs []sessions.Record) bool {
		return countKind(evs, engine.KindAppFrame, nil) >= 2
	})
	a.Lab.CloseSession(sess) // everything ends: the export is final
	a.waitEvents(sess, "every server stopped", func(evs []sessions.Record) bool {
		return countKind(evs, engine.KindServerStop, nil) == countKind(evs, engine.KindServerStart, nil)
	})
	code, _, first := a.get("/api/sessions/" + sess + "/export.jsonl")
	if code != http.StatusOK {
		t.Fatalf("export: %d", code)
	}
	for _, k := range []string{`"net":"udp"`, `"net":"tls"`, `"kind":"proxy-dial"`, `"kind":"app-frame"`, `"errno":"ECONNREFUSED"`, `"rst":true`} {
		if !bytes.Contains(first, []byte(k)) {
			t.Fatalf("the recorded session has no %s", k)
		}
	}
	servers := len(a.Lab.Servers(sess))

	code, imp, msg := a.postImport(first, "")
	if code != http.StatusCreated {
		t.Fatalf("import: %d %s", code, msg)
	}
	if imp.URL != "/s/"+imp.Session.ID || imp.Session.Name != "TestImportRoundTripOfARealSession" {
		t.Errorf("import answered %+v", imp)
	}
	if n := len(a.Lab.Servers(imp.Session.ID)) + len(a.Lab.Clients(imp.Session.ID)); n != 0 {
		t.Errorf("the import started %d servers or clients; it must start nothing", n)
	}
	if len(a.Lab.Servers(sess)) != servers {
		t.Errorf("the import changed the original's servers")
	}
	_, _, second := a.get("/api/sessions/" + imp.Session.ID + "/export.jsonl")
	l1 := strings.Split(string(first), "\n")
	l2 := strings.Split(string(second), "\n")
	if len(l1) != len(l2) {
		t.Fatalf("%d lines exported, %d after the round trip", len(l1), len(l2))
	}
	var h1, h2 map[string]any
	json.Unmarshal([]byte(l1[0]), &h1)
	json.Unmarshal([]byte(l2[0]), &h2)
	s1, s2 := h1["session"].(map[string]any), h2["session"].(map[string]any)
	if s2["id"] != imp.Session.ID || s1["id"] != sess {
		t.Errorf("header ids %v %v", s1["id"], s2["id"])
	}
	delete(s1, "id")
	delete(s2, "id")
	delete(s1, "created_at")
	delete(s2, "created_at")
	if a, b := fmt.Sprint(h1), fmt.Sprint(h2); a != b {
		t.Errorf("headers differ beyond id and created_at:\n%s\n%s", l1[0], l2[0])
	}
	for i := 1; i < len(l1); i++ {
		want := strings.Replace(l1[i], `"session":"`+sess+`"`, `"session":"`+imp.Session.ID+`"`, 1)
		if l2[i] != want {
			t.Fatalf("line %d differs:\n got %s\nwant %s", i+1, l2[i], want)
		}
	}
	// The pcapng of the import is the capture of the original.
	_, _, p1 := a.get("/api/sessions/" + sess + "/export.pcapng")
	_, _, p2 := a.get("/api/sessions/" + imp.Session.ID + "/export.pcapng")
	if len(readCapture(t, p1)) != len(readCapture(t, p2)) {
		t.Errorf("pcapng of the import has %d packets, the original's %d", len(readCapture(t, p2)), len(readCapture(t, p1)))
	}
	// The recorder's cache knows the import: a server started in it is
	// numbered after the imported events.
	a.startEcho(imp.Session.ID, nil)
	n := int64(len(l1) - 2) // the header and the empty string after the last newline
	evs := a.waitEvents(imp.Session.ID, "the new server's start", func(evs []sessions.Record) bool {
		return int64(len(evs)) > n && countKind(evs[n:], engine.KindServerStart, nil) == 1
	})
	checkSeqs := func() {
		for i, e := range evs {
			if e.Seq != int64(i+1) {
				t.Fatalf("event %d has seq %d after the import", i, e.Seq)
			}
		}
	}
	checkSeqs()
	if evs[n].Kind != engine.KindServerStart {
		t.Errorf("after the import: seq %d is %s, want the server-start", evs[n].Seq, evs[n].Kind)
	}
	// ?name= names the import; a bad name is 400.
	if code, imp, _ := a.postImport(first, "?name=copy"); code != http.StatusCreated || imp.Session.Name != "copy" {
		t.Errorf("import ?name=copy: %d %+v", code, imp.Session)
	}
	if code, _, msg := a.postImport(first, "?name=%E2%80%AEx"); code != http.StatusBadRequest || !strings.Contains(msg, "formatting character") {
		t.Errorf("import with a bad name: %d %s", code, msg)
	}
}

func TestImportRefusesBadFilesWith400AndWritesNothing(t *testing.T) {
	a := newTestApp(t, withBudget(DiskBudget{MaxImportBytes: 8192}))
	sess := a.newSession()
	_, addr := a.startEcho(sess, nil)
	cli := a.clientTo(sess, "tcp", addr, nil)
	a.send(sess, cli, map[string]string{"text": "hello"})
	a.waitEvents(sess, "the echo", func(evs []sessions.Record) bool { return recvData(evs, cli) == "hello" })
	a.Lab.CloseSession(sess)
	a.waitEvents(sess, "the server stopped", func(evs []sessions.Record) bool { return countKind(evs, engine.KindServerStop, nil) == 1 })
	if err := a.Rec.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, _, good := a.get("/api/sessions/" + sess + "/export.jsonl")
	lines := strings.Split(strings.TrimSuffix(string(good), "\n"), "\n")
	before := dbCounts(t, a)
	swap := append([]string(nil), lines...)
	swap[2], swap[3] = swap[3], swap[2]
	for _, c := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"not JSON lines", "GET / HTTP/1.1\n", 400, "line 1: not a JSON object"},
		{"wrong version", strings.Replace(string(good), `"version":1`, `"version":7`, 1), 400, "line 1: format version 7"},
		{"out of order", strings.Join(swap, "\n") + "\n", 400, "line 3: seq 3 after seq 1"},
		{"unknown kind", strings.Replace(string(good), `"kind":"listen"`, `"kind":"magic"`, 1), 400, `unknown event kind "magic"`},
		{"bad base64", strings.Replace(string(good), `"data":"aGVsbG8="`, `"data":"aGVsbG8"`, 1), 400, `"data" is not valid base64`},
		{"wrong type", strings.Replace(string(good), `"truncated":false`, `"truncated":"no"`, 1), 400, `"truncated" is a string, not true or false`},
		{"too large", string(good) + strings.Repeat(" ", 9000), 413, "up to 8 KiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(string(good), `"data":"aGVsbG8="`) || !strings.Contains(string(good), `"kind":"listen"`) {
				t.Fatalf("the export lacks what the cases change:\n%s", good)
			}
			code, _, msg := a.forT(t).postImport([]byte(c.body), "")
			if code != c.status || !strings.Contains(msg, c.want) {
				t.Errorf("got %d %q, want %d with %q", code, msg, c.status, c.want)
			}
			if after := dbCounts(t, a); after != before {
				t.Errorf("the database changed: %s, was %s", after, before)
			}
		})
	}
	// The home page's form posts multipart without JavaScript and lands on the session.
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "export.jsonl")
	fw.Write(good)
	mw.Close()
	req, _ := http.NewRequest("POST", a.URL+"/sessions/import", &form)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/s/") {
		t.Errorf("multipart import: %d to %q", res.StatusCode, loc)
	}
}

// sessionsList is GET /api/sessions.
type sessionsList struct {
	Sessions []struct {
		sessions.Session
		Bytes        int64     `json:"bytes"`
		CappedSeq    int64     `json:"capped_seq"`
		NotKept      int64     `json:"not_kept"`
		LastActivity time.Time `json:"last_activity"`
	} `json:"sessions"`
	Next   string     `json:"next"`
	Budget budgetView `json:"budget"`
}

func TestSessionListRenameAndDelete(t *testing.T) {
	a := newTestApp(t, withBudget(DiskBudget{MaxSessionEvents: 1000, MaxSessionBytes: 1 << 20}))
	quiet := a.newSession()
	busy := a.newSession()
	_, addr := a.startEcho(busy, nil)
	cli := a.clientTo(busy, "tcp", addr, nil)
	a.send(busy, cli, map[string]string{"text": strings.Repeat("x", 3000)})
	evs := a.waitEvents(busy, "the echo", func(evs []sessions.Record) bool { return len(recvData(evs, cli)) == 3000 })
	var list sessionsList
	if code := a.do("GET", "/api/sessions", nil, &list); code != http.StatusOK || len(list.Sessions) != 2 {
		t.Fatalf("list: %d %+v", code, list)
	}
	b := list.Sessions[0] // newest first
	if b.ID != busy || b.Events < int64(len(evs)) || b.Bytes < 100 || !b.LastActivity.After(b.CreatedAt) {
		t.Errorf("busy session in the list: %+v", b)
	}
	if q := list.Sessions[1]; q.ID != quiet || q.Bytes != 0 || !q.LastActivity.Equal(q.CreatedAt) {
		t.Errorf("quiet session in the list: %+v", q)
	}
	if list.Budget.MaxSessionEvents != 1000 || list.Budget.MaxImportBytes != sessions.DefaultMaxImportBytes || list.Budget.Used == 0 {
		t.Errorf("budget %+v", list.Budget)
	}

	var renamed sessions.Session
	if code := a.do("PATCH", "/api/sessions/"+quiet, map[string]string{"name": "  lab 2  "}, &renamed); code != http.StatusOK || renamed.Name != "lab 2" {
		t.Errorf("rename: %d %+v", code, renamed)
	}
	for _, c := range []struct {
		body any
		want string
	}{
		{map[string]string{"name": ""}, "needs a name"},
		{map[string]string{"name": strings.Repeat("n", 201)}, "longer than 200"},
		{map[string]any{"name": 5}, `"name" must be a JSON string`},
		{map[string]string{}, `send {"name"`},
		{map[string]string{"nom": "x"}, "unknown field"},
	} {
		var e apiErrBody
		if code := a.do("PATCH", "/api/sessions/"+quiet, c.body, &e); code != http.StatusBadRequest || !strings.Contains(e.Error, c.want) {
			t.Errorf("rename %v: %d %q, want 400 with %q", c.body, code, e.Error, c.want)
		}
	}
	if code := a.do("PATCH", "/api/sessions/nosuch", map[string]string{"name": "x"}, nil); code != http.StatusNotFound {
		t.Errorf("rename an unknown session: %d", code)
	}
	if code := a.do("DELETE", "/api/sessions/"+quiet, nil, nil); code != http.StatusNoContent {
		t.Errorf("delete: %d", code)
	}
	list = sessionsList{}
	if a.do("GET", "/api/sessions", nil, &list); len(list.Sessions) != 1 || list.Sessions[0].ID != busy {
		t.Errorf("after delete: %+v", list.Sessions)
	}
	// The home page shows it.
	_, _, page := a.get("/")
	for _, want := range []string{"Last activity", "Size on disk", `data-testid="import-form"`, "each session records up to 1,000 events or 1 MiB"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the home page lacks %q", want)
		}
	}
}

// TestSessionListOf500 measures the list API with 500 sessions, each with
// a few chunks of events.
func TestSessionListOf500(t *testing.T) {
	a := newTestApp(t)
	var ids []string
	for i := range 500 {
		s, err := a.Store.CreateSession(t.Context(), fmt.Sprint("s", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
		for j := range 300 { // two chunks
			a.Rec.Emit(engine.Event{Session: s.ID, Server: "srv-x", Conn: "c", At: time.Now(), Kind: engine.KindRecv, Data: []byte("hello"), Len: 5 + j%2})
		}
	}
	if err := a.Rec.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var list sessionsList
	start := time.Now()
	const rounds = 5
	for range rounds {
		list = sessionsList{}
		if code := a.do("GET", "/api/sessions?limit=500", nil, &list); code != http.StatusOK {
			t.Fatal(code)
		}
	}
	per := time.Since(start) / rounds
	if len(list.Sessions) != 500 || list.Sessions[0].Bytes == 0 || list.Sessions[0].Events != 300 {
		t.Fatalf("%d sessions, first %+v", len(list.Sessions), list.Sessions[0])
	}
	t.Logf("GET /api/sessions?limit=500 (500 sessions of 300 events, 2 chunks each): %v per request", per)
}

// TestPcapngLeavesOutFailedConnects: a refused connect and a connect that
// timed out are errors in the recording but no packets in the capture (no
// invented SYN); the one connection that happened is the capture's only
// TCP stream, as tshark reads it.
func TestPcapngLeavesOutFailedConnects(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	// Refused: a lab port nobody listens on.
	var e apiErrBody
	if code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"kind": "tcp", "target": fmt.Sprintf("127.0.0.1:%d", freeLabPort(t))}, &e); code != http.StatusBadGateway || e.Errno != "ECONNREFUSED" {
		t.Fatalf("refused connect: %d %+v", code, e)
	}
	// Timed out: a listener with a backlog of 0 whose queue is full drops SYNs.
	port := freeLabPort(t)
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	target := fmt.Sprintf("127.0.0.1:%d", port)
	for range 4 { // fill the accept queue
		c, err := net.DialTimeout("tcp", target, 200*time.Millisecond)
		if err != nil {
			break
		}
		defer c.Close()
	}
	code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"kind": "tcp", "target": target,
		"options": map[string]any{"connect_timeout_ms": 300}}, &e)
	if code != http.StatusBadGateway || e.Errno != "ETIMEDOUT" {
		t.Fatalf("connect to a full accept queue: %d %+v, want 502 ETIMEDOUT", code, e)
	}
	// One real exchange.
	_, addr := a.startEcho(sess, nil)
	cli := a.clientTo(sess, "tcp", addr, nil)
	a.send(sess, cli, map[string]string{"text": "hi"})
	a.waitEvents(sess, "the echo", func(evs []sessions.Record) bool { return recvData(evs, cli) == "hi" })
	a.Lab.CloseSession(sess)
	evs := a.waitEvents(sess, "the errors and the closes", func(evs []sessions.Record) bool {
		return countKind(evs, engine.KindError, func(e sessions.Record) bool { return e.Err != nil && e.Err.Errno == "ECONNREFUSED" }) == 1 &&
			countKind(evs, engine.KindClose, nil) >= 2
	})
	if countKind(evs, engine.KindError, func(e sessions.Record) bool { return e.Err != nil && e.Err.Errno == "ETIMEDOUT" }) != 1 {
		t.Errorf("no ETIMEDOUT error event")
	}
	_, _, capture := a.get("/api/sessions/" + sess + "/export.pcapng")
	syns := 0
	for _, p := range readCapture(t, capture) {
		if p.tcp != nil && p.tcp.SYN && !p.tcp.ACK {
			syns++
			if p.dst != addr && !strings.HasSuffix(p.dst, addr[strings.LastIndex(addr, ":"):]) {
				t.Errorf("a SYN to %s: only the echo at %s was connected to", p.dst, addr)
			}
		}
	}
	if syns != 1 {
		t.Errorf("%d SYNs in the capture, want 1 (failed connects leave none)", syns)
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Log("no tshark: the capture was checked with pcapgo only")
		return
	}
	f := t.TempDir() + "/f.pcapng"
	if err := os.WriteFile(f, capture, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tshark, "-r", f, "-T", "fields", "-e", "tcp.stream", "-e", "tcp.flags.syn", "-e", "tcp.dstport").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	streams := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] >= "0" && f[0] <= "9" { // not tshark's "Running as user root"
			streams[f[0]] = true
		}
	}
	if len(streams) != 1 {
		t.Errorf("tshark sees %d TCP streams, want 1:\n%s", len(streams), out)
	}
}

// In workshop mode an import belongs to whoever imports it, counts among
// their sessions, and the list shows each participant their own only.
func TestWorkshopImportAndListAreTheCallersOwn(t *testing.T) {
	a := newTestApp(t, withWorkshop(func(c *Config) { c.MaxParticipantSessions = 2 }))
	w := a.instructor().createWorkshop("Sockets")
	ada, adaJ := a.participant(w.Code, "Ada")
	bob, bobJ := a.participant(w.Code, "Bob")
	res, bobExport := bob.send("GET", "/api/sessions/"+bobJ.Session+"/export.jsonl", "", false)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("Bob's export: %d", res.StatusCode)
	}
	imp := func(b *browser, body []byte) (int, importOut, string) {
		req, _ := http.NewRequest("POST", a.URL+"/api/sessions/import", bytes.NewReader(body))
		res, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var raw bytes.Buffer
		raw.ReadFrom(res.Body)
		var out importOut
		var e apiErrBody
		json.Unmarshal(raw.Bytes(), &out)
		json.Unmarshal(raw.Bytes(), &e)
		return res.StatusCode, out, e.Error
	}
	code, got, msg := imp(ada, bobExport) // Bob sent Ada his file
	if code != http.StatusCreated {
		t.Fatalf("Ada's import: %d %s", code, msg)
	}
	var s sessions.Session
	if c := ada.do("GET", "/api/sessions/"+got.Session.ID, nil, &s); c != http.StatusOK || s.Owner != adaJ.Participant.ID {
		t.Errorf("Ada reads her import: %d owner %q, want %q", c, s.Owner, adaJ.Participant.ID)
	}
	if c := bob.do("GET", "/api/sessions/"+got.Session.ID, nil, nil); c != http.StatusNotFound {
		t.Errorf("Bob reads Ada's import: %d, want 404", c)
	}
	var list sessionsList
	ada.do("GET", "/api/sessions", nil, &list)
	if len(list.Sessions) != 2 {
		t.Errorf("Ada lists %d sessions, want her 2", len(list.Sessions))
	}
	for _, s := range list.Sessions {
		if s.ID != adaJ.Session && s.ID != got.Session.ID {
			t.Errorf("Ada's list has %s", s.ID)
		}
	}
	// Past her number of sessions, 429; without a cookie, 401.
	if code, _, msg := imp(ada, bobExport); code != http.StatusTooManyRequests || !strings.Contains(msg, "may have 2 sessions") {
		t.Errorf("Ada's third session: %d %s", code, msg)
	}
	if code, _, _ := imp(a.browser(), bobExport); code != http.StatusUnauthorized {
		t.Errorf("an import without a cookie: %d, want 401", code)
	}
}

// Retention as the owner sees it: the home page names the sessions the
// disk budget deleted and why; a session with a running server stays, and
// a deleted session's share link says the link is not valid.
func TestRetentionIsShownOnTheHomePage(t *testing.T) {
	a := newTestApp(t)
	old := a.newSession()
	live := a.newSession()
	a.startEcho(live, nil)
	sh := a.share(old)
	for _, id := range []string{old, live} {
		if _, err := a.Store.DB().Exec(`UPDATE sessions SET created_at = ? WHERE id = ?`, time.Now().Add(-72*time.Hour).UnixNano(), id); err != nil {
			t.Fatal(err)
		}
	}
	// The live session's events are recent: make its activity old too.
	if _, err := a.Store.DB().Exec(`UPDATE event_chunks SET first_at = ?, last_at = ? WHERE session_id = ?`,
		time.Now().Add(-72*time.Hour).UnixNano(), time.Now().Add(-72*time.Hour).UnixNano(), live); err != nil {
		t.Fatal(err)
	}
	ret := sessions.NewRetention(a.Store, a.Rec, sessions.RetentionConfig{MaxAge: 24 * time.Hour},
		func(id string) bool { return len(a.Lab.Servers(id)) > 0 }, func(id string) { a.Lab.CloseSession(id); a.Hub.CloseSession(id) }, slog.New(slog.DiscardHandler))
	a.Site.cfg.Budget.Retention = ret
	rep, err := ret.Once(t.Context())
	if err != nil || len(rep.Deleted) != 1 || rep.Deleted[0].ID != old {
		t.Fatalf("retention: %+v %v; want %s deleted", rep, err, old)
	}
	if _, err := a.Store.GetSession(t.Context(), live); err != nil {
		t.Errorf("the session with a running server: %v", err)
	}
	_, _, page := a.get("/")
	for _, want := range []string{`data-testid="retention-notice"`, "deleted 1 of your sessions", "TestRetentionIsShownOnTheHomePage", "no activity for more than 24h (-max-age)",
		"sessions are kept for 24 hours after their last activity"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the home page lacks %q", want)
		}
	}
	var list struct {
		Retention sessions.RetentionReport `json:"retention"`
	}
	if a.do("GET", "/api/sessions", nil, &list); len(list.Retention.Deleted) != 1 || list.Retention.Deleted[0].Reason == "" {
		t.Errorf("the API's retention: %+v", list.Retention)
	}
	if code, _, body := a.get(strings.TrimPrefix(sh.URL, a.URL)); code != http.StatusNotFound || !bytes.Contains(body, []byte("no such share link")) {
		t.Errorf("the deleted session's link: %d %s", code, body)
	}
}
