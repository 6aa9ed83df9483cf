package web

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sockplay/sockplay/engine"
	"github.com/sockplay/sockplay/sessions"
)

// withCaptureCap sets the lab's capture cap (bytes kept per connection).
func withCaptureCap(n int64) appOption {
	return func(l *engine.LabConfig, _ *Config, _ *int) { l.CaptureCap = n }
}

// get fetches path and returns the status, the headers and the body.
func (a *testApp) get(path string) (int, http.Header, []byte) {
	a.t.Helper()
	res, err := http.Get(a.URL + path)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatalf("GET %s: read the body: %v", path, err)
	}
	return res.StatusCode, res.Header, b
}

// clientTo opens a client of kind to target and returns its id.
func (a *testApp) clientTo(sess, kind, target string, options map[string]any) string {
	a.t.Helper()
	var out struct{ ID string }
	body := map[string]any{"kind": kind, "target": target}
	if options != nil {
		body["options"] = options
	}
	if code := a.do("POST", "/api/sessions/"+sess+"/clients", body, &out); code != http.StatusCreated {
		a.t.Fatalf("open a %s client to %s: status %d", kind, target, code)
	}
	return out.ID
}

func (a *testApp) send(sess, cli string, body map[string]string) {
	a.t.Helper()
	if code := a.do("POST", "/api/sessions/"+sess+"/clients/"+cli+"/send", body, nil); code != http.StatusOK {
		a.t.Fatalf("send %v on %s: status %d", body, cli, code)
	}
}

// ownerOf is the events of the conns owned by id (a client or a server).
func countKind(evs []sessions.Record, kind engine.Kind, pred func(sessions.Record) bool) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind && (pred == nil || pred(e)) {
			n++
		}
	}
	return n
}

