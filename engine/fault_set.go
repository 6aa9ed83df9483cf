package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"sync/atomic"
)

// add adds f: a refuse stops the listener, and every open connection
// takes the new fault at once (a reset after 0 bytes, a half-close, an
// idle timer). A fault added switched off only joins the list.
func (s *faultSet) add(f *faultInst) error {
	s.ops.Lock()
	defer s.ops.Unlock()
	s.mu.Lock()
	if s.get(f.name) != nil {
		s.mu.Unlock()
		return faultError("name", "a fault named %q is already on this %s: change it (PATCH), remove it first, or give the new one another name", f.name, s.what())
	}
	refuse := f.typ == "refuse" && !f.off.Load() && s.refusing(nil) == 0 && s.refuse != nil
	s.mu.Unlock()
	// The listener closes outside s.mu: a stopping server holds its own
	// lock while its connections detach from the set.
	if refuse {
		if err := s.refuse(true, f); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.list = append(s.list, f)
	s.publish()
	conns := slices.Collect(maps.Keys(s.conns))
	s.mu.Unlock()
	action := "added (" + f.summary() + ")"
	if f.off.Load() {
		action = "added switched off (" + f.summary() + "): it does nothing until switched on"
	}
	s.changeEvent(f, "added", action)
	if !f.off.Load() {
		for _, cf := range conns {
			cf.kick(f)
		}
	}
	return nil
}

// what names the set's owner for people.
func (s *faultSet) what() string {
	if s.client {
		return "client"
	}
	return "server"
}

// refusing counts the refuse faults switched on, but for skip. Call with
// s.mu held.
func (s *faultSet) refusing(skip *faultInst) int {
	n := 0
	for _, g := range s.list {
		if g.typ == "refuse" && g != skip && !g.off.Load() {
			n++
		}
	}
	return n
}

// changeEvent emits a fault event on the set's owner saying how a fault
// changed (added, changed, switched on or off, removed), with the fault as
// it is now: the recording can tell from these which faults a server had.
func (s *faultSet) changeEvent(f *faultInst, change, action string) {
	if s.emit == nil {
		return
	}
	d := f.describe()
	s.emit(map[string]any{"fault": d.Name, "type": d.Type, "direction": d.Direction, "action": action,
		"change": change, "toxicity": d.Toxicity, "attributes": d.Attributes, "enabled": d.Enabled})
}

// remove removes the fault called name. Removing the last refuse listens
// again on the same port.
func (s *faultSet) remove(name string) error {
	s.ops.Lock()
	defer s.ops.Unlock()
	s.mu.Lock()
	f := s.get(name)
	if f == nil {
		s.mu.Unlock()
		return errNoFault(name)
	}
	relisten := f.typ == "refuse" && !f.off.Load() && s.refusing(f) == 0 && s.refuse != nil
	s.mu.Unlock()
	if relisten {
		if err := s.refuse(false, f); err != nil {
			return err // still refusing: the visitor may try again
		}
	}
	s.mu.Lock()
	i := slices.Index(s.list, f)
	s.list = slices.Delete(s.list, i, i+1)
	s.publish()
	conns := slices.Collect(maps.Keys(s.conns))
	s.mu.Unlock()
	s.changeEvent(f, "removed", "removed: it no longer acts")
	for _, cf := range conns {
		cf.removed(f)
	}
	return nil
}

// update changes a fault's toxicity and attributes (merged over the
// current ones) in place, and switches it on or off: connections keep
// their state of it. Everything is checked before anything changes.
func (s *faultSet) update(name string, patch FaultPatch) (Fault, error) {
	s.ops.Lock()
	defer s.ops.Unlock()
	s.mu.Lock()
	f := s.get(name)
	s.mu.Unlock()
	if f == nil {
		return Fault{}, errNoFault(name)
	}
	tox := f.toxicity()
	if patch.Toxicity != nil {
		var err error
		if tox, err = checkToxicity(patch.Toxicity); err != nil {
			return Fault{}, err
		}
	}
	attrs := *f.attrs.Load()
	changed := patch.Toxicity != nil
	if raw := bytes.TrimSpace(patch.Attributes); len(raw) > 0 && string(raw) != "null" {
		var in map[string]json.RawMessage
		if err := json.Unmarshal(raw, &in); err != nil {
			return Fault{}, faultError("attributes", "attributes of a %s fault: want a JSON object", f.typ)
		}
		merged := map[string]json.RawMessage{}
		for k, v := range attrs {
			merged[k], _ = json.Marshal(v)
		}
		maps.Copy(merged, in)
		mraw, _ := json.Marshal(merged)
		var err error
		if attrs, err = decodeAttributes(faultTypes[f.typ], mraw); err != nil {
			return Fault{}, err
		}
		changed = true
	}
	switched := patch.Enabled != nil && *patch.Enabled == f.off.Load()
	if switched && f.typ == "refuse" && s.refuse != nil {
		s.mu.Lock()
		others := s.refusing(f)
		s.mu.Unlock()
		if others == 0 {
			if err := s.refuse(*patch.Enabled, f); err != nil {
				return Fault{}, err
			}
		}
	}
	f.tox.Store(math.Float64bits(tox))
	f.attrs.Store(&attrs)
	if switched {
		f.off.Store(!*patch.Enabled)
	}
	s.mu.Lock()
	s.publish() // a stall looks again
	conns := slices.Collect(maps.Keys(s.conns))
	s.mu.Unlock()
	switch {
	case switched && f.off.Load():
		s.changeEvent(f, "off", "switched off: it does nothing now (still listed with its settings)")
	case switched:
		s.changeEvent(f, "on", "switched on ("+f.summary()+")")
	case changed:
		s.changeEvent(f, "changed", "changed ("+f.summary()+")")
	}
	for _, cf := range conns {
		if f.off.Load() {
			cf.removed(f)
		} else {
			cf.kick(f)
		}
	}
	return f.describe(), nil
}

func (s *faultSet) describe() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, 0, len(s.list))
	for _, f := range s.list {
		out = append(out, f.describe())
	}
	return out
}

