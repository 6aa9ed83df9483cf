package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Faults, shaped like Toxiproxy's toxics: every server has a fault set, a
// list of faults changed live; every connection it accepts runs its reads
// (upstream: the bytes from the connecting client) and its writes
// (downstream: the bytes to it) through the set's current pipeline. With no
// fault the pipeline pointer is nil and a read or a write costs one atomic
// load more. Each fault that acts emits a fault event on the connection's
// tap (or, for refuse, on the server).
//
// On tls-echo the faults act on the plaintext (the Conn's reads and writes
// over the TLS layer, after the handshake); reset, stall, half-close,
// idle-timeout and refuse act on the socket itself.

// Fault directions.
const (
	DirUpstream   = "upstream"
	DirDownstream = "downstream"
	DirBoth       = "both"
)

// FaultSpec is what a visitor asks to add.
type FaultSpec struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Direction  string          `json:"direction"`
	Toxicity   *float64        `json:"toxicity"`
	Attributes json.RawMessage `json:"attributes"`
	// Enabled false adds the fault switched off (absent: on).
	Enabled *bool `json:"enabled,omitempty"`
}

// FaultPatch changes a fault's toxicity and attributes (absent: unchanged;
// attributes are merged over the current ones) and switches it on or off
// (a fault switched off stays listed with its settings and does nothing;
// a refuse switched off listens again).
type FaultPatch struct {
	Toxicity   *float64        `json:"toxicity"`
	Attributes json.RawMessage `json:"attributes"`
	Enabled    *bool           `json:"enabled"`
}

// Fault describes an active fault.
type Fault struct {
	Name      string  `json:"name"`
	Type      string  `json:"type"`
	Direction string  `json:"direction"`
	Toxicity  float64 `json:"toxicity"`
	// Attributes are the fault's attributes with their defaults.
	Attributes Options `json:"attributes"`
	// Enabled is false while the fault is switched off.
	Enabled bool `json:"enabled"`
	// Fired counts how many times it acted.
	Fired int64 `json:"fired"`
}

// Spec returns what adds this fault again as it is now (its state when a
// server starts again after a restart).
func (f Fault) Spec() FaultSpec {
	tox := f.Toxicity
	attrs, _ := json.Marshal(f.Attributes)
	spec := FaultSpec{Name: f.Name, Type: f.Type, Direction: f.Direction, Toxicity: &tox, Attributes: attrs}
	if !f.Enabled {
		spec.Enabled = new(false)
	}
	return spec
}

// FaultPreset is a fault for a classic lesson, one click away.
type FaultPreset struct {
	Label string    `json:"label"`
	Help  string    `json:"help"`
	Fault FaultSpec `json:"fault"`
}

// FaultPresets are the presets the page offers.
var FaultPresets = []FaultPreset{
	{Label: "slow network", Help: "every chunk arrives 200 ms late, give or take 50 ms",
		Fault: FaultSpec{Type: "latency", Direction: DirBoth, Attributes: json.RawMessage(`{"latency_ms":200,"jitter_ms":50}`)}},
	{Label: "tiny reads", Help: "the server reads your bytes one at a time: one send, many recv calls",
		Fault: FaultSpec{Type: "slicer", Direction: DirUpstream, Attributes: json.RawMessage(`{"size":1}`)}},
	{Label: "flaky peer", Help: "three connections in ten are reset (RST) after 100 bytes: ECONNRESET",
		Fault: FaultSpec{Type: "reset", Direction: DirBoth, Toxicity: new(0.3), Attributes: json.RawMessage(`{"bytes":100}`)}},
	{Label: "server gone", Help: "the server stops listening: new connects fail with ECONNREFUSED, open connections go on",
		Fault: FaultSpec{Type: "refuse", Direction: DirBoth}},
}

// faultType is one type of fault: its attribute schema and where it applies.
type faultType struct {
	name  string
	udp   bool // a datagram fault (udp-echo) rather than a stream one
	help  string
	attrs []OptionSpec
}

