package engine

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func startTLSEchoIn(t testing.TB, lab *Lab, session string) ServerInfo {
	t.Helper()
	srv, err := lab.StartServer(session, ServerSpec{Kind: "tls-echo"})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// The client trusts its own session's tls-echo: the handshake event shows
// the certificate, the echo comes back in plaintext on net tls.
func TestTLSClientTrustsSessionTLSEcho(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startTLSEchoIn(t, lab, session)
	for _, target := range []string{srv.Addr, "localhost:" + strconv.Itoa(portNum(t, srv.Addr))} {
		ci := openClientKind(t, lab, session, "tls", target, "")
		evs := sink.waitFor(t, "the handshake", func(evs []Event) bool { return len(filter(evs, KindTLSHandshake, ci.ID)) == 1 })
		hs := filter(evs, KindTLSHandshake, ci.ID)[0]
		m := hs.Meta
		if m["verified"] != true || m["insecure_skip_verify"] != false || !strings.Contains(m["trust"].(string), srv.ID) ||
			m["cert_sha256"] != srv.Details["cert_sha256"] || m["subject"] != "CN="+tlsCertName || m["version"] == "" || hs.Net != NetTLS {
			t.Errorf("target %s: handshake meta %v net %s", target, m, hs.Net)
		}
		sans, _ := m["sans"].([]string)
		if strings.Join(sans, ",") != "localhost,127.0.0.1,::1" {
			t.Errorf("sans %v", m["sans"])
		}
		if _, err := time.Parse(time.RFC3339, m["not_after"].(string)); err != nil {
			t.Errorf("not_after %v: %v", m["not_after"], err)
		}
		if err := lab.Send(session, ci.ID, []byte("secret")); err != nil {
			t.Fatal(err)
		}
		evs = sink.waitFor(t, "the echo", func(evs []Event) bool { return sumLen(filter(evs, KindRecv, ci.ID)) == 6 })
		recv := filter(evs, KindRecv, ci.ID)[0]
		if string(recv.Data) != "secret" || recv.Net != NetTLS {
			t.Errorf("recv %q on %s, want the plaintext on tls", recv.Data, recv.Net)
		}
		if _, err := lab.CloseClient(session, ci.ID, false); err != nil {
			t.Fatal(err)
		}
		closes := filter(sink.events(), KindClose, ci.ID)
		if len(closes) == 0 || closes[len(closes)-1].Meta["cipher_bytes_in"] == nil {
			t.Errorf("the close does not count the ciphertext:\n%s", dumpEvents(closes))
		}
	}
}

func TestTLSClientVerificationFailures(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	other := startTLSEchoIn(t, lab, "other")
	mine := startTLSEchoIn(t, lab, "s")
	expired := expiredTLSServer(t)
	tests := []struct {
		name, target, opts, want string
	}{
		{"unknown authority", other.Addr, "", "unknown authority"},
		{"wrong name", mine.Addr, `{"server_name":"example.com"}`, "wrong name"},
		{"expired", expired, "", "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(sink.events())
			_, err := lab.OpenClient(context.Background(), "s", ClientSpec{Kind: "tls", Target: tt.target, Options: json.RawMessage(tt.opts)})
			if se := Classify(err); err == nil || se.Errno != "ETLS" || !strings.Contains(se.Message, tt.want) {
				t.Fatalf("err = %v, want ETLS saying %q", err, tt.want)
			}
			evs := sink.events()[before:]
			var errs []Event
			for _, ev := range filter(evs, KindError, "") {
				if strings.HasPrefix(ev.Server, "cli-") {
					errs = append(errs, ev)
				}
			}
			if len(errs) != 1 || errs[0].Meta["op"] != "tls-handshake" || errs[0].Err.Errno != "ETLS" || errs[0].Err.Hint == "" ||
				!strings.HasPrefix(errs[0].Server, "cli-") {
				t.Errorf("want one ETLS tls-handshake error event of the client:\n%s", dumpEvents(evs))
			}
			if n := len(filter(evs, KindTLSHandshake, errs[0].Server)); n != 0 {
				t.Errorf("%d handshake events after a failure", n)
			}
		})
	}
	// Not verifying lets the handshake through, and says so.
	ci := openClientKind(t, lab, "s", "tls", other.Addr, `{"insecure_skip_verify":true}`)
	hs := filter(sink.events(), KindTLSHandshake, ci.ID)
	if len(hs) != 1 || hs[0].Meta["verified"] != false || hs[0].Meta["insecure_skip_verify"] != true || hs[0].Meta["cert_sha256"] != other.Details["cert_sha256"] {
		t.Errorf("insecure handshake events:\n%s", dumpEvents(hs))
	}
	if n := len(lab.Clients("s")); n != 1 {
		t.Errorf("%d clients, want only the insecure one", n)
	}
}

// expiredTLSServer serves TLS with a certificate that expired ten days ago
// on a free lab port, and returns its address.
func expiredTLSServer(t *testing.T) string {
	t.Helper()
	sc, err := newServerCert(time.Now().Add(-40*24*time.Hour), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ln := listenLoopback(t, freeLabPort(t))
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{sc.tls}})
			tc.SetDeadline(time.Now().Add(waitTimeout))
			tc.Handshake()
			tc.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).String()
}

// Closing a tls client sends close_notify: the server reads the end of the
// TLS session, not a cut connection.
func TestTLSClientCloseSendsCloseNotify(t *testing.T) {
	const session = "s"
	lab, sink := newTestLab(t, LabConfig{})
	srv := startTLSEchoIn(t, lab, session)
	ci := openClientKind(t, lab, session, "tls", srv.Addr, "")
	sink.waitFor(t, "the server's handshake", func(evs []Event) bool { return len(filter(evs, KindTLSHandshake, srv.ID)) == 1 })
	if _, err := lab.CloseClient(session, ci.ID, false); err != nil {
		t.Fatal(err)
	}
	evs := sink.waitFor(t, "the server's close", func(evs []Event) bool { return len(filter(evs, KindClose, srv.ID)) >= 1 })
	first := filter(evs, KindClose, srv.ID)[0]
	if first.Meta["by"] != "peer" || !strings.Contains(first.Meta["reason"].(string), "close_notify") {
		t.Errorf("server's first close %v, want the peer's close_notify", first.Meta)
	}
}
