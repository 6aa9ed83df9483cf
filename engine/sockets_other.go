//go:build !linux

package engine

// readTCPInfo is Linux's only: elsewhere the socket table has no tcp_info
// and a connection's state is what its Conn knows.
func readTCPInfo(fd int, info *TCPInfo) bool { return false }

// kernelStates is Linux's only (/proc/net/tcp): elsewhere a closed
// connection leaves the table at once.
func kernelStates(pairs [][2]string) []string { return make([]string, len(pairs)) }

// kernelDump is Linux's only (sock_diag): elsewhere every row is what the
// socket's Conn knows.
var (
	kernelDump   dumper
	kernelLookup looker
)

const (
	famInet  = 2
	famInet6 = 10
)

func sockIdentity(fd int) (ino uint32, fam uint8) { return 0, 0 }

func diagInfo(b []byte, info *TCPInfo) {}
