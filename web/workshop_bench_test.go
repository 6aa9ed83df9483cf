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
// running echo server and a client that sent one message, at its first look
// (dashboard-ms), and the live dashboard's poll of its table after every
// participant sent one more message (poll-ms), compared with the baseline of
// one participant's GET /api/sessions/{id} in the same run: the ratios are
// how many session views each costs (below 200 means cheaper than opening
// every session).
//
//	go test -run XXX -bench WorkshopDashboard -benchtime 20x ./web/
func BenchmarkWorkshopDashboard(b *testing.B) {
	const participants = 200
	// One lab port each: 200 blocks fit the test's lab range.
	a := newTestApp(b, withWorkshop(func(c *Config) { c.JoinsPerMinute, c.ParticipantPorts = -1, 1 }))
	inst := a.instructor()
	w := inst.createWorkshop("bench")
	var last *browser
	var lastSession string
	type pclient struct {
		p               *browser
		session, client string
	}
	var clients []pclient
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
		clients = append(clients, pclient{p, j.Session, cli.ID})
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

	// The dashboard's first look at every session (its event-rate samples
	// cold), then the look the page makes every 2 s (the table fragment,
	// each participant having sent one more message since). Neither reads
	// events: the recorder counts errors as it records them.
	b.ResetTimer()
	var cold, poll time.Duration
	for range b.N {
		a.Site.ws.live.sampleMu.Lock()
		clear(a.Site.ws.live.samples)
		a.Site.ws.live.sampleMu.Unlock()
		start = time.Now()
		var out struct{ Workshops []workshopView }
		if code := inst.do("GET", "/api/workshops", nil, &out); code != http.StatusOK || len(out.Workshops[0].Participants) != participants {
			b.Fatal(fmt.Sprint(code, len(out.Workshops)))
		}
		cold += time.Since(start)

		b.StopTimer()
		for _, c := range clients {
			if code := c.p.do("POST", "/api/sessions/"+c.session+"/clients/"+c.client+"/send", map[string]string{"text": "again"}, nil); code != http.StatusOK {
				b.Fatalf("send: %d", code)
			}
		}
		b.StartTimer()
		start = time.Now()
		if res, raw := inst.send("GET", "/instructor/workshops/"+w.ID+"/participants", "", false); res.StatusCode != http.StatusOK || len(raw) == 0 {
			b.Fatal(res.StatusCode)
		}
		poll += time.Since(start)
	}
	b.StopTimer()
	per := cold / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "dashboard-ms")
	b.ReportMetric(float64((poll/time.Duration(b.N)).Microseconds())/1000, "poll-ms")
	b.ReportMetric(float64(baseline.Microseconds())/1000, "session-view-ms")
	b.ReportMetric(float64(per)/float64(baseline), "ratio")
	b.ReportMetric(float64(poll/time.Duration(b.N))/float64(baseline), "poll-ratio")
}
