// Package lessons loads guided lessons (scenarios) and tells, from a
// session's recorded events, which of a lesson's steps the learner has done.
//
// A scenario is a Markdown file whose YAML front matter names the servers to
// start, the faults to set and the steps; each step has a check, a small
// declarative predicate over one recorded event (see Check and
// docs/lessons.md). The built-in scenarios are embedded from scenarios/;
// an instructor adds their own with -lessons DIR. A file that is wrong is
// refused with its name, the line and the reason, and the others still load.
package lessons

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/sockplay/sockplay/engine"
)

//go:embed scenarios/*.md
var builtin embed.FS

// Lesson is one loaded scenario.
type Lesson struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Summary string   `json:"summary,omitempty"`
	Intro   string   `json:"intro,omitempty"` // the Markdown before the first step's section
	Servers []Server `json:"servers"`
	Faults  []Fault  `json:"faults,omitempty"`
	Steps   []Step   `json:"steps"`
	// File is where it was loaded from ("builtin:tcp-echo-basics.md" or a path).
	File string `json:"file"`
}

// Server is a server the lesson starts. Options may use placeholders
// ({NAME.port}, {NAME.addr}) of servers listed before it.
type Server struct {
	Kind    string         `yaml:"kind" json:"kind"`
	Name    string         `yaml:"name" json:"name"`
	Port    int            `yaml:"port" json:"port"`
	Options map[string]any `yaml:"options" json:"options,omitempty"`
}

// Fault is a fault the lesson sets on one of its servers when it starts.
type Fault struct {
	Server     string         `yaml:"server" json:"server"`
	Name       string         `yaml:"name" json:"name,omitempty"`
	Type       string         `yaml:"type" json:"type"`
	Direction  string         `yaml:"direction" json:"direction,omitempty"`
	Toxicity   *float64       `yaml:"toxicity" json:"toxicity,omitempty"`
	Attributes map[string]any `yaml:"attributes" json:"attributes,omitempty"`
}

// Step is one thing the learner does, and the check that sees it done.
type Step struct {
	Title string `yaml:"title" json:"title"`
	// Text is the step's explanation (Markdown): the field, or else the body
	// section whose "## " heading is the step's title.
	Text string `yaml:"text" json:"text"`
	// Do is what to do: a command to copy, or an action on the page.
	Do    string `yaml:"do" json:"do"`
	Hint  string `yaml:"hint" json:"hint,omitempty"`
	Check Check  `yaml:"check" json:"check"`
}

type frontMatter struct {
	ID      string   `yaml:"id"`
	Title   string   `yaml:"title"`
	Summary string   `yaml:"summary"`
	Servers []Server `yaml:"servers"`
	Faults  []Fault  `yaml:"faults"`
	Steps   []Step   `yaml:"steps"`
}

// LoadError is a scenario file that was refused.
type LoadError struct {
	File string
	Line int // in the file, 1-based (0: the whole file)
	Msg  string
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Catalog is the loaded lessons, by id, in file order.
type Catalog struct {
	list []*Lesson
	byID map[string]*Lesson
}

// Lessons returns the lessons in order (built-in ones first, by file name).
func (c *Catalog) Lessons() []*Lesson {
	if c == nil {
		return nil
	}
	return c.list
}

// Get returns the lesson with that id, or nil.
func (c *Catalog) Get(id string) *Lesson {
	if c == nil {
		return nil
	}
	return c.byID[id]
}

// IDs returns the lesson ids, in order.
func (c *Catalog) IDs() []string {
	var out []string
	for _, l := range c.Lessons() {
		out = append(out, l.ID)
	}
	return out
}

func (c *Catalog) add(l *Lesson) error {
	if prev := c.byID[l.ID]; prev != nil {
		return &LoadError{File: l.File, Line: 2, Msg: fmt.Sprintf("id %q is already the id of %s; each lesson needs its own id", l.ID, prev.File)}
	}
	c.byID[l.ID] = l
	c.list = append(c.list, l)
	return nil
}

// Load reads the built-in scenarios and then every *.md in dir (empty: none).
// It returns the lessons that loaded and one error per file refused: the
// other lessons still load. An unreadable dir is an error of its own.
func Load(dir string) (*Catalog, []error) {
	c := &Catalog{byID: map[string]*Lesson{}}
	var errs []error
	sub, _ := fs.Sub(builtin, "scenarios")
	errs = append(errs, c.loadFS(sub, "builtin:")...)
	if dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			if err == nil {
				err = errors.New("not a directory")
			}
			return c, append(errs, fmt.Errorf("lessons directory %s: %v", dir, err))
		}
		errs = append(errs, c.loadFS(os.DirFS(dir), strings.TrimSuffix(dir, "/")+"/")...)
	}
	return c, errs
}

