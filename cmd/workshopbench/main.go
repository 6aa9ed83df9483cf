// Command workshopbench measures one sockplay instance the way a workshop
// uses it: it builds the real binary, starts it in workshop mode on a
// temporary database, logs in as the instructor, creates a workshop and
// joins it as N participants. Each participant, as a browser and a terminal
// would: opens a live WebSocket viewer of their session, starts a tcp-echo
// server, holds C connections to it that each send a short message every
// interval and read the echo, and calls the API every 5 s (each from a
// random phase, as people do not act in step); the
// instructor's dashboard is read every 2 s as the page does.
//
// It reports what the participants feel — how long from a message written
// on a socket to its recv event arriving on that participant's viewer
// (p50/p99), how long the dashboard and the API take — and what the
// operator watches: events recorded a second, the process's RSS, CPU and
// goroutines, and whether anything written was lost (every message must be
// seen by its viewer, live or through a gap fetched from the API).
//
//	go run ./cmd/workshopbench                 # 200 participants, 60 s
//	go run ./cmd/workshopbench -d 30m -sample 1m   # the soak
//
// The soak prints a sample line every -sample and, at the end, whether RSS
// and goroutines stayed flat. Everything stays on loopback.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/sockplay/sockplay/cmd/internal/realbin"
)

const password = "workshopbench-instructor"

func main() {
	n := flag.Int("participants", 200, "participants who join")
	conns := flag.Int("conns", 10, "connections each participant holds to their echo server")
	every := flag.Duration("interval", time.Second, "how often each connection sends a message")
	d := flag.Duration("d", time.Minute, "how long the measurement runs, after the participants have joined")
	dashEvery := flag.Duration("dashboard", 2*time.Second, "how often the instructor's dashboard is read (0: never)")
	sample := flag.Duration("sample", 0, "print RSS, goroutines and events every this long (default: d/6)")
	bin := flag.String("bin", "", "sockplay binary to measure (default: go build the module in the current directory)")
	extra := flag.String("flags", "", "more flags for sockplay, space-separated")
	flag.Parse()
	if *sample <= 0 {
		*sample = max(*d/6, time.Second)
	}
	cfg := config{participants: *n, conns: *conns, every: *every, d: *d, sample: *sample, dash: *dashEvery}
	if err := run(*bin, strings.Fields(*extra), cfg); err != nil {
		fmt.Fprintln(os.Stderr, "workshopbench:", err)
		os.Exit(1)
	}
}

type config struct {
	participants, conns int
	every, d, sample    time.Duration
	dash                time.Duration // how often the dashboard is read (0: never)
}

