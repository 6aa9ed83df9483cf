package engine

import "golang.org/x/sys/unix"

// readTCPInfo reads the kernel's TCP_INFO of the socket fd (nil when the
// kernel refuses: not a TCP socket).
func readTCPInfo(fd int) *TCPInfo {
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return nil
	}
	info := &TCPInfo{State: tcpStateName(ti.State), RTTus: ti.Rtt, RTTVarUs: ti.Rttvar, Retransmits: ti.Retransmits,
		TotalRetr: ti.Total_retrans, SndCwnd: ti.Snd_cwnd, Unacked: ti.Unacked, BytesAcked: ti.Bytes_acked,
		BytesReceived: ti.Bytes_received, NotSent: ti.Notsent_bytes}
	if ti.State == tcpListen {
		// A listener's tcpi_unacked and tcpi_sacked are its accept queue and
		// its limit (see listenQueue); it has no round trips.
		info.Backlog = ti.Sacked
	}
	return info
}
