package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// Every reproduction makes its error happen for real: the session's events
// get an error event with that errno, and the answer says it was produced
// and what was done.
func TestReproduceEveryErrno(t *testing.T) {
	for _, errno := range ReproducibleErrnos() {
		t.Run(errno, func(t *testing.T) {
			lab, sink := newTestLab(t, LabConfig{})
			out, err := lab.Reproduce(context.Background(), "s", errno)
			if err != nil {
				t.Fatalf("Reproduce(%s): %v", errno, err)
			}
			t.Log(out.Title + "\n" + strings.Join(out.Steps, "\n") + "\n" + out.Message)
			if !out.Produced || out.Observed != errno || len(out.Steps) == 0 || out.Title == "" {
				t.Errorf("reproduction %+v: want %s produced, with its steps", out, errno)
			}
			sink.waitFor(t, "an error event with errno "+errno, func(evs []Event) bool {
				for _, ev := range evs {
					if ev.Session == "s" && ev.Kind == KindError && ev.Err != nil && ev.Err.Errno == errno {
						// A port a server of the session holds: the hint names it.
						return errno != "EADDRINUSE" || strings.Contains(ev.Err.Hint, "held by server "+out.Servers[0])
					}
				}
				return false
			})
		})
	}
}

// An errno sockplay cannot reproduce is refused, naming those it can, and
// starts nothing.
func TestReproduceUnknownErrno(t *testing.T) {
	lab, sink := newTestLab(t, LabConfig{})
	_, err := lab.Reproduce(context.Background(), "s", "EWHATEVER")
	var oe *OptionError
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), "ECONNREFUSED") || !strings.Contains(err.Error(), "EWHATEVER") {
		t.Fatalf("err %v, want an OptionError naming EWHATEVER and listing ECONNREFUSED", err)
	}
	if evs := sink.events(); len(evs) != 0 || len(lab.Servers("s")) != 0 {
		t.Errorf("an unknown errno started something: %d events", len(evs))
	}
}
