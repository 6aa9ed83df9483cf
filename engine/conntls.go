package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

// tlsHandshakeTimeout bounds a server's TLS handshake: a client that connects
// and says nothing (plain nc, waiting for the server to speak) is let go.
// (A variable for the tests.)
var tlsHandshakeTimeout = 10 * time.Second

// wireConn is the socket under a TLS layer. It counts the bytes that really
// cross the wire (records: handshake messages, encrypted data, alerts) and
// keeps the peer's first bytes, to tell a client that does not speak TLS.
type wireConn struct {
	net.Conn
	in, out atomic.Int64
	head    []byte // the first bytes read (the TLS layer's reads are serialized)
}

// wireHeadLen is how many of the peer's first bytes a wireConn keeps.
const wireHeadLen = 16

func (w *wireConn) Read(b []byte) (int, error) {
	n, err := w.Conn.Read(b)
	w.in.Add(int64(n))
	if k := min(n, wireHeadLen-len(w.head)); k > 0 {
		w.head = append(w.head, b[:k]...)
	}
	return n, err
}

func (w *wireConn) Write(b []byte) (int, error) {
	n, err := w.Conn.Write(b)
	w.out.Add(int64(n))
	return n, err
}

// totals are the ciphertext byte counts, as event meta.
func (w *wireConn) totals() map[string]any {
	return map[string]any{"cipher_bytes_in": w.in.Load(), "cipher_bytes_out": w.out.Load()}
}

// startTLS runs a server-side TLS handshake on the connection (bounded by
// tlsHandshakeTimeout) and, when it succeeds, puts the TLS layer between the
// Conn and its socket: every later Read and Write event carries the
// plaintext and net "tls", a tls-handshake event describes what was
// negotiated, and the connection's last close event counts the ciphertext
// bytes (cipher_bytes_in, cipher_bytes_out). A failed handshake is an error
// event (op tls-handshake, errno ETLS) explained for a learner; the handler
// should then return, which closes the connection. Call it from the handler
// before any Read or Write.
func (c *Conn) startTLS(cfg *tls.Config) error {
	wire := &wireConn{Conn: c.raw}
	c.mu.Lock()
	c.closeMeta = wire.totals
	c.mu.Unlock()
	tc := tls.Server(wire, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), tlsHandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if closing {
			return err // its server is stopping: not the client's doing
		}
		ev := c.tap.event(KindError)
		ev.Err = explainHandshake(err, cfg, wire.head)
		ev.Meta = map[string]any{"op": "tls-handshake"}
		c.tap.emit(ev)
		if isReset(err) {
			c.reset()
		}
		return err
	}
	c.rw = tc
	c.tap.net = NetTLS
	cs := tc.ConnectionState()
	fingerprint := ""
	if len(cfg.Certificates) > 0 && len(cfg.Certificates[0].Certificate) > 0 {
		fingerprint = certFingerprint(cfg.Certificates[0].Certificate[0])
	}
	ev := c.tap.event(KindTLSHandshake)
	ev.Meta = map[string]any{
		"version":      tls.VersionName(cs.Version),
		"cipher_suite": tls.CipherSuiteName(cs.CipherSuite),
		"sni":          cs.ServerName,
		"alpn":         cs.NegotiatedProtocol,
		"cert_sha256":  fingerprint,
	}
	for k, v := range wire.totals() {
		ev.Meta[k] = v
	}
	c.tap.emit(ev)
	return nil
}

// closeTLS ends the TLS layer's data: it sends close_notify, the alert that
// tells the peer the data ended here and was not cut off (openssl s_client
// reports "unexpected eof" otherwise). The socket stays open; Close closes
// it. It does nothing without a TLS layer or once the connection is closing.
func (c *Conn) closeTLS() {
	tc, ok := c.rw.(*tls.Conn)
	if !ok {
		return
	}
	c.mu.Lock()
	done := c.closing || c.ended
	c.mu.Unlock()
	if !done {
		_ = tc.CloseWrite() // a peer that is gone already: nothing to tell it
	}
}

// certFingerprint is the SHA-256 fingerprint of a DER certificate as
// openssl x509 -fingerprint -sha256 prints it: "AB:CD:…".
func certFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

