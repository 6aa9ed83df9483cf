package sessions

import (
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sockplay/sockplay/engine"
)

// PcapWriter writes a session's events as a pcapng capture that Wireshark
// and tshark read: each TCP connection (and each TLS one, with its
// plaintext) as synthesized IPv4 or IPv6 + TCP packets with a three-way
// handshake, consistent sequence and acknowledgement numbers and its FIN or
// RST as recorded; each UDP datagram as an IPv4 or IPv6 + UDP packet.
// Packets carry the events' timestamps. It is fed Records one at a time
// (from Store.Scan) and holds state only for the connections still open,
// so memory does not grow with the session. docs/export.md explains the
// mapping.
type PcapWriter struct {
	w   *pcapgo.NgWriter
	buf gopacket.SerializeBuffer

	flows  map[string]*flow // by conn id, canonical and twin
	tuples map[string]*flow // TCP flows by their canonical "local|remote"
	linger []*flow          // flows whose canonical end closed, kept a while for a late twin
	done   idRing           // conns whose flow ended: their stray events are ignored

	udpOwner map[string]string // UDP "src|dst" → the conn whose datagrams are kept

	ipID    uint16
	packets int64

	// Reused for every packet: one export builds millions.
	ip4      layers.IPv4
	ip6      layers.IPv6
	tcpLayer layers.TCP
	udpLayer layers.UDP
	comments [1]string
}

// Limits on the state a PcapWriter keeps, whatever the session's size.
const (
	// maxSegment is the most payload one synthesized TCP packet carries
	// (loopback's MSS): a longer recv or send becomes several packets.
	maxSegment = 65483
	// maxLinger is how many closed flows wait for their other end's
	// events (a server's accept recorded after the client was done).
	maxLinger = 1024
	// maxDone is how many ended conns are remembered.
	maxDone = 8192
	// maxUDPFlows bounds the UDP flow table; past it, it starts again.
	maxUDPFlows = 1 << 16
)

// flow is one TCP connection as the capture shows it. Side 0 is the
// canonical conn's local address (the conn whose events give the bytes),
// side 1 its remote. When sockplay holds both ends (a page client talking
// to a lab server) the other end is the twin: only its closes are used,
// after the canonical end is closed and can see no more.
type flow struct {
	conns      [2]string // canonical, twin ("" until seen)
	key        string
	addr       [2]netip.AddrPort
	ip         [2]net.IP
	v6         bool
	seq        [2]uint32 // next sequence number sent by each side
	fin        [2]bool
	localEnded bool // the canonical end closed (fully) or was reset
	tlsNoted   bool
	note       string   // a comment for the flow's next packet
	missing    [2]int64 // bytes the capture cap left out, per direction
	cutNoted   [2]bool
	lingering  bool
}

// NewPcapWriter starts a pcapng capture on w: its section header says
// sockplay wrote it, and its one interface carries raw IP packets.
func NewPcapWriter(w io.Writer, session Session) (*PcapWriter, error) {
	intf := pcapgo.DefaultNgInterface
	intf.Name = "sockplay"
	intf.Description = "sockplay session " + session.Name + ": packets synthesized from the recorded socket events"
	intf.LinkType = layers.LinkTypeRaw
	opts := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Application: "sockplay",
		Comment: "Synthesized by sockplay from the recorded socket events of session \"" + session.Name +
			"\": the payload bytes and timestamps are the recorded ones; handshakes, sequence numbers and checksums are made up to be consistent. TLS connections carry their plaintext. Unix domain socket connections have no IP packets and are left out (the jsonl and txt exports have them).",
	}}
	ng, err := pcapgo.NewNgWriterInterface(w, intf, opts)
	if err != nil {
		return nil, fmt.Errorf("start the capture: %w", err)
	}
	return &PcapWriter{w: ng, buf: gopacket.NewSerializeBuffer(), flows: map[string]*flow{}, tuples: map[string]*flow{},
		udpOwner: map[string]string{}, done: newIDRing(maxDone)}, nil
}

// Packets is how many packets were written so far.
func (p *PcapWriter) Packets() int64 { return p.packets }

// Flush writes out what is buffered; call it at the end.
func (p *PcapWriter) Flush() error { return p.w.Flush() }

