package lessons

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sockplay/sockplay/engine"
)

func TestBuiltinLessonsLoad(t *testing.T) {
	c, errs := Load("")
	if len(errs) > 0 {
		t.Fatalf("built-in lessons refused: %v", errs)
	}
	for _, id := range []string{"tcp-echo-basics", "message-boundaries", "udp-vs-tcp", "app-protocol", "errors", "proxies-and-faults", "tls", "unix-sockets"} {
		l := c.Get(id)
		if l == nil {
			t.Fatalf("no lesson %s; have %v", id, c.IDs())
		}
		for _, st := range l.Steps {
			if st.Text == "" || st.Do == "" {
				t.Errorf("%s: step %q has no text or no do", id, st.Title)
			}
		}
	}
	if got := c.Get("tcp-echo-basics").Servers[0]; got.Kind != "tcp-echo" || got.Port != 65432 {
		t.Errorf("tcp-echo-basics server %+v", got)
	}
	// A YAML escape in data_contains is the bytes it names: the TLS
	// lesson looks for a handshake record, 0x16 0x03.
	if got := *c.Get("tls").Steps[3].Check.DataContains; got != "\x16\x03" {
		t.Errorf("tls step 4 data_contains %q", got)
	}
}

const okHead = "---\nid: x\ntitle: X\n"

