// Command sockbench measures sockplay from outside, as a user feels it: it
// builds the real binary, starts it on a temporary database, starts a
// tcp-echo server in it through the JSON API, and drives that server from
// this process with real sockets, comparing every figure with a bare Go echo
// (io.Copy) that runs in a process of its own in the same run. It prints the
// table the README shows.
//
//	go run ./cmd/sockbench            # about a minute
//	go run ./cmd/sockbench -d 5s      # longer, steadier figures
//	go run ./cmd/sockbench -only sockets   # the server's CPU per GET of the socket table
//
// The machine should be otherwise idle: the figures are ratios measured in
// one run, so they travel between machines better than absolute numbers,
// but a busy machine still moves them.
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite"

	"github.com/sockplay/sockplay/cmd/internal/realbin"
)

func main() {
	bareAddr := flag.String("bare-echo", "", "internal: run the bare echo on this address and print its address")
	loop := flag.Int("loop", 0, "internal: with -bare-echo, echo with a read/write loop of this buffer size instead of io.Copy")
	d := flag.Duration("d", 2*time.Second, "how long each measurement runs")
	rounds := flag.Int("rounds", 3, "rounds of each measurement (the median is reported)")
	conns := flag.Int("conns", 20, "connections of the many-connection round trip")
	bin := flag.String("bin", "", "sockplay binary to measure (default: go build the module in the current directory)")
	unlimited := flag.String("unlimited", "-max-event-rate 0 -event-budget 0 -session-max-events 0 -session-max-bytes 0 -max-db-bytes 0", "the flags that lift every event-rate limit and the disk budget (an older binary has fewer)")
	only := flag.String("only", "", `"sockets": measure only the server's CPU per GET of the live socket table (1,001 sockets against one); -bin may then name several binaries, comma-separated, whose rounds alternate`)
	calls := flag.Int("calls", 200, "with -only sockets: calls of each round")
	flag.Parse()
	if *bareAddr != "" {
		bareEcho(*bareAddr, *loop)
		return
	}
	if *only == "sockets" {
		var bins []string
		if *bin != "" {
			bins = strings.Split(*bin, ",")
		}
		if err := runSockets(bins, *calls, *rounds); err != nil {
			fmt.Fprintln(os.Stderr, "sockbench:", err)
			os.Exit(1)
		}
		return
	} else if *only != "" {
		fmt.Fprintln(os.Stderr, "sockbench: -only: the one measurement on its own is \"sockets\"")
		os.Exit(2)
	}
	if err := run(*bin, strings.Fields(*unlimited), *d, *rounds, *conns); err != nil {
		fmt.Fprintln(os.Stderr, "sockbench:", err)
		os.Exit(1)
	}
}

// bareEcho is the baseline: the plainest Go echo server, io.Copy per
// connection (which splices on Linux: the bytes never leave the kernel), in
// its own process; with loop > 0, a read/write loop with a buffer of that
// size instead — what an echo that reads recv_size bytes at a time can do
// at best.
func bareEcho(addr string, loop int) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			if loop <= 0 {
				io.Copy(c, c)
				return
			}
			buf := make([]byte, loop)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				if _, err := c.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
	}
}

