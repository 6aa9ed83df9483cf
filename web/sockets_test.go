package web

import (
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/sockplay/sockplay/engine"
)

// sockets reads the session's socket table through the API.
func (a *testApp) sockets(session string) []engine.SocketInfo {
	a.t.Helper()
	var out struct {
		Sockets []engine.SocketInfo `json:"sockets"`
		At      string              `json:"at"`
	}
	if code := a.do("GET", "/api/sessions/"+session+"/sockets", nil, &out); code != http.StatusOK || out.Sockets == nil || out.At == "" {
		a.t.Fatalf("GET sockets: status %d, %+v", code, out)
	}
	return out.Sockets
}

// A tcp-echo server and a client started through the API show up in the
// session's socket table: the listener and both ends of the connection,
// with the kernel's view on Linux; another session's table is empty, an
// unknown session is 404.
func TestAPISocketTable(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	if rows := a.sockets(sess); len(rows) != 0 {
		t.Fatalf("a new session lists %d sockets", len(rows))
	}
	srv, addr := a.startEcho(sess, nil)
	cli := a.openClient(sess, addr)
	var rows []engine.SocketInfo
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows = a.sockets(sess)
		if len(rows) == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	roles := map[string]engine.SocketInfo{}
	for _, r := range rows {
		roles[r.Owner+" "+r.Role] = r
	}
	ln, acc, c := roles[srv+" listener"], roles[srv+" accepted"], roles[cli+" client"]
	if len(rows) != 3 || ln.State != "LISTEN" || ln.Local != addr || acc.State != "ESTABLISHED" || c.State != "ESTABLISHED" || c.Remote != addr {
		t.Fatalf("table %+v, want the listener on %s and an established pair", rows, addr)
	}
	if c.Since == "" || c.Kind != "tcp" || acc.Kind != "tcp-echo" {
		t.Errorf("client row %+v: want its kind and since", c)
	}
	if runtime.GOOS == "linux" && (c.TCPInfo == nil || c.TCPInfo.State != "ESTABLISHED" || c.TCPInfo.SndCwnd == 0) {
		t.Errorf("client tcp_info %+v", c.TCPInfo)
	}
	if rows := a.sockets(a.newSession()); len(rows) != 0 {
		t.Errorf("another session lists %+v", rows)
	}
	var e errorBody
	if code := a.do("GET", "/api/sessions/nope/sockets", nil, &e); code != http.StatusNotFound || e.Error == "" {
		t.Errorf("unknown session: %d %+v", code, e)
	}
}
