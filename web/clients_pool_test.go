package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sockplay/sockplay/engine"
)

// The round-robin and pool clients through the API: listed by /api/kinds,
// opened with their options, their counters in the answer; a bad targets
// option is a 400 naming it.
func TestAPIRoundRobinAndPoolClients(t *testing.T) {
	a := newTestApp(t)
	var kinds struct {
		Clients []engine.ClientKind `json:"clients"`
	}
	a.do("GET", "/api/kinds", nil, &kinds)
	have := map[string]bool{}
	for _, k := range kinds.Clients {
		have[k.Name] = true
	}
	if !have["round-robin"] || !have["pool"] {
		t.Fatalf("/api/kinds lacks round-robin or pool: %v", have)
	}
	sess := a.newSession()
	_, addrA := a.startEcho(sess, nil)
	_, addrB := a.startEcho(sess, map[string]any{"mode": "reverse"})

	var rr engine.ClientInfo
	if code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"kind": "round-robin", "target": addrA,
		"options": map[string]any{"targets": addrB, "requests": 4}}, &rr); code != http.StatusCreated {
		t.Fatalf("round-robin: status %d", code)
	}
	if rr.Counters["target_1_answered"] != 2 || rr.Counters["target_2_answered"] != 2 || rr.State != engine.StateClosed {
		t.Errorf("round-robin answered %+v", rr)
	}
	var pool engine.ClientInfo
	if code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"kind": "pool", "target": addrA,
		"options": map[string]any{"connections": 2, "requests": 5}}, &pool); code != http.StatusCreated {
		t.Fatalf("pool: status %d", code)
	}
	if pool.Counters["new_dials"] != 2 || pool.Counters["reused"] != 3 || pool.Counters["answered"] != 5 {
		t.Errorf("pool answered %+v", pool)
	}
	var e errorBody
	if code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"kind": "round-robin", "target": addrA,
		"options": map[string]any{"targets": "nope"}}, &e); code != http.StatusBadRequest || !strings.Contains(e.Error, "targets") {
		t.Errorf("bad targets: %d %q", code, e.Error)
	}
	if code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"kind": "pool", "target": addrA,
		"options": map[string]any{"connections": 51}}, &e); code != http.StatusBadRequest || !strings.Contains(e.Error, "connections") {
		t.Errorf("too many connections: %d %q", code, e.Error)
	}
}
