package engine

import (
	"fmt"
	"slices"
)

// ErrorCard explains one error a learner meets, in more words than the
// one-line hint of its events: what it means, the usual cause, what to
// try, and what a Python program prints for it. Reproducible says
// Lab.Reproduce can make it happen in a session.
type ErrorCard struct {
	Errno        string `json:"errno"`
	Title        string `json:"title"`
	Meaning      string `json:"meaning"`
	Cause        string `json:"cause"`
	Try          string `json:"try"`
	Where        string `json:"where"` // the calls that fail with it
	Python       string `json:"python,omitempty"`
	Hint         string `json:"hint"`
	Reproducible bool   `json:"reproducible"`
}

// cards are the long explanations, by errno. Every errno Classify names
// has one (a test checks it).
var cards = map[string]ErrorCard{
	"ECONNREFUSED": {Title: "Connection refused", Where: "connect(); on a connected UDP socket, send() or recv()",
		Meaning: "The other machine answered your connection request (SYN) with a reset (RST): it is reachable, but no program listens on that port.",
		Cause:   "The server is not running, it listens on another port or address (127.0.0.1 versus 0.0.0.0), or it has not started yet when the client connects.",
		Try:     "Start the server first and check its port (ss -tln lists listening sockets). A client that starts before its server can retry with backoff."},
	"ECONNRESET": {Title: "Connection reset by peer", Where: "recv(), send()",
		Meaning: "The peer ended the connection abruptly with a TCP reset (RST) instead of an orderly close (FIN): whatever was in flight is lost.",
		Cause:   "The peer crashed or was killed, closed its socket while data it had not read was still waiting (the kernel then sends RST), or set SO_LINGER to 0; a proxy or firewall may also cut connections.",
		Try:     "Treat it as the end of the connection: close your socket and reconnect if you need to. On the server side, read everything the client sent before closing."},
	"ETIMEDOUT": {Title: "Timed out", Where: "connect(), recv() with a timeout set",
		Meaning: "Nothing came back in time: a connect got no answer to its SYNs, or a read with a timeout got no data.",
		Cause:   "The host is down or packets are dropped (a firewall that drops rather than rejects), the server's accept queue is full, or the peer is simply slow to answer.",
		Try:     "Check the address and that the server accepts connections; raise the timeout if the peer is slow; retry with backoff. In Python, socket.settimeout() sets it."},
	"EADDRINUSE": {Title: "Address already in use", Where: "bind(), listen()",
		Meaning: "Another socket already holds this address and port, so a second one cannot bind there.",
		Cause:   "Another server (often an earlier run of the same program that is still running) listens on the port, or a recently closed connection holds it in TIME_WAIT and SO_REUSEADDR is not set.",
		Try:     "Stop the other server (ss -tlnp shows which process holds the port) or pick another port; set SO_REUSEADDR before bind() so a restarted server can bind during TIME_WAIT."},
	"EADDRNOTAVAIL": {Title: "Cannot assign requested address", Where: "bind(), connect()",
		Meaning: "The address asked for does not belong to this machine, or no local port is left for a new connection.",
		Cause:   "A typo in the bind address, an address of another machine, or very many connections to the same destination that used up the ephemeral ports.",
		Try:     "Bind to 127.0.0.1, 0.0.0.0 or an address ip addr lists; reuse connections rather than opening one per request."},
	"EAGAIN": {Title: "Resource temporarily unavailable (EWOULDBLOCK)", Where: "recv(), send(), accept() on a non-blocking socket",
		Meaning: "A non-blocking socket had nothing to do right now: no data to read, no room in the send buffer, no connection waiting.",
		Cause:   "The socket is non-blocking (setblocking(False), or a timeout of 0) and the call would have had to wait.",
		Try:     "Wait until the socket is ready (select, selectors, asyncio) and call again; it is not a failure."},
	"EPIPE": {Title: "Broken pipe", Where: "send()",
		Meaning: "You wrote to a connection that can no longer carry data: the peer closed it and answered with a reset, or you shut down your own sending side.",
		Cause:   "The peer closed (or crashed) and your program kept sending; a second send after the peer's reset fails this way.",
		Try:     "Watch for recv() returning 0 bytes (the peer's FIN) and stop sending; handle the error by closing the socket. Python raises BrokenPipeError."},
	"ENOTCONN": {Title: "Transport endpoint is not connected", Where: "send(), recv(), shutdown()",
		Meaning: "The socket has no connection to send on or receive from.",
		Cause:   "It was never connected, the connect failed, or the connection was already shut down.",
		Try:     "Connect first and check that it succeeded; do not reuse a socket after its connection ended."},
	"EHOSTUNREACH": {Title: "No route to host", Where: "connect(), send()",
		Meaning: "The network says the host cannot be reached: no route leads to it, or a router answered with an ICMP host-unreachable.",
		Cause:   "The host is down or on a network this machine cannot reach, or a firewall rejects the traffic.",
		Try:     "Check the address and your network (ping, ip route). sockplay's lab is loopback only, so it cannot show this one."},
	"ENETUNREACH": {Title: "Network is unreachable", Where: "connect(), send()",
		Meaning: "There is no route to that address's network at all.",
		Cause:   "No default route (offline), or an IPv6 address on a machine without IPv6 connectivity.",
		Try:     "Check the network connection, or use an IPv4 address."},
	"EACCES": {Title: "Permission denied", Where: "bind(), connect(), sendto()",
		Meaning: "The operating system or a policy forbids what was asked.",
		Cause:   "Binding a port below 1024 without privileges, sending to a broadcast address without SO_BROADCAST, or a firewall rule.",
		Try:     "Use a port of 1024 or above (the tutorials use 65432), or set the option the call needs."},
	"EMSGSIZE": {Title: "Message too long", Where: "sendto(), send() on UDP",
		Meaning: "The datagram is larger than one UDP datagram can be, so it was not sent at all.",
		Cause:   "A UDP payload over 65,507 bytes (IPv4), or over the path's MTU when fragmentation is forbidden.",
		Try:     "Send smaller datagrams and split the data yourself, or use TCP, which has no message size."},
	"DNS": {Title: "Name not resolved", Where: "getaddrinfo(), connect() with a host name",
		Meaning: "The host name could not be turned into an address, so nothing was dialed.",
		Cause:   "A typo in the name, a name that does not exist, or no working DNS resolver.",
		Try:     "Check the spelling, try the name with nslookup or dig, or use an IP address such as 127.0.0.1."},
	"EOF": {Title: "End of stream", Where: "recv() returning 0 bytes",
		Meaning: "The peer closed its sending side (FIN): it will send nothing more. It is not an error in C or Python: recv() simply returns 0 bytes (b'').",
		Cause:   "The peer finished and closed or shut down its socket; the connection may still be open for you to send in the other direction.",
		Try:     "Stop reading when recv() returns 0 bytes, finish what you have to send, and close your socket."},
	"ECLOSED": {Title: "Socket already closed", Where: "send(), recv() after close()",
		Meaning: "This side closed the socket earlier; it cannot be used again.",
		Cause:   "The program closed the socket (or sockplay closed the client) and then used it.",
		Try:     "Open a new connection."},
	"ECANCELED": {Title: "Cancelled", Where: "any call under way",
		Meaning: "The operation was stopped before it finished.",
		Cause:   "The server, the client or sockplay itself was shutting down.",
		Try:     "Start the server or client again."},
	"EREFUSED": {Title: "Refused by sockplay's dial policy", Where: "connect() from a sockplay client",
		Meaning: "sockplay did not dial the target at all: its policy lets clients reach only this instance's lab ports (and the tutorials' ports) on loopback.",
		Cause:   "A target outside the lab: another machine, a cloud metadata address, or a local service such as ssh or sockplay itself.",
		Try:     "Start a server in the session and connect to its port; the operator can widen the policy with the command-line flags."},
	"ETLS": {Title: "TLS failed", Where: "the TLS handshake",
		Meaning: "The TLS handshake did not complete: the certificate was refused, or the peer does not speak TLS.",
		Cause:   "An unknown certificate authority (a self-signed certificate), a name that does not match the certificate, an expired certificate, or plain TCP on one side.",
		Try:     "Trust the server's certificate (or its CA), connect by the name the certificate carries, and make both sides speak TLS."},
	"LIMIT": {Title: "sockplay's limit reached", Where: "accept(), connect() inside sockplay",
		Meaning: "sockplay accepted the connection and closed it at once, or refused a new socket: one of its limits is reached.",
		Cause:   "Too many open connections on one server (-max-conns) or open sockets in all (-max-sockets).",
		Try:     "Close some connections or clients and try again."},
	"EPROTO": {Title: "Protocol error", Where: "reading a message (the app protocol, HTTP)",
		Meaning: "The bytes arrived fine, but they are not a valid message of the protocol the program expects.",
		Cause:   "The other side speaks another protocol or version, a message was cut or sent in a different framing, or a length header does not match the data.",
		Try:     "Look at the bytes of the event (its hexdump) against the protocol: the header, the lengths, the encoding."},
	"ERESTORE": {Title: "Server not restarted", Where: "sockplay starting a recorded server again",
		Meaning: "A server of this session was running when sockplay stopped, and could not be started again with its settings.",
		Cause:   "This sockplay no longer allows its options, port or target (its configuration changed).",
		Try:     "Start a new server with settings that are allowed."},
	"ERROR": {Title: "Other socket error", Where: "any call",
		Meaning: "An error sockplay has no special explanation for.",
		Cause:   "See the operating system's message on the event.",
		Try:     "Search for the message; man 2 of the failing call (connect, recv, send) lists what each errno means."},
}

