package engine

import "golang.org/x/sys/unix"

// keepIdleOpt is the option of the idle time before the first keepalive
// probe (-1 where it has no portable name).
const keepIdleOpt = unix.TCP_KEEPIDLE

// socketCloexec opens a TCP socket that a program sockplay runs does not
// inherit.
func socketCloexec(family int) (int, error) {
	return unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
}

// tcpListen is Linux's TCP_LISTEN state, as TCP_INFO reports it.
const tcpListen = 10

// listenQueue returns a listening socket's accept queue: how many
// connections the kernel completed that wait for accept(), and how many it
// lets wait (the backlog after the somaxconn cap). For a listener TCP_INFO
// reuses tcpi_unacked and tcpi_sacked for them: they are the Recv-Q and
// Send-Q that ss -lnt shows.
func listenQueue(fd int) (queued, max int, ok bool) {
	info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil || info.State != tcpListen {
		return 0, 0, false
	}
	return int(info.Unacked), int(info.Sacked), true
}
