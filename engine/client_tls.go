package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
)

var tlsClientKind = &ClientKind{
	Name: "tls", Title: "TLS client", Net: NetTLS,
	Description: "Connect to a TLS server, see the handshake and the server's certificate (subject, names, fingerprint, validity), " +
		"then send and receive the decrypted bytes. A tls-echo of this session is trusted; any other certificate is verified as a browser would.",
	Options: []OptionSpec{
		recvSizeOption(MaxRecvSize),
		{Name: "server_name", Type: OptString, Default: "", MaxLen: 253,
			Help: "the name sent in the handshake (SNI) and checked against the certificate; empty: the target's host (localhost, 127.0.0.1…)"},
		{Name: "alpn", Type: OptString, Default: "", MaxLen: maxALPNLen, Advanced: true,
			Help: "application protocols the client offers (ALPN), comma-separated, e.g. h2,http/1.1; empty: none"},
		{Name: "insecure_skip_verify", Type: OptBool, Default: false, Advanced: true,
			Help: "do not verify the certificate at all (Python: ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE): the connection is encrypted but could be anyone's; the handshake event records it"},
	},
	check: func(o Options) error { return checkTLSEcho(o) },
	start: startTLSClient,
}

func startTLSClient(ctx context.Context, env *clientEnv, o Options) (Client, error) {
	c, err := env.dial(ctx, "tcp")
	if err != nil {
		env.release()
		return nil, err
	}
	tc := c.(*net.TCPConn)
	cl := newTCPClient(env, tc, NetTCP)
	env.connectEvent(cl.conn.tap, o, nil)
	host, _, _ := net.SplitHostPort(env.Target)
	name := o.String("server_name")
	if name == "" {
		name = host
	}
	cfg := &tls.Config{ServerName: name, NextProtos: alpnProtocols(o.String("alpn")),
		InsecureSkipVerify: o.Bool("insecure_skip_verify")}
	trust := "the system's certificate authorities"
	if pool, id := env.lab.sessionTLSRoots(env.Session, tc.RemoteAddr()); pool != nil {
		cfg.RootCAs = pool
		trust = "the certificate of this session's tls-echo " + id
	}
	if cfg.InsecureSkipVerify {
		trust = "nothing: insecure_skip_verify is on"
	}
	if err := cl.conn.startClientTLS(ctx, cfg, trust); err != nil {
		cl.conn.SetCloseReason("the TLS handshake failed")
		cl.conn.Close()
		cl.info.State = StateClosed
		return nil, err
	}
	cl.info.Local, cl.info.Remote = cl.conn.tap.local, cl.conn.tap.remote
	cl.run(o.Int("recv_size"))
	return cl, nil
}

// sessionTLSRoots returns a pool holding the certificate of the session's
// running tls-echo server bound to addr (a server bound to all interfaces
// answers on any loopback address), and its id; nil when there is none.
func (l *Lab) sessionTLSRoots(session string, addr net.Addr) (*x509.CertPool, string) {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil, ""
	}
	want := ta.AddrPort()
	wantIP := want.Addr().Unmap()
	l.mu.Lock()
	var infos []ServerInfo
	if sl := l.find(session); sl != nil {
		for _, s := range sl.servers {
			infos = append(infos, s.Info())
		}
	}
	l.mu.Unlock()
	for _, info := range infos {
		if info.Kind != tlsEchoKind.Name {
			continue
		}
		ap, err := netip.ParseAddrPort(info.Addr)
		if err != nil || ap.Port() != want.Port() {
			continue
		}
		if ip := ap.Addr().Unmap(); ip != wantIP && !(ip.IsUnspecified() && wantIP.IsLoopback()) {
			continue
		}
		pem, _ := info.Details["cert_pem"].(string)
		pool := x509.NewCertPool()
		if pool.AppendCertsFromPEM([]byte(pem)) {
			return pool, info.ID
		}
	}
	return nil, ""
}

// startClientTLS runs a client-side TLS handshake on the connection
// (bounded by tlsHandshakeTimeout and ctx) and, when it succeeds, puts the
// TLS layer between the Conn and its socket, as startTLS does for a server:
// later events carry the plaintext and net "tls", a tls-handshake event
// describes what was negotiated and the server's certificate, and the last
// close event counts the ciphertext bytes. trust says what the client
// trusted, for the event. A failed handshake is an error event (op
// tls-handshake, errno ETLS) that explains it, and is returned as that
// *SockErr.
func (c *Conn) startClientTLS(ctx context.Context, cfg *tls.Config, trust string) error {
	wire := &wireConn{Conn: c.raw}
	c.mu.Lock()
	c.closeMeta = wire.totals
	c.mu.Unlock()
	tc := tls.Client(wire, cfg)
	ctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		se := explainClientHandshake(err, cfg, wire.head)
		ev := c.tap.event(KindError)
		ev.Err = se
		ev.Meta = map[string]any{"op": "tls-handshake", "server_name": cfg.ServerName, "trust": trust,
			"insecure_skip_verify": cfg.InsecureSkipVerify}
		c.tap.emit(ev)
		if isReset(err) {
			c.reset()
		}
		return se
	}
	c.rw = tc
	c.tap.net = NetTLS
	cs := tc.ConnectionState()
	ev := c.tap.event(KindTLSHandshake)
	ev.Meta = map[string]any{
		"version":              tls.VersionName(cs.Version),
		"cipher_suite":         tls.CipherSuiteName(cs.CipherSuite),
		"sni":                  cfg.ServerName,
		"alpn":                 cs.NegotiatedProtocol,
		"trust":                trust,
		"verified":             !cfg.InsecureSkipVerify,
		"insecure_skip_verify": cfg.InsecureSkipVerify,
	}
	if len(cs.PeerCertificates) > 0 {
		for k, v := range certMeta(cs.PeerCertificates[0]) {
			ev.Meta[k] = v
		}
	}
	for k, v := range wire.totals() {
		ev.Meta[k] = v
	}
	c.tap.emit(ev)
	return nil
}

