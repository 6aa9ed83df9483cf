package engine

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startProxy starts a tcp-proxy to target in session, with the extra JSON
// options extra (may be ""), and returns its description.
func startProxy(t testing.TB, lab *Lab, session, target, extra string) ServerInfo {
	t.Helper()
	info, err := lab.StartServer(session, ServerSpec{Kind: "tcp-proxy", Options: proxyOpts(target, extra)})
	if err != nil {
		t.Fatalf("StartServer(tcp-proxy to %s): %v", target, err)
	}
	return info
}

func proxyOpts(target, extra string) json.RawMessage {
	t, _ := json.Marshal(target)
	s := `{"target":` + string(t)
	if extra != "" {
		s += "," + extra
	}
	return json.RawMessage(s + "}")
}

// proxyLegs waits for the proxy's dial for the test's connection c and
// returns the conn ids of its client leg (the accepted one) and upstream leg
// ("" when the dial failed), and the proxy-dial event.
func proxyLegs(t testing.TB, sink *testSink, proxy ServerInfo, c net.Conn) (client, upstream string, dialEv Event) {
	t.Helper()
	evs := sink.waitFor(t, "the proxy's accept and dial for "+c.LocalAddr().String(), func(evs []Event) bool {
		i := indexOf(evs, func(ev Event) bool {
			return ev.Kind == KindAccept && ev.Server == proxy.ID && ev.Remote == c.LocalAddr().String()
		})
		return i >= 0 && indexOf(connEvents(evs, evs[i].Conn), func(ev Event) bool { return ev.Kind == KindProxyDial }) >= 0
	})
	client = evs[indexOf(evs, func(ev Event) bool {
		return ev.Kind == KindAccept && ev.Server == proxy.ID && ev.Remote == c.LocalAddr().String()
	})].Conn
	cev := connEvents(evs, client)
	dialEv = cev[indexOf(cev, func(ev Event) bool { return ev.Kind == KindProxyDial })]
	upstream, _ = dialEv.Meta["upstream"].(string)
	return client, upstream, dialEv
}

// dataOf concatenates the Data of evs' events of kind k.
func dataOf(evs []Event, k Kind) []byte {
	var b []byte
	for _, ev := range evs {
		if ev.Kind == k {
			b = append(b, ev.Data...)
		}
	}
	return b
}

// finalClose returns conn's last close event by this side (half=false), or
// false.
func finalClose(evs []Event, conn string) (Event, bool) {
	cev := connEvents(evs, conn)
	i := indexOf(cev, func(ev Event) bool { return isClose(ev, "local", false) })
	if i < 0 {
		return Event{}, false
	}
	return cev[i], true
}

// closeReason waits for conn's final local close and returns its reason.
func closeReason(t testing.TB, sink *testSink, conn string) string {
	t.Helper()
	evs := sink.waitFor(t, "the final close of "+conn, func(evs []Event) bool {
		_, ok := finalClose(evs, conn)
		return ok
	})
	ev, _ := finalClose(evs, conn)
	r, _ := ev.Meta["reason"].(string)
	return r
}

// serveOnce accepts one connection on ln and runs serve on it in a
// goroutine that the test waits for; the connection has a deadline.
func serveOnce(t testing.TB, ln net.Listener, serve func(c *net.TCPConn)) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(waitTimeout))
		serve(c.(*net.TCPConn))
	}()
	t.Cleanup(func() { ln.Close(); <-done })
}

// pattern returns n bytes covering every byte value.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7 % 251)
	}
	return b
}

func TestProxyKindSchema(t *testing.T) {
	k := LookupServerKind("tcp-proxy")
	if k == nil || k.Net != NetTCP {
		t.Fatalf("tcp-proxy kind = %+v, want one with net tcp", k)
	}
	byName := map[string]OptionSpec{}
	for _, o := range k.Options {
		byName[o.Name] = o
		if o.Help == "" {
			t.Errorf("option %s has no help", o.Name)
		}
	}
	if o := byName["target"]; o.Type != OptString || !o.Required || o.MaxLen != 300 || o.Default != nil {
		t.Errorf("target option %+v, want a required string of at most 300 bytes without a default", o)
	}
	if o := byName["recv_size"]; o.Type != OptInt || o.Default != DefaultProxyRecvSize || *o.Min != 1 || *o.Max != 65536 {
		t.Errorf("recv_size option %+v, want an int 1..65536, default %d", o, DefaultProxyRecvSize)
	}
}