// TestParseRefusesBadFiles: each wrong file is refused naming the file,
// the line of the mistake and what is wrong, in words.
func TestParseRefusesBadFiles(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"no front matter", "# hello\n", "x.md:1: a scenario starts with a line \"---\""},
		{"unclosed", "---\nid: x\n", "x.md:1: the front matter is not closed"},
		{"yaml syntax", okHead + "steps: [\n---\n", "x.md:4: front matter:"},
		{"bad id", "---\nid: Bad Id\ntitle: X\nsteps:\n  - {title: a, check: {kind: recv}}\n---\n", "x.md:2: id \"Bad Id\""},
		{"no steps", okHead + "---\n", "steps is required"},
		{"unknown top field", okHead + "colour: red\nsteps:\n  - {title: a, check: {kind: recv}}\n---\n", "x.md:4: front matter: unknown field \"colour\""},
		{"unknown kind", okHead + "servers:\n  - kind: tcp-ecko\n    name: e\nsteps:\n  - {title: a, check: {kind: recv}}\n---\n",
			"x.md:5: unknown server kind \"tcp-ecko\"; valid kinds: tcp-echo"},
		{"unknown option", okHead + "servers:\n  - kind: tcp-echo\n    name: e\n    options:\n      recv_sise: 10\nsteps:\n  - {title: a, check: {kind: recv}}\n---\n",
			"x.md:8: server e (tcp-echo): unknown option \"recv_sise\""},
		{"option type", okHead + "servers:\n  - kind: tcp-echo\n    name: e\n    options:\n      recv_size: lots\nsteps:\n  - {title: a, check: {kind: recv}}\n---\n",
			"x.md:8: server e (tcp-echo): option recv_size takes a whole number"},
		{"enum value", okHead + "servers:\n  - kind: tcp-echo\n    name: e\n    options: {mode: shout}\nsteps:\n  - {title: a, check: {kind: recv}}\n---\n",
			"x.md:7: server e (tcp-echo): option mode: \"shout\" is not one of"},
		{"missing required option", okHead + "servers:\n  - kind: tcp-proxy\n    name: p\nsteps:\n  - {title: a, check: {kind: recv}}\n---\n",
			"x.md:5: server p (tcp-proxy): option target is required"},
		{"placeholder of nothing", okHead + "steps:\n  - title: a\n    do: nc 127.0.0.1 {echo.port}\n    check: {kind: recv}\n---\n",
			"x.md:6: step \"a\": do: {echo.port} names no server"},
		{"fault on no server", okHead + "faults:\n  - {server: nope, type: refuse}\nsteps:\n  - {title: a, check: {kind: recv}}\n---\n",
			"x.md:5: fault on server \"nope\""},
		{"unknown fault type", okHead + "servers:\n  - {kind: tcp-echo, name: e}\nfaults:\n  - server: e\n    type: explode\nsteps:\n  - {title: a, check: {kind: recv}}\n---\n",
			"x.md:8: unknown fault type \"explode\""},
		{"check unknown field", okHead + "steps:\n  - title: a\n    check:\n      kind: recv\n      colour: red\n---\n",
			"x.md:8: front matter: unknown field \"colour\""},
		{"check wrong type", okHead + "steps:\n  - title: a\n    check:\n      kind: close\n      rst: sometimes\n---\n",
			"x.md:8: front matter: rst: \"sometimes\" is not what belongs here: it takes true or false"},
		{"check unknown event kind", okHead + "steps:\n  - title: a\n    check:\n      kind: recieve\n---\n",
			"x.md:7: step \"a\": check: unknown event kind \"recieve\""},
		{"check unknown server", okHead + "steps:\n  - title: a\n    check: {kind: recv, server: echo}\n---\n",
			"x.md:6: step \"a\": check: server \"echo\": the lesson has no server"},
		{"check empty", okHead + "steps:\n  - title: a\n    check: {owner: server}\n---\n",
			"x.md:6: step \"a\": check: a check needs at least one of"},
		{"check errno", okHead + "steps:\n  - title: a\n    check:\n      errno: refused\n---\n",
			"x.md:7: step \"a\": check: errno \"refused\""},
		{"check split", okHead + "steps:\n  - title: a\n    check:\n      send_split_into_recvs: 1\n---\n",
			"x.md:7: step \"a\": check: send_split_into_recvs 1"},
		{"check meta", okHead + "steps:\n  - title: a\n    check:\n      kind: fault\n      meta: {removed: [1]}\n---\n",
			"x.md:8: step \"a\": check: meta removed"},
		{"check nth_recv", okHead + "steps:\n  - title: a\n    check:\n      nth_recv: 1\n---\n",
			"x.md:7: step \"a\": check: nth_recv 1"},
		{"check fault_change", okHead + "steps:\n  - title: a\n    check:\n      fault_change: deleted\n---\n",
			"x.md:7: step \"a\": check: fault_change \"deleted\": use added, changed, on, off, removed"},
		{"check fault and fault_change", okHead + "steps:\n  - title: a\n    check:\n      fault: drop\n      fault_change: added\n---\n",
			"x.md:8: step \"a\": check: fault is a fault that acted"},
		{"check tls_version", okHead + "steps:\n  - title: a\n    check:\n      kind: tls-handshake\n      tls_version: \"1.4\"\n---\n",
			"x.md:8: step \"a\": check: tls_version \"1.4\""},
		{"check all alone", okHead + "steps:\n  - title: a\n    check:\n      all: [{kind: latency, net: unix}]\n---\n",
			"x.md:7: step \"a\": check: all takes two or more checks"},
		{"check all with a field", okHead + "steps:\n  - title: a\n    check:\n      kind: recv\n      all: [{kind: latency}, {kind: recv}]\n---\n",
			"x.md:8: step \"a\": check: a check with all has no other field"},
		{"check all wrong inside", okHead + "steps:\n  - title: a\n    check:\n      all:\n        - {kind: latency, net: unix}\n        - {kind: latency, net: ipx}\n---\n",
			"x.md:9: step \"a\": check: all[1]: net \"ipx\": use tcp, udp, tls or unix"},
		{"check all nested", okHead + "steps:\n  - title: a\n    check:\n      all:\n        - {kind: latency}\n        - {all: [{kind: recv}, {kind: send}]}\n---\n",
			"x.md:9: step \"a\": check: the checks of all cannot have an all of their own"},
		{"check net", okHead + "steps:\n  - title: a\n    check:\n      kind: recv\n      net: sctp\n---\n",
			"x.md:8: step \"a\": check: net \"sctp\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.md", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestLoadKeepsTheGoodOnes: a directory with a bad file and a duplicate
// id still offers the good lesson, and each refusal names its file.
func TestLoadKeepsTheGoodOnes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a-good.md", okHead+"steps:\n  - {title: a, check: {kind: accept}}\n---\n## a\nConnect.\n")
	write("b-bad.md", okHead+"steps:\n  - {title: a, check: {kind: nope}}\n---\n")
	write("c-dup.md", "---\nid: errors\ntitle: Mine\nsteps:\n  - {title: a, check: {kind: accept}}\n---\n")
	write("notes.txt", "not a lesson")
	c, errs := Load(dir)
	if c.Get("x") == nil || c.Get("x").Steps[0].Text != "Connect." {
		t.Errorf("good lesson: %+v", c.Get("x"))
	}
	if c.Get("errors") == nil || c.Get("errors").Title != "Errors and what they mean" {
		t.Errorf("the built-in errors lesson was replaced")
	}
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "b-bad.md:5:") || !strings.Contains(errs[1].Error(), "c-dup.md:2: id \"errors\" is already") {
		t.Errorf("errors %v", errs)
	}
	if _, errs := Load(filepath.Join(dir, "missing")); len(errs) != 1 || !strings.Contains(errs[0].Error(), "lessons directory") {
		t.Errorf("missing dir: %v", errs)
	}
}

