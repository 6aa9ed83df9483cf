package web

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

func TestFaultRoutes(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	id, addr := a.startEcho(sess, nil)
	base := "/api/sessions/" + sess + "/servers/" + id + "/faults"

	var f engine.Fault
	if code := a.do("POST", base, `{"type":"reset","direction":"upstream","attributes":{"bytes":0}}`, &f); code != http.StatusCreated {
		t.Fatalf("POST: status %d", code)
	}
	if f.Name != "reset" || f.Type != "reset" || f.Toxicity != 1 || f.Direction != "upstream" {
		t.Errorf("POST answered %+v", f)
	}
	var list struct {
		Faults  []engine.Fault       `json:"faults"`
		Presets []engine.FaultPreset `json:"presets"`
	}
	if code := a.do("GET", base, nil, &list); code != http.StatusOK || len(list.Faults) != 1 || len(list.Presets) != 4 {
		t.Fatalf("GET: status %d, %+v", code, list)
	}

	// The fault acts: the peer is reset, and the recording has its event.
	// (The RST can come so soon that connect itself reports it.)
	c, err := net.Dial("tcp", addr)
	if err == nil {
		_, err = c.Read(make([]byte, 10))
		c.Close()
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read: %v, want ECONNRESET", err)
	}
	a.waitEvents(sess, "the fault event", func(evs []sessions.Record) bool {
		_, ok := findEvent(evs, func(e sessions.Record) bool {
			return e.Kind == engine.KindFault && e.Meta["fault"] == "reset" && e.Meta["action"] == "sent RST right after accept"
		})
		return ok
	})

	if code := a.do("PATCH", base+"/reset", `{"toxicity":0.5,"attributes":{"bytes":10}}`, &f); code != http.StatusOK || f.Toxicity != 0.5 {
		t.Errorf("PATCH: status %d, %+v", code, f)
	}
	if code := a.do("DELETE", base+"/reset", nil, nil); code != http.StatusNoContent {
		t.Errorf("DELETE: status %d", code)
	}
	var e apiErrBody
	checkErr(t, "DELETE absent", a.do("DELETE", base+"/reset", nil, &e), e, http.StatusNotFound, "", "reset")
}

func TestFaultRoutesBadInput(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	id, _ := a.startEcho(sess, nil)
	base := "/api/sessions/" + sess + "/servers/" + id + "/faults"
	for _, tc := range []struct {
		what, method, path, body string
		status                   int
		want                     string
	}{
		{"unknown type", "POST", base, `{"type":"lag"}`, 400, "valid types: bandwidth, drop"},
		{"unknown attribute", "POST", base, `{"type":"latency","attributes":{"ms":3}}`, 400, "valid attributes: latency_ms, jitter_ms"},
		{"toxicity 2", "POST", base, `{"type":"latency","toxicity":2}`, 400, "toxicity"},
		{"bandwidth 0", "POST", base, `{"type":"bandwidth","attributes":{"rate":0}}`, 400, `"rate"`},
		{"negative latency", "POST", base, `{"type":"latency","attributes":{"latency_ms":-1}}`, 400, `"latency_ms"`},
		{"udp fault on tcp", "POST", base, `{"type":"drop"}`, 400, "udp-echo"},
		{"unknown field", "POST", base, `{"type":"latency","speed":1}`, 400, "unknown field"},
		{"patch absent", "PATCH", base + "/nope", `{"toxicity":1}`, 404, "nope"},
		{"unknown server", "GET", "/api/sessions/" + sess + "/servers/srv-nope/faults", "", 404, "srv-nope"},
	} {
		var e apiErrBody
		var body any
		if tc.body != "" {
			body = tc.body
		}
		checkErr(t, tc.what, a.do(tc.method, tc.path, body, &e), e, tc.status, "", tc.want)
	}

	// A stopped server: 409.
	serverStarted(a, sess, id)
	if code := a.do("DELETE", "/api/sessions/"+sess+"/servers/"+id, nil, nil); code != http.StatusOK {
		t.Fatalf("stop: %d", code)
	}
	var e apiErrBody
	checkErr(t, "fault on a stopped server", a.do("POST", base, `{"type":"latency"}`, &e), e, http.StatusConflict, "", "stopped")
}

