package engine

import (
	"bytes"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// EchoModes lists the tcp-echo modes, as the tutorials name them.
var EchoModes = []string{"echo", "prefix", "upper", "reverse", "greet", "daytime", "accept-close"}

// Echo defaults.
const (
	DefaultEchoPrefix = "Echo: "
	DefaultRecvSize   = 4096
	MaxRecvSize       = 65536
	greeting          = "Hello Client!"
	// daytimeLayout is what C's ctime() and Python's time.ctime() print,
	// which is what daytime servers in tutorials send.
	daytimeLayout = "Mon Jan _2 15:04:05 2006"
)

// recvSizeOption is the read size of a server or client: small values show
// partial reads and that TCP keeps no message boundaries.
func recvSizeOption(def int) OptionSpec {
	return OptionSpec{Name: "recv_size", Type: OptInt, Default: def, Min: intp(1), Max: intp(MaxRecvSize),
		Suggest: []int{1024, 4096, 65536}, Unit: "bytes", Primary: true,
		Help: "the most one recv() call reads; a small size splits one send into several reads (tutorials use 1024, 4096 or 65536)"}
}

var echoKind = &ServerKind{
	Name: "tcp-echo", Title: "TCP echo", Net: NetTCP, TutorialPort: 65432,
	Description: "The classic echo server and its variants: every chunk received is answered (unchanged, prefixed, upper-cased, reversed), or a greeting or the time is sent on accept.",
	Options: append([]OptionSpec{
		{Name: "mode", Type: OptEnum, Default: "echo", Primary: true, Help: "what the server answers", Values: []Choice{
			{"echo", "echo: send every chunk back"},
			{"prefix", `prefix: "Echo: " + data`},
			{"upper", "upper: upper-cased"},
			{"reverse", "reverse: olleh"},
			{"greet", `greet: "Hello Client!" then close`},
			{"daytime", "daytime: the time, then close"},
			{"accept-close", `accept-close: "accepted"; "close" closes`},
		}},
		{Name: "prefix", Type: OptString, Default: DefaultEchoPrefix, MaxLen: 1024, Primary: true,
			When: &When{Option: "mode", Values: []string{"prefix"}}, Help: "sent before each reply"},
		recvSizeOption(DefaultRecvSize),
		{Name: "oneshot", Type: OptBool, Default: false, Primary: true, Help: "read one chunk, reply once, then close"},
	}, sockOptions()...),
	start:    startEchoServer,
	snippets: echoSnippets,
}

// startEchoServer listens with the server's socket options (a listen(2)
// backlog of its own, so not through net.Listen: see sockopt.go).
func startEchoServer(env *Env, o Options) (server, error) {
	so := sockOptsOf(o)
	ln, facts, err := listenSockopts(env, so)
	if err != nil {
		return nil, err
	}
	s := env.Stream(ln, NetTCP, echoHandler(o))
	s.Relisten = relistenWith(so) // after a refuse fault, with the same socket options
	so.attach(env, s, facts)
	return s, nil
}

// echoHandler returns the per-connection behaviour of a tcp-echo server.
func echoHandler(o Options) func(*Conn) {
	mode, oneshot := o.String("mode"), o.Bool("oneshot")
	prefix, size := o.String("prefix"), o.Int("recv_size")
	return func(c *Conn) {
		switch mode {
		case "greet":
			c.SetCloseReason("greeting sent")
			c.Write([]byte(greeting))
			return
		case "daytime":
			c.SetCloseReason("the time was sent")
			c.Write([]byte(time.Now().Format(daytimeLayout) + "\r\n"))
			return
		}
		buf := make([]byte, size)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			reply, closeAfter := echoReply(mode, prefix, buf[:n])
			if _, err := c.Write(reply); err != nil {
				return
			}
			if closeAfter {
				c.SetCloseReason(`"close" received: replied "closed"`)
				return
			}
			if oneshot {
				c.SetCloseReason("one-shot: replied once")
				return
			}
		}
	}
}

// echoSnippets reach a tcp-echo server from a terminal. Servers that only
// talk (greet, daytime) are read, not written to; the others get a line and
// an end of input, so nc and the Python client both finish.
func echoSnippets(host, port string, o Options) []Snippet {
	if m := o.String("mode"); m == "greet" || m == "daytime" {
		return []Snippet{
			{"nc", "netcat (reads until the server closes)", "nc " + host + " " + port + " < /dev/null"},
			{"python", "Python", "import socket\n\n" +
				"with socket.create_connection((\"" + host + "\", " + port + ")) as s:\n" +
				"    while data := s.recv(1024):\n" +
				"        print(data.decode(errors=\"replace\"))\n"},
		}
	}
	return []Snippet{
		{"nc", "netcat (type lines; Ctrl-D ends)", "nc " + host + " " + port},
		{"nc-once", "netcat, one line (-N: shut down after input)", "echo hello | nc -N " + host + " " + port},
		{"python", "Python", "import socket\n\n" +
			"with socket.create_connection((\"" + host + "\", " + port + ")) as s:\n" +
			"    s.sendall(b\"hello\\n\")\n" +
			"    print(s.recv(4096).decode(errors=\"replace\"))\n"},
	}
}

// echoReply computes the reply to one received chunk, and whether the server
// closes the connection after sending it.
func echoReply(mode, prefix string, in []byte) (reply []byte, closeAfter bool) {
	switch mode {
	case "prefix":
		return append([]byte(prefix), in...), false
	case "upper":
		return upper(in), false
	case "reverse":
		return reverseLine(in), false
	case "accept-close":
		if strings.EqualFold(string(bytes.TrimSpace(in)), "close") {
			return []byte("closed"), true
		}
		return []byte("accepted"), false
	}
	return in, false
}

// upper upper-cases the valid UTF-8 in b and leaves every other byte as it
// is (bytes.ToUpper would turn invalid bytes into U+FFFD).
func upper(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			out = append(out, b[0])
		} else {
			out = utf8.AppendRune(out, unicode.ToUpper(r))
		}
		b = b[size:]
	}
	return out
}

// reverseLine reverses b rune by rune ("héllo" -> "olléh"). A trailing line
// ending (as nc and most line-based clients send) stays at the end, so the
// reply is still a line: "hello\n" -> "olleh\n". Bytes that are not valid
// UTF-8 are moved as single units, unchanged.
func reverseLine(b []byte) []byte {
	body, eol := b, []byte(nil)
	if bytes.HasSuffix(body, []byte("\r\n")) {
		body, eol = body[:len(body)-2], body[len(body)-2:]
	} else if bytes.HasSuffix(body, []byte("\n")) {
		body, eol = body[:len(body)-1], body[len(body)-1:]
	}
	out := make([]byte, len(b))
	i := len(body)
	for len(body) > 0 {
		_, size := utf8.DecodeRune(body)
		i -= size
		copy(out[i:], body[:size])
		body = body[size:]
	}
	copy(out[len(b)-len(eol):], eol)
	return out
}
