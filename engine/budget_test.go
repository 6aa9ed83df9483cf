package engine

import (
	"io"
	"math"
	"net"
	"testing"
	"time"
)

func TestFairShares(t *testing.T) {
	type d struct {
		rate   float64
		hungry bool
	}
	h := d{hungry: true}
	tests := []struct {
		name string
		ds   []d
		want []float64
	}{
		{"one session alone gets it all", []d{h}, []float64{100}},
		{"two floods split it", []d{h, h}, []float64{50, 50}},
		{"a flood takes what a quiet session leaves", []d{{rate: 10}, h}, []float64{90, 90}},
		{"quiet ones are charged what they use", []d{{rate: 5}, h, {rate: 5}, h}, []float64{45, 45, 45, 45}},
		{"a quiet one above the level counts at the level", []d{{rate: 5}, {rate: 60}, h}, []float64{47.5, 47.5, 47.5}},
		{"nobody waits: each may use what the others leave", []d{{rate: 10}, {rate: 30}}, []float64{70, 90}},
		{"nobody waits, both busy: at least an equal share", []d{{rate: 80}, {rate: 70}}, []float64{50, 50}},
		{"nobody busy", []d{{}, {}}, []float64{100, 100}},
		{"none", nil, []float64{}},
	}
	for _, tt := range tests {
		got := fairShares(100, tt.ds, func(x d) (float64, bool) { return x.rate, x.hungry })
		if len(got) != len(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-tt.want[i]) > 1e-9 {
				t.Errorf("%s: shares %v, want %v", tt.name, got, tt.want)
				break
			}
		}
	}
}

// The budget follows what the sessions do, with real sockets: a session
// flooding alone gets the whole budget; a second flood halves it; a quiet
// session's share never falls below an equal one; when a flood stops, the
// other gets everything back. MaxEventRate caps every share.
func TestEventBudgetIsSharedFairly(t *testing.T) {
	const total = 4000
	lab, _ := newTestLab(t, LabConfig{EventBudget: total})
	flood := func(session string) (stop func()) {
		srv := startEcho(t, lab, session, `{"recv_size":16}`)
		c, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go io.Copy(io.Discard, c)
		go func() {
			defer close(done)
			b := make([]byte, 4096)
			for {
				if _, err := c.Write(b); err != nil {
					return
				}
			}
		}()
		return func() { c.Close(); <-done }
	}
	rateNear := func(session string, want float64) func() bool {
		return func() bool { return math.Abs(float64(lab.EventRate(session))-want) <= want/100+1 }
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(waitTimeout)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (rates: a %d, b %d, quiet %d)", what,
					lab.EventRate("a"), lab.EventRate("b"), lab.EventRate("quiet"))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	stopA := flood("a")
	defer stopA()
	waitUntil("a alone to get the whole budget", rateNear("a", total))

	quiet := startEcho(t, lab, "quiet", "")
	stopB := flood("b")
	waitUntil("two floods to split what the quiet session leaves", func() bool {
		return rateNear("a", float64(lab.EventRate("b")))() && lab.EventRate("a") > total/3
	})
	roundTripLab(t, quiet.Addr)
	if r := lab.EventRate("quiet"); r < total/3-1 {
		t.Errorf("the quiet session's share is %d events/s, below an equal share (%d)", r, total/3)
	}
	stopB()
	waitUntil("a to get the budget back", func() bool { return lab.EventRate("a") > total*9/10 })
}

func TestMaxEventRateCapsTheShare(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{EventBudget: 100000, MaxEventRate: 1000})
	srv := startEcho(t, lab, "s", "")
	roundTripLab(t, srv.Addr)
	if r := lab.EventRate("s"); r != 1000 {
		t.Errorf("share %d events/s, want the cap 1000", r)
	}
	nolimit, _ := newTestLab(t, LabConfig{})
	srv = startEcho(t, nolimit, "s", "")
	roundTripLab(t, srv.Addr)
	if r := nolimit.EventRate("s"); r != 0 {
		t.Errorf("without a budget or a cap the rate is %d, want 0 (no limit)", r)
	}
}