func run(bin string, extra []string, cfg config) error {
	dir, err := os.MkdirTemp("", "workshopbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		if bin, err = realbin.Build(dir); err != nil {
			return err
		}
	}
	mport, err := realbin.FreePort()
	if err != nil {
		return err
	}
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	// Limits a 200-person room needs: each participant's sockets (a
	// listener, C accepted connections), joins from one address (all of
	// them come from loopback here), and lab ports away from the defaults.
	sockets := cfg.participants*(2*cfg.conns+2) + 100
	args := append([]string{"-workshop", "-db", filepath.Join(dir, "workshop.db"),
		"-lab-ports", "22000-26999", "-tutorial-ports", "none", "-log-level", "warn",
		"-max-joins", "0", "-max-new-sessions", "0", "-max-sockets", strconv.Itoa(sockets),
		"-metrics-addr", fmt.Sprintf("127.0.0.1:%d", mport)}, extra...)
	sp, err := realbin.Start(bin, args, "SOCKPLAY_INSTRUCTOR_PASSWORD="+password)
	if err != nil {
		return err
	}
	defer sp.Stop()

	instructor := newClient(sp.URL)
	if err := instructor.call("POST", "/api/workshop/login", map[string]string{"password": password}, nil); err != nil {
		return fmt.Errorf("instructor log-in: %w", err)
	}
	var wk struct{ ID, Code string }
	if err := instructor.call("POST", "/api/workshops", map[string]string{"name": "workshopbench"}, &wk); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fmt.Fprintf(os.Stderr, "%d participants joining workshop %s…\n", cfg.participants, wk.Code)
	joinStart := time.Now()
	ps := make([]*participant, cfg.participants)
	var joinErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range ps {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			p, err := join(ctx, sp, wk.Code, i, cfg.conns)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && joinErr == nil {
				joinErr = fmt.Errorf("participant %d: %w", i, err)
			}
			ps[i] = p
		})
	}
	wg.Wait()
	if joinErr != nil {
		return joinErr
	}
	fmt.Fprintf(os.Stderr, "joined in %v; measuring for %v\n", time.Since(joinStart).Round(time.Millisecond), cfg.d)

	var dash latencies
	dashStop := make(chan struct{})
	var dashWG sync.WaitGroup
	dashWG.Go(func() {
		if cfg.dash <= 0 {
			return
		}
		t := time.NewTicker(cfg.dash)
		defer t.Stop()
		for {
			select {
			case <-dashStop:
				return
			case <-t.C:
			}
			t0 := time.Now()
			if err := instructor.call("GET", "/api/workshops/"+wk.ID+"?sort=help", nil, nil); err != nil {
				fmt.Fprintln(os.Stderr, "dashboard:", err)
				continue
			}
			dash.add(time.Since(t0))
		}
	})

	before, err := scrape(metrics)
	if err != nil {
		return err
	}
	start := time.Now()
	sendCtx, stopSending := context.WithCancel(ctx)
	defer stopSending()
	var senders sync.WaitGroup
	for _, p := range ps {
		p.run(sendCtx, &senders, cfg.every)
	}
	// The load generator shares the two cores: how late its own timers
	// fire says how much of a latency figure is its own scheduling.
	var late latencies
	lateStop := make(chan struct{})
	var lateWG sync.WaitGroup
	lateWG.Go(func() {
		const tick = 10 * time.Millisecond
		next := time.Now().Add(tick)
		for {
			select {
			case <-lateStop:
				return
			case <-time.After(time.Until(next)):
			}
			late.add(time.Since(next))
			next = next.Add(tick)
			if time.Until(next) < 0 {
				next = time.Now().Add(tick)
			}
		}
	})
	var samples []sampleRow
	tick := time.NewTicker(cfg.sample)
	endAt := start.Add(cfg.d)
	end := time.After(cfg.d)
	fmt.Printf("| time | RSS | goroutines | events recorded | events/s | event→viewer p99 (this sample) |\n|---|---|---|---|---|---|\n")
	last := before
	lastAt := start
	for done := false; !done; {
		select {
		case <-tick.C:
		case <-end:
			done = true
		}
		m, err := scrape(metrics)
		if err != nil {
			return err
		}
		now := time.Now()
		var lat latencies
		for _, p := range ps {
			lat.merge(p.takeSample())
		}
		row := sampleRow{at: now.Sub(start), rss: m["process_resident_memory_bytes"], goroutines: m["go_goroutines"],
			events: m["sockplay_events_recorded_total"], rate: (m["sockplay_events_recorded_total"] - last["sockplay_events_recorded_total"]) / now.Sub(lastAt).Seconds(),
			p99: lat.pct(0.99)}
		samples = append(samples, row)
		fmt.Printf("| %v | %.0f MB | %.0f | %.0f | %.0f | %v |\n", row.at.Round(time.Second), row.rss/1e6, row.goroutines, row.events, row.rate, row.p99.Round(100*time.Microsecond))
		last, lastAt = m, now
		if time.Until(endAt) < cfg.sample/10 {
			done = true // this sample was the last
		}
	}
	tick.Stop()
	stopSending()
	senders.Wait()
	close(lateStop)
	lateWG.Wait()
	elapsed := time.Since(start)
	close(dashStop)
	dashWG.Wait()
	after, err := scrape(metrics)
	if err != nil {
		return err
	}

	// Nothing lost: every message written reaches its viewer (a gap's
	// events are fetched from the API, as the page does).
	fmt.Fprintln(os.Stderr, "checking that every message reached its viewer…")
	var sent, lost, gaps, echoFail int64
	var all, api latencies
	for _, p := range ps {
		s, l, g, err := p.finish(ctx)
		if err != nil {
			return fmt.Errorf("participant %d: %w", p.i, err)
		}
		sent += s
		lost += l
		gaps += g
		echoFail += p.echoFail.Load()
		all.merge(&p.all)
		api.merge(&p.api)
	}
	cpu := after["process_cpu_seconds_total"] - before["process_cpu_seconds_total"]
	events := after["sockplay_events_recorded_total"] - before["sockplay_events_recorded_total"]

	fmt.Printf("\n%d participants × %d connections, a message every %v each, for %v (one sockplay, workshop mode, loopback)\n\n",
		cfg.participants, cfg.conns, cfg.every, elapsed.Round(time.Second))
	fmt.Printf("| figure | value | goal |\n|---|---|---|\n")
	fmt.Printf("| messages written (and echoed) | %d (%.0f/s), %d echoes missing or wrong |  |\n", sent, float64(sent)/elapsed.Seconds(), echoFail)
	fmt.Printf("| events recorded | %.0f (%.0f/s) |  |\n", events, events/elapsed.Seconds())
	fmt.Printf("| message written → its recv event on the participant's viewer | p50 %v, p90 %v, p99 %v, max %v | p99 < 100 ms |\n",
		all.pct(0.5).Round(10*time.Microsecond), all.pct(0.9).Round(10*time.Microsecond), all.pct(0.99).Round(10*time.Microsecond), all.pct(1).Round(time.Millisecond))
	fmt.Printf("| the load generator's own 10 ms timer, how late it fired (its share of the latency above) | p50 %v, p99 %v, max %v |  |\n",
		late.pct(0.5).Round(10*time.Microsecond), late.pct(0.99).Round(10*time.Microsecond), late.pct(1).Round(time.Millisecond))
	fmt.Printf("| instructor dashboard (GET /api/workshops/{wid}, every %v) |", cfg.dash)
	fmt.Printf(" p50 %v, p99 %v |  |\n", dash.pct(0.5).Round(100*time.Microsecond), dash.pct(0.99).Round(100*time.Microsecond))
	fmt.Printf("| a participant's GET /api/sessions/{id} (every 5 s each) | p50 %v, p99 %v |  |\n", api.pct(0.5).Round(100*time.Microsecond), api.pct(0.99).Round(100*time.Microsecond))
	fmt.Printf("| sockplay's RSS | %.0f MB at the end, %.0f MB at most | < 500 MB |\n", after["process_resident_memory_bytes"]/1e6, maxOf(samples, func(r sampleRow) float64 { return r.rss })/1e6)
	fmt.Printf("| sockplay's CPU | %.0f%% of one core |  |\n", 100*cpu/elapsed.Seconds())
	fmt.Printf("| goroutines | %.0f at the start, %.0f at the end |  |\n", before["go_goroutines"], after["go_goroutines"])
	fmt.Printf("| messages not seen by their viewer (lost) | %d (%d gaps fetched from the API) | 0 |\n", lost, gaps)
	if len(samples) >= 6 {
		third := len(samples) / 3
		early := samples[third-1] // after the warm-up third
		fin := samples[len(samples)-1]
		fmt.Printf("| soak: from %v to %v | RSS %.0f → %.0f MB (%+.1f%%), goroutines %.0f → %.0f |  flat |\n",
			early.at.Round(time.Second), fin.at.Round(time.Second), early.rss/1e6, fin.rss/1e6, 100*(fin.rss-early.rss)/early.rss, early.goroutines, fin.goroutines)
	}
	if lost > 0 || echoFail > 0 {
		return fmt.Errorf("%d messages lost, %d echoes missing", lost, echoFail)
	}
	return nil
}

