package web

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// This file is not static_js_test.go: a _js suffix would build it for
// GOOS=js only.

// TestStaticJS runs the page scripts' unit tests (static/test/*.test.mjs:
// formatting, renderers, the API helper) with node's built-in test runner,
// so that go test ./... covers the JavaScript too. Without node (18 or
// newer) on the PATH it skips.
func TestStaticJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on the PATH: skipping the JavaScript unit tests in static/test (install Node.js 18 or newer to run them)")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Skipf("%s --version failed (%v): skipping the JavaScript unit tests in static/test", node, err)
	}
	m := regexp.MustCompile(`^v(\d+)\.`).FindSubmatch(out)
	if m == nil {
		t.Skipf("%s --version says %q, not a Node.js version: skipping the JavaScript unit tests in static/test", node, out)
	}
	if major, _ := strconv.Atoi(string(m[1])); major < 18 {
		t.Skipf("node %s is too old for its test runner (18 or newer): skipping the JavaScript unit tests in static/test", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The test's working directory is web/.
	cmd := exec.CommandContext(ctx, node, "--test", "../static/test/")
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test ../static/test/: %v\n%s", err, out)
	}
	t.Logf("node --test ../static/test/ passed:\n%s", summary(out))
}

// summary is the last lines of node's report (the counts), for -v.
func summary(out []byte) []byte {
	if m := regexp.MustCompile(`(?s)# tests \d+.*$`).Find(out); m != nil {
		return m
	}
	return out
}
