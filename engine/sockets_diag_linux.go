package engine

import (
	"encoding/binary"
	"errors"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The socket table's kernel view, the way ss gets it: one netlink
// sock_diag dump (NETLINK_SOCK_DIAG, SOCK_DIAG_BY_FAMILY with an
// inet_diag_req_v2 asking for INET_DIAG_INFO) per refresh and address
// family, instead of one getsockopt(TCP_INFO) per socket. The request and
// its answer are a few fixed structs (include/uapi/linux/inet_diag.h),
// written and read here with golang.org/x/sys/unix: the libraries that do
// it (vishvananda/netlink's SocketDiagTCPInfo) parse and allocate every
// socket of the machine into Go values, several times what the table
// needs, which matches the few that are the session's by inode and skips
// the rest after reading twelve bytes.

// inetDiagReqV2 is struct inet_diag_req_v2 behind its nlmsghdr.
type inetDiagReqV2 struct {
	nlmsg    unix.NlMsghdr
	family   uint8
	protocol uint8
	ext      uint8
	pad      uint8
	states   uint32
	id       [48]byte // struct inet_diag_sockid: zero, a dump of all
}

// inet_diag_msg: family, state, timer, retrans (4 bytes), then the sockid
// (sport, dport big-endian; src, dst 16 bytes each; if; cookie), expires,
// rqueue, wqueue, uid, inode.
const (
	diagMsgLen    = 72
	diagOffSport  = 4
	diagOffSrc    = 8
	diagOffDst    = 24
	diagOffRqueue = 60
	diagOffWqueue = 64
	diagOffInode  = 68
	inetDiagInfo  = 2 // INET_DIAG_INFO: struct tcp_info
)

// kernelDump and kernelLookup are the table's sock_diag dump and exact
// lookups.
var (
	kernelDump   dumper = sockDiag
	kernelLookup looker = sockDiagLookup
)

// The address families, as the dump names them.
const (
	famInet  = unix.AF_INET
	famInet6 = unix.AF_INET6
)

// unmap writes an IPv4-mapped IPv6 address (a dual-stack socket's IPv4
// peer) as the IPv4 address, as Go's addresses are written.
func (a *diagAddr) unmap() {
	if [12]byte(a.ip[:12]) == [12]byte{10: 0xff, 11: 0xff} {
		copy(a.ip[:], a.ip[12:16])
		clear(a.ip[4:])
	}
}

// sockDiag dumps the kernel's TCP sockets in states (a bit for each) of
// the families (unix.AF_INET, unix.AF_INET6) and calls fn for each. An error says the dump did not
// complete (netlink refused, as in some sandboxes): the caller then asks
// each socket itself.
func sockDiag(families []uint8, states uint32, fn func(*diagSock)) error {
	return sockDiagReq(families, states, 1<<(inetDiagInfo-1), fn)
}

// openSockDiag opens a NETLINK_SOCK_DIAG socket. The kernel answers at
// once; its receive timeout only bounds a kernel that would not.
func openSockDiag() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return -1, err
	}
	tv := unix.Timeval{Sec: 2}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// sockDiagReq is sockDiag asking for the extensions ext (a bit for each
// INET_DIAG_ attribute).
func sockDiagReq(families []uint8, states uint32, ext uint8, fn func(*diagSock)) error {
	fd, err := openSockDiag()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	bp := diagBufs.Get().(*[32 << 10]byte)
	defer diagBufs.Put(bp)
	buf := bp[:]
	for seq, fam := range families {
		req := inetDiagReqV2{
			nlmsg:    unix.NlMsghdr{Len: uint32(unsafe.Sizeof(inetDiagReqV2{})), Type: unix.SOCK_DIAG_BY_FAMILY, Flags: unix.NLM_F_REQUEST | unix.NLM_F_DUMP, Seq: uint32(seq + 1)},
			family:   fam,
			protocol: unix.IPPROTO_TCP,
			ext:      ext,
			states:   states,
		}
		b := unsafe.Slice((*byte)(unsafe.Pointer(&req)), unsafe.Sizeof(req))
		if err := unix.Sendto(fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return err
		}
		if err := diagRead(fd, buf, uint32(seq+1), fn); err != nil {
			return err
		}
	}
	return nil
}

// diagRead reads one dump's answers until its NLMSG_DONE.
func diagRead(fd int, buf []byte, seq uint32, fn func(*diagSock)) error {
	var s diagSock
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			return err
		}
		b := buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			h := (*unix.NlMsghdr)(unsafe.Pointer(&b[0]))
			l := int(h.Len)
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return errors.New("sock_diag: a truncated message")
			}
			msg := b[unix.NLMSG_HDRLEN:l]
			b = b[min(nlmAlign(l), len(b)):]
			if h.Seq != seq {
				continue
			}
			switch h.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(msg) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(msg)); e < 0 {
						return unix.Errno(-e)
					}
				}
				return errors.New("sock_diag: an error answer")
			case unix.SOCK_DIAG_BY_FAMILY:
			default:
				continue
			}
			if len(msg) < diagMsgLen {
				continue
			}
			s = diagSock{family: msg[0], state: msg[1],
				rqueue: binary.NativeEndian.Uint32(msg[diagOffRqueue:]),
				wqueue: binary.NativeEndian.Uint32(msg[diagOffWqueue:]),
				inode:  binary.NativeEndian.Uint32(msg[diagOffInode:])}
			s.local.port = binary.BigEndian.Uint16(msg[diagOffSport:])
			s.remote.port = binary.BigEndian.Uint16(msg[diagOffSport+2:])
			copy(s.local.ip[:], msg[diagOffSrc:diagOffSrc+16])
			copy(s.remote.ip[:], msg[diagOffDst:diagOffDst+16])
			if s.family == unix.AF_INET6 {
				s.local.unmap()
				s.remote.unmap()
			}
			for a := msg[diagMsgLen:]; len(a) >= unix.SizeofRtAttr; {
				al := int(binary.NativeEndian.Uint16(a))
				if al < unix.SizeofRtAttr || al > len(a) {
					break
				}
				if binary.NativeEndian.Uint16(a[2:]) == inetDiagInfo {
					s.info = a[unix.SizeofRtAttr:al]
				}
				a = a[min(rtaAlign(al), len(a)):]
			}
			fn(&s)
		}
	}
}

func nlmAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }
func rtaAlign(n int) int { return (n + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1) }

// diagInfo decodes a dumped tcp_info into info (a kernel's may be shorter
// or longer than x/sys's struct: the fields it lacks stay zero).
func diagInfo(b []byte, info *TCPInfo) {
	var ti unix.TCPInfo
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&ti)), unsafe.Sizeof(ti)), b)
	tcpInfoOf(&ti, info)
}

// diagBufs keeps the dumps' receive buffers (32 KiB: the most the kernel
// fills for one read of a dump).
var diagBufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// sockIdentity is the inode of the socket fd, which the dump reports of
// every socket a program holds, and its address family (0: unknown).
func sockIdentity(fd int) (ino uint32, fam uint8) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0, 0
	}
	d, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return 0, 0
	}
	return uint32(st.Ino), uint8(d)
}

// sockDiagLookup asks the kernel for each connection of queries by its
// addresses (sock_diag requests without NLM_F_DUMP, up to 128 in one
// sendmsg): a hash lookup each, where a dump walks the whole table. fn gets
// the state of each the kernel still has (TIME-WAIT included).
func sockDiagLookup(queries []diagQuery, fn func(i int, state uint8)) error {
	fd, err := openSockDiag()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	bp := diagBufs.Get().(*[32 << 10]byte)
	defer diagBufs.Put(bp)
	const batch = 128 // answers of ~150 bytes: well within the receive buffer
	reqs := make([]inetDiagReqV2, 0, batch)
	for start := 0; start < len(queries); start += batch {
		reqs = reqs[:0]
		for i, q := range queries[start:min(start+batch, len(queries))] {
			r := inetDiagReqV2{
				nlmsg:    unix.NlMsghdr{Len: uint32(unsafe.Sizeof(inetDiagReqV2{})), Type: unix.SOCK_DIAG_BY_FAMILY, Flags: unix.NLM_F_REQUEST, Seq: uint32(start + i + 1)},
				family:   q.family,
				protocol: unix.IPPROTO_TCP,
				states:   diagClosing,
			}
			binary.BigEndian.PutUint16(r.id[0:], q.local.port)
			binary.BigEndian.PutUint16(r.id[2:], q.remote.port)
			n := 16
			if q.family == unix.AF_INET {
				n = 4
			}
			copy(r.id[4:4+n], q.local.ip[:n])
			copy(r.id[20:20+n], q.remote.ip[:n])
			binary.NativeEndian.PutUint32(r.id[40:], ^uint32(0)) // INET_DIAG_NOCOOKIE
			binary.NativeEndian.PutUint32(r.id[44:], ^uint32(0))
			reqs = append(reqs, r)
		}
		b := unsafe.Slice((*byte)(unsafe.Pointer(&reqs[0])), uintptr(len(reqs))*unsafe.Sizeof(reqs[0]))
		if err := unix.Sendto(fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return err
		}
		// One answer for each request: the socket, or an error (ENOENT:
		// the kernel has forgotten it).
		for left := len(reqs); left > 0; {
			n, err := unix.Read(fd, bp[:])
			if err != nil {
				return err
			}
			for m := bp[:n]; len(m) >= unix.NLMSG_HDRLEN; {
				h := (*unix.NlMsghdr)(unsafe.Pointer(&m[0]))
				l := int(h.Len)
				if l < unix.NLMSG_HDRLEN || l > len(m) {
					return errors.New("sock_diag: a truncated message")
				}
				msg := m[unix.NLMSG_HDRLEN:l]
				m = m[min(nlmAlign(l), len(m)):]
				i := int(h.Seq) - 1
				if i < start || i >= start+len(reqs) {
					continue
				}
				switch h.Type {
				case unix.NLMSG_ERROR:
					left--
					if len(msg) >= 4 {
						if e := unix.Errno(-int32(binary.NativeEndian.Uint32(msg))); e != 0 && e != unix.ENOENT {
							return e
						}
					}
				case unix.SOCK_DIAG_BY_FAMILY:
					left--
					// The lookup falls back to a listener on the local port
					// (a server's closed connection), and takes no heed of
					// the states asked: a socket in another state (LISTEN, or
					// a new connection on the same ports) is not it.
					q := queries[i]
					if len(msg) >= diagMsgLen && diagClosing&(1<<msg[1]) != 0 &&
						binary.BigEndian.Uint16(msg[diagOffSport:]) == q.local.port && binary.BigEndian.Uint16(msg[diagOffSport+2:]) == q.remote.port {
						fn(i, msg[1])
					}
				}
			}
		}
	}
	return nil
}