type sampleRow struct {
	at                            time.Duration
	rss, goroutines, events, rate float64
	p99                           time.Duration
}

func maxOf(rows []sampleRow, f func(sampleRow) float64) float64 {
	m := 0.0
	for _, r := range rows {
		m = max(m, f(r))
	}
	return m
}

// participant is one person of the room: a cookie, a session with a
// tcp-echo server, a live viewer and C connections.
type participant struct {
	i       int
	c       *client
	session string
	server  string // the echo server's id: its recv events carry the messages
	addr    string
	conns   []net.Conn
	ws      *websocket.Conn

	mu      sync.Mutex
	written map[string]time.Time // message → when it was written, until its viewer sees it
	partial map[string]string    // connection → the start of a message its last recv cut
	sent    int64
	gaps    [][2]int64
	sample  latencies // since the last sample
	all     latencies
	api     latencies
	viewErr error
	viewed  chan struct{} // closed when the viewer ends

	echoFail atomic.Int64
}

func join(ctx context.Context, sp *realbin.Proc, code string, i, conns int) (*participant, error) {
	p := &participant{i: i, c: newClient(sp.URL), written: map[string]time.Time{}, partial: map[string]string{}, viewed: make(chan struct{})}
	var j struct{ Session string }
	if err := p.c.call("POST", "/api/join", map[string]string{"code": code, "name": fmt.Sprintf("participant %d", i)}, &j); err != nil {
		return nil, fmt.Errorf("join: %w", err)
	}
	p.session = j.Session
	var srv struct{ ID, Addr string }
	if err := p.c.call("POST", "/api/sessions/"+p.session+"/servers", map[string]string{"kind": "tcp-echo"}, &srv); err != nil {
		return nil, err
	}
	p.server, p.addr = srv.ID, srv.Addr
	u, _ := url.Parse(sp.URL)
	hdr := http.Header{}
	for _, ck := range p.c.jar.Cookies(u) {
		hdr.Add("Cookie", ck.String())
	}
	ws, _, err := websocket.Dial(ctx, "ws://"+sp.Addr+"/ws/sessions/"+p.session+"?after=0", &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		return nil, fmt.Errorf("live viewer: %w", err)
	}
	ws.SetReadLimit(64 << 20)
	p.ws = ws
	go p.view(ctx)
	for range conns {
		c, err := net.DialTimeout("tcp", p.addr, 10*time.Second)
		if err != nil {
			return nil, err
		}
		p.conns = append(p.conns, c)
	}
	return p, nil
}

