package engine

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sockplay/sockplay/engine/appproto"
)

// appFrames returns the app-frame events of conn.
func appFrames(evs []Event, conn string) []Event {
	return filter(connEvents(evs, conn), KindAppFrame, "")
}

// appResult is the "result" of a decoded text/json response frame.
func appResult(ev Event) string {
	obj, _ := ev.Meta["content"].(appproto.Object)
	v, _ := obj.Get("result")
	s, _ := v.(string)
	return s
}

// checkAppExchanges opens an app client to target, and sends a binary
// request after the search: each is one connection with a request frame and
// a response frame.
func checkAppExchanges(t *testing.T, lab *Lab, sink *testSink, session, target string) {
	t.Helper()
	ci := openClientKind(t, lab, session, "app", target, `{"action":"search","value":"morpheus"}`)
	evs := sink.waitFor(t, "the response and the close", func(evs []Event) bool {
		return len(appFrames(evs, ci.Conn)) == 2 && len(filter(connEvents(evs, ci.Conn), KindClose, "")) > 0
	})
	frames := appFrames(evs, ci.Conn)
	if frames[0].Meta["direction"] != "request" || frames[1].Meta["direction"] != "response" || frames[0].Server != ci.ID {
		t.Fatalf("frames:\n%s", dumpEvents(frames))
	}
	if got := appResult(frames[1]); got != appproto.Search["morpheus"] {
		t.Errorf("search result %q, want %q", got, appproto.Search["morpheus"])
	}
	if parts, _ := frames[0].Meta["parts"].([]map[string]any); len(parts) != 3 || parts[0]["name"] != "length" {
		t.Errorf("request parts %v", frames[0].Meta["parts"])
	}
	sends := filter(connEvents(evs, ci.Conn), KindSend, "")
	if len(sends) != 1 || string(sends[0].Data) != string(frames[0].Data) {
		t.Errorf("the request was not sent in one write as framed:\n%s", dumpEvents(sends))
	}
	sink.waitFor(t, "the client to be idle", func([]Event) bool { return clientState(t, lab, session, ci.ID) == StateIdle })

	if err := lab.Send(session, ci.ID, []byte(`{"action":"binary","value":"😃"}`)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	c, _ := lab.Client(session, ci.ID)
	second := c.Info().Conn
	if second == ci.Conn {
		t.Fatal("the second request reused the connection")
	}
	evs = sink.waitFor(t, "the binary response", func(evs []Event) bool { return len(appFrames(evs, second)) == 2 })
	resp := appFrames(evs, second)[1]
	if ct, _ := resp.Meta["header"].(appproto.Object).Get("content-type"); ct != appproto.TypeServerBinary {
		t.Errorf("binary response header %v", resp.Meta["header"])
	}
	if !strings.HasSuffix(string(resp.Data), appproto.BinaryReplyPrefix+"binary😃") {
		t.Errorf("binary response %q", resp.Data)
	}
	if err := lab.Send(session, ci.ID, []byte(`hello`)); !isOptionError("request")(err) {
		t.Errorf("Send of plain text: err = %v, want an option error", err)
	}
	lab.CloseClient(session, ci.ID, false)
	if err := lab.Send(session, ci.ID, []byte(`{"action":"search","value":"ring"}`)); err == nil {
		t.Error("Send after Close succeeded")
	}
}

func TestAppClientAgainstAppServer(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv, err := lab.StartServer(session, ServerSpec{Kind: "app"})
	if err != nil {
		t.Fatal(err)
	}
	checkAppExchanges(t, lab, sink, session, srv.Addr)
}

// Interop: the answers come from the independent Python server of
// testdata/app, on a lab port.
func TestAppClientAgainstPythonServer(t *testing.T) {
	py := python3Path(t)
	port := freeLabPort(t)
	cmd := exec.Command(py, filepath.Join("testdata", "app", "app_server.py"), "127.0.0.1", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "PYTHONIOENCODING=utf-8")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if err != nil || !ok {
		t.Fatalf("app_server.py printed %q (%v)", line, err)
	}
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	checkAppExchanges(t, lab, sink, "s", addr)
}

// A server that never answers: a timeout event, and the connection closes.
func TestAppClientTimeout(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{})
	silent := listenLoopback(t, freeLabPort(t))
	ci := openClientKind(t, lab, session, "app", silent.Addr().String(), `{"timeout_ms":100}`)
	evs := sink.waitFor(t, "the timeout and the close", func(evs []Event) bool {
		return len(filter(connEvents(evs, ci.Conn), KindClose, "")) == 1
	})
	to := filter(connEvents(evs, ci.Conn), KindTimeout, "")
	if len(to) != 1 || to[0].Meta["timeout_ms"] != int64(100) {
		t.Errorf("timeout events:\n%s", dumpEvents(evs))
	}
	if cl := filter(connEvents(evs, ci.Conn), KindClose, "")[0]; cl.Meta["reason"] != "no response within timeout_ms" {
		t.Errorf("close %v", cl.Meta)
	}
}

// Clients left open end with the lab: an app client waiting for ever on a
// silent server, a udp client waiting for a reply, an idle http client.
func TestRequestAndUDPClientsEndWithTheLab(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{})
	silent := listenLoopback(t, freeLabPort(t))
	app := openClientKind(t, lab, session, "app", silent.Addr().String(), `{"timeout_ms":0}`)
	udp := openClientKind(t, lab, session, "udp", "127.0.0.1:"+strconv.Itoa(closedUDPPort(t)), `{"timeout_ms":600000}`)
	if err := lab.Send(session, udp.ID, []byte("x")); err != nil {
		t.Fatal(err)
	}
	lab.Close()
	evs := sink.events()
	if cl := filter(connEvents(evs, app.Conn), KindClose, ""); len(cl) != 1 || cl[0].Meta["reason"] != "the client was closed" {
		t.Errorf("app client's close:\n%s", dumpEvents(cl))
	}
	if cl := filter(evs, KindClose, udp.ID); len(cl) != 1 {
		t.Errorf("udp client's close:\n%s", dumpEvents(cl))
	}
	if open, _ := lab.OpenSockets(); open != 0 {
		t.Errorf("%d sockets open after Close", open)
	}
	if err := lab.Send(session, app.ID, []byte(`{"action":"search","value":"ring"}`)); err == nil {
		t.Error("Send after the lab closed succeeded")
	}
}