// recordRichSession records, through the real lab and recorder, a session
// with TCP (a page client to a tcp-echo, both ends in the session; and a
// client from outside sockplay, with small reads), IPv6, UDP, TLS, a proxy,
// a reset and a refused connect. It returns the session and its events once
// every connection has ended.
func recordRichSession(t *testing.T, a *testApp) (string, []sessions.Record) {
	t.Helper()
	sess := a.newSession()
	_, echoAddr := a.startEcho(sess, map[string]any{"mode": "upper"})
	_, smallAddr := a.startEcho(sess, map[string]any{"recv_size": 4})
	_, v6Addr := a.startEcho(sess, map[string]any{"bind": "::1"})
	_, udpAddr := a.start(sess, "udp-echo", nil)
	_, tlsAddr := a.start(sess, "tls-echo", nil)
	_, proxyAddr := a.start(sess, "tcp-proxy", map[string]any{"target": echoAddr})
	resetID, resetAddr := a.startEcho(sess, nil)
	if code := a.do("POST", "/api/sessions/"+sess+"/servers/"+resetID+"/faults",
		map[string]any{"type": "reset", "direction": "upstream", "attributes": map[string]any{"bytes": 3}}, nil); code != http.StatusCreated {
		t.Fatalf("add a reset fault: status %d", code)
	}

	// A page client to the echo: both ends are in the session.
	tcp := a.clientTo(sess, "tcp", echoAddr, nil)
	a.send(sess, tcp, map[string]string{"text": "hello\n"})
	a.send(sess, tcp, map[string]string{"hex": "00 01 02 ff fe 0a"})
	a.waitEvents(sess, "the echo of both sends", func(evs []sessions.Record) bool {
		return strings.Contains(recvData(evs, tcp), "HELLO\n") && len(recvData(evs, tcp)) == 12
	})
	if code := a.do("POST", "/api/sessions/"+sess+"/clients/"+tcp+"/close", map[string]any{"half": true}, nil); code != http.StatusOK {
		t.Fatalf("half-close: status %d", code)
	}

	// A program outside sockplay, with recv_size 4: one send, several reads.
	c, err := net.Dial("tcp", smallAddr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("outside client\n")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 15)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	c.Close()

	// IPv6.
	v6 := a.clientTo(sess, "tcp", v6Addr, nil)
	a.send(sess, v6, map[string]string{"text": "over ::1"})
	// UDP.
	udp := a.clientTo(sess, "udp", udpAddr, nil)
	a.send(sess, udp, map[string]string{"text": "ping"})
	a.send(sess, udp, map[string]string{"text": "pong?"})
	// TLS.
	tls := a.clientTo(sess, "tls", tlsAddr, nil)
	a.send(sess, tls, map[string]string{"text": "secret plaintext"})
	// A proxy in front of the echo.
	px := a.clientTo(sess, "tcp", proxyAddr, nil)
	a.send(sess, px, map[string]string{"text": "via proxy"})
	// A reset after 3 bytes.
	rst := a.clientTo(sess, "tcp", resetAddr, nil)
	a.send(sess, rst, map[string]string{"text": "abcdef"})
	// A refused connect: a lab port nobody listens on.
	var e apiErrBody
	if code := a.do("POST", "/api/sessions/"+sess+"/clients", map[string]any{"kind": "tcp", "target": fmt.Sprintf("127.0.0.1:%d", freeLabPort(t))}, &e); code != http.StatusBadGateway {
		t.Fatalf("connect to a closed port: status %d %+v", code, e)
	}

	a.waitEvents(sess, "every echo", func(evs []sessions.Record) bool {
		return recvData(evs, v6) == "OVER ::1" || recvData(evs, v6) == "over ::1"
	})
	a.waitEvents(sess, "the replies", func(evs []sessions.Record) bool {
		return recvData(evs, v6) == "over ::1" && recvData(evs, tls) == "secret plaintext" && recvData(evs, px) == "VIA PROXY" &&
			countKind(evs, engine.KindDatagramIn, func(e sessions.Record) bool { return e.Server == udp }) == 2
	})
	// Close what is open and wait for the closes of every TCP connection.
	for _, cli := range []string{v6, tls, px, udp} {
		a.do("POST", "/api/sessions/"+sess+"/clients/"+cli+"/close", map[string]any{}, nil)
	}
	evs := a.waitEvents(sess, "every connection ended", func(evs []sessions.Record) bool {
		open := map[string]bool{}
		halves := map[string]int{}
		for _, e := range evs {
			if e.Net == engine.NetUDP || e.Conn == "" {
				continue
			}
			switch {
			case e.Kind == engine.KindAccept || e.Kind == engine.KindConnect:
				open[e.Conn] = true
			case e.Kind == engine.KindClose && (e.Meta["half"] != true || e.Meta["rst"] == true):
				delete(open, e.Conn)
			case e.Kind == engine.KindClose:
				// A half-close each way ends it too.
				if halves[e.Conn]++; halves[e.Conn] == 2 {
					delete(open, e.Conn)
				}
			}
		}
		if len(open) > 0 && os.Getenv("SOCKPLAY_DEBUG_EXPORT") != "" {
			for _, e := range evs {
				if open[e.Conn] {
					t.Logf("%s %s %s %s %v %v", e.Conn, e.Server, e.Kind, e.Net, e.Meta, e.Err)
				}
			}
		}
		return len(open) == 0 && countKind(evs, engine.KindError, func(e sessions.Record) bool { return e.Err != nil && e.Err.Errno == "ECONNREFUSED" }) > 0 &&
			countKind(evs, engine.KindClose, func(e sessions.Record) bool { return e.Meta["rst"] == true }) > 0
	})
	return sess, evs
}

// stream is one direction of a connection: the bytes from src to dst.
type dirKey struct{ src, dst string }