func TestFill(t *testing.T) {
	got := Fill("nc {a.port} / {a.addr} / {b.port}", map[string]string{"a": "127.0.0.1:20001"})
	if got != "nc 20001 / 127.0.0.1:20001 / {b.port}" {
		t.Errorf("Fill = %q", got)
	}
}

// TestCheckSendSplit feeds the evaluator the events of one 3000-byte send
// that arrived as three recvs of at most 1024 bytes (as a tcp-echo with
// recv_size 1024 records them): the check holds at the third recv only.
func TestCheckSendSplit(t *testing.T) {
	c := Check{SendSplitIntoRecvs: 3, Owner: "server"}
	if _, err := c.validate(nil); err != nil {
		t.Fatal(err)
	}
	e := newEvaluator()
	cli, srv := "127.0.0.1:50000", "127.0.0.1:20000"
	evs := []engine.Event{
		{Server: "cli-1", Kind: engine.KindSend, Net: "tcp", Local: cli, Remote: srv, Len: 3000},
		{Server: "srv-1", Kind: engine.KindRecv, Net: "tcp", Local: srv, Remote: cli, Len: 1024},
		{Server: "srv-1", Kind: engine.KindRecv, Net: "tcp", Local: srv, Remote: cli, Len: 1024},
		{Server: "srv-1", Kind: engine.KindRecv, Net: "tcp", Local: srv, Remote: cli, Len: 952},
	}
	for i := range evs {
		e.observe(&evs[i])
		if got := c.holds(e, &evs[i]); got != (i == 3) {
			t.Errorf("event %d: holds = %v", i, got)
		}
	}
	// Two recvs are not enough for 3.
	e = newEvaluator()
	two := []engine.Event{evs[0], evs[1], {Server: "srv-1", Kind: engine.KindRecv, Net: "tcp", Local: srv, Remote: cli, Len: 1976}}
	for i := range two {
		e.observe(&two[i])
		if c.holds(e, &two[i]) {
			t.Errorf("two recvs: holds at event %d", i)
		}
	}
}

// TestCheckNthRecv: nth_recv holds at a connection's Nth recv with bytes
// and later ones, counted per connection, afresh after a close.
func TestCheckNthRecv(t *testing.T) {
	c := Check{Kind: "recv", NthRecv: 3}
	if _, err := c.validate(nil); err != nil {
		t.Fatal(err)
	}
	e := newEvaluator()
	recv := func(conn string, n int) engine.Event {
		return engine.Event{Server: "srv-1", Conn: conn, Kind: engine.KindRecv, Net: "tcp", Len: n}
	}
	evs := []engine.Event{
		recv("c-1", 1024), recv("c-2", 5), recv("c-1", 0), recv("c-1", 1024), recv("c-2", 5),
		{Server: "srv-1", Conn: "c-1", Kind: engine.KindSend, Net: "tcp", Len: 1024},
		recv("c-1", 952), recv("c-1", 1),
		{Server: "srv-1", Conn: "c-2", Kind: engine.KindClose, Net: "tcp"},
		recv("c-2", 5),
	}
	want := []bool{false, false, false, false, false, false, true, true, false, false}
	for i := range evs {
		e.observe(&evs[i])
		if got := c.holds(e, &evs[i]); got != want[i] {
			t.Errorf("event %d (%s %s len %d): holds = %v", i, evs[i].Conn, evs[i].Kind, evs[i].Len, got)
		}
	}
}

// TestCheckFaultActedOrChanged: fault holds for a fault that acted, not
// for the event saying it was added; fault_change for the change only.
func TestCheckFaultActedOrChanged(t *testing.T) {
	added := engine.Event{Server: "srv-1", Kind: engine.KindFault, Meta: map[string]any{"type": "drop", "change": "added"}}
	acted := engine.Event{Server: "srv-1", Kind: engine.KindFault, Meta: map[string]any{"type": "drop", "action": "dropped a datagram"}}
	fault, change := Check{Fault: "drop"}, Check{FaultChange: "added", Meta: map[string]any{"type": "drop"}}
	e := newEvaluator()
	for _, tc := range []struct {
		c    Check
		ev   engine.Event
		want bool
	}{{fault, added, false}, {fault, acted, true}, {change, added, true}, {change, acted, false}} {
		e.observe(&tc.ev)
		if got := tc.c.holds(e, &tc.ev); got != tc.want {
			t.Errorf("check %+v on %v: %v", tc.c, tc.ev.Meta, got)
		}
	}
}

