package appproto

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// frame builds a message from the protocol text, independently of Encode:
// the header's length as 2 big-endian bytes, the header, the content.
func frame(header, content string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(header)))
	return append(append(b, header...), content...)
}

// jsonHeader is the header the tutorial's Python writes for content of n
// bytes (json.dumps: ", " and ": " separators, keys in this order).
func jsonHeader(ctype, enc string, n int) string {
	b, _ := json.Marshal(ctype)
	e, _ := json.Marshal(enc)
	return `{"byteorder": "little", "content-type": ` + string(b) + `, "content-encoding": ` + string(e) +
		`, "content-length": ` + strconv.Itoa(n) + `}`
}

const morpheusContent = `{"action": "search", "value": "morpheus"}`

// morpheusRequest is what Real Python's app-client.py sends for
// "search morpheus" on a little-endian machine.
var morpheusRequest = []byte("\x00g" + `{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 41}` + morpheusContent)

// feedAll feeds b to d in chunks of size n and returns every message and
// the first error.
func feedAll(d *Decoder, b []byte, n int) ([]*Message, error) {
	var out []*Message
	for len(b) > 0 {
		chunk := b[:min(n, len(b))]
		for len(chunk) > 0 {
			m, used, err := d.Feed(chunk)
			if err != nil {
				return out, err
			}
			if m != nil {
				out = append(out, m)
			}
			chunk = chunk[used:]
			if m == nil && len(chunk) > 0 {
				panic("Feed used less than the whole chunk without a message")
			}
		}
		b = b[min(n, len(b)):]
	}
	return out, nil
}

func TestDecodeTutorialRequestInAnyChunks(t *testing.T) {
	if got := frame(jsonHeader("text/json", "utf-8", len(morpheusContent)), morpheusContent); !bytes.Equal(got, morpheusRequest) {
		t.Fatalf("the test's own framing %q differs from the tutorial's bytes %q", got, morpheusRequest)
	}
	for _, n := range []int{1, 2, 3, 7, 64, 102, 104, len(morpheusRequest), 4096} {
		d := NewDecoder(-1)
		msgs, err := feedAll(d, morpheusRequest, n)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("chunks of %d: %d messages, err %v; want 1 message", n, len(msgs), err)
		}
		m := msgs[0]
		if m.HeaderLen != 103 || string(m.RawHeader) != string(morpheusRequest[2:105]) || string(m.Content) != morpheusContent {
			t.Errorf("chunks of %d: header len %d, header %q, content %q", n, m.HeaderLen, m.RawHeader, m.Content)
		}
		want := Header{ByteOrder: "little", ContentType: "text/json", ContentEncoding: "utf-8", ContentLength: 41}
		if m.Header != want {
			t.Errorf("chunks of %d: header %+v, want %+v", n, m.Header, want)
		}
		if !bytes.Equal(m.Bytes(), morpheusRequest) || m.Offset != 0 || !m.IsJSON() {
			t.Errorf("chunks of %d: Bytes %q offset %d json %v", n, m.Bytes(), m.Offset, m.IsJSON())
		}
		wantParts := []Part{{"length", 0, 2}, {"header", 2, 103}, {"content", 105, 41}}
		if !slices.Equal(m.Parts(), wantParts) {
			t.Errorf("chunks of %d: parts %v, want %v", n, m.Parts(), wantParts)
		}
		v, ok := m.Value.(Object)
		if !ok || len(v) != 2 || v[0] != (Member{"action", "search"}) || v[1] != (Member{"value", "morpheus"}) {
			t.Errorf("chunks of %d: value %#v, want the ordered object {action: search, value: morpheus}", n, m.Value)
		}
		if d.Buffered() != 0 {
			t.Errorf("chunks of %d: %d bytes still buffered", n, d.Buffered())
		}
		if err := d.EOF(); err != nil {
			t.Errorf("chunks of %d: EOF after a whole message: %v", n, err)
		}
	}
}

