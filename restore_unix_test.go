package main

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A unix-echo server comes back after a restart on the same path, in the
// socket directory beside the database; a socket file a killed sockplay
// left behind (nothing answers on it) does not stop it.
func TestUnixEchoComesBackAfterARestart(t *testing.T) {
	cfg := testConfig(t)
	first := startInstance(t, cfg)
	var sess struct{ ID string }
	postJSON(t, first.base+"/api/sessions", `{"name":"unix restart"}`, &sess)
	var srv struct {
		ID   string `json:"id"`
		Addr string `json:"addr"`
	}
	postJSON(t, first.base+"/api/sessions/"+sess.ID+"/servers", `{"kind":"unix-echo","options":{"socket":"ipc","mode":"upper"}}`, &srv)
	want := filepath.Join(filepath.Dir(cfg.DB), "sockets", sess.ID, "ipc.sock")
	if srv.Addr != want {
		t.Fatalf("socket at %s, want %s (beside the database)", srv.Addr, want)
	}
	unixEcho := func(msg string) string {
		t.Helper()
		c, err := net.DialTimeout("unix", srv.Addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", srv.Addr, err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, msg)
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	if got := unixEcho("hi"); got != "HI" {
		t.Fatalf("before the restart: %q", got)
	}
	first.stop()
	if _, err := os.Lstat(srv.Addr); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the socket file outlived the shutdown: %v", err)
	}
	// What kill -9 leaves: the file, and nothing listening on it.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: srv.Addr, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()

	second := startInstance(t, cfg)
	if got := unixEcho("again"); got != "AGAIN" {
		t.Errorf("after the restart: %q", got)
	}
	for _, s := range second.session(sess.ID).Servers {
		if s.ID == srv.ID && (!s.Restored || s.State != "running" || s.Addr != srv.Addr) {
			t.Errorf("restored server %+v", s)
		}
	}
}
