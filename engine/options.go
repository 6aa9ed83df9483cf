package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// OptionType is the type of a kind's option, as the schema serves it.
type OptionType string

// The option types. An enum is a string restricted to OptionSpec.Values.
const (
	OptString OptionType = "string"
	OptInt    OptionType = "int"
	OptBool   OptionType = "bool"
	OptEnum   OptionType = "enum"
)

// OptionSpec describes one option of a server or client kind. The page draws
// its forms from these, the API validates against them, and GET /api/kinds
// serves them, so a kind's options are described in exactly one place.
type OptionSpec struct {
	Name    string     `json:"name"`
	Type    OptionType `json:"type"`
	Default any        `json:"default"`
	// Values are the choices of an enum.
	Values []Choice `json:"values,omitempty"`
	// Min and Max bound an int (inclusive).
	Min *int `json:"min,omitempty"`
	Max *int `json:"max,omitempty"`
	// MaxLen bounds a string, in bytes.
	MaxLen int `json:"max_len,omitempty"`
	// Suggest lists values worth offering for an int (recv sizes 1024, 4096, 65536).
	Suggest []int `json:"suggest,omitempty"`
	// Unit names what an int counts ("bytes", "ms").
	Unit string `json:"unit,omitempty"`
	Help string `json:"help"`
	// When makes the option matter only while another option has one of
	// some values (prefix only in mode prefix); the form hides it otherwise.
	When *When `json:"when,omitempty"`
	// Primary options are always part of a server's one-line summary; the
	// others only when they differ from their default.
	Primary bool `json:"primary,omitempty"`
	// Advanced options are folded under "more options" in the form.
	Advanced bool `json:"advanced,omitempty"`
	// Required options have no default; the form marks them.
	Required bool `json:"required,omitempty"`
}

// Choice is one value of an enum option, with the words the form shows.
type Choice struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// When is the condition of OptionSpec.When.
type When struct {
	Option string   `json:"option"`
	Values []string `json:"values"`
}

// Options are a kind's option values after decoding: every option of the
// schema is present, as a string, an int or a bool.
type Options map[string]any

// String returns the string (or enum) option name.
func (o Options) String(name string) string { s, _ := o[name].(string); return s }

// Int returns the int option name.
func (o Options) Int(name string) int { n, _ := o[name].(int); return n }

// Bool returns the bool option name.
func (o Options) Bool(name string) bool { b, _ := o[name].(bool); return b }

func intp(n int) *int { return &n }

// rangeText says what range an int option takes.
func (s *OptionSpec) rangeText() string {
	unit := ""
	if s.Unit != "" {
		unit = " " + s.Unit
	}
	switch {
	case s.Min != nil && s.Max != nil:
		return fmt.Sprintf("%d to %d%s", *s.Min, *s.Max, unit)
	case s.Min != nil:
		return fmt.Sprintf("at least %d%s", *s.Min, unit)
	case s.Max != nil:
		return fmt.Sprintf("at most %d%s", *s.Max, unit)
	}
	return "a whole number" + unit
}

func (s *OptionSpec) values() []string {
	out := make([]string, len(s.Values))
	for i, c := range s.Values {
		out[i] = c.Value
	}
	return out
}

// decodeValue checks one option's JSON value against its spec.
func (s *OptionSpec) decodeValue(raw json.RawMessage) (any, error) {
	bad := func(format string, args ...any) error {
		return &OptionError{Option: s.Name, Msg: fmt.Sprintf("option %q: ", s.Name) + fmt.Sprintf(format, args...)}
	}
	raw = bytes.TrimSpace(raw)
	if string(raw) == "null" {
		return s.Default, nil
	}
	got := jsonValueText(raw)
	switch s.Type {
	case OptBool:
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return nil, bad("got %s, want a boolean (true or false)", got)
		}
		return b, nil
	case OptInt:
		var f float64
		if raw[0] == '"' || json.Unmarshal(raw, &f) != nil {
			return nil, bad("got %s, want a whole number (%s)", got, s.rangeText())
		}
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return nil, bad("%s is not a whole number; want %s", string(raw), s.rangeText())
		}
		n := int(f)
		if (s.Min != nil && n < *s.Min) || (s.Max != nil && n > *s.Max) {
			msg := fmt.Sprintf("%d is out of range; want %s", n, s.rangeText())
			if len(s.Suggest) > 0 {
				msg += " (common values: " + joinInts(s.Suggest) + ")"
			}
			return nil, bad("%s", msg)
		}
		return n, nil
	case OptString, OptEnum:
		var v string
		if raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
			return nil, bad("got %s, want a string", got)
		}
		if s.Type == OptEnum {
			if !slices.Contains(s.values(), v) {
				return nil, bad("unknown value %q; valid values: %s", v, strings.Join(s.values(), ", "))
			}
			return v, nil
		}
		if s.MaxLen > 0 && len(v) > s.MaxLen {
			return nil, bad("is %d bytes long; at most %d bytes", len(v), s.MaxLen)
		}
		if !utf8.ValidString(v) {
			return nil, bad("is not valid UTF-8 text")
		}
		return v, nil
	}
	return nil, bad("has a type this sockplay cannot read")
}