// expectedStreams is what the recording says went over each TCP direction
// and each UDP one (datagrams, in order). A connection whose both ends are
// in the session gives each direction twice (one end's sends, the other's
// recvs): they agree, but for a reset (the sender wrote what the receiver
// never read), so each direction has the views its ends recorded, and the
// capture must show one of them.
func expectedStreams(t *testing.T, evs []sessions.Record) (tcp map[dirKey][][]byte, udp map[dirKey][]string) {
	t.Helper()
	byConn := map[dirKey]map[string][]byte{}
	udp = map[dirKey][]string{}
	udpBy := map[dirKey]map[string][]string{}
	norm := func(s string) string {
		ap, err := normAddr(s)
		if err != nil {
			return s
		}
		return ap
	}
	for _, e := range evs {
		switch e.Kind {
		case engine.KindSend, engine.KindRecv:
			k := dirKey{norm(e.Local), norm(e.Remote)}
			if e.Kind == engine.KindRecv {
				k = dirKey{k.dst, k.src}
			}
			if byConn[k] == nil {
				byConn[k] = map[string][]byte{}
			}
			byConn[k][e.Conn] = append(byConn[k][e.Conn], e.Data...)
		case engine.KindDatagramIn, engine.KindDatagramOut:
			peer, _ := e.Meta["peer"].(string)
			if peer == "" {
				peer = e.Remote
			}
			k := dirKey{norm(e.Local), norm(peer)}
			if e.Kind == engine.KindDatagramIn {
				k = dirKey{k.dst, k.src}
			}
			if udpBy[k] == nil {
				udpBy[k] = map[string][]string{}
			}
			udpBy[k][e.Conn] = append(udpBy[k][e.Conn], string(e.Data))
		}
	}
	tcp = map[dirKey][][]byte{}
	for k, views := range byConn {
		for _, b := range views {
			if !slices.ContainsFunc(tcp[k], func(v []byte) bool { return bytes.Equal(v, b) }) {
				tcp[k] = append(tcp[k], b)
			}
		}
	}
	for k, views := range udpBy {
		for _, d := range views {
			// The udp-echo may not answer every datagram (its rate); the
			// ends agree on what arrived.
			if len(d) > len(udp[k]) {
				udp[k] = d
			}
		}
	}
	return tcp, udp
}

// normAddr normalizes an address as the capture writes it.
func normAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", err
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return "", fmt.Errorf("not an IP: %s", host)
	}
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), port), nil
}

// capturePacket is one packet of an exported capture, decoded.
type capturePacket struct {
	src, dst string
	tcp      *layers.TCP
	udp      *layers.UDP
	payload  []byte
	comments []string
}

// readCapture reads a pcapng export back with pcapgo and decodes every
// packet with gopacket's layers (checksums verified).
func readCapture(t *testing.T, b []byte) []capturePacket {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatalf("read the capture: %v", err)
	}
	if r.LinkType() != layers.LinkTypeRaw {
		t.Fatalf("link type %v, want raw IP", r.LinkType())
	}
	var out []capturePacket
	for {
		data, ci, opts, err := r.ReadPacketDataWithOptions()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("packet %d: %v", len(out)+1, err)
		}
		if ci.Timestamp.IsZero() || ci.Timestamp.Year() < 2020 {
			t.Fatalf("packet %d has timestamp %v", len(out)+1, ci.Timestamp)
		}
		first := layers.LayerTypeIPv4
		if data[0]>>4 == 6 {
			first = layers.LayerTypeIPv6
		}
		pkt := gopacket.NewPacket(data, first, gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("packet %d does not decode: %v", len(out)+1, el.Error())
		}
		cp := capturePacket{comments: opts.Comments}
		var srcIP, dstIP net.IP
		if l, ok := pkt.NetworkLayer().(*layers.IPv4); ok {
			srcIP, dstIP = l.SrcIP, l.DstIP
			if int(l.Length) != len(data) {
				t.Fatalf("packet %d: IPv4 length %d, packet %d bytes", len(out)+1, l.Length, len(data))
			}
		} else if l, ok := pkt.NetworkLayer().(*layers.IPv6); ok {
			srcIP, dstIP = l.SrcIP, l.DstIP
		}
		if tl, ok := pkt.TransportLayer().(*layers.TCP); ok {
			cp.tcp = tl
			cp.src, cp.dst = net.JoinHostPort(srcIP.String(), strconv.Itoa(int(tl.SrcPort))), net.JoinHostPort(dstIP.String(), strconv.Itoa(int(tl.DstPort)))
			cp.payload = tl.Payload
		} else if ul, ok := pkt.TransportLayer().(*layers.UDP); ok {
			cp.udp = ul
			cp.src, cp.dst = net.JoinHostPort(srcIP.String(), strconv.Itoa(int(ul.SrcPort))), net.JoinHostPort(dstIP.String(), strconv.Itoa(int(ul.DstPort)))
			cp.payload = ul.Payload
		} else {
			t.Fatalf("packet %d is neither TCP nor UDP", len(out)+1)
		}
		out = append(out, cp)
	}
}

