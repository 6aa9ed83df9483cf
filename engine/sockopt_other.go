//go:build unix && !linux

package engine

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// keepIdleOpt is the option of the idle time before the first keepalive
// probe (-1 where it has no portable name: TCP_KEEPALIVE on macOS).
const keepIdleOpt = -1

// socketCloexec opens a TCP socket that a program sockplay runs does not
// inherit (under ForkLock, as package syscall does where there is no
// SOCK_CLOEXEC).
func socketCloexec(family int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := unix.Socket(family, unix.SOCK_STREAM, unix.IPPROTO_TCP)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	return fd, err
}

// listenQueue is known on Linux only (TCP_INFO of a listener).
func listenQueue(fd int) (queued, max int, ok bool) { return 0, 0, false }
