package appproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// fuzzMaxContent is the content limit of the fuzzed decoders: small, so
// that inputs reach it.
const fuzzMaxContent = 1024

// outcome is what decoding a stream gave: the messages and how it ended.
type outcome struct {
	msgs [][]byte
	err  string
}

// decodeInChunks decodes data fed in chunks of n bytes, checking after
// every call that the decoder holds no more than the message it decodes
// needs, and never more content than its limit.
func decodeInChunks(t *testing.T, data []byte, n int) outcome {
	d := NewDecoder(fuzzMaxContent)
	var out outcome
	for off := 0; off < len(data); {
		chunk := data[off:min(off+n, len(data))]
		m, used, err := d.Feed(chunk)
		checkBuffer(t, d)
		if err != nil {
			checkError(t, err, len(data))
			out.err = err.Error()
			return out
		}
		if used < len(chunk) && m == nil {
			t.Fatalf("Feed used %d of %d bytes without a message", used, len(chunk))
		}
		if m != nil {
			checkMessage(t, m, data)
			out.msgs = append(out.msgs, m.Bytes())
		}
		off += used
	}
	if err := d.EOF(); err != nil {
		checkError(t, err, len(data))
		out.err = err.Error()
	}
	return out
}

func checkBuffer(t *testing.T, d *Decoder) {
	c := cap(d.buf)
	if c > LengthSize+MaxHeaderLen+fuzzMaxContent {
		t.Fatalf("buffer capacity %d past the largest message (%d)", c, LengthSize+MaxHeaderLen+fuzzMaxContent)
	}
	switch {
	case d.hlen < 0:
		if c > LengthSize {
			t.Fatalf("buffer capacity %d before the header length is known", c)
		}
	case d.hobj == nil:
		if c > LengthSize+d.hlen {
			t.Fatalf("buffer capacity %d past the announced header (%d)", c, LengthSize+d.hlen)
		}
	default:
		if d.hdr.ContentLength > fuzzMaxContent {
			t.Fatalf("content-length %d accepted past the limit %d", d.hdr.ContentLength, fuzzMaxContent)
		}
		if content := c - LengthSize - d.hlen; content > d.hdr.ContentLength {
			t.Fatalf("room for %d content bytes, past the announced %d", content, d.hdr.ContentLength)
		}
	}
}

func checkError(t *testing.T, err error, n int) {
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *Error", err)
	}
	if e.Reason == "" || e.Expect == "" || e.Offset < 0 || e.Offset > n {
		t.Fatalf("error %+v: want a reason, an expectation and an offset in 0..%d", e, n)
	}
}

func checkMessage(t *testing.T, m *Message, data []byte) {
	b := m.Bytes()
	if m.Offset+len(b) > len(data) || !bytes.Equal(b, data[m.Offset:m.Offset+len(b)]) {
		t.Fatalf("message at %d is not the bytes of the stream there", m.Offset)
	}
	if len(b) != LengthSize+m.HeaderLen+len(m.Content) || len(m.Content) != m.Header.ContentLength || len(m.Content) > fuzzMaxContent {
		t.Fatalf("message of %d bytes: header %d, content %d, content-length %d", len(b), m.HeaderLen, len(m.Content), m.Header.ContentLength)
	}
	if m.IsJSON() {
		if dumped := DumpJSON(m.Value); !json.Valid(dumped) {
			t.Fatalf("DumpJSON of the content is not JSON: %q", dumped)
		}
		_ = PyStr(m.Value)
	}
	if _, err := json.Marshal(m.HeaderObject); err != nil {
		t.Fatalf("the header object does not marshal: %v", err)
	}
	// What Encode writes of the message decodes to the same header and content.
	enc, err := Encode(m.Header, m.Content)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	again, n, err := Decode(enc, fuzzMaxContent)
	if err != nil || n != len(enc) || again.Header != m.Header || !bytes.Equal(again.Content, m.Content) {
		t.Fatalf("re-encoded message decodes to %+v (%v), want header %+v and the same content", again, err, m.Header)
	}
	if r, err := Reply(m, ""); err == nil {
		if _, n, err := Decode(r, -1); err != nil || n != len(r) {
			t.Fatalf("the reply %q does not decode: %v", r, err)
		}
	} else {
		checkError(t, err, len(data))
	}
}

// FuzzDecode: the decoder never panics, never holds more than the message
// it decodes announced (nor content past its limit), and decodes a stream
// the same whatever its chunks. Its seed corpus is testdata/fuzz/FuzzDecode.
//
//	go test -fuzz=FuzzDecode ./engine/appproto
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		whole := decodeInChunks(t, data, len(data)+1)
		for _, n := range []int{1, 7} {
			got := decodeInChunks(t, data, n)
			if got.err != whole.err || len(got.msgs) != len(whole.msgs) {
				t.Fatalf("in chunks of %d: %d messages, error %q; whole: %d messages, error %q", n, len(got.msgs), got.err, len(whole.msgs), whole.err)
			}
		}
	})
}