// reassemble follows every TCP connection of a capture: each must open with
// SYN, SYN-ACK, ACK; every segment must continue its direction's sequence
// numbers and acknowledge what the other side sent. It returns each
// direction's bytes and how many connections there were.
func reassemble(t *testing.T, pkts []capturePacket) (map[dirKey][]byte, int) {
	t.Helper()
	type dir struct {
		next   uint32
		synned bool
		fin    bool
	}
	dirs := map[dirKey]*dir{}
	got := map[dirKey][]byte{}
	conns := 0
	for i, p := range pkts {
		if p.tcp == nil {
			continue
		}
		k, back := dirKey{p.src, p.dst}, dirKey{p.dst, p.src}
		d := dirs[k]
		if p.tcp.SYN {
			if d != nil && d.synned && !d.fin {
				t.Fatalf("packet %d: a second SYN on %v", i+1, k)
			}
			d = &dir{next: p.tcp.Seq + 1, synned: true}
			dirs[k] = d
			if !p.tcp.ACK {
				conns++
				delete(dirs, back)
				got[k], got[back] = nil, nil
			} else if o := dirs[back]; o == nil || p.tcp.Ack != o.next {
				t.Fatalf("packet %d: SYN-ACK on %v does not acknowledge the SYN", i+1, k)
			}
			continue
		}
		if d == nil {
			t.Fatalf("packet %d: %v sends before its handshake", i+1, k)
		}
		if p.tcp.Seq != d.next {
			t.Fatalf("packet %d: %v seq %d, want %d", i+1, k, p.tcp.Seq, d.next)
		}
		if o := dirs[back]; p.tcp.ACK && (o == nil || p.tcp.Ack != o.next) {
			t.Fatalf("packet %d: %v acknowledges %d, the other side is at %v", i+1, k, p.tcp.Ack, o)
		}
		if d.fin && len(p.payload) > 0 {
			t.Fatalf("packet %d: data after FIN on %v", i+1, k)
		}
		got[k] = append(got[k], p.payload...)
		d.next += uint32(len(p.payload))
		if p.tcp.FIN {
			d.fin = true
			d.next++
		}
	}
	return got, conns
}

// TestExportRichSession records one session with every kind of traffic and
// checks its jsonl and pcapng exports.
func TestExportRichSession(t *testing.T) {
	a := newTestApp(t)
	sess, evs := recordRichSession(t, a)
	t.Run("jsonl", func(t *testing.T) { checkJSONL(t, a.forT(t), sess, evs) })
	t.Run("pcapng", func(t *testing.T) { checkPcapng(t, a.forT(t), sess, evs) })
}

// checkJSONL: the export's lines are the events API's events, byte for byte.
func checkJSONL(t *testing.T, a *testApp, sess string, evs []sessions.Record) {

	code, hdr, body := a.get("/api/sessions/" + sess + "/export.jsonl")
	if code != http.StatusOK {
		t.Fatalf("export.jsonl: status %d: %s", code, body)
	}
	if cd := hdr.Get("Content-Disposition"); cd != `attachment; filename=TestExportRichSession.jsonl` {
		t.Errorf("Content-Disposition %q", cd)
	}
	lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
	var head struct {
		Format  string
		Version int
		Session struct {
			ID, Name  string
			CreatedAt time.Time `json:"created_at"`
			Events    int64
		}
	}
	if err := json.Unmarshal(lines[0], &head); err != nil {
		t.Fatalf("first line %q: %v", lines[0], err)
	}
	if head.Format != "sockplay-session" || head.Version != 1 || head.Session.ID != sess || head.Session.Name != "TestExportRichSession" ||
		head.Session.CreatedAt.IsZero() || head.Session.Events < int64(len(evs)) {
		t.Errorf("first line %s", lines[0])
	}
	// Byte for byte what the events API serves.
	var api [][]byte
	for after := int64(0); after < head.Session.Events; {
		_, _, page := a.get("/api/sessions/" + sess + "/events?limit=5000&after=" + itoa(after))
		var out struct{ Events []json.RawMessage }
		if err := json.Unmarshal(page, &out); err != nil {
			t.Fatal(err)
		}
		for _, e := range out.Events {
			api = append(api, e)
		}
		after += int64(len(out.Events))
	}
	api = api[:head.Session.Events]
	if len(lines)-1 != len(api) {
		t.Fatalf("export has %d events, the API %d (session says %d)", len(lines)-1, len(api), head.Session.Events)
	}
	for i, l := range lines[1:] {
		if !bytes.Equal(l, api[i]) {
			t.Fatalf("line %d:\n%s\nthe API:\n%s", i+2, l, api[i])
		}
	}
	// Every kind the session recorded is in it.
	for _, k := range []string{`"kind":"datagram-in"`, `"net":"tls"`, `"kind":"proxy-dial"`, `"errno":"ECONNREFUSED"`, `"rst":true`, `"local":"[::1]:`} {
		if !bytes.Contains(body, []byte(k)) {
			t.Errorf("the export has no %s", k)
		}
	}

	if code, _, body := a.get("/api/sessions/nosuchsession/export.jsonl"); code != http.StatusNotFound || !bytes.Contains(body, []byte("session not found")) {
		t.Errorf("export of an unknown session: %d %s", code, body)
	}
	if code, _, body := a.get("/api/sessions/" + sess + "/export.jsonl?conn=c-x"); code != http.StatusBadRequest || !bytes.Contains(body, []byte("export.txt")) {
		t.Errorf("conn= on jsonl: %d %s", code, body)
	}
}

