package engine

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readTCPInfo reads the kernel's TCP_INFO of the socket fd into info
// (false when the kernel refuses: not a TCP socket). getsockopt does not
// block, so it is a raw system call into a struct on the stack: the table
// makes a thousand of them a refresh, and unix.GetsockoptTCPInfo's
// scheduler hand-off and heap copy were a third of their cost.
func readTCPInfo(fd int, info *TCPInfo) bool {
	var ti unix.TCPInfo
	l := uint32(unsafe.Sizeof(ti))
	if _, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&ti)), uintptr(unsafe.Pointer(&l)), 0); e != 0 {
		return false
	}
	tcpInfoOf(&ti, info)
	return true
}

// tcpInfoOf writes the kernel's tcp_info as the table's.
func tcpInfoOf(ti *unix.TCPInfo, info *TCPInfo) {
	*info = TCPInfo{State: tcpStateName(ti.State), RTTus: ti.Rtt, RTTVarUs: ti.Rttvar, Retransmits: ti.Retransmits,
		TotalRetr: ti.Total_retrans, SndCwnd: ti.Snd_cwnd, Unacked: ti.Unacked, BytesAcked: ti.Bytes_acked,
		BytesReceived: ti.Bytes_received, NotSent: ti.Notsent_bytes}
	if ti.State == tcpListen {
		// A listener's tcpi_unacked and tcpi_sacked are its accept queue and
		// its limit (see listenQueue); it has no round trips.
		info.Backlog = ti.Sacked
	}
}

// kernelStates finds each local/remote pair among the kernel's TCP
// sockets (/proc/net/tcp and tcp6) and returns its state as ss spells it,
// or "" when the kernel no longer has it. Sockets already closed by the
// program have no descriptor to ask TCP_INFO of: this is how the table
// still shows their FIN-WAIT-2 or TIME-WAIT.
func kernelStates(pairs [][2]string) []string {
	out := make([]string, len(pairs))
	want := make(map[string]int, len(pairs))
	v6 := false
	for i, p := range pairs {
		l, err1 := netip.ParseAddrPort(p[0])
		r, err2 := netip.ParseAddrPort(p[1])
		if err1 != nil || err2 != nil {
			continue
		}
		v6 = v6 || l.Addr().Is6()
		want[procAddr(l)+" "+procAddr(r)] = i
	}
	files := []string{"/proc/net/tcp"}
	if v6 {
		files = append(files, "/proc/net/tcp6")
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// "  12: 0100007F:4E20 0100007F:D3C2 06 …": local, remote, state.
			fields := bytes.Fields(sc.Bytes())
			if len(fields) < 4 {
				continue
			}
			i, ok := want[string(fields[1])+" "+string(fields[2])]
			if !ok {
				continue
			}
			var st uint8
			if _, err := fmt.Sscanf(string(fields[3]), "%X", &st); err == nil {
				out[i] = tcpStateName(st)
			}
		}
		f.Close()
	}
	return out
}

// procAddr writes an address as /proc/net/tcp does: each 32-bit word of
// the address as the machine stores it, in hex, then the port.
func procAddr(ap netip.AddrPort) string {
	a := ap.Addr().Unmap()
	var b []byte
	if a.Is4() {
		x := a.As4()
		b = x[:]
	} else {
		x := a.As16()
		b = x[:]
	}
	var s []byte
	for i := 0; i < len(b); i += 4 {
		s = fmt.Appendf(s, "%08X", binary.NativeEndian.Uint32(b[i:i+4]))
	}
	return fmt.Sprintf("%s:%04X", s, ap.Port())
}