// ErrorCards returns every card, ordered as a learner meets them: the
// reproducible ones first (as ReproducibleErrnos sorts them), then the rest
// by errno.
func ErrorCards() []ErrorCard {
	out := make([]ErrorCard, 0, len(cards))
	for errno, c := range cards {
		c.Errno = errno
		c.Hint = hints[errno]
		c.Python = pythonErrors[errno]
		_, c.Reproducible = reproducers[errno]
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b ErrorCard) int {
		if a.Reproducible != b.Reproducible {
			if a.Reproducible {
				return -1
			}
			return 1
		}
		if a.Errno < b.Errno {
			return -1
		}
		if a.Errno > b.Errno {
			return 1
		}
		return 0
	})
	return out
}

// ErrorCardFor returns the card of errno (ok false when there is none).
func ErrorCardFor(errno string) (ErrorCard, bool) {
	for _, c := range ErrorCards() {
		if c.Errno == errno {
			return c, true
		}
	}
	return ErrorCard{}, false
}

// portHeld explains a bind that failed with EADDRINUSE on a port a lab
// server holds: its hint names the server (of this session) rather than
// giving TIME_WAIT advice that does not apply. Other errors pass unchanged.
func (l *Lab) portHeld(session string, port int, err error) error {
	se := Classify(err)
	if port == 0 || se.Errno != "EADDRINUSE" {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for sid, sl := range l.sessions {
		for id, s := range sl.servers {
			info := s.Info()
			if portOf(info.Addr) != port {
				continue
			}
			hint := fmt.Sprintf("Port %d is held by a server of another session: pick another port, or 0 to get a free one.", port)
			if sid == session {
				who := info.Kind
				if info.Name != "" {
					who += " “" + info.Name + "”"
				}
				hint = fmt.Sprintf("Port %d is held by server %s (%s) of this session, which listens on %s: stop it first, or pick another port (0 picks a free one).",
					port, id, who, info.Addr)
			}
			return &heldPortError{se: &SockErr{Errno: se.Errno, Message: se.Message, Hint: hint, Python: se.Python}, err: err}
		}
	}
	return err
}

// heldPortError is a bind's error with the explanation portHeld gives it:
// Classify finds that one, errors.Is still finds syscall.EADDRINUSE.
type heldPortError struct {
	se  *SockErr
	err error
}

func (e *heldPortError) Error() string { return e.err.Error() }
func (e *heldPortError) Unwrap() error { return e.err }

// As gives Classify the explained *SockErr.
func (e *heldPortError) As(target any) bool {
	if p, ok := target.(**SockErr); ok {
		*p = e.se
		return true
	}
	return false
}