func TestDecodeHeaderKeepsOrderExtraKeysAndLastDuplicate(t *testing.T) {
	h := `{"content-length": 3, "x-extra": [1, {"a": null}], "content-encoding": "binary", "byteorder": "big", "content-type": "image/png", "x-extra": true}`
	m, used, err := Decode(frame(h, "abcdef"), -1)
	if err != nil {
		t.Fatal(err)
	}
	if used != 2+len(h)+3 || string(m.Content) != "abc" || m.Value != nil || m.IsJSON() {
		t.Errorf("used %d content %q value %v json %v", used, m.Content, m.Value, m.IsJSON())
	}
	var keys []string
	for _, mem := range m.HeaderObject {
		keys = append(keys, mem.Key)
	}
	if want := []string{"content-length", "x-extra", "content-encoding", "byteorder", "content-type"}; !slices.Equal(keys, want) {
		t.Errorf("header keys %v, want %v (first place, last value)", keys, want)
	}
	if v, _ := m.HeaderObject.Get("x-extra"); v != true {
		t.Errorf("x-extra = %v, want the last value true", v)
	}
	b, err := json.Marshal(m.HeaderObject)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"content-length":3,"x-extra":true,"content-encoding":"binary","byteorder":"big","content-type":"image/png"}`; string(b) != want {
		t.Errorf("header as JSON %s, want %s", b, want)
	}
}

func TestDecodeMessagesBackToBack(t *testing.T) {
	a := frame(jsonHeader("binary/x", "binary", 0), "")
	b := frame(jsonHeader("text/json", "utf-8", 2), "[]")
	stream := append(append([]byte{}, a...), b...)
	d := NewDecoder(-1)
	m1, used, err := d.Feed(stream)
	if err != nil || m1 == nil || used != len(a) || len(m1.Content) != 0 {
		t.Fatalf("first message: %v, used %d, err %v", m1, used, err)
	}
	m2, used2, err := d.Feed(stream[used:])
	if err != nil || m2 == nil || used2 != len(b) || m2.Offset != len(a) {
		t.Fatalf("second message: %v, used %d, err %v", m2, used2, err)
	}
	if v, ok := m2.Value.([]any); !ok || len(v) != 0 {
		t.Errorf("second value %#v, want an empty array", m2.Value)
	}
}

func TestDecodeMalformed(t *testing.T) {
	notJSON := jsonHeader("text/json", "utf-8", 9)
	badText := jsonHeader("text/json", "utf-8", 5)
	notASCII := jsonHeader("text/json", "ascii", 5)
	tests := []struct {
		name   string
		in     []byte
		max    int
		reason string // a part of the reason
		offset int
	}{
		{"header length 0", []byte("\x00\x00{}"), -1, "the header length is 0", 0},
		{"header not UTF-8", frame("{\"a\xff\": 1}", ""), -1, "not valid UTF-8 text (byte 3 of the header)", 5},
		{"header not JSON", frame(`{"byteorder": little}`, ""), -1, "the header is not valid JSON: invalid character 'l' looking for beginning of value (at byte 14 of the header)", 16},
		{"header JSON with trailing bytes", frame(`{} {}`, ""), -1, "not valid JSON: invalid character '{' after top-level value", 5},
		{"header not an object", frame(`["byteorder"]`, ""), -1, "the header is JSON but not an object: it is an array", 2},
		{"header a string", frame(`"byteorder"`, ""), -1, "not an object: it is a string", 2},
		{"missing byteorder", frame(`{"content-type": "text/json", "content-encoding": "utf-8", "content-length": 2}`, "{}"), -1, `the header has no "byteorder" key (the tutorial's server raises: Missing required header 'byteorder'.)`, 2},
		{"missing content-length", frame(`{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8"}`, "{}"), -1, `no "content-length" key`, 2},
		{"missing content-type", frame(`{"byteorder": "little", "content-encoding": "utf-8", "content-length": 2}`, "{}"), -1, `no "content-type" key`, 2},
		{"missing content-encoding", frame(`{"byteorder": "little", "content-type": "text/json", "content-length": 2}`, "{}"), -1, `no "content-encoding" key`, 2},
		{"byteorder unknown", frame(`{"byteorder": "middle", "content-type": "a", "content-encoding": "b", "content-length": 0}`, ""), -1, `"byteorder" is the string "middle"; it must be "little" or "big"`, 2},
		{"byteorder a number", frame(`{"byteorder": 1, "content-type": "a", "content-encoding": "b", "content-length": 0}`, ""), -1, `"byteorder" is the number 1`, 2},
		{"content-length a string", frame(`{"byteorder": "big", "content-type": "a", "content-encoding": "b", "content-length": "2"}`, "xx"), -1, `"content-length" is the string "2"; it must be a whole number`, 2},
		{"content-length a float", frame(`{"byteorder": "big", "content-type": "a", "content-encoding": "b", "content-length": 2.0}`, "xx"), -1, `"content-length" is 2.0, which is not a whole number`, 2},
		{"content-length with an exponent", frame(`{"byteorder": "big", "content-type": "a", "content-encoding": "b", "content-length": 2e0}`, "xx"), -1, "not a whole number", 2},
		{"content-length true", frame(`{"byteorder": "big", "content-type": "a", "content-encoding": "b", "content-length": true}`, "x"), -1, `"content-length" is true; it must be a whole number`, 2},
		{"content-length null", frame(`{"byteorder": "big", "content-type": "a", "content-encoding": "b", "content-length": null}`, ""), -1, `"content-length" is null`, 2},
		{"content-length negative", frame(`{"byteorder": "big", "content-type": "a", "content-encoding": "b", "content-length": -1}`, ""), -1, `"content-length" is -1; a length cannot be negative`, 2},
		{"content-length over the limit", frame(`{"byteorder": "big", "content-type": "a", "content-encoding": "b", "content-length": 1025}`, ""), 1024, `"content-length" is 1025 bytes, more than this server accepts (at most 1024)`, 2},
		{"content-length huge", frame(`{"byteorder": "big", "content-type": "a", "content-encoding": "b", "content-length": 123456789012345678901234567890}`, ""), -1, "far more than any server accepts", 2},
		{"content-type a number", frame(`{"byteorder": "big", "content-type": 7, "content-encoding": "b", "content-length": 0}`, ""), -1, `"content-type" is the number 7; it must be a string`, 2},
		{"content-encoding null", frame(`{"byteorder": "big", "content-type": "a", "content-encoding": null, "content-length": 0}`, ""), -1, `"content-encoding" is null; it must be a string`, 2},
		{"text/json in an unknown encoding", frame(jsonHeader("text/json", "latin-1", 2), "{}"), -1, `"content-encoding" is "latin-1": this server decodes text/json content only as "utf-8"`, 2},
		{"text/json content not JSON", frame(notJSON, `{"action"`), -1, "the text/json content is not valid JSON: unexpected end of JSON input (at byte 8 of the content)", 2 + len(notJSON) + 8},
		{"text/json content not UTF-8", frame(badText, "\"\xc3(\" "), -1, "the text/json content is not valid UTF-8 text (byte 1 of the content)", 2 + len(badText) + 1},
		{"ascii text/json content not ASCII", frame(notASCII, `"é" `), -1, "not ASCII, as its content-encoding says (byte 1 of the content)", 2 + len(notASCII) + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, n := range []int{1, len(tt.in)} {
				d := NewDecoder(tt.max)
				_, err := feedAll(d, tt.in, n)
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("chunks of %d: err %v, want an *Error", n, err)
				}
				if !strings.Contains(e.Reason, tt.reason) || e.Expect == "" || e.Offset != tt.offset {
					t.Errorf("chunks of %d: reason %q expect %q offset %d; want a reason with %q, an expectation, offset %d",
						n, e.Reason, e.Expect, e.Offset, tt.reason, tt.offset)
				}
				if _, _, again := d.Feed([]byte("more")); again != err {
					t.Errorf("after an error, Feed returned %v, want the same error", again)
				}
				if d.EOF() != err {
					t.Errorf("after an error, EOF returned another error")
				}
			}
		})
	}
}

