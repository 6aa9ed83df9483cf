package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// faultNames lists the faults of session's server id, as its owner reads them.
func faultNames(t *testing.T, b *browser, session, id string) []string {
	t.Helper()
	var v ownView
	if code := b.do("GET", "/api/sessions/"+session, nil, &v); code != http.StatusOK {
		t.Fatalf("session %s: %d", session, code)
	}
	for _, s := range v.Servers {
		if s.ID == id {
			var names []string
			for _, f := range s.Faults {
				names = append(names, f.Name)
			}
			return names
		}
	}
	t.Fatalf("session %s has no server %s: %+v", session, id, v.Servers)
	return nil
}

// echoReset writes 20 bytes to addr with a real socket and reads until the
// connection ends: it returns the bytes echoed and whether it ended by a
// reset (ECONNRESET).
func echoReset(t *testing.T, addr string) (int, bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte("0123456789abcdefghij")); err != nil {
		return 0, errors.Is(err, syscall.ECONNRESET)
	}
	got := 0
	buf := make([]byte, 64)
	for got < 20 {
		n, err := c.Read(buf)
		got += n
		if err != nil {
			return got, errors.Is(err, syscall.ECONNRESET)
		}
	}
	return got, false
}

// waitRecorded waits until session has at least n events committed, as
// its owner (or the instructor) b reads it.
func waitRecorded(t *testing.T, b *browser, session string, n int64) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		var s struct{ Events int64 }
		if code := b.do("GET", "/api/sessions/"+session, nil, &s); code != http.StatusOK {
			t.Fatalf("session %s: %d", session, code)
		}
		if s.Events >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s: %d events recorded; waited for %d", session, s.Events, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) startServer(session, kind string) (id, addr string) {
	b.t.Helper()
	var srv struct{ ID, Addr string }
	if code := b.do("POST", "/api/sessions/"+session+"/servers", map[string]any{"kind": kind, "port": 0}, &srv); code != http.StatusCreated {
		b.t.Fatalf("start %s in %s: %d", kind, session, code)
	}
	return srv.ID, srv.Addr
}

