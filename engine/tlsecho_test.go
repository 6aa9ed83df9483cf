package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// startTLSEcho starts a tls-echo server (see startKind).
func startTLSEcho(t testing.TB, lab *Lab, opts string) ServerInfo {
	t.Helper()
	return startKind(t, lab, "s", "tls-echo", opts)
}

// serverPool returns a pool holding only the server's certificate, read
// from the PEM of its details as a learner would copy it.
func serverPool(t testing.TB, info ServerInfo) *x509.CertPool {
	t.Helper()
	pemText, _ := info.Details["cert_pem"].(string)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pemText)) {
		t.Fatalf("details cert_pem %q holds no certificate", pemText)
	}
	return pool
}

// opensslFingerprint computes a fingerprint the way openssl prints it,
// independently of certFingerprint.
func opensslFingerprint(der []byte) string {
	return strings.ReplaceAll(fmt.Sprintf("% X", sha256.Sum256(der)), " ", ":")
}

// tlsClient is a TLS client of the tests with its own ciphertext counts.
type tlsClient struct {
	*tls.Conn
	raw  *net.TCPConn
	wire *wireConn
}

// dialTLS connects to addr and runs a client handshake with cfg.
func dialTLS(t testing.TB, addr string, cfg *tls.Config) (*tlsClient, error) {
	t.Helper()
	raw := dial(t, addr)
	wire := &wireConn{Conn: raw}
	tc := tls.Client(wire, cfg)
	return &tlsClient{Conn: tc, raw: raw, wire: wire}, tc.Handshake()
}

// serverConnOf returns the id of the server connection whose peer is the
// client address local.
func serverConnOf(t testing.TB, sink *testSink, srv string, local net.Addr) string {
	t.Helper()
	evs := sink.waitFor(t, "the accept of "+local.String(), func(evs []Event) bool {
		return indexOf(evs, func(ev Event) bool { return ev.Kind == KindAccept && ev.Remote == local.String() }) >= 0
	})
	ev := evs[indexOf(evs, func(ev Event) bool { return ev.Kind == KindAccept && ev.Remote == local.String() })]
	if ev.Server != srv {
		t.Fatalf("accept of %s by %s, want %s", local, ev.Server, srv)
	}
	return ev.Conn
}

// lastCloseOf waits for the local close event of connection conn.
func lastCloseOf(t testing.TB, sink *testSink, conn string) Event {
	t.Helper()
	evs := sink.waitFor(t, "the local close of "+conn, func(evs []Event) bool {
		return indexOf(connEvents(evs, conn), func(ev Event) bool { return isClose(ev, "local", false) }) >= 0
	})
	got := connEvents(evs, conn)
	return got[indexOf(got, func(ev Event) bool { return isClose(ev, "local", false) })]
}