// checkPcapng: every connection reassembles to the recorded bytes, once,
// and tshark agrees.
func checkPcapng(t *testing.T, a *testApp, sess string, evs []sessions.Record) {
	code, hdr, body := a.get("/api/sessions/" + sess + "/export.pcapng")
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/x-pcapng" {
		t.Fatalf("export.pcapng: status %d %s", code, hdr.Get("Content-Type"))
	}
	wantTCP, wantUDP := expectedStreams(t, evs)
	pkts := readCapture(t, body)
	got, conns := reassemble(t, pkts)

	// Each direction once, with exactly the recorded bytes.
	for k, views := range wantTCP {
		if !slices.ContainsFunc(views, func(v []byte) bool { return bytes.Equal(v, got[k]) }) {
			t.Errorf("TCP %s → %s: capture has %q, recorded %q", k.src, k.dst, got[k], views)
		}
	}
	for k, b := range got {
		if _, ok := wantTCP[k]; !ok && len(b) > 0 {
			t.Errorf("TCP %s → %s: capture has %q, the recording nothing", k.src, k.dst, b)
		}
	}
	// One connection per TCP connection, not one per end: count the
	// distinct address pairs the recording has.
	pairs := map[string]bool{}
	for _, e := range evs {
		if (e.Kind == engine.KindAccept || e.Kind == engine.KindConnect) && e.Net != engine.NetUDP {
			l, _ := normAddr(e.Local)
			r, _ := normAddr(e.Remote)
			ends := []string{l, r}
			slices.Sort(ends)
			pairs[strings.Join(ends, " ")] = true
		}
	}
	// (The refused connect is not in the capture: a connect that failed
	// has no local port in the recording.)
	if conns != len(pairs) {
		t.Errorf("capture has %d TCP connections, the recording %d", conns, len(pairs))
	}
	// UDP: each datagram once.
	gotUDP := map[dirKey][]string{}
	for _, p := range pkts {
		if p.udp != nil {
			gotUDP[dirKey{p.src, p.dst}] = append(gotUDP[dirKey{p.src, p.dst}], string(p.payload))
		}
	}
	if len(wantUDP) == 0 {
		t.Fatal("the recording has no UDP")
	}
	for k, want := range wantUDP {
		if !slices.Equal(gotUDP[k], want) {
			t.Errorf("UDP %v: capture %q, recorded %q", k, gotUDP[k], want)
		}
	}
	// FIN and RST as recorded, and the notes for a learner.
	var rsts, fins int
	var tlsNote, handshakeNote bool
	for _, p := range pkts {
		if p.tcp != nil && p.tcp.RST {
			rsts++
		}
		if p.tcp != nil && p.tcp.FIN {
			fins++
		}
		for _, c := range p.comments {
			tlsNote = tlsNote || strings.Contains(c, "TLS") && strings.Contains(c, "plaintext")
			handshakeNote = handshakeNote || strings.Contains(c, "handshake is synthesized")
		}
	}
	if rsts != 1 || fins == 0 || !tlsNote || !handshakeNote {
		t.Errorf("RSTs %d (want 1: the reset fault), FINs %d, TLS noted %v, handshake noted %v", rsts, fins, tlsNote, handshakeNote)
	}
	tsharkFollow(t, body, got, conns)
}

