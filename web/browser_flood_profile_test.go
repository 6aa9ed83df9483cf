package web

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/cdproto/tracing"
	"github.com/chromedp/chromedp"
)

// TestBrowserWorkspaceFloodProfile is a tool, not a check: with
// SOCKPLAY_FLOOD_PROFILE=dir it floods an echo server as the flood test does
// while the page follows, records a Chromium trace (the main thread's tasks
// and what each spent its time on) and a JavaScript CPU profile, and logs
// where the longest tasks went. It is how the page's frame work was sized.
func TestBrowserWorkspaceFloodProfile(t *testing.T) {
	dir := os.Getenv("SOCKPLAY_FLOOD_PROFILE")
	if dir == "" {
		t.Skip("set SOCKPLAY_FLOOD_PROFILE=dir to profile the page during a flood")
	}
	a := newTestApp(t)
	ctx := newBrowser(t)
	sid := a.newSession()
	_, addr := a.startEcho(sid, map[string]any{"recv_size": 256})
	openSession(t, ctx, a, sid)

	yesFlood(t, addr)
	time.Sleep(2 * time.Second) // the flood under way (a tool: no condition to wait on)

	// A trace of 5 s following.
	var (
		mu     sync.Mutex
		events []traceEvent
	)
	done := make(chan struct{})
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		evctx, cancel := context.WithCancel(ctx)
		data := cdp.Events(evctx, tg, tracing.DataCollected)
		complete := cdp.Events(evctx, tg, tracing.TracingComplete)
		go func() {
			for d, err := range data {
				if err != nil {
					return
				}
				mu.Lock()
				for _, v := range d.Value {
					var e traceEvent
					if json.Unmarshal(v, &e) == nil {
						events = append(events, e)
					}
				}
				mu.Unlock()
			}
		}()
		go func() {
			for range complete {
				break
			}
			time.Sleep(500 * time.Millisecond)
			cancel()
			close(done)
		}()
		_, err := cdp.Call(ctx, tg, tracing.Start, tracing.StartParams{
			TransferMode: tracing.StartTransferModeReportEvents,
			TraceConfig: &tracing.TraceConfig{IncludedCategories: []string{
				"devtools.timeline", "toplevel", "v8.execute",
			}},
		})
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, tracing.End, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	<-done
	mu.Lock()
	report := analyseTrace(events)
	mu.Unlock()
	t.Log(report)
	os.WriteFile(filepath.Join(dir, "trace-summary.txt"), []byte(report), 0o644)

	// A JavaScript CPU profile of 5 s following.
	var prof profiler.StopResult
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, profiler.Enable, cdp.Empty{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, profiler.Start, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		var err error
		prof, err = cdp.Call(ctx, tg, profiler.Stop, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(prof.Profile)
	os.WriteFile(filepath.Join(dir, "flood.cpuprofile"), b, 0o644)
	rep := analyseProfile(prof.Profile)
	t.Log(rep)
	os.WriteFile(filepath.Join(dir, "profile-summary.txt"), []byte(rep), 0o644)
}

type traceEvent struct {
	Name string          `json:"name"`
	Cat  string          `json:"cat"`
	Ph   string          `json:"ph"`
	Ts   float64         `json:"ts"`
	Dur  float64         `json:"dur"`
	TDur float64         `json:"tdur"`
	Pid  int64           `json:"pid"`
	Tid  int64           `json:"tid"`
	Args json.RawMessage `json:"args"`
}

// analyseTrace finds the renderer's main thread, its top-level tasks, and
// for the longest ones what their time went to (the events nested in them,
// by name, self time).
func analyseTrace(evs []traceEvent) string {
	type key struct{ pid, tid int64 }
	var main key
	for _, e := range evs {
		if e.Ph == "M" && e.Name == "thread_name" && strings.Contains(string(e.Args), "CrRendererMain") {
			main = key{e.Pid, e.Tid}
		}
	}
	var xs []traceEvent
	for _, e := range evs {
		if (key{e.Pid, e.Tid}) == main && e.Ph == "X" {
			xs = append(xs, e)
		}
	}
	sort.Slice(xs, func(i, j int) bool {
		if xs[i].Ts != xs[j].Ts {
			return xs[i].Ts < xs[j].Ts
		}
		return xs[i].Dur > xs[j].Dur
	})
	var b strings.Builder
	var tasks []int
	for i, e := range xs {
		if e.Name == "RunTask" || e.Name == "ThreadControllerImpl::RunTask" {
			tasks = append(tasks, i)
		}
	}
	// Top-level tasks only (not nested in another).
	var top []int
	end := 0.0
	for _, i := range tasks {
		if xs[i].Ts >= end {
			top = append(top, i)
			end = xs[i].Ts + xs[i].Dur
		}
	}
	total := map[string]float64{}
	var busy float64
	var durs []float64
	var cpu float64
	var cdurs []float64
	for _, i := range top {
		cpu += xs[i].TDur
		cdurs = append(cdurs, xs[i].TDur/1000)
	}
	slices.Sort(cdurs)
	if n := len(cdurs); n > 0 {
		fmt.Fprintf(&b, "main thread CPU (thread time) %.0f ms; longest task in CPU time %.1f ms, p99 %.1f\n", cpu/1000, cdurs[n-1], cdurs[n*99/100])
	}
	// The biggest layouts: how many objects were dirty of how many.
	var lays []traceEvent
	for _, e := range xs {
		if e.Name == "Layout" {
			lays = append(lays, e)
		}
	}
	sort.Slice(lays, func(i, j int) bool { return lays[i].Dur > lays[j].Dur })
	for i, e := range lays {
		if i >= 5 {
			break
		}
		fmt.Fprintf(&b, "layout %.1f ms (cpu %.1f): %.300s\n", e.Dur/1000, e.TDur/1000, e.Args)
	}
	for _, i := range top {
		busy += xs[i].Dur
		durs = append(durs, xs[i].Dur/1000)
	}
	slices.Sort(durs)
	fmt.Fprintf(&b, "main thread: %d top-level tasks, busy %.0f ms", len(top), busy/1000)
	if n := len(durs); n > 0 {
		fmt.Fprintf(&b, ", longest %.1f ms, p99 %.1f, p90 %.1f, over 50 ms: %d\n", durs[n-1], durs[n*99/100], durs[n*90/100], n-sort.SearchFloat64s(durs, 50.0001))
	}
	selfTimes := func(i int) map[string]float64 {
		t := xs[i]
		stop := t.Ts + t.Dur
		self := map[string]float64{}
		var rec func(j int, end float64) int
		rec = func(j int, end float64) int {
			// xs[j] is the parent; returns the index after its subtree.
			parent := xs[j]
			childDur := 0.0
			k := j + 1
			for k < len(xs) && xs[k].Ts < end {
				childDur += xs[k].Dur
				k = rec(k, xs[k].Ts+xs[k].Dur)
			}
			name := parent.Name
			if parent.Name == "FunctionCall" || parent.Name == "EventDispatch" || parent.Name == "TimerFire" {
				var a struct {
					Data struct {
						FunctionName string `json:"functionName"`
						Type         string `json:"type"`
						URL          string `json:"url"`
						LineNumber   int    `json:"lineNumber"`
					} `json:"data"`
				}
				json.Unmarshal(parent.Args, &a)
				if a.Data.FunctionName != "" || a.Data.Type != "" {
					name += "(" + a.Data.Type + a.Data.FunctionName + " " + filepath.Base(a.Data.URL) + fmt.Sprintf(":%d", a.Data.LineNumber) + ")"
				}
			}
			self[name] += parent.Dur - childDur
			return k
		}
		rec(i, stop)
		return self
	}
	for _, i := range top {
		for k, v := range selfTimes(i) {
			total[k] += v
		}
	}
	writeTop := func(m map[string]float64, n int, indent string) {
		type kv struct {
			k string
			v float64
		}
		var l []kv
		for k, v := range m {
			l = append(l, kv{k, v})
		}
		sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
		for i, e := range l {
			if i >= n || e.v < 500 {
				break
			}
			fmt.Fprintf(&b, "%s%7.1f ms  %s\n", indent, e.v/1000, e.k)
		}
	}
	b.WriteString("self time over all tasks:\n")
	writeTop(total, 25, "  ")
	longest := slices.Clone(top)
	sort.Slice(longest, func(a, c int) bool { return xs[longest[a]].Dur > xs[longest[c]].Dur })
	for n, i := range longest {
		if n >= 8 {
			break
		}
		fmt.Fprintf(&b, "task of %.1f ms (cpu %.1f ms):\n", xs[i].Dur/1000, xs[i].TDur/1000)
		writeTop(selfTimes(i), 10, "    ")
	}
	return b.String()
}

// analyseProfile sums a CPU profile's self time by function.
func analyseProfile(p *profiler.Profile) string {
	if p == nil {
		return "no profile"
	}
	byID := map[int64]*profiler.ProfileNode{}
	for _, n := range p.Nodes {
		byID[n.ID] = n
	}
	self := map[string]float64{}
	var total float64
	for i, s := range p.Samples {
		n := byID[s]
		if n == nil || i >= len(p.TimeDeltas) {
			continue
		}
		d := float64(0)
		if i+1 < len(p.TimeDeltas) {
			d = float64(p.TimeDeltas[i+1])
		}
		cf := n.CallFrame
		name := fmt.Sprintf("%s %s:%d", cf.FunctionName, filepath.Base(cf.URL), cf.LineNumber+1)
		self[name] += d
		total += d
	}
	type kv struct {
		k string
		v float64
	}
	var l []kv
	for k, v := range self {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	var b strings.Builder
	fmt.Fprintf(&b, "CPU profile, %.0f ms sampled, self time:\n", total/1000)
	for i, e := range l {
		if i >= 30 {
			break
		}
		fmt.Fprintf(&b, "  %7.1f ms  %s\n", e.v/1000, e.k)
	}
	return b.String()
}
