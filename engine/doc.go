// Package engine runs the playground's real sockets: the servers a visitor
// starts (every kind in the registry of kind.go; docs/architecture.md) and the clients
// they drive from the browser.
//
// The engine knows nothing of sockplay's own web layer (its HTTP API,
// WebSocket or SQL: an http-api server speaks HTTP on its sockets itself)
// and uses the standard library (and golang.org/x/sys/unix for socket options). It describes everything that happens on its sockets as Event
// values handed to a Sink that the caller provides (the sessions package
// records them). Each recv or send Event is exactly one Read or Write call, so
// partial reads and message boundaries are visible as they really happened.
//
// Ownership: a Lab owns the port pool, the dial policy and every running
// server and client. Servers bind in Start before it returns (port 0 picks a
// free lab port) and Close is idempotent and waits for every goroutine the
// server started.
package engine