// Pushing a fault to everyone: it goes on every running server of the kind
// (Ada's and Bob's echo servers), on servers started after the push too, and
// a real client sees the reset; lifting it takes it off them all, and a
// server started after the lift has none. Each refusal says why.
func TestWorkshopPushFault(t *testing.T) {
	f := newWorkshopFixture(t)
	base := "/api/workshops/" + f.w.ID + "/faults"
	push := map[string]any{"type": "reset", "attributes": map[string]int{"bytes": 10}, "kinds": []string{"tcp-echo"}}

	if code := f.ada.do("POST", base, push, nil); code != http.StatusUnauthorized {
		t.Errorf("a participant pushes a fault: %d; want 401", code)
	}
	var res pushResult
	if code := f.inst.do("POST", base, push, &res); code != http.StatusCreated {
		t.Fatalf("push: %d", code)
	}
	if res.Servers != 2 || len(res.Skipped) != 0 || res.Fault == nil || res.Fault.Spec.Name != "workshop-reset" {
		t.Errorf("push result %+v; want 2 servers, named workshop-reset", res)
	}
	if got := faultNames(t, f.bob, f.bobJ.Session, f.bobSrv); strings.Join(got, ",") != f.bobFault+",workshop-reset" {
		t.Errorf("Bob's server faults %v; want his own and workshop-reset", got)
	}
	// A server started after the push has it from its first accept: a real
	// client gets 10 bytes back, then a reset.
	later, addr := f.ada.startServer(f.adaJ.Session, "tcp-echo")
	if got := faultNames(t, f.ada, f.adaJ.Session, later); strings.Join(got, ",") != "workshop-reset" {
		t.Errorf("a server started after the push has faults %v; want workshop-reset", got)
	}
	if n, reset := echoReset(t, addr); !reset || n > 10 {
		t.Errorf("through the pushed fault: %d bytes echoed, reset %v; want at most 10, then ECONNRESET", n, reset)
	}
	// Another kind is not touched.
	udp, _ := f.ada.startServer(f.adaJ.Session, "udp-echo")
	if got := faultNames(t, f.ada, f.adaJ.Session, udp); len(got) != 0 {
		t.Errorf("a udp-echo server got %v", got)
	}

	// Refusals, each with what was wrong.
	for _, c := range []struct {
		body   any
		status int
		says   string
	}{
		{push, http.StatusConflict, "already pushed"},
		{map[string]any{"attributes": map[string]int{"bytes": 1}}, http.StatusBadRequest, `"type" is one of`},
		{map[string]any{"type": "nosuch"}, http.StatusBadRequest, "nosuch"},
		{map[string]any{"type": "reset", "kinds": []string{"ftp"}}, http.StatusBadRequest, `"ftp" is not a server kind`},
		{map[string]any{"type": "reset", "name": "r2", "attributes": map[string]int{"bytes": -1}}, http.StatusBadRequest, "bytes"},
		{map[string]any{"type": "drop", "name": "d", "kinds": []string{"tcp-echo"}}, http.StatusBadRequest, "tcp-echo server does not take"},
		{`{"type":"reset","nosuch":1}`, http.StatusBadRequest, "nosuch"},
	} {
		var out struct{ Error string }
		if code := f.inst.do("POST", base, c.body, &out); code != c.status || !strings.Contains(out.Error, c.says) {
			t.Errorf("push %v: %d %q; want %d saying %q", c.body, code, out.Error, c.status, c.says)
		}
	}

	// The page shows the pushed fault to the participant.
	var lv liveView
	if code := f.ada.do("GET", "/api/sessions/"+f.adaJ.Session+"/workshop", nil, &lv); code != http.StatusOK || lv.Workshop == nil ||
		len(lv.Workshop.Faults) != 1 || !strings.Contains(lv.Workshop.Faults[0].What, "reset (bytes 10) on tcp-echo servers") {
		t.Errorf("Ada's workshop view: %d %+v", code, lv.Workshop)
	}

	// Lift: off every server that has it; a new server has none.
	if code := f.ada.do("DELETE", base+"/workshop-reset", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("a participant lifts a fault: %d; want 401", code)
	}
	if code := f.inst.do("DELETE", base+"/workshop-reset", nil, &res); code != http.StatusOK || res.Servers != 3 {
		t.Errorf("lift: %d %+v; want 3 servers", code, res)
	}
	if got := faultNames(t, f.bob, f.bobJ.Session, f.bobSrv); strings.Join(got, ",") != f.bobFault {
		t.Errorf("Bob's server after the lift: %v; want only his own", got)
	}
	after, addr := f.ada.startServer(f.adaJ.Session, "tcp-echo")
	if got := faultNames(t, f.ada, f.adaJ.Session, after); len(got) != 0 {
		t.Errorf("a server started after the lift has %v", got)
	}
	if n, reset := echoReset(t, addr); reset || n != 20 {
		t.Errorf("after the lift: %d bytes, reset %v; want all 20 back", n, reset)
	}
	var out struct{ Error string }
	if code := f.inst.do("DELETE", base+"/workshop-reset", nil, &out); code != http.StatusNotFound || !strings.Contains(out.Error, "workshop-reset") {
		t.Errorf("lift it again: %d %q; want 404 naming it", code, out.Error)
	}
	if code := f.inst.do("POST", "/api/workshops/wnosuch/faults", push, nil); code != http.StatusNotFound {
		t.Errorf("push to a workshop that does not exist: %d", code)
	}
	// An ended workshop takes no more.
	f.inst.do("POST", "/api/workshops/"+f.w.ID+"/end", nil, nil)
	if code := f.inst.do("POST", base, push, &out); code != http.StatusConflict || !strings.Contains(out.Error, "ended") {
		t.Errorf("push to an ended workshop: %d %q; want 409", code, out.Error)
	}
}

// A pushed fault outlives a restart of sockplay's web side: it is stored
// with the workshop, so a server started later still gets it.
func TestWorkshopPushedFaultIsStored(t *testing.T) {
	f := newWorkshopFixture(t)
	if code := f.inst.do("POST", "/api/workshops/"+f.w.ID+"/faults", `{"type":"latency","attributes":{"latency_ms":5}}`, nil); code != http.StatusCreated {
		t.Fatal(code)
	}
	wk, err := f.a.Store.GetWorkshop(context.Background(), f.w.ID)
	if err != nil || len(wk.Faults) != 1 || wk.Faults[0].Spec.Name != "workshop-latency" || len(wk.Faults[0].Kinds) != 0 {
		t.Fatalf("stored %+v %v", wk.Faults, err)
	}
	// Without kinds it goes on every kind it fits: an http-api server too.
	id, _ := f.bob.startServer(f.bobJ.Session, "http-api")
	if got := faultNames(t, f.bob, f.bobJ.Session, id); strings.Join(got, ",") != "workshop-latency" {
		t.Errorf("http-api server faults %v", got)
	}
}