// The content-encoding spellings Python's codecs accept for UTF-8 decode
// text/json; "binary" content takes any encoding.
func TestDecodeEncodingNames(t *testing.T) {
	for _, enc := range []string{"utf-8", "UTF-8", "utf8", "utf_8", "U8", "ascii", "US-ASCII"} {
		if _, _, err := Decode(frame(jsonHeader("text/json", enc, 2), "{}"), -1); err != nil {
			t.Errorf("text/json in %q: %v", enc, err)
		}
	}
	if _, _, err := Decode(frame(jsonHeader("binary/custom-client-binary-type", "latin-1", 2), "\xff\x00"), -1); err != nil {
		t.Errorf("binary content in latin-1: %v", err)
	}
}

func TestDecodeEOF(t *testing.T) {
	full := morpheusRequest
	tests := []struct {
		name   string
		in     []byte
		reason string
		offset int
	}{
		{"nothing sent", nil, "the connection ended before a message arrived", 0},
		{"one byte of the length", full[:1], "after 1 of the 2 bytes of the header length", 1},
		{"part of the header", full[:50], "after 48 of the 103 header bytes that the 2-byte length announced", 50},
		{"no content", full[:105], "after 0 of the 41 content bytes that the header's content-length announced", 105},
		{"part of the content", full[:120], "after 15 of the 41 content bytes", 120},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(-1)
			if msgs, err := feedAll(d, tt.in, 1); err != nil || len(msgs) != 0 {
				t.Fatalf("feeding %q: %d messages, %v", tt.in, len(msgs), err)
			}
			var e *Error
			if err := d.EOF(); !errors.As(err, &e) || !strings.Contains(e.Reason, tt.reason) || e.Offset != tt.offset || e.Expect == "" {
				t.Errorf("EOF: %+v, want a reason with %q at offset %d and an expectation", err, tt.reason, tt.offset)
			}
			if _, n, err := Decode(tt.in, -1); err == nil || err.Error() != d.EOF().Error() || n != len(tt.in) {
				t.Errorf("Decode of the same bytes: used %d, %v", n, err)
			}
		})
	}
}