// faultsDetached, set by the benchmarks only, accepts connections without
// a fault pipeline: their baseline.
var faultsDetached atomic.Bool

// attach gives an accepted connection its fault state; start then applies
// the faults active now (after its accept event).
func (s *faultSet) attach(c *Conn) {
	if faultsDetached.Load() {
		return
	}
	cf := &connFaults{set: s, c: c, readUp: !s.client, done: make(chan struct{}), rolls: map[*faultInst]float64{},
		counts: map[faultDir]int64{}}
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[*connFaults]struct{}{}
	}
	s.conns[cf] = struct{}{}
	s.mu.Unlock()
	c.fx = cf
}

// start applies the faults active now to a connection just accepted.
// Call before its handler runs.
func (cf *connFaults) start() {
	if cf == nil {
		return
	}
	cf.set.mu.Lock()
	list := slices.Clone(cf.set.list)
	cf.set.mu.Unlock()
	for _, f := range list {
		if !f.off.Load() {
			cf.kick(f)
		}
	}
}

func (s *faultSet) detach(cf *connFaults) {
	s.mu.Lock()
	delete(s.conns, cf)
	s.mu.Unlock()
}

// setRefused closes the listener (on) or listens again on the same port
// (the port stays claimed from the pool meanwhile). Called by the fault
// set, its changes serialized (ops) but without its lock.
func (s *StreamServer) setRefused(on bool, f *faultInst) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || s.refused == on {
		return nil
	}
	addr := s.ln.Addr().String()
	meta := faultMeta(f, true, "", "port", portOf(addr))
	if on {
		s.refused, s.relisten = true, make(chan struct{})
		s.ln.Close()
		meta["action"] = "stopped listening: new connects get ECONNREFUSED; open connections go on"
	} else {
		listen := s.Relisten
		if listen == nil {
			listen = func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
		}
		ln, err := listen(addr)
		if err != nil {
			se := Classify(err)
			s.env.Emit(Event{Kind: KindError, Net: s.net, Local: addr, Err: se, Meta: map[string]any{"op": "listen", "fault": f.name}})
			return fmt.Errorf("could not listen again on %s (%s): %w", addr, se.Errno, err)
		}
		s.ln, s.refused = ln, false
		close(s.relisten)
		meta["action"] = "listening again on the same port: new connects are accepted"
		meta["removed"] = true
	}
	f.fired.Add(1)
	s.env.Emit(Event{Kind: KindFault, Net: s.net, Local: addr, Meta: meta})
	return nil
}

// relistenWith listens again as a tcp-echo first did: with its socket
// options (backlog, SO_REUSEADDR, buffers) rather than net.Listen's.
func relistenWith(so sockOpts) func(addr string) (net.Listener, error) {
	return func(addr string) (net.Listener, error) {
		ln, _, err := listenTCP(addr, so)
		return ln, err
	}
}