// Freeze: participants can start nothing (409 saying the instructor paused
// the workshop, on the API and on the page's form); what runs goes on;
// the instructor's own sessions are not frozen; unfreeze lets them again.
func TestWorkshopFreeze(t *testing.T) {
	f := newWorkshopFixture(t)
	path := "/api/workshops/" + f.w.ID + "/freeze"
	if code := f.ada.do("POST", path, map[string]bool{"frozen": true}, nil); code != http.StatusUnauthorized {
		t.Errorf("a participant freezes: %d; want 401", code)
	}
	var out struct{ Error string }
	if code := f.inst.do("POST", path, `{}`, &out); code != http.StatusBadRequest || !strings.Contains(out.Error, `"frozen"`) {
		t.Errorf("freeze without frozen: %d %q", code, out.Error)
	}
	var wk struct{ Frozen bool }
	if code := f.inst.do("POST", path, map[string]bool{"frozen": true}, &wk); code != http.StatusOK || !wk.Frozen {
		t.Fatalf("freeze: %d %+v", code, wk)
	}
	if code := f.ada.do("POST", "/api/sessions/"+f.adaJ.Session+"/servers", map[string]any{"kind": "tcp-echo", "port": 0}, &out); code != http.StatusConflict ||
		!strings.Contains(out.Error, "paused the workshop") {
		t.Errorf("start while frozen: %d %q; want 409 saying the workshop is paused", code, out.Error)
	}
	if code := f.bob.do("POST", "/api/sessions/"+f.bobJ.Session+"/clients", map[string]any{"kind": "tcp", "target": f.bobAddr}, &out); code != http.StatusConflict ||
		!strings.Contains(out.Error, "paused the workshop") {
		t.Errorf("open a client while frozen: %d %q; want 409", code, out.Error)
	}
	res, raw := f.ada.send("POST", "/s/"+f.adaJ.Session+"/servers", "kind=tcp-echo&port=0", true)
	if res.StatusCode != http.StatusConflict || !bytes.Contains(raw, []byte("paused the workshop")) {
		t.Errorf("the page's start form while frozen: %d, says paused: %v", res.StatusCode, bytes.Contains(raw, []byte("paused the workshop")))
	}
	// What runs goes on: Bob's client still sends.
	var sent struct{ Sent int }
	if code := f.bob.do("POST", "/api/sessions/"+f.bobJ.Session+"/clients/"+f.bobCli+"/send", map[string]string{"text": "hi"}, &sent); code != http.StatusOK || sent.Sent != 2 {
		t.Errorf("send while frozen: %d", code)
	}
	// The participant's page learns of it.
	var lv liveView
	f.ada.do("GET", "/api/sessions/"+f.adaJ.Session+"/workshop", nil, &lv)
	if lv.Workshop == nil || !lv.Workshop.Frozen || lv.Viewer != "participant" || lv.ReadOnly {
		t.Errorf("Ada's view while frozen: %+v %+v", lv, lv.Workshop)
	}
	// The instructor's own session is not a participant's: not frozen.
	var own struct{ ID string }
	if code := f.inst.do("POST", "/api/sessions", map[string]string{"name": "demo"}, &own); code != http.StatusCreated {
		t.Fatal(code)
	}
	f.inst.startServer(own.ID, "tcp-echo")

	if code := f.inst.do("POST", path, map[string]bool{"frozen": false}, &wk); code != http.StatusOK || wk.Frozen {
		t.Fatalf("unfreeze: %d", code)
	}
	f.ada.startServer(f.adaJ.Session, "tcp-echo")
}

// Broadcast: the message reaches a participant's long poll as soon as it is
// sent, and clearing it takes the banner down; bad text is refused.
func TestWorkshopBroadcast(t *testing.T) {
	f := newWorkshopFixture(t)
	live := "/api/sessions/" + f.adaJ.Session + "/workshop"
	var lv liveView
	if code := f.ada.do("GET", live, nil, &lv); code != http.StatusOK || lv.Workshop == nil || lv.Workshop.Message != "" || lv.Workshop.Participant != "Ada" {
		t.Fatalf("before: %d %+v", code, lv.Workshop)
	}
	got := make(chan liveView, 1)
	go func() {
		var v liveView
		f.ada.do("GET", live+"?wait=8&v="+itoa64(lv.Version), nil, &v)
		got <- v
	}()
	path := "/api/workshops/" + f.w.ID + "/message"
	// Wait until the poll is waiting: its version is the current one, so it
	// returns only on a change (or after 8 s without the message).
	time.Sleep(200 * time.Millisecond) // (only makes the test exercise the wait; it passes either way)
	if code := f.inst.do("POST", path, map[string]string{"message": "  Break until 11:00  "}, nil); code != http.StatusOK {
		t.Fatal(code)
	}
	v := <-got
	if v.Version == lv.Version || v.Workshop == nil || v.Workshop.Message != "Break until 11:00" || v.Workshop.MessageAt.IsZero() {
		t.Errorf("the long poll answered %+v %+v; want the message", v, v.Workshop)
	}
	for body, says := range map[string]string{
		`{}`: `"message"`,
		`{"message":"` + strings.Repeat("x", 501) + `"}`: "longer than 500",
		`{"message":"a\u202eb"}`:                         "invisible",
	} {
		var out struct{ Error string }
		if code := f.inst.do("POST", path, body, &out); code != http.StatusBadRequest || !strings.Contains(out.Error, says) {
			t.Errorf("message %.40s: %d %q; want 400 saying %q", body, code, out.Error, says)
		}
	}
	if code := f.bob.do("POST", path, map[string]string{"message": "hi"}, nil); code != http.StatusUnauthorized {
		t.Errorf("a participant broadcasts: %d; want 401", code)
	}
	f.inst.do("POST", path, map[string]string{"message": ""}, nil)
	f.bob.do("GET", "/api/sessions/"+f.bobJ.Session+"/workshop", nil, &lv)
	if lv.Workshop == nil || lv.Workshop.Message != "" {
		t.Errorf("after clearing: %+v", lv.Workshop)
	}
	// The instructor reading Bob's session is told it is read-only.
	f.inst.do("GET", "/api/sessions/"+f.bobJ.Session+"/workshop", nil, &lv)
	if lv.Viewer != "instructor" || !lv.ReadOnly || lv.Workshop.Participant != "Bob" {
		t.Errorf("the instructor's view of Bob's session: %+v", lv)
	}
}

