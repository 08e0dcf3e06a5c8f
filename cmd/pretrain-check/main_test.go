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
		{"missing target file", []string{"run", "--target", "/nonexistent/target.yaml"}, exitUsage,
			[]string{`--target "/nonexistent/target.yaml"`}, nil},
		{"bad consecutive", []string{"run", "--consecutive", "0"}, exitUsage, []string{"--consecutive 0"}, nil},
		{"unreachable target", []string{"run", "--target", unreachable, "--label-filter", "entry-ingress"}, exitEnvironment,
			[]string{`target "static:down" is not reachable`, `entry "ingress"`, "127.0.0.1:1", "connection refused"}, nil},
		{"lint clean", []string{"contract", "lint", "../../fixtures/contract/pretrain.yaml"}, exitPassed, nil,
			[]string{"pretrain.yaml: ok (72 cases"}},
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