func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// jsonValueText names the JSON value raw for an error message: "a string",
// "the number 3.5", "an array"…
func jsonValueText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "the number " + string(raw)
}

// decodeOptions checks the JSON object raw against specs: unknown names are
// refused (listing the valid ones), every value is checked for its type and
// range, and what is missing gets its default. Errors are *OptionError,
// written in the words of the JSON that was sent.
func decodeOptions(specs []OptionSpec, raw json.RawMessage) (Options, error) {
	out := Options{}
	for _, s := range specs {
		out[s.Name] = s.Default
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return out, checkRequired(specs, nil)
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, optionsError(err)
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	// Report unknown names in a stable order.
	for _, k := range slices.Sorted(maps.Keys(in)) {
		if !slices.Contains(names, k) {
			valid := "this kind takes no options"
			if len(names) > 0 {
				valid = "valid options: " + strings.Join(names, ", ")
			}
			return nil, &OptionError{Option: k, Msg: fmt.Sprintf("unknown option %q; %s", k, valid)}
		}
	}
	for i := range specs {
		v, ok := in[specs[i].Name]
		if !ok {
			continue
		}
		val, err := specs[i].decodeValue(v)
		if err != nil {
			return nil, err
		}
		out[specs[i].Name] = val
	}
	return out, checkRequired(specs, in)
}

func checkRequired(specs []OptionSpec, in map[string]json.RawMessage) error {
	for _, s := range specs {
		if !s.Required {
			continue
		}
		if v, ok := in[s.Name]; !ok || string(bytes.TrimSpace(v)) == "null" {
			return &OptionError{Option: s.Name, Msg: fmt.Sprintf("option %q is required: %s", s.Name, s.Help)}
		}
	}
	return nil
}

// optionsError says what is wrong with a kind's options JSON in the words
// of the JSON that was sent, never Go's type names.
func optionsError(err error) *OptionError {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return &OptionError{Msg: fmt.Sprintf(`options: got %s, want an object such as {"mode":"echo"}`, jsonKindText(typeErr.Value))}
	case errors.As(err, &syntaxErr):
		return &OptionError{Msg: fmt.Sprintf("options: invalid JSON at byte %d: %s", syntaxErr.Offset, strings.TrimPrefix(err.Error(), "json: "))}
	}
	return &OptionError{Msg: "options: " + strings.TrimPrefix(err.Error(), "json: ")}
}

// jsonKindText names a JSON value kind as encoding/json reports it ("array",
// "number 3", "string"…) with an article.
func jsonKindText(v string) string {
	switch {
	case v == "array" || v == "object":
		return "an " + v
	case v == "":
		return "a value of the wrong type"
	}
	return "a " + v
}

// JSONType names, for people, the JSON type a Go type is decoded from:
// "string", "whole number", "boolean (true or false)"… Error messages about
// request bodies use it instead of Go's type names.
func JSONType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "whole number"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Pointer:
		return JSONType(t.Elem())
	}
	return "object"
}

// OptionError reports a bad server or client option.
type OptionError struct {
	Option string
	Msg    string
}

func (e *OptionError) Error() string { return e.Msg }

// Summary writes options for people in schema order, as the servers panel
// and the event rows show them: primary options always, the others only
// when they differ from their default ("mode prefix · prefix ">> " ·
// recv_size 4096"). opts may come from the recording (numbers as float64 or
// json.Number), so values are compared by their text.
func Summary(specs []OptionSpec, opts map[string]any) string {
	var parts []string
	for _, s := range specs {
		v, ok := opts[s.Name]
		if !ok {
			continue
		}
		if s.When != nil && !slices.Contains(s.When.Values, fmt.Sprint(opts[s.When.Option])) {
			continue
		}
		text := valueText(v)
		if !s.Primary && text == valueText(s.Default) {
			continue
		}
		parts = append(parts, s.Name+" "+text)
	}
	return strings.Join(parts, " · ")
}

// valueText writes one option's value for people: words as they are,
// other text quoted (so a prefix of ">> " shows its space), yes/no for
// switches.
func valueText(v any) string {
	switch v := v.(type) {
	case bool:
		if v {
			return "yes"
		}
		return "no"
	case string:
		if v != "" && strings.IndexFunc(v, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':')
		}) < 0 {
			return v
		}
		return strconv.Quote(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return "none"
	default:
		return fmt.Sprint(v)
	}
}