// A header that announces the most content the decoder accepts makes it
// hold no more than what arrived: the buffer grows with the bytes, never
// past the announced size.
func TestDecoderGrowsWithTheBytesNotTheAnnouncement(t *testing.T) {
	const limit = 1 << 20
	h := jsonHeader("binary/x", "binary", limit)
	d := NewDecoder(limit)
	if m, _, err := d.Feed(frame(h, "")); m != nil || err != nil {
		t.Fatalf("header alone: %v %v", m, err)
	}
	if c := cap(d.buf); c > 4096 {
		t.Errorf("after the header alone the buffer holds %d bytes of room, want no more than a few KiB", c)
	}
	chunk := bytes.Repeat([]byte("z"), 4096)
	for sent := 0; sent < limit; sent += len(chunk) {
		m, _, err := d.Feed(chunk)
		if err != nil {
			t.Fatal(err)
		}
		if c := cap(d.buf); c > 2+len(h)+limit {
			t.Fatalf("buffer capacity %d past the message's size %d", c, 2+len(h)+limit)
		}
		if m != nil {
			if sent+len(chunk) != limit || len(m.Content) != limit {
				t.Fatalf("message after %d bytes with %d content bytes", sent+len(chunk), len(m.Content))
			}
			return
		}
	}
	t.Fatal("no message after the whole content")
}

func TestMaxContentZeroAcceptsOnlyEmptyContent(t *testing.T) {
	if _, _, err := Decode(frame(jsonHeader("binary/x", "binary", 0), ""), 0); err != nil {
		t.Errorf("empty content with limit 0: %v", err)
	}
	if _, _, err := Decode(frame(jsonHeader("binary/x", "binary", 1), "x"), 0); err == nil {
		t.Error("one byte of content with limit 0: no error")
	}
}
