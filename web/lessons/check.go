package lessons

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/sockplay/sockplay/engine"
)

// Check is a step's predicate over one recorded event (docs/events.md):
// every field set must hold for the same event. A field left out does not
// matter. See docs/lessons.md for each field.
type Check struct {
	// Kind is the event's kind: recv, send, accept, close, datagram-in…
	Kind string `yaml:"kind" json:"kind,omitempty"`
	// Net is its transport: tcp, udp, tls or unix.
	Net string `yaml:"net" json:"net,omitempty"`
	// Owner is who owns the socket: server (a lab server) or client (a
	// client opened in the session).
	Owner string `yaml:"owner" json:"owner,omitempty"`
	// Server is the name of one of the lesson's servers: the event is on it.
	Server string `yaml:"server" json:"server,omitempty"`
	// DataContains is text the event's captured bytes contain.
	DataContains *string `yaml:"data_contains" json:"data_contains,omitempty"`
	// IgnoreCase makes data_contains ignore upper and lower case (ASCII).
	IgnoreCase bool `yaml:"ignore_case" json:"ignore_case,omitempty"`
	// MinLen is the least len (bytes read, written or in the datagram).
	MinLen int `yaml:"min_len" json:"min_len,omitempty"`
	// Errno is the error's name (err.errno): ECONNREFUSED, ECONNRESET…
	Errno string `yaml:"errno" json:"errno,omitempty"`
	// Op is meta.op: the call that failed (connect, recv, send…).
	Op string `yaml:"op" json:"op,omitempty"`
	// By is a close's meta.by: local or peer.
	By string `yaml:"by" json:"by,omitempty"`
	// Half is a close's meta.half (one direction only).
	Half *bool `yaml:"half" json:"half,omitempty"`
	// RST is a close's meta.rst (the peer reset the connection).
	RST *bool `yaml:"rst" json:"rst,omitempty"`
	// Fault is the type of the fault that acted (a fault event's meta.type;
	// an event that says a fault was added, changed or removed is not one).
	Fault string `yaml:"fault" json:"fault,omitempty"`
	// FaultChange is a change made to a fault (a fault event's meta.change):
	// added, changed, on, off or removed.
	FaultChange string `yaml:"fault_change" json:"fault_change,omitempty"`
	// Dropped: a datagram's meta.dropped is set (true) or absent (false).
	Dropped *bool `yaml:"dropped" json:"dropped,omitempty"`
	// TLSVersion is a tls-handshake's meta.version ("1.3").
	TLSVersion string `yaml:"tls_version" json:"tls_version,omitempty"`
	// SendSplitIntoRecvs holds at the recv that completes one send (of a
	// socket in the session) which arrived, at the other end, as at least
	// this many recvs.
	SendSplitIntoRecvs int `yaml:"send_split_into_recvs" json:"send_split_into_recvs,omitempty"`
	// NthRecv holds at a connection's Nth recv with bytes, or a later one:
	// what one side sent arrived in pieces this socket read one by one.
	NthRecv int `yaml:"nth_recv" json:"nth_recv,omitempty"`
	// Meta are other meta keys and the values they must have (scalars).
	Meta map[string]any `yaml:"meta" json:"meta,omitempty"`
	// All are checks that must each hold for some event since the step
	// began, in any order: the step is done at the event that completes
	// the set (a latency measurement over unix and one over tcp). A check
	// with all has no other field.
	All []Check `yaml:"all" json:"all,omitempty"`
}

var eventKinds = []engine.Kind{engine.KindServerStart, engine.KindServerStop, engine.KindListen, engine.KindAccept,
	engine.KindConnect, engine.KindRecv, engine.KindSend, engine.KindClose, engine.KindDatagramIn,
	engine.KindDatagramOut, engine.KindTLSHandshake, engine.KindProxyDial, engine.KindAppFrame,
	engine.KindHTTPRequest, engine.KindHTTPResponse, engine.KindOption, engine.KindTimeout, engine.KindRetry,
	engine.KindError, engine.KindFault, engine.KindLoss, engine.KindLatency}

var faultChanges = []string{"added", "changed", "on", "off", "removed"}

var errnoRE = regexp.MustCompile(`^E?[A-Z][A-Z0-9]{1,15}$`)

