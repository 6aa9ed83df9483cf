package web

import (
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

func withSocketDir(dir string) appOption {
	return func(l *engine.LabConfig, _ *Config, _ *int) { l.SocketDir = dir }
}

// Through the API as the page uses it: the kinds and their schemas, a
// unix-echo server with its snippets, bad input refused with a reason, a
// unix client that talks to it and is refused elsewhere, and the session's
// directory gone with the session.
func TestUnixEchoThroughTheAPI(t *testing.T) {
	root := filepath.Join(t.TempDir(), "sockets")
	a := newTestApp(t, withSocketDir(root))
	var kinds struct {
		Servers []engine.ServerKind `json:"servers"`
		Clients []engine.ClientKind `json:"clients"`
	}
	a.do("GET", "/api/kinds", nil, &kinds)
	found := 0
	for _, k := range kinds.Servers {
		if k.Name == "unix-echo" && k.Net == "unix" && len(k.Options) == 5 {
			found++
		}
	}
	for _, k := range kinds.Clients {
		if k.Name == "unix" && k.Net == "unix" {
			found++
		}
	}
	if found != 2 {
		t.Fatalf("/api/kinds lacks unix-echo or the unix client: %+v", kinds)
	}
	sess := a.newSession()
	var srv struct {
		ID, Addr, Net string
		Snippets      []engine.Snippet
	}
	if code := a.do("POST", "/api/sessions/"+sess+"/servers", map[string]any{"kind": "unix-echo", "options": map[string]any{"socket": "echo"}}, &srv); code != http.StatusCreated {
		t.Fatalf("start: %d", code)
	}
	if srv.Addr != filepath.Join(root, sess, "echo.sock") || srv.Net != "unix" || len(srv.Snippets) != 4 || !strings.Contains(srv.Snippets[1].Code, "nc -N -U "+srv.Addr) {
		t.Fatalf("server %+v", srv)
	}
	var e errorBody
	for body, want := range map[string]struct {
		code int
		msg  string
	}{
		`{"kind":"unix-echo","options":{"socket":"../up"}}`:                           {http.StatusBadRequest, "plain file name"},
		`{"kind":"unix-echo","options":{"socket":"a/b"}}`:                             {http.StatusBadRequest, "plain file name"},
		`{"kind":"unix-echo","options":{"socket":"echo"}}`:                            {http.StatusConflict, "same socket name"},
		`{"kind":"unix-echo","port":` + strconv.Itoa(a.Lab.Ports().First) + `}`:       {http.StatusBadRequest, "no port"},
		`{"kind":"unix-echo","options":{"socket":"` + strings.Repeat("n", 41) + `"}}`: {http.StatusBadRequest, "40"},
	} {
		e = errorBody{}
		if code := a.do("POST", "/api/sessions/"+sess+"/servers", body, &e); code != want.code || !strings.Contains(e.Error, want.msg) {
			t.Errorf("%s: %d %q, want %d %q", body, code, e.Error, want.code, want.msg)
		}
	}
	cli := a.clientTo(sess, "unix", "echo", nil)
	a.send(sess, cli, map[string]string{"text": "over a path\n"})
	a.waitEvents(sess, "the echo", func(evs []sessions.Record) bool { return recvData(evs, cli) == "over a path\n" })
	for _, target := range []string{"/etc/passwd", filepath.Join(root, sess, "..", "other", "echo.sock"), "127.0.0.1:20000"} {
		e = errorBody{}
		code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"kind": "unix", "target": target}, &e)
		if code != http.StatusForbidden || !strings.Contains(e.Error, "only to the sockets of this session's own unix-echo servers") {
			t.Errorf("unix client to %s: %d %q", target, code, e.Error)
		}
	}
	if code := a.do("DELETE", "/api/sessions/"+sess, nil, nil); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if _, err := os.Lstat(filepath.Join(root, sess)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the session's socket directory outlived it: %v", err)
	}
}

// The exports of a session with a TCP and a Unix connection: the pcapng
// has the TCP one and not the Unix one (it has no IP packets) and tshark
// reads it; jsonl and txt have both.
func TestExportWithAUnixConnection(t *testing.T) {
	a := newTestApp(t, withSocketDir(filepath.Join(t.TempDir(), "s")))
	sess := a.newSession()
	_, tcpAddr := a.startEcho(sess, nil)
	_, unixPath := a.start(sess, "unix-echo", map[string]any{"socket": "echo"})
	ct := a.clientTo(sess, "tcp", tcpAddr, nil)
	cu := a.clientTo(sess, "unix", unixPath, nil)
	a.send(sess, ct, map[string]string{"text": "by-tcp-1234"})
	a.send(sess, cu, map[string]string{"text": "by-unix-5678"})
	a.waitEvents(sess, "both echoes", func(evs []sessions.Record) bool {
		return recvData(evs, ct) == "by-tcp-1234" && recvData(evs, cu) == "by-unix-5678"
	})
	code, _, capture := a.get("/api/sessions/" + sess + "/export.pcapng")
	if code != http.StatusOK {
		t.Fatalf("pcapng: %d", code)
	}
	if !bytes.Contains(capture, []byte("by-tcp-1234")) || bytes.Contains(capture, []byte("by-unix-5678")) {
		t.Fatal("the capture should hold the TCP bytes and not the Unix ones")
	}
	if !bytes.Contains(capture, []byte("Unix domain socket connections have no IP packets and are left out")) {
		t.Error("the capture's header does not say Unix connections are left out")
	}
	if _, err := exec.LookPath("tshark"); err == nil {
		f := filepath.Join(t.TempDir(), "x.pcapng")
		os.WriteFile(f, capture, 0o600)
		cmd := exec.Command("tshark", "-n", "-r", f, "-T", "fields", "-e", "tcp.payload")
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "62792d7463702d31323334") { // by-tcp-1234
			t.Fatalf("tshark: %v\n%s", err, out)
		}
	} else {
		t.Log("tshark is not installed: the capture is read by gopacket only")
	}
	readCapture(t, capture) // every packet decodes
	_, _, jsonl := a.get("/api/sessions/" + sess + "/export.jsonl")
	if !bytes.Contains(jsonl, []byte(`"net":"unix"`)) || !bytes.Contains(jsonl, []byte("by-unix-5678")) && !bytes.Contains(jsonl, []byte("YnktdW5peC01Njc4")) {
		t.Errorf("jsonl lacks the unix connection:\n%.2000s", jsonl)
	}
	_, _, txt := a.get("/api/sessions/" + sess + "/export.txt")
	if !bytes.Contains(txt, []byte(" unix ")) || !bytes.Contains(txt, []byte("|by-unix-5678|")) {
		t.Errorf("the transcript lacks the unix connection:\n%s", txt)
	}
}