// Write adds the packets of one event (most events have none). A Unix
// socket's events have none: such a connection carries no IP packets, so
// the capture leaves it out (the jsonl and txt exports have it).
func (p *PcapWriter) Write(r *Record) error {
	if r.Net == engine.NetUnix {
		return nil
	}
	switch r.Kind {
	case engine.KindDatagramIn, engine.KindDatagramOut:
		return p.datagram(r)
	case engine.KindAccept, engine.KindConnect, engine.KindRecv, engine.KindSend, engine.KindClose,
		engine.KindError, engine.KindTLSHandshake:
	default:
		return nil
	}
	if r.Conn == "" || r.Net == engine.NetUDP || p.done.has(r.Conn) {
		return nil
	}
	f, side := p.flows[r.Conn], 0
	if f == nil {
		var err error
		if f, err = p.newFlow(r); f == nil || err != nil {
			return err
		}
	}
	if f.conns[1] == r.Conn {
		side = 1
	}
	if side == 1 {
		return p.twinEvent(f, r)
	}
	switch r.Kind {
	case engine.KindRecv:
		return p.data(f, 1, r)
	case engine.KindSend:
		return p.data(f, 0, r)
	case engine.KindTLSHandshake:
		// Said on the next packet (a packet of its own would read as a
		// duplicate ACK).
		f.tlsNoted = true
		f.note = "TLS handshake done (" + metaString(r, "version") + ", " + metaString(r, "cipher_suite") +
			"): the TCP payload that follows is the TLS plaintext sockplay recorded, not the ciphertext on the wire"
		return nil
	case engine.KindClose:
		return p.closeEvent(f, r)
	}
	return nil
}

// newFlow starts the flow of a conn seen for the first time, or attaches the
// conn as the twin of the flow whose addresses are its own swapped. It
// returns nil for a conn that is not a TCP connection the capture can show.
func (p *PcapWriter) newFlow(r *Record) (*flow, error) {
	local, err1 := parseAddr(r.Local)
	remote, err2 := parseAddr(r.Remote)
	if err1 != nil || err2 != nil {
		return nil, nil
	}
	local, remote = fillUnspecified(local, remote), fillUnspecified(remote, local)
	rev := remote.String() + "|" + local.String()
	if tw := p.tuples[rev]; tw != nil && tw.conns[1] == "" && tw.conns[0] != r.Conn {
		tw.conns[1] = r.Conn
		p.flows[r.Conn] = tw
		return tw, nil
	}
	if p.done.has("t:" + rev) {
		p.done.add(r.Conn) // the other end of a connection already shown and ended
		return nil, nil
	}
	failedConnect := r.Kind == engine.KindError && metaString(r, "op") == "connect"
	if r.Kind == engine.KindError && !failedConnect {
		return nil, nil // an error on a conn that never connected
	}
	if r.Kind == engine.KindClose {
		return nil, nil
	}
	f := &flow{conns: [2]string{r.Conn}, key: local.String() + "|" + remote.String(), addr: [2]netip.AddrPort{local, remote}}
	f.v6 = local.Addr().Is6() || remote.Addr().Is6()
	for i, a := range f.addr {
		if f.v6 {
			b := a.Addr().As16()
			f.ip[i] = b[:]
		} else {
			b := a.Addr().As4()
			f.ip[i] = b[:]
		}
	}
	// Deterministic initial sequence numbers: the same recording gives the
	// same capture.
	h := fnv.New64a()
	h.Write([]byte(r.Conn))
	sum := h.Sum64()
	f.seq = [2]uint32{uint32(sum), uint32(sum >> 32)}
	if old := p.tuples[f.key]; old != nil {
		p.forget(old)
	}
	p.flows[r.Conn] = f
	p.tuples[f.key] = f

	// The initiator: the side that connected. A conn that starts with an
	// accept (a server's) was connected to; any other starts from its
	// owner's side if the owner is a client.
	init := 1
	if r.Kind == engine.KindConnect || failedConnect || (r.Kind != engine.KindAccept && len(r.Server) > 4 && r.Server[:4] == "cli-") {
		init = 0
	}
	resp := 1 - init
	comment := "sockplay connection " + r.Conn + " of " + r.Server + " (" + r.Local + " ⇄ " + r.Remote + "): the handshake is synthesized"
	if r.Net == engine.NetTLS {
		comment += "; this is a TLS connection and its payload is the plaintext sockplay recorded"
		f.tlsNoted = true
	}
	if err := p.tcp(f, r.At, init, layers.TCP{SYN: true}, nil, comment); err != nil {
		return nil, err
	}
	f.seq[init]++
	if failedConnect {
		p.forget(f)
		p.done.add(r.Conn)
		reason := "connect failed"
		if r.Err != nil {
			reason += ": " + r.Err.Errno + " (" + r.Err.Message + ")"
		}
		err := p.tcp(f, r.At, resp, layers.TCP{RST: true, ACK: true}, nil, reason)
		return nil, err
	}
	if err := p.tcp(f, r.At, resp, layers.TCP{SYN: true, ACK: true}, nil, ""); err != nil {
		return nil, err
	}
	f.seq[resp]++
	return f, p.tcp(f, r.At, init, layers.TCP{ACK: true}, nil, "")
}

