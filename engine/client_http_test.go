package engine

import (
	"strings"
	"testing"
)

func TestHTTPClientAgainstHTTPAPI(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv, err := lab.StartServer(session, ServerSpec{Kind: "http-api"})
	if err != nil {
		t.Fatal(err)
	}
	ci := openClientKind(t, lab, session, "http", srv.Addr, `{"path":"/hello","query":"name=ada"}`)
	evs := sink.waitFor(t, "the response", func(evs []Event) bool { return len(filter(evs, KindHTTPResponse, ci.ID)) == 1 })
	req := filter(evs, KindHTTPRequest, ci.ID)
	if len(req) != 1 || req[0].Meta["method"] != "GET" || req[0].Meta["path"] != "/hello" || req[0].Meta["query"] != "name=ada" ||
		req[0].Meta["headers"].(map[string]string)["Host"] != srv.Addr {
		t.Errorf("http-request events:\n%s", dumpEvents(req))
	}
	resp := filter(evs, KindHTTPResponse, ci.ID)[0]
	if resp.Meta["status"] != 200 || resp.Meta["reason"] != "OK" || !strings.Contains(resp.Meta["body"].(string), "ada") || resp.Conn != ci.Conn {
		t.Errorf("http-response meta %v", resp.Meta)
	}
	sends := filter(connEvents(evs, ci.Conn), KindSend, "")
	if len(sends) != 1 || !strings.HasPrefix(string(sends[0].Data), "GET /hello?name=ada HTTP/1.1\r\n") {
		t.Errorf("the request is not one send of its bytes:\n%s", dumpEvents(sends))
	}
	// The server saw the same request.
	if sr := filter(evs, KindHTTPRequest, srv.ID); len(sr) != 1 || sr[0].Meta["path"] != "/hello" {
		t.Errorf("server's http-request events:\n%s", dumpEvents(sr))
	}
	sink.waitFor(t, "the client to be idle", func([]Event) bool { return clientState(t, lab, session, ci.ID) == StateIdle })

	if err := lab.Send(session, ci.ID, []byte(`{"method":"POST","path":"/items","body":"{\"x\": 1}"}`)); err != nil {
		t.Fatal(err)
	}
	evs = sink.waitFor(t, "the POST's response", func(evs []Event) bool { return len(filter(evs, KindHTTPResponse, ci.ID)) == 2 })
	post := filter(evs, KindHTTPResponse, ci.ID)[1]
	if post.Meta["status"] != 201 || !strings.Contains(post.Meta["body"].(string), `"x"`) {
		t.Errorf("POST response meta %v", post.Meta)
	}
	if err := lab.Send(session, ci.ID, []byte(`{"path":"no slash"}`)); !isOptionError("path")(err) {
		t.Errorf("bad path: err = %v, want an option error", err)
	}
}

func TestHTTPClientAgainstANonHTTPServer(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, session, `{"mode":"upper"}`)
	ci := openClientKind(t, lab, session, "http", srv.Addr, "")
	evs := sink.waitFor(t, "the protocol error", func(evs []Event) bool { return len(filter(evs, KindError, ci.ID)) == 1 })
	e := filter(evs, KindError, ci.ID)[0]
	if e.Err.Errno != "EPROTO" || e.Meta["op"] != "http-response" || e.Err.Hint == "" {
		t.Errorf("error %+v meta %v", *e.Err, e.Meta)
	}
}

func TestHTTPClientRejectsBadOptions(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	for _, opts := range []string{`{"path":"nope"}`, `{"query":"a b"}`, `{"method":"PUT"}`} {
		if _, err := lab.OpenClient(t.Context(), "s", ClientSpec{Kind: "http", Target: "127.0.0.1:21000", Options: []byte(opts)}); err == nil {
			t.Errorf("options %s accepted", opts)
		}
	}
	if evs := sink.events(); len(evs) != 0 {
		t.Errorf("rejected options emitted events:\n%s", dumpEvents(evs))
	}
}
