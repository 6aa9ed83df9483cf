package appproto

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func TestEncodeWritesWhatTheTutorialWrites(t *testing.T) {
	got, err := Encode(Header{ByteOrder: "little", ContentType: "text/json", ContentEncoding: "utf-8", ContentLength: 999}, []byte(morpheusContent))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, morpheusRequest) {
		t.Errorf("Encode = %q\nwant     %q", got, morpheusRequest)
	}
	native, err := Encode(Header{ContentType: "a", ContentEncoding: "b"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := frame(`{"byteorder": "`+NativeByteOrder+`", "content-type": "a", "content-encoding": "b", "content-length": 0}`, ""); !bytes.Equal(native, want) {
		t.Errorf("Encode with no byte order = %q, want %q", native, want)
	}
	// Header strings are written as json.dumps(ensure_ascii=False) writes them.
	odd, err := Encode(Header{ByteOrder: "big", ContentType: "é/\"x\"\n", ContentEncoding: "<&>"}, []byte("\x00"))
	if err != nil {
		t.Fatal(err)
	}
	if want := frame(`{"byteorder": "big", "content-type": "é/\"x\"\n", "content-encoding": "<&>", "content-length": 1}`, "\x00"); !bytes.Equal(odd, want) {
		t.Errorf("Encode = %q, want %q", odd, want)
	}
}

func TestEncodeRefusesAHeaderOver65535Bytes(t *testing.T) {
	if _, err := Encode(Header{ContentType: strings.Repeat("x", MaxHeaderLen)}, nil); err == nil {
		t.Error("no error for a header over 65535 bytes")
	}
}

// reply decodes the request and returns the tutorial server's answer,
// decoded again.
func reply(t *testing.T, req []byte) (*Message, []byte) {
	t.Helper()
	m, _, err := Decode(req, -1)
	if err != nil {
		t.Fatalf("decode %q: %v", req, err)
	}
	b, err := Reply(m, "little")
	if err != nil {
		t.Fatalf("Reply to %q: %v", req, err)
	}
	r, n, err := Decode(b, -1)
	if err != nil || n != len(b) {
		t.Fatalf("the reply %q does not decode: %v", b, err)
	}
	return r, b
}

func TestReplyToSearches(t *testing.T) {
	tests := []struct{ content, result string }{
		{`{"action": "search", "value": "morpheus"}`, "Follow the white rabbit. 🐰"},
		{`{"action": "search", "value": "ring"}`, "In the caves beneath the Misty Mountains. 💍"},
		{`{"action": "search", "value": "🐶"}`, "🐾 Playing ball! 🏐"},
		{`{"action": "search", "value": "\ud83d\udc36"}`, "🐾 Playing ball! 🏐"},
		{`{"action": "search", "value": "neo"}`, "No match for 'neo'."},
		{`{"value": "morpheus", "action": "search"}`, "Follow the white rabbit. 🐰"},
		{`{"action": "search", "value": "Morpheus"}`, "No match for 'Morpheus'."},
		{`{"action": "search", "value": ""}`, "No match for ''."},
		{`{"action": "search", "value": 42}`, "No match for '42'."},
		{`{"action": "search", "value": 1e16}`, "No match for '1e+16'."},
		{`{"action": "search", "value": true}`, "No match for 'True'."},
		{`{"action": "search", "value": null}`, "No match for 'None'."},
		{`{"action": "search"}`, "No match for 'None'."},
		{`{"action": "find", "value": "morpheus"}`, "Error: invalid action 'find'."},
		{`{"action": "SEARCH", "value": "morpheus"}`, "Error: invalid action 'SEARCH'."},
		{`{}`, "Error: invalid action 'None'."},
		{`{"action": ["search", 1, {"k": null}]}`, "Error: invalid action '['search', 1, {'k': None}]'."},
		{`{"action": "say \"hi\"\n"}`, "Error: invalid action 'say \"hi\"\n'."},
	}
	for _, tt := range tests {
		r, b := reply(t, frame(jsonHeader("text/json", "utf-8", len(tt.content)), tt.content))
		wantContent := string(DumpJSON(Object{{"result", tt.result}}))
		want := frame(jsonHeader("text/json", "utf-8", len(wantContent)), wantContent)
		if !bytes.Equal(b, want) {
			t.Errorf("request %s: reply %q\nwant %q", tt.content, b, want)
		}
		if obj, ok := r.Value.(Object); !ok || len(obj) != 1 || obj[0] != (Member{"result", tt.result}) {
			t.Errorf("request %s: result %#v, want %q", tt.content, r.Value, tt.result)
		}
	}
}

func TestReplyContentIsPythonsJSON(t *testing.T) {
	_, b := reply(t, frame(jsonHeader("text/json", "utf-8", len(morpheusContent)), morpheusContent))
	want := "\x00g" + `{"byteorder": "little", "content-type": "text/json", "content-encoding": "utf-8", "content-length": 43}` +
		"{\"result\": \"Follow the white rabbit. \xf0\x9f\x90\xb0\"}"
	if string(b) != want {
		t.Errorf("reply %q\nwant  %q", b, want)
	}
}

func TestReplyToBinary(t *testing.T) {
	tests := []struct{ content, want string }{
		{"binary😃", "First 10 bytes of request: binary\xf0\x9f\x98\x83"},
		{"0123456789abcdef", "First 10 bytes of request: 0123456789"},
		{"\x00\xff", "First 10 bytes of request: \x00\xff"},
		{"", "First 10 bytes of request: "},
	}
	for _, ctype := range []string{"binary/custom-client-binary-type", "text/plain", "TEXT/JSON"} {
		for _, tt := range tests {
			_, b := reply(t, frame(jsonHeader(ctype, "binary", len(tt.content)), tt.content))
			want := frame(jsonHeader("binary/custom-server-binary-type", "binary", len(tt.want)), tt.want)
			if !bytes.Equal(b, want) {
				t.Errorf("%s request %q: reply %q, want %q", ctype, tt.content, b, want)
			}
		}
	}
}

func TestReplyRefusesWhatTheTutorialServerCannotAnswer(t *testing.T) {
	for _, tt := range []struct{ content, reason string }{
		{`["search", "morpheus"]`, "the text/json request is an array, not an object"},
		{`"morpheus"`, "is a string, not an object"},
		{`null`, "is null, not an object"},
		{`{"action": "search", "value": ["morpheus"]}`, "the search value is an array"},
		{`{"action": "search", "value": {"a": 1}}`, "the search value is an object"},
	} {
		req := frame(jsonHeader("text/json", "utf-8", len(tt.content)), tt.content)
		m, _, err := Decode(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Reply(m, "")
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(e.Reason, tt.reason) || e.Expect == "" || e.Offset != 2+m.HeaderLen {
			t.Errorf("request %s: %+v, want a reason with %q at the content's offset %d", tt.content, err, tt.reason, 2+m.HeaderLen)
		}
	}
}

func TestPyFloat(t *testing.T) {
	for in, want := range map[float64]string{
		0: "0.0", 1: "1.0", -2.5: "-2.5", 0.1: "0.1", 1e16: "1e+16", 1e15: "1000000000000000.0",
		1.5e16: "1.5e+16", 1e-5: "1e-05", 0.0001: "0.0001", 1e300: "1e+300", 5e-324: "5e-324",
		123456789.123: "123456789.123", 1.0 / 3: "0.3333333333333333",
	} {
		if got := PyFloat(in); got != want {
			t.Errorf("PyFloat(%v) = %q, want %q", in, got, want)
		}
	}
}

// pythonCases are JSON documents whose str() and json.dumps the tests ask
// Python about.
var pythonCases = []string{
	`"morpheus"`, `""`, `42`, `-0`, `0`, `123456789012345678901234567890`, `-7`,
	`1.0`, `-0.0`, `1e5`, `1E400`, `-1e400`, `1e-400`, `0.1`, `1e16`, `1.5e16`, `1e-5`, `0.0001`,
	`2.5e-7`, `5e-324`, `1.7976931348623157e308`, `3.141592653589793e20`, `0.30000000000000004`, `1e22`, `12345678901234567.0`,
	`true`, `false`, `null`, `[]`, `{}`, `[1, "a", null, true, 1.5]`, `[[[]], {"": {}}]`,
	`{"b": 1, "a": [true, null], "b": 2}`,
	`["it's", "\"q\"", "both ' and \"", "\n\t\r\u0001\u001f\u007f", "back\\slash", "é\u00a0\u00ad\u00ff"]`,
	`["🐶", "\u200b\u2028\u2029\ufeff", "\ue000", "\u0378", "\ufffd", "\u3000", "\u0300", "日本語", "\ud83e\uddff", "\udb40\udc01", "\u0085"]`,
	`"a\u0000b\u001f\"\\\b\f/<>&\u2028"`,
	`{"it's": "\"", "\n": ["\t"]}`,
}

// Python's own str() and json.dumps(ensure_ascii=False) of the same values
// are what PyStr and DumpJSON write.
func TestPythonAgreesWithPyStrAndDumpJSON(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: cannot compare with Python's str() and json.dumps")
	}
	const prog = `import json, sys
for line in sys.stdin:
    v = json.loads(line)
    print(json.dumps({"str": str(v), "dumps": json.dumps(v, ensure_ascii=False)}))
`
	cmd := exec.Command(py, "-c", prog)
	cmd.Stdin = strings.NewReader(strings.Join(pythonCases, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for i := 0; sc.Scan(); i++ {
		var want struct{ Str, Dumps string }
		if err := json.Unmarshal(sc.Bytes(), &want); err != nil {
			t.Fatal(err)
		}
		v, _, err := DecodeJSON([]byte(pythonCases[i]))
		if err != nil {
			t.Fatalf("%s: %v", pythonCases[i], err)
		}
		if got := PyStr(v); got != want.Str {
			t.Errorf("str(%s): got %q, Python %q", pythonCases[i], got, want.Str)
		}
		if got := string(DumpJSON(v)); got != want.Dumps {
			t.Errorf("json.dumps(%s): got %q, Python %q", pythonCases[i], got, want.Dumps)
		}
	}
}
