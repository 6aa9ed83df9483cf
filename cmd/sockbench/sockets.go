package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sockplay/sockplay/cmd/internal/realbin"
)

// The live socket table's API call, as the server spends it (-only
// sockets): GET /api/sessions/{id}/sockets for a session of 1,001 open
// sockets (a tcp-echo, 500 tcp clients of it, the 500 connections it
// accepted) against the same call for a session of one tcp-echo, the
// server's CPU read from /proc/PID/stat (user + system, all its threads)
// before and after a batch of calls made one after another on one
// keep-alive connection, as an open Sockets panel makes them. This process
// (the client) is not counted. The CPU the server spends idle in the same
// time is measured as well and taken off. With several binaries (-bin
// a,b) each runs in its own process and their rounds alternate, so that
// old and new are measured in the same minutes.

// socketsClients is how many tcp clients the big session opens: with the
// connections the echo accepts and its listener, 1,001 sockets.
const socketsClients = 500

type socketsTarget struct {
	bin      string
	sp       *sockplay
	big      string // session of 1,001 sockets
	small    string // session of one tcp-echo
	client   *http.Client
	bigCPU   []float64 // ms of server CPU per call, one per round
	smallCPU []float64
	bigKiB   float64
}

func runSockets(bins []string, calls, rounds int) error {
	dir, err := os.MkdirTemp("", "sockbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if len(bins) == 0 {
		b, err := realbin.Build(dir)
		if err != nil {
			return err
		}
		bins = []string{b}
	}
	hz, err := clockTicks()
	if err != nil {
		return err
	}
	var targets []*socketsTarget
	for i, bin := range bins {
		t, err := startSocketsTarget(bin, filepath.Join(dir, fmt.Sprintf("sockets%d.db", i)), 41100+100*i)
		if t != nil {
			defer t.sp.Stop()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", bin, err)
		}
		targets = append(targets, t)
	}
	// Warm up: the first calls grow the server's buffers and the client's.
	for _, t := range targets {
		for range 20 {
			if _, err := t.get(t.big, 1001); err != nil {
				return err
			}
			if _, err := t.get(t.small, 1); err != nil {
				return err
			}
		}
	}
	var idle []float64 // ms of server CPU a second, idle, each target each round
	for range rounds {
		for _, t := range targets {
			pid := t.sp.Cmd.Process.Pid
			// Idle: what the server spends in a second doing nothing asked
			// (its checkpointer, tickers): taken off the calls' CPU.
			c0, err := procCPU(pid, hz)
			if err != nil {
				return err
			}
			w0 := time.Now()
			time.Sleep(time.Second)
			c1, err := procCPU(pid, hz)
			if err != nil {
				return err
			}
			idleRate := (c1 - c0).Seconds() / time.Since(w0).Seconds()
			idle = append(idle, idleRate*1e3)
			// The one-socket call costs a twentieth: ten times as many of
			// them, for as many clock ticks.
			for _, s := range []struct {
				session string
				want    int
				calls   int
				into    *[]float64
			}{{t.big, 1001, calls, &t.bigCPU}, {t.small, 1, 10 * calls, &t.smallCPU}} {
				c0, err := procCPU(pid, hz)
				if err != nil {
					return err
				}
				w0 := time.Now()
				size := 0
				for range s.calls {
					if size, err = t.get(s.session, 0); err != nil {
						return err
					}
				}
				wall := time.Since(w0)
				c1, err := procCPU(pid, hz)
				if err != nil {
					return err
				}
				// A last call that counts the rows: the table is still whole.
				if _, err := t.get(s.session, s.want); err != nil {
					return err
				}
				cpu := (c1 - c0).Seconds() - idleRate*wall.Seconds()
				*s.into = append(*s.into, cpu*1e3/float64(s.calls))
				if s.want > 1 {
					t.bigKiB = float64(size) / 1024
				}
			}
		}
	}
	fmt.Printf("\nGET /api/sessions/{id}/sockets, the server's CPU per call from /proc/PID/stat (%d rounds of %d calls each, ten times as many of the one-socket call, one keep-alive connection; idle CPU taken off: median %.1f ms/s)\n\n",
		rounds, calls, median(idle))
	// Against the first binary, round by round (the rounds alternate, so
	// each pair ran in the same minute): the median of the ratios.
	fmt.Println("| binary | 1,001 sockets (min–max, median) | one socket | difference | answer | 1,001 / one socket, vs the first binary (round by round, median) |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, t := range targets {
		diff := make([]float64, len(t.bigCPU))
		bigRatio := make([]float64, len(t.bigCPU))
		smallRatio := make([]float64, len(t.bigCPU))
		for i := range diff {
			diff[i] = t.bigCPU[i] - t.smallCPU[i]
			bigRatio[i] = t.bigCPU[i] / targets[0].bigCPU[i]
			smallRatio[i] = t.smallCPU[i] / targets[0].smallCPU[i]
		}
		fmt.Printf("| %s | %s | %s | %s | %.0f KiB | %.2f / %.2f |\n", t.bin, spread(t.bigCPU), spread(t.smallCPU), spread(diff), t.bigKiB,
			median(bigRatio), median(smallRatio))
	}
	return nil
}

// spread is "min–max ms (median)".
func spread(v []float64) string {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return fmt.Sprintf("%.2f–%.2f ms (%.2f)", lo, hi, median(v))
}

func startSocketsTarget(bin, db string, port int) (*socketsTarget, error) {
	// Room for 500 clients and their 500 connections in one session.
	sp, err := startSockplayPorts(bin, db, fmt.Sprintf("%d-%d", port, port+99),
		"-max-clients", "600", "-max-conns", "600")
	if err != nil {
		return nil, err
	}
	t := &socketsTarget{bin: bin, sp: sp, big: sp.session,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2}}}
	addr, err := sp.startEcho()
	if err != nil {
		return t, err
	}
	for i := range socketsClients {
		if err := sp.call("POST", "/api/sessions/"+t.big+"/clients", `{"kind":"tcp","target":"`+addr+`"}`, nil); err != nil {
			return t, fmt.Errorf("client %d: %w", i, err)
		}
	}
	var sess struct{ ID string }
	if err := sp.call("POST", "/api/sessions", `{"name":"sockbench one socket"}`, &sess); err != nil {
		return t, err
	}
	t.small = sess.ID
	var srv struct{ Addr string }
	if err := sp.call("POST", "/api/sessions/"+t.small+"/servers", `{"kind":"tcp-echo"}`, &srv); err != nil {
		return t, err
	}
	// The accepted connections reach the table once the echo took them.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := t.get(t.big, 1001)
		if err == nil {
			return t, nil
		}
		if time.Now().After(deadline) {
			return t, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get asks for session's socket table and returns the answer's size; with
// want > 0 it checks that the table has want rows.
func (t *socketsTarget) get(session string, want int) (int, error) {
	res, err := t.client.Get(t.sp.url + "/api/sessions/" + session + "/sockets")
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return 0, err
	}
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET sockets: %s: %s", res.Status, bytes.TrimSpace(body))
	}
	if n := bytes.Count(body, []byte(`"role"`)); want > 0 && n != want {
		return 0, fmt.Errorf("the table lists %d sockets, want %d", n, want)
	}
	return len(body), nil
}

// procCPU is the user and system CPU of process pid so far, all its
// threads (/proc/PID/stat, fields 14 and 15, in clock ticks of 1/hz s).
func procCPU(pid int, hz int64) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("/proc/PID/stat: no command name")
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return 0, errors.New("/proc/PID/stat: too few fields")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration((utime + stime) * int64(time.Second) / hz), nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times, as the
// kernel tells every process in its auxiliary vector (AT_CLKTCK).
func clockTicks() (int64, error) {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 0, fmt.Errorf("-only sockets reads /proc (Linux): %w", err)
	}
	const atClkTck = 17
	for ; len(b) >= 16; b = b[16:] {
		if binary.NativeEndian.Uint64(b) == atClkTck {
			return int64(binary.NativeEndian.Uint64(b[8:])), nil
		}
	}
	return 0, errors.New("/proc/self/auxv: no AT_CLKTCK")
}
