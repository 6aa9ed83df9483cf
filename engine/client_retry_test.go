package engine

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// retryEvents returns the retry events of the client whose target is target.
func retryEvents(evs []Event, target string) []Event {
	var out []Event
	for _, ev := range evs {
		if ev.Kind == KindRetry && ev.Remote == target {
			out = append(out, ev)
		}
	}
	return out
}

// A retry client against a port that starts listening after two refused
// attempts succeeds on the third, and its events say each attempt, each
// wait (base, then base×factor) and the outcome, in order.
func TestRetryClientSucceedsWhenTheServerComesUp(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	port := freeLabPort(t)
	target := "127.0.0.1:" + strconv.Itoa(port)
	type result struct {
		info ClientInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		info, err := lab.OpenClient(context.Background(), "s", ClientSpec{Kind: "retry", Target: target,
			Options: json.RawMessage(`{"attempts":6,"base_ms":300,"factor":2}`)})
		done <- result{info, err}
	}()
	// Two refusals and their waits, then the server comes up: the third
	// attempt comes 600 ms after the second refusal.
	sink.waitFor(t, "two refused attempts", func(evs []Event) bool { return len(retryEvents(evs, target)) >= 2 })
	ln := listenLoopback(t, port)
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
	r := <-done
	if r.err != nil {
		t.Fatalf("OpenClient: %v", r.err)
	}
	defer lab.CloseClient("s", r.info.ID, false)
	evs := retryEvents(sink.events(), target)
	if len(evs) != 3 {
		t.Fatalf("%d retry events, want 3:\n%s", len(evs), dumpEvents(evs))
	}
	if evs[0].Meta["wait_ms"] != int64(300) || evs[1].Meta["wait_ms"] != int64(600) || evs[0].Meta["errno"] != "ECONNREFUSED" {
		t.Errorf("waits %v then %v (want 300 then 600 ms, after ECONNREFUSED)", evs[0].Meta, evs[1].Meta)
	}
	if evs[2].Meta["outcome"] != "succeeded on attempt 3 of 6" {
		t.Errorf("outcome %v", evs[2].Meta)
	}
	if errs := filter(sink.events(), KindError, r.info.ID); len(errs) != 2 {
		t.Errorf("%d error events (failed attempts), want 2", len(errs))
	}
}

// A retry client that never gets through gives up after its attempts, says
// so, and opens nothing; every attempt goes through the dial policy.
func TestRetryClientGivesUp(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	target := "127.0.0.1:" + strconv.Itoa(freeLabPort(t))
	_, err := lab.OpenClient(context.Background(), "s", ClientSpec{Kind: "retry", Target: target,
		Options: json.RawMessage(`{"attempts":3,"base_ms":1,"cap_ms":2}`)})
	if Classify(err).Errno != "ECONNREFUSED" {
		t.Fatalf("err %v, want ECONNREFUSED after the last attempt", err)
	}
	evs := retryEvents(sink.events(), target)
	if len(evs) != 3 || evs[2].Meta["outcome"] != "gave up after 3 attempts" || evs[1].Meta["wait_ms"] != int64(2) {
		t.Errorf("retry events:\n%s", dumpEvents(evs))
	}
	if n := len(lab.Clients("s")); n != 0 {
		t.Errorf("%d clients open", n)
	}
	// The policy judges the attempt; its refusal is not retried (no retry
	// changes it).
	_, err = lab.OpenClient(context.Background(), "s", ClientSpec{Kind: "retry", Target: "127.0.0.1:22",
		Options: json.RawMessage(`{"attempts":5,"base_ms":1}`)})
	if Classify(err).Errno != "EREFUSED" {
		t.Errorf("policy: %v, want EREFUSED", err)
	}
	if evs := retryEvents(sink.events(), "127.0.0.1:22"); len(evs) != 1 || evs[0].Meta["tried"] != 1 || !strings.HasPrefix(evs[0].Meta["outcome"].(string), "gave up after 1 attempt: sockplay's dial policy") {
		t.Errorf("a refused target: %s", dumpEvents(evs))
	}
}