// The dashboard: the participant with errors comes first with why, event
// rates and counts follow what happened, the table fragment and the QR code
// are the instructor's only.
func TestWorkshopDashboardNeedsHelp(t *testing.T) {
	f := newWorkshopFixture(t)
	carl, carlJ := f.a.participant(f.w.Code, "Carl")
	_ = carl
	// Bob dials a lab port nobody listens on any more: ECONNREFUSED.
	gone, dead := f.bob.startServer(f.bobJ.Session, "tcp-echo")
	if code := f.bob.do("DELETE", "/api/sessions/"+f.bobJ.Session+"/servers/"+gone, nil, nil); code != http.StatusOK {
		t.Fatalf("stop: %d", code)
	}
	f.bob.do("POST", "/api/sessions/"+f.bobJ.Session+"/clients", map[string]any{"kind": "tcp", "target": dead}, nil)

	var wv workshopView
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code := f.inst.do("GET", "/api/workshops/"+f.w.ID+"?sort=help", nil, &wv); code != http.StatusOK {
			t.Fatal(code)
		}
		if len(wv.Participants) == 3 && wv.Participants[0].Name == "Bob" && wv.Participants[0].LastError != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Bob's error never put him first: %+v", wv.Participants)
		}
		time.Sleep(100 * time.Millisecond)
	}
	bob := wv.Participants[0]
	if bob.LastError.Errno != "ECONNREFUSED" || bob.Errors < 1 || !strings.Contains(bob.NeedsHelp, "ECONNREFUSED") {
		t.Errorf("Bob's row: %+v", bob)
	}
	// Carl, who ran nothing, comes before Ada, who has a server and no error.
	if wv.Participants[1].Name != "Carl" || wv.Participants[1].NeedsHelp != "nothing run yet" || wv.Participants[2].Name != "Ada" {
		t.Errorf("order %s, %s (%q), %s; want Bob, Carl (nothing run yet), Ada", wv.Participants[0].Name, wv.Participants[1].Name, wv.Participants[1].NeedsHelp, wv.Participants[2].Name)
	}
	// Without sort=help: the order they joined.
	f.inst.do("GET", "/api/workshops/"+f.w.ID, nil, &wv)
	if wv.Participants[0].Name != "Ada" || wv.Participants[2].Name != "Carl" {
		t.Errorf("join order: %s, %s, %s", wv.Participants[0].Name, wv.Participants[1].Name, wv.Participants[2].Name)
	}
	// The event rate: Bob's client sends 20 messages; a look at least a
	// second after the previous one sees them.
	for range 20 {
		f.bob.do("POST", "/api/sessions/"+f.bobJ.Session+"/clients/"+f.bobCli+"/send", map[string]string{"text": "x"}, nil)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		time.Sleep(1100 * time.Millisecond) // the rate is measured over at least a second
		f.inst.do("GET", "/api/workshops/"+f.w.ID, nil, &wv)
		if wv.Participants[1].Rate > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Bob's rate stayed 0: %+v", wv.Participants[1])
		}
	}
	_ = carlJ

	// The fragment the page polls, and the QR code.
	res, raw := f.inst.send("GET", "/instructor/workshops/"+f.w.ID+"/participants", "", false)
	if res.StatusCode != http.StatusOK || !bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`<tbody id="participant-rows"`)) || !bytes.Contains(raw, []byte("Carl")) {
		t.Errorf("rows fragment: %d %.200s", res.StatusCode, raw)
	}
	res, raw = f.inst.send("GET", "/instructor/workshops/"+f.w.ID+"/qr.svg", "", false)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/svg+xml" || !bytes.HasPrefix(raw, []byte("<svg")) {
		t.Errorf("QR: %d %s %.80s", res.StatusCode, res.Header.Get("Content-Type"), raw)
	}
	for _, p := range []string{"/participants", "/qr.svg", ""} {
		if res, _ := f.ada.send("GET", "/instructor/workshops/"+f.w.ID+p, "", false); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("a participant GET /instructor/workshops/{wid}%s: %d; want 401", p, res.StatusCode)
		}
	}
	res, raw = f.inst.send("GET", "/instructor/workshops/"+f.w.ID, "", false)
	if res.StatusCode != http.StatusOK || !bytes.Contains(raw, []byte(f.w.Code)) || !bytes.Contains(raw, []byte("qr.svg")) {
		t.Errorf("dashboard page: %d", res.StatusCode)
	}
}

