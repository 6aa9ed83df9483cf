package web

import (
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// /metrics, scraped by curl (no code of ours), in the Prometheus text
// format: the events recorded follow what happened, and each open workshop
// has its participants and whether it is frozen.
func TestWorkshopMetrics(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	f := newWorkshopFixture(t)
	f.inst.do("POST", "/api/workshops/"+f.w.ID+"/freeze", map[string]bool{"frozen": true}, nil)
	waitRecorded(t, f.bob, f.bobJ.Session, 6)
	m := httptest.NewServer(f.a.Site.MetricsHandler())
	defer m.Close()
	value := func(text, name string) float64 {
		t.Helper()
		mm := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` ([0-9.e+]+)$`).FindStringSubmatch(text)
		if mm == nil {
			t.Fatalf("no %s in\n%.2000s", name, text)
		}
		v, _ := strconv.ParseFloat(mm[1], 64)
		return v
	}
	scrape := func() string {
		out, err := exec.Command(curl, "-sS", "--max-time", "20", m.URL).Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		return string(out)
	}
	text := scrape()
	if !strings.Contains(text, "# TYPE sockplay_events_recorded_total counter") {
		t.Errorf("no TYPE line for the events counter")
	}
	before := value(text, "sockplay_events_recorded_total")
	if before < 6 || value(text, "sockplay_open_sockets") < 4 {
		t.Errorf("recorded %v, open sockets %v", before, value(text, "sockplay_open_sockets"))
	}
	for _, name := range []string{`sockplay_workshop_participants{workshop="` + f.w.ID + `"}`, `sockplay_workshop_frozen{workshop="` + f.w.ID + `"}`} {
		if v := value(text, name); v != map[bool]float64{true: 2, false: 1}[strings.Contains(name, "participants")] {
			t.Errorf("%s = %v", name, v)
		}
	}
	for _, name := range []string{"sockplay_recorder_queue", "sockplay_backpressure_waits_total", "sockplay_live_viewers", "go_goroutines", "process_resident_memory_bytes"} {
		value(text, name)
	}
	// Bob sends: the counter grows.
	f.bob.do("POST", "/api/sessions/"+f.bobJ.Session+"/clients/"+f.bobCli+"/send", map[string]string{"text": "more"}, nil)
	for deadline := time.Now().Add(30 * time.Second); value(scrape(), "sockplay_events_recorded_total") < before+4; {
		if time.Now().After(deadline) {
			t.Fatal("sockplay_events_recorded_total did not grow by Bob's send, recv and echo")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