// data writes the bytes of a recv (from side 1) or send (from side 0).
func (p *PcapWriter) data(f *flow, from int, r *Record) error {
	if f.fin[from] {
		return nil // nothing can follow a FIN; a send after it failed
	}
	var comment string
	if r.Net == engine.NetTLS && !f.tlsNoted {
		f.tlsNoted = true
		comment = "TLS: this payload is the plaintext sockplay recorded, not the ciphertext on the wire"
	}
	cut := int64(r.Len - len(r.Data))
	if r.Truncated && cut > 0 {
		f.missing[from] += cut
		note := fmt.Sprintf("capture cap: this %s was %d bytes; sockplay kept %d, the other %d are left out of this capture (not invented; their sequence numbers are not counted)",
			r.Kind, r.Len, len(r.Data), cut)
		if len(r.Data) == 0 {
			if f.cutNoted[from] {
				return nil
			}
			note = fmt.Sprintf("capture cap: from here on, the bytes of this direction were not kept (this %s was %d bytes); they are left out of this capture", r.Kind, r.Len)
		}
		f.cutNoted[from] = true
		if comment != "" {
			comment += "; "
		}
		comment += note
	}
	if len(r.Data) == 0 {
		if comment == "" {
			return nil
		}
		return p.tcp(f, r.At, from, layers.TCP{ACK: true}, nil, comment)
	}
	for b := r.Data; len(b) > 0; {
		n := min(len(b), maxSegment)
		if err := p.tcp(f, r.At, from, layers.TCP{PSH: true, ACK: true}, b[:n], comment); err != nil {
			return err
		}
		f.seq[from] += uint32(n)
		b, comment = b[n:], ""
	}
	return nil
}

// closeEvent maps the canonical end's close event: by local (side 0) or by
// the peer (side 1), a FIN (half or full) or a RST.
func (p *PcapWriter) closeEvent(f *flow, r *Record) error {
	by, half, rst := 0, r.Meta["half"] == true, r.Meta["rst"] == true
	if metaString(r, "by") == "peer" {
		by = 1
	}
	if rst {
		return p.reset(f, by, r)
	}
	if err := p.finish(f, by, r); err != nil {
		return err
	}
	if by == 0 && !half {
		f.localEnded = true
	}
	switch {
	case f.fin[0] && f.fin[1]:
		p.end(f)
	case f.localEnded:
		p.keepForTwin(f) // the other end's close may still come
	}
	return nil
}

// twinEvent uses the other end's closes once the canonical end is closed
// (before that, the canonical end sees them itself, in order with its data).
func (p *PcapWriter) twinEvent(f *flow, r *Record) error {
	if r.Kind != engine.KindClose || !f.localEnded || metaString(r, "by") != "local" {
		return nil
	}
	if r.Meta["rst"] == true {
		return p.reset(f, 1, r)
	}
	if err := p.finish(f, 1, r); err != nil {
		return err
	}
	if f.fin[0] && f.fin[1] {
		p.end(f)
	}
	return nil
}