// certMeta describes a certificate for an event: subject, issuer, the names
// it is valid for, its SHA-256 fingerprint and its validity.
func certMeta(cert *x509.Certificate) map[string]any {
	return map[string]any{
		"subject":     cert.Subject.String(),
		"issuer":      cert.Issuer.String(),
		"sans":        certNames(cert),
		"cert_sha256": certFingerprint(cert.Raw),
		"not_before":  cert.NotBefore.UTC().Format(time.RFC3339),
		"not_after":   cert.NotAfter.UTC().Format(time.RFC3339),
	}
}

// certNames lists a certificate's subject alternative names: DNS names,
// then IP addresses.
func certNames(cert *x509.Certificate) []string {
	names := append([]string{}, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		names = append(names, ip.String())
	}
	return names
}

// hintTrust is the usual fix for a certificate the client does not trust.
const hintTrust = "A self-signed certificate is trusted only when the client is told to. sockplay trusts a tls-echo of this session by itself; " +
	"for another server give the client its certificate (Python: ssl.create_default_context(cafile=\"server.pem\"), openssl s_client -CAfile), " +
	"or look anyway with insecure_skip_verify. Python raises ssl.SSLCertVerificationError."

// explainClientHandshake turns a failed client handshake into an ETLS
// error for a learner: why the certificate was refused (unknown authority,
// wrong name, expired) or how the server broke the handshake. head is what
// the server sent first.
func explainClientHandshake(err error, cfg *tls.Config, head []byte) *SockErr {
	e := &SockErr{Errno: "ETLS", Python: pythonErrors["ETLS"]}
	var unknown x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var op *net.OpError
	var rh tls.RecordHeaderError
	switch {
	case errors.As(err, &unknown):
		issuer := ""
		if unknown.Cert != nil {
			issuer = unknown.Cert.Issuer.String()
		}
		e.Message = fmt.Sprintf("certificate signed by unknown authority: the server's certificate (issuer %q) is not signed by any authority this client trusts", issuer)
		if unknown.Cert != nil && unknown.Cert.Issuer.String() == unknown.Cert.Subject.String() {
			e.Message += " (it is self-signed)"
		}
		e.Hint = hintTrust
	case errors.As(err, &hostErr):
		names := "no names"
		if hostErr.Certificate != nil {
			names = strings.Join(certNames(hostErr.Certificate), ", ")
		}
		e.Message = fmt.Sprintf("wrong name: the certificate is valid for %s, not for %q", names, hostErr.Host)
		e.Hint = "The client checks the name it connects to (server_name, or the target's host) against the certificate's names: " +
			"connect by one of them, or set server_name to one. Python raises ssl.SSLCertVerificationError (hostname mismatch)."
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		e.Message = "the certificate has expired or is not yet valid: " + strings.TrimPrefix(invalid.Error(), "x509: ")
		if c := invalid.Cert; c != nil {
			e.Message = fmt.Sprintf("the certificate is valid from %s to %s, and it is now %s: it has expired or is not yet valid",
				c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), time.Now().UTC().Format(time.RFC3339))
		}
		e.Hint = "The server must renew its certificate (or this machine's clock is wrong). Python raises ssl.SSLCertVerificationError (certificate has expired)."
	case errors.As(err, &invalid):
		e.Message = "the certificate is not valid here: " + strings.TrimPrefix(invalid.Error(), "x509: ")
		e.Hint = hintTrust
	case errors.As(err, &rh), len(head) > 0 && head[0] != 0x16 && head[0] != 0x15:
		e.Message = fmt.Sprintf("the server's first bytes %q are not a TLS record: it does not speak TLS", head)
		e.Hint = "This looks like a plain TCP server: use the tcp client for it, or point this one at a tls-echo."
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		e.Message = fmt.Sprintf("the server did not complete the TLS handshake within %s", tlsHandshakeTimeout)
		e.Hint = "The server accepted the connection but never answered the ClientHello: it is probably a plain TCP server that waits for the client to speak."
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), isReset(err):
		e.Message = "the server closed the connection during the TLS handshake"
		e.Hint = "The server may not speak TLS, or it refused what the client offered (its TLS version or ALPN)."
	case errors.As(err, &op) && op.Op == "remote error":
		alert := strings.TrimPrefix(op.Err.Error(), "tls: ")
		e.Message = fmt.Sprintf("the server aborted the handshake with the TLS alert %q", alert)
		switch alert {
		case "protocol version not supported":
			e.Hint = "The server accepts only newer TLS versions than this client offered."
		case "no application protocol":
			e.Hint = "The server and the client have no application protocol (ALPN) in common: check the alpn options."
		default:
			e.Hint = "The server refused the handshake; its alert says why."
		}
	default:
		e.Message = "the TLS handshake failed: " + strings.TrimPrefix(err.Error(), "tls: ")
		e.Hint = hintTrust
	}
	if cfg.InsecureSkipVerify && e.Hint == hintTrust {
		e.Hint = "The certificate was not verified (insecure_skip_verify), so this is about the connection itself: " + strings.TrimPrefix(err.Error(), "tls: ")
	}
	return e
}