func TestTLSEchoVerifiesAndEchoesPlaintextEvents(t *testing.T) {
	tests := []struct {
		name       string
		serverName string // what the client verifies
		wantSNI    string // an IP address is not sent as SNI
	}{
		{"name localhost", "localhost", "localhost"},
		{"address 127.0.0.1", "127.0.0.1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
			srv := startTLSEcho(t, lab, `{"alpn":"h2,http/1.1"}`)
			c, err := dialTLS(t, srv.Addr, &tls.Config{RootCAs: serverPool(t, srv), ServerName: tt.serverName, NextProtos: []string{"http/1.1", "h2"}})
			if err != nil {
				t.Fatalf("handshake verifying %s against the server's certificate: %v", tt.serverName, err)
			}
			payload := []byte("hello \x00\xff world\n")
			write(t, c, payload)
			if got := readN(t, c, len(payload)); !bytes.Equal(got, payload) {
				t.Fatalf("echo %q, want %q", got, payload)
			}
			// End like a polite TLS client: close_notify, then FIN. The
			// server answers with its own close_notify and closes.
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if err := c.raw.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if rest := readToEOF(t, c); len(rest) != 0 {
				t.Errorf("after close_notify the server sent %q, want nothing", rest)
			}
			cs := c.ConnectionState()

			conn := serverConnOf(t, sink, srv.ID, c.raw.LocalAddr())
			final := lastCloseOf(t, sink, conn)
			evs := connEvents(sink.events(), conn)
			var kinds []Kind
			var recvd, sent []byte
			for _, ev := range evs {
				kinds = append(kinds, ev.Kind)
				wantNet := NetTLS
				if ev.Kind == KindAccept {
					wantNet = NetTCP
				}
				if ev.Net != wantNet {
					t.Errorf("%s event net %q, want %q", ev.Kind, ev.Net, wantNet)
				}
				switch ev.Kind {
				case KindRecv:
					recvd = append(recvd, ev.Data...)
				case KindSend:
					sent = append(sent, ev.Data...)
				}
			}
			want := []Kind{KindAccept, KindTLSHandshake, KindRecv, KindSend, KindClose, KindClose}
			if !slices.Equal(kinds, want) {
				t.Fatalf("connection events %v, want %v:\n%s", kinds, want, dumpEvents(evs))
			}
			if !bytes.Equal(recvd, payload) || !bytes.Equal(sent, payload) {
				t.Errorf("recv data %q, send data %q: want the plaintext %q", recvd, sent, payload)
			}

			fp := opensslFingerprint(cs.PeerCertificates[0].Raw)
			if srv.Details["cert_sha256"] != fp {
				t.Errorf("details cert_sha256 %v, want %s (sha256 of the certificate the client got)", srv.Details["cert_sha256"], fp)
			}
			hs := evs[1].Meta
			wantMeta := map[string]any{"version": "TLS 1.3", "cipher_suite": tls.CipherSuiteName(cs.CipherSuite),
				"sni": tt.wantSNI, "alpn": "h2", "cert_sha256": fp}
			for k, v := range wantMeta {
				if hs[k] != v {
					t.Errorf("tls-handshake meta %s = %v, want %v", k, hs[k], v)
				}
			}
			if cs.NegotiatedProtocol != "h2" {
				t.Errorf("client negotiated %q, want h2 (the server's first choice)", cs.NegotiatedProtocol)
			}
			if in, out := hs["cipher_bytes_in"].(int64), hs["cipher_bytes_out"].(int64); in <= 0 || out <= in {
				t.Errorf("tls-handshake cipher bytes in %v out %v, want both > 0, more out (the certificate)", hs["cipher_bytes_in"], hs["cipher_bytes_out"])
			}
			// The close counts every byte on the wire, as the client counted it.
			if final.Meta["cipher_bytes_in"] != c.wire.out.Load() || final.Meta["cipher_bytes_out"] != c.wire.in.Load() {
				t.Errorf("close meta cipher bytes in %v out %v, want %d and %d (what the client wrote and read)",
					final.Meta["cipher_bytes_in"], final.Meta["cipher_bytes_out"], c.wire.out.Load(), c.wire.in.Load())
			}
			if final.Meta["reason"] != "closed after the peer's FIN" {
				t.Errorf("close reason %v", final.Meta["reason"])
			}
		})
	}
}