// finish writes side's FIN (once) and the other side's ACK of it.
func (p *PcapWriter) finish(f *flow, side int, r *Record) error {
	if f.fin[side] {
		return nil
	}
	f.fin[side] = true
	if err := p.tcp(f, r.At, side, layers.TCP{FIN: true, ACK: true}, nil, p.closeComment(f, side, r, "FIN")); err != nil {
		return err
	}
	f.seq[side]++
	return p.tcp(f, r.At, 1-side, layers.TCP{ACK: true}, nil, "")
}

// reset writes side's RST; the connection is over.
func (p *PcapWriter) reset(f *flow, side int, r *Record) error {
	err := p.tcp(f, r.At, side, layers.TCP{RST: true, ACK: true}, nil, p.closeComment(f, side, r, "RST"))
	p.end(f)
	return err
}

func (p *PcapWriter) closeComment(f *flow, side int, r *Record, what string) string {
	c := what
	if reason := metaString(r, "reason"); reason != "" {
		c += ": " + reason
	}
	if f.missing[side] > 0 {
		c += fmt.Sprintf("; %d bytes of this direction were not captured (capture cap)", f.missing[side])
	}
	if c == what {
		return ""
	}
	return c
}

// keepForTwin keeps a flow whose canonical end is closed for a while, in
// case its other end's events come later; the oldest goes when too many wait.
func (p *PcapWriter) keepForTwin(f *flow) {
	if f.lingering {
		return
	}
	f.lingering = true
	p.linger = append(p.linger, f)
	if len(p.linger) > maxLinger {
		old := p.linger[0]
		p.linger = p.linger[1:]
		if old.lingering {
			p.end(old)
		}
	}
}

// end forgets an ended flow; its conns' later events are ignored.
func (p *PcapWriter) end(f *flow) {
	p.forget(f)
	for _, c := range f.conns {
		if c != "" {
			p.done.add(c)
		}
	}
	if f.conns[1] == "" {
		p.done.add("t:" + f.key) // a late other end is this connection again
	}
}

func (p *PcapWriter) forget(f *flow) {
	f.lingering = false
	for _, c := range f.conns {
		if p.flows[c] == f {
			delete(p.flows, c)
		}
	}
	if p.tuples[f.key] == f {
		delete(p.tuples, f.key)
	}
	if len(p.linger) > 0 && p.linger[0] == f {
		p.linger = p.linger[1:]
	}
}

// tcp writes one TCP packet from side with the flags in t, the payload and
// a packet comment ("" for none).
func (p *PcapWriter) tcp(f *flow, at time.Time, side int, t layers.TCP, payload []byte, comment string) error {
	if f.note != "" {
		if comment != "" {
			comment = f.note + "; " + comment
		} else {
			comment = f.note
		}
		f.note = ""
	}
	other := 1 - side
	t.SrcPort, t.DstPort = layers.TCPPort(f.addr[side].Port()), layers.TCPPort(f.addr[other].Port())
	t.Seq = f.seq[side]
	if t.ACK {
		t.Ack = f.seq[other]
	}
	t.Window = 65535
	var ip gopacket.NetworkLayer
	var ipl gopacket.SerializableLayer
	if f.v6 {
		p.ip6 = layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64, SrcIP: f.ip[side], DstIP: f.ip[other]}
		ip, ipl = &p.ip6, &p.ip6
	} else {
		p.ipID++
		p.ip4 = layers.IPv4{Version: 4, IHL: 5, TTL: 64, Flags: layers.IPv4DontFragment, Id: p.ipID,
			Protocol: layers.IPProtocolTCP, SrcIP: f.ip[side], DstIP: f.ip[other]}
		ip, ipl = &p.ip4, &p.ip4
	}
	p.tcpLayer = t
	if err := p.tcpLayer.SetNetworkLayerForChecksum(ip); err != nil {
		return err
	}
	return p.packet(at, comment, ipl, &p.tcpLayer, gopacket.Payload(payload))
}

