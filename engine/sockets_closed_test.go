package engine

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// closedOf, which reads back from the ring's newest entry, lists what a
// scan of the whole ring lists, in the same order: for a ring not yet full,
// one that wrapped round, entries older than closedFor, and other owners'.
func TestClosedOfMatchesScan(t *testing.T) {
	const ring = 8
	owners := map[string]bool{"mine": true}
	for next := 0; next <= 3*ring; next++ {
		for fresh := 0; fresh <= min(next, ring)+1; fresh++ {
			r := connRegistry{closed: make([]goneConn, ring), next: next}
			now := time.Now()
			for seq := range next {
				// The newest fresh entries are within closedFor, in the
				// order they closed.
				at := now.Add(-closedFor - time.Hour + time.Duration(seq)*time.Millisecond)
				if seq >= next-fresh {
					at = now.Add(-time.Minute + time.Duration(seq)*time.Millisecond)
				}
				owner := "mine"
				if seq%3 == 1 {
					owner = "theirs"
				}
				r.closed[seq%ring] = goneConn{owner: owner, id: fmt.Sprint(seq), closed: at}
			}
			var want []goneConn
			since := time.Now().Add(-closedFor)
			for _, c := range r.closed {
				if c.owner != "" && owners[c.owner] && c.closed.After(since) {
					want = append(want, c)
				}
			}
			if got := r.closedOf([]socketOwner{{id: "mine"}, {id: "other"}}, nil); !reflect.DeepEqual(got, want) {
				t.Errorf("next %d, %d fresh: got %v, want %v", next, fresh, ids(got), ids(want))
			}
		}
	}
}

func ids(cs []goneConn) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.id)
	}
	return out
}
