package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/report"
)

// silentServer accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// A server that accepts and never answers is exit 3 within seconds: the
// preflight sends an HTTP request, not only a TCP dial (run used to wait
// its whole --timeout, httpbb 20 s).
func TestPreflightSilentServer(t *testing.T) {
	t.Parallel()
	addr := silentServer(t)
	static := writeFile(t, "silent.yaml", fmt.Sprintf("name: silent\nentries:\n  ingress: {url: \"http://%s\"}\n", addr))
	suite := writeFile(t, "silent-httpbb.yaml", "https://test.wikipedia.org:\n- path: /wiki/Main_Page\n  assert_status: 200\n- path: /\n  assert_status: 301\n")
	for name, args := range map[string][]string{
		"run":    {"run", "--target", static, "--label-filter", "entry-ingress"},
		"httpbb": {"httpbb", suite, "--hosts", addr},
	} {
		t.Run(name, func(t *testing.T) {
			// The binary, not execute: each waits out the preflight's 5s,
			// side by side, and execute swaps os.Stderr, which parallel
			// tests must not.
			t.Parallel()
			start := time.Now()
			r := runBinary(t, nil, args...)
			code, stderr := r.code, r.stderr
			if el := time.Since(start); code != exitEnvironment || el > 10*time.Second {
				t.Fatalf("exit %d after %s, want %d within seconds\n%s", code, el, exitEnvironment, stderr)
			}
			if !strings.Contains(stderr, addr) || !strings.Contains(stderr, "within 5s") {
				t.Errorf("stderr should name %s and the preflight's 5s:\n%s", addr, stderr)
			}
		})
	}
}

// A run that checked nothing (every selected case n/a) exits 2 with
// "nothing checked" and the reason, after its report.
func TestNothingCheckedExits2(t *testing.T) {
	onlyMesh := writeFile(t, "mesh.yaml", "name: mesh-only\nentries:\n  mesh/mw-jobrunner:\n    forward: {endpoint: \"http://127.0.0.1:1/forward\", in_pod_url: \"http://127.0.0.1:6506\"}\n")
	r := runLive(t, "run", "--target", onlyMesh, "--label-filter", "entry-edge")
	if r.code != exitUsage || !strings.Contains(r.stderr, `nothing checked: all `) || !strings.Contains(r.stderr, `selected checks are n/a on target "static:mesh-only"; first reason: target "static:mesh-only" has no entry "edge"`) {
		t.Fatalf("exit %d, want %d with nothing checked\nstdout:\n%s\nstderr:\n%s", r.code, exitUsage, r.stdout, r.stderr)
	}
	// Filtered to nothing: the same words, before anything runs.
	code, _, stderr := execute(t, "run", "--target", onlyMesh, "--label-filter", "no-such-label")
	if code != exitUsage || !strings.Contains(stderr, "nothing checked: no case or budget matched") {
		t.Fatalf("filtered to nothing: exit %d\n%s", code, stderr)
	}
}

// A run stopped by --timeout reports EVERY selected case (the one in
// flight and those never run, inconclusive with why) in every format and
// exits with exitStopped when nothing failed.
func TestStoppedRunReportsEveryCase(t *testing.T) {
	t.Parallel()
	// Every answer is an unidentified 404: no case fails before the 3 s
	// --timeout (a wrong answer is polled for 30 s); the few cases that
	// expect exactly that 404 pass, the others are in flight or never run.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) }))
	defer srv.Close()
	static := writeFile(t, "slow.yaml", fmt.Sprintf("name: slow\nentries:\n  ingress: {url: %q}\n", srv.URL))
	dir := t.TempDir()
	r := runLive(t, "run", "--target", static, "--label-filter", "entry-ingress && !latency", "--timeout", "3s",
		"--poll-timeout", "30s", "--output", "json", "--report-dir", dir)
	if r.code != exitStopped {
		t.Fatalf("exit %d, want %d\nstderr:\n%s", r.code, exitStopped, r.stderr)
	}
	var doc report.JSONReport
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, r.stdout)
	}
	sum := doc.Summary
	if sum.Cases < 2 || sum.Inconclusive == 0 || sum.Passed+sum.Inconclusive != sum.Total || sum.Failed != 0 {
		t.Fatalf("summary %+v: want every selected case, none failed, the unfinished ones inconclusive", sum)
	}
	notRun := 0
	for _, c := range doc.Cases {
		if c.Outcome == "passed" {
			continue
		}
		reasons := strings.Join(c.Reasons, "; ")
		if !strings.Contains(reasons, "the run was stopped after 3s (--timeout)") {
			t.Errorf("case %s: reasons %q do not say the run was stopped", c.Name, reasons)
		}
		if strings.HasPrefix(reasons, "not run: ") {
			notRun++
		}
	}
	if notRun == 0 {
		t.Errorf("no case reported as not run")
	}
	if !strings.Contains(r.summary(), fmt.Sprintf("%d passed, 0 failed, %d inconclusive", sum.Passed, sum.Inconclusive)) {
		t.Errorf("summary line %q", r.summary())
	}
	if !strings.Contains(r.stderr, "stopped: the run was stopped after 3s (--timeout): ") {
		t.Errorf("stderr does not say why the run stopped:\n%s", r.stderr)
	}
}

// The README's exit code table documents every exit code, the new one
// for a stopped run included.
func TestREADMEExitCodeTable(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	for code, words := range map[int]string{
		exitPassed: "every check passed", exitFailed: "a check failed", exitUsage: "nothing checked",
		exitEnvironment: "could not be reached", exitStopped: "the run was stopped",
	} {
		row := fmt.Sprintf("\n| %d | ", code)
		i := strings.Index(readme, row)
		if i < 0 {
			t.Errorf("README: no exit code row for %d", code)
			continue
		}
		line := readme[i+1:]
		line = line[:strings.Index(line, "\n")]
		if !strings.Contains(line, words) {
			t.Errorf("README: exit code %d row %q does not say %q", code, line, words)
		}
	}
	if exitStopped != 4 {
		t.Errorf("exitStopped is %d; the README documents 4", exitStopped)
	}
}