// Hints of failed TLS handshakes.
const (
	hintNotTLS = "The client did not speak TLS: did you connect with plain nc instead of openssl s_client?"
	hintCert   = "The client rejected the server's certificate. It is self-signed, so a client trusts it only when told to: " +
		"save the PEM shown on the page and pass it (openssl s_client -CAfile sockplay.pem, Python cafile=\"sockplay.pem\"), " +
		"and check the name localhost, 127.0.0.1 or ::1."
	hintGaveUp = "The client gave up during the handshake; its own error message says why (often: it does not trust the self-signed certificate)."
)

// explainHandshake turns a failed server handshake into an ETLS error for
// a learner: what happened and the usual cause. head is what the client
// sent first.
func explainHandshake(err error, cfg *tls.Config, head []byte) *SockErr {
	e := &SockErr{Errno: "ETLS", Python: pythonErrors["ETLS"]}
	spokeTLS := len(head) > 0 && (head[0] == 0x16 || head[0] == 0x15) // a handshake or an alert record
	var rh tls.RecordHeaderError
	var op *net.OpError
	switch {
	case errors.As(err, &rh) && rh.Conn != nil, len(head) > 0 && !spokeTLS:
		// crypto/tls keeps the socket (rh.Conn) only for a first record
		// that is not TLS at all.
		e.Message = fmt.Sprintf("the client's first bytes %q are not a TLS record: a TLS client starts with a handshake record (byte 0x16)", head)
		e.Hint = hintNotTLS
		if looksLikeHTTP(head) {
			e.Hint = "The client sent a plain HTTP request to a TLS port: use https:// (or openssl s_client), not http://."
		}
	case errors.Is(err, context.DeadlineExceeded):
		e.Message = fmt.Sprintf("the client did not complete the TLS handshake within %s", tlsHandshakeTimeout)
		e.Hint = "A TLS client speaks first (its ClientHello), so a plain TCP client that waits for the server never starts: did you connect with plain nc instead of openssl s_client?"
		if len(head) > 0 {
			e.Hint = "The client started a handshake and then stopped answering."
		}
	case len(head) == 0 && (errors.Is(err, io.EOF) || isReset(err)):
		e.Message = "the client closed the connection before sending anything"
		e.Hint = "A TLS client starts by sending a ClientHello; this one hung up first (a port check such as nc -z does this)."
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		e.Message = "the client closed the connection in the middle of the TLS handshake"
		e.Hint = hintGaveUp
	case isReset(err):
		e.Message = "the client reset the connection in the middle of the TLS handshake"
		e.Hint = hintGaveUp
	case errors.As(err, &op) && op.Op == "remote error":
		alert := strings.TrimPrefix(op.Err.Error(), "tls: ")
		e.Message = fmt.Sprintf("the client aborted the handshake with the TLS alert %q", alert)
		switch alert {
		case "bad certificate", "unsupported certificate", "unknown certificate", "unknown certificate authority", "expired certificate":
			e.Hint = hintCert
		case "protocol version not supported":
			e.Hint = "The client and the server have no TLS version in common: the server's min_version may be newer than the client allows."
		case "no application protocol":
			e.Hint = "The client and the server have no application protocol (ALPN) in common: check the server's alpn option."
		default:
			e.Hint = hintGaveUp
		}
	case strings.Contains(err.Error(), "client offered only unsupported versions"):
		e.Message = fmt.Sprintf("the client offered only TLS versions older than %s, the oldest this server accepts", tls.VersionName(cfg.MinVersion))
		e.Hint = "Let the client use a newer TLS version, or start the server with min_version 1.2."
	case strings.Contains(err.Error(), "unsupported application protocols"):
		e.Message = "the client asked only for application protocols (ALPN) this server does not offer"
		e.Hint = "The server's alpn option (" + strings.Join(cfg.NextProtos, ",") + ") and the client's protocols have none in common: add the client's protocol, or leave alpn empty."
	case strings.Contains(err.Error(), "no cipher suite supported"):
		e.Message = "the client and the server have no cipher suite in common"
		e.Hint = "The client offered only cipher suites this server does not accept (old or weak ones): let the client use modern ones."
	default:
		e.Message = "the TLS handshake failed: " + strings.TrimPrefix(err.Error(), "tls: ")
		e.Hint = hintGaveUp
	}
	return e
}

// looksLikeHTTP reports whether b starts like an HTTP request line.
func looksLikeHTTP(b []byte) bool {
	for _, m := range []string{"GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT "} {
		if n := min(len(b), len(m)); n >= 4 && bytes.HasPrefix(b, []byte(m[:n])) {
			return true
		}
	}
	return false
}
