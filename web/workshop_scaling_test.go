package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// withLabPorts gives the test app's lab another port range (two apps in
// one test must not share one).
func withLabPorts(r string) appOption {
	return func(l *engine.LabConfig, _ *Config, _ *int) {
		p, err := engine.ParsePortRange(r)
		if err != nil {
			panic(err)
		}
		l.Ports = p
	}
}

// halfRange is the first (i 0) or the second half of the harness's lab range.
func halfRange(i int) string {
	mid := (apiLabFirst + apiLabLast) / 2
	if i == 0 {
		return fmt.Sprintf("%d-%d", apiLabFirst, mid)
	}
	return fmt.Sprintf("%d-%d", mid+1, apiLabLast)
}

// docs/scaling.md: two sockplay instances, one workshop each, behind one
// nginx (deploy/nginx-workshops.conf, run as it is with the addresses
// replaced) on loopback. Each workshop's host name reaches its own
// instance — log-in, join, the API and a live WebSocket stream — and one
// instance knows nothing of the other's workshop.
func TestWorkshopScalingTwoInstancesBehindNginx(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		nginx, err = exec.LookPath("/usr/sbin/nginx") // not on a user's PATH
	}
	if err != nil {
		if os.Getenv("SOCKPLAY_REQUIRE_NGINX") != "" {
			t.Fatal("nginx not installed and SOCKPLAY_REQUIRE_NGINX is set (CI): apt-get install nginx-light")
		}
		t.Skip("nginx not installed (apt-get install nginx-light)")
	}
	apps := map[string]*testApp{}
	for i, host := range []string{"w1.localhost", "w2.localhost"} {
		apps[host] = newTestApp(t, withWorkshop(func(c *Config) { c.AllowedHosts = []string{host} }),
			withLabPorts(halfRange(i)))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxyAddr := ln.Addr().String()
	ln.Close() // nginx binds it next (a tiny window another program could take it in)
	_, proxyPort, _ := net.SplitHostPort(proxyAddr)

	conf, err := os.ReadFile("../deploy/nginx-workshops.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := strings.NewReplacer(
		"listen 8080", "listen "+proxyAddr,
		"http://127.0.0.1:8081", apps["w1.localhost"].URL, "http://127.0.0.1:8082", apps["w2.localhost"].URL,
		"w1.example.org", "w1.localhost", "w2.example.org", "w2.localhost",
	).Replace(string(conf))
	// Run unprivileged files under the test's directory.
	c = strings.Replace(c, "worker_processes 1;", "worker_processes 1;\npid "+filepath.Join(dir, "nginx.pid")+";\nerror_log "+filepath.Join(dir, "error.log")+";", 1)
	c = strings.Replace(c, "access_log off;", "access_log off;\n    client_body_temp_path "+dir+"/body;\n    proxy_temp_path "+dir+"/proxy;\n    fastcgi_temp_path "+dir+"/fcgi;\n    uwsgi_temp_path "+dir+"/uwsgi;\n    scgi_temp_path "+dir+"/scgi;", 1)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nginx, "-p", dir, "-c", confPath, "-g", "daemon off;")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	// Every request goes to nginx, whatever the name in its URL.
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, proxyAddr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	through := func(host string) *browser {
		jar, _ := cookiejar.New(nil)
		b := &browser{t: t, a: &testApp{t: t, URL: "http://" + host + ":" + proxyPort}, jar: jar,
			c: &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
		return b
	}
	// Wait for nginx to answer.
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err := through("w1.localhost").c.Get("http://w1.localhost:" + proxyPort + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not answer: %v %s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}

	codes := map[string]string{}
	for _, host := range []string{"w1.localhost", "w2.localhost"} {
		inst := through(host)
		if code := inst.do("POST", "/api/workshop/login", map[string]string{"password": testPassword}, nil); code != http.StatusNoContent {
			t.Fatalf("log in at %s: %d", host, code)
		}
		w := inst.createWorkshop("workshop of " + host)
		if !strings.HasPrefix(w.JoinURL, "http://"+host+":"+proxyPort+"/join") {
			t.Errorf("%s's join URL %s does not name the proxy's address", host, w.JoinURL)
		}
		codes[host] = w.Code
		var out struct{ Workshops []workshopView }
		inst.do("GET", "/api/workshops", nil, &out)
		if len(out.Workshops) != 1 || out.Workshops[0].Name != "workshop of "+host {
			t.Errorf("%s lists %+v: want only its own workshop", host, out.Workshops)
		}
	}
	// A code works on its workshop's name only.
	var e struct{ Error string }
	if code := through("w2.localhost").do("POST", "/api/join", map[string]string{"code": codes["w1.localhost"], "name": "Ada"}, &e); code != http.StatusNotFound {
		t.Errorf("w1's code at w2: %d %q; want 404", code, e.Error)
	}
	if res, _ := through("w3.localhost").send("GET", "/healthz", "", false); res.StatusCode != http.StatusNotFound {
		t.Errorf("a name nginx does not know: %d; want 404", res.StatusCode)
	}

	ada := through("w1.localhost")
	j := ada.join(codes["w1.localhost"], "Ada")
	id, addr := ada.startServer(j.Session, "tcp-echo")
	if port, _ := strconv.Atoi(addr[strings.LastIndex(addr, ":")+1:]); port < apiLabFirst || port > (apiLabFirst+apiLabLast)/2 {
		t.Errorf("Ada's server %s is not in w1's lab range", addr)
	}
	// The live stream through the proxy: the upgrade passes, events arrive.
	hdr := http.Header{}
	for _, ck := range ada.jar.Cookies(mustURL(t, ada.a.URL)) {
		hdr.Add("Cookie", ck.Name+"="+ck.Value)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://w1.localhost:"+proxyPort+"/ws/sessions/"+j.Session+"?after=0",
		&websocket.DialOptions{HTTPHeader: hdr, HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatalf("WebSocket through nginx: %v", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(64 << 20)
	evs, _ := collect(ctx, t, conn, 0, func(evs []sessions.Record) bool {
		return slices.ContainsFunc(evs, func(r sessions.Record) bool { return r.Kind == engine.KindServerStart && r.Server == id })
	})
	if evs[0].Session != j.Session {
		t.Errorf("events of session %s", evs[0].Session)
	}
	// The other instance has no such session.
	if code := through("w2.localhost").do("GET", "/api/sessions/"+j.Session, nil, nil); code != http.StatusUnauthorized {
		t.Errorf("Ada's session at w2 (no cookie there): %d; want 401", code)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
