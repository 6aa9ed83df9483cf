package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/sockplay/sockplay/engine"
)

// GET /api/kinds serves every server and client kind with its option
// schema: what the page's forms are drawn from, and what an API user reads
// to know what a kind takes.
func TestAPIKindsServesTheSchemas(t *testing.T) {
	a := newTestApp(t)
	var got struct {
		Servers []struct {
			Name, Title, Description, Net string
			TutorialPort                  int `json:"tutorial_port"`
			Options                       []struct {
				Name, Type, Help string
				Default          any
				Min, Max         *int
				Values           []struct{ Value, Label string }
			}
		}
		Clients []struct {
			Name    string
			Options []struct{ Name string }
		}
		TutorialPorts []int `json:"tutorial_ports"`
	}
	if code := a.do("GET", "/api/kinds", nil, &got); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	var names []string
	for _, k := range got.Servers {
		names = append(names, k.Name)
		if k.Title == "" || k.Description == "" || k.Net == "" {
			t.Errorf("kind %s lacks a title, description or net: %+v", k.Name, k)
		}
		for _, o := range k.Options {
			if o.Help == "" || o.Type == "" {
				t.Errorf("option %s.%s has no help or type", k.Name, o.Name)
			}
		}
	}
	if !slices.Equal(names, engine.ServerKindNames()) || names[0] != "tcp-echo" {
		t.Errorf("server kinds %v, want %v with tcp-echo first", names, engine.ServerKindNames())
	}
	echo := got.Servers[0]
	if echo.TutorialPort != 65432 {
		t.Errorf("tcp-echo suggests port %d, want 65432 (Real Python's echo programs)", echo.TutorialPort)
	}
	i := slices.IndexFunc(echo.Options, func(o struct {
		Name, Type, Help string
		Default          any
		Min, Max         *int
		Values           []struct{ Value, Label string }
	}) bool {
		return o.Name == "recv_size"
	})
	if i < 0 || echo.Options[i].Type != "int" || *echo.Options[i].Min != 1 || *echo.Options[i].Max != 65536 || echo.Options[i].Default != float64(4096) {
		t.Errorf("recv_size schema %+v", echo.Options)
	}
	if len(got.Clients) == 0 || got.Clients[0].Name != "tcp" {
		t.Errorf("client kinds %+v", got.Clients)
	}
}

// Unknown kinds and options are refused with the valid ones listed, from
// the schema; the page's no-JS form says the same.
func TestAPIUnknownKindAndOptionListTheValidOnes(t *testing.T) {
	runBad(t, []badCase{
		{name: "unknown kind", method: "POST", path: "/api/sessions/{s}/servers", body: map[string]any{"kind": "ftp"}, status: 400,
			want: append([]string{`unknown server kind "ftp"`}, engine.ServerKindNames()...)},
		{name: "unknown option", method: "POST", path: "/api/sessions/{s}/servers", body: map[string]any{"kind": "tcp-echo", "options": map[string]any{"colour": 1}}, status: 400,
			want: []string{`unknown option "colour"`, "mode, prefix, recv_size, oneshot"}},
		{name: "option out of range", method: "POST", path: "/api/sessions/{s}/servers", body: map[string]any{"kind": "tcp-echo", "options": map[string]any{"recv_size": 0}}, status: 400,
			want: []string{`option "recv_size"`, "1 to 65536"}},
		{name: "unknown client kind", method: "POST", path: "/api/sessions/{s}/clients", body: map[string]any{"kind": "carrier-pigeon", "target": "127.0.0.1:23000"}, status: 400,
			want: []string{`unknown client kind "carrier-pigeon"`, "tcp"}},
	})
}

// The no-JS start form reads the chosen kind's fields (kind.option): a
// number typed wrong names its option; a server starts with what was typed.
func TestFormStartsAServerFromTheSchemaFields(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	page := "/s/" + sid
	code, _, body := a.postForm(page+"/servers", url.Values{"kind": {"tcp-echo"}, "tcp-echo.recv_size": {"lots"}})
	if code != http.StatusBadRequest || !strings.Contains(body, `option &#34;recv_size&#34;`) && !strings.Contains(body, `option "recv_size"`) {
		t.Errorf("bad number: %d, page does not name the option", code)
	}
	code, _, _ = a.postForm(page+"/servers", url.Values{"kind": {"tcp-echo"}, "tcp-echo.mode": {"prefix"}, "tcp-echo.prefix": {">> "}, "tcp-echo.oneshot": {"on"}, "port": {"0"}})
	if code != http.StatusSeeOther {
		t.Fatalf("start: %d", code)
	}
	s := a.Lab.Servers(sid)
	if len(s) != 1 || s[0].Options.String("prefix") != ">> " || !s[0].Options.Bool("oneshot") || s[0].Options.Int("recv_size") != engine.DefaultRecvSize {
		t.Errorf("servers %+v", s)
	}
	roundTrip(t, s[0].Addr, "hi", ">> hi")
}