// Each preset's fault can be posted as it is.
func TestFaultPresetsPostAsTheyAre(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	id, _ := a.startEcho(sess, nil)
	base := "/api/sessions/" + sess + "/servers/" + id + "/faults"
	for _, p := range engine.FaultPresets {
		var f engine.Fault
		if code := a.do("POST", base, p.Fault, &f); code != http.StatusCreated {
			t.Errorf("preset %s: status %d", p.Label, code)
			continue
		}
		if code := a.do("DELETE", base+"/"+f.Name, nil, nil); code != http.StatusNoContent {
			t.Errorf("preset %s: DELETE status %d", p.Label, code)
		}
	}
}

// A server started with faults has them from its first accept; a wrong
// one refuses the start with a 400 naming the fault and its field, and
// nothing starts.
func TestStartServerWithFaults(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	var srv struct{ ID, Addr string }
	code := a.do("POST", "/api/sessions/"+sess+"/servers", `{"kind":"tcp-echo","port":0,"faults":[{"type":"reset","direction":"upstream","attributes":{"bytes":0}},{"name":"slow","type":"latency","enabled":false}]}`, &srv)
	if code != http.StatusCreated {
		t.Fatalf("start with faults: status %d", code)
	}
	c, err := net.Dial("tcp", srv.Addr)
	if err == nil {
		_, err = c.Read(make([]byte, 10))
		c.Close()
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read: %v, want ECONNRESET from the fault given at start", err)
	}
	var list struct{ Faults []engine.Fault }
	a.do("GET", "/api/sessions/"+sess+"/servers/"+srv.ID+"/faults", nil, &list)
	if len(list.Faults) != 2 || !list.Faults[0].Enabled || list.Faults[1].Enabled || list.Faults[1].Name != "slow" {
		t.Errorf("faults %+v", list.Faults)
	}
	a.waitEvents(sess, "server-start listing its faults", func(evs []sessions.Record) bool {
		_, ok := findEvent(evs, func(e sessions.Record) bool {
			fs, _ := e.Meta["faults"].([]any)
			return e.Kind == engine.KindServerStart && len(fs) == 2
		})
		return ok
	})

	for _, tc := range []struct{ what, body, want string }{
		{"unknown type", `{"kind":"tcp-echo","faults":[{"type":"latency"},{"type":"lag"}]}`, "faults[1].type"},
		{"bad attribute", `{"kind":"tcp-echo","faults":[{"type":"latency","attributes":{"latency_ms":-5}}]}`, "faults[0].attributes.latency_ms"},
		{"udp fault on tcp", `{"kind":"tcp-echo","faults":[{"type":"drop"}]}`, "only udp-echo has those"},
		{"stream fault on udp", `{"kind":"udp-echo","faults":[{"type":"stall"}]}`, "UDP has none"},
		{"not a list", `{"kind":"tcp-echo","faults":{"type":"stall"}}`, "faults"},
		{"unknown field", `{"kind":"tcp-echo","faults":[{"type":"stall","speed":1}]}`, "unknown field"},
	} {
		var e apiErrBody
		checkErr(t, tc.what, a.do("POST", "/api/sessions/"+sess+"/servers", tc.body, &e), e, http.StatusBadRequest, "", tc.want)
	}
	var v struct{ Servers []struct{ ID string } }
	a.do("GET", "/api/sessions/"+sess, nil, &v)
	if len(v.Servers) != 1 {
		t.Errorf("%d servers after the refused starts, want the 1 started", len(v.Servers))
	}
}

// PATCH switches a fault off and on; the API lists it with enabled.
func TestFaultSwitchThroughTheAPI(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	id, addr := a.startEcho(sess, nil)
	base := "/api/sessions/" + sess + "/servers/" + id + "/faults"
	a.do("POST", base, `{"type":"reset","attributes":{"bytes":0}}`, nil)
	var f engine.Fault
	if code := a.do("PATCH", base+"/reset", `{"enabled":false}`, &f); code != http.StatusOK || f.Enabled {
		t.Fatalf("PATCH enabled false: %d %+v", code, f)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hi"))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
		t.Errorf("echo with the reset switched off: %q, %v", buf, err)
	}
	if code := a.do("PATCH", base+"/reset", `{"enabled":true}`, &f); code != http.StatusOK || !f.Enabled {
		t.Errorf("PATCH enabled true: %d %+v", code, f)
	}
	var e apiErrBody
	checkErr(t, "enabled not a boolean", a.do("PATCH", base+"/reset", `{"enabled":"yes"}`, &e), e, http.StatusBadRequest, "", "enabled")
}

