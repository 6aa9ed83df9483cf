//go:build !linux

package engine

// readTCPInfo is Linux's only: elsewhere the socket table has no tcp_info
// and a connection's state is what its Conn knows.
func readTCPInfo(fd int) *TCPInfo { return nil }