func kindNames() string {
	var s []string
	for _, k := range eventKinds {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

// validate refuses a check that could never hold or holds for anything; it
// returns the field at fault ("" for the whole check).
func (c *Check) validate(servers map[string]*Server) (string, error) {
	if c.All != nil {
		return c.validateAll(servers)
	}
	if c.Kind != "" && !slices.Contains(eventKinds, engine.Kind(c.Kind)) {
		return "kind", fmt.Errorf("unknown event kind %q; kinds: %s", c.Kind, kindNames())
	}
	if c.Net != "" && c.Net != engine.NetTCP && c.Net != engine.NetUDP && c.Net != engine.NetTLS && c.Net != engine.NetUnix {
		return "net", fmt.Errorf("net %q: use tcp, udp, tls or unix", c.Net)
	}
	if c.Owner != "" && c.Owner != "server" && c.Owner != "client" {
		return "owner", fmt.Errorf("owner %q: use server (a lab server) or client (a client opened in the session)", c.Owner)
	}
	if c.Server != "" && servers[c.Server] == nil {
		return "server", fmt.Errorf("server %q: the lesson has no server of that name", c.Server)
	}
	if c.Errno != "" && !errnoRE.MatchString(c.Errno) {
		return "errno", fmt.Errorf("errno %q: an error name is upper case, like ECONNREFUSED or ECONNRESET", c.Errno)
	}
	if c.By != "" && c.By != "local" && c.By != "peer" {
		return "by", fmt.Errorf("by %q: use local or peer", c.By)
	}
	if c.Fault != "" && !slices.Contains(engine.FaultTypeNames(), c.Fault) {
		return "fault", fmt.Errorf("unknown fault type %q; valid types: %s", c.Fault, strings.Join(engine.FaultTypeNames(), ", "))
	}
	if c.FaultChange != "" && !slices.Contains(faultChanges, c.FaultChange) {
		return "fault_change", fmt.Errorf("fault_change %q: use %s", c.FaultChange, strings.Join(faultChanges, ", "))
	}
	if c.Fault != "" && c.FaultChange != "" {
		return "fault_change", fmt.Errorf("fault is a fault that acted, fault_change a change made to one: a check takes one of them (to name the type of a changed fault: meta: {type: %s})", c.Fault)
	}
	if c.NthRecv != 0 && c.NthRecv < 2 {
		return "nth_recv", fmt.Errorf("nth_recv %d: give 2 or more (every recv is at least the first)", c.NthRecv)
	}
	if c.TLSVersion != "" && !slices.Contains([]string{"1.0", "1.1", "1.2", "1.3"}, tlsVersion(c.TLSVersion)) {
		return "tls_version", fmt.Errorf("tls_version %q: use \"1.0\", \"1.1\", \"1.2\" or \"1.3\" (in quotes: 1.3 unquoted is a number)", c.TLSVersion)
	}
	if c.IgnoreCase && c.DataContains == nil {
		return "ignore_case", fmt.Errorf("ignore_case applies to data_contains, which this check does not have")
	}
	if c.MinLen < 0 {
		return "min_len", fmt.Errorf("min_len %d: a length is 0 or more", c.MinLen)
	}
	if c.SendSplitIntoRecvs != 0 && c.SendSplitIntoRecvs < 2 {
		return "send_split_into_recvs", fmt.Errorf("send_split_into_recvs %d: a send split in pieces arrives as at least 2 recvs", c.SendSplitIntoRecvs)
	}
	for k, v := range c.Meta {
		switch v.(type) {
		case string, bool, int, int64, uint64, float64:
		default:
			return "meta." + k, fmt.Errorf("meta %s: compare with a string, a number or true/false, not %v", k, v)
		}
	}
	if c.Kind == "" && c.Errno == "" && c.Fault == "" && c.FaultChange == "" && c.SendSplitIntoRecvs == 0 && c.NthRecv == 0 && c.DataContains == nil {
		return "", fmt.Errorf("a check needs at least one of kind, errno, fault, fault_change, data_contains, send_split_into_recvs or nth_recv, or it would hold for any event")
	}
	return "", nil
}

// evaluator carries what a check needs to know of earlier events: the
// names of the session's servers and the sends still arriving.
type evaluator struct {
	names   map[string]string // server id → name (from server-start)
	pending map[string]*split // "recvLocal|recvRemote" → a send under way
	recvs   map[string]int    // conn → its recvs with bytes so far
	// splitRecvs is, for the event just observed, how many recvs the send
	// it completed arrived as (0: it completed none).
	splitRecvs int
	// nthRecv is, for a recv just observed, which recv of its connection it is.
	nthRecv int
	// seen are the checks of an all that held since their step began.
	seen map[*Check]bool
}

type split struct{ remain, recvs int }

const maxPending = 4096

func newEvaluator() *evaluator {
	return &evaluator{names: map[string]string{}, pending: map[string]*split{}, recvs: map[string]int{}, seen: map[*Check]bool{}}
}

// observe updates the evaluator with ev; call it once per event, in order,
// before matching checks against ev.
func (e *evaluator) observe(ev *engine.Event) {
	e.splitRecvs, e.nthRecv = 0, 0
	switch ev.Kind {
	case engine.KindServerStart:
		if n, ok := ev.Meta["name"].(string); ok {
			e.names[ev.Server] = n
		}
	case engine.KindSend:
		if ev.Net == engine.NetUDP || ev.Len <= 0 {
			return
		}
		key := ev.Remote + "|" + ev.Local // as the receiving end will see it
		if p := e.pending[key]; p != nil {
			p.remain += ev.Len
			return
		}
		if len(e.pending) >= maxPending {
			clear(e.pending)
		}
		e.pending[key] = &split{remain: ev.Len}
	case engine.KindRecv:
		if ev.Len > 0 && ev.Conn != "" {
			if _, ok := e.recvs[ev.Conn]; !ok && len(e.recvs) >= maxPending {
				clear(e.recvs)
			}
			e.recvs[ev.Conn]++
			e.nthRecv = e.recvs[ev.Conn]
		}
		key := ev.Local + "|" + ev.Remote
		p := e.pending[key]
		if p == nil {
			return
		}
		p.recvs++
		p.remain -= ev.Len
		if p.remain <= 0 {
			e.splitRecvs = p.recvs
			delete(e.pending, key)
		}
	case engine.KindClose:
		if b, _ := ev.Meta["half"].(bool); !b {
			delete(e.pending, ev.Local+"|"+ev.Remote)
			delete(e.recvs, ev.Conn)
		}
	}
}

// validateAll checks an all: two or more checks, each valid and without
// an all of its own, and nothing else beside them.
func (c *Check) validateAll(servers map[string]*Server) (string, error) {
	rest := *c
	rest.All = nil
	if !reflect.DeepEqual(rest, Check{}) {
		return "all", fmt.Errorf("a check with all has no other field: put each condition in one of its checks")
	}
	if len(c.All) < 2 {
		return "all", fmt.Errorf("all takes two or more checks (for one, write the check itself)")
	}
	for i := range c.All {
		sub := &c.All[i]
		if sub.All != nil {
			return fmt.Sprintf("all[%d].all", i), fmt.Errorf("the checks of all cannot have an all of their own")
		}
		if field, err := sub.validate(servers); err != nil {
			at := fmt.Sprintf("all[%d]", i)
			if field != "" {
				at += "." + field
			}
			return at, fmt.Errorf("all[%d]: %w", i, err)
		}
	}
	return "", nil
}

// holds tells whether c holds for ev (observed last).
func (c *Check) holds(e *evaluator, ev *engine.Event) bool {
	if c.All != nil {
		done := true
		for i := range c.All {
			sub := &c.All[i]
			if !e.seen[sub] && sub.holds(e, ev) {
				e.seen[sub] = true
			}
			done = done && e.seen[sub]
		}
		return done
	}
	if c.Kind != "" && string(ev.Kind) != c.Kind {
		return false
	}
	if c.Net != "" && ev.Net != c.Net {
		return false
	}
	switch c.Owner {
	case "server":
		if !strings.HasPrefix(ev.Server, "srv-") {
			return false
		}
	case "client":
		if !strings.HasPrefix(ev.Server, "cli-") {
			return false
		}
	}
	if c.Server != "" && e.names[ev.Server] != c.Server {
		return false
	}
	if c.DataContains != nil {
		if c.IgnoreCase {
			if !bytes.Contains(bytes.ToLower(ev.Data), bytes.ToLower([]byte(*c.DataContains))) {
				return false
			}
		} else if !bytes.Contains(ev.Data, []byte(*c.DataContains)) {
			return false
		}
	}
	if c.MinLen > 0 && ev.Len < c.MinLen {
		return false
	}
	if c.Errno != "" && (ev.Err == nil || ev.Err.Errno != c.Errno) {
		return false
	}
	if c.Op != "" && metaString(ev.Meta, "op") != c.Op {
		return false
	}
	if c.By != "" && metaString(ev.Meta, "by") != c.By {
		return false
	}
	if c.Half != nil && metaBool(ev.Meta, "half") != *c.Half {
		return false
	}
	if c.RST != nil && metaBool(ev.Meta, "rst") != *c.RST {
		return false
	}
	if c.Fault != "" && (ev.Kind != engine.KindFault || metaString(ev.Meta, "type") != c.Fault || ev.Meta["change"] != nil) {
		return false
	}
	if c.FaultChange != "" && (ev.Kind != engine.KindFault || metaString(ev.Meta, "change") != c.FaultChange) {
		return false
	}
	if c.NthRecv > 0 && e.nthRecv < c.NthRecv {
		return false
	}
	if c.Dropped != nil && (metaString(ev.Meta, "dropped") != "" || metaBool(ev.Meta, "dropped")) != *c.Dropped {
		return false
	}
	if c.TLSVersion != "" && tlsVersion(metaString(ev.Meta, "version")) != tlsVersion(c.TLSVersion) {
		return false
	}
	if c.SendSplitIntoRecvs > 0 && e.splitRecvs < c.SendSplitIntoRecvs {
		return false
	}
	for k, want := range c.Meta {
		if !sameValue(ev.Meta[k], want) {
			return false
		}
	}
	return true
}

// tlsVersion is a TLS version without its "TLS " prefix: the handshake
// event says "TLS 1.3" (Go's tls.VersionName), a check may say "1.3".
func tlsVersion(v string) string { return strings.TrimPrefix(strings.TrimSpace(v), "TLS ") }

func metaString(m map[string]any, k string) string { s, _ := m[k].(string); return s }
func metaBool(m map[string]any, k string) bool     { b, _ := m[k].(bool); return b }

// sameValue compares a meta value (decoded from JSON: float64 numbers, or
// the engine's own ints) with a check's YAML scalar.
func sameValue(got, want any) bool {
	gf, gok := number(got)
	wf, wok := number(want)
	if gok && wok {
		return gf == wf
	}
	return got == want
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}
