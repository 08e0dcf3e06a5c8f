package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// execute runs the CLI in-process up to (never into) a Ginkgo run: these
// cases all end before RunSpecs, which can run once per process only.
func execute(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		errOut.WriteString("ERROR: " + err.Error() + "\n")
	}
	return exitCodeQuiet(err), out.String(), errOut.String()
}

func exitCodeQuiet(err error) int {
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	saved := os.Stderr
	os.Stderr = devnull
	defer func() { os.Stderr = saved }()
	return exitCode(err)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExitCodesAndMessages(t *testing.T) {
	unreachable := writeFile(t, "down.yaml", "name: down\nentries:\n  ingress: {url: \"http://127.0.0.1:1\"}\n")
	tinyRate := writeFile(t, "tiny.yaml", "kind: live\nuser_agent: \"x/1 (https://example.org)\"\nrate: 1e-300\nvantage_points:\n  external:\n    allow_hosts: [test.wikipedia.org]\n    entries:\n      edge: {url: \"https://test.wikipedia.org\"}\n")
	liveStatic := writeFile(t, "livestatic.yaml", "name: prod\nlive: true\nentries:\n  edge: {url: \"https://127.0.0.1:1\"}\n")
	emptyTarget := writeFile(t, "empty.yaml", "")
	brokenTarget := writeFile(t, "broken.yaml", "name: x\n entries: y\n")
	typoTarget := writeFile(t, "typo.yaml", "entries:\n  edge: {url: \"http://127.0.0.1:1\"}\n  ingres: {url: \"http://127.0.0.1:1\"}\n")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string // substrings of stderr
		wantOut  []string // substrings of stdout
	}{
		{"unknown flag", []string{"run", "--no-such-flag"}, exitUsage, []string{"unknown flag: --no-such-flag"}, nil},
		{"unknown command", []string{"frobnicate"}, exitUsage, []string{`unknown command "frobnicate"`}, nil},
		{"bad output", []string{"run", "--output", "xml"}, exitUsage, []string{`--output "xml": want table, json or junit`}, nil},
		{"bad label filter", []string{"run", "--label-filter", "(xwd"}, exitUsage, []string{`--label-filter "(xwd"`}, nil},
		{"no case matches", []string{"run", "--target", unreachable, "--label-filter", "no-such-label"}, exitUsage,
			[]string{`matched --label-filter "no-such-label"`}, nil},
		{"unknown feature", []string{"run", "--target", unreachable, "--features", "edge-diversion,mesh-splits"}, exitUsage,
			[]string{`--features: parse features "edge-diversion,mesh-splits": unknown feature "mesh-splits" (want edge-diversion, rest-diversion, mesh-split, "none" or "all")`}, nil},
		{"missing target file", []string{"run", "--target", "/nonexistent/target.yaml"}, exitUsage,
			[]string{`--target "/nonexistent/target.yaml"`}, nil},
		{"bad consecutive", []string{"run", "--consecutive", "0"}, exitUsage, []string{"--consecutive 0"}, nil},
		{"unreachable target", []string{"run", "--target", unreachable, "--label-filter", "entry-ingress"}, exitEnvironment,
			[]string{`target "static:down" is not reachable`, `entry "ingress"`, "127.0.0.1:1", "connection refused"}, nil},
		{"rate NaN", []string{"run", "--target", "live", "--rate", "NaN"}, exitUsage, []string{`invalid argument "NaN" for "--rate" flag`}, nil},
		{"rate 1e-10", []string{"run", "--target", "live", "--rate", "1e-10"}, exitUsage, []string{`"--rate" flag: check rate: 1e-10 requests/s is not a number within [0.01, 10]`}, nil},
		{"rate 1e-300", []string{"run", "--target", "live", "--rate", "1e-300"}, exitUsage, []string{`"--rate" flag: check rate: 1e-300`}, nil},
		{"rate zero", []string{"run", "--target", "live", "--rate", "0"}, exitUsage, []string{`"--rate" flag: check rate: 0`}, nil},
		{"rate +Inf", []string{"run", "--target", "live", "--rate", "+Inf"}, exitUsage, []string{`"--rate" flag: check rate: +Inf`}, nil},
		{"rate above max", []string{"run", "--target", "live", "--rate", "11"}, exitUsage, []string{`"--rate" flag: check rate: 11`}, nil},
		{"httpbb rate NaN", []string{"httpbb", "--rate", "NaN", "../../fixtures/httpbb/pretrain.yaml"}, exitUsage, []string{`invalid argument "NaN" for "--rate" flag`}, nil},
		{"httpbb rate 1e-300", []string{"httpbb", "--rate", "1e-300", "../../fixtures/httpbb/pretrain.yaml"}, exitUsage, []string{`"--rate" flag: check rate: 1e-300`}, nil},
		{"live file rate 1e-300", []string{"run", "--target", tinyRate}, exitUsage, []string{tinyRate + ":3:7: rate: check rate: 1e-300"}, nil},
		{"user agent with CR LF", []string{"run", "--target", "live", "--user-agent", "x/1 (https://example.org)\r\nX-Evil: 1"}, exitUsage,
			[]string{"--user-agent: User-Agent", "has control characters"}, nil},
		{"httpbb user agent with NUL", []string{"httpbb", "--user-agent", "x/1 (https://example.org)\x00", "../../fixtures/httpbb/pretrain.yaml"}, exitUsage,
			[]string{"--user-agent: User-Agent", "has control characters"}, nil},
		{"static target live: true", []string{"run", "--target", liveStatic}, exitUsage,
			[]string{liveStatic + ":2:1: a static target cannot be live: use a live target file (kind: live"}, nil},
		{"empty target file", []string{"run", "--target", emptyTarget}, exitUsage, []string{emptyTarget + ":1:1: parse static target: the file is empty"}, nil},
		{"broken target file", []string{"run", "--target", brokenTarget}, exitUsage, []string{brokenTarget + ":2:1: parse static target: mapping values are not allowed"}, nil},
		{"undeclared target entry", []string{"run", "--target", typoTarget}, exitUsage,
			[]string{typoTarget + `:3:3: entry "ingres" is not an entry point of the contract`}, nil},
		{"lint clean", []string{"contract", "lint", "../../fixtures/contract/pretrain.yaml"}, exitPassed, nil,
			[]string{"pretrain.yaml: ok ("}},
		{"lint broken", []string{"contract", "lint", "../../harness/contract/testdata/broken.yaml", "../../fixtures/contract/pretrain.yaml"}, exitUsage,
			[]string{`broken.yaml:8:5: backend #3: unknown key "descripton"`, "1 of 2 files have problems"}, []string{"pretrain.yaml: ok"}},
		{"lint missing file", []string{"contract", "lint", "/nonexistent.yaml"}, exitUsage, []string{"/nonexistent.yaml"}, nil},
		{"lint needs a file", []string{"contract", "lint"}, exitUsage, []string{"requires at least 1 arg"}, nil},
		{"version", []string{"version"}, exitPassed, nil, []string{"pretrain-check "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := execute(t, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code: want %d, got %d\nstdout: %s\nstderr: %s", tc.wantCode, code, stdout, stderr)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr should contain %q, got:\n%s", w, stderr)
				}
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout should contain %q, got:\n%s", w, stdout)
				}
			}
		})
	}
}

