package engine

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tutorials' multi-connection client, written in Python from their
// behaviour (engine/testdata/multiconn), gets every echo back from
// sockplay's tcp-echo with a small recv_size, and every one of its
// connections is recorded.
func TestPythonMultiConnClientAgainstEcho(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed; skipping the Python multiconn client (CI installs it)")
	}
	lab, sink := newTestLab(t, LabConfig{})
	srv := startEcho(t, lab, "s", `{"recv_size":8}`)
	host, port := "127.0.0.1", strconv.Itoa(portNum(t, srv.Addr))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "testdata/multiconn/multiconn_client.py", host, port, "20", "5").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "20 connections, all echoes matched") {
		t.Fatalf("python multiconn client: %v\n%s", err, out)
	}
	sink.waitFor(t, "20 accepted connections, each closed", func(evs []Event) bool {
		return len(filter(evs, KindAccept, srv.ID)) == 20 && len(filter(evs, KindClose, srv.ID)) >= 20
	})
}