// A client's faults mirror a server's routes.
func TestClientFaultRoutes(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	_, addr := a.startEcho(sess, nil)
	cid := a.openClient(sess, addr)
	base := "/api/sessions/" + sess + "/clients/" + cid + "/faults"
	var f engine.Fault
	if code := a.do("POST", base, `{"type":"reset","direction":"upstream","attributes":{"bytes":2}}`, &f); code != http.StatusCreated || f.Name != "reset" {
		t.Fatalf("POST: %d %+v", code, f)
	}
	var list struct {
		Faults  []engine.Fault       `json:"faults"`
		Presets []engine.FaultPreset `json:"presets"`
	}
	if code := a.do("GET", base, nil, &list); code != http.StatusOK || len(list.Faults) != 1 || len(list.Presets) != 3 {
		t.Errorf("GET: %d %+v", code, list)
	}
	// The fault acts: the send passes 2 bytes, then the client resets.
	var e apiErrBody
	a.do("POST", "/api/sessions/"+sess+"/clients/"+cid+"/send", `{"text":"hello"}`, &e)
	a.waitEvents(sess, "the client's fault event", func(evs []sessions.Record) bool {
		_, ok := findEvent(evs, func(r sessions.Record) bool {
			return r.Kind == engine.KindFault && r.Server == cid && r.Meta["action"] == "sent RST after 2 bytes"
		})
		return ok
	})
	a.waitEvents(sess, "the server's ECONNRESET", func(evs []sessions.Record) bool {
		_, ok := findEvent(evs, func(r sessions.Record) bool {
			return r.Kind == engine.KindError && r.Server != cid && r.Err != nil && r.Err.Errno == "ECONNRESET"
		})
		return ok
	})
	// The client is closed now: a new fault is a 409; listing still works.
	checkErr(t, "fault on a closed client", a.do("POST", base, `{"type":"latency"}`, &e), e, http.StatusConflict, "", "closed")

	cid2 := a.openClient(sess, addr)
	base2 := "/api/sessions/" + sess + "/clients/" + cid2 + "/faults"
	for _, tc := range []struct {
		what, method, path, body string
		status                   int
		want                     string
	}{
		{"refuse on a client", "POST", base2, `{"type":"refuse"}`, 400, "cannot go on a client"},
		{"unknown type", "POST", base2, `{"type":"lag"}`, 400, "valid types"},
		{"bad params", "POST", base2, `{"type":"slicer","attributes":{"size":0}}`, 400, `"size"`},
		{"unknown client", "POST", "/api/sessions/" + sess + "/clients/cli-nope/faults", `{"type":"latency"}`, 404, "cli-nope"},
		{"patch absent", "PATCH", base2 + "/nope", `{"enabled":false}`, 404, "nope"},
		{"delete absent", "DELETE", base2 + "/nope", "", 404, "nope"},
	} {
		var e apiErrBody
		var body any
		if tc.body != "" {
			body = tc.body
		}
		checkErr(t, tc.what, a.do(tc.method, tc.path, body, &e), e, tc.status, "", tc.want)
	}
	if code := a.do("POST", base2, `{"type":"latency","attributes":{"latency_ms":1}}`, nil); code != http.StatusCreated {
		t.Errorf("POST latency: %d", code)
	}
	f = engine.Fault{}
	if code := a.do("PATCH", base2+"/latency", `{"enabled":false,"attributes":{"latency_ms":5}}`, &f); code != http.StatusOK || f.Enabled || f.Attributes["latency_ms"] != 5.0 {
		t.Errorf("PATCH: %d %+v", code, f)
	}
	if code := a.do("DELETE", base2+"/latency", nil, nil); code != http.StatusNoContent {
		t.Errorf("DELETE: %d", code)
	}
}