// A stopped server offers "Start again": its form posts the same kind,
// options and port, and a server like it runs again on that port.
func TestFormStartAgainRestartsTheSameServer(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	id, addr := a.startEcho(sid, map[string]any{"mode": "prefix", "prefix": "again ", "oneshot": true, "recv_size": 1024})
	if code := a.do("DELETE", "/api/sessions/"+sid+"/servers/"+id, nil, nil); code != http.StatusOK {
		t.Fatalf("stop: %d", code)
	}
	_, doc, _ := page(t, a, "/s/"+sid)
	buttons := byTestID(doc, "start-again")
	if len(buttons) != 1 {
		t.Fatalf("%d Start again buttons, want 1", len(buttons))
	}
	form := buttons[0].Parent
	for form != nil && form.Data != "form" {
		form = form.Parent
	}
	vals := url.Values{}
	for d := range form.Descendants() {
		if d.Data == "input" && attr(d, "name") != "" {
			vals.Add(attr(d, "name"), attr(d, "value"))
		}
	}
	if code, _, body := a.postForm(attr(form, "action"), vals); code != http.StatusSeeOther {
		t.Fatalf("start again: %d\n%s", code, body)
	}
	var again engine.ServerInfo
	for _, s := range a.Lab.Servers(sid) {
		if s.State == engine.StateRunning {
			again = s
		}
	}
	if again.Addr != addr || again.Options.String("prefix") != "again " || !again.Options.Bool("oneshot") || again.Options.Int("recv_size") != 1024 {
		t.Errorf("started again: %+v, want the same port %s and options", again, addr)
	}
	roundTrip(t, addr, "x", "again x")
}

// A required option left empty in the no-JS form is refused by the server,
// naming it (the browser does not enforce it: every kind's fields are in
// the one form).
func TestFormRequiredOptionMissingIsNamed(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	code, _, body := a.postForm("/s/"+sid+"/servers", url.Values{"kind": {"tcp-proxy"}, "tcp-proxy.recv_size": {""}})
	if code != http.StatusBadRequest || !strings.Contains(body, "is required") || !strings.Contains(body, "target") {
		t.Errorf("proxy without a target: %d, want 400 naming target as required", code)
	}
	if n := len(a.Lab.Servers(sid)); n != 0 {
		t.Errorf("%d servers started", n)
	}
}

// Hex is read as people paste it: spaced pairs, a run of digits, 0x or \x
// before each byte, commas between; the bytes are the same.
func TestParseHexAsPeoplePasteIt(t *testing.T) {
	for _, in := range []string{"68 65 6c 6c 6f", "68656c6c6f", "0x68 0x65 0x6c 0x6c 0x6f", `\x68\x65\x6c\x6c\x6f`, "0x68,0x65,0x6C,0x6C,0x6F", "68 65\n6c 6c 6f"} {
		b, err := parseHex(in)
		if err != nil || string(b) != "hello" {
			t.Errorf("parseHex(%q) = %q, %v; want hello", in, b, err)
		}
	}
	for _, in := range []string{"0x6", "0xzz", `\x6`, "6 8"} {
		if _, err := parseHex(in); err == nil {
			t.Errorf("parseHex(%q) accepted", in)
		}
	}
}

// A target of a port alone means that port on the lab's host, in the API
// and in the no-JS form.
func TestClientTargetPortAloneMeansTheLabHost(t *testing.T) {
	a := newTestApp(t)
	sid := a.newSession()
	_, addr := a.startEcho(sid, nil)
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	var c apiClient
	if code := a.do("POST", "/api/sessions/"+sid+"/clients", map[string]any{"target": port}, &c); code != http.StatusCreated {
		t.Fatalf("open with target %q: %d", port, code)
	}
	if code, _, _ := a.postForm("/s/"+sid+"/clients", url.Values{"target": {" " + port + " "}}); code != http.StatusSeeOther {
		t.Fatalf("form with target %q: %d", port, code)
	}
	for _, cl := range a.Lab.Clients(sid) {
		if cl.Target != addr {
			t.Errorf("client target %q, want %q", cl.Target, addr)
		}
	}
}
