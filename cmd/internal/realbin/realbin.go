// Package realbin builds and runs the real sockplay binary for the commands
// that measure it from another process (cmd/sockbench, cmd/workshopbench).
package realbin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Build compiles the module in the current directory into dir and returns
// the binary's path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "sockplay")
	fmt.Fprintln(os.Stderr, "building sockplay…")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// Proc is a running sockplay.
type Proc struct {
	Cmd  *exec.Cmd
	Addr string // host:port of its web server
	URL  string // http://Addr
	once sync.Once
}

// Start runs bin on a free loopback port with args (plus -addr) and env
// added to this process's environment, and waits until /healthz answers.
// Its standard error goes to ours; its standard output is discarded.
func Start(bin string, args []string, env ...string) (*Proc, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, append([]string{"-addr", addr}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Cmd: cmd, Addr: addr, URL: "http://" + addr}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("sockplay did not answer on %s within 30s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop interrupts the process (a clean shutdown) and kills it if it has not
// ended within 20 s. It may be called more than once.
func (p *Proc) Stop() {
	p.once.Do(func() {
		p.Cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.Cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			p.Cmd.Process.Kill()
			<-done
		}
	})
}

// FreePort returns a loopback TCP port nothing listens on now.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Call sends a JSON API request (body nil, a string of JSON, or a value to
// encode) with c and decodes the answer into out (if not nil). An answer
// of 300 or more is an error that quotes it.
func Call(c *http.Client, method, url string, body, out any) error {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