// Builtin returns the built-in lessons only.
func Builtin() *Catalog {
	c, _ := Load("")
	return c
}

func (c *Catalog) loadFS(fsys fs.FS, prefix string) []error {
	names, err := fs.Glob(fsys, "*.md")
	if err != nil {
		return []error{err}
	}
	slices.Sort(names)
	var errs []error
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			errs = append(errs, &LoadError{File: prefix + n, Msg: err.Error()})
			continue
		}
		l, err := Parse(prefix+n, b)
		if err == nil {
			err = c.add(l)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

var (
	idRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`)
	// placeholderRE is {NAME.port} or {NAME.addr} in options and "do".
	placeholderRE = regexp.MustCompile(`\{([A-Za-z][A-Za-z0-9_-]*)\.(port|addr)\}`)
)

// maxFile bounds a scenario file.
const maxFile = 256 << 10

// Parse reads one scenario file.
func Parse(file string, src []byte) (*Lesson, error) {
	fail := func(line int, format string, a ...any) error {
		return &LoadError{File: file, Line: line, Msg: fmt.Sprintf(format, a...)}
	}
	if len(src) > maxFile {
		return nil, fail(0, "the file is %d bytes; a scenario may have at most %d", len(src), maxFile)
	}
	src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))
	if !bytes.HasPrefix(src, []byte("---\n")) {
		return nil, fail(1, "a scenario starts with a line \"---\", then its YAML front matter, then \"---\" and the Markdown")
	}
	rest := src[4:]
	end := bytes.Index(rest, []byte("\n---\n"))
	var fm, body []byte
	switch {
	case end >= 0:
		fm, body = rest[:end+1], rest[end+5:]
	case bytes.HasSuffix(rest, []byte("\n---")):
		fm = rest[:len(rest)-3]
	default:
		return nil, fail(1, "the front matter is not closed: add a line \"---\" after it")
	}
	// Lines in the front matter are one more than the YAML parser counts
	// (the opening "---").
	const off = 1
	f, err := parser.ParseBytes(fm, 0)
	if err != nil {
		return nil, yamlError(file, off, err)
	}
	var m frontMatter
	if err := yaml.UnmarshalWithOptions(fm, &m, yaml.DisallowUnknownField(), yaml.Strict()); err != nil {
		return nil, yamlError(file, off, err)
	}
	line := func(p string) int {
		// The line of the node at path p, or of its nearest parent found.
		for p != "$" && p != "" {
			if yp, err := yaml.PathString(p); err == nil {
				if n, err := yp.FilterFile(f); err == nil && n != nil {
					if tk := n.GetToken(); tk != nil {
						return tk.Position.Line + off
					}
				}
			}
			i := strings.LastIndexAny(p, ".[")
			if i <= 0 {
				break
			}
			p = p[:i]
		}
		return 0
	}
	l := &Lesson{ID: m.ID, Title: strings.TrimSpace(m.Title), Summary: strings.TrimSpace(m.Summary),
		Servers: m.Servers, Faults: m.Faults, Steps: m.Steps, File: file}
	if !idRE.MatchString(l.ID) {
		return nil, fail(line("$.id"), "id %q: use 1 to 64 lower-case letters, digits and dashes (it is the lesson's address: /start/ID)", l.ID)
	}
	if l.Title == "" {
		return nil, fail(line("$.id"), "title is required")
	}
	if len(l.Steps) == 0 {
		return nil, fail(line("$.title"), "steps is required: a lesson has at least one step")
	}
	servers := map[string]*Server{}
	for i := range l.Servers {
		s := &l.Servers[i]
		p := fmt.Sprintf("$.servers[%d]", i)
		k := engine.LookupServerKind(s.Kind)
		if k == nil {
			return nil, fail(line(p+".kind"), "unknown server kind %q; valid kinds: %s", s.Kind, strings.Join(engine.ServerKindNames(), ", "))
		}
		if !nameRE.MatchString(s.Name) {
			return nil, fail(line(p+".name"), "server name %q: a lesson names each server (a letter, then letters, digits, - or _), so steps and faults can refer to it", s.Name)
		}
		if servers[s.Name] != nil {
			return nil, fail(line(p+".name"), "two servers are called %q", s.Name)
		}
		if s.Port < 0 || s.Port > 65535 {
			return nil, fail(line(p+".port"), "port %d is not a port number; 0 (or none) picks a free lab port", s.Port)
		}
		for name, v := range s.Options {
			if err := checkOption(k.Options, name, v, servers); err != nil {
				return nil, fail(line(p+".options."+name), "server %s (%s): %v", s.Name, s.Kind, err)
			}
		}
		for _, o := range k.Options {
			if _, ok := s.Options[o.Name]; o.Required && !ok {
				return nil, fail(line(p+".kind"), "server %s (%s): option %s is required", s.Name, s.Kind, o.Name)
			}
		}
		servers[s.Name] = s
	}
	for i := range l.Faults {
		ft := &l.Faults[i]
		p := fmt.Sprintf("$.faults[%d]", i)
		s := servers[ft.Server]
		if s == nil {
			return nil, fail(line(p+".server"), "fault on server %q: the lesson has no server of that name (servers: %s)", ft.Server, serverNames(l.Servers))
		}
		if !slices.Contains(engine.FaultTypeNames(), ft.Type) {
			return nil, fail(line(p+".type"), "unknown fault type %q; valid types: %s", ft.Type, strings.Join(engine.FaultTypeNames(), ", "))
		}
		if ft.Direction != "" && ft.Direction != "upstream" && ft.Direction != "downstream" {
			return nil, fail(line(p+".direction"), "direction %q: use upstream or downstream", ft.Direction)
		}
	}
	sections, intro := splitSections(body)
	l.Intro = intro
	for i := range l.Steps {
		st := &l.Steps[i]
		p := fmt.Sprintf("$.steps[%d]", i)
		st.Title = strings.TrimSpace(st.Title)
		if st.Title == "" {
			return nil, fail(line(p), "step %d has no title", i+1)
		}
		if strings.TrimSpace(st.Text) == "" {
			st.Text = sections[st.Title]
		}
		st.Text = strings.TrimSpace(st.Text)
		if err := checkPlaceholders(st.Do, servers); err != nil {
			return nil, fail(line(p+".do"), "step %q: do: %v", st.Title, err)
		}
		if field, err := st.Check.validate(servers); err != nil {
			at := p + ".check"
			if field != "" {
				at += "." + field
			}
			return nil, fail(line(at), "step %q: check: %v", st.Title, err)
		}
	}
	return l, nil
}

// yamlError turns the YAML library's error into file:line: message.
func yamlError(file string, off int, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && te.Token != nil {
		what := "this"
		if p := te.Token.Prev; p != nil && p.Type == token.MappingValueType && p.Prev != nil {
			what = p.Prev.Value
		}
		return &LoadError{File: file, Line: te.Token.Position.Line + off,
			Msg: fmt.Sprintf("front matter: %s: %q is not what belongs here: it takes %s", what, te.Token.Value, typeWords(te.DstType))}
	}
	var ye yaml.Error
	if errors.As(err, &ye) {
		ln := 0
		if tk := ye.GetToken(); tk != nil {
			ln = tk.Position.Line + off
		}
		return &LoadError{File: file, Line: ln, Msg: "front matter: " + strings.TrimSpace(ye.GetMessage())}
	}
	return &LoadError{File: file, Msg: "front matter: " + err.Error()}
}

// typeWords says what a Go type takes, in YAML terms.
func typeWords(t reflect.Type) string {
	if t == nil {
		return "another kind of value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.String:
		return "text"
	case reflect.Slice:
		return "a list (lines starting with -)"
	case reflect.Map, reflect.Struct:
		return "a mapping (key: value lines, or {key: value})"
	}
	return "another kind of value"
}

func serverNames(ss []Server) string {
	var n []string
	for _, s := range ss {
		n = append(n, s.Name)
	}
	if len(n) == 0 {
		return "none"
	}
	return strings.Join(n, ", ")
}

// checkOption checks one option's name and the type of its value against
// the kind's schema (the lab checks ranges and the rest when it starts it).
func checkOption(specs []engine.OptionSpec, name string, v any, servers map[string]*Server) error {
	i := slices.IndexFunc(specs, func(o engine.OptionSpec) bool { return o.Name == name })
	if i < 0 {
		var names []string
		for _, o := range specs {
			names = append(names, o.Name)
		}
		return fmt.Errorf("unknown option %q; its options: %s", name, strings.Join(names, ", "))
	}
	o := specs[i]
	switch o.Type {
	case engine.OptInt:
		switch v.(type) {
		case int, int64, uint64, int32:
		default:
			return fmt.Errorf("option %s takes a whole number, not %v", name, v)
		}
	case engine.OptBool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("option %s takes true or false, not %v", name, v)
		}
	case engine.OptString, engine.OptEnum:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("option %s takes text, not %v", name, v)
		}
		if o.Type == engine.OptEnum && !slices.ContainsFunc(o.Values, func(c engine.Choice) bool { return c.Value == s }) {
			var vals []string
			for _, c := range o.Values {
				vals = append(vals, c.Value)
			}
			return fmt.Errorf("option %s: %q is not one of %s", name, s, strings.Join(vals, ", "))
		}
		return checkPlaceholders(s, servers)
	}
	return nil
}

// checkPlaceholders refuses {NAME.port} naming no server listed so far.
func checkPlaceholders(s string, servers map[string]*Server) error {
	for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
		if servers[m[1]] == nil {
			return fmt.Errorf("%s names no server listed before it", m[0])
		}
	}
	return nil
}

// Fill replaces {NAME.port} and {NAME.addr} with the addresses of the
// session's servers (addrs: name → host:port); unknown names stay as they are.
func Fill(s string, addrs map[string]string) string {
	return placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
		sm := placeholderRE.FindStringSubmatch(m)
		a, ok := addrs[sm[1]]
		if !ok {
			return m
		}
		if sm[2] == "addr" {
			return a
		}
		if i := strings.LastIndexByte(a, ':'); i >= 0 {
			return a[i+1:]
		}
		return m
	})
}

// splitSections cuts the Markdown body at "## " headings: the text before
// the first is the intro, each section is keyed by its heading.
func splitSections(body []byte) (map[string]string, string) {
	out := map[string]string{}
	var intro, cur strings.Builder
	title, in := "", false
	flush := func() {
		if in {
			out[title] = strings.TrimSpace(cur.String())
		}
		cur.Reset()
	}
	for _, ln := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(ln, "## ") {
			flush()
			title, in = strings.TrimSpace(ln[3:]), true
			continue
		}
		if in {
			cur.WriteString(ln + "\n")
		} else {
			intro.WriteString(ln + "\n")
		}
	}
	flush()
	return out, strings.TrimSpace(intro.String())
}