var faultTypes = map[string]*faultType{
	"latency": {name: "latency", help: "delays every chunk", attrs: []OptionSpec{
		{Name: "latency_ms", Type: OptInt, Default: 100, Min: intp(0), Max: intp(60000), Unit: "ms", Help: "added delay of each chunk"},
		{Name: "jitter_ms", Type: OptInt, Default: 0, Min: intp(0), Max: intp(60000), Unit: "ms", Help: "the delay varies by up to this much either way"},
	}},
	"bandwidth": {name: "bandwidth", help: "limits the rate", attrs: []OptionSpec{
		{Name: "rate", Type: OptInt, Default: 100, Min: intp(1), Max: intp(1 << 20), Unit: "KB/s", Help: "the most kilobytes (1024 bytes) a second in the fault's direction"},
	}},
	"slicer": {name: "slicer", help: "cuts one chunk into many small ones", attrs: []OptionSpec{
		{Name: "size", Type: OptInt, Default: 1, Min: intp(1), Max: intp(MaxRecvSize), Unit: "bytes", Help: "the size of each piece"},
		{Name: "size_variation", Type: OptInt, Default: 0, Min: intp(0), Max: intp(MaxRecvSize), Unit: "bytes", Help: "pieces vary by up to this much either way"},
		{Name: "delay_us", Type: OptInt, Default: 0, Min: intp(0), Max: intp(1000000), Unit: "µs", Help: "pause between pieces"},
	}},
	"reset": {name: "reset", help: "resets the connection (RST) after some bytes", attrs: []OptionSpec{
		{Name: "bytes", Type: OptInt, Default: 0, Min: intp(0), Max: intp(1 << 30), Unit: "bytes", Help: "bytes let through in the fault's direction before the RST (0: right after accept)"},
	}},
	"stall":      {name: "stall", help: "stops reading (upstream) or writing (downstream): the other side's sends fill the buffers and block"},
	"half-close": {name: "half-close", help: "FIN in the fault's direction only; the other direction still delivers"},
	"idle-timeout": {name: "idle-timeout", help: "closes a connection that carried no data for a while", attrs: []OptionSpec{
		{Name: "timeout_ms", Type: OptInt, Default: 5000, Min: intp(1), Max: intp(3600000), Unit: "ms", Help: "how long without data before the server closes"},
	}},
	"refuse":    {name: "refuse", help: "the server stops listening: new connects get ECONNREFUSED; open connections go on"},
	"drop":      {name: "drop", udp: true, help: "loses datagrams (toxicity is the fraction lost)"},
	"duplicate": {name: "duplicate", udp: true, help: "delivers datagrams twice"},
	"reorder": {name: "reorder", udp: true, help: "holds a datagram back until the next one has gone", attrs: []OptionSpec{
		{Name: "hold_ms", Type: OptInt, Default: 100, Min: intp(1), Max: intp(10000), Unit: "ms", Help: "the longest a datagram is held back when no other follows"},
	}},
}

// FaultTypeNames returns the fault types, sorted.
func FaultTypeNames() []string { return slices.Sorted(maps.Keys(faultTypes)) }

// faultTypesFor lists the fault types a server of that transport takes.
func faultTypesFor(udp bool) []string {
	var out []string
	for _, n := range FaultTypeNames() {
		if faultTypes[n].udp == udp {
			out = append(out, n)
		}
	}
	return out
}

// faultInst is one active fault. Its identity stays while it is changed,
// so each connection keeps its state of it (bytes counted, its roll).
type faultInst struct {
	name, typ, dir string
	tox            atomic.Uint64 // float64 bits
	attrs          atomic.Pointer[Options]
	fired          atomic.Int64
	off            atomic.Bool // switched off: listed, not in the pipeline
}

func (f *faultInst) toxicity() float64 { return math.Float64frombits(f.tox.Load()) }
func (f *faultInst) attr(name string) int {
	return (*f.attrs.Load()).Int(name)
}

