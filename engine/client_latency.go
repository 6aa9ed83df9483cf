package engine

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"time"
)

// KindLatency is a client's latency measurement: round trips of the same
// size to an echo server, timed (see rttPlan).
const KindLatency Kind = "latency"

// Latency measurement limits.
const (
	maxRTTRounds     = 10000
	defaultRTTSize   = 64
	rttRoundDeadline = 5 * time.Second
)

var (
	rttRoundsOption = OptionSpec{Name: "rtt_rounds", Type: OptInt, Default: 0, Min: intp(0), Max: intp(maxRTTRounds),
		Suggest: []int{100, 1000}, Advanced: true,
		Help: "measure latency: once connected, send rtt_size bytes and wait for all of them to come back, this many times; a latency event gives the microseconds per round trip (median, p99). Point it at an echo server (tcp-echo, unix-echo) to compare transports; 0: no measurement"}
	rttSizeOption = OptionSpec{Name: "rtt_size", Type: OptInt, Default: defaultRTTSize, Min: intp(1), Max: intp(MaxRecvSize),
		Suggest: []int{1, 64, 4096}, Unit: "bytes", Advanced: true, Help: "the bytes of each measured round trip (rtt_rounds)"}
)

// rttPlan is a latency measurement: rounds round trips of size bytes.
type rttPlan struct{ rounds, size int }

func rttPlanOf(o Options) rttPlan {
	return rttPlan{rounds: o.Int("rtt_rounds"), size: max(o.Int("rtt_size"), 1)}
}

// measure runs the client's round trips before its read loop: each writes
// size bytes and reads until as many came back (one send event and one or
// more recv events each, as any traffic through the Conn), and times it.
// The latency event then gives the figures. Sends from the page wait
// until it is done. The times include sockplay's own recording of every
// send and recv, at both ends when the server is sockplay's: compare
// transports with the same client and server, not with bare programs.
func (c *TCPClient) measure() {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	p := c.rtt
	msg := generatedPayload(p.size)
	buf := make([]byte, max(p.size, 4096))
	times := make([]time.Duration, 0, p.rounds)
	var stopped string
rounds:
	for range p.rounds {
		start := time.Now()
		c.tcp.SetReadDeadline(start.Add(rttRoundDeadline))
		n, err := c.conn.Write(msg)
		c.setState(func(i *ClientInfo) { i.Sent += int64(n) })
		if err != nil {
			stopped = "the send failed (" + Classify(err).Errno + "): the server closed or reset the connection"
			break
		}
		for got := 0; got < p.size; {
			n, err := c.conn.Read(buf)
			got += n
			c.setState(func(i *ClientInfo) { i.Received += int64(n) })
			if n == 0 && err == nil && c.timedOut != nil && c.timedOut.Swap(false) {
				err = os.ErrDeadlineExceeded
			}
			if err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					stopped = fmt.Sprintf("no echo of the %d bytes within %s: is the target an echo server?", p.size, rttRoundDeadline)
				} else if errors.Is(err, io.EOF) {
					stopped = "the connection ended: the server closed it before echoing"
				} else {
					stopped = "the connection ended (" + Classify(err).Errno + ")"
				}
				break rounds
			}
		}
		times = append(times, time.Since(start))
	}
	c.tcp.SetReadDeadline(time.Time{})
	c.conn.tap.emit(latencyEvent(c.conn.tap, p, times, stopped))
	c.arm()
}

// latencyEvent describes the measured round trips.
func latencyEvent(t *tap, p rttPlan, times []time.Duration, stopped string) Event {
	ev := t.event(KindLatency)
	ev.Meta = map[string]any{"rounds": p.rounds, "size": p.size, "done": len(times), "transport": t.net}
	if stopped != "" {
		ev.Meta["stopped"] = stopped
	}
	if len(times) == 0 {
		ev.Meta["message"] = "no round trip completed"
		return ev
	}
	st := rttStats(times)
	for k, v := range st {
		ev.Meta[k] = v
	}
	ev.Meta["message"] = fmt.Sprintf("%d round trips of %d bytes over %s: median %.1f µs, p99 %.1f µs", len(times), p.size, t.net, st["median_us"], st["p99_us"])
	return ev
}

// rttStats are the round trips' median, p99, min, max and mean in
// microseconds (to a tenth).
func rttStats(times []time.Duration) map[string]float64 {
	s := slices.Clone(times)
	slices.Sort(s)
	us := func(d time.Duration) float64 { return math.Round(float64(d)/100) / 10 }
	n := len(s)
	median := s[n/2]
	if n%2 == 0 {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	p99 := s[max(int(math.Ceil(0.99*float64(n)))-1, 0)]
	return map[string]float64{"median_us": us(median), "p99_us": us(p99), "min_us": us(s[0]), "max_us": us(s[n-1]),
		"mean_us": us(sum / time.Duration(n))}
}
