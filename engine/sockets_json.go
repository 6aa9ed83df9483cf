package engine

import (
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendSocketsJSON appends rows as a JSON array, the same as encoding/json
// writes them (a test checks it), without reflection: the socket table is
// asked for every second by every open panel, and reflection was a third
// of its cost.
func AppendSocketsJSON(b []byte, rows []SocketInfo) []byte {
	// Room for them all at once: growing a buffer of a thousand rows (430
	// KB) copies it whole.
	n := 2
	for i := range rows {
		n += rows[i].jsonSizeHint()
	}
	b = slices.Grow(b, n)
	b = append(b, '[')
	for i := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = rows[i].appendJSON(b)
	}
	return append(b, ']')
}

// jsonSizeHint is about the most bytes appendJSON writes of s: its keys,
// its strings unescaped, and room for the numbers' digits.
func (s *SocketInfo) jsonSizeHint() int {
	n := 200 + len(s.ID) + len(s.Owner) + len(s.Kind) + len(s.Role) + len(s.Proto) + len(s.Net) +
		len(s.Local) + len(s.Remote) + len(s.State) + len(s.Since) + 40*len(s.Counters)
	for k := range s.Counters {
		n += len(k)
	}
	if s.TCPInfo != nil {
		n += 240 + len(s.TCPInfo.State)
	}
	return n
}

func (s *SocketInfo) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendSockString(b, s.ID)
	b = append(b, `,"owner":`...)
	b = appendSockString(b, s.Owner)
	if s.Kind != "" {
		b = append(b, `,"kind":`...)
		b = appendSockString(b, s.Kind)
	}
	b = append(b, `,"role":`...)
	b = appendSockString(b, s.Role)
	b = append(b, `,"proto":`...)
	b = appendSockString(b, s.Proto)
	b = append(b, `,"net":`...)
	b = appendSockString(b, s.Net)
	b = append(b, `,"local":`...)
	b = appendSockString(b, s.Local)
	if s.Remote != "" {
		b = append(b, `,"remote":`...)
		b = appendSockString(b, s.Remote)
	}
	b = append(b, `,"state":`...)
	b = appendSockString(b, s.State)
	b = append(b, `,"since":`...)
	b = appendSockString(b, s.Since)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, s.BytesIn, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, s.BytesOut, 10)
	b = append(b, `,"events":`...)
	b = strconv.AppendInt(b, s.Events, 10)
	if len(s.Counters) > 0 {
		b = append(b, `,"counters":{`...)
		keys := make([]string, 0, len(s.Counters))
		for k := range s.Counters {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendSockString(b, k)
			b = append(b, ':')
			b = strconv.AppendInt(b, s.Counters[k], 10)
		}
		b = append(b, '}')
	}
	if s.Closed {
		b = append(b, `,"closed":true`...)
	}
	if t := s.TCPInfo; t != nil {
		b = append(b, `,"tcp_info":{"state":`...)
		b = appendSockString(b, t.State)
		b = append(b, `,"rtt_us":`...)
		b = strconv.AppendUint(b, uint64(t.RTTus), 10)
		b = append(b, `,"rttvar_us":`...)
		b = strconv.AppendUint(b, uint64(t.RTTVarUs), 10)
		b = append(b, `,"retransmits":`...)
		b = strconv.AppendUint(b, uint64(t.Retransmits), 10)
		b = append(b, `,"total_retrans":`...)
		b = strconv.AppendUint(b, uint64(t.TotalRetr), 10)
		b = append(b, `,"snd_cwnd":`...)
		b = strconv.AppendUint(b, uint64(t.SndCwnd), 10)
		b = append(b, `,"unacked":`...)
		b = strconv.AppendUint(b, uint64(t.Unacked), 10)
		if t.Backlog != 0 {
			b = append(b, `,"backlog":`...)
			b = strconv.AppendUint(b, uint64(t.Backlog), 10)
		}
		b = append(b, `,"bytes_acked":`...)
		b = strconv.AppendUint(b, t.BytesAcked, 10)
		b = append(b, `,"bytes_received":`...)
		b = strconv.AppendUint(b, t.BytesReceived, 10)
		b = append(b, `,"notsent_bytes":`...)
		b = strconv.AppendUint(b, uint64(t.NotSent), 10)
		b = append(b, '}')
	}
	return append(b, '}')
}

// jsonPlain are the bytes a JSON string holds as they are: printable
// ASCII but the quote and the backslash.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainPrefix is how many of s's first bytes a JSON string holds as they
// are, found 8 bytes at a time (a table's strings are 6 to 30 bytes): a
// word's bytes are all plain unless one is below 0x20, has its high bit
// set, or is a quote or a backslash (each test exact as to whether any
// byte is; the bytewise loop then finds which).
func plainPrefix(s string) int {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		q, bs := x^(lo*'"'), x^(lo*'\\')
		if ((x-lo*0x20)&^x|x|(q-lo)&^q|(bs-lo)&^bs)&hi != 0 {
			break
		}
	}
	for i < len(s) && jsonPlain[s[i]] {
		i++
	}
	return i
}

// appendSockString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced (as encoding/json does).
func appendSockString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	plain := plainPrefix(s) // ids, addresses, states: usually nothing to escape
	b = append(b, s[:plain]...)
	for i := plain; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