// tsharkFollow checks the capture with Wireshark's own dissectors: nothing
// malformed, and "Follow TCP stream" of every stream gives the bytes of
// both directions (want: what the capture was checked to hold against the
// recording).
func tsharkFollow(t *testing.T, capture []byte, want map[dirKey][]byte, streams int) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		if os.Getenv("SOCKPLAY_REQUIRE_BROWSER") != "" {
			t.Fatal("tshark is not installed (apt-get install tshark); CI requires it")
		}
		t.Log("tshark is not installed: skipping the check with Wireshark's dissectors (apt-get install tshark)")
		return
	}
	f := filepath.Join(t.TempDir(), "export.pcapng")
	if err := os.WriteFile(f, capture, 0o600); err != nil {
		t.Fatal(err)
	}
	tshark := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("tshark", append([]string{"-n", "-r", f}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // no user profile
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			out = append(out, stderr.Bytes()...)
			t.Fatalf("tshark %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	all := tshark()
	if strings.Contains(all, "Malformed") || strings.Count(all, "\n") < streams*3 {
		t.Fatalf("tshark -r reads:\n%s", all)
	}
	// One run for the expert info and every stream's follow (each tshark
	// start costs seconds on a busy machine).
	args := []string{"-q", "-z", "expert,error"}
	for n := 0; n < streams; n++ {
		args = append(args, "-z", fmt.Sprintf("follow,tcp,raw,%d", n))
	}
	out := tshark(args...)
	if strings.Contains(out, "Malformed") || strings.Contains(out, "Errors (") {
		t.Errorf("tshark's expert info has errors:\n%s", out)
	}
	type follow struct {
		node [2]string
		data [2][]byte
	}
	follows := map[int]*follow{}
	var cur *follow
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "Filter: tcp.stream eq "):
			n, err := strconv.Atoi(strings.TrimPrefix(line, "Filter: tcp.stream eq "))
			if err != nil {
				t.Fatalf("tshark: %q", line)
			}
			cur = &follow{}
			follows[n] = cur
		case cur == nil:
		case strings.HasPrefix(line, "===="):
			cur = nil
		case strings.HasPrefix(line, "Node 0: "):
			cur.node[0] = strings.TrimPrefix(line, "Node 0: ")
		case strings.HasPrefix(line, "Node 1: "):
			cur.node[1] = strings.TrimPrefix(line, "Node 1: ")
		case strings.HasPrefix(line, "\t"):
			b, err := hex.DecodeString(strings.TrimSpace(line))
			if err != nil {
				t.Fatalf("tshark follow: %q", line)
			}
			cur.data[1] = append(cur.data[1], b...)
		case line != "":
			b, err := hex.DecodeString(line)
			if err != nil {
				t.Fatalf("tshark follow: %q", line)
			}
			cur.data[0] = append(cur.data[0], b...)
		}
	}
	for n := 0; n < streams; n++ {
		f := follows[n]
		if f == nil || f.node[0] == "" || f.node[1] == "" {
			t.Fatalf("tshark follow of stream %d missing:\n%s", n, out)
		}
		for i := range 2 {
			k := dirKey{tsharkAddr(f.node[i]), tsharkAddr(f.node[1-i])}
			if !bytes.Equal(f.data[i], want[k]) {
				t.Errorf("tshark follow,tcp,raw,%d %s → %s: %q, recorded %q", n, k.src, k.dst, f.data[i], want[k])
			}
		}
	}
}

// tsharkAddr reads tshark's "[::1]:20000" or "127.0.0.1:20000".
func tsharkAddr(s string) string {
	s = strings.TrimSpace(s)
	if a, err := normAddr(s); err == nil {
		return a
	}
	// tshark writes IPv6 without brackets: ::1:20000.
	i := strings.LastIndexByte(s, ':')
	return net.JoinHostPort(s[:i], s[i+1:])
}

