package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/sockplay/sockplay/sessions"
)

func TestMain(m *testing.M) {
	if addrFile := os.Getenv("SOCKPLAY_TEST_CHILD_ADDR_FILE"); addrFile != "" {
		crashChild(addrFile)
		return
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

func testConfig(t *testing.T, args ...string) config {
	t.Helper()
	base := []string{"-db", filepath.Join(t.TempDir(), "sockplay.db"), "-lab-ports", "24000-24999"}
	cfg, err := parseConfig(append(base, args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func postJSON(t *testing.T, url string, body string, out any) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		t.Fatalf("POST %s: %d %s", url, res.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
}

// Shutting down with live connections loses nothing: every event emitted,
// including the closes the shutdown itself causes, is in the database after
// serve returns.
func TestShutdownWithLiveConnectionsLosesNoEvent(t *testing.T) {
	cfg := testConfig(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, ln, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	base := "http://" + ln.Addr().String()

	var sess struct{ ID string }
	postJSON(t, base+"/api/sessions", `{"name":"shutdown"}`, &sess)
	var srv struct{ Addr string }
	postJSON(t, base+"/api/sessions/"+sess.ID+"/servers", `{"kind":"tcp-echo","options":{"mode":"echo"}}`, &srv)
	var cl struct{ ID string }
	postJSON(t, base+"/api/sessions/"+sess.ID+"/clients", `{"kind":"tcp","target":"`+srv.Addr+`"}`, &cl)

	// Terminal-style connections that stay open, each with traffic.
	const conns = 5
	var open []net.Conn
	for range conns {
		c, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		for range 20 {
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 4)); err != nil {
				t.Fatal(err)
			}
		}
		open = append(open, c)
	}
	for range 10 {
		postJSON(t, base+"/api/sessions/"+sess.ID+"/clients/"+cl.ID+"/send", `{"text":"hello"}`, nil)
	}
	// Wait until the echoes are back (the client's counter), so that the
	// byte count below does not race the shutdown.
	deadline := time.Now().Add(15 * time.Second)
	for {
		var v struct{ Clients []struct{ Received int } }
		res, err := http.Get(base + "/api/sessions/" + sess.ID)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(res.Body).Decode(&v)
		res.Body.Close()
		if len(v.Clients) == 1 && v.Clients[0].Received == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client never received its 50 echoed bytes: %+v", v)
		}
		time.Sleep(10 * time.Millisecond)
	}
	http.DefaultClient.CloseIdleConnections()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return after cancel")
	}
	// The shutdown closed the terminal connections from the server side.
	for _, c := range open {
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a connection stayed open after shutdown")
		}
	}

	db, err := sql.Open("sqlite", sessions.DSN(cfg.DB))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(where string) int {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM events WHERE session_id = ? AND `+where, sess.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The server saw: 5 terminal connections + 1 client, each accepted and
	// closed by the shutdown; the client's own close; the server's stop.
	checks := []struct {
		what  string
		where string
		want  int
	}{
		{"accepts", `kind = 'accept'`, conns + 1},
		{"server recvs of ping", `kind = 'recv' AND server LIKE 'srv-%' AND data = 'cGluZw=='` /* base64 of ping */, conns * 20},
		{"client recvs of hello", `kind = 'recv' AND server LIKE 'cli-%'`, -1},
		// The page client closes at shutdown too: when its FIN reaches the
		// server first, the server side's close says it came after it.
		{"server-side closes at shutdown", `kind = 'close' AND server LIKE 'srv-%' AND json_extract(meta, '$.half') = 0
			AND json_extract(meta, '$.reason') IN ('sockplay is shutting down', 'closed after the peer''s FIN')`, conns + 1},
		{"client close", `kind = 'close' AND server LIKE 'cli-%' AND json_extract(meta, '$.by') = 'local'`, 1},
		{"server-stop", `kind = 'server-stop'`, 1},
	}
	for _, c := range checks {
		got := count(c.where)
		if c.want >= 0 && got != c.want {
			t.Errorf("%s: %d events recorded, want %d", c.what, got, c.want)
		}
	}
	// The client's 10 sends of 5 bytes are all echoed back in some split.
	var echoed int
	if err := db.QueryRow(`SELECT COALESCE(SUM(len), 0) FROM events WHERE session_id = ? AND kind = 'recv' AND server LIKE 'cli-%'`, sess.ID).Scan(&echoed); err != nil {
		t.Fatal(err)
	}
	if echoed != 50 {
		t.Errorf("client received %d bytes, want 50", echoed)
	}
	// Seqs are gapless 1..N.
	var n, maxSeq int
	if err := db.QueryRow(`SELECT COUNT(*), MAX(seq) FROM events WHERE session_id = ?`, sess.ID).Scan(&n, &maxSeq); err != nil {
		t.Fatal(err)
	}
	if n != maxSeq {
		t.Errorf("%d events but last seq %d: the numbering has holes", n, maxSeq)
	}
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check: %q %v", ok, err)
	}
}

func TestConfigFlagsOverrideEnvironment(t *testing.T) {
	env := map[string]string{"SOCKPLAY_ADDR": "127.0.0.1:9999", "SOCKPLAY_LAB_PORTS": "21000-21009", "SOCKPLAY_MAX_SERVERS": "3"}
	cfg, err := parseConfig([]string{"-addr", "127.0.0.1:7777"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:7777" || cfg.LabPorts.First != 21000 || cfg.LabPorts.Last != 21009 || cfg.MaxServers != 3 {
		t.Fatalf("config %+v", cfg)
	}
}

// In workshop mode a session's recording cap defaults to a 200th of the
// database's budget, so a full room fits it; a cap the operator gives, by
// flag or environment, is kept, and outside workshop mode the default is.
func TestConfigWorkshopSessionCapFitsTheRoomInTheBudget(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want int64
	}{
		{nil, nil, 128 << 20},
		{[]string{"-workshop"}, nil, (1 << 30) / 200},
		{[]string{"-workshop", "-max-db-bytes", "4294967296"}, nil, (4 << 30) / 200},
		{[]string{"-workshop", "-max-db-bytes", "104857600"}, nil, 1 << 20}, // never below 1 MiB
		{[]string{"-workshop", "-max-db-bytes", "0"}, nil, 128 << 20},       // no budget to share
		{[]string{"-workshop", "-session-max-bytes", "67108864"}, nil, 64 << 20},
		{[]string{"-workshop"}, map[string]string{"SOCKPLAY_SESSION_MAX_BYTES": "33554432"}, 32 << 20},
		{nil, map[string]string{"SOCKPLAY_WORKSHOP": "true"}, (1 << 30) / 200},
	} {
		cfg, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.SessionMaxBytes != tc.want {
			t.Errorf("%v %v: -session-max-bytes %d, want %d", tc.args, tc.env, cfg.SessionMaxBytes, tc.want)
		}
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-lab-ports", "9-1"}, nil, "port range"},
		{[]string{"-lab-ports", "abc"}, nil, "port range"},
		{nil, map[string]string{"SOCKPLAY_MAX_SERVERS": "many"}, "SOCKPLAY_MAX_SERVERS"},
		{[]string{"-log-level", "loud"}, nil, "log-level"},
		{[]string{"-queue", "0"}, nil, "queue"},
		{[]string{"-max-event-rate", "-1"}, nil, "max-event-rate"},
		{[]string{"-max-sockets", "-5"}, nil, "max-sockets"},
		{[]string{"-body-timeout", "0s"}, nil, "body-timeout"},
		{[]string{"extra"}, nil, "unexpected argument"},
	} {
		_, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%v, %v) = %v, want an error mentioning %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestHelpListsEveryEnvironmentVariable(t *testing.T) {
	var out bytes.Buffer
	_, err := parseConfig([]string{"-h"}, func(string) string { return "" }, &out)
	if err == nil {
		t.Fatal("-h did not stop")
	}
	for _, v := range []string{"SOCKPLAY_ADDR", "SOCKPLAY_DB", "SOCKPLAY_LAB_HOST", "SOCKPLAY_LAB_PORTS", "SOCKPLAY_CAPTURE_CAP",
		"SOCKPLAY_MAX_EVENT_RATE", "SOCKPLAY_MAX_SOCKETS", "SOCKPLAY_MAX_NEW_SESSIONS", "SOCKPLAY_BODY_TIMEOUT"} {
		if !strings.Contains(out.String(), v) {
			t.Errorf("-h does not mention %s", v)
		}
	}
	// docs/safety.md: every limit has a name in the README's configuration
	// table: so does every setting -h lists.
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	vars := regexp.MustCompile(`\$(SOCKPLAY_[A-Z_]+)`).FindAllStringSubmatch(out.String(), -1)
	if len(vars) < 10 {
		t.Fatalf("-h lists only %d variables", len(vars))
	}
	for _, m := range vars {
		if !strings.Contains(string(readme), "`"+m[1]+"`") {
			t.Errorf("README.md's configuration table does not name %s", m[1])
		}
	}
}

// crashChild runs sockplay as a separate process for the crash test: the
// test binary re-executes itself with SOCKPLAY_TEST_CHILD_ADDR_FILE set, and
// this child serves until it is killed, writing its address to that file.
func crashChild(addrFile string) {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := os.WriteFile(addrFile+".tmp", []byte(ln.Addr().String()), 0o600); err != nil {
		os.Exit(2)
	}
	os.Rename(addrFile+".tmp", addrFile)
	serve(context.Background(), cfg, ln, slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(0)
}

// kill -9 in the middle of a flood: the database opens, passes
// integrity_check, and holds every event a live viewer was sent (the hub
// publishes only committed events), gaplessly.
func TestKillNineLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "sockplay.db")
	addrFile := filepath.Join(dir, "addr")
	cmd := exec.Command(os.Args[0], "-db", db, "-lab-ports", "24500-24599")
	cmd.Env = append(os.Environ(), "SOCKPLAY_TEST_CHILD_ADDR_FILE="+addrFile)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
		}
		cmd.Wait()
	}()
	var addr string
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil {
			addr = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child sockplay did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	base := "http://" + addr
	var sess struct{ ID string }
	postJSON(t, base+"/api/sessions", `{"name":"crash"}`, &sess)
	var srv struct{ Addr string }
	postJSON(t, base+"/api/sessions/"+sess.ID+"/servers", `{"kind":"tcp-echo","options":{"recv_size":1024}}`, &srv)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws/sessions/"+sess.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(64 << 20)

	// Flood the echo server from a terminal-like client until killed.
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go io.Copy(io.Discard, conn)
	go func() {
		chunk := bytes.Repeat([]byte("flood\n"), 200)
		for {
			if _, err := conn.Write(chunk); err != nil {
				return
			}
		}
	}()

	// Read the live stream; every event in it has been committed.
	var seen int64
	for seen < 3000 {
		_, msg, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("live stream: %v (after seq %d)", err, seen)
		}
		var m struct {
			Events []struct{ Seq int64 }
			Gap    *sessions.Gap
		}
		if err := json.Unmarshal(msg, &m); err != nil {
			t.Fatal(err)
		}
		for _, e := range m.Events {
			seen = max(seen, e.Seq)
		}
		if m.Gap != nil {
			seen = max(seen, m.Gap.To)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	cmd.Wait()

	store, err := sessions.Open(context.Background(), db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer store.Close()
	var ok string
	if err := store.DB().QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check after kill -9: %q %v", ok, err)
	}
	var n, last int64
	if err := store.DB().QueryRow(`SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?`, sess.ID).Scan(&n, &last); err != nil {
		t.Fatal(err)
	}
	if last < seen {
		t.Fatalf("the viewer was sent seq %d, but the database ends at %d", seen, last)
	}
	if n != last {
		t.Fatalf("%d events up to seq %d: holes after kill -9", n, last)
	}
}
