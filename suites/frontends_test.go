package suites_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/replicatest"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/report"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// TestFrontEndsAgree runs the same specs through both front ends, go test
// (TestSuites in a child process) and the pretrain-check binary, against
// one in-process replica with a fault, and requires identical results:
// same cases, same outcomes, same backends and statuses.
func TestFrontEndsAgree(t *testing.T) {
	if os.Getenv(envTarget) != "" {
		t.Skip("child run of TestSuites: not a front-end comparison")
	}
	if testing.Short() {
		t.Skip("SKIPPED: builds the pretrain-check binary; run without -short")
	}
	t.Parallel()
	r, err := replicatest.Start(replicatest.XWDIgnored)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	targetFile := filepath.Join(t.TempDir(), "replica.yaml")
	if err := writeStaticTarget(targetFile, r.Target(), c); err != nil {
		t.Fatal(err)
	}

	bin := filepath.Join(t.TempDir(), "pretrain-check")
	build := exec.Command("go", "build", "-o", bin, "../cmd/pretrain-check")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build pretrain-check: %v\n%s", err, out)
	}

	// Both front ends poll alike, at the proofs' interval (proofPoll).
	poll := []string{envPollTimeout + "=1500ms", envPollInterval + "=250ms"}
	goTestDir := t.TempDir()
	childBin, err := childBinary()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(childBin, "-test.run=^TestSuites$", "-test.count=1", "-ginkgo.label-filter=!latency")
	child.Env = childEnv(append([]string{envTarget + "=" + targetFile, envReportDir + "=" + goTestDir}, poll...)...)
	childOut, childErr := child.CombinedOutput()

	cliDir := t.TempDir()
	var stdout, stderr bytes.Buffer
	cli := exec.Command(bin, "run", "--target", targetFile, "--output", "json", "--report-dir", cliDir, "--label-filter", "!latency",
		"--poll-timeout", "1500ms", "--poll-interval", "250ms")
	cli.Stdout, cli.Stderr = &stdout, &stderr
	cliErr := cli.Run()

	// Both must fail (the fault is real) and the CLI must say so with exit 1.
	var ee *exec.ExitError
	if !errors.As(cliErr, &ee) || ee.ExitCode() != 1 {
		t.Errorf("pretrain-check run: want exit code 1 (checks failed), got %v\nstderr:\n%s", cliErr, stderr.String())
	}
	if childErr == nil {
		t.Errorf("go test front end passed against a faulty replica:\n%s", tail(childOut, 30))
	}
	if !strings.Contains(stderr.String(), "pretrain-check: 84 passed, 11 failed, 0 inconclusive, 0 n/a") {
		t.Errorf("pretrain-check run: summary line missing or wrong in stderr:\n%s", tail(stderr.Bytes(), 5))
	}

	var fromStdout report.JSONReport
	if err := json.Unmarshal(stdout.Bytes(), &fromStdout); err != nil {
		t.Fatalf("pretrain-check run --output json: stdout is not the JSON report: %v\n%s", err, tail(stdout.Bytes(), 10))
	}
	goTest := outcomes(t, filepath.Join(goTestDir, "report.json"))
	cliRun := outcomes(t, filepath.Join(cliDir, "report.json"))
	if got := summarise(fromStdout); got != strings.Join(cliRun, "\n") {
		t.Errorf("pretrain-check run: stdout JSON and --report-dir report.json differ")
	}
	if len(goTest) != len(c.Cases)+len(c.Shares) {
		t.Errorf("go test front end reported %d cases and shares, the contract has %d", len(goTest), len(c.Cases)+len(c.Shares))
	}
	if a, b := strings.Join(goTest, "\n"), strings.Join(cliRun, "\n"); a != b {
		t.Errorf("front ends disagree:\n--- go test\n%s\n--- pretrain-check run\n%s", a, b)
	}
}

// outcomes reads a report and returns one comparable line per case.
func outcomes(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var rep report.JSONReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return strings.Split(summarise(rep), "\n")
}

func summarise(rep report.JSONReport) string {
	var lines []string
	for _, c := range rep.Cases {
		served, status := "", 0
		if c.Response != nil {
			served, status = c.Response.ServedBy.Backend, c.Response.Status
			// Main and canary share a Service: which one answered varies.
			served = strings.Replace(served, "mw-pretrain/canary", "mw-pretrain/main", 1)
			served = strings.Replace(served, "mw-pretrain/jobrunner-canary", "mw-pretrain/jobrunner", 1)
		}
		lines = append(lines, fmt.Sprintf("%s %s %s %d", c.Name, c.Outcome, served, status))
	}
	for _, sh := range rep.Shares {
		lines = append(lines, fmt.Sprintf("share %s %s %d", sh.Name, sh.Outcome, sh.Sent))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// writeStaticTarget writes a static target file for every entry point
// the contract uses, as the target resolves them.
func writeStaticTarget(path string, tgt target.Target, c *contract.Contract) error {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nentries:\n", "replicatest")
	names := make([]string, 0, len(c.Entries))
	for name := range c.Entries {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ep, err := tgt.Endpoint(name)
		if errors.Is(err, target.ErrNotApplicable) {
			continue
		}
		if err != nil {
			return err
		}
		if ep.Forward != nil {
			fmt.Fprintf(&b, "  %s:\n    forward: {endpoint: %q, in_pod_url: %q}\n", name, ep.Forward.Endpoint, ep.Forward.InPodURL)
			continue
		}
		fmt.Fprintf(&b, "  %s: {url: %q}\n", name, ep.URL.String())
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