// Every problem of a broken contract is printed, not just the first.
func TestLintPrintsEveryProblem(t *testing.T) {
	code, _, stderr := execute(t, "contract", "lint", "../../harness/contract/testdata/broken.yaml")
	if code != exitUsage {
		t.Fatalf("exit code: want %d, got %d", exitUsage, code)
	}
	n := strings.Count(stderr, "broken.yaml:")
	if n < 10 {
		t.Errorf("want every problem (>= 10) with file:line:col, got %d:\n%s", n, stderr)
	}
}

// contract lint fails a planned case without a feature, and --sources
// still lists the sources of a contract with features.
func TestLintFeatures(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "planned.yaml")
	os.WriteFile(bad, []byte(`version: 1
features: [{name: step-one, source: "planned: T1 step 1"}]
backends: [{name: ns/a}]
entries: [{name: e}]
cases:
  - name: c
    source: "planned: T1 step 1"
    entry: e
    labels: [host]
    request: {method: GET, host: h.example, path: /}
    expect: {served_by: ns/a}
`), 0o644)
	code, _, stderr := execute(t, "contract", "lint", bad)
	if code != exitUsage || !strings.Contains(stderr, `planned.yaml:6:5: case "c" is planned (planned: T1 step 1) but names no feature`) {
		t.Errorf("lint of a planned case without a feature: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr := execute(t, "contract", "lint", "--sources", "../../fixtures/contract/pretrain.yaml")
	if code != exitPassed || !strings.Contains(stdout, "planned: T427666 step 1\n    cases: edge-testwiki-main-page") ||
		!strings.Contains(stdout, "3 features") {
		t.Errorf("lint --sources: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
