package engine

import (
	"encoding/json"
	"net"
	"testing"
)

// The recording of a server's faults (server-start's faults, then the
// change events), folded and given to the restoring start, gives the
// server the faults it had when it stopped: their settings, on or off.
// The events go through JSON as the recorder stores them.
func TestFaultsRestoredFromTheRecording(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	srv, err := startWithFaults(lab, "s", "tcp-echo", "", `[{"name":"slow","type":"latency","attributes":{"latency_ms":5}},{"type":"slicer"}]`)
	if err != nil {
		t.Fatal(err)
	}
	addFault(t, lab, "s", srv.ID, `{"type":"reset","toxicity":0.25,"attributes":{"bytes":7}}`)
	addFault(t, lab, "s", srv.ID, `{"type":"refuse"}`)
	lab.UpdateFault("s", srv.ID, "slow", FaultPatch{Attributes: json.RawMessage(`{"jitter_ms":2}`)})
	lab.UpdateFault("s", srv.ID, "refuse", FaultPatch{Enabled: new(false)})
	lab.RemoveFault("s", srv.ID, "slicer")
	want, _ := lab.Faults("s", srv.ID)
	if _, err := lab.StopServer("s", srv.ID); err != nil {
		t.Fatal(err)
	}

	var list []Fault
	for _, ev := range sink.events() {
		if ev.Server != srv.ID || ev.Conn != "" {
			continue
		}
		b, _ := json.Marshal(ev.Meta)
		var meta map[string]any
		json.Unmarshal(b, &meta)
		switch ev.Kind {
		case KindServerStart:
			list = StartFaults(meta)
		case KindFault:
			list = ApplyFaultChange(list, meta)
		}
	}
	lab2, _ := newTestLab(t, LabConfig{})
	info, err := lab2.StartServer("s", ServerSpec{Kind: "tcp-echo", ID: srv.ID, Restore: true, Port: portNum(t, srv.Addr), Faults: FaultSpecs(list)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := lab2.Faults("s", info.ID)
	if len(got) != len(want) {
		t.Fatalf("restored %+v, want %+v", got, want)
	}
	for i := range want {
		w, g := want[i], got[i]
		w.Fired, g.Fired = 0, 0
		wb, _ := json.Marshal(w)
		gb, _ := json.Marshal(g)
		if string(wb) != string(gb) {
			t.Errorf("fault %d restored as %s, want %s", i, gb, wb)
		}
	}
	// The refuse came back switched off: the server accepts.
	c, err := net.Dial("tcp", info.Addr)
	if err != nil {
		t.Fatalf("dial the restored server: %v", err)
	}
	c.Close()
}