// Without JavaScript: the start form's presets, a fault's switch and its
// edit form.
func TestFaultFormsWithoutJavaScript(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	code, loc, body := a.postForm("/s/"+sess+"/servers", url.Values{"kind": {"tcp-echo"}, "port": {"0"}, "fault-preset": {"0", "1"}})
	if code != http.StatusSeeOther || loc != "/s/"+sess {
		t.Fatalf("start form with presets: %d %q %s", code, loc, body)
	}
	var v struct{ Servers []serverView }
	a.do("GET", "/api/sessions/"+sess, nil, &v)
	if len(v.Servers) != 1 || len(v.Servers[0].Faults) != 2 || v.Servers[0].Faults[0].Type != "latency" || v.Servers[0].Faults[1].Type != "slicer" {
		t.Fatalf("servers %+v", v.Servers)
	}
	id := v.Servers[0].ID
	update := "/s/" + sess + "/servers/" + id + "/faults/latency/update"
	if code, _, body := a.postForm(update, url.Values{"enabled": {"off"}}); code != http.StatusSeeOther {
		t.Fatalf("switch off: %d %s", code, body)
	}
	if code, _, body := a.postForm(update, url.Values{"toxicity": {"0.5"}, "attr.latency_ms": {"300"}, "attr.jitter_ms": {""}}); code != http.StatusSeeOther {
		t.Fatalf("edit: %d %s", code, body)
	}
	var list struct{ Faults []engine.Fault }
	a.do("GET", "/api/sessions/"+sess+"/servers/"+id+"/faults", nil, &list)
	if f := list.Faults[0]; f.Enabled || f.Toxicity != 0.5 || f.Attributes["latency_ms"] != 300.0 || f.Attributes["jitter_ms"] != 50.0 {
		t.Errorf("after the forms: %+v", f)
	}
	// The page shows the switch off, and a bad value in its banner.
	code, _, page := a.postForm(update, url.Values{"attr.latency_ms": {"-1"}})
	if code != http.StatusBadRequest || !strings.Contains(page, "latency_ms") || !strings.Contains(page, `data-enabled="false"`) {
		t.Errorf("bad edit: status %d; page shows the error and the switched-off fault: %v", code, strings.Contains(page, "latency_ms"))
	}
	code, _, page = a.postForm("/s/"+sess+"/servers", url.Values{"kind": {"udp-echo"}, "fault-preset": {"0"}})
	if code != http.StatusBadRequest || !strings.Contains(page, "UDP has none") {
		t.Errorf("udp-echo with a stream preset: %d", code)
	}
	// A client's fault from its panel form.
	_, addr := a.startEcho(sess, nil)
	cid := a.openClient(sess, addr)
	if code, _, body := a.postForm("/s/"+sess+"/clients/"+cid+"/faults", url.Values{"type": {"latency"}, "direction": {"upstream"}, "attributes": {"latency_ms=10"}}); code != http.StatusSeeOther {
		t.Fatalf("client fault form: %d %s", code, body)
	}
	if code, _, body := a.postForm("/s/"+sess+"/clients/"+cid+"/faults/latency/update", url.Values{"enabled": {"off"}}); code != http.StatusSeeOther {
		t.Fatalf("client fault switch: %d %s", code, body)
	}
	if code, _, body := a.postForm("/s/"+sess+"/clients/"+cid+"/faults/latency/delete", nil); code != http.StatusSeeOther {
		t.Fatalf("client fault remove: %d %s", code, body)
	}
}

// A client opened with "faults" has them; a wrong one is a 400 naming it.
func TestOpenClientWithFaults(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	_, addr := a.startEcho(sess, nil)
	var c clientView
	if code := a.do("POST", "/api/sessions/"+sess+"/clients", `{"kind":"tcp","target":"`+addr+`","faults":[{"type":"latency","direction":"upstream","attributes":{"latency_ms":5}}]}`, &c); code != http.StatusCreated || len(c.Faults) != 1 || c.Faults[0].Type != "latency" {
		t.Fatalf("open with faults: %d %+v", code, c)
	}
	var e apiErrBody
	checkErr(t, "refuse on a client", a.do("POST", "/api/sessions/"+sess+"/clients", `{"kind":"tcp","target":"`+addr+`","faults":[{"type":"refuse"}]}`, &e), e, http.StatusBadRequest, "", "faults[0].type", "cannot go on a client")
	checkErr(t, "faults on a multi client", a.do("POST", "/api/sessions/"+sess+"/clients", `{"kind":"multi","target":"`+addr+`","faults":[{"type":"latency"}]}`, &e), e, http.StatusBadRequest, "", "multi client cannot take faults")
}