// Bytes go through byte for byte both ways, each leg is recorded under its
// own conn id, and the legs name each other.
func TestProxyForwardsToEchoBothWays(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	echo := startEcho(t, lab, session, `{"mode":"echo"}`)
	proxy := startProxy(t, lab, session, echo.Addr, "")
	if proxy.Kind != "tcp-proxy" || proxy.Net != NetTCP || proxy.Options.String("target") != echo.Addr || proxy.Options.Int("recv_size") != DefaultProxyRecvSize {
		t.Errorf("proxy info %+v, want kind tcp-proxy, net tcp, target %s, recv_size %d", proxy, echo.Addr, DefaultProxyRecvSize)
	}
	c := dial(t, proxy.Addr)
	payload := pattern(200000)
	errc := make(chan error, 1)
	go func() { _, err := c.Write(payload); errc <- err }()
	if got := readN(t, c, len(payload)); !bytes.Equal(got, payload) {
		t.Fatal("the bytes that came back through the proxy differ from the ones sent")
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if rest := readToEOF(t, c); len(rest) != 0 {
		t.Errorf("after the echo: %d more bytes, want EOF", len(rest))
	}

	client, up, dialEv := proxyLegs(t, sink, proxy, c)
	reason := closeReason(t, sink, client)
	closeReason(t, sink, up)
	evs := sink.events()
	if up == "" || up == client || !strings.HasPrefix(up, "c-") {
		t.Fatalf("upstream leg %q, client leg %q: want two distinct conn ids\n%s", up, client, dumpEvents(evs))
	}
	if dialEv.Err != nil || dialEv.Server != proxy.ID || dialEv.Meta["target"] != echo.Addr || dialEv.Meta["client_conn"] != client {
		t.Errorf("proxy-dial event err %v server %s meta %v; want no error, %s, target %s, client_conn %s", dialEv.Err, dialEv.Server, dialEv.Meta, proxy.ID, echo.Addr, client)
	}
	upEvs := connEvents(evs, up)
	if len(upEvs) == 0 || upEvs[0].Kind != KindConnect {
		t.Fatalf("upstream leg's events do not begin with connect:\n%s", dumpEvents(upEvs))
	}
	conn := upEvs[0]
	if conn.Server != proxy.ID || conn.Remote != echo.Addr || conn.Meta["proxy_for"] != client || conn.Meta["target"] != echo.Addr {
		t.Errorf("upstream connect: server %s remote %s meta %v; want %s, %s, proxy_for %s, target %s", conn.Server, conn.Remote, conn.Meta, proxy.ID, echo.Addr, client, echo.Addr)
	}
	// The echo's own connection is the upstream leg seen from the other end.
	echoAccepts := filter(evs, KindAccept, echo.ID)
	if len(echoAccepts) != 1 || echoAccepts[0].Remote != conn.Local {
		t.Errorf("echo accepts %v, want one from the upstream leg's %s", echoAccepts, conn.Local)
	}
	clEvs := connEvents(evs, client)
	for _, c := range []struct {
		name string
		got  []byte
	}{
		{"client leg recv", dataOf(clEvs, KindRecv)},
		{"upstream leg send", dataOf(upEvs, KindSend)},
		{"upstream leg recv", dataOf(upEvs, KindRecv)},
		{"client leg send", dataOf(clEvs, KindSend)},
	} {
		if !bytes.Equal(c.got, payload) {
			t.Errorf("%s events carry %d bytes, want the %d sent, byte for byte", c.name, len(c.got), len(payload))
		}
	}
	for _, ev := range append(clEvs, upEvs...) {
		if ev.Kind == KindError {
			t.Errorf("error event on a leg: %+v", ev.Err)
		}
	}
	if !strings.Contains(reason, "both directions ended") || !strings.Contains(reason, "200000 bytes went to the target, 200000 came back") {
		t.Errorf("client leg's close reason %q, want both directions ended and the byte counts", reason)
	}
}

// A target written in the test: what it sends and what it gets are exactly
// what the client sent and gets, and the counters say so.
func TestProxyToPlainServerCountsBytes(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	ln := listenLoopback(t, freeLabPort(t))
	got := make(chan []byte, 1)
	release := make(chan struct{})
	serveOnce(t, ln, func(c *net.TCPConn) {
		b := make([]byte, 5)
		io.ReadFull(c, b)
		got <- b
		c.Write([]byte("HELLO from the target\x00\xff"))
		<-release
	})
	proxy := startProxy(t, lab, session, ln.Addr().String(), "")
	c := dial(t, proxy.Addr)
	write(t, c, []byte("hello"))
	reply := "HELLO from the target\x00\xff"
	if b := readN(t, c, len(reply)); string(b) != reply {
		t.Errorf("client got %q, want %q", b, reply)
	}
	if b := <-got; string(b) != "hello" {
		t.Errorf("target got %q, want \"hello\"", b)
	}
	client, up, _ := proxyLegs(t, sink, proxy, c)
	want := map[string]int64{"outbound": 5, "inbound": int64(len(reply)), "connections": 1, "failed_dials": 0}
	sink.waitFor(t, "the proxy's counters after the exchange", func([]Event) bool {
		info := lab.Servers(session)[0]
		for k, v := range want {
			if info.Counters[k] != v {
				return false
			}
		}
		d, _ := info.Details[client].(map[string]any)
		return d["upstream"] == up && d["outbound"] == int64(5) && d["inbound"] == int64(len(reply))
	})
	close(release) // the target closes; the proxy closes both legs
	if rest := readToEOF(t, c); len(rest) != 0 {
		t.Errorf("got %q more, want EOF", rest)
	}
	c.Close()
	reason := closeReason(t, sink, client)
	if want := "5 bytes went to the target, 23 came back"; !strings.Contains(reason, want) {
		t.Errorf("client leg's close reason %q, want it to say %q", reason, want)
	}
	if r := closeReason(t, sink, up); !strings.Contains(r, "5 bytes went to the target, 23 came back") {
		t.Errorf("upstream leg's close reason %q, want the byte counts", r)
	}
	sink.waitFor(t, "the connection to leave the details", func([]Event) bool {
		return lab.Servers(session)[0].Details[client] == nil && lab.Servers(session)[0].Conns == 0
	})
	evs := sink.events()
	if b := dataOf(connEvents(evs, up), KindSend); string(b) != "hello" {
		t.Errorf("upstream leg's send events carry %q, want \"hello\"", b)
	}
	if b := dataOf(connEvents(evs, client), KindSend); string(b) != reply {
		t.Errorf("client leg's send events carry %q, want %q", b, reply)
	}
}

// The client's shutdown(SHUT_WR) reaches the target as EOF, the target's
// reply still reaches the client, then both legs close.
func TestProxyPassesHalfClose(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	ln := listenLoopback(t, freeLabPort(t))
	got := make(chan string, 1)
	serveOnce(t, ln, func(c *net.TCPConn) {
		b, err := io.ReadAll(c) // until the client's FIN
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		got <- string(b)
		c.Write([]byte("got " + strconv.Itoa(len(b)) + " bytes"))
	})
	proxy := startProxy(t, lab, session, ln.Addr().String(), "")
	c := dial(t, proxy.Addr)
	write(t, c, []byte("abc"))
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if b := <-got; b != "abc" {
		t.Fatalf("target read %q then EOF, want \"abc\" then EOF", b)
	}
	if b := readToEOF(t, c); string(b) != "got 3 bytes" {
		t.Errorf("client got %q then EOF, want the target's reply \"got 3 bytes\"", b)
	}
	client, up, _ := proxyLegs(t, sink, proxy, c)
	closeReason(t, sink, client)
	closeReason(t, sink, up)
	evs := sink.events()
	at := func(conn, by string, half bool) int {
		return indexOf(evs, func(ev Event) bool { return ev.Conn == conn && isClose(ev, by, half) })
	}
	clientFIN, passedOn := at(client, "peer", true), at(up, "local", true)
	targetFIN, passedBack := at(up, "peer", true), at(client, "local", true)
	if clientFIN < 0 || passedOn < clientFIN || targetFIN < passedOn || passedBack < targetFIN {
		t.Errorf("want the client's FIN, its shutdown on the upstream leg, the target's FIN, its shutdown on the client leg, in that order; got indexes %d %d %d %d\n%s",
			clientFIN, passedOn, targetFIN, passedBack, dumpEvents(evs))
	}
	for _, conn := range []string{client, up} {
		if i := at(conn, "local", false); i < passedBack {
			t.Errorf("leg %s: final close at %d, want one after both directions ended (%d)", conn, i, passedBack)
		}
	}
}

func TestProxyTargetRefuses(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{})
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(freeLabPort(t)))
	proxy := startProxy(t, lab, session, target, "")
	c := dial(t, proxy.Addr)
	if _, err := c.Read(make([]byte, 1)); !isEOFOrReset(err) {
		t.Errorf("client read %v, want EOF or a reset", err)
	}
	client, up, ev := proxyLegs(t, sink, proxy, c)
	if up != "" || ev.Err == nil || ev.Err.Errno != "ECONNREFUSED" || ev.Err.Hint == "" {
		t.Errorf("proxy-dial upstream %q err %+v, want no upstream leg and ECONNREFUSED with a hint", up, ev.Err)
	}
	if ev.Meta["target"] != target || ev.Meta["client_conn"] != client {
		t.Errorf("proxy-dial meta %v, want target %s client_conn %s", ev.Meta, target, client)
	}
	if r := closeReason(t, sink, client); r != "the proxy's target refused the connection" {
		t.Errorf("client leg's close reason %q", r)
	}
	if n := len(filter(sink.events(), KindConnect, proxy.ID)); n != 0 {
		t.Errorf("%d connect events of the proxy, want none", n)
	}
	if got := lab.Servers(session)[0].Counters; got["failed_dials"] != 1 || got["connections"] != 0 {
		t.Errorf("counters %v, want failed_dials 1, connections 0", got)
	}
}

