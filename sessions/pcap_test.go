package sessions

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/sockplay/sockplay/engine"
)

// rec builds a record of conn for the writer's unit tests.
func rec(conn, server string, kind engine.Kind, local, remote string, data string, meta map[string]any) *Record {
	r := &Record{Event: engine.Event{Session: "s", Server: server, Conn: conn, At: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC),
		Kind: kind, Net: engine.NetTCP, Local: local, Remote: remote, Meta: meta}}
	if data != "" {
		r.Data, r.Len = []byte(data), len(data)
	}
	return r
}

type decoded struct {
	src, dst string
	tcp      *layers.TCP
	payload  []byte
	comments []string
}

func decodeAll(t *testing.T, b []byte) []decoded {
	t.Helper()
	r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var out []decoded
	for {
		data, _, opts, err := r.ReadPacketDataWithOptions()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		first := layers.LayerTypeIPv4
		if data[0]>>4 == 6 {
			first = layers.LayerTypeIPv6
		}
		p := gopacket.NewPacket(data, first, gopacket.Default)
		if p.ErrorLayer() != nil {
			t.Fatalf("packet %d: %v", len(out)+1, p.ErrorLayer().Error())
		}
		d := decoded{comments: opts.Comments}
		nf := p.NetworkLayer().NetworkFlow()
		if tl, ok := p.TransportLayer().(*layers.TCP); ok {
			d.tcp, d.payload = tl, tl.Payload
			d.src, d.dst = fmt.Sprintf("%v:%d", nf.Src(), tl.SrcPort), fmt.Sprintf("%v:%d", nf.Dst(), tl.DstPort)
		}
		out = append(out, d)
	}
}

func write(t *testing.T, recs ...*Record) (*PcapWriter, []decoded) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, Session{Name: "unit"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return w, decodeAll(t, buf.Bytes())
}

// The other end's accept recorded after the client had finished: still one
// connection, and the server's FIN (seen only by the server) is in it.
func TestPcapLateOtherEndIsTheSameConnection(t *testing.T) {
	const cli, srv = "127.0.0.1:40000", "127.0.0.1:20000"
	_, pkts := write(t,
		rec("c-a", "cli-1", engine.KindConnect, cli, srv, "", nil),
		rec("c-a", "cli-1", engine.KindSend, cli, srv, "hi", nil),
		rec("c-a", "cli-1", engine.KindClose, cli, srv, "", map[string]any{"by": "local", "half": false, "rst": false}),
		rec("c-b", "srv-1", engine.KindAccept, srv, cli, "", nil),
		rec("c-b", "srv-1", engine.KindRecv, srv, cli, "hi", nil),
		rec("c-b", "srv-1", engine.KindClose, srv, cli, "", map[string]any{"by": "peer", "half": true, "rst": false}),
		rec("c-b", "srv-1", engine.KindClose, srv, cli, "", map[string]any{"by": "local", "half": false, "rst": false}),
	)
	var syns, fins int
	var data []byte
	for _, p := range pkts {
		if p.tcp.SYN && !p.tcp.ACK {
			syns++
		}
		if p.tcp.FIN {
			fins++
		}
		data = append(data, p.payload...)
	}
	if syns != 1 || fins != 2 || string(data) != "hi" {
		t.Errorf("%d SYNs, %d FINs, payload %q; want 1, 2 (one each way), \"hi\"", syns, fins, data)
	}
	if pkts[0].src != cli || !strings.Contains(pkts[0].comments[0], "c-a") {
		t.Errorf("the SYN: %+v", pkts[0])
	}
}

// A send longer than a segment is split; IPv6 addresses make IPv6 packets.
func TestPcapSplitsLongSendsAndSpeaksIPv6(t *testing.T) {
	big := strings.Repeat("x", 2*maxSegment+5)
	_, pkts := write(t,
		rec("c-a", "cli-1", engine.KindConnect, "[::1]:40000", "[::1]:20000", "", nil),
		rec("c-a", "cli-1", engine.KindSend, "[::1]:40000", "[::1]:20000", big, nil),
	)
	if len(pkts) != 6 || len(pkts[3].payload) != maxSegment || len(pkts[5].payload) != 5 || pkts[3].src != "::1:40000" {
		t.Fatalf("%d packets: %+v", len(pkts), pkts)
	}
	if pkts[4].tcp.Seq != pkts[3].tcp.Seq+maxSegment {
		t.Errorf("second segment seq %d, first %d", pkts[4].tcp.Seq, pkts[3].tcp.Seq)
	}
}

// A session of many short connections: the writer's state stays bounded.
func TestPcapStateStaysBounded(t *testing.T) {
	var buf countingWriter
	w, err := NewPcapWriter(&buf, Session{Name: "many"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20_000 {
		cli, srv := fmt.Sprintf("127.0.0.%d:%d", 1+i/60000, 1024+i%60000), "127.0.0.1:20000"
		ca, cb := fmt.Sprintf("c-a%d", i), fmt.Sprintf("c-b%d", i)
		for _, r := range []*Record{
			rec(ca, "cli-1", engine.KindConnect, cli, srv, "", nil),
			rec(cb, "srv-1", engine.KindAccept, srv, cli, "", nil),
			rec(ca, "cli-1", engine.KindSend, cli, srv, "ping", nil),
			rec(cb, "srv-1", engine.KindRecv, srv, cli, "ping", nil),
			// The client closes without waiting; the server's close is
			// recorded, and one in ten servers never closes.
			rec(ca, "cli-1", engine.KindClose, cli, srv, "", map[string]any{"by": "local", "half": false, "rst": false}),
		} {
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if i%10 != 0 {
			if err := w.Write(rec(cb, "srv-1", engine.KindClose, srv, cli, "", map[string]any{"by": "local", "half": false, "rst": false})); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(w.flows) > 2*maxLinger+2 || len(w.tuples) > maxLinger+1 || len(w.done.set) > maxDone {
		t.Errorf("state after 20,000 connections: %d flows, %d tuples, %d ended ids", len(w.flows), len(w.tuples), len(w.done.set))
	}
	if w.Packets() != 20_000*6+18_000*2 {
		t.Errorf("%d packets, want %d (handshake, data, FIN+ACK each; the server's FIN+ACK in 9 of 10)", w.Packets(), 20_000*6+18_000*2)
	}
}

type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }
