package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"time"
)

// The retry client connects, and when the connect fails tries again after
// a wait that grows exponentially (base, base×factor, … up to cap), as the
// tutorials' timeout/retry client does. Each failed attempt is an error
// event (from the dial), each wait a retry event, and the last retry event
// says how it ended: succeeded on attempt N, or gave up after N attempts.
// Once connected it is a tcp client like any other.
var retryClientKind = &ClientKind{
	Name: "retry", Title: "Retrying TCP client", Net: NetTCP, patient: true,
	Description: "Connects; when the connect fails it tries again after an exponentially growing wait (with a cap, and jitter if asked). Every attempt and every wait is an event, and the last one says how it ended.",
	Options: []OptionSpec{
		{Name: "attempts", Type: OptInt, Default: 5, Min: intp(1), Max: intp(maxRetryAttempts), Primary: true,
			Help: "how many connects to try before giving up"},
		{Name: "base_ms", Type: OptInt, Default: 200, Min: intp(1), Max: intp(60000), Unit: "ms", Primary: true,
			Help: "the wait after the first failure"},
		{Name: "factor", Type: OptInt, Default: 2, Min: intp(1), Max: intp(10),
			Help: "each wait is the previous one times this (exponential backoff)"},
		{Name: "cap_ms", Type: OptInt, Default: 5000, Min: intp(1), Max: intp(600000), Unit: "ms",
			Help: "no wait is longer than this"},
		{Name: "jitter", Type: OptBool, Default: false,
			Help: "wait a random time between half the wait and the wait, so that many clients do not retry in step"},
		timeoutOption("timeout_ms", 1000, "how long each connect may take before that attempt fails with ETIMEDOUT"),
		recvSizeOption(MaxRecvSize),
	},
	start: startRetryClient,
}

const maxRetryAttempts = 20

func startRetryClient(ctx context.Context, env *clientEnv, o Options) (Client, error) {
	attempts := o.Int("attempts")
	wait := time.Duration(o.Int("base_ms")) * time.Millisecond
	limit := time.Duration(o.Int("cap_ms")) * time.Millisecond
	timeout := time.Duration(max(o.Int("timeout_ms"), 1)) * time.Millisecond
	var last error
	tried := 0
	for i := 1; i <= attempts; i++ {
		tried = i
		actx, cancel := context.WithTimeout(ctx, timeout)
		c, err := env.dial(actx, "tcp") // a failure is an error event
		cancel()
		if err == nil {
			env.retryEvent(map[string]any{"attempt": i, "of": attempts, "outcome": fmt.Sprintf("succeeded on attempt %d of %d", i, attempts)})
			cl := newTCPClient(env, c.(*net.TCPConn), NetTCP)
			env.connectEvent(cl.conn.tap, o, map[string]any{"attempt": i})
			cl.run(o.Int("recv_size"))
			return cl, nil
		}
		last = err
		if ctx.Err() != nil || Classify(err).Errno == "EREFUSED" {
			// The lab is closing or the request went away; or the dial
			// policy refused the target, which no retry changes.
			break
		}
		if i == attempts {
			break
		}
		d := min(wait, limit)
		if o.Bool("jitter") {
			d = d/2 + rand.N(d/2+1)
		}
		env.retryEvent(map[string]any{"attempt": i, "of": attempts, "errno": Classify(err).Errno,
			"wait_ms": d.Milliseconds(), "next": i + 1})
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		wait *= time.Duration(o.Int("factor"))
	}
	outcome := fmt.Sprintf("gave up after %d attempts", tried)
	if tried == 1 {
		outcome = "gave up after 1 attempt"
	}
	if Classify(last).Errno == "EREFUSED" {
		outcome += ": sockplay's dial policy refuses this target, which no retry changes"
	}
	env.retryEvent(map[string]any{"of": attempts, "tried": tried, "errno": Classify(last).Errno, "outcome": outcome})
	return nil, last
}

// retryEvent emits a retry event of the client (not about one connection).
func (e *clientEnv) retryEvent(meta map[string]any) {
	e.lab.sink.Emit(Event{Session: e.Session, Server: e.ID, At: time.Now(), Kind: KindRetry, Net: NetTCP,
		Remote: e.Target, Meta: meta})
}
