package engine

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// EchoOptions configure a tcp-echo server.
type EchoOptions struct {
	// Mode is one of EchoModes.
	Mode string `json:"mode"`
	// Prefix is sent before each reply in mode "prefix" (default "Echo: ").
	Prefix string `json:"prefix,omitempty"`
	// RecvSize is the most one read call takes (1..65536, default 4096): small
	// values show partial reads and that TCP keeps no message boundaries.
	RecvSize int `json:"recv_size"`
	// Oneshot makes the server read one chunk, reply once and close.
	Oneshot bool `json:"oneshot"`
}

// EchoModes lists the tcp-echo modes, as SYSTEMS.md names them.
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

// normalize fills defaults and validates.
func (o *EchoOptions) normalize(prefixSet bool) error {
	if o.Mode == "" {
		o.Mode = "echo"
	}
	if !slices.Contains(EchoModes, o.Mode) {
		return &OptionError{Option: "mode", Msg: fmt.Sprintf("unknown tcp-echo mode %q; valid modes: %s", o.Mode, strings.Join(EchoModes, ", "))}
	}
	if o.Mode == "prefix" && !prefixSet {
		o.Prefix = DefaultEchoPrefix
	}
	if o.Mode != "prefix" {
		o.Prefix = ""
	}
	if len(o.Prefix) > 1024 {
		return &OptionError{Option: "prefix", Msg: "prefix is longer than 1024 bytes"}
	}
	if o.RecvSize == 0 {
		o.RecvSize = DefaultRecvSize
	}
	if o.RecvSize < 1 || o.RecvSize > MaxRecvSize {
		return &OptionError{Option: "recv_size", Msg: fmt.Sprintf("recv_size %d: want 1 to %d bytes (tutorials use 1024, 4096 or 65536)", o.RecvSize, MaxRecvSize)}
	}
	return nil
}

// echoHandler returns the per-connection behaviour of a tcp-echo server.
func echoHandler(o EchoOptions) func(*serverConn) {
	return func(c *serverConn) {
		switch o.Mode {
		case "greet":
			c.write([]byte(greeting))
			return
		case "daytime":
			c.write([]byte(time.Now().Format(daytimeLayout) + "\r\n"))
			return
		}
		buf := make([]byte, o.RecvSize)
		for {
			n, ok := c.read(buf)
			if !ok {
				return
			}
			reply, closeAfter := echoReply(o, buf[:n])
			if !c.write(reply) || closeAfter || o.Oneshot {
				return
			}
		}
	}
}

// echoReply computes the reply to one received chunk, and whether the server
// closes the connection after sending it.
func echoReply(o EchoOptions, in []byte) (reply []byte, closeAfter bool) {
	switch o.Mode {
	case "prefix":
		return append([]byte(o.Prefix), in...), false
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

// OptionError reports a bad server or client option.
type OptionError struct {
	Option string
	Msg    string
}

func (e *OptionError) Error() string { return e.Msg }
