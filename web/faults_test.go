package web

import (
	"errors"
	"net"
	"net/http"
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
