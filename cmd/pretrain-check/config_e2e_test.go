package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/fixtures"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/mutate"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/report"
)

// runBinary runs the built CLI with stdin (RunSpecs runs once per
// process), bounded: a hung run fails the test instead of hanging it.
func runBinary(t *testing.T, stdin []byte, args ...string) liveResult {
	t.Helper()
	cmd := exec.Command(liveBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &stdout, &stderr
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("pretrain-check %s: still running after 3 minutes", strings.Join(args, " "))
	}
	r := liveResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return r
}

func failedCases(t *testing.T, jsonReport string) []string {
	t.Helper()
	var rep report.JSONReport
	if err := json.Unmarshal([]byte(jsonReport), &rep); err != nil {
		t.Fatalf("parse the JSON report: %v\n%s", err, jsonReport)
	}
	var failed []string
	for _, c := range rep.Cases {
		if c.Outcome == "failed" {
			failed = append(failed, c.Name)
		}
	}
	sort.Strings(failed)
	return failed
}

// The deployment-charts CI recipe: helm template output on stdin.
func TestConfigRunFromHelmTemplateOnStdin(t *testing.T) {
	t.Parallel()
	stream := exampleStream(t)
	r := runBinary(t, stream, "run", "--target", "config", "--routes", "-", "--min-route-coverage", "100", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s", r.code, r.stderr)
	}
	if got := failedCases(t, r.stdout); len(got) != 0 {
		t.Errorf("failed cases %v", got)
	}
	if !strings.Contains(r.stderr, "route coverage: 4 of 4 routes (100.0%)") || !strings.Contains(r.stderr, "routing input: <stdin>: 2 Gateways, 2 VirtualServices, 3 Services, 5 Deployments; ignored 5 objects") {
		t.Errorf("stderr lacks full route coverage:\n%s", r.stderr)
	}
	// Every verdict names the route that matched.
	if !strings.Contains(r.stdout, `"X-Pretrain-Route"`) || !strings.Contains(r.stdout, "mw-pretrain/mediawiki-main http[0] (debug)") {
		t.Errorf("the JSON evidence does not name the route taken")
	}
	// The manifest digests exactly what was read.
	var rep report.JSONReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	m := rep.Manifest
	wantContract, wantInput := report.NewInput("", fixtures.Contract), report.NewInput("", stream)
	if m == nil || m.Target != "config" || m.Contract.SHA256 != wantContract.SHA256 || len(m.Inputs) != 1 ||
		m.Inputs[0].Name != "<stdin>" || m.Inputs[0].SHA256 != wantInput.SHA256 || m.Ended.Before(m.Started) {
		t.Errorf("manifest %+v: want the built-in contract's and stdin's sha256, target config", m)
	}
	if !strings.Contains(r.summary(), " 0 failed") {
		t.Errorf("summary %q", r.summary())
	}
}

// A mutated rendering (here: the debug regex widened to ".*") fails
// exactly the mutation's cases, read from files as a user gives them.
func TestConfigRunFailsAMutatedRendering(t *testing.T) {
	t.Parallel()
	m, err := configtarget.Mutation("xwd-regex-widened")
	if err != nil {
		t.Fatal(err)
	}
	files, err := configtarget.ExampleFiles()
	if err != nil {
		t.Fatal(err)
	}
	mf := make([]mutate.File, len(files))
	for i, f := range files {
		mf[i] = mutate.File{Name: f.Name, Data: f.Data}
	}
	if mf, err = mutate.Apply(mf, m); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range mf {
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f.Name)), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := runBinary(t, nil, "run", "--target", "config", "--routes", dir, "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	want := configtarget.Failures(m, c)
	if got := failedCases(t, r.stdout); !slices.Equal(got, want) {
		t.Errorf("failed cases %v, want %v", got, want)
	}
}

func TestConfigRunRouteCoverageThreshold(t *testing.T) {
	t.Parallel()
	args := []string{"run", "--target", "config", "--focus", "ingress-testwiki-main-page$"}
	r := runBinary(t, nil, append(args, "--min-route-coverage", "100")...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (1 route of 4 covered)\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"route coverage: 1 of 4 routes (25.0%)", "mw-pretrain/mediawiki-main http[0] (debug): UNCOVERED (fixtures/routes/main.yaml:", "under --min-route-coverage 100%"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r := runBinary(t, nil, append(args, "--min-route-coverage", "25")...); r.code != 0 {
		t.Errorf("--min-route-coverage 25: exit %d, want 0\n%s", r.code, r.stderr)
	}
}

func TestConfigRunBadInput(t *testing.T) {
	bad := writeFile(t, "bad.yaml", "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs}\nspec:\n  hosts: [a]\n  http:\n  - fault: {abort: {httpStatus: 500}}\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"routes without config", []string{"run", "--target", "kind", "--routes", bad}, "--routes: only with --target config"},
		{"coverage without config", []string{"run", "--target", "kind", "--min-route-coverage", "50"}, "only with --target config"},
		{"coverage NaN", []string{"run", "--target", "config", "--min-route-coverage", "NaN"}, "within 0..100"},
		{"coverage over 100", []string{"run", "--target", "config", "--min-route-coverage", "101"}, "within 0..100"},
		{"missing file", []string{"run", "--target", "config", "--routes", "/nonexistent/routes.yaml"}, "/nonexistent/routes.yaml"},
		{"not modelled field", []string{"run", "--target", "config", "--routes", bad}, bad + ":7:5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := execute(t, tc.args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s", code, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("error lacks %q:\n%s", tc.want, errOut)
			}
		})
	}
}
