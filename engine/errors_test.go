package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Each case makes the error the way a program meets it, on real loopback
// sockets where there is one.
func TestClassifyNamesErrors(t *testing.T) {
	tests := []struct {
		name string
		err  func(t *testing.T) error
		want string
	}{
		{"dial a closed port", dialClosedPort, "ECONNREFUSED"},
		{"bind a taken port", bindTakenPort, "EADDRINUSE"},
		{"read from a reset connection", readReset, "ECONNRESET"},
		{"read past the deadline", readPastDeadline, "ETIMEDOUT"},
		{"os.ErrDeadlineExceeded", func(*testing.T) error { return os.ErrDeadlineExceeded }, "ETIMEDOUT"},
		{"context deadline", func(*testing.T) error { return context.DeadlineExceeded }, "ETIMEDOUT"},
		{"DNS not found", func(*testing.T) error {
			return &net.DNSError{Err: "no such host", Name: "nope.invalid", IsNotFound: true}
		}, "DNS"},
		{"DNS timeout", func(*testing.T) error {
			return &net.DNSError{Err: "i/o timeout", Name: "slow.invalid", IsTimeout: true}
		}, "ETIMEDOUT"},
		{"io.EOF", func(*testing.T) error { return io.EOF }, "EOF"},
		{"wrapped io.EOF", func(*testing.T) error { return fmt.Errorf("recv: %w", io.EOF) }, "EOF"},
		{"use of a closed connection", readClosed, "ECLOSED"},
		{"cancelled", func(*testing.T) error { return context.Canceled }, "ECANCELED"},
		{"refused by the dial policy", func(*testing.T) error {
			return fmt.Errorf("connect: %w", &RefusedError{Target: "10.0.0.1:80", Reason: "not a lab server"})
		}, "EREFUSED"},
		{"send after close", func(*testing.T) error { return &SendClosedError{State: StateClosed} }, "EPIPE"},
		{"anything else", func(*testing.T) error { return errors.New("something odd") }, "ERROR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err(t)
			got := Classify(err)
			if got == nil {
				t.Fatalf("Classify(%v) = nil", err)
			}
			if got.Errno != tt.want {
				t.Errorf("Classify(%v).Errno = %q, want %q", err, got.Errno, tt.want)
			}
			// A DNS failure's message is rewritten (without the resolver);
			// see TestDNSFailureMessageNamesTheNameOnly.
			if got.Message != err.Error() && got.Errno != "DNS" && !strings.HasPrefix(tt.name, "DNS") {
				t.Errorf("Message = %q, want the error's own %q", got.Message, err.Error())
			}
			if got.Hint == "" || got.Hint != hints[tt.want] {
				t.Errorf("Hint = %q, want %q", got.Hint, hints[tt.want])
			}
		})
	}
}

func TestClassifyNil(t *testing.T) {
	if got := Classify(nil); got != nil {
		t.Errorf("Classify(nil) = %+v, want nil", got)
	}
}

func TestClassifyKeepsSockErr(t *testing.T) {
	se := &SockErr{Errno: "EAGAIN", Message: "try again", Hint: "later"}
	if got := Classify(fmt.Errorf("op: %w", se)); got != se {
		t.Errorf("Classify(wrapped SockErr) = %+v, want the same %+v", got, se)
	}
}

func TestHintsExplainEveryName(t *testing.T) {
	for name, hint := range hints {
		if hint == "" {
			t.Errorf("hint for %s is empty", name)
		}
	}
	// The errors the tutorials meet, which the UI explains, and the names Classify
	// falls back to.
	for _, name := range []string{"ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EADDRINUSE", "EAGAIN", "EPIPE", "DNS",
		"EOF", "ECLOSED", "ECANCELED", "EREFUSED", "ERROR"} {
		if hints[name] == "" {
			t.Errorf("no hint for %s", name)
		}
	}
}

func dialClosedPort(t *testing.T) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s: connected to a closed port", addr)
	}
	return err
}

func bindTakenPort(t *testing.T) error {
	ln := listenLoopback(t, 0)
	ln2, err := net.Listen("tcp", ln.Addr().String())
	if err == nil {
		ln2.Close()
		t.Fatalf("listen %s twice: no error", ln.Addr())
	}
	return err
}

// readReset reads on a connection whose peer closed it with SO_LINGER 0,
// which sends an RST.
func readReset(t *testing.T) error {
	ln := listenLoopback(t, 0)
	c := dial(t, ln.Addr().String())
	ln.SetDeadline(time.Now().Add(waitTimeout))
	peer, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	peer.Close()
	_, err = c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("read after RST: no error")
	}
	return err
}

func readPastDeadline(t *testing.T) error {
	ln := listenLoopback(t, 0)
	c := dial(t, ln.Addr().String())
	c.SetReadDeadline(time.Now().Add(-time.Second))
	_, err := c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("read past the deadline: no error")
	}
	return err
}

func readClosed(t *testing.T) error {
	ln := listenLoopback(t, 0)
	c := dial(t, ln.Addr().String())
	c.Close()
	_, err := c.Read(make([]byte, 1))
	if err == nil {
		t.Fatal("read on a closed connection: no error")
	}
	return err
}

// The errors the engine returns for its own reasons wrap the system's, so
// callers can test them with errors.Is as well as read the errno name.
func TestClassifyRealDialErrorFromLab(t *testing.T) {
	lab, _ := newTestLab(t, LabConfig{})
	target := "127.0.0.1:" + strconv.Itoa(freeLabPort(t))
	_, err := lab.OpenClient(context.Background(), "s", ClientSpec{Kind: "tcp", Target: target})
	if got := Classify(err); got == nil || got.Errno != "ECONNREFUSED" {
		t.Errorf("Classify(%v) = %+v, want ECONNREFUSED", err, got)
	}
}
