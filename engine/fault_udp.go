package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"time"
)

// Datagram faults of a udp-echo server. Upstream is a datagram coming in,
// downstream its reply; toxicity is the chance per datagram. drop loses
// the datagram (upstream: before the server sees it; downstream: the
// reply), duplicate delivers it twice, reorder holds one back until the
// next has been handled (or hold_ms passed), in either direction alike:
// it changes the order the server answers in.

// heldDatagram is a datagram a reorder fault holds back.
type heldDatagram struct {
	b         []byte
	truncated bool
	peer      netip.AddrPort
	f         *faultInst
}

func rollDatagram(f *faultInst) bool { return rand.Float64() < f.toxicity() }

func (s *packetServer) udpEvent(fl *udpFlow, f *faultInst, up bool, action string, kv ...any) {
	f.fired.Add(1)
	ev := fl.tap.event(KindFault)
	ev.Meta = faultMeta(f, up, action, kv...)
	fl.tap.emit(ev)
}

// handleFaulted handles one datagram under the upstream faults of p (nil:
// only a held datagram is left to deliver).
func (s *packetServer) handleFaulted(p *pipeline, b []byte, truncated bool, peer netip.AddrPort) {
	dup := false
	if p != nil {
		for _, f := range p.faults {
			if !f.upstream() || !rollDatagram(f) {
				continue
			}
			switch f.typ {
			case "drop":
				s.received.Add(1)
				s.udpEvent(s.flow(peer), f, true, fmt.Sprintf("dropped a datagram of %d bytes on its way in: the server never sees it", len(b)), "len", len(b))
				return
			case "reorder":
				if s.held == nil {
					s.held = &heldDatagram{b: append([]byte(nil), b...), truncated: truncated, peer: peer, f: f}
					s.pc.SetReadDeadline(time.Now().Add(time.Duration(f.attr("hold_ms")) * time.Millisecond))
					s.udpEvent(s.flow(peer), f, true, fmt.Sprintf("held back a datagram of %d bytes until the next one", len(b)), "len", len(b))
					return
				}
			case "duplicate":
				dup = true
				s.udpEvent(s.flow(peer), f, true, fmt.Sprintf("duplicated a datagram of %d bytes: the server gets it twice", len(b)), "len", len(b))
			}
		}
	}
	s.handle(b, truncated, peer)
	if dup {
		s.handle(b, truncated, peer)
	}
	s.flushHeld("after the next one")
}

// flushHeld handles the datagram a reorder fault held back.
func (s *packetServer) flushHeld(when string) {
	h := s.held
	if h == nil {
		return
	}
	s.held = nil
	s.pc.SetReadDeadline(time.Time{})
	s.udpEvent(s.flow(h.peer), h.f, true, "delivered the held datagram "+when, "len", len(h.b))
	s.handle(h.b, h.truncated, h.peer)
}

// heldTimeout reports whether a read error is a reorder fault's deadline:
// no datagram followed the held one in time, so it goes now.
func (s *packetServer) heldTimeout(err error) bool {
	if s.held == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	s.flushHeld("when no other came within hold_ms")
	return true
}

// faultReply applies the downstream faults to a reply; true: it is dealt
// with (dropped, or sent twice).
func (s *packetServer) faultReply(p *pipeline, fl *udpFlow, reply []byte, peer netip.AddrPort) bool {
	for _, f := range p.faults {
		if !f.downstream() || !rollDatagram(f) {
			continue
		}
		switch f.typ {
		case "drop":
			s.udpEvent(fl, f, false, fmt.Sprintf("dropped the reply datagram of %d bytes on its way out", len(reply)), "len", len(reply))
			return true
		case "duplicate":
			s.udpEvent(fl, f, false, fmt.Sprintf("sent the reply datagram of %d bytes twice", len(reply)), "len", len(reply))
			for range 2 {
				fl.tap.data(KindDatagramOut, reply)
				if _, err := s.pc.WriteToUDPAddrPort(reply, peer); err != nil {
					if !s.closing.Load() {
						fl.tap.fail(err, map[string]any{"op": "sendto", "len": len(reply)})
					}
					return true
				}
				s.replied.Add(1)
			}
			return true
		}
	}
	return false
}