// At the lab's socket limit the upstream leg cannot be opened: the dial is
// reported with LIMIT and the client's connection closed, saying why.
func TestProxySocketLimit(t *testing.T) {
	// Two listeners and the client leg take the three places.
	lab, sink := newTestLab(t, LabConfig{MaxSockets: 3})
	echo := startEcho(t, lab, "s", "")
	proxy := startProxy(t, lab, "s", echo.Addr, "")
	c := dial(t, proxy.Addr)
	if _, err := c.Read(make([]byte, 1)); !isEOFOrReset(err) {
		t.Errorf("client read %v, want EOF or a reset", err)
	}
	client, up, ev := proxyLegs(t, sink, proxy, c)
	if up != "" || ev.Err == nil || ev.Err.Errno != "LIMIT" || ev.Err.Hint == "" {
		t.Errorf("proxy-dial upstream %q err %+v, want no upstream leg and LIMIT with a hint", up, ev.Err)
	}
	if r := closeReason(t, sink, client); !strings.Contains(r, "limit of open sockets") {
		t.Errorf("client leg's close reason %q, want the socket limit", r)
	}
	sink.waitFor(t, "the sockets to be given back", func([]Event) bool {
		open, _ := lab.OpenSockets()
		return open == 2
	})
}

// A target the dial policy refuses is refused when the proxy starts, before
// anything is bound, and nothing is recorded.
func TestProxyStartRefusedByPolicy(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	port := freeLabPort(t)
	for _, target := range []string{"127.0.0.1:22", "169.254.169.254:80", "[::1]:22", "10.0.0.1:80"} {
		t.Run(target, func(t *testing.T) {
			_, err := lab.StartServer("s", ServerSpec{Kind: "tcp-proxy", Port: port, Options: proxyOpts(target, "")})
			var re *RefusedError
			if !errors.As(err, &re) || re.Reason == "" {
				t.Fatalf("err = %v, want a *RefusedError with a reason", err)
			}
			ln := listenLoopback(t, port) // the port was not bound
			ln.Close()
		})
	}
	if evs := sink.events(); len(evs) != 0 {
		t.Errorf("refused starts emitted events:\n%s", dumpEvents(evs))
	}
	if open, _ := lab.OpenSockets(); open != 0 || len(lab.Servers("s")) != 0 {
		t.Errorf("%d open sockets, servers %v; want none", open, lab.Servers("s"))
	}
}