// view reads the participant's live stream: each recv event of the echo
// server carries messages this participant wrote.
func (p *participant) view(ctx context.Context) {
	defer close(p.viewed)
	for {
		_, b, err := p.ws.Read(ctx)
		if err != nil {
			p.mu.Lock()
			p.viewErr = err
			p.mu.Unlock()
			return
		}
		now := time.Now()
		var m struct {
			Events []event
			Gap    *struct{ From, To int64 }
		}
		if err := json.Unmarshal(b, &m); err != nil {
			p.mu.Lock()
			p.viewErr = err
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		for _, e := range m.Events {
			p.seen(e, now)
		}
		if m.Gap != nil {
			p.gaps = append(p.gaps, [2]int64{m.Gap.From, m.Gap.To})
		}
		p.mu.Unlock()
	}
}

type event struct {
	Seq    int64
	Kind   string
	Server string
	Conn   string
	Data   []byte
}

// seen takes the messages of a recv event of the echo server (p.mu held).
func (p *participant) seen(e event, now time.Time) {
	if e.Kind != "recv" || e.Server != p.server {
		return
	}
	// A message may come in two recvs: the part after the last newline
	// waits for the rest.
	text := p.partial[e.Conn] + string(e.Data)
	cut := strings.LastIndexByte(text, '\n') + 1
	p.partial[e.Conn] = text[cut:]
	for line := range strings.Lines(text[:cut]) {
		line = strings.TrimSuffix(line, "\n")
		if t0, ok := p.written[line]; ok {
			delete(p.written, line)
			d := now.Sub(t0)
			p.sample.add(d)
			p.all.add(d)
		}
	}
}

// run starts the participant's senders: each connection writes a message
// every interval (from a random phase, as people do not type in step) and
// reads its echo; and the API is called every 5 s.
func (p *participant) run(ctx context.Context, wg *sync.WaitGroup, every time.Duration) {
	for ci, c := range p.conns {
		wg.Go(func() {
			r := bufio.NewReader(c)
			t := time.NewTimer(rand.N(every))
			defer t.Stop()
			for m := 0; ; m++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				t.Reset(every)
				msg := fmt.Sprintf("p%03d c%02d m%08d", p.i, ci, m)
				p.mu.Lock()
				p.written[msg] = time.Now()
				p.sent++
				p.mu.Unlock()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := io.WriteString(c, msg+"\n"); err != nil {
					p.echoFail.Add(1)
					return
				}
				if line, err := r.ReadString('\n'); err != nil || line != msg+"\n" {
					p.echoFail.Add(1)
					return
				}
			}
		})
	}
	wg.Go(func() {
		// From a random phase too: 200 tickers started within a second
		// would send 200 requests at once every 5 s, a herd that no room of
		// browsers makes, and measure its queue.
		t := time.NewTimer(rand.N(5 * time.Second))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			t.Reset(5 * time.Second)
			t0 := time.Now()
			if err := p.c.call("GET", "/api/sessions/"+p.session, nil, nil); err == nil {
				p.mu.Lock()
				p.api.add(time.Since(t0))
				p.mu.Unlock()
			}
		}
	})
}