// upstream and downstream report whether f acts in that direction.
func (f *faultInst) upstream() bool   { return f.dir != DirDownstream }
func (f *faultInst) downstream() bool { return f.dir != DirUpstream }

// acts reports whether f acts in direction up (true: upstream).
func (f *faultInst) acts(up bool) bool {
	if up {
		return f.upstream()
	}
	return f.downstream()
}

// summary writes the fault's settings for people: "both ways, toxicity 1,
// latency_ms 200, jitter_ms 50".
func (f *faultInst) summary() string {
	var b strings.Builder
	switch f.dir {
	case DirUpstream:
		b.WriteString("upstream")
	case DirDownstream:
		b.WriteString("downstream")
	default:
		b.WriteString("both ways")
	}
	fmt.Fprintf(&b, ", toxicity %v", f.toxicity())
	attrs := *f.attrs.Load()
	for _, a := range faultTypes[f.typ].attrs {
		fmt.Fprintf(&b, ", %s %v", a.Name, attrs[a.Name])
	}
	return b.String()
}

func (f *faultInst) describe() Fault {
	return Fault{Name: f.name, Type: f.typ, Direction: f.dir, Toxicity: f.toxicity(),
		Attributes: maps.Clone(*f.attrs.Load()), Enabled: !f.off.Load(), Fired: f.fired.Load()}
}

// pipeline is a snapshot of a set's faults that act on connections (or
// datagrams), in the order they were added.
type pipeline struct {
	faults  []*faultInst
	changed chan struct{} // closed when the set changes (a stall looks again)
}

// faultSet is a server's faults. cur is nil when none acts on data, so the
// data path costs one atomic load.
type faultSet struct {
	cur atomic.Pointer[pipeline]

	ops     sync.Mutex // serializes add, update and remove
	mu      sync.Mutex // guards what follows; taken after a server's own lock
	list    []*faultInst
	changed chan struct{}
	conns   map[*connFaults]struct{}
	// refuse, when set, stops (true) or resumes (false) listening.
	refuse func(on bool, f *faultInst) error
	// emit, when set, emits a fault event with meta on the set's owner
	// (a fault added, changed, switched or removed).
	emit func(meta map[string]any)
	// client says the set is a client's: its connection's reads are
	// downstream, and it has no listener to refuse.
	client bool
}

func (s *faultSet) get(name string) *faultInst {
	for _, f := range s.list {
		if f.name == name {
			return f
		}
	}
	return nil
}

// publish makes a new pipeline of the data faults. Call with s.mu held.
func (s *faultSet) publish() {
	if s.changed != nil {
		close(s.changed)
	}
	s.changed = make(chan struct{})
	var data []*faultInst
	for _, f := range s.list {
		if f.typ != "refuse" && !f.off.Load() {
			data = append(data, f)
		}
	}
	if len(data) == 0 {
		s.cur.Store(nil)
		return
	}
	s.cur.Store(&pipeline{faults: data, changed: s.changed})
}

// faultable is a server that takes faults.
type faultable interface {
	faultSet() *faultSet
	faultsUDP() bool
}

func (s *StreamServer) faultSet() *faultSet {
	s.faults.ops.Lock()
	if s.faults.refuse == nil {
		s.faults.refuse = s.setRefused
		s.faults.emit = func(meta map[string]any) {
			s.env.Emit(Event{Kind: KindFault, Net: s.net, Local: s.listener().Addr().String(), Meta: meta})
		}
	}
	s.faults.ops.Unlock()
	return &s.faults
}
func (s *StreamServer) faultsUDP() bool { return false }
func (s *packetServer) faultSet() *faultSet {
	s.faults.ops.Lock()
	if s.faults.emit == nil {
		s.faults.emit = func(meta map[string]any) {
			s.env.Emit(Event{Kind: KindFault, Net: NetUDP, Local: s.addr(), Meta: meta})
		}
	}
	s.faults.ops.Unlock()
	return &s.faults
}
func (s *packetServer) faultsUDP() bool { return true }

