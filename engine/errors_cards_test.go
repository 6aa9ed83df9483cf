package engine

import "testing"

// Every errno a socket error event can carry has a card with all its
// texts, and every reproducible errno is marked so.
func TestEveryErrnoHasACard(t *testing.T) {
	names := map[string]bool{"ETLS": true, "EPROTO": true, "LIMIT": true, "ERESTORE": true}
	for k := range hints {
		names[k] = true
	}
	for k := range pythonErrors {
		names[k] = true
	}
	for _, k := range ReproducibleErrnos() {
		names[k] = true
	}
	for errno := range names {
		c, ok := ErrorCardFor(errno)
		if !ok {
			t.Errorf("no card for %s", errno)
			continue
		}
		if c.Title == "" || c.Meaning == "" || c.Cause == "" || c.Try == "" || c.Where == "" {
			t.Errorf("card %s lacks a text: %+v", errno, c)
		}
		if _, rep := reproducers[errno]; rep != c.Reproducible {
			t.Errorf("card %s: reproducible %v, want %v", errno, c.Reproducible, rep)
		}
		if c.Python != pythonErrors[errno] || c.Hint != hints[errno] {
			t.Errorf("card %s does not carry its hint and Python exception", errno)
		}
	}
	cards := ErrorCards()
	if !cards[0].Reproducible || cards[len(cards)-1].Reproducible {
		t.Errorf("reproducible cards are not first")
	}
}
