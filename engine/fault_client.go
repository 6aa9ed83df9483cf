package engine

// Faults on a client: a client of one TCP connection (tcp, tls, retry)
// has a fault set of its own, changed live like a server's. On a client's
// connection the directions keep their meaning on the wire: upstream is
// what the client sends (its writes), downstream what it receives (its
// reads). The fault events are on the client's connection.

func (c *TCPClient) faultSet() *faultSet {
	c.faults.ops.Lock()
	if c.faults.emit == nil {
		c.faults.emit = func(meta map[string]any) {
			ev := c.conn.tap.event(KindFault)
			ev.Meta = meta
			c.conn.tap.emit(ev)
		}
	}
	c.faults.ops.Unlock()
	return &c.faults
}

func (c *TCPClient) faultsUDP() bool { return false }

// faultClientKinds are the client kinds that take faults: one TCP
// connection, a TCPClient.
var faultClientKinds = map[string]bool{"tcp": true, "tls": true, "retry": true}

// openFaults checks the faults a client is opened with, before it dials.
func openFaults(kind *ClientKind, specs []FaultSpec) ([]*faultInst, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	if !faultClientKinds[kind.Name] {
		return nil, faultError("faults", "a %s client cannot take faults: faults act on one TCP connection, which tcp, tls and retry clients have", kind.Name)
	}
	return checkFaults(specs, false, true)
}

// addOpenFaults adds the faults a client was opened with, once connected
// (after its connect event).
func addOpenFaults(c Client, faults []*faultInst) {
	if len(faults) == 0 {
		return
	}
	fc, ok := c.(faultable)
	if !ok {
		return
	}
	fs := fc.faultSet()
	for _, f := range faults {
		fs.add(f) // checked before the dial; the names are distinct
	}
}