func faultError(option, format string, args ...any) *OptionError {
	return &OptionError{Option: option, Msg: fmt.Sprintf(format, args...)}
}

func checkToxicity(t *float64) (float64, error) {
	if t == nil {
		return 1, nil
	}
	if math.IsNaN(*t) || *t < 0 || *t > 1 {
		return 0, faultError("toxicity", "toxicity %v is out of range; want a number from 0 to 1 (the chance the fault applies: per connection for stream faults, per datagram for UDP)", *t)
	}
	return *t, nil
}

// decodeAttributes checks a fault's attributes against its type.
func decodeAttributes(ft *faultType, raw json.RawMessage) (Options, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && string(raw) != "null" {
		var in map[string]json.RawMessage
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, faultError("attributes", "attributes of a %s fault: want a JSON object such as {%s}", ft.name, attrExample(ft))
		}
		names := make([]string, len(ft.attrs))
		for i, a := range ft.attrs {
			names[i] = a.Name
		}
		for _, k := range slices.Sorted(maps.Keys(in)) {
			if !slices.Contains(names, k) {
				valid := "it takes no attributes"
				if len(names) > 0 {
					valid = "valid attributes: " + strings.Join(names, ", ")
				}
				return nil, faultError(k, "unknown attribute %q of a %s fault; %s", k, ft.name, valid)
			}
		}
	}
	o, err := decodeOptions(ft.attrs, raw)
	if err != nil {
		if oe, ok := err.(*OptionError); ok {
			return nil, faultError(oe.Option, "%s fault: %s", ft.name, strings.Replace(oe.Msg, "option ", "attribute ", 1))
		}
		return nil, err
	}
	return o, nil
}

func attrExample(ft *faultType) string {
	if len(ft.attrs) == 0 {
		return ""
	}
	return fmt.Sprintf("%q: %v", ft.attrs[0].Name, ft.attrs[0].Default)
}

// newFault checks spec for a server (udp: a udp-echo) or a client and
// returns the fault.
func newFault(spec FaultSpec, udp, client bool) (*faultInst, error) {
	ft := faultTypes[spec.Type]
	if ft == nil {
		return nil, faultError("type", "unknown fault type %q; valid types: %s", spec.Type, strings.Join(FaultTypeNames(), ", "))
	}
	if client && (ft.udp || ft.name == "refuse") {
		why := "it stops a server's listening socket, and a client has none"
		if ft.udp {
			why = "it acts on a udp-echo server's datagrams"
		}
		return nil, faultError("type", "a %s fault cannot go on a client: %s; faults a client takes: %s", ft.name, why, strings.Join(clientFaultTypes(), ", "))
	}
	if ft.udp != udp {
		what, valid := "a stream (TCP) server", faultTypesFor(udp)
		if udp {
			what = "a udp-echo server"
		}
		why := "it acts on datagrams, and only udp-echo has those"
		if !ft.udp {
			why = "it acts on a TCP connection, and UDP has none"
		}
		return nil, faultError("type", "a %s fault cannot go on %s: %s; faults it takes: %s", ft.name, what, why, strings.Join(valid, ", "))
	}
	dir := spec.Direction
	switch dir {
	case "":
		dir = DirBoth
	case DirUpstream, DirDownstream, DirBoth:
	default:
		return nil, faultError("direction", "unknown direction %q; valid directions: upstream (from the client towards the server), downstream (from the server to the client), both", dir)
	}
	name := strings.TrimSpace(spec.Name)
	if name == "" {
		name = ft.name
	}
	if len(name) > 64 || !printable(name) || strings.ContainsAny(name, "/?#%") {
		return nil, faultError("name", "fault name %q: want printable text of at most 64 bytes without / ? # %%", name)
	}
	tox, err := checkToxicity(spec.Toxicity)
	if err != nil {
		return nil, err
	}
	attrs, err := decodeAttributes(ft, spec.Attributes)
	if err != nil {
		return nil, err
	}
	f := &faultInst{name: name, typ: ft.name, dir: dir}
	f.tox.Store(math.Float64bits(tox))
	f.attrs.Store(&attrs)
	f.off.Store(spec.Enabled != nil && !*spec.Enabled)
	return f, nil
}

