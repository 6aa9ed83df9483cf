package engine

import (
	"net"
	"syscall"
)

// peerCredMeta is a unix-echo accept's meta: the connecting process, as the
// kernel tells it (SO_PEERCRED) — what a Unix socket knows of its peer
// instead of an address.
func peerCredMeta(c *Conn) map[string]any {
	uc, ok := c.raw.(*net.UnixConn)
	if !ok {
		return nil
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	var cred *syscall.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || cerr != nil || cred == nil {
		return nil
	}
	return map[string]any{"peer_pid": int(cred.Pid), "peer_uid": int(cred.Uid), "peer_gid": int(cred.Gid)}
}