// datagram writes a UDP datagram, once when sockplay holds both ends.
func (p *PcapWriter) datagram(r *Record) error {
	local, err := parseAddr(r.Local)
	if err != nil {
		return nil
	}
	peerText := r.Remote
	if v := metaString(r, "peer"); v != "" {
		peerText = v
	}
	peer, err := parseAddr(peerText)
	if err != nil {
		return nil
	}
	local, peer = fillUnspecified(local, peer), fillUnspecified(peer, local)
	src, dst := local, peer
	if r.Kind == engine.KindDatagramIn {
		src, dst = peer, local
	}
	key, rev := local.String()+"|"+peer.String(), peer.String()+"|"+local.String()
	if owner, ok := p.udpOwner[rev]; ok && owner != r.Conn {
		return nil // the other end's view of the same datagram
	}
	if _, ok := p.udpOwner[key]; !ok {
		if len(p.udpOwner) >= maxUDPFlows {
			clear(p.udpOwner)
		}
		p.udpOwner[key] = r.Conn
	}
	var comments []string
	if r.Truncated && r.Len > len(r.Data) {
		comments = append(comments, fmt.Sprintf("capture cap: this datagram was %d bytes; sockplay kept %d, the rest is left out of this capture", r.Len, len(r.Data)))
	}
	if r.Meta["truncated_by_kernel"] == true {
		comments = append(comments, "the receive buffer was smaller than the datagram: the kernel cut it, and this is what the program got")
	}
	if v := metaString(r, "dropped"); v != "" {
		comments = append(comments, "not answered: "+v)
	}
	comment := ""
	for i, c := range comments {
		if i > 0 {
			comment += "; "
		}
		comment += c
	}
	u := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	var ipl gopacket.SerializableLayer
	if src.Addr().Is6() || dst.Addr().Is6() {
		s, d := src.Addr().As16(), dst.Addr().As16()
		l := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolUDP, HopLimit: 64, SrcIP: s[:], DstIP: d[:]}
		_ = u.SetNetworkLayerForChecksum(l)
		ipl = l
	} else {
		s, d := src.Addr().As4(), dst.Addr().As4()
		p.ipID++
		l := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: p.ipID, Protocol: layers.IPProtocolUDP, SrcIP: s[:], DstIP: d[:]}
		_ = u.SetNetworkLayerForChecksum(l)
		ipl = l
	}
	data := r.Data
	if len(data) > 65507 {
		data = data[:65507]
	}
	return p.packet(r.At, comment, ipl, u, gopacket.Payload(data))
}

var serializeOpts = gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}

func (p *PcapWriter) packet(at time.Time, comment string, ls ...gopacket.SerializableLayer) error {
	if err := p.buf.Clear(); err != nil {
		return err
	}
	if err := gopacket.SerializeLayers(p.buf, serializeOpts, ls...); err != nil {
		return fmt.Errorf("build a packet: %w", err)
	}
	b := p.buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(b), Length: len(b)}
	var opts pcapgo.NgPacketOptions
	if comment != "" {
		p.comments[0] = comment
		opts.Comments = p.comments[:]
	}
	p.packets++
	return p.w.WritePacketWithOptions(ci, b, opts)
}

// parseAddr reads an event's address ("127.0.0.1:20000", "[::1]:20000"),
// IPv4-mapped IPv6 as IPv4.
func parseAddr(s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return ap, err
	}
	return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()), nil
}

// fillUnspecified gives a socket bound to 0.0.0.0 or :: the loopback
// address of its peer's family, as the packets would have carried.
func fillUnspecified(a, peer netip.AddrPort) netip.AddrPort {
	if !a.Addr().IsUnspecified() {
		return a
	}
	if peer.Addr().Is6() {
		return netip.AddrPortFrom(netip.IPv6Loopback(), a.Port())
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), a.Port())
}

func metaString(r *Record, k string) string {
	v, _ := r.Meta[k].(string)
	return v
}

// idRing is a set of at most n ids; the oldest go first.
type idRing struct {
	set  map[string]struct{}
	ring []string
	next int
}

func newIDRing(n int) idRing { return idRing{set: map[string]struct{}{}, ring: make([]string, n)} }

func (d *idRing) has(id string) bool { _, ok := d.set[id]; return ok }

func (d *idRing) add(id string) {
	if d.has(id) {
		return
	}
	if old := d.ring[d.next]; old != "" {
		delete(d.set, old)
	}
	d.ring[d.next] = id
	d.set[id] = struct{}{}
	d.next = (d.next + 1) % len(d.ring)
}
