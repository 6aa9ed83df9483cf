package web

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// BenchmarkWorkshopDashboard: the instructor's GET /api/workshops (what the
// /instructor page reads) for one workshop of 200 participants, each with a
// running echo server and a client that sent one message, compared with the
// baseline of one participant's GET /api/sessions/{id} in the same run: the
// ratio is how many session views one dashboard costs (below 200 means the
// dashboard is cheaper than opening every session).
//
//	go test -run XXX -bench WorkshopDashboard -benchtime 20x ./web/
func BenchmarkWorkshopDashboard(b *testing.B) {
	const participants = 200
	a := newTestApp(b, withWorkshop(func(c *Config) { c.JoinsPerMinute = -1 }))
	inst := a.instructor()
	w := inst.createWorkshop("bench")
	var last *browser
	var lastSession string
	for i := range participants {
		p, j := a.participant(w.Code, "p"+strconv.Itoa(i))
		var srv struct{ Addr string }
		if code := p.do("POST", "/api/sessions/"+j.Session+"/servers", map[string]any{"kind": "tcp-echo", "port": 0}, &srv); code != http.StatusCreated {
			b.Fatalf("participant %d: start: %d", i, code)
		}
		var cli struct{ ID string }
		if code := p.do("POST", "/api/sessions/"+j.Session+"/clients", map[string]any{"kind": "tcp", "target": srv.Addr}, &cli); code != http.StatusCreated {
			b.Fatalf("participant %d: client: %d", i, code)
		}
		if code := p.do("POST", "/api/sessions/"+j.Session+"/clients/"+cli.ID+"/send", map[string]string{"text": "hello"}, nil); code != http.StatusOK {
			b.Fatalf("participant %d: send: %d", i, code)
		}
		last, lastSession = p, j.Session
	}
	// Every participant's echo is recorded before timing.
	deadline := time.Now().Add(time.Minute)
	for {
		var wv workshopView
		inst.do("GET", "/api/workshops/"+w.ID, nil, &wv)
		done := 0
		for _, p := range wv.Participants {
			if p.Events >= 6 {
				done++
			}
		}
		if done == participants {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d participants' events recorded", done, participants)
		}
		time.Sleep(50 * time.Millisecond)
	}

	start := time.Now()
	for range b.N {
		if code := last.do("GET", "/api/sessions/"+lastSession, nil, nil); code != http.StatusOK {
			b.Fatal(code)
		}
	}
	baseline := time.Since(start) / time.Duration(b.N)

	b.ResetTimer()
	start = time.Now()
	for range b.N {
		var out struct{ Workshops []workshopView }
		if code := inst.do("GET", "/api/workshops", nil, &out); code != http.StatusOK || len(out.Workshops[0].Participants) != participants {
			b.Fatal(fmt.Sprint(code, len(out.Workshops)))
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.StopTimer()
	b.ReportMetric(float64(per.Microseconds())/1000, "dashboard-ms")
	b.ReportMetric(float64(baseline.Microseconds())/1000, "session-view-ms")
	b.ReportMetric(float64(per)/float64(baseline), "ratio")
}