func run(bin string, unlimited []string, d time.Duration, rounds, conns int) error {
	dir, err := os.MkdirTemp("", "sockbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		if bin, err = realbin.Build(dir); err != nil {
			return err
		}
	}
	bare, bareAddr, err := startBare(0)
	if err != nil {
		return err
	}
	defer bare.Process.Kill()
	bareLoop, loopAddr, err := startBare(4096)
	if err != nil {
		return err
	}
	defer bareLoop.Process.Kill()

	sp, err := startSockplay(bin, filepath.Join(dir, "unlimited.db"), unlimited...)
	if err != nil {
		return err
	}
	defer sp.Stop()
	echoAddr, err := sp.startEcho()
	if err != nil {
		return err
	}

	var rows []row
	// Bulk: one connection, as much as it carries.
	var bareBulk, loopBulk, spBulk, evRates []float64
	for range rounds {
		b, err := bulk(bareAddr, d)
		if err != nil {
			return fmt.Errorf("bare bulk: %w", err)
		}
		l, err := bulk(loopAddr, d)
		if err != nil {
			return fmt.Errorf("bare loop bulk: %w", err)
		}
		loopBulk = append(loopBulk, l)
		c0, err := sp.committed()
		if err != nil {
			return err
		}
		start := time.Now()
		s, err := bulk(echoAddr, d)
		if err != nil {
			return fmt.Errorf("sockplay bulk: %w", err)
		}
		if err := sp.drained(); err != nil {
			return err
		}
		c1, err := sp.committed()
		if err != nil {
			return err
		}
		bareBulk, spBulk = append(bareBulk, b), append(spBulk, s)
		evRates = append(evRates, float64(c1-c0)/time.Since(start).Seconds())
	}
	rows = append(rows, ratioRow("bulk echo throughput, 1 connection", spBulk, bareBulk, "MB/s", 1e-6))
	rows = append(rows, ratioRow("bulk echo throughput, against a bare read/write loop of 4096-byte reads (the most a recv_size 4096 echo can do)", spBulk, loopBulk, "MB/s", 1e-6))

	for _, n := range []int{1, conns} {
		var bareRT, spRT []float64
		for range rounds {
			b, err := roundTrips(bareAddr, n, d)
			if err != nil {
				return fmt.Errorf("bare round trips: %w", err)
			}
			s, err := roundTrips(echoAddr, n, d)
			if err != nil {
				return fmt.Errorf("sockplay round trips: %w", err)
			}
			bareRT, spRT = append(bareRT, b), append(spRT, s)
		}
		rows = append(rows, ratioRow(fmt.Sprintf("64-byte round trips, %d connection%s", n, plural(n)), spRT, bareRT, "RT/s", 1))
	}
	rows = append(rows, row{what: "events recorded per second during the bulk echo (until the queue drained)",
		value: fmt.Sprintf("%.0f events/s", median(evRates))})

	// The recorder's sustained rate for the whole process: a flood of small
	// reads on several connections (recv_size 64: an event per 64 bytes).
	var srv struct{ Addr string }
	if err := sp.call("POST", "/api/sessions/"+sp.session+"/servers", `{"kind":"tcp-echo","options":{"recv_size":64}}`, &srv); err != nil {
		return err
	}
	var floodRates []float64
	for range rounds {
		c0, err := sp.committed()
		if err != nil {
			return err
		}
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				if _, err := bulk(srv.Addr, d); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		if err := sp.drained(); err != nil {
			return err
		}
		c1, err := sp.committed()
		if err != nil {
			return err
		}
		select {
		case err := <-errs:
			return fmt.Errorf("flood: %w", err)
		default:
		}
		floodRates = append(floodRates, float64(c1-c0)/time.Since(start).Seconds())
	}
	// The same flood against a bare read/write loop of 64-byte reads: each
	// of its reads and writes is a system call sockplay's echo also makes
	// (and records as an event), so twice its bytes/64 is the events/s the
	// machine's sockets allow at all (a little more: a read may return
	// less than 64 bytes, so this flatters the baseline).
	bare64, addr64, err := startBare(64)
	if err != nil {
		return err
	}
	defer bare64.Process.Kill()
	var bareFlood []float64
	for range rounds {
		var total atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				r, err := bulk(addr64, d)
				if err != nil {
					errs <- err
				}
				total.Add(int64(r))
			})
		}
		wg.Wait()
		select {
		case err := <-errs:
			return fmt.Errorf("bare flood: %w", err)
		default:
		}
		bareFlood = append(bareFlood, 2*float64(total.Load())/64)
	}
	bare64.Process.Kill()
	rows = append(rows, ratioRow("events recorded per second, sustained: 8 connections flooding an echo with recv_size 64 (bare: the reads and writes a second of a 64-byte read/write loop, each of which sockplay records as an event)",
		floodRates, bareFlood, "events/s", 1))

	perEvent, err := sp.bytesPerEvent(echoAddr, d)
	if err != nil {
		return err
	}
	rows = append(rows, row{what: "database bytes per event, capture cap reached (no payload kept)", value: fmt.Sprintf("%.1f B", perEvent)})
	sp.Stop()

	// The defaults a learner gets from `go run .`.
	def, err := startSockplay(bin, filepath.Join(dir, "defaults.db"))
	if err != nil {
		return err
	}
	defer def.Stop()
	defAddr, err := def.startEcho()
	if err != nil {
		return err
	}
	var bareDef, spDef []float64
	for range rounds {
		b, err := bulk(bareAddr, d)
		if err != nil {
			return err
		}
		s, err := bulk(defAddr, d)
		if err != nil {
			return err
		}
		bareDef, spDef = append(bareDef, b), append(spDef, s)
	}
	rows = append(rows, ratioRow("bulk echo with the defaults (-event-budget 200000 shared fairly)", spDef, bareDef, "MB/s", 1e-6))

	fmt.Printf("\nsockplay measured from another process (%d rounds of %v, medians; recv_size 4096)\n\n", rounds, d)
	fmt.Println("| figure | sockplay | bare Go echo | ratio |")
	fmt.Println("|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s | %s | %s |\n", r.what, r.value, r.base, r.ratio)
	}
	return nil
}

type row struct{ what, value, base, ratio string }

func ratioRow(what string, got, base []float64, unit string, scale float64) row {
	g, b := median(got), median(base)
	return row{what: what, value: fmt.Sprintf("%.0f %s", g*scale, unit), base: fmt.Sprintf("%.0f %s", b*scale, unit),
		ratio: fmt.Sprintf("%.2f", g/b)}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func startBare(loop int) (*exec.Cmd, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	cmd := exec.Command(self, "-bare-echo", "127.0.0.1:0", "-loop", fmt.Sprint(loop))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		return nil, "", fmt.Errorf("bare echo: %w", err)
	}
	return cmd, strings.TrimSpace(addr), nil
}

