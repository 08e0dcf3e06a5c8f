package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/httpbb"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/live"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/report"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/run"
)

type httpbbFlags struct {
	hosts          []string
	caFile         string
	userAgent      string
	rate           float64
	output         string
	reportDir      string
	timeout        time.Duration
	requestTimeout time.Duration
	lint           bool
	allowPost      bool
}

func newHttpbbCommand() *cobra.Command {
	f := httpbbFlags{}
	cmd := &cobra.Command{
		Use:   "httpbb FILE...",
		Short: "Run Wikimedia httpbb YAML suites with pretrain-check's safety guard and reports",
		Long: `Run httpbb suites: each file maps base URLs (https://host) to tests with
path, method, request_headers, json_body or form_body, and assert_status,
assert_headers, assert_headers_regex, assert_headers_absent,
assert_body_contains, assert_body_regex. Files are read as httpbb reads them
(YAML 1.1 scalars; a base URL written twice keeps only its last block, with
a warning naming each shadowed one). The base URL's host is the Host header
and SNI; --hosts says where to connect (every test runs against each host).

--lint parses and validates the files and sends nothing: every problem and
warning is printed with file:line:col; exit 0 when clean, 2 otherwise.

Production safety applies, checked before anything is sent: only GET, HEAD
and an empty POST to /rpc/RunSingleJob.php; only the base URLs' hosts (no
redirect is followed); a User-Agent with contact information; at most --rate
requests per second; TLS verification on (--ca-file adds a private CA). A
suite with a POST carrying a json_body or form_body (model servers' suites)
is refused whole unless --allow-post-to-production is given; then each POST
is sent with its body, still under every other rule.

Pretrain's suites are in fixtures/httpbb. Exit codes as for run: 0 all
passed, 1 a test failed, 2 bad usage, a malformed or unsafe file, 3 no test
got an answer.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			return runHttpbb(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), files, f)
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.hosts, "hosts", nil, "connect to HOST[:PORT] instead of each base URL's host (comma-separated or repeated)")
	fl.StringVar(&f.caFile, "ca-file", "", "also trust the CA certificates of this PEM FILE (verification stays on)")
	fl.StringVar(&f.userAgent, "user-agent", "", "User-Agent with contact information (default: the live target file's)")
	f.rate = live.DefaultRate
	fl.Var((*rateValue)(&f.rate), "rate", fmt.Sprintf("at most this many requests per second, %g to %g", live.MinRate, live.MaxRate))
	fl.StringVarP(&f.output, "output", "o", "table", "stdout format: table, json or junit")
	fl.StringVar(&f.reportDir, "report-dir", "", "write report.json, junit.xml, summary.txt and evidence files to DIR")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up on the whole run after this long")
	fl.DurationVar(&f.requestTimeout, "request-timeout", 10*time.Second, "per request timeout")
	fl.BoolVar(&f.lint, "lint", false, "parse and validate the files, send nothing: exit 0 when clean, 2 otherwise")
	fl.BoolVar(&f.allowPost, "allow-post-to-production", false,
		"send POSTs with their json_body or form_body (they run code on production), under the guard's other rules")
	return cmd
}

// lintHttpbb loads the files and reports every problem and warning, each
// at file:line:col, sending nothing.
func lintHttpbb(stderr io.Writer, files []string) error {
	tests, warnings, err := httpbb.Load(files...)
	for _, w := range warnings {
		fmt.Fprintln(stderr, w)
	}
	switch {
	case err != nil:
		return usageError(fmt.Errorf("lint httpbb files: %w", err))
	case len(warnings) > 0:
		return usageError(fmt.Errorf("lint httpbb files: %d %s", len(warnings), httpbbPlural(len(warnings), "warning", "warnings")))
	}
	fmt.Fprintf(stderr, "httpbb lint: %d %s, %d tests, clean\n", len(files), httpbbPlural(len(files), "file", "files"), len(tests))
	return nil
}

func httpbbPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func runHttpbb(ctx context.Context, stdout, stderr io.Writer, files []string, f httpbbFlags) error {
	if f.lint {
		return lintHttpbb(stderr, files)
	}
	switch f.output {
	case "table", "json", "junit":
	default:
		return usageError(fmt.Errorf("--output %q: want table, json or junit", f.output))
	}
	if f.timeout <= 0 || f.requestTimeout <= 0 {
		return usageError(errors.New("--timeout and --request-timeout must be positive"))
	}
	if err := checkUserAgentFlag(f.userAgent); err != nil {
		return err
	}
	tests, warnings, err := httpbb.Load(files...)
	for _, w := range warnings {
		fmt.Fprintln(stderr, w)
	}
	if err != nil {
		return usageError(err)
	}
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	opts := httpbb.Options{
		Hosts:     f.hosts,
		CAFile:    f.caFile,
		UserAgent: f.userAgent,
		Rate:      f.rate,
		Timeout:   f.requestTimeout,
		AllowPost: f.allowPost,
		// One request per address first, each within seconds: a host that
		// accepts and never answers is exit 3 at once.
		Preflight: preflightTimeout,
	}
	verdicts, err := httpbb.Run(ctx, tests, opts)
	if errors.Is(err, httpbb.ErrUnreachable) {
		return environmentError(err)
	}
	if err != nil {
		return usageError(err)
	}

	rep := report.Report{Cases: verdicts}
	if err := writeReports(stdout, f.output, "pretrain-check httpbb", f.reportDir, rep); err != nil {
		return err
	}
	sum := rep.Summary()
	stop := ""
	if ctx.Err() != nil {
		stop = fmt.Sprintf("the run was stopped after %s (--timeout)", run.RoundSeconds(f.timeout))
		if context.Cause(ctx) == context.Canceled || time.Since(started) < f.timeout {
			stop = fmt.Sprintf("the run was interrupted after %s (Ctrl-C or SIGTERM)", run.RoundSeconds(time.Since(started)))
		}
		fmt.Fprintln(stderr, stoppedLine(stop, rep))
	}
	fmt.Fprintln(stderr, sum.Line())
	if sum.Failed > 0 {
		return errChecksFailed
	}
	if stop != "" {
		return errStopped(stop, rep)
	}
	if err := noAnswerAtAll(verdicts); err != nil {
		return environmentError(err)
	}
	return nothingChecked(rep, "httpbb")
}

// noAnswerAtAll is an environment error when not one test got an HTTP
// answer: the hosts are unreachable, not wrong.
func noAnswerAtAll(vs []check.Verdict) error {
	var first string
	for _, v := range vs {
		if v.Outcome == check.Skipped {
			continue
		}
		if v.Evidence.Err == "" {
			return nil
		}
		if first == "" {
			first = v.Evidence.Err
		}
	}
	if first == "" {
		return nil
	}
	return fmt.Errorf("no httpbb test got an answer; first error: %s", first)
}