func TestTLSEchoRecvSizeSplitsPlaintext(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startTLSEcho(t, lab, `{"recv_size":4}`)
	c, err := dialTLS(t, srv.Addr, &tls.Config{RootCAs: serverPool(t, srv), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("0123456789")
	write(t, c, payload)
	if got := readN(t, c, len(payload)); !bytes.Equal(got, payload) {
		t.Fatalf("echo %q, want %q", got, payload)
	}
	evs := sink.waitFor(t, "10 bytes received", func(evs []Event) bool { return sumLen(filter(evs, KindRecv, srv.ID)) == len(payload) })
	var got []byte
	for _, ev := range filter(evs, KindRecv, srv.ID) {
		if ev.Len > 4 {
			t.Errorf("recv of %d bytes, want at most recv_size 4", ev.Len)
		}
		got = append(got, ev.Data...)
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("recv events %q, want %q", got, payload)
	}
}

func TestTLSEchoMinVersion(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	tls12 := func(srv ServerInfo) *tls.Config {
		return &tls.Config{RootCAs: serverPool(t, srv), ServerName: "localhost", MaxVersion: tls.VersionTLS12}
	}

	t.Run("1.2 accepts a TLS 1.2 client", func(t *testing.T) {
		srv := startTLSEcho(t, lab, "")
		c, err := dialTLS(t, srv.Addr, tls12(srv))
		if err != nil {
			t.Fatal(err)
		}
		cs := c.ConnectionState()
		conn := serverConnOf(t, sink, srv.ID, c.raw.LocalAddr())
		evs := sink.waitFor(t, "the tls-handshake", func(evs []Event) bool { return len(filter(connEvents(evs, conn), KindTLSHandshake, "")) == 1 })
		hs := filter(connEvents(evs, conn), KindTLSHandshake, "")[0].Meta
		if hs["version"] != "TLS 1.2" || hs["cipher_suite"] != tls.CipherSuiteName(cs.CipherSuite) || hs["alpn"] != "" {
			t.Errorf("tls-handshake meta %v, want TLS 1.2, %s, no alpn", hs, tls.CipherSuiteName(cs.CipherSuite))
		}
	})

	t.Run("1.3 refuses a TLS 1.2 client", func(t *testing.T) {
		srv := startTLSEcho(t, lab, `{"min_version":"1.3"}`)
		c, err := dialTLS(t, srv.Addr, tls12(srv))
		if err == nil {
			t.Fatalf("a TLS 1.2 client completed a handshake with min_version 1.3 (%s)", tls.VersionName(c.ConnectionState().Version))
		}
		conn := serverConnOf(t, sink, srv.ID, c.raw.LocalAddr())
		final := lastCloseOf(t, sink, conn)
		errs := filter(connEvents(sink.events(), conn), KindError, "")
		if len(errs) != 1 {
			t.Fatalf("%d error events, want 1:\n%s", len(errs), dumpEvents(connEvents(sink.events(), conn)))
		}
		e := errs[0]
		if e.Meta["op"] != "tls-handshake" || e.Err.Errno != "ETLS" || !strings.Contains(e.Err.Message, "TLS 1.3") || !strings.Contains(e.Err.Hint, "min_version") {
			t.Errorf("error event %+v meta %v, want op tls-handshake, ETLS, naming TLS 1.3 and min_version", *e.Err, e.Meta)
		}
		if final.Meta["reason"] != "the TLS handshake failed" || final.Meta["cipher_bytes_in"].(int64) <= 0 {
			t.Errorf("close meta %v, want the handshake failure and the ClientHello's bytes counted", final.Meta)
		}
	})
}

func TestTLSEchoPlainTCPClientGetsLearnerHint(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startTLSEcho(t, lab, "")
	plain := dial(t, srv.Addr)
	write(t, plain, []byte("hello\n"))
	if b, err := io.ReadAll(plain); err != nil && !isEOFOrReset(err) {
		t.Fatalf("plain client read %q, then %v; want the server to close", b, err)
	}
	conn := serverConnOf(t, sink, srv.ID, plain.LocalAddr())
	final := lastCloseOf(t, sink, conn)
	evs := connEvents(sink.events(), conn)
	var kinds []Kind
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
		if ev.Net != NetTCP {
			t.Errorf("%s event net %q, want tcp: TLS never started", ev.Kind, ev.Net)
		}
	}
	if want := []Kind{KindAccept, KindError, KindClose}; !slices.Equal(kinds, want) {
		t.Fatalf("events %v, want %v:\n%s", kinds, want, dumpEvents(evs))
	}
	e := evs[1]
	if e.Meta["op"] != "tls-handshake" || e.Err.Errno != "ETLS" || e.Err.Hint != hintNotTLS || !strings.Contains(e.Err.Message, `"hello`) {
		t.Errorf("error event %+v meta %v, want op tls-handshake, ETLS, the not-TLS hint and the bytes received", *e.Err, e.Meta)
	}
	if !strings.Contains(e.Err.Hint, "openssl s_client") {
		t.Errorf("hint %q does not point to openssl s_client", e.Err.Hint)
	}
	if in := final.Meta["cipher_bytes_in"].(int64); in < 5 || in > 6 || final.Meta["cipher_bytes_out"] != int64(0) {
		t.Errorf("close meta %v, want 5 or 6 bytes in (the TLS record header read) and none out", final.Meta)
	}

	// The server still serves TLS clients.
	c, err := dialTLS(t, srv.Addr, &tls.Config{RootCAs: serverPool(t, srv), ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS client after the plain one: %v", err)
	}
	write(t, c, []byte("still here"))
	if got := readN(t, c, len("still here")); string(got) != "still here" {
		t.Errorf("echo %q", got)
	}
}

func TestTLSEchoSilentClientTimesOut(t *testing.T) {
	saved := tlsHandshakeTimeout
	tlsHandshakeTimeout = 50 * time.Millisecond // registered before the lab's Close: restored after it
	t.Cleanup(func() { tlsHandshakeTimeout = saved })
	lab, sink := newTestLab(t, LabConfig{})
	srv := startTLSEcho(t, lab, "")
	// nc with nothing typed: it waits for the server, which waits for a ClientHello.
	silent := dial(t, srv.Addr)
	if b, err := io.ReadAll(silent); err != nil && !isEOFOrReset(err) {
		t.Fatalf("silent client read %q, then %v; want the server to give up and close", b, err)
	}
	conn := serverConnOf(t, sink, srv.ID, silent.LocalAddr())
	lastCloseOf(t, sink, conn)
	errs := filter(connEvents(sink.events(), conn), KindError, "")
	if len(errs) != 1 {
		t.Fatalf("%d error events, want 1", len(errs))
	}
	if e := errs[0].Err; e.Errno != "ETLS" || !strings.Contains(e.Message, "did not complete the TLS handshake within") || !strings.Contains(e.Hint, "plain nc") {
		t.Errorf("error %+v, want ETLS: no handshake in time, with the plain nc hint", *e)
	}
}

func TestTLSEchoALPNMismatch(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startTLSEcho(t, lab, `{"alpn":"h2"}`)
	c, err := dialTLS(t, srv.Addr, &tls.Config{RootCAs: serverPool(t, srv), ServerName: "localhost", NextProtos: []string{"spdy/3"}})
	if err == nil {
		t.Fatalf("handshake with no protocol in common succeeded (%q)", c.ConnectionState().NegotiatedProtocol)
	}
	conn := serverConnOf(t, sink, srv.ID, c.raw.LocalAddr())
	lastCloseOf(t, sink, conn)
	errs := filter(connEvents(sink.events(), conn), KindError, "")
	if len(errs) != 1 || errs[0].Err.Errno != "ETLS" || !strings.Contains(errs[0].Err.Hint, "alpn option (h2)") {
		t.Errorf("error events %v, want one ETLS naming the alpn option", errs)
	}
}

func TestTLSEchoClientRejectingCertificate(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startTLSEcho(t, lab, "")
	// The system's roots do not hold a self-signed certificate.
	c, err := dialTLS(t, srv.Addr, &tls.Config{ServerName: "localhost", RootCAs: x509.NewCertPool()})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("handshake without trusting the certificate: %v, want an unknown authority", err)
	}
	conn := serverConnOf(t, sink, srv.ID, c.raw.LocalAddr())
	lastCloseOf(t, sink, conn)
	errs := filter(connEvents(sink.events(), conn), KindError, "")
	if len(errs) != 1 {
		t.Fatalf("%d error events, want 1", len(errs))
	}
	if e := errs[0].Err; e.Errno != "ETLS" || e.Hint != hintCert || !strings.Contains(e.Message, "bad certificate") {
		t.Errorf("error %+v, want ETLS naming the client's alert, with the certificate hint", *e)
	}
}

func TestTLSEchoStopDuringHandshakeIsQuiet(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv := startTLSEcho(t, lab, "")
	silent := dial(t, srv.Addr) // connects and never sends a ClientHello
	conn := serverConnOf(t, sink, srv.ID, silent.LocalAddr())
	if _, err := lab.StopServer("s", srv.ID); err != nil {
		t.Fatal(err)
	}
	evs := connEvents(sink.events(), conn)
	if n := len(filter(evs, KindError, "")); n != 0 {
		t.Errorf("%d error events for a handshake cut by the server's stop, want none:\n%s", n, dumpEvents(evs))
	}
	if c := filter(evs, KindClose, ""); len(c) != 1 || c[0].Meta["reason"] != "server stopped" {
		t.Errorf("close events %v, want one saying server stopped", c)
	}
}

func TestTLSEchoCertificateAndDetails(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	before := time.Now()
	srv := startTLSEcho(t, lab, "")
	after := time.Now()
	block, _ := pem.Decode([]byte(srv.Details["cert_pem"].(string)))
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("cert_pem %q is not a PEM certificate", srv.Details["cert_pem"])
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if got := opensslFingerprint(block.Bytes); srv.Details["cert_sha256"] != got {
		t.Errorf("cert_sha256 %v, want %s", srv.Details["cert_sha256"], got)
	}
	if cert.Subject.CommonName != "sockplay tls-echo" {
		t.Errorf("CN %q", cert.Subject.CommonName)
	}
	key, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", cert.PublicKey)
	}
	if !slices.Equal(cert.DNSNames, []string{"localhost"}) || len(cert.IPAddresses) != 2 ||
		!cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !cert.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("SANs %v %v, want localhost, 127.0.0.1, ::1", cert.DNSNames, cert.IPAddresses)
	}
	for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
		if err := cert.VerifyHostname(name); err != nil {
			t.Errorf("VerifyHostname(%s): %v", name, err)
		}
	}
	if lo, hi := before.Add(-time.Hour-time.Second), after.Add(-time.Hour); cert.NotBefore.Before(lo) || cert.NotBefore.After(hi) {
		t.Errorf("NotBefore %v, want an hour before the start (%v..%v)", cert.NotBefore, lo, hi)
	}
	if lo, hi := before.Add(30*24*time.Hour-time.Second), after.Add(30*24*time.Hour); cert.NotAfter.Before(lo) || cert.NotAfter.After(hi) {
		t.Errorf("NotAfter %v, want 30 days after the start", cert.NotAfter)
	}
	if srv.Details["not_after"] != cert.NotAfter.UTC().Format(time.RFC3339) {
		t.Errorf("not_after %v, want %s", srv.Details["not_after"], cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if cert.SerialNumber.Sign() <= 0 {
		t.Errorf("serial %v, want positive", cert.SerialNumber)
	}
	// Every server makes its own certificate; Info (the listings) shows it.
	other := startTLSEcho(t, lab, "")
	if other.Details["cert_sha256"] == srv.Details["cert_sha256"] {
		t.Error("two servers share a certificate")
	}
	if got := lab.Servers("s")[0].Details["cert_sha256"]; got != srv.Details["cert_sha256"] {
		t.Errorf("Servers lists cert_sha256 %v, want %v", got, srv.Details["cert_sha256"])
	}
}

func TestTLSEchoOptions(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	for _, tt := range []struct {
		opts, option string
	}{
		{`{"min_version":"1.1"}`, "min_version"},
		{`{"alpn":"h2,,http/1.1"}`, "alpn"},
		{`{"alpn":"h2,"}`, "alpn"},
		{`{"alpn":"my proto"}`, "alpn"},
		{`{"alpn":"` + strings.Repeat("x", 201) + `"}`, "alpn"},
		{`{"recv_size":0}`, "recv_size"},
	} {
		_, err := lab.StartServer("s", ServerSpec{Kind: "tls-echo", Options: json.RawMessage(tt.opts)})
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Option != tt.option {
			t.Errorf("%s: err = %v, want an *OptionError on %s", tt.opts, err, tt.option)
		}
	}
	srv := startTLSEcho(t, lab, `{"alpn":" h2 , http/1.1 "}`)
	c, err := dialTLS(t, srv.Addr, &tls.Config{RootCAs: serverPool(t, srv), ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Errorf("negotiated %q, want http/1.1 (spaces around names are trimmed)", p)
	}
	if k := LookupServerKind("tls-echo"); k == nil || k.Net != NetTLS || !slices.Contains(ServerKindNames(), "tls-echo") {
		t.Errorf("tls-echo is not registered with net tls")
	}
}

func TestTLSEchoSnippetsQuoteAndOfferALPN(t *testing.T) {
	k := LookupServerKind("tls-echo")
	sn := k.SnippetsFor("[::1]:21001", Options{"alpn": "h2,http/1.1", "recv_size": 4096, "min_version": "1.2"})
	code := map[string]string{}
	for _, s := range sn {
		code[s.Name] = s.Code
	}
	if want := "openssl s_client -connect '[::1]:21001' -servername localhost -alpn h2,http/1.1 -quiet"; code["openssl"] != want {
		t.Errorf("openssl snippet %q, want %q", code["openssl"], want)
	}
	if !strings.Contains(code["python"], `ctx.set_alpn_protocols(["h2", "http/1.1"])`) || !strings.Contains(code["python"], `("::1", 21001)`) {
		t.Errorf("python snippet:\n%s", code["python"])
	}
}

// pemDir writes the server's PEM as sockplay.pem in a fresh directory, as
// the snippets ask a learner to.
func pemDir(t testing.TB, srv ServerInfo) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sockplay.pem"), []byte(srv.Details["cert_pem"].(string)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// toolTimeout bounds a run of openssl or python3: generous, for a slow CI.
const toolTimeout = 60 * time.Second

func TestTLSEchoOpenSSLSnippets(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed; skipping the openssl s_client snippets (CI installs it)")
	}
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startTLSEcho(t, lab, "")

	// The interactive snippets: type a line, read it back.
	for _, tt := range []struct{ name, wantStderr string }{
		{"openssl-verified", ""},
		{"openssl", "num=18"}, // self-signed: reported, then ignored
	} {
		t.Run(tt.name, func(t *testing.T) {
			code := snippetCode(t, srv, tt.name)
			if strings.ContainsAny(code, "<>|;&$'\"") {
				t.Fatalf("snippet %q is not one plain command", code)
			}
			ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
			defer cancel()
			args := strings.Fields(code)
			cmd := exec.CommandContext(ctx, args[0], args[1:]...)
			cmd.Dir = pemDir(t, srv)
			cmd.WaitDelay = 5 * time.Second
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line := "hello from " + tt.name + "\n"
			_, werr := io.WriteString(stdin, line)
			got, rerr := bufio.NewReader(stdout).ReadString('\n')
			// -quiet ignores the end of input: openssl runs until stopped.
			cmd.Process.Kill()
			cmd.Wait()
			if werr != nil || rerr != nil || got != line {
				t.Fatalf("%s: sent %q, read back %q (write %v, read %v); stderr:\n%s", code, line, got, werr, rerr, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr does not say %q:\n%s", tt.wantStderr, stderr.String())
			}
			evs := sink.waitFor(t, "the recv of "+line, func(evs []Event) bool {
				return indexOf(filter(evs, KindRecv, srv.ID), func(ev Event) bool { return string(ev.Data) == line }) >= 0
			})
			recv := filter(evs, KindRecv, srv.ID)[indexOf(filter(evs, KindRecv, srv.ID), func(ev Event) bool { return string(ev.Data) == line })]
			hs := filter(connEvents(evs, recv.Conn), KindTLSHandshake, "")
			if recv.Net != NetTLS || len(hs) != 1 || hs[0].Meta["sni"] != "localhost" {
				t.Errorf("recv net %q, handshake %v: want tls and SNI localhost", recv.Net, hs)
			}
		})
	}

	t.Run("openssl-fingerprint", func(t *testing.T) {
		if _, err := exec.LookPath("sh"); err != nil {
			t.Skip("no sh to run the pipeline")
		}
		ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "sh", "-c", snippetCode(t, srv, "openssl-fingerprint"))
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		// OpenSSL 3 prints "sha256 Fingerprint=", 1.1 "SHA256 Fingerprint=".
		_, fp, ok := strings.Cut(strings.TrimSpace(string(out)), "Fingerprint=")
		if !ok || fp != srv.Details["cert_sha256"] {
			t.Errorf("openssl printed %q, want the fingerprint %v", out, srv.Details["cert_sha256"])
		}
	})
}

func TestTLSEchoPythonSnippet(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed; skipping the Python snippet (CI installs it)")
	}
	lab, _ := newTestLab(t, LabConfig{})
	srv := startTLSEcho(t, lab, `{"alpn":"h2,http/1.1"}`)
	code := snippetCode(t, srv, "python")
	// Python 3.13's default context verifies strictly (VERIFY_X509_STRICT);
	// the certificate must pass that too, whatever Python runs the test.
	const ctxLine = "ctx = ssl.create_default_context(cafile=\"sockplay.pem\")\n"
	if !strings.Contains(code, ctxLine) {
		t.Fatalf("python snippet has no %q:\n%s", ctxLine, code)
	}
	strict := strings.Replace(code, ctxLine, ctxLine+"ctx.verify_flags |= ssl.VERIFY_X509_STRICT\n", 1)
	for name, code := range map[string]string{"as shown": code, "strict verification": strict} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, "python3", "-c", code)
			cmd.Dir = pemDir(t, srv)
			cmd.WaitDelay = 5 * time.Second
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("python snippet: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "TLSv1.3") || !strings.Contains(string(out), "hello\n") {
				t.Errorf("python printed %q, want the TLS version and the echoed hello", out)
			}
		})
	}
}
