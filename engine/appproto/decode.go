// Package appproto reads and writes the messages of Real Python's socket
// tutorial application (app-server.py and app-client.py, libserver.py and
// libclient.py): one request and one response per connection, each message
//
//	2 bytes   the length of the JSON header, an unsigned big-endian integer
//	H bytes   the JSON header, UTF-8: an object with "byteorder",
//	          "content-type", "content-encoding" and "content-length"
//	C bytes   the content: content-length bytes
//
// A Decoder is fed the bytes as they arrive (any chunking) and returns each
// message when it is complete, with the offsets of its three parts. Errors
// are *Error: a plain reason for a learner, what the protocol expects, and
// where in the stream the problem is. Encode writes a message as the
// tutorial's Python does, byte for byte, and Reply is the tutorial server's
// answer to a request.
package appproto

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of a message.
const (
	// LengthSize is the size of the header length that starts a message.
	LengthSize = 2
	// MaxHeaderLen is the largest header the 2-byte length can announce.
	MaxHeaderLen = 1<<16 - 1
	// DefaultMaxContent is the content-length a Decoder accepts by default.
	DefaultMaxContent = 1 << 20
)

// The content types the tutorial's programs tell apart.
const (
	TypeJSON         = "text/json"
	TypeServerBinary = "binary/custom-server-binary-type"
	TypeClientBinary = "binary/custom-client-binary-type"
)

// Header is the part of a message's JSON header the protocol requires.
type Header struct {
	ByteOrder       string // "little" or "big": sys.byteorder of the sender
	ContentType     string
	ContentEncoding string
	ContentLength   int
}

// Part is one of the three parts of a message: its name ("length",
// "header", "content"), its offset from the start of the message and its
// length.
type Part struct {
	Name   string `json:"name"`
	Offset int    `json:"offset"`
	Len    int    `json:"len"`
}

// Message is one decoded message.
type Message struct {
	// Offset is where the message starts in the stream it was decoded from.
	Offset int
	// HeaderLen is the header length of the first two bytes.
	HeaderLen int
	// RawHeader is the JSON header as it was sent.
	RawHeader []byte
	// HeaderObject is the whole parsed header, keys in the order they were
	// sent (other keys than the four required ones included).
	HeaderObject Object
	Header       Header
	// Content is the content bytes.
	Content []byte
	// Value is the decoded content of a text/json message (see DecodeJSON
	// for the types); nil otherwise.
	Value any
	raw   []byte
}

// IsJSON reports whether the message's content is text/json.
func (m *Message) IsJSON() bool { return m.Header.ContentType == TypeJSON }

// Bytes returns the whole message as it was sent (not a copy).
func (m *Message) Bytes() []byte { return m.raw }

// Parts returns the message's three parts.
func (m *Message) Parts() []Part {
	return []Part{
		{"length", 0, LengthSize},
		{"header", LengthSize, m.HeaderLen},
		{"content", LengthSize + m.HeaderLen, len(m.Content)},
	}
}

// Error is a message that breaks the protocol.
type Error struct {
	// Offset is where in the stream the problem is (for a message cut short,
	// where the bytes stopped).
	Offset int
	// Reason says what is wrong, for a learner.
	Reason string
	// Expect says what the protocol expects instead.
	Expect string
}

func (e *Error) Error() string { return e.Reason }

// What the protocol expects, for Error.Expect.
const (
	expectLength  = "a message starts with 2 bytes: the length of the JSON header that follows, as an unsigned big-endian integer (struct.pack(\">H\", len(header)))"
	expectHeader  = `the header is a UTF-8 JSON object such as {"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 38}, exactly as many bytes as the 2-byte length says`
	expectKeys    = `the header object has the keys "byteorder" ("little" or "big"), "content-type" and "content-encoding" (strings) and "content-length" (the number of content bytes, a whole number)`
	expectContent = "after the header come exactly content-length bytes of content"
	expectJSON    = `text/json content is UTF-8 JSON such as {"action": "search", "value": "morpheus"}`
)

// Decoder decodes the messages of one stream, fed in chunks of any size.
// It never holds more than the message it is decoding: at most 2 bytes, the
// header length and the content-length it announced, and content-length is
// refused past the Decoder's limit before any content is read.
type Decoder struct {
	// LimitName, when set, names the content limit in the error about it
	// ("the max_content option").
	LimitName  string
	maxContent int
	buf        []byte // the message so far
	want       int    // how long buf must grow before the next step
	hlen       int    // the header length, once read (-1 before)
	hobj       Object
	hdr        Header
	start      int // stream offset of buf[0]
	decoded    int // messages decoded
	err        *Error
}

// NewDecoder returns a Decoder that accepts content of at most maxContent
// bytes (negative: DefaultMaxContent).
func NewDecoder(maxContent int) *Decoder {
	if maxContent < 0 {
		maxContent = DefaultMaxContent
	}
	d := &Decoder{maxContent: maxContent}
	d.reset()
	return d
}

func (d *Decoder) reset() {
	d.buf, d.want, d.hlen, d.hobj, d.hdr = nil, LengthSize, -1, nil, Header{}
}

// Buffered returns how many bytes of an unfinished message the Decoder holds.
func (d *Decoder) Buffered() int { return len(d.buf) }

// Feed gives the Decoder the next bytes of the stream. When they complete a
// message it returns the message and how many bytes of p it used (the rest
// belongs to what follows; feed it again). Otherwise it returns a nil
// message and len(p). An error is final: every later call returns it.
func (d *Decoder) Feed(p []byte) (m *Message, used int, err error) {
	if d.err != nil {
		return nil, 0, d.err
	}
	for {
		take := min(d.want-len(d.buf), len(p)-used)
		d.grow(take)
		d.buf = append(d.buf, p[used:used+take]...)
		used += take
		if len(d.buf) < d.want {
			return nil, used, nil
		}
		m, err := d.step()
		if err != nil {
			d.err = err
			return nil, used, err
		}
		if m != nil {
			return m, used, nil
		}
	}
}

// grow makes room for n more bytes without growing past what the current
// step needs: the buffer never exceeds the message's announced size.
func (d *Decoder) grow(n int) {
	need := len(d.buf) + n
	if need <= cap(d.buf) {
		return
	}
	c := min(max(2*cap(d.buf), need, 512), d.want)
	nb := make([]byte, len(d.buf), c)
	copy(nb, d.buf)
	d.buf = nb
}

// step acts on a buffer that reached d.want bytes.
func (d *Decoder) step() (*Message, *Error) {
	switch {
	case d.hlen < 0:
		d.hlen = int(binary.BigEndian.Uint16(d.buf))
		if d.hlen == 0 {
			return nil, &Error{Offset: d.start, Reason: "the header length is 0: the message has no JSON header", Expect: expectHeader}
		}
		d.want = LengthSize + d.hlen
		return nil, nil
	case d.hobj == nil:
		obj, hdr, err := d.parseHeader(d.buf[LengthSize:])
		if err != nil {
			return nil, err
		}
		d.hobj, d.hdr = obj, hdr
		d.want = LengthSize + d.hlen + hdr.ContentLength
		if len(d.buf) < d.want {
			return nil, nil
		}
	}
	m := &Message{Offset: d.start, HeaderLen: d.hlen, RawHeader: d.buf[LengthSize : LengthSize+d.hlen],
		HeaderObject: d.hobj, Header: d.hdr, Content: d.buf[LengthSize+d.hlen:], raw: d.buf}
	if m.IsJSON() {
		v, err := d.parseContent(m.Content)
		if err != nil {
			return nil, err
		}
		m.Value = v
	}
	d.start += len(d.buf)
	d.decoded++
	d.reset()
	return m, nil
}

// EOF is called when the stream ended (the peer's FIN). It returns nil when
// the stream ended between messages after at least one, and otherwise says
// what was missing.
func (d *Decoder) EOF() error {
	if d.err != nil {
		return d.err
	}
	got := len(d.buf)
	at := d.start + got
	var e *Error
	switch {
	case got == 0 && d.decoded > 0:
		return nil
	case got == 0:
		e = &Error{Reason: "the connection ended before a message arrived", Expect: expectLength}
	case d.hlen < 0:
		e = &Error{Reason: "the connection ended after 1 of the 2 bytes of the header length", Expect: expectLength}
	case d.hobj == nil:
		e = &Error{Reason: fmt.Sprintf("the connection ended after %d of the %d header bytes that the 2-byte length announced",
			got-LengthSize, d.hlen), Expect: "the 2-byte length counts the bytes of the JSON header that follow it: send exactly that many"}
	default:
		e = &Error{Reason: fmt.Sprintf("the connection ended after %d of the %d content bytes that the header's content-length announced",
			got-LengthSize-d.hlen, d.hdr.ContentLength), Expect: expectContent}
	}
	e.Offset = at
	d.err = e
	return e
}

// Decode decodes the one message at the start of b, as if b were the whole
// stream: a message cut short is an error. It returns the message and how
// many bytes of b it used.
func Decode(b []byte, maxContent int) (*Message, int, error) {
	d := NewDecoder(maxContent)
	m, n, err := d.Feed(b)
	if err != nil {
		return nil, n, err
	}
	if m == nil {
		return nil, n, d.EOF()
	}
	return m, n, nil
}

