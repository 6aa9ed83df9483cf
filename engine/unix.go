package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NetUnix is the transport of a Unix domain stream socket: a path on this
// machine, no IP, no port.
const NetUnix = "unix"

// maxSunPath is the longest path a Unix socket address may hold on Linux
// (sun_path is 108 bytes with the terminating NUL).
const maxSunPath = 107

// socketNameRE is a socket file name a learner may choose: letters, digits,
// '.', '_' and '-', starting with a letter or digit (no '/', no "..").
var socketNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$`)

// unixEchoKind is tcp-echo's behaviour (the same modes, the same handler)
// over a Unix domain stream socket whose address is a path in the session's
// own directory.
var unixEchoKind = &ServerKind{
	Name: "unix-echo", Title: "Unix socket echo", Net: NetUnix,
	Description: "The echo server on a Unix domain socket: a file path on this machine instead of an IP address and port, the IPC socket programs on one machine use. The same modes as tcp-echo.",
	Options: append(echoOptions(), OptionSpec{Name: "socket", Type: OptString, Default: "", MaxLen: 40, Primary: true,
		Help: "the socket's file name in the session's socket directory (letters, digits, '.', '_', '-'; \".sock\" is added); empty: the server's id"}),
	check:    checkUnixEcho,
	start:    startUnixEcho,
	snippets: unixSnippets,
}

// echoOptions are tcp-echo's own options (mode, prefix, recv_size,
// oneshot), without its TCP socket options.
func echoOptions() []OptionSpec {
	return pickOptions(echoKind.Options, "mode", "prefix", "recv_size", "oneshot")
}

// pickOptions returns the specs called names, in the order of specs.
func pickOptions(specs []OptionSpec, names ...string) []OptionSpec {
	var out []OptionSpec
	for _, o := range specs {
		if slices.Contains(names, o.Name) {
			out = append(out, o)
		}
	}
	return out
}

func checkUnixEcho(o Options) error {
	if s := o.String("socket"); s != "" {
		if err := checkSocketName(s); err != nil {
			return err
		}
	}
	return nil
}

// checkSocketName refuses a socket name that is not a plain file name.
func checkSocketName(s string) error {
	s = strings.TrimSuffix(s, ".sock")
	if !socketNameRE.MatchString(s) || strings.Contains(s, "..") {
		return &OptionError{Option: "socket", Msg: fmt.Sprintf("socket %q: a socket name is a plain file name of letters, digits, '.', '_' and '-' (no '/' or \"..\"), at most 40 characters, such as echo", s)}
	}
	return nil
}

func startUnixEcho(env *Env, o Options) (server, error) {
	if env.Port != 0 {
		return nil, &OptionError{Option: "port", Msg: "a unix-echo server has no port: its address is a file path (leave the port empty)"}
	}
	name := strings.TrimSuffix(o.String("socket"), ".sock")
	if name == "" {
		name = env.ID
	}
	path, note, err := env.lab.socketPath(env.Session, name)
	if err != nil {
		return nil, err
	}
	ln, err := listenUnix(path)
	if err != nil {
		return nil, err
	}
	s := env.Stream(ln, NetUnix, echoHandler(o))
	s.Relisten = func(addr string) (net.Listener, error) { return listenUnix(addr) }
	s.OnAccept = peerCredMeta
	s.Details = func() map[string]any {
		d := map[string]any{"path": path}
		if note != "" {
			d["socket_dir_note"] = note
		}
		return d
	}
	if note != "" {
		env.Log.Warn("unix socket directory fallback", "session", env.Session, "server", env.ID, "note", note)
	}
	return s, nil
}

// unixSnippets reach a unix-echo server at path from a terminal. The host
// argument is the socket's path (SnippetsFor passes the address whole).
func unixSnippets(path, _ string, o Options) []Snippet {
	q := shellQuote(path)
	py := "import socket\n\n" +
		"with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:\n" +
		"    s.connect(" + strconv.Quote(path) + ")\n"
	if m := o.String("mode"); m == "greet" || m == "daytime" {
		return []Snippet{
			{"nc", "netcat (-U: a Unix socket; reads until the server closes)", "nc -U " + q + " < /dev/null"},
			{"socat", "socat", "socat - UNIX-CONNECT:" + q},
			{"python", "Python (AF_UNIX)", py +
				"    while data := s.recv(1024):\n" +
				"        print(data.decode(errors=\"replace\"))\n"},
		}
	}
	return []Snippet{
		{"nc", "netcat (-U: a Unix socket; type lines, Ctrl-D ends)", "nc -U " + q},
		{"nc-once", "netcat, one line (-N: shut down after input)", "echo hello | nc -N -U " + q},
		{"socat", "socat (type lines, Ctrl-D ends)", "socat - UNIX-CONNECT:" + q},
		{"python", "Python (AF_UNIX)", py +
			"    s.sendall(b\"hello\\n\")\n" +
			"    print(s.recv(4096).decode(errors=\"replace\"))\n"},
	}
}

// shellQuote quotes s for sh when it holds anything but safe characters.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// SocketDir returns the directory under which each session's Unix sockets
// live (<dir>/<session>/<name>.sock).
func (l *Lab) SocketDir() string { return l.cfg.SocketDir }

// fallbackSocketDir is the short directory used when the configured one
// would make a socket path longer than sun_path holds.
func fallbackSocketDir() string {
	return filepath.Join("/tmp", "sockplay-"+strconv.Itoa(os.Getuid()))
}

// socketPath returns the path of session's socket name, creating the
// session's directory (0700) on demand. When the configured directory
// would make the path too long for a Unix socket address, the short
// fallback directory is used and note says so; when even that is too long
// the start is refused.
func (l *Lab) socketPath(session, name string) (path, note string, err error) {
	if err := checkSocketName(name); err != nil {
		return "", "", err
	}
	rel := filepath.Join(session, name+".sock")
	if strings.Contains(session, "/") || strings.Contains(session, "..") {
		return "", "", fmt.Errorf("session id %q cannot name a directory", session)
	}
	root := l.cfg.SocketDir
	path = filepath.Join(root, rel)
	if len(path) > maxSunPath {
		fb := fallbackSocketDir()
		alt := filepath.Join(fb, rel)
		if len(alt) > maxSunPath {
			return "", "", &OptionError{Option: "socket", Msg: fmt.Sprintf("the socket path %s is %d bytes, and a Unix socket path may have at most %d: choose a shorter socket name", path, len(path), maxSunPath)}
		}
		note = fmt.Sprintf("the socket directory %s would make this socket's path %d bytes, more than the %d a Unix socket address holds; it is in %s instead", root, len(path), maxSunPath, fb)
		root, path = fb, alt
	}
	if err := mkdirPrivate(root); err != nil {
		return "", "", err
	}
	if err := mkdirPrivate(filepath.Join(root, session)); err != nil {
		return "", "", err
	}
	return path, note, nil
}

// mkdirPrivate makes dir (and its parents) with mode 0700, and refuses a
// directory that is a symbolic link or that others may write to.
func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("the socket directory %s cannot be made: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("the socket directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("the socket directory %s is not a directory (a symbolic link?): sockplay does not use it", dir)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("the socket directory %s may be written by others and cannot be made private: %w", dir, err)
		}
	}
	return nil
}

// UnixInUseError is a socket path where another program already answers.
type UnixInUseError struct{ Path string }

func (e *UnixInUseError) Error() string {
	return "address already in use: something already listens on " + e.Path + " (another unix-echo server of this session with the same socket name, or another program); choose another socket name or stop that server"
}

// Unwrap makes it an EADDRINUSE.
func (e *UnixInUseError) Unwrap() error { return syscall.EADDRINUSE }

// listenUnix listens on path. A socket file left there by a sockplay that
// was killed (nothing answers on it) is removed first; a file that is not
// a socket, or a socket something answers on, is left alone and refused.
// Closing the listener removes the file.
func listenUnix(path string) (*net.UnixListener, error) {
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(true)
	return ln, nil
}

func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket: sockplay leaves it alone; remove it or choose another socket name: %w", path, syscall.EADDRINUSE)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return &UnixInUseError{Path: path}
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: a socket file nothing could be asked about (%v): %w", path, err, syscall.EADDRINUSE)
	}
	// A socket nobody listens on: a leftover of a killed process.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the stale socket file %s cannot be removed: %w", path, err)
	}
	return nil
}

// removeSocketDirs removes session's socket directory (in the configured
// directory and in the fallback one): its servers stopped, their sockets
// are gone, and nothing else belongs there.
func (l *Lab) removeSocketDirs(session string) {
	if session == "" || strings.Contains(session, "/") || strings.Contains(session, "..") {
		return
	}
	for _, root := range []string{l.cfg.SocketDir, fallbackSocketDir()} {
		dir := filepath.Join(root, session)
		if fi, err := os.Lstat(dir); err == nil && fi.IsDir() {
			if err := os.RemoveAll(dir); err != nil {
				l.log.Warn("session socket directory not removed", "dir", dir, "err", err)
			}
		}
	}
}

// defaultSocketDir is where the sessions' sockets go when sockplay is not
// told (main.go puts them beside the database).
func defaultSocketDir() string {
	return filepath.Join(os.TempDir(), "sockplay-"+strconv.Itoa(os.Getuid()), "sockets")
}