func TestProxyStartRejectsBadTarget(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{DialTimeout: 3 * time.Second})
	self := freeLabPort(t)
	tests := []struct {
		name   string
		spec   ServerSpec
		msg    string
		option string // "" : target
	}{
		{"no target", ServerSpec{Kind: "tcp-proxy"}, `option "target" is required`, ""},
		{"target null", ServerSpec{Kind: "tcp-proxy", Options: json.RawMessage(`{"target":null}`)}, `option "target" is required`, ""},
		{"target a number", ServerSpec{Kind: "tcp-proxy", Options: json.RawMessage(`{"target":21000}`)}, "want a string", ""},
		{"no port", ServerSpec{Kind: "tcp-proxy", Options: proxyOpts("127.0.0.1", "")}, "not host:port", ""},
		{"no host", ServerSpec{Kind: "tcp-proxy", Options: proxyOpts(":21000", "")}, "no host", ""},
		{"port 0", ServerSpec{Kind: "tcp-proxy", Options: proxyOpts("127.0.0.1:0", "")}, "1 to 65535", ""},
		{"port too big", ServerSpec{Kind: "tcp-proxy", Options: proxyOpts("127.0.0.1:70000", "")}, "1 to 65535", ""},
		{"port a name", ServerSpec{Kind: "tcp-proxy", Options: proxyOpts("127.0.0.1:http", "")}, "1 to 65535", ""},
		{"too long", ServerSpec{Kind: "tcp-proxy", Options: proxyOpts(strings.Repeat("a", 300)+":1", "")}, "at most 300 bytes", ""},
		{"recv_size 0", ServerSpec{Kind: "tcp-proxy", Options: proxyOpts("127.0.0.1:21000", `"recv_size":0`)}, "out of range", "recv_size"},
		{"name that does not resolve", ServerSpec{Kind: "tcp-proxy", Options: proxyOpts("no-such-host.invalid:21000", "")}, `the name "no-such-host.invalid"`, ""},
		{"itself", ServerSpec{Kind: "tcp-proxy", Port: self, Options: proxyOpts("127.0.0.1:"+strconv.Itoa(self), "")}, "this proxy's own address", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lab.StartServer("s", tt.spec)
			var oe *OptionError
			if !errors.As(err, &oe) || !strings.Contains(oe.Msg, tt.msg) {
				t.Fatalf("err = %v, want an *OptionError saying %q", err, tt.msg)
			}
			if want := cmp.Or(tt.option, "target"); oe.Option != want {
				t.Errorf("error on option %q, want %q", oe.Option, want)
			}
			// No resolver internals: Go's message names the DNS server.
			if strings.Contains(oe.Msg, "lookup ") || strings.Contains(oe.Msg, ":53") {
				t.Errorf("message %q shows the resolver's own words", oe.Msg)
			}
		})
	}
	ln := listenLoopback(t, self) // the proxy to itself did not keep its port
	ln.Close()
	if evs := sink.events(); len(evs) != 0 {
		t.Errorf("rejected starts emitted events:\n%s", dumpEvents(evs))
	}
	if open, _ := lab.OpenSockets(); open != 0 {
		t.Errorf("%d open sockets, want none", open)
	}
}

// recv_size bounds each read of a leg: one write of 3 bytes read 1 byte at
// a time is forwarded as 3 writes.
func TestProxyRecvSize(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	echo := startEcho(t, lab, "s", `{"mode":"echo"}`)
	proxy := startProxy(t, lab, "s", echo.Addr, `"recv_size":1`)
	c := dial(t, proxy.Addr)
	write(t, c, []byte("abc"))
	if b := readN(t, c, 3); string(b) != "abc" {
		t.Fatalf("got %q, want \"abc\"", b)
	}
	client, up, _ := proxyLegs(t, sink, proxy, c)
	evs := sink.waitFor(t, "3 bytes sent on the upstream leg", func(evs []Event) bool {
		return sumLen(filter(connEvents(evs, up), KindSend, "")) == 3
	})
	for _, conn := range []string{client, up} {
		for _, ev := range filter(connEvents(evs, conn), KindRecv, "") {
			if ev.Len != 1 {
				t.Errorf("recv of %d bytes on %s, want 1", ev.Len, conn)
			}
		}
	}
	if n := len(filter(connEvents(evs, up), KindSend, "")); n != 3 {
		t.Errorf("%d sends on the upstream leg, want 3", n)
	}
}

// When the target resets its connection, the proxy resets the client's: the
// client sees what the target did.
func TestProxyTargetResetResetsClient(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	ln := listenLoopback(t, freeLabPort(t))
	serveOnce(t, ln, func(c *net.TCPConn) {
		io.ReadFull(c, make([]byte, 1))
		c.SetLinger(0)
		c.Close()
	})
	proxy := startProxy(t, lab, "s", ln.Addr().String(), "")
	c := dial(t, proxy.Addr)
	write(t, c, []byte("x"))
	_, err := c.Read(make([]byte, 1))
	if Classify(err).Errno != "ECONNRESET" {
		t.Fatalf("client read %v, want ECONNRESET", err)
	}
	client, up, _ := proxyLegs(t, sink, proxy, c)
	evs := sink.waitFor(t, "the upstream leg's reset", func(evs []Event) bool {
		return indexOf(connEvents(evs, up), func(ev Event) bool { return ev.Kind == KindClose && ev.Meta["rst"] == true }) >= 0
	})
	if i := indexOf(connEvents(evs, up), func(ev Event) bool { return ev.Kind == KindError && ev.Err.Errno == "ECONNRESET" }); i < 0 {
		t.Errorf("no ECONNRESET error on the upstream leg:\n%s", dumpEvents(connEvents(evs, up)))
	}
	if r := closeReason(t, sink, client); !strings.Contains(r, "the target reset its connection") || !strings.Contains(r, "SO_LINGER 0") {
		t.Errorf("client leg's close reason %q, want the target's reset and the proxy's", r)
	}
	// The proxy's own reset of the client leg says so in its meta, with the
	// connection's byte totals.
	evs = sink.waitFor(t, "the client leg's close", func(evs []Event) bool {
		return indexOf(connEvents(evs, client), func(ev Event) bool { return ev.Kind == KindClose }) >= 0
	})
	cl := filter(connEvents(evs, client), KindClose, "")
	if m := cl[len(cl)-1].Meta; m["by"] != "local" || m["rst"] != true || m["outbound"] != int64(1) || m["inbound"] != int64(0) {
		t.Errorf("client leg's close meta %v, want by local, rst, outbound 1, inbound 0", m)
	}
}

