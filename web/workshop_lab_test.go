package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

type sessionLab struct {
	Lab struct {
		Host  string `json:"host"`
		Ports string `json:"ports"`
		Block bool   `json:"block"`
	} `json:"lab"`
}

// blockOf reads a participant's block as their page's API gives it.
func blockOf(t *testing.T, b *browser, session string) engine.PortRange {
	t.Helper()
	var v sessionLab
	if code := b.do("GET", "/api/sessions/"+session, nil, &v); code != http.StatusOK {
		t.Fatalf("GET session %s: %d", session, code)
	}
	if !v.Lab.Block {
		t.Fatalf("session %s: lab %+v, want a block of its own", session, v.Lab)
	}
	lo, hi, _ := strings.Cut(v.Lab.Ports, "–")
	first, _ := strconv.Atoi(lo)
	last, _ := strconv.Atoi(hi)
	return engine.PortRange{First: first, Last: last}
}

func portOfAddr(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// Two participants joined with the code get disjoint blocks; each one's
// server lands in its own; Ada's client to Bob's server is refused with
// nothing accepted on Bob's listener, until the instructor opens the lab:
// then it connects and the event names Bob's server. A restart gives every
// block and the open lab back.
func TestWorkshopPortBlocks(t *testing.T) {
	a := newTestApp(t, withWorkshop(func(c *Config) { c.ParticipantPorts = 20 }))
	inst := a.instructor()
	w := inst.createWorkshop("Pairs")
	ada, adaJ := a.participant(w.Code, "Ada")
	bob, bobJ := a.participant(w.Code, "Bob")
	ab, bb := blockOf(t, ada, adaJ.Session), blockOf(t, bob, bobJ.Session)
	if ab.Last-ab.First+1 != 20 || bb.Last-bb.First+1 != 20 || (ab.First <= bb.Last && bb.First <= ab.Last) {
		t.Fatalf("blocks %v and %v: want two disjoint blocks of 20", ab, bb)
	}
	_, adaAddr := ada.startServer(adaJ.Session, "tcp-echo")
	bobID, bobAddr := bob.startServer(bobJ.Session, "tcp-echo")
	if p := portOfAddr(t, adaAddr); !ab.Contains(p) {
		t.Errorf("Ada's server on %d, outside her block %v", p, ab)
	}
	if p := portOfAddr(t, bobAddr); !bb.Contains(p) {
		t.Errorf("Bob's server on %d, outside his block %v", p, bb)
	}
	// An explicit port of Bob's block: 400 naming Ada's.
	var e errorBody
	if code := ada.do("POST", "/api/sessions/"+adaJ.Session+"/servers", map[string]any{"kind": "tcp-echo", "port": bb.First + 3}, &e); code != http.StatusBadRequest ||
		!strings.Contains(e.Error, fmt.Sprintf("%d–%d", ab.First, ab.Last)) {
		t.Errorf("explicit port in Bob's block: %d %q, want 400 naming %v", code, e.Error, ab)
	}

	// Ada's client to Bob's server: refused, nothing dialed.
	e = errorBody{}
	code := ada.do("POST", "/api/sessions/"+adaJ.Session+"/clients", map[string]any{"kind": "tcp", "target": bobAddr}, &e)
	if code < 400 || !strings.Contains(e.Error, "belongs to another participant") || !strings.Contains(e.Error, "the instructor can open the lab") {
		t.Fatalf("Ada's client to Bob's server: %d %q, want refused naming the open lab", code, e.Error)
	}
	// Bob's own client connects (and is the only accept on his listener).
	if code := bob.do("POST", "/api/sessions/"+bobJ.Session+"/clients", map[string]any{"kind": "tcp", "target": bobAddr}, nil); code != http.StatusCreated {
		t.Fatalf("Bob's own client: %d", code)
	}
	accepts := func() int {
		n := 0
		for _, r := range waitStored(t, a, bobJ.Session, "Bob's accept", func(rs []sessions.Record) bool {
			for _, r := range rs {
				if r.Kind == engine.KindAccept {
					return true
				}
			}
			return false
		}) {
			if r.Kind == engine.KindAccept && r.Server == bobID {
				n++
			}
		}
		return n
	}
	if n := accepts(); n != 1 {
		t.Fatalf("Bob's server accepted %d connections, want 1 (his own client's; Ada's was refused)", n)
	}

	// Open lab: 400 without "open", then allowed, and the event names Bob.
	if code := inst.do("POST", "/api/workshops/"+w.ID+"/open-lab", `{}`, &e); code != http.StatusBadRequest {
		t.Errorf("open-lab without open: %d", code)
	}
	if code := inst.do("POST", "/api/workshops/"+w.ID+"/open-lab", `{"open":true}`, nil); code != http.StatusOK {
		t.Fatalf("open lab: %d", code)
	}
	var cli struct{ ID string }
	if code := ada.do("POST", "/api/sessions/"+adaJ.Session+"/clients", map[string]any{"kind": "tcp", "target": bobAddr}, &cli); code != http.StatusCreated {
		t.Fatalf("open lab: Ada's client to Bob's server: %d", code)
	}
	evs := waitStored(t, a, adaJ.Session, "Ada's connect", func(rs []sessions.Record) bool {
		for _, r := range rs {
			if r.Kind == engine.KindConnect && r.Server == cli.ID {
				return true
			}
		}
		return false
	})
	for _, r := range evs {
		if r.Kind == engine.KindConnect && r.Server == cli.ID && r.Meta["peer_name"] != "Bob's tcp-echo server" {
			t.Errorf("connect meta peer_name = %v, want Bob's tcp-echo server", r.Meta["peer_name"])
		}
	}
	// The dashboard shows each participant's ports and the lab open.
	var dash struct {
		OpenLab      bool `json:"open_lab"`
		Participants []struct{ Name, Ports string }
	}
	inst.do("GET", "/api/workshops/"+w.ID, nil, &dash)
	if !dash.OpenLab || len(dash.Participants) != 2 || dash.Participants[0].Ports != ab.String() {
		t.Errorf("dashboard %+v, want open_lab and Ada's ports %v", dash, ab)
	}

	// A restart (a new lab and web side over the same database) gives the
	// blocks and the open lab back.
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	lab2 := engine.NewLab(engine.LabConfig{Host: "127.0.0.1", Ports: a.Lab.Ports()}, a.Rec, log)
	defer lab2.Close()
	NewServer(Deps{Lab: lab2, Store: a.Store, Recorder: a.Rec, Hub: a.Hub, Log: log,
		Config: Config{LabHost: "127.0.0.1", Workshop: true, InstructorPassword: testPassword, ParticipantPorts: 20}})
	if got, ok := lab2.PortBlockOf(adaJ.Session); !ok || got.Ports != ab || got.Owner != "Ada" || got.Group != w.ID {
		t.Errorf("after restart Ada's block %+v %v, want %v", got, ok, ab)
	}
	srv2, err := lab2.StartServer(bobJ.Session, engine.ServerSpec{Kind: "tcp-echo"})
	if err != nil || !bb.Contains(portOfAddr(t, srv2.Addr)) {
		t.Fatalf("after restart Bob's server: %v %s, want inside %v", err, srv2.Addr, bb)
	}
	if _, err := lab2.OpenClient(context.Background(), adaJ.Session, engine.ClientSpec{Kind: "tcp", Target: srv2.Addr}); err != nil {
		t.Errorf("after restart the open lab is closed: %v", err)
	}
}

// When the lab range has no free block left, joining answers 503 naming
// the flags the instructor can change, and nothing of the join is kept.
func TestWorkshopNoFreeBlock(t *testing.T) {
	half := (apiLabLast - apiLabFirst + 1) / 2
	a := newTestApp(t, withWorkshop(func(c *Config) { c.ParticipantPorts = half }))
	w := a.instructor().createWorkshop("Full")
	a.participant(w.Code, "Ada")
	a.participant(w.Code, "Bob")
	var out joinOut
	b := a.browser()
	code := b.do("POST", "/api/join", map[string]string{"code": w.Code, "name": "Cy"}, &out)
	if code != http.StatusServiceUnavailable || !strings.Contains(out.Error, "-lab-ports") || !strings.Contains(out.Error, "-participant-ports") {
		t.Fatalf("third join: %d %q, want 503 naming -lab-ports and -participant-ports", code, out.Error)
	}
	if b.cookie(participantCookie) != "" {
		t.Errorf("a refused join set the participant cookie")
	}
	if ps, _ := a.Store.Participants(context.Background(), w.ID); len(ps) != 2 {
		t.Errorf("%d participants, want 2", len(ps))
	}
}

// waitStored waits (with a deadline) until cond holds over session's
// recorded events, read from the store (a participant's session answers
// only its owner's cookie on the API).
func waitStored(t *testing.T, a *testApp, session, what string, cond func([]sessions.Record) bool) []sessions.Record {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := a.Rec.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		evs, err := a.Store.Events(ctx, session, 0, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if cond(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; have %d events", what, len(evs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A lesson whose server uses a tutorial port, in a workshop: the server
// listens on one of the participant's ports, and the lesson says which
// line of the tutorial's program to change. The commands name the lab's
// LAN address (-lab-host; here one the web side shows while the test lab
// binds loopback), not 127.0.0.1, which on a participant's laptop is the laptop.
func TestWorkshopLessonTutorialPort(t *testing.T) {
	a := newTestApp(t, withWorkshop(func(c *Config) {
		c.ParticipantPorts, c.MaxParticipantSessions, c.LabHost = 20, 2, "192.0.2.10"
	}))
	w := a.instructor().createWorkshop("Lessons")
	ada, _ := a.participant(w.Code, "Ada")
	var started struct{ Session string }
	if code := ada.do("POST", "/api/lessons/app-protocol/start", nil, &started); code != http.StatusCreated {
		t.Fatalf("start lesson: %d", code)
	}
	block := blockOf(t, ada, started.Session)
	var lv struct {
		Notices []string `json:"notices"`
		Lesson  struct {
			Steps []struct{ Do string } `json:"steps"`
		} `json:"lesson"`
	}
	if code := ada.do("GET", "/api/sessions/"+started.Session+"/lesson", nil, &lv); code != http.StatusOK {
		t.Fatalf("lesson: %d", code)
	}
	if len(lv.Notices) != 1 || !strings.Contains(lv.Notices[0], "PORT = 65432") || !strings.Contains(lv.Notices[0], "Tutorial ports are off") {
		t.Fatalf("notices %q, want one saying to change PORT = 65432", lv.Notices)
	}
	if do := lv.Lesson.Steps[0].Do; !strings.Contains(do, "192.0.2.10") || strings.Contains(do, "127.0.0.1") {
		t.Errorf("first step %q: want the lab host 192.0.2.10, not 127.0.0.1", do)
	}
	fields := strings.Fields(lv.Lesson.Steps[0].Do)
	if p, _ := strconv.Atoi(fields[3]); !block.Contains(p) {
		t.Errorf("first step %q: port not in the participant's block %v", lv.Lesson.Steps[0].Do, block)
	}
}