// sockplay is a running sockplay process.
type sockplay struct {
	*realbin.Proc
	url, db string
	session string
}

func startSockplay(bin, db string, args ...string) (*sockplay, error) {
	// Lab ports away from the defaults, so that a sockplay already running
	// on this machine is not in the way.
	return startSockplayPorts(bin, db, "41000-41099", args...)
}

func startSockplayPorts(bin, db, ports string, args ...string) (*sockplay, error) {
	p, err := realbin.Start(bin, append([]string{"-db", db, "-lab-ports", ports,
		"-tutorial-ports", "none", "-log-level", "warn"}, args...))
	if err != nil {
		return nil, err
	}
	sp := &sockplay{Proc: p, url: p.URL, db: db}
	var sess struct{ ID string }
	if err := sp.call("POST", "/api/sessions", `{"name":"sockbench"}`, &sess); err != nil {
		sp.Stop()
		return nil, err
	}
	sp.session = sess.ID
	return sp, nil
}

func (sp *sockplay) call(method, path, body string, out any) error {
	return realbin.Call(http.DefaultClient, method, sp.url+path, body, out)
}

func (sp *sockplay) startEcho() (string, error) {
	var srv struct{ Addr string }
	if err := sp.call("POST", "/api/sessions/"+sp.session+"/servers", `{"kind":"tcp-echo"}`, &srv); err != nil {
		return "", err
	}
	return srv.Addr, nil
}

type status struct {
	Recording struct {
		Committed int64
		Queued    int
	}
}

func (sp *sockplay) committed() (int64, error) {
	var st status
	err := sp.call("GET", "/api/status", "", &st)
	return st.Recording.Committed, err
}

// drained waits until the recorder's queue is empty.
func (sp *sockplay) drained() error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var st status
		if err := sp.call("GET", "/api/status", "", &st); err != nil {
			return err
		}
		if st.Recording.Queued == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("the recorder's queue did not drain within a minute")
}

// bytesPerEvent is how much the database grows per event once a
// connection's capture cap is reached: it fills one connection's cap, then
// echoes for d on it and compares the database's used pages before and
// after.
func (sp *sockplay) bytesPerEvent(addr string, d time.Duration) (float64, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	go io.Copy(io.Discard, c)
	buf := bytes.Repeat([]byte("y\n"), 32<<10) // what `yes | nc` sends
	// send writes for d, or 40 times (2.5 MiB: past the 1 MiB cap both
	// ways) without d, then waits for the recorder and measures.
	send := func(d time.Duration) (used, events int64, err error) {
		for i, end := 0, time.Now().Add(d); (d == 0 && i < 40) || (d > 0 && time.Now().Before(end)); i++ {
			if _, err := c.Write(buf); err != nil {
				return 0, 0, err
			}
		}
		if err := sp.drained(); err != nil {
			return 0, 0, err
		}
		return sp.usedBytes()
	}
	s0, e0, err := send(0)
	if err != nil {
		return 0, err
	}
	s1, e1, err := send(d)
	if err != nil {
		return 0, err
	}
	if e1 <= e0 {
		return 0, errors.New("no events were recorded")
	}
	return float64(s1-s0) / float64(e1-e0), nil
}

// usedBytes checkpoints the database (from this process: WAL lets another
// process do that) and returns the bytes of its pages in use and the events
// recorded.
func (sp *sockplay) usedBytes() (int64, int64, error) {
	db, err := sql.Open("sqlite", "file:"+sp.db+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
		return 0, 0, err
	}
	var pages, free, size int64
	if err := db.QueryRowContext(ctx, `SELECT (SELECT page_count FROM pragma_page_count), (SELECT freelist_count FROM pragma_freelist_count), (SELECT page_size FROM pragma_page_size)`).Scan(&pages, &free, &size); err != nil {
		return 0, 0, err
	}
	ev, err := sp.committed()
	return (pages - free) * size, ev, err
}

// bulk sends as much as one connection carries for d while reading the
// echo, and returns the bytes echoed a second.
func bulk(addr string, d time.Duration) (float64, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var got int64
	read := make(chan error, 1)
	go func() {
		n, err := io.Copy(io.Discard, c)
		got = n
		read <- err
	}()
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	start := time.Now()
	for time.Since(start) < d {
		if _, err := c.Write(buf); err != nil {
			return 0, err
		}
	}
	c.(*net.TCPConn).CloseWrite()
	if err := <-read; err != nil {
		return 0, err
	}
	return float64(got) / time.Since(start).Seconds(), nil
}

// roundTrips runs n connections that each send 64 bytes and wait for their
// echo, over and over for d, and returns the round trips a second.
func roundTrips(addr string, n int, d time.Duration) (float64, error) {
	var total atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg, back := bytes.Repeat([]byte("x"), 64), make([]byte, 64)
			count := int64(0)
			for time.Since(start) < d {
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, back); err != nil {
					errs <- err
					return
				}
				count++
			}
			total.Add(count)
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return float64(total.Load()) / time.Since(start).Seconds(), nil
}