// When the client resets, the proxy resets the target's connection.
func TestProxyClientResetResetsTarget(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	ln := listenLoopback(t, freeLabPort(t))
	gotByte := make(chan struct{})
	readErr := make(chan error, 1)
	serveOnce(t, ln, func(c *net.TCPConn) {
		io.ReadFull(c, make([]byte, 1))
		close(gotByte)
		_, err := c.Read(make([]byte, 1))
		readErr <- err
	})
	proxy := startProxy(t, lab, "s", ln.Addr().String(), "")
	c := dial(t, proxy.Addr)
	write(t, c, []byte("x"))
	<-gotByte
	client, up, _ := proxyLegs(t, sink, proxy, c)
	c.SetLinger(0)
	c.Close()
	if err := <-readErr; Classify(err).Errno != "ECONNRESET" {
		t.Errorf("target read %v, want ECONNRESET", err)
	}
	if r := closeReason(t, sink, up); !strings.Contains(r, "the client reset its connection") {
		t.Errorf("upstream leg's close reason %q, want the client's reset", r)
	}
	evs := sink.events()
	if i := indexOf(connEvents(evs, client), func(ev Event) bool { return ev.Kind == KindClose && ev.Meta["rst"] == true }); i < 0 {
		t.Errorf("no reset close on the client leg:\n%s", dumpEvents(connEvents(evs, client)))
	}
}

