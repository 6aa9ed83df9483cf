package appproto

import (
	"encoding/binary"
	"fmt"
)

// NativeByteOrder is what Python's sys.byteorder says on this machine
// ("little" on x86 and most ARM), which the tutorial's programs put in
// every header they send.
var NativeByteOrder = nativeByteOrder()

func nativeByteOrder() string {
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return "little"
	}
	return "big"
}

// Encode returns the message of content with header h as the tutorial's
// _create_message writes it: struct.pack(">H", len(header)), then the
// header, json.dumps(..., ensure_ascii=False) of the keys "byteorder",
// "content-type", "content-encoding" and "content-length" in that order,
// then the content. h.ContentLength is ignored (it is len(content)); an
// empty h.ByteOrder is NativeByteOrder.
func Encode(h Header, content []byte) ([]byte, error) {
	if h.ByteOrder == "" {
		h.ByteOrder = NativeByteOrder
	}
	header := DumpJSON(Object{
		{"byteorder", h.ByteOrder},
		{"content-type", h.ContentType},
		{"content-encoding", h.ContentEncoding},
		{"content-length", len(content)},
	})
	if len(header) > MaxHeaderLen {
		return nil, fmt.Errorf("the JSON header would be %d bytes; the 2-byte length allows at most %d", len(header), MaxHeaderLen)
	}
	out := make([]byte, 0, LengthSize+len(header)+len(content))
	out = binary.BigEndian.AppendUint16(out, uint16(len(header)))
	out = append(out, header...)
	return append(out, content...), nil
}

// Search is the tutorial server's table of search answers (request_search
// in libserver.py).
var Search = map[string]string{
	"morpheus":   "Follow the white rabbit. \U0001f430",
	"ring":       "In the caves beneath the Misty Mountains. \U0001f48d",
	"\U0001f436": "\U0001f43e Playing ball! \U0001f3d0",
}

// BinaryReplyPrefix starts the tutorial server's answer to any request
// that is not text/json; the first 10 bytes of the request content follow.
const BinaryReplyPrefix = "First 10 bytes of request: "

// Reply returns the response message the tutorial's server (libserver.py)
// sends to the request m, with byteorder in its header ("": the native
// one). A text/json request {"action": "search", "value": Q} is answered
// {"result": R} with R the search answer for Q or "No match for 'Q'."; any
// other action A gets "Error: invalid action 'A'." (Q and A are written as
// Python's str() writes them). Any other content type gets
// binary/custom-server-binary-type content: BinaryReplyPrefix and the first
// 10 bytes of the request content.
//
// A text/json request the tutorial's server cannot answer (its content is
// not an object, or the search value is an array or an object, which Python
// cannot look up in a dict) is an *Error.
func Reply(m *Message, byteorder string) ([]byte, error) {
	h := Header{ByteOrder: byteorder}
	if !m.IsJSON() {
		h.ContentType, h.ContentEncoding = TypeServerBinary, "binary"
		c := m.Content[:min(10, len(m.Content))]
		return Encode(h, append([]byte(BinaryReplyPrefix), c...))
	}
	at := m.Offset + LengthSize + m.HeaderLen
	req, ok := m.Value.(Object)
	if !ok {
		return nil, &Error{Offset: at,
			Reason: fmt.Sprintf("the text/json request is %s, not an object (the tutorial's server calls request.get(\"action\"), which fails)", typeName(m.Value)),
			Expect: `a text/json request is an object such as {"action": "search", "value": "morpheus"}`}
	}
	action, _ := req.Get("action")
	var result string
	if action == "search" {
		q, _ := req.Get("value")
		switch q.(type) {
		case Object, []any:
			return nil, &Error{Offset: at,
				Reason: fmt.Sprintf("the search value is %s: the tutorial's server looks it up in a dict, and Python cannot (TypeError: unhashable type)", typeName(q)),
				Expect: `"value" is the text to search for, such as "morpheus" (a number, true, false or null only find no match)`}
		}
		if s, ok := q.(string); ok && Search[s] != "" {
			result = Search[s]
		} else {
			result = "No match for '" + PyStr(q) + "'."
		}
	} else {
		result = "Error: invalid action '" + PyStr(action) + "'."
	}
	h.ContentType, h.ContentEncoding = TypeJSON, "utf-8"
	return Encode(h, DumpJSON(Object{{"result", result}}))
}