// TestCheckTLSVersion: "1.3" in a check matches the handshake's "TLS 1.3".
func TestCheckTLSVersion(t *testing.T) {
	ev := engine.Event{Kind: engine.KindTLSHandshake, Meta: map[string]any{"version": "TLS 1.3"}}
	e := newEvaluator()
	e.observe(&ev)
	for v, want := range map[string]bool{"1.3": true, "TLS 1.3": true, "1.2": false} {
		c := Check{Kind: "tls-handshake", TLSVersion: v}
		if _, err := c.validate(nil); err != nil {
			t.Fatal(err)
		}
		if got := c.holds(e, &ev); got != want {
			t.Errorf("tls_version %q: %v", v, got)
		}
	}
}

// TestLoadDirNamesFileAndLineOfEachWrongCheck: an instructor's directory
// (-lessons DIR) with several wrong checks: each file is refused with its
// path, the line of the wrong field and what is wrong; the right one loads.
func TestLoadDirNamesFileAndLineOfEachWrongCheck(t *testing.T) {
	dir := t.TempDir()
	head := "---\nid: %s\ntitle: T\nservers:\n  - {kind: tcp-echo, name: echo}\nsteps:\n  - title: ok\n    do: nc 127.0.0.1 {echo.port}\n    check: {kind: accept, server: echo}\n  - title: second\n    do: something\n    check:\n"
	files := map[string]struct{ check, want string }{
		"a.md": {"      kind: recv\n      server: echoo\n", `a.md:14: step "second": check: server "echoo": the lesson has no server of that name`},
		"b.md": {"      kind: recv\n      nth_recv: many\n", `b.md:14: front matter: nth_recv: "many" is not what belongs here: it takes a whole number`},
		"c.md": {"      kind: tls-handshake\n      tls_version: \"2.0\"\n", `c.md:14: step "second": check: tls_version "2.0"`},
		"d.md": {"      fault: slicer\n      fault_change: added\n", `d.md:14: step "second": check: fault is a fault that acted`},
		"e.md": {"      kind: recv\n      data_contain: hello\n", `e.md:14: front matter: unknown field "data_contain"`},
		"f.md": {"      server: echo\n", `f.md:13: step "second": check: a check needs at least one of`},
		"g.md": {"      kind: recv\n      fault_change: added\n      nth_recv: 3\n", ""},
	}
	for name, f := range files {
		id := strings.TrimSuffix(name, ".md")
		src := fmt.Sprintf(head, "dir-"+id) + f.check + "---\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, errs := Load(dir)
	got := map[string]string{}
	for _, err := range errs {
		var le *LoadError
		if !errors.As(err, &le) {
			t.Fatalf("not a LoadError: %v", err)
		}
		got[filepath.Base(le.File)] = err.Error()
		if !strings.HasPrefix(err.Error(), dir+"/") {
			t.Errorf("%v does not name the file's path", err)
		}
	}
	for name, f := range files {
		if f.want == "" {
			if got[name] != "" || c.Get("dir-g") == nil {
				t.Errorf("%s was refused: %s", name, got[name])
			}
			continue
		}
		if !strings.Contains(got[name], f.want) {
			t.Errorf("%s: %q\nwant it to contain %q", name, got[name], f.want)
		}
	}
}

// TestCheckAll: an all holds at the event that completes its set, in any
// order, and not before.
func TestCheckAll(t *testing.T) {
	c := Check{All: []Check{{Kind: "latency", Net: "unix"}, {Kind: "latency", Net: "tcp"}}}
	if _, err := c.validate(nil); err != nil {
		t.Fatal(err)
	}
	e := newEvaluator()
	for i, tc := range []struct {
		ev   engine.Event
		want bool
	}{
		{engine.Event{Kind: engine.KindLatency, Net: "tcp"}, false},
		{engine.Event{Kind: engine.KindRecv, Net: "unix"}, false},
		{engine.Event{Kind: engine.KindLatency, Net: "tcp"}, false},
		{engine.Event{Kind: engine.KindLatency, Net: "unix"}, true},
	} {
		e.observe(&tc.ev)
		if got := c.holds(e, &tc.ev); got != tc.want {
			t.Errorf("event %d (%s %s): %v, want %v", i, tc.ev.Kind, tc.ev.Net, got, tc.want)
		}
	}
}