// faultServer finds what takes the faults of id in session: a running
// server, or a client ("cli-…").
func (l *Lab) faultServer(session, id string) (faultable, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sl := l.find(session)
	if sl != nil {
		if s := sl.servers[id]; s != nil {
			if f, ok := s.(faultable); ok {
				return f, nil
			}
			return nil, faultError("server", "server %s cannot take faults", id)
		}
		if c := sl.clients[id]; c != nil {
			if f, ok := c.(faultable); ok {
				return f, nil
			}
			return nil, faultError("client", "a %s client cannot take faults: faults act on one TCP connection, which tcp, tls and retry clients have", c.Info().Kind)
		}
	}
	if strings.HasPrefix(id, "cli-") {
		return nil, fmt.Errorf("client %s: %w", id, ErrNotFound)
	}
	return nil, fmt.Errorf("server %s: %w (faults go on a running server)", id, ErrNotFound)
}

func errNoFault(name string) error {
	return fmt.Errorf("fault %q: %w", name, ErrNotFound)
}

// clientFaultTypes lists the fault types a client takes: the stream ones
// but refuse.
func clientFaultTypes() []string {
	return slices.DeleteFunc(faultTypesFor(false), func(n string) bool { return n == "refuse" })
}

// FaultTypeInfo is one fault type as the page offers it.
type FaultTypeInfo struct {
	Name       string       `json:"name"`
	Help       string       `json:"help"`
	Attributes []OptionSpec `json:"attributes"`
}

// FaultTypes lists the fault types a server of transport net ("udp" for
// datagram faults, else stream ones) takes, sorted; net "client": those a
// client takes.
func FaultTypes(net string) []FaultTypeInfo {
	var out []FaultTypeInfo
	names := faultTypesFor(net == NetUDP)
	if net == "client" {
		names = clientFaultTypes()
	}
	for _, n := range names {
		ft := faultTypes[n]
		out = append(out, FaultTypeInfo{Name: ft.name, Help: ft.help, Attributes: ft.attrs})
	}
	return out
}

// startFaults checks the faults a server is started with, before anything
// binds: an error names the fault (by its place in the list) and the field.
func startFaults(kind *ServerKind, specs []FaultSpec) ([]*faultInst, error) {
	return checkFaults(specs, kind.Net == NetUDP, false)
}

// checkFaults checks a list of faults for a server (udp: a udp-echo) or a
// client.
func checkFaults(specs []FaultSpec, udp, client bool) ([]*faultInst, error) {
	var out []*faultInst
	names := map[string]int{}
	for i, spec := range specs {
		f, err := newFault(spec, udp, client)
		if err != nil {
			field := "faults[" + fmt.Sprint(i) + "]"
			what := "fault " + fmt.Sprint(i+1)
			if spec.Type != "" {
				what += " (" + spec.Type + ")"
			}
			if oe, ok := err.(*OptionError); ok {
				opt := oe.Option
				switch opt {
				case "name", "type", "direction", "toxicity", "attributes":
				default:
					opt = "attributes." + opt
				}
				return nil, &OptionError{Option: field + "." + opt, Msg: fmt.Sprintf("faults: %s, %s: %s", what, field+"."+opt, oe.Msg)}
			}
			return nil, err
		}
		if j, dup := names[f.name]; dup {
			return nil, faultError(fmt.Sprintf("faults[%d].name", i), "faults: fault %d and fault %d are both named %q: give one a name of its own (\"name\")", j+1, i+1, f.name)
		}
		names[f.name] = i
		out = append(out, f)
	}
	return out, nil
}

func describeFaults(list []*faultInst) []Fault {
	out := make([]Fault, len(list))
	for i, f := range list {
		out[i] = f.describe()
	}
	return out
}
