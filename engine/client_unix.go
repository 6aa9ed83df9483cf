package engine

import (
	"context"
	"fmt"
	"net"
	"os"
)

// unixClientKind is the tcp client's behaviour over a Unix domain stream
// socket: a kind of its own rather than an option of tcp, because its
// target is a path, not host:port, and its dial rule is another one (only
// this session's own unix-echo sockets: CheckUnixTarget).
var unixClientKind = &ClientKind{
	Name: "unix", Title: "Unix socket client", Net: NetUnix,
	Description: "Connect to one of this session's unix-echo servers by its socket path (or socket name), send text or bytes, see every chunk received, half-close or close; measure round-trip latency to compare with TCP.",
	// The tcp client's options that mean the same on a Unix socket.
	Options: pickOptions(tcpClientKind.Options, "recv_size", "read_timeout_ms", "repeat", "rtt_rounds", "rtt_size"),
	start:   startUnixClient,
}

// checkClientTarget checks a target's form before anything is reserved:
// host:port for the IP kinds; a unix client's path is judged when it
// opens, against its session's sockets (CheckUnixTarget).
func (l *Lab) checkClientTarget(kind *ClientKind, target string) error {
	if kind.Net == NetUnix {
		return nil
	}
	return l.checkTarget(target)
}

// unixSockets maps the socket paths of session's running unix-echo
// servers to their socket names.
func (l *Lab) unixSockets(session string) map[string]string {
	out := map[string]string{}
	for _, s := range l.Servers(session) {
		if s.Kind == unixEchoKind.Name && s.State == StateRunning {
			name := s.Options.String("socket")
			if name == "" {
				name = s.ID
			}
			out[s.Addr] = trimSock(name)
		}
	}
	return out
}

func trimSock(s string) string {
	if len(s) > 5 && s[len(s)-5:] == ".sock" {
		return s[:len(s)-5]
	}
	return s
}

// unixClientName is the abstract socket name client id binds: unique to the
// client (ids are random), and the process's, so two sockplays do not meet.
func unixClientName(id string) string {
	return fmt.Sprintf("@sockplay-%d/%s", os.Getpid(), id)
}

func startUnixClient(ctx context.Context, env *clientEnv, o Options) (Client, error) {
	path, err := CheckUnixTarget(env.Target, env.lab.unixSockets(env.Session))
	if err != nil {
		env.connectFailed(NetUnix, err)
		env.release()
		return nil, err
	}
	// The client binds an abstract name of its own (Linux: "@…", no file)
	// before connecting: the server's accepted end then reports it as its
	// peer, so the two ends of a connection pair up by address as TCP's
	// do (an unbound client is "" on both sides: nothing to pair by).
	d := net.Dialer{Timeout: env.lab.cfg.DialTimeout, LocalAddr: &net.UnixAddr{Name: unixClientName(env.ID), Net: "unix"}}
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		env.connectFailed(NetUnix, err)
		env.release()
		return nil, err
	}
	uc := c.(*net.UnixConn)
	cl := newTCPClient(env, uc, NetUnix)
	cl.configure(uc, o)
	env.connectEvent(cl.conn.tap, o, map[string]any{"path": path})
	cl.run(o.Int("recv_size"))
	return cl, nil
}