func TestExportPcapngCaptureCapIsMarked(t *testing.T) {
	a := newTestApp(t, withCaptureCap(10))
	sess := a.newSession()
	_, addr := a.startEcho(sess, nil)
	cli := a.clientTo(sess, "tcp", addr, nil)
	a.send(sess, cli, map[string]string{"text": "0123456789abcdefghij"})
	a.send(sess, cli, map[string]string{"text": "more"})
	evs := a.waitEvents(sess, "the echo", func(evs []sessions.Record) bool {
		n := 0
		for _, e := range evs {
			if e.Server == cli && e.Kind == engine.KindRecv {
				n += e.Len
			}
		}
		return n == 24
	})
	_, _, body := a.get("/api/sessions/" + sess + "/export.pcapng")
	want, _ := expectedStreams(t, evs)
	pkts := readCapture(t, body)
	got, conns := reassemble(t, pkts)
	kept := 0
	for k, views := range want {
		if len(views) != 1 || !bytes.Equal(got[k], views[0]) {
			t.Errorf("%v: capture %q, recorded %q", k, got[k], views)
		}
		kept = max(kept, len(got[k]))
	}
	if kept != 10 {
		t.Errorf("the recording kept %d bytes of a direction, want the cap, 10", kept)
	}
	var notes []string
	for _, p := range pkts {
		for _, c := range p.comments {
			if strings.Contains(c, "capture cap") {
				notes = append(notes, c)
			}
		}
	}
	if len(notes) == 0 || !strings.Contains(notes[0], "was 20 bytes; sockplay kept 10") {
		t.Errorf("capture cap notes: %q", notes)
	}
	tsharkFollow(t, body, got, conns)
}

func TestExportTextTranscript(t *testing.T) {
	a := newTestApp(t)
	sess := a.newSession()
	_, addr := a.startEcho(sess, nil)
	cli := a.clientTo(sess, "tcp", addr, nil)
	a.send(sess, cli, map[string]string{"text": "hello, transcript! 0123456789\n"})
	a.waitEvents(sess, "the echo", func(evs []sessions.Record) bool { return strings.HasPrefix(recvData(evs, cli), "hello, transcript") })
	a.do("POST", "/api/sessions/"+sess+"/clients/"+cli+"/close", map[string]any{}, nil)
	evs := a.waitEvents(sess, "the closes", func(evs []sessions.Record) bool { return countKind(evs, engine.KindClose, nil) >= 2 })

	code, hdr, body := a.get("/api/sessions/" + sess + "/export.txt")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("export.txt: %d %s", code, hdr.Get("Content-Type"))
	}
	txt := string(body)
	// The end recorded first is the one shown; the other is named.
	var shown, other, clientConn string
	for _, e := range evs {
		if e.Kind == engine.KindAccept || e.Kind == engine.KindConnect {
			if shown == "" {
				shown = e.Conn
			} else if other == "" {
				other = e.Conn
			}
		}
		if e.Server == cli && e.Kind == engine.KindConnect {
			clientConn = e.Conn
		}
	}
	for _, want := range []string{
		"== " + shown + " tcp ",
		" → " + addr + " (client → server)",
		shown + " >>> 30 bytes\n    00000000  68 65 6c 6c 6f 2c 20 74  72 61 6e 73 63 72 69 70  |hello, transcrip|\n    00000010  74 21 20 30 31 32 33 34  35 36 37 38 39 0a        |t! 0123456789.|\n",
		shown + " <<< 30 bytes\n    00000000  68 65",
		other + ": the other end of " + shown,
		shown + " --- closed (FIN) by local",
	} {
		if !strings.Contains(txt, want) {
			t.Errorf("the transcript lacks %q:\n%s", want, txt)
		}
	}
	// Shown once: the echo server's recv of the same bytes is not repeated.
	if n := strings.Count(txt, "00000000  68 65 6c 6c 6f"); n != 2 {
		t.Errorf("the bytes appear %d times, want 2 (sent and echoed):\n%s", n, txt)
	}
	_, _, one := a.get("/api/sessions/" + sess + "/export.txt?conn=" + clientConn)
	if !strings.Contains(string(one), "connection "+clientConn+" only") || strings.Contains(string(one), "other end") {
		t.Errorf("one connection's transcript:\n%s", one)
	}
}

func TestExportFilename(t *testing.T) {
	for name, want := range map[string]string{
		"demo":                     "demo.txt",
		"my session 2026-12-02":    "my-session-2026-12-02.txt",
		`../../etc/passwd"; x=y`:   "etc-passwd-x-y.txt",
		"Ünïcödé 🐶":                "n-c-d.txt",
		"":                         "session.txt",
		"...":                      "session.txt",
		strings.Repeat("a", 300):   strings.Repeat("a", 80) + ".txt",
		"Session 2026-12-02 00:05": "Session-2026-12-02-00-05.txt",
	} {
		if got := exportFilename(name, "txt"); got != want {
			t.Errorf("exportFilename(%q) = %q, want %q", name, got, want)
		}
	}
}