func (p *participant) takeSample() *latencies {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sample
	p.sample = latencies{}
	return &s
}

// finish waits (up to a minute) for the viewer to see every message
// written, fetching the gaps it was told of from the API, and returns
// what was sent, what was never seen, and how many gaps there were.
func (p *participant) finish(ctx context.Context) (sent, lost, gaps int64, err error) {
	deadline := time.Now().Add(time.Minute)
	for {
		p.mu.Lock()
		left, verr := len(p.written), p.viewErr
		g := p.gaps
		p.gaps = nil
		p.mu.Unlock()
		for _, gap := range g {
			if err := p.fetch(gap[0], gap[1]); err != nil {
				return 0, 0, 0, err
			}
			gaps++
		}
		if left == 0 {
			break
		}
		if verr != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.ws.CloseNow()
	<-p.viewed
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent, int64(len(p.written)), gaps, nil
}

// fetch reads events from..to from the API into the seen set (a gap: the
// stream said they exist and it did not send them).
func (p *participant) fetch(from, to int64) error {
	for after := from - 1; after < to; {
		var page struct{ Events []event }
		if err := p.c.call("GET", fmt.Sprintf("/api/sessions/%s/events?after=%d&limit=%d", p.session, after, min(1000, to-after)), nil, &page); err != nil {
			return err
		}
		if len(page.Events) == 0 {
			return fmt.Errorf("events %d–%d of a gap are not in the recording", after+1, to)
		}
		p.mu.Lock()
		for _, e := range page.Events {
			p.seen(e, time.Now()) // late: the latency counts the fetch
		}
		p.mu.Unlock()
		after = page.Events[len(page.Events)-1].Seq
	}
	return nil
}

// latencies collects durations for percentiles.
type latencies struct{ d []time.Duration }

func (l *latencies) add(d time.Duration) { l.d = append(l.d, d) }
func (l *latencies) merge(o *latencies)  { l.d = append(l.d, o.d...) }

// pct is the q-quantile (0..1) of what was collected.
func (l *latencies) pct(q float64) time.Duration {
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// client is an HTTP client with its own cookies and its own connections
// (one person's browser: the default transport, shared, would keep 2 idle
// connections for all 200 and open a new one for most requests).
type client struct {
	base string
	jar  *cookiejar.Jar
	http *http.Client
}

func newClient(base string) *client {
	jar, _ := cookiejar.New(nil)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &client{base: base, jar: jar, http: &http.Client{Jar: jar, Timeout: time.Minute, Transport: tr}}
}

func (c *client) call(method, path string, body, out any) error {
	return realbin.Call(c.http, method, c.base+path, body, out)
}

// scrape reads the unlabelled samples of a Prometheus text page.
func scrape(u string) (map[string]float64, error) {
	resp, err := http.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New("metrics: " + resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			m[name] = v
		}
	}
	return m, sc.Err()
}
