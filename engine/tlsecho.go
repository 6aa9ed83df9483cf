package engine

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// tls-echo defaults and limits.
const (
	tlsCertName     = "sockplay tls-echo"
	tlsCertLifetime = 30 * 24 * time.Hour
	// tlsCertBackdate makes the certificate valid a little before it was
	// made, for a client whose clock is slightly behind.
	tlsCertBackdate = time.Hour
	maxALPNLen      = 200
)

// tlsVersions are the min_version values.
var tlsVersions = map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

var tlsEchoKind = &ServerKind{
	Name: "tls-echo", Title: "TLS echo", Net: NetTLS,
	Description: "An echo server behind TLS, with a self-signed certificate made when it starts. " +
		"The handshake is an event (version, cipher suite, SNI, ALPN), recv and send show the decrypted bytes, " +
		"and the close counts the encrypted bytes that crossed the wire.",
	Options: []OptionSpec{
		recvSizeOption(DefaultRecvSize),
		{Name: "min_version", Type: OptEnum, Default: "1.2", Primary: true,
			Help: "the oldest TLS version the server accepts; 1.3 refuses clients that only speak TLS 1.2",
			Values: []Choice{
				{"1.2", "TLS 1.2 or 1.3"},
				{"1.3", "TLS 1.3 only"},
			}},
		{Name: "alpn", Type: OptString, Default: "", MaxLen: maxALPNLen, Advanced: true,
			Help: "application protocols the server offers in the handshake (ALPN), comma-separated in order of preference, e.g. h2,http/1.1; empty: none"},
	},
	check:    checkTLSEcho,
	start:    startTLSEchoServer,
	snippets: tlsEchoSnippets,
}

// alpnProtocols splits the alpn option into protocol names.
func alpnProtocols(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		out = append(out, strings.TrimSpace(p))
	}
	return out
}

func checkTLSEcho(o Options) error {
	for _, p := range alpnProtocols(o.String("alpn")) {
		if p == "" {
			return &OptionError{Option: "alpn", Msg: fmt.Sprintf(`option "alpn": %q has an empty protocol name; write names separated by commas, e.g. h2,http/1.1`, o.String("alpn"))}
		}
		if strings.IndexFunc(p, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
			return &OptionError{Option: "alpn", Msg: fmt.Sprintf(`option "alpn": protocol name %q may hold only visible ASCII characters, no spaces`, p)}
		}
	}
	return nil
}

// serverCert is a server's self-signed certificate and how it is shown.
type serverCert struct {
	tls         tls.Certificate
	pem         string
	fingerprint string
	notAfter    time.Time
}

// newServerCert makes an ECDSA P-256 key and a self-signed certificate for
// localhost, 127.0.0.1 and ::1 (and host, when it is another IP address the
// server binds), valid from an hour before now for 30 days.
func newServerCert(now time.Time, host string) (*serverCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	// Its own key id as subject and authority key id: strict verifiers
	// (Python 3.13's default context) want them.
	keyID := sha256.Sum256(pub)
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !slices.ContainsFunc(ips, ip.Equal) {
		ips = append(ips, ip)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: tlsCertName},
		NotBefore:             now.Add(-tlsCertBackdate).Truncate(time.Second),
		NotAfter:              now.Add(tlsCertLifetime).Truncate(time.Second),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		SubjectKeyId:          keyID[:20],
		AuthorityKeyId:        keyID[:20],
		DNSNames:              []string{"localhost"},
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &serverCert{
		tls:         tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		pem:         string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		fingerprint: certFingerprint(der),
		notAfter:    leaf.NotAfter,
	}, nil
}

// details are the server's ServerInfo.Details: what a client needs to
// trust the certificate, or to check it by hand.
func (sc *serverCert) details() map[string]any {
	return map[string]any{"cert_sha256": sc.fingerprint, "cert_pem": sc.pem, "not_after": sc.notAfter.UTC().Format(time.RFC3339)}
}

func startTLSEchoServer(env *Env, o Options) (server, error) {
	sc, err := newServerCert(time.Now(), env.Host())
	if err != nil {
		return nil, fmt.Errorf("make the server's certificate: %w", err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{sc.tls},
		MinVersion:   tlsVersions[o.String("min_version")],
		NextProtos:   alpnProtocols(o.String("alpn")),
	}
	ln, err := env.Listen(&net.ListenConfig{}, "")
	if err != nil {
		return nil, err
	}
	// Listen and accept are TCP's; a connection's events become "tls" once
	// its handshake succeeded (startTLS).
	s := env.Stream(ln, NetTCP, tlsEchoHandler(cfg, o.Int("recv_size")))
	s.Details = sc.details
	return s, nil
}

// tlsEchoHandler returns the per-connection behaviour of a tls-echo server:
// the TLS handshake, then tcp-echo's echo mode over it until the client ends.
func tlsEchoHandler(cfg *tls.Config, recvSize int) func(*Conn) {
	echo := echoHandler(Options{"mode": "echo", "recv_size": recvSize})
	return func(c *Conn) {
		if err := c.startTLS(cfg); err != nil {
			c.SetCloseReason("the TLS handshake failed")
			return
		}
		echo(c)
		c.closeTLS()
	}
}

// tlsEchoSnippets reach a tls-echo server from a terminal: openssl s_client
// (which goes on after the self-signed certificate fails to verify), its
// fingerprint to compare with the page, and verified clients that trust the
// PEM shown on the page.
func tlsEchoSnippets(host, port string, o Options) []Snippet {
	addr := net.JoinHostPort(host, port)
	alpn := alpnProtocols(o.String("alpn"))
	alpnArg := ""
	if len(alpn) > 0 {
		alpnArg = " -alpn " + shellWord(strings.Join(alpn, ","))
	}
	sClient := "openssl s_client -connect " + shellWord(addr) + " -servername localhost" + alpnArg
	python := "import socket\nimport ssl\n\n" +
		"# The certificate is self-signed: save the PEM shown on this page as\n" +
		"# sockplay.pem, then trust exactly that certificate.\n" +
		"ctx = ssl.create_default_context(cafile=\"sockplay.pem\")\n"
	if len(alpn) > 0 {
		quoted := make([]string, len(alpn))
		for i, p := range alpn {
			quoted[i] = strconv.Quote(p)
		}
		python += "ctx.set_alpn_protocols([" + strings.Join(quoted, ", ") + "])\n"
	}
	python += "\nwith socket.create_connection((\"" + host + "\", " + port + ")) as raw:\n" +
		"    with ctx.wrap_socket(raw, server_hostname=\"localhost\") as s:\n" +
		"        print(s.version(), s.cipher()[0])\n" +
		"        s.sendall(b\"hello\\n\")\n" +
		"        print(s.recv(4096).decode(errors=\"replace\"))\n"
	return []Snippet{
		{"openssl", "openssl (type a line, Ctrl-C ends). The certificate is self-signed, so openssl prints " +
			"verify error:num=18 (self-signed certificate) and goes on: compare the certificate's fingerprint with the one on this page.",
			sClient + " -quiet"},
		{"openssl-fingerprint", "the SHA-256 fingerprint of the certificate the server sends (it should be cert_sha256 on this page)",
			sClient + " </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"},
		{"openssl-verified", "openssl, verifying the certificate: save the PEM shown on this page as sockplay.pem first",
			sClient + " -CAfile sockplay.pem -verify_return_error -quiet"},
		{"python", "Python (save the PEM shown on this page as sockplay.pem first)", python},
	}
}

// shellWord quotes s for a POSIX shell when it holds anything but safe
// characters.
func shellWord(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:,@%+=", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