// The dashboard's forms work without JavaScript: push (and lift), message,
// freeze; a bad one shows the dashboard again with what was wrong.
func TestWorkshopDashboardForms(t *testing.T) {
	f := newWorkshopFixture(t)
	base := "/instructor/workshops/" + f.w.ID
	for _, c := range []struct{ path, body string }{
		{"/faults", "type=reset&amount=10&kind=tcp-echo"},
		{"/message", "message=Hello+everyone"},
		{"/freeze", "frozen=1"},
	} {
		if res, raw := f.inst.send("POST", base+c.path, c.body, true); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != base {
			t.Errorf("POST %s: %d %s", c.path, res.StatusCode, raw)
		}
	}
	wk, err := f.a.Store.GetWorkshop(context.Background(), f.w.ID)
	if err != nil || !wk.Frozen || wk.Message != "Hello everyone" || len(wk.Faults) != 1 || string(wk.Faults[0].Spec.Attributes) != `{"bytes":10}` {
		t.Fatalf("after the forms: %+v %v", wk, err)
	}
	res, raw := f.inst.send("POST", base+"/faults", "type=reset&amount=ten", true)
	if res.StatusCode != http.StatusBadRequest || !bytes.Contains(raw, []byte("not a whole number")) || !bytes.Contains(raw, []byte(`data-testid="workshop-dashboard"`)) {
		t.Errorf("a bad amount: %d %.300s", res.StatusCode, raw)
	}
	if res, _ := f.inst.send("POST", base+"/faults/workshop-reset/lift", "", true); res.StatusCode != http.StatusSeeOther {
		t.Errorf("lift: %d", res.StatusCode)
	}
	if res, _ := f.ada.send("POST", base+"/freeze", "frozen=0", true); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a participant's freeze form: %d; want 401", res.StatusCode)
	}
}

