package engine

import "testing"

func TestProbeOrder(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{CaptureCap: -1})
	srv := startEcho(t, lab, "s", `{"mode":"echo"}`)
	badClose, badSend := 0, 0
	const n = 300
	for range n {
		ci := openClient(t, lab, "s", srv.Addr)
		if err := lab.Send("s", ci.ID, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		sink.waitFor(t, "echo", func(evs []Event) bool { return sumLen(filter(evs, KindRecv, ci.ID)) == 5 })
		lab.CloseClient("s", ci.ID, true)
		evs := sink.waitFor(t, "closes", func(evs []Event) bool { return len(filter(evs, KindClose, ci.ID)) == 2 })
		var ks []Event
		for _, ev := range evs {
			if ev.Server == ci.ID && ev.Kind != KindConnect {
				ks = append(ks, ev)
			}
		}
		if ks[0].Kind != KindSend {
			badSend++
		}
		cl := filter(evs, KindClose, ci.ID)
		if cl[0].Meta["by"] != "local" {
			badClose++
		}
		lab.CloseClient("s", ci.ID, false)
	}
	t.Logf("of %d: recv before send %d, peer close before local half-close %d", n, badSend, badClose)
}