// parseHeader checks the JSON header raw against the protocol.
func (d *Decoder) parseHeader(raw []byte) (Object, Header, *Error) {
	at := d.start + LengthSize
	bad := func(off int, expect, format string, args ...any) (Object, Header, *Error) {
		return nil, Header{}, &Error{Offset: at + off, Reason: fmt.Sprintf(format, args...), Expect: expect}
	}
	if i := invalidUTF8(raw); i >= 0 {
		return bad(i, expectHeader, "the JSON header is not valid UTF-8 text (byte %d of the header)", i)
	}
	v, i, err := DecodeJSON(raw)
	if err != nil {
		return bad(i, expectHeader, "the header is not valid JSON: %s (at byte %d of the header)", err, i)
	}
	obj, ok := v.(Object)
	if !ok {
		return bad(0, expectHeader, "the header is JSON but not an object: it is %s", typeName(v))
	}
	// libserver.py checks that the keys are there, in this order.
	for _, k := range []string{"byteorder", "content-length", "content-type", "content-encoding"} {
		if _, ok := obj.Get(k); !ok {
			return bad(0, expectKeys, "the header has no %q key (the tutorial's server raises: Missing required header '%s'.)", k, k)
		}
	}
	var h Header
	bo, _ := obj.Get("byteorder")
	if s, ok := bo.(string); !ok || (s != "little" && s != "big") {
		return bad(0, expectKeys, `the header's "byteorder" is %s; it must be "little" or "big" (Python's sys.byteorder)`, valueText(bo))
	}
	h.ByteOrder = bo.(string)
	n, err := contentLength(obj)
	if err != nil {
		return bad(0, expectKeys, "%s", err)
	}
	if n > d.maxContent {
		limit := strconv.Itoa(d.maxContent)
		if d.LimitName != "" {
			limit += ", " + d.LimitName
		}
		return bad(0, "a content-length of at most "+strconv.Itoa(d.maxContent)+" bytes",
			`the header's "content-length" is %d bytes, more than this server accepts (at most %s)`, n, limit)
	}
	h.ContentLength = n
	for _, k := range []string{"content-type", "content-encoding"} {
		v, _ := obj.Get(k)
		s, ok := v.(string)
		if !ok {
			return bad(0, expectKeys, "the header's %q is %s; it must be a string", k, valueText(v))
		}
		if k == "content-type" {
			h.ContentType = s
		} else {
			h.ContentEncoding = s
		}
	}
	if h.ContentType == TypeJSON && jsonEncoding(h.ContentEncoding) == "" {
		return bad(0, `text/json content is encoded as "utf-8" (the tutorial's programs always send "utf-8")`,
			`the header's "content-encoding" is %q: this server decodes text/json content only as "utf-8" (or "ascii")`, h.ContentEncoding)
	}
	return obj, h, nil
}

// contentLength returns the header's content-length: a JSON number that is
// a non-negative whole number (no fraction or exponent: Python's json reads
// 38.0 as a float, which libserver.py cannot slice with).
func contentLength(obj Object) (int, error) {
	v, _ := obj.Get("content-length")
	num, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf(`the header's "content-length" is %s; it must be a whole number (the number of content bytes)`, valueText(v))
	}
	s := string(num)
	if strings.ContainsAny(s, ".eE") {
		return 0, fmt.Errorf(`the header's "content-length" is %s, which is not a whole number; it counts the content bytes`, s)
	}
	if strings.HasPrefix(s, "-") {
		if s == "-0" {
			return 0, nil
		}
		return 0, fmt.Errorf(`the header's "content-length" is %s; a length cannot be negative`, s)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf(`the header's "content-length" is %s bytes, far more than any server accepts`, s)
	}
	return n, nil
}

// jsonEncoding returns the canonical name of a content-encoding this
// package decodes text/json with ("utf-8" or "ascii", spelled as Python's
// codecs accept them), or "".
func jsonEncoding(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.NewReplacer("-", "_", " ", "_").Replace(n)
	switch n {
	case "utf_8", "utf8", "u8":
		return "utf-8"
	case "ascii", "us_ascii":
		return "ascii"
	}
	return ""
}

// parseContent decodes the content of a text/json message.
func (d *Decoder) parseContent(c []byte) (any, *Error) {
	at := d.start + LengthSize + d.hlen
	if jsonEncoding(d.hdr.ContentEncoding) == "ascii" {
		if i := bytes.IndexFunc(c, func(r rune) bool { return r >= utf8.RuneSelf }); i >= 0 {
			return nil, &Error{Offset: at + i, Reason: fmt.Sprintf("the text/json content is not ASCII, as its content-encoding says (byte %d of the content)", i), Expect: expectJSON}
		}
	}
	if i := invalidUTF8(c); i >= 0 {
		return nil, &Error{Offset: at + i, Reason: fmt.Sprintf("the text/json content is not valid UTF-8 text (byte %d of the content)", i), Expect: expectJSON}
	}
	v, i, err := DecodeJSON(c)
	if err != nil {
		return nil, &Error{Offset: at + i, Reason: fmt.Sprintf("the text/json content is not valid JSON: %s (at byte %d of the content)", err, i), Expect: expectJSON}
	}
	return v, nil
}

// invalidUTF8 returns the index of the first byte of b that is not valid
// UTF-8, or -1.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return -1
}

// typeName names a decoded JSON value's type with an article.
func typeName(v any) string {
	switch v.(type) {
	case Object:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

// valueText shows a decoded JSON value in an error message: short values
// as JSON, others by their type.
func valueText(v any) string {
	switch v := v.(type) {
	case string:
		if len(v) <= 40 {
			b, _ := json.Marshal(v)
			return "the string " + string(b)
		}
	case json.Number:
		if len(v) <= 40 {
			return "the number " + string(v)
		}
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	}
	return typeName(v)
}

// syntaxOffset returns the offset of a *json.SyntaxError in err.
func syntaxOffset(err error) (int64, bool) {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Offset, true
	}
	return 0, false
}
