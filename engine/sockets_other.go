//go:build !linux

package engine

// readTCPInfo is Linux's only: elsewhere the socket table has no tcp_info
// and a connection's state is what its Conn knows.
func readTCPInfo(fd int, info *TCPInfo) bool { return false }

// kernelStates is Linux's only (/proc/net/tcp): elsewhere a closed
// connection leaves the table at once.
func kernelStates(pairs [][2]string) []string { return make([]string, len(pairs)) }