// Stopping the proxy closes both legs of every open connection: the clients
// and the target see the end, and every socket is given back.
func TestProxyStopClosesBothLegs(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{})
	echo := startEcho(t, lab, session, `{"mode":"echo"}`)
	proxy := startProxy(t, lab, session, echo.Addr, "")
	var conns []*net.TCPConn
	var legs [][2]string
	for range 2 {
		c := dial(t, proxy.Addr)
		write(t, c, []byte("hi"))
		readN(t, c, 2)
		client, up, _ := proxyLegs(t, sink, proxy, c)
		conns = append(conns, c)
		legs = append(legs, [2]string{client, up})
	}
	if open, _ := lab.OpenSockets(); open != 2+3*2 {
		t.Errorf("%d open sockets, want 8 (2 listeners, and 3 sockets for each proxied connection)", open)
	}
	stopped, err := lab.StopServer(session, proxy.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stopped.Conns != 0 || stopped.Details != nil {
		t.Errorf("after stop: conns %d details %v, want none", stopped.Conns, stopped.Details)
	}
	for _, c := range conns {
		if _, err := c.Read(make([]byte, 1)); !isEOFOrReset(err) {
			t.Errorf("client read after stop: %v, want EOF or a reset", err)
		}
	}
	// StopServer returned after every close of the proxy's.
	evs := sink.events()
	iStop := indexOf(evs, func(ev Event) bool { return ev.Kind == KindServerStop && ev.Server == proxy.ID })
	for _, l := range legs {
		for _, conn := range l {
			i := indexOf(evs, func(ev Event) bool { return ev.Conn == conn && isClose(ev, "local", false) })
			if i < 0 || i > iStop || !strings.HasPrefix(evs[i].Meta["reason"].(string), "server stopped") {
				t.Errorf("leg %s: want a final close saying \"server stopped\" before server-stop:\n%s", conn, dumpEvents(connEvents(evs, conn)))
			}
		}
	}
	sink.waitFor(t, "the echo to see both upstream legs end and every socket but its listener closed", func(evs []Event) bool {
		open, _ := lab.OpenSockets()
		return len(filter(evs, KindClose, echo.ID)) >= 4 && open == 1
	})
}

// A dial under way when the proxy stops is cut short. Here the target is a
// listener whose accept queue is full, so a connect to it hangs.
func TestProxyStopCutsDialShort(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{DialTimeout: time.Minute})
	target, ok := hangingTarget(t)
	if !ok {
		t.Skip("could not make a listener whose connects hang on this machine")
	}
	proxy := startProxy(t, lab, "s", target, "")
	c := dial(t, proxy.Addr)
	sink.waitFor(t, "the proxy's accept", func(evs []Event) bool { return len(filter(evs, KindAccept, proxy.ID)) == 1 })
	if _, err := lab.StopServer("s", proxy.ID); err != nil {
		t.Fatal(err)
	}
	_, _, ev := proxyLegs(t, sink, proxy, c)
	if ev.Err == nil || ev.Err.Errno != "ECANCELED" {
		t.Errorf("proxy-dial err %+v, want ECANCELED", ev.Err)
	}
}

// hangingTarget returns a lab address whose listener never accepts and
// whose accept queue is full (a backlog of 0 holds one connection): the
// kernel drops further SYNs, so a connect to it waits.
func hangingTarget(t *testing.T) (string, bool) {
	port := freeLabPort(t)
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	// (past the TIME_WAIT of earlier tests' connections on this port)
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for range 10 {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return addr, true
		}
		if err != nil {
			return "", false
		}
		t.Cleanup(func() { c.Close() })
	}
	return "", false
}