// The workshop's export: one zip, streamed, with each participant's
// session as jsonl and pcapng, read by Python's zipfile (no code of ours)
// and tshark when present; the jsonl has every event of the session.
func TestWorkshopExportZip(t *testing.T) {
	f := newWorkshopFixture(t)
	f.bob.do("POST", "/api/sessions/"+f.bobJ.Session+"/clients/"+f.bobCli+"/send", map[string]string{"text": "hello"}, nil)
	for deadline := time.Now().Add(30 * time.Second); ; {
		var out struct{ Events []sessions.Record }
		f.bob.do("GET", "/api/sessions/"+f.bobJ.Session+"/events?limit=1000", nil, &out)
		if slices.ContainsFunc(out.Events, func(e sessions.Record) bool { return e.Kind == "send" && e.Len == 5 && e.Server != "" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Bob's echo was never recorded")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if res, _ := f.ada.send("GET", "/api/workshops/"+f.w.ID+"/export.zip", "", false); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a participant exports the workshop: %d; want 401", res.StatusCode)
	}
	res, raw := f.inst.send("GET", "/api/workshops/"+f.w.ID+"/export.zip", "", false)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/zip" ||
		!strings.Contains(res.Header.Get("Content-Disposition"), `filename=Sockets.zip`) {
		t.Fatalf("export: %d %v", res.StatusCode, res.Header)
	}
	if res.ContentLength != -1 {
		t.Errorf("Content-Length %d: the archive should be streamed", res.ContentLength)
	}
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "w.zip")
	if err := os.WriteFile(zipPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	out, err := exec.Command(py, "-c", `
import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
for n in sorted(z.namelist()):
    b = z.read(n)
    if n.endswith(".jsonl"):
        lines = b.decode().splitlines()
        head = json.loads(lines[0])
        print(n, "jsonl", len(lines) - 1, head.get("session", {}).get("id", ""))
    elif n.endswith(".pcapng"):
        print(n, "pcapng", b[:4].hex())
    else:
        print(n, "text", len(b))
z.extractall(sys.argv[2])
`, zipPath, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("python zipfile: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 5 {
		t.Fatalf("archive holds %d files; want 2 per participant and README.txt:\n%s", len(lines), out)
	}
	var bobEv struct{ Events []sessions.Record }
	f.bob.do("GET", "/api/sessions/"+f.bobJ.Session+"/events?limit=1000", nil, &bobEv)
	bobEvents := bobEv.Events
	var sawBob bool
	for _, l := range lines {
		fs := strings.Fields(l)
		switch {
		case strings.HasSuffix(fs[0], ".pcapng") && fs[2] != "0a0d0d0a":
			t.Errorf("%s does not start as pcapng: %s", fs[0], fs[2])
		case strings.HasPrefix(fs[0], "02-Bob-") && strings.HasSuffix(fs[0], ".jsonl"):
			sawBob = true
			if n, _ := strconv.Atoi(fs[2]); n < len(bobEvents) {
				t.Errorf("Bob's jsonl has %s events; the session had %d", fs[2], len(bobEvents))
			}
			if fs[3] != f.bobJ.Session {
				t.Errorf("Bob's jsonl header names session %s", fs[3])
			}
		}
	}
	if !sawBob {
		t.Errorf("no 02-Bob-… jsonl in\n%s", out)
	}
	if tshark, err := exec.LookPath("tshark"); err == nil {
		matches, _ := filepath.Glob(filepath.Join(dir, "02-Bob-*", "session.pcapng"))
		if len(matches) == 1 {
			pk, err := exec.Command(tshark, "-r", matches[0], "-Y", "tcp.payload", "-T", "fields", "-e", "tcp.payload").Output()
			if err != nil || !strings.Contains(string(pk), "68656c6c6f") { // "hello"
				t.Errorf("tshark on Bob's pcapng: %v %q", err, pk)
			}
		}
	}
}

// End and retention: after the workshop ends, participants read and export
// their sessions but change nothing; once the retention period has passed
// the sweep deletes them.
func TestWorkshopEndThenRetention(t *testing.T) {
	a := newTestApp(t, withWorkshop(func(c *Config) { c.WorkshopRetention = time.Millisecond }))
	inst := a.instructor()
	w := inst.createWorkshop("Short")
	ada, adaJ := a.participant(w.Code, "Ada")
	ada.startServer(adaJ.Session, "tcp-echo")
	waitRecorded(t, ada, adaJ.Session, 1)
	if n, err := a.Site.SweepWorkshops(context.Background()); err != nil || n != 0 {
		t.Fatalf("sweep of an open workshop: %d %v", n, err)
	}
	if code := inst.do("POST", "/api/workshops/"+w.ID+"/end", nil, nil); code != http.StatusOK {
		t.Fatal(code)
	}
	if res, raw := ada.send("GET", "/api/sessions/"+adaJ.Session+"/export.jsonl", "", false); res.StatusCode != http.StatusOK || !bytes.Contains(raw, []byte("server-start")) {
		t.Errorf("Ada exports her ended session: %d %.300s", res.StatusCode, raw)
	}
	var out struct{ Error string }
	if code := ada.do("POST", "/api/sessions/"+adaJ.Session+"/servers", map[string]any{"kind": "tcp-echo", "port": 0}, &out); code != http.StatusForbidden || !strings.Contains(out.Error, "ended") {
		t.Errorf("start after the end: %d %q", code, out.Error)
	}
	var lv liveView
	ada.do("GET", "/api/sessions/"+adaJ.Session+"/workshop", nil, &lv)
	if lv.Workshop == nil || !lv.Workshop.Ended || !lv.ReadOnly {
		t.Errorf("Ada's view after the end: %+v", lv)
	}
	time.Sleep(5 * time.Millisecond) // past the 1 ms retention
	if n, err := a.Site.SweepWorkshops(context.Background()); err != nil || n != 1 {
		t.Fatalf("sweep after the retention: %d %v; want 1", n, err)
	}
	if code := inst.do("GET", "/api/sessions/"+adaJ.Session, nil, nil); code != http.StatusNotFound {
		t.Errorf("Ada's session after the retention: %d; want 404", code)
	}
}

// Showing a session to everyone: the instructor picks Bob's session; Ada's
// banner links to a read-only share of it that she can open (and Bob's says
// his is shown); a session of no participant of the workshop is 404;
// stopping revokes the link.
func TestWorkshopShowToEveryone(t *testing.T) {
	f := newWorkshopFixture(t)
	path := "/api/workshops/" + f.w.ID + "/show"
	if code := f.ada.do("POST", path, map[string]string{"session": f.adaJ.Session}, nil); code != http.StatusUnauthorized {
		t.Errorf("a participant shows a session: %d; want 401", code)
	}
	var out struct{ Session, URL, Error string }
	if code := f.inst.do("POST", path, `{}`, &out); code != http.StatusBadRequest || !strings.Contains(out.Error, `"session"`) {
		t.Errorf("without session: %d %q", code, out.Error)
	}
	var own struct{ ID string }
	f.inst.do("POST", "/api/sessions", map[string]string{"name": "demo"}, &own)
	for _, id := range []string{own.ID, "nosuchsessionxxxxxxxxxxx"} {
		if code := f.inst.do("POST", path, map[string]string{"session": id}, &out); code != http.StatusNotFound {
			t.Errorf("show %s (no participant's): %d %q; want 404", id, code, out.Error)
		}
	}
	if code := f.inst.do("POST", path, map[string]string{"session": f.bobJ.Session}, &out); code != http.StatusOK || out.Session != f.bobJ.Session || !strings.Contains(out.URL, "/shared/") {
		t.Fatalf("show Bob's: %d %+v", code, out)
	}
	var lv liveView
	f.ada.do("GET", "/api/sessions/"+f.adaJ.Session+"/workshop", nil, &lv)
	if lv.Workshop == nil || lv.Workshop.Spotlight == nil || lv.Workshop.Spotlight.Participant != "Bob" || lv.Workshop.Spotlight.Yours {
		t.Fatalf("Ada's view: %+v", lv.Workshop)
	}
	link := lv.Workshop.Spotlight.URL
	if res, raw := f.ada.send("GET", link, "", false); res.StatusCode != http.StatusOK || !bytes.Contains(raw, []byte("Bob")) {
		t.Errorf("Ada opens the shown session: %d", res.StatusCode)
	}
	f.bob.do("GET", "/api/sessions/"+f.bobJ.Session+"/workshop", nil, &lv)
	if lv.Workshop.Spotlight == nil || !lv.Workshop.Spotlight.Yours {
		t.Errorf("Bob's view: %+v", lv.Workshop.Spotlight)
	}
	// Ada still cannot reach Bob's session itself.
	if code := f.ada.do("GET", "/api/sessions/"+f.bobJ.Session, nil, nil); code != http.StatusNotFound {
		t.Errorf("Ada on Bob's session while it is shown: %d; want 404", code)
	}
	if code := f.inst.do("POST", path, map[string]string{"session": ""}, &out); code != http.StatusOK || out.URL != "" {
		t.Errorf("stop showing: %d %+v", code, out)
	}
	if res, _ := f.ada.send("GET", link, "", false); res.StatusCode != http.StatusNotFound {
		t.Errorf("the link after stopping: %d; want 404", res.StatusCode)
	}
	lv = liveView{}
	f.ada.do("GET", "/api/sessions/"+f.adaJ.Session+"/workshop", nil, &lv)
	if lv.Workshop.Spotlight != nil {
		t.Errorf("Ada's view after stopping: %+v", lv.Workshop.Spotlight)
	}
}

// Lesson progress on the dashboard: a participant following a lesson shows
// steps done / steps, and with none done is "needs help" before one who
// has done some.
func TestWorkshopDashboardLessonProgress(t *testing.T) {
	f := newWorkshopFixture(t)
	if f.a.Site.lessons == nil {
		t.Skip("lessons are off")
	}
	ctx := context.Background()
	for _, s := range []string{f.adaJ.Session, f.bobJ.Session} {
		if err := f.a.Site.lessons.Follow(ctx, s, "tcp-echo-basics"); err != nil {
			t.Fatal(err)
		}
	}
	// Bob connects to a server named as the lesson's ("echo"): its first
	// step, Connect, is done. Ada has done nothing of it.
	var srv struct{ ID, Addr string }
	if code := f.bob.do("POST", "/api/sessions/"+f.bobJ.Session+"/servers", map[string]any{"kind": "tcp-echo", "port": 0, "name": "echo"}, &srv); code != http.StatusCreated {
		t.Fatal(code)
	}
	if code := f.bob.do("POST", "/api/sessions/"+f.bobJ.Session+"/clients", map[string]any{"kind": "tcp", "target": srv.Addr}, nil); code != http.StatusCreated {
		t.Fatal(code)
	}
	var wv workshopView
	for deadline := time.Now().Add(30 * time.Second); ; {
		f.inst.do("GET", "/api/workshops/"+f.w.ID+"?sort=help", nil, &wv)
		if len(wv.Participants) == 2 && wv.Participants[1].Lesson != nil && wv.Participants[1].Lesson.Done >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Bob's lesson progress never showed: %+v", wv.Participants)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ada, bob := wv.Participants[0], wv.Participants[1]
	if ada.Name != "Ada" || ada.Lesson == nil || ada.Lesson.Done != 0 || ada.Lesson.Steps != 4 || ada.Lesson.Title != "TCP echo basics" ||
		!strings.Contains(ada.NeedsHelp, "no step of the lesson done") {
		t.Errorf("Ada (first: no step done): %+v %+v", ada, ada.Lesson)
	}
	if bob.Name != "Bob" || bob.Lesson.Steps != 4 {
		t.Errorf("Bob: %+v %+v", bob, bob.Lesson)
	}
	_, raw := f.inst.send("GET", "/instructor/workshops/"+f.w.ID+"/participants", "", false)
	if !bytes.Contains(raw, []byte(">0/4<")) {
		t.Errorf("the table does not show Ada's 0/4: %.600s", raw)
	}
}

// A workshop participant may have one session, the one they joined into:
// a lesson they start runs there (201, their session), beside what they
// already run, and counts only what happens from then on — Ada's own echo
// server named "echo", connected to and sent hello before, completes
// nothing; the lesson's own server does, and the dashboard follows.
func TestWorkshopParticipantStartsALessonInTheirSession(t *testing.T) {
	f := newWorkshopFixture(t)
	if f.a.Site.lessons == nil {
		t.Skip("lessons are off")
	}
	sid := f.adaJ.Session
	var own struct{ ID, Addr string }
	if code := f.ada.do("POST", "/api/sessions/"+sid+"/servers", map[string]any{"kind": "tcp-echo", "name": "echo"}, &own); code != http.StatusCreated {
		t.Fatal(code)
	}
	var cli struct{ ID string }
	if code := f.ada.do("POST", "/api/sessions/"+sid+"/clients", map[string]any{"kind": "tcp", "target": own.Addr}, &cli); code != http.StatusCreated {
		t.Fatal(code)
	}
	if code := f.ada.do("POST", "/api/sessions/"+sid+"/clients/"+cli.ID+"/send", map[string]string{"text": "hello\n"}, nil); code != http.StatusOK {
		t.Fatal(code)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		var page struct{ Events []sessions.Record }
		f.ada.do("GET", "/api/sessions/"+sid+"/events?limit=5000", nil, &page)
		if hasRecv("hello\n")(page.Events) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Ada's hello was never recorded")
		}
		time.Sleep(50 * time.Millisecond)
	}

	var started struct{ Session, URL string }
	if code := f.ada.do("POST", "/api/lessons/tcp-echo-basics/start", nil, &started); code != http.StatusCreated || started.Session != sid {
		t.Fatalf("Ada starts a lesson: %d %+v; want 201 and her own session %s", code, started, sid)
	}
	var lv lessonRun
	if code := f.ada.do("GET", "/api/sessions/"+sid+"/lesson", nil, &lv); code != http.StatusOK || lv.Lesson.ID != "tcp-echo-basics" {
		t.Fatalf("her lesson: %d %+v", code, lv.Lesson)
	}
	for _, st := range lv.Steps {
		if st.Done {
			t.Errorf("step %q done by what happened before the lesson began", st.Title)
		}
	}
	// The lesson's echo server runs in her block, beside her own.
	var view struct {
		Servers []struct{ ID, Name, Addr, State string }
	}
	f.ada.do("GET", "/api/sessions/"+sid, nil, &view)
	var lessonAddr string
	for _, s := range view.Servers {
		if s.Name == "echo" && s.ID != own.ID && s.State == string(engine.StateRunning) {
			lessonAddr = s.Addr
		}
	}
	if lessonAddr == "" {
		t.Fatalf("no lesson server beside hers: %+v", view.Servers)
	}
	// A second click starts nothing more: the same session, the same
	// servers (hers and the lesson's echo), the steps where they were.
	if code := f.ada.do("POST", "/api/lessons/tcp-echo-basics/start", nil, &started); code != http.StatusCreated || started.Session != sid {
		t.Fatalf("Ada starts the lesson again: %d %+v; want 201 and her own session %s", code, started, sid)
	}
	f.ada.do("GET", "/api/sessions/"+sid, nil, &view)
	echoes := 0
	for _, s := range view.Servers {
		if s.Name == "echo" && s.State == string(engine.StateRunning) {
			echoes++
		}
	}
	if echoes != 2 {
		t.Fatalf("after a second start, %d echo servers run, want 2 (hers and the lesson's): %+v", echoes, view.Servers)
	}
	// Her terminal: nc to the lesson's server, hello.
	c, err := net.Dial("tcp", lessonAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 6)); err != nil {
		t.Fatal(err)
	}
	var wv workshopView
	for deadline := time.Now().Add(30 * time.Second); ; {
		f.inst.do("GET", "/api/workshops/"+f.w.ID, nil, &wv)
		if p := wv.Participants[0]; p.Lesson != nil && p.Lesson.Done >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dashboard never showed Ada's three steps: %+v", wv.Participants[0].Lesson)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if l := wv.Participants[0].Lesson; l.ID != "tcp-echo-basics" || l.Steps != 4 {
		t.Errorf("Ada's lesson on the dashboard: %+v", l)
	}
	// Bob, who has not started it, follows no lesson.
	if wv.Participants[1].Lesson != nil {
		t.Errorf("Bob's lesson: %+v", wv.Participants[1].Lesson)
	}
}
