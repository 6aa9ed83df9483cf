package appproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Object is a decoded JSON object with its keys in the order they were
// sent, as a Python dict keeps them. A key sent twice keeps its first place
// and its last value, as json.loads does.
type Object []Member

// Member is one key of an Object.
type Member struct {
	Key   string
	Value any
}

// Get returns the value of key.
func (o Object) Get(key string) (any, bool) {
	for _, m := range o {
		if m.Key == key {
			return m.Value, true
		}
	}
	return nil, false
}

// MarshalJSON writes the object with its keys in order.
func (o Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.Key)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.Value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// DecodeJSON decodes one JSON document into Object, []any, string,
// json.Number (numbers keep their text: Python tells 1 from 1.0), bool or
// nil. On an error it also returns the index of the byte it is about.
func DecodeJSON(b []byte) (any, int, error) {
	if !json.Valid(b) {
		var probe any
		err := json.Unmarshal(b, &probe)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		// The scanner's message is in JSON's words ("invalid character 'x'
		// looking for beginning of value"); its offset counts the bytes
		// read, the culprit included.
		msg := strings.TrimPrefix(err.Error(), "json: ")
		off, _ := syntaxOffset(err)
		return nil, max(0, min(int(off)-1, len(b)-1)), errors.New(msg)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		// Not reached: the document was checked above.
		return nil, 0, err
	}
	return v, 0, nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	switch d {
	case '[':
		arr := []any{}
		for dec.More() {
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := dec.Token()
		return arr, err
	case '{':
		obj := Object{}
		var index map[string]int // made for objects with many keys
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := tok.(string)
			v, err := decodeValue(dec)
			if err != nil {
				return nil, err
			}
			i := -1
			if index != nil {
				if j, ok := index[key]; ok {
					i = j
				}
			} else {
				for j := range obj {
					if obj[j].Key == key {
						i = j
						break
					}
				}
			}
			if i >= 0 {
				obj[i].Value = v
				continue
			}
			obj = append(obj, Member{key, v})
			if index == nil && len(obj) > 16 {
				index = make(map[string]int, 2*len(obj))
				for j, m := range obj {
					index[m.Key] = j
				}
			} else if index != nil {
				index[key] = len(obj) - 1
			}
		}
		_, err := dec.Token()
		return obj, err
	}
	return nil, io.ErrUnexpectedEOF
}

// PyStr returns what Python's str() gives for the value json.loads makes
// of v: a string as it is, anything else as PyRepr. The tutorial's server
// formats its answers with f-strings, which call str().
func PyStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return PyRepr(v)
}

// PyRepr returns Python's repr() of the value json.loads makes of v:
// 'text', 42, 1.5, True, None, [1, 'a'], {'k': 'v'}.
func PyRepr(v any) string {
	var b strings.Builder
	pyRepr(&b, v)
	return b.String()
}

func pyRepr(b *strings.Builder, v any) {
	switch v := v.(type) {
	case string:
		pyReprString(b, v)
	case json.Number:
		b.WriteString(pyNumber(string(v)))
	case bool:
		if v {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case nil:
		b.WriteString("None")
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			pyRepr(b, e)
		}
		b.WriteByte(']')
	case Object:
		b.WriteByte('{')
		for i, m := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			pyReprString(b, m.Key)
			b.WriteString(": ")
			pyRepr(b, m.Value)
		}
		b.WriteByte('}')
	default:
		b.WriteString("?")
	}
}

// pyNumber returns str() of the number json.loads reads from the JSON
// number s: an int (exact, any size) when s has no fraction or exponent,
// else a float (repr: shortest round trip, "1e+16", "inf" on overflow).
func pyNumber(s string) string {
	if !strings.ContainsAny(s, ".eE") {
		if s == "-0" {
			return "0"
		}
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return s
	}
	return PyFloat(f)
}

// PyFloat returns Python's repr() of f.
func PyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±XX
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	mant, expText, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expText)
	digits := strings.Replace(mant, ".", "", 1)
	if exp < -4 || exp >= 16 {
		out := digits[:1]
		if len(digits) > 1 {
			out += "." + digits[1:]
		}
		es := "+"
		if exp < 0 {
			es, exp = "-", -exp
		}
		e := strconv.Itoa(exp)
		if len(e) < 2 {
			e = "0" + e
		}
		return sign + out + "e" + es + e
	}
	point := exp + 1 // digits before the decimal point
	switch {
	case point <= 0:
		return sign + "0." + strings.Repeat("0", -point) + digits
	case point >= len(digits):
		return sign + digits + strings.Repeat("0", point-len(digits)) + ".0"
	}
	return sign + digits[:point] + "." + digits[point:]
}

// pyReprString writes Python's repr() of the str s.
func pyReprString(b *strings.Builder, s string) {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	const hex = "0123456789abcdef"
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < ' ' || r == 0x7f:
			b.WriteString(`\x`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xf])
		case r < 0x7f || pyPrintable(r):
			b.WriteRune(r)
		case r <= 0xff:
			b.WriteString(`\x`)
			b.WriteByte(hex[r>>4])
			b.WriteByte(hex[r&0xf])
		case r <= 0xffff:
			b.WriteString(`\u`)
			for sh := 12; sh >= 0; sh -= 4 {
				b.WriteByte(hex[(r>>sh)&0xf])
			}
		default:
			b.WriteString(`\U`)
			for sh := 28; sh >= 0; sh -= 4 {
				b.WriteByte(hex[(r>>sh)&0xf])
			}
		}
	}
	b.WriteByte(quote)
}

// pyPrintable is str.isprintable for one non-ASCII character: letters,
// marks, numbers, punctuation and symbols; not separators, controls,
// format characters, surrogates, private use or unassigned code points.
func pyPrintable(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S)
}

// DumpJSON returns json.dumps(v, ensure_ascii=False) of the value v as
// Python writes it: ", " and ": " between items, non-ASCII text as it is,
// only '"', '\\' and control characters escaped. v holds the types of
// DecodeJSON (ints may also be int).
func DumpJSON(v any) []byte {
	var b bytes.Buffer
	dumpJSON(&b, v)
	return b.Bytes()
}

func dumpJSON(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case string:
		dumpString(b, v)
	case int:
		b.WriteString(strconv.Itoa(v))
	case json.Number:
		s := pyNumber(string(v))
		switch s {
		case "inf":
			s = "Infinity"
		case "-inf":
			s = "-Infinity"
		case "nan":
			s = "NaN"
		}
		b.WriteString(s)
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case nil:
		b.WriteString("null")
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			dumpJSON(b, e)
		}
		b.WriteByte(']')
	case Object:
		b.WriteByte('{')
		for i, m := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			dumpString(b, m.Key)
			b.WriteString(": ")
			dumpJSON(b, m.Value)
		}
		b.WriteByte('}')
	default:
		b.WriteString("null")
	}
}

// dumpString writes a JSON string as Python's json module does with
// ensure_ascii=False.
func dumpString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\b':
			b.WriteString(`\b`)
		case c == '\f':
			b.WriteString(`\f`)
		case c < ' ':
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		case c < utf8.RuneSelf:
			b.WriteByte(c)
		default:
			// A Python str is always valid text: bytes that are not UTF-8
			// are written as U+FFFD.
			r, size := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r)
			i += size
			continue
		}
		i++
	}
	b.WriteByte('"')
}