func TestProxySnippets(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	echo := startEcho(t, lab, "s", "")
	proxy := startProxy(t, lab, "s", echo.Addr, "")
	sn := proxyKind.SnippetsFor(proxy.Addr, proxy.Options)
	host, port, _ := net.SplitHostPort(proxy.Addr)
	names := map[string]string{}
	for _, s := range sn {
		names[s.Name] = s.Code
	}
	if names["nc"] != "nc "+host+" "+port || !strings.Contains(names["own-program"], "nc "+host+" "+port) {
		t.Errorf("snippets %v, want nc %s %s", names, host, port)
	}
	if !strings.Contains(names["own-program"], echo.Addr) {
		t.Errorf("own-program recipe %q does not name the target %s", names["own-program"], echo.Addr)
	}
}

// The Python snippet, run for real through a proxy to an echo server.
func TestProxySnippetPythonRuns(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: cannot run the Python snippet")
	}
	lab, _ := newTestLab(t, LabConfig{})
	echo := startEcho(t, lab, "s", `{"mode":"upper"}`)
	proxy := startProxy(t, lab, "s", echo.Addr, "")
	code := snippetCode(t, proxy, "python")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", code).CombinedOutput()
	if err != nil || string(out) != "HELLO\n" {
		t.Errorf("python snippet: output %q, err %v; want \"HELLO\\n\"\n%s", out, err, code)
	}
}

// The own-program recipe: its one-line echo server, run for real on the
// target's port, answers through the proxy.
func TestProxySnippetOwnProgramRuns(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed: cannot run the recipe's server")
	}
	lab, _ := newTestLab(t, LabConfig{})
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(freeLabPort(t)))
	proxy := startProxy(t, lab, "s", target, "")
	var server string
	for _, line := range strings.Split(snippetCode(t, proxy, "own-program"), "\n") {
		if strings.HasPrefix(line, "python3 -c ") {
			server = line
		}
	}
	if server == "" {
		t.Fatal("the recipe has no python3 -c line")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", "exec "+server)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Until the program listens, the proxy's dial is refused and the
	// connection ends at once with nothing; then it echoes.
	var got []byte
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitTimeout)
	for len(got) == 0 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("the recipe's server did not answer through the proxy within %s:\n%s", waitTimeout, out.String())
		}
		c := dial(t, proxy.Addr)
		if _, err := c.Write([]byte("hi")); err == nil {
			c.CloseWrite()
			got, _ = io.ReadAll(c)
		}
		c.Close()
	}
	if string(got) != "hi" {
		t.Errorf("through the proxy the recipe's server answered %q, want \"hi\"", got)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("the recipe's server: %v\n%s", err, out.String())
	}
}

// A proxied connection's two legs carry the same bytes, so they share one
// capture budget: with a cap of 1000 bytes, both legs together keep 1000,
// and every event still says its full length.
func TestProxyLegsShareOneCaptureBudget(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: 1000})
	echo := startEcho(t, lab, "s", "")
	proxy := startProxy(t, lab, "s", echo.Addr, "")
	c := dial(t, proxy.Addr)
	msg := bytes.Repeat([]byte("x"), 800)
	write(t, c, msg)
	readN(t, c, len(msg))
	client, up, _ := proxyLegs(t, sink, proxy, c)
	evs := sink.waitFor(t, "the echo back on both legs", func(evs []Event) bool {
		return sumLen(filter(connEvents(evs, client), KindSend, "")) == len(msg)
	})
	kept, total := 0, 0
	for _, ev := range append(connEvents(evs, client), connEvents(evs, up)...) {
		if ev.Kind == KindRecv || ev.Kind == KindSend {
			kept += len(ev.Data)
			total += ev.Len
		}
	}
	if kept != 1000 || total != 4*len(msg) {
		t.Errorf("both legs kept %d bytes of %d, want 1000 of %d", kept, total, 4*len(msg))
	}
}
