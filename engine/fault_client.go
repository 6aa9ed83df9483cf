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
