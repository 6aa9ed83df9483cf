package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// SockErr explains a socket error to a learner: the errno name as tutorials
// print it, the operating system's own message, and a one-line hint about
// what it means and the usual cause.
type SockErr struct {
	Errno   string `json:"errno"`
	Message string `json:"message"`
	Hint    string `json:"hint"`
	// Python is the exception a Python program of the tutorials sees for
	// the same error, as it prints it (empty when there is none).
	Python string `json:"python,omitempty"`
}

// Error returns "ERRNO: message".
func (e *SockErr) Error() string { return e.Errno + ": " + e.Message }

var hints = map[string]string{
	"ECONNREFUSED":  "Nothing is listening on that port (or a firewall rejected the connection): start a server there first.",
	"ECONNRESET":    "The peer closed the connection abruptly (it crashed, or closed with unread data, which sends a TCP RST).",
	"ETIMEDOUT":     "The peer did not answer in time: it may be down, overloaded, or packets are being dropped.",
	"EADDRINUSE":    "Another socket already holds this port; pick another one, or wait for TIME_WAIT to pass (SO_REUSEADDR lets a server rebind sooner).",
	"EADDRNOTAVAIL": "That address does not belong to this machine, so a socket cannot bind to it.",
	"EAGAIN":        "A non-blocking call had nothing to do yet (no data to read, or the send buffer is full); try again when the socket is ready.",
	"EPIPE":         "You wrote to a connection that is already closed (by the peer, or by you); once a socket is closed or shut down for writing, sends fail.",
	"ENOTCONN":      "The socket is not connected (it was never connected, or it was already shut down).",
	"EHOSTUNREACH":  "There is no route to that host.",
	"ENETUNREACH":   "The network of that address cannot be reached from here.",
	"EACCES":        "Permission denied: ports below 1024 need privileges, or a policy forbids this address.",
	"EMSGSIZE":      "The message is larger than the socket can send in one piece (a UDP datagram over the size limit).",
	"DNS":           "The host name did not resolve to an address: check its spelling, or use an IP address.",
	"EOF":           "The peer closed its side of the connection (recv returned 0 bytes): it will send nothing more.",
	"ECLOSED":       "This socket was already closed here; open a new connection to send again.",
	"ECANCELED":     "The operation was cancelled because the server, client or sockplay itself was shutting down.",
	"EREFUSED":      "sockplay's dial policy refused this target: by default clients may only reach this instance's own lab servers.",
	"ERROR":         "An unexpected error; the message says what the operating system reported.",
}

// pythonErrors are the exceptions Python raises for the same errors (on
// Linux), so a learner can match what the page shows with their own
// program's traceback.
var pythonErrors = map[string]string{
	"ECONNREFUSED":  "ConnectionRefusedError: [Errno 111] Connection refused",
	"ECONNRESET":    "ConnectionResetError: [Errno 104] Connection reset by peer",
	"ETIMEDOUT":     "TimeoutError: timed out (socket.timeout before Python 3.10)",
	"EADDRINUSE":    "OSError: [Errno 98] Address already in use",
	"EADDRNOTAVAIL": "OSError: [Errno 99] Cannot assign requested address",
	"EAGAIN":        "BlockingIOError: [Errno 11] Resource temporarily unavailable",
	"EPIPE":         "BrokenPipeError: [Errno 32] Broken pipe",
	"ENOTCONN":      "OSError: [Errno 107] Transport endpoint is not connected",
	"EHOSTUNREACH":  "OSError: [Errno 113] No route to host",
	"ENETUNREACH":   "OSError: [Errno 101] Network is unreachable",
	"EACCES":        "PermissionError: [Errno 13] Permission denied",
	"EMSGSIZE":      "OSError: [Errno 90] Message too long",
	"DNS":           "socket.gaierror: [Errno -2] Name or service not known",
	"ETLS":          "ssl.SSLError (ssl.SSLCertVerificationError when the certificate is refused)",
}

// Classify turns err into a SockErr. It returns nil for a nil error.
func Classify(err error) *SockErr {
	if err == nil {
		return nil
	}
	var se *SockErr
	if errors.As(err, &se) {
		return se
	}
	name := errnoName(err)
	hint := hints[name]
	if refused := (*RefusedError)(nil); errors.As(err, &refused) && refused.Hint != "" {
		hint = refused.Hint
	}
	return &SockErr{Errno: name, Message: message(err), Hint: hint, Python: pythonErrors[name]}
}

// message is the operating system's message for err, without what only
// sockplay's host knows: a failed name lookup names the name, not the
// resolver's address ("lookup x on 10.0.0.2:53: no such host").
func message(err error) string {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		why := "no such host"
		switch {
		case dnsErr.IsTimeout:
			why = "the lookup timed out"
		case dnsErr.IsTemporary:
			why = "the resolver could not answer now"
		case !dnsErr.IsNotFound && dnsErr.Err != "":
			why = dnsErr.Err
		}
		return fmt.Sprintf("the name %q did not resolve: %s", dnsErr.Name, why)
	}
	return err.Error()
}

// errnoName finds the name a C or Python program would print for err.
func errnoName(err error) string {
	var refused *RefusedError
	var dnsErr *net.DNSError
	var errno syscall.Errno
	switch {
	case errors.As(err, &refused):
		return "EREFUSED"
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return "ETIMEDOUT"
		}
		return "DNS"
	case errors.As(err, &errno):
		switch errno {
		case syscall.ECONNREFUSED:
			return "ECONNREFUSED"
		case syscall.ECONNRESET:
			return "ECONNRESET"
		case syscall.ETIMEDOUT:
			return "ETIMEDOUT"
		case syscall.EADDRINUSE:
			return "EADDRINUSE"
		case syscall.EADDRNOTAVAIL:
			return "EADDRNOTAVAIL"
		case syscall.EAGAIN:
			return "EAGAIN"
		case syscall.EPIPE:
			return "EPIPE"
		case syscall.ENOTCONN:
			return "ENOTCONN"
		case syscall.EHOSTUNREACH:
			return "EHOSTUNREACH"
		case syscall.ENETUNREACH:
			return "ENETUNREACH"
		case syscall.EACCES, syscall.EPERM:
			return "EACCES"
		case syscall.EMSGSIZE:
			return "EMSGSIZE"
		}
		return "ERROR"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "ETIMEDOUT"
	case errors.Is(err, context.Canceled):
		return "ECANCELED"
	case errors.Is(err, net.ErrClosed):
		return "ECLOSED"
	case errors.Is(err, io.EOF):
		return "EOF"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "ETIMEDOUT"
	}
	return "ERROR"
}
