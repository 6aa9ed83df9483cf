package engine

import (
	"context"
	"fmt"
	"strconv"
)

// The round-robin client spreads requests over a list of targets, as a
// client-side load balancer does: each request goes to the next target in
// turn, on a new connection. A target that does not accept the connection
// is skipped (its connect error event says so, naming the target the
// request goes to instead) and the request goes to the next one. Every
// connect event names its target and request, so the events show which
// target answered what; the counters add up the answers of each target.
var roundRobinClientKind = &ClientKind{
	Name: "round-robin", Title: "Round-robin client", Net: NetTCP, patient: true,
	Description: "Sends each request to the next of a list of targets (the target, then the others in turn) on a new connection, as a client-side load balancer does; a target that is down is skipped with an event.",
	Options: []OptionSpec{
		{Name: "targets", Type: OptString, Default: "", MaxLen: 1000, Primary: true,
			Help: "the other targets after the first, host:port, comma-separated (e.g. 127.0.0.1:20001,127.0.0.1:20002)"},
		{Name: "requests", Type: OptInt, Default: 6, Min: intp(1), Max: intp(maxRRRequests), Primary: true,
			Help: "how many requests to send, each to the next target"},
		messageOption(),
		timeoutOption("timeout_ms", 1000, "how long a request waits for its whole reply (and a connect may take) before it fails with ETIMEDOUT"),
		recvSizeOption(4096),
	},
	check: func(o Options) error { _, err := parseTargets(o.String("targets")); return err },
	start: startRoundRobinClient,
}

type roundRobinClient struct{ *requester }

func startRoundRobinClient(ctx context.Context, env *clientEnv, o Options) (Client, error) {
	more, err := parseTargets(o.String("targets"))
	if err != nil {
		env.release()
		return nil, err
	}
	targets := append([]string{env.Target}, more...)
	r := newRequester(env, o)
	first := true
	defer func() {
		if first {
			env.release() // it never dialed
		}
		r.done()
	}()
	reqs := o.Int("requests")
	next := 0 // the target the next request goes to
	answered := 0
	var last error
	for i := 1; i <= reqs && ctx.Err() == nil; i++ {
		ok := false
		for tries := 0; tries < len(targets) && !ok && ctx.Err() == nil; tries++ {
			n := next
			target := targets[n]
			next = (next + 1) % len(targets)
			meta := map[string]any{"request": i, "of": reqs, "target_index": n + 1, "targets": len(targets)}
			if tries+1 < len(targets) {
				meta["skipped"] = fmt.Sprintf("target %d (%s) is skipped: request %d goes to target %d (%s)", n+1, target, i, next+1, targets[next])
			} else {
				meta["skipped"] = fmt.Sprintf("target %d (%s) is skipped, and no target is left to try: request %d fails", n+1, target, i)
			}
			c, err := r.dial(ctx, target, &first, meta)
			if err != nil {
				last = err
				r.count("skipped", 1)
				r.count("target_"+strconv.Itoa(n+1)+"_down", 1)
				continue
			}
			reply, err := r.exchange(c)
			if err == nil {
				ok = true
				answered++
				r.count("answered", 1)
				r.count("target_"+strconv.Itoa(n+1)+"_answered", 1)
				c.SetCloseReason(fmt.Sprintf("request %d answered by target %d (%s): %d bytes", i, n+1, target, len(reply)))
			} else {
				last = err
				c.SetCloseReason(fmt.Sprintf("request %d to target %d (%s) failed: %s", i, n+1, target, Classify(err).Errno))
			}
			c.Close()
			if err != nil {
				break // the target accepted: the request is not sent twice
			}
		}
		if !ok {
			r.count("failed", 1)
		}
	}
	if answered == 0 && last != nil {
		return nil, last
	}
	return roundRobinClient{r}, nil
}

// The two kinds register here rather than in clientKinds' literal, so that
// adding them changes no line of client.go.
func init() {
	clientKinds["round-robin"] = roundRobinClientKind
	clientKinds["pool"] = poolClientKind
}
