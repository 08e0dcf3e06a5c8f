package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/mattn/go-isatty"
	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/spf13/cobra"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/fixtures"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/latency"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/report"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/run"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

type runFlags struct {
	replica replicaFlags // --target kind
	routes  routesFlags  // --target config
	// minRouteCoverage fails a config run whose cases took fewer routes.
	minRouteCoverage float64
	target           string
	contractFile     string
	labelFilter      string
	focus            []string
	output           string
	reportDir        string
	timeout          time.Duration
	pollTimeout      time.Duration
	pollInterval     time.Duration
	consecutive      int
	probeTimeout     time.Duration
	live             liveFlags // --vantage, --connect-to, --ca-file, --user-agent, --rate
	// Latency budgets: --rate-scale and the live-rate override.
	rateScale       float64
	allowProduction bool
	// features overrides the features (rollout steps) the target declares.
	features string
}

func newRunCommand() *cobra.Command {
	f := runFlags{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the routing checks against a target",
		Long: `Run the contract's checks (the same Ginkgo specs as go test ./suites/...)
against a target and print a routing matrix: case, request, expected, served
by, status, latency, verdict.

--target is "kind" (the replica from "pretrain-check up"), "live", or a
static target file (see fixtures/targets/static-example.yaml).

A case that depends on a rollout step (a contract feature) asserts the
state the target declares: the live target none (production today), the
replicas and the config tier all. --features names the features on instead
("none", "all", or names separated by commas).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.target == "config" {
				// The config tier answers consistently at once: nothing to
				// wait on between answers, and a wrong one stays wrong.
				if !cmd.Flags().Changed("poll-interval") {
					f.pollInterval = configPoll.Interval
				}
				if !cmd.Flags().Changed("poll-timeout") {
					f.pollTimeout = configPoll.Timeout
				}
			}
			return runChecks(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "kind", `where to send requests: "kind", "config" (the routing input, in-process), "live" or a static target FILE`)
	fl.StringVar(&f.contractFile, "contract", "", "routing contract FILE (default: the built-in fixtures/contract/pretrain.yaml)")
	fl.StringVar(&f.labelFilter, "label-filter", "", `Ginkgo label filter, e.g. "xwd && !negative" or "mesh"`)
	fl.StringSliceVar(&f.focus, "focus", nil, "run only cases whose name matches this regexp (repeatable)")
	fl.StringVarP(&f.output, "output", "o", "table", "stdout format: table, json or junit")
	fl.StringVar(&f.reportDir, "report-dir", "", "write report.json, junit.xml, summary.txt and evidence files to DIR")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Minute, "give up on the whole run after this long")
	defaults := check.DefaultPollConfig()
	fl.DurationVar(&f.pollTimeout, "poll-timeout", defaults.Timeout, "per case: how long to wait for the routing to converge")
	fl.DurationVar(&f.pollInterval, "poll-interval", defaults.Interval, "per case: pause between attempts")
	fl.IntVar(&f.consecutive, "consecutive", defaults.RequiredConsecutive, "per case: consecutive correct answers required")
	fl.DurationVar(&f.probeTimeout, "request-timeout", 10*time.Second, "per request timeout")
	f.live.register(fl)
	f.routes.register(fl)
	fl.Float64Var(&f.minRouteCoverage, "min-route-coverage", 0,
		"--target config: fail the run (exit 1) when the cases took fewer than this PERCENT of the input's routes")
	f.replica.register(fl, false)
	fl.Float64Var(&f.rateScale, "rate-scale", 1, "multiply every latency budget's rate, keeping its duration (0.1 for a quick look)")
	fl.StringVar(&f.features, "features", "",
		`features (rollout steps) the target has on: "none", "all" or names such as "edge-diversion,mesh-split" (default: what the target declares)`)
	fl.BoolVar(&f.allowProduction, "i-know-this-is-production", false,
		fmt.Sprintf("allow latency budgets above %g req/s against a live target", latency.LiveRateLimit))
	return cmd
}

// configPoll is the polling of --target config unless flags say otherwise.
var configPoll = check.PollConfig{Timeout: 2 * time.Second, Interval: 5 * time.Millisecond}

func (f runFlags) validate() error {
	if f.target != "config" && len(f.routes.paths) > 0 {
		return usageError(fmt.Errorf("--routes: only with --target config (the kind replica reads its routing when it is brought up)"))
	}
	if f.target != "config" && f.minRouteCoverage != 0 {
		return usageError(fmt.Errorf("--min-route-coverage: only with --target config"))
	}
	if !(f.minRouteCoverage >= 0 && f.minRouteCoverage <= 100) { // NaN too
		return usageError(fmt.Errorf("--min-route-coverage %v: want a percentage within 0..100", f.minRouteCoverage))
	}
	switch f.output {
	case "table", "json", "junit":
	default:
		return usageError(fmt.Errorf("--output %q: want table, json or junit", f.output))
	}
	if f.labelFilter != "" {
		if _, err := types.ParseLabelFilter(f.labelFilter); err != nil {
			return usageError(fmt.Errorf("--label-filter %q: %v", f.labelFilter, err))
		}
	}
	if f.timeout <= 0 || f.pollTimeout <= 0 || f.probeTimeout <= 0 || f.pollInterval < 0 {
		return usageError(fmt.Errorf("--timeout, --poll-timeout and --request-timeout must be positive, --poll-interval not negative"))
	}
	if f.consecutive < 1 {
		return usageError(fmt.Errorf("--consecutive %d: must be at least 1", f.consecutive))
	}
	if err := latency.CheckScale(f.rateScale); err != nil {
		return usageError(fmt.Errorf("--rate-scale: %w", err))
	}
	return checkUserAgentFlag(f.live.userAgent)
}

func loadContract(file string) (*contract.Contract, error) {
	if file == "" {
		c, err := contract.Default()
		if err != nil {
			return nil, fmt.Errorf("load built-in contract: %w", err)
		}
		return c, nil
	}
	c, err := contract.Load(file)
	if err != nil {
		return nil, usageError(err)
	}
	return c, nil
}

func runChecks(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, f runFlags) error {
	if err := f.validate(); err != nil {
		return err
	}
	c, err := loadContract(f.contractFile)
	if err != nil {
		return err
	}
	var diagnose func(ctx context.Context, dir string) error
	var config *configTier
	tgt, closeTarget, err := openTarget(ctx, f.target, withLive(f.live), withReplica(f.replica), withDiagnostics(&diagnose),
		withRoutes(f.routes, stdin, &config))
	if err != nil {
		return err
	}
	defer closeTarget()
	if config != nil {
		fmt.Fprintln(stderr, config.inputLine())
	}
	if c, err = forFeatures(c, tgt, f.features); err != nil {
		return err
	}
	if fs := report.FeaturesOf(c); fs != nil {
		fmt.Fprintln(stderr, fs.Line())
	}
	if s, ok := tgt.(interface{ CheckEntries([]string) error }); ok {
		if err := s.CheckEntries(declaredEntries(c)); err != nil {
			return usageError(err)
		}
	}
	reporter := ginkgoReporter(stderr)
	// Ginkgo's progress goes to stderr so stdout stays machine-readable.
	var res run.Result
	var runErr error
	if err := withStdoutOnStderr(func() {
		res, runErr = run.Run(ctx, run.Options{
			Contract:    c,
			Target:      tgt,
			LabelFilter: f.labelFilter,
			Focus:       f.focus,
			Timeout:     f.timeout,
			Probe:       probe.Options{Timeout: f.probeTimeout, BustCache: tgt.Live(), UserAgent: userAgentFor(tgt)},
			Poll: check.PollConfig{
				Timeout:             f.pollTimeout,
				Interval:            f.pollInterval,
				RequiredConsecutive: f.consecutive,
				MaxHistory:          check.DefaultPollConfig().MaxHistory,
			},
			Latency:   latency.Options{RateScale: f.rateScale, AllowProduction: f.allowProduction, Timeout: f.probeTimeout},
			ReportDir: f.reportDir,
			Before: func(ctx context.Context, sel run.Selection) error {
				return beforeSending(ctx, tgt, f, sel)
			},
			Reporter: &reporter,
		})
		if runErr == nil {
			fmt.Fprintln(stderr) // Ginkgo's succinct summary leaves its line open: the summary line gets its own
		}
	}); err != nil {
		return fmt.Errorf("run suites: %w", err)
	}
	if runErr != nil {
		// Before's refusals carry their exit code; the rest (the
		// selection, the suites' definition) is bad input.
		var coded *exitError
		if errors.As(runErr, &coded) {
			return runErr
		}
		return usageError(runErr)
	}
	rep, stop := res.Report, res.Stop
	verdicts := rep.Cases
	if config != nil {
		rep.Coverage = config.coverage(verdicts, f.minRouteCoverage)
	}
	if rep.Manifest, err = runManifest(f, tgt.Name(), config, res.Started); err != nil {
		return err
	}
	if err := writeReports(stdout, f.output, "pretrain-check", f.reportDir, rep); err != nil {
		return err
	}
	sum := rep.Summary()
	for _, r := range rep.Budgets {
		fmt.Fprintln(stderr, "latency budget: "+r.SummaryLine())
	}
	if len(rep.Budgets) > 0 && f.reportDir != "" {
		fmt.Fprintf(stderr, "latency plots: %s\n", filepath.Join(f.reportDir, "latency", "index.html"))
	}
	if (sum.Failed > 0 || res.SuiteFailed) && diagnose != nil && f.reportDir != "" {
		// Evidence without a second command: what the cluster looked like
		// when the checks failed.
		if err := diagnose(ctx, f.reportDir); err != nil {
			fmt.Fprintf(stderr, "collect diagnostics into %s: %v\n", f.reportDir, err)
		} else {
			fmt.Fprintf(stderr, "diagnostics: %s\n", filepath.Join(f.reportDir, "diagnostics"))
		}
	}
	coverageFailed := false
	if rep.Coverage != nil {
		for _, l := range rep.Coverage.Lines() {
			fmt.Fprintln(stderr, l)
		}
		if err := rep.Coverage.Check(rep.Coverage.Min); err != nil {
			fmt.Fprintln(stderr, "FAIL: "+err.Error())
			coverageFailed = true
		}
	}
	if stop != "" {
		fmt.Fprintln(stderr, stoppedLine(stop, rep))
	}
	fmt.Fprintln(stderr, sum.Line())
	// A stop fails Ginkgo's suite: only a failed check is a failure then.
	if sum.Failed > 0 || (res.SuiteFailed && stop == "") || coverageFailed {
		return errChecksFailed
	}
	if stop != "" {
		return errStopped(stop, rep)
	}
	return nothingChecked(rep, tgt.Name())
}

// beforeSending refuses what must not be sent (exit 2: budgets too fast
// for a live target) and sends the preflight requests (exit 3: the
// environment does not answer), before any check.
func beforeSending(ctx context.Context, tgt target.Target, f runFlags, sel run.Selection) error {
	if err := latency.CheckBudgets(sel.Budgets, f.rateScale, tgt.Live(), f.allowProduction); err != nil {
		return usageError(fmt.Errorf("target %q is live: %w\n(lower --rate-scale, or pass --i-know-this-is-production)", tgt.Name(), err))
	}
	if err := preflight(ctx, tgt, sel.Reached()); err != nil {
		return environmentError(err)
	}
	return nil
}

// ginkgoReporter is Ginkgo's console reporter for a run: succinct, in
// colour only on a terminal.
func ginkgoReporter(stderr io.Writer) types.ReporterConfig {
	_, rc := GinkgoConfiguration()
	rc.NoColor = !isTerminal(stderr)
	rc.Succinct = true
	return rc
}

// forFeatures resolves the contract for the run: the features the flag
// names, else those the target declares.
func forFeatures(c *contract.Contract, tgt target.Target, flag string) (*contract.Contract, error) {
	on := target.DeclaredFeatures(tgt, c)
	if flag != "" {
		var err error
		if on, err = c.ParseFeatureList(flag); err != nil {
			return nil, usageError(fmt.Errorf("--features: %w", err))
		}
	}
	r, err := c.ForFeatures(on)
	if err != nil {
		return nil, usageError(err)
	}
	return r, nil
}

// declaredEntries are the contract's entry points, sorted.
func declaredEntries(c *contract.Contract) []string {
	names := make([]string, 0, len(c.Entries))
	for n := range c.Entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// writeReports prints the report in the --output format on stdout and,
// with --report-dir, writes the report directory.
func writeReports(stdout io.Writer, output, suiteName, reportDir string, rep report.Report) error {
	var err error
	switch output {
	case "table":
		err = rep.WriteTable(stdout, isTerminal(stdout))
	case "json":
		err = rep.WriteJSON(stdout)
	case "junit":
		err = rep.WriteJUnit(stdout, suiteName)
	default:
		err = fmt.Errorf("unknown format")
	}
	if err != nil {
		return fmt.Errorf("write %s report: %w", output, err)
	}
	if reportDir != "" {
		if err := rep.WriteDir(reportDir); err != nil {
			return fmt.Errorf("write report directory: %w", err)
		}
	}
	return nil
}

// runManifest says what the run was: the tool, the contract and every
// routing input by digest, the target, the selection and its times.
func runManifest(f runFlags, targetName string, config *configTier, started time.Time) (*report.Manifest, error) {
	m := &report.Manifest{Tool: version, Target: targetName, LabelFilter: f.labelFilter, Focus: f.focus, Started: started, Ended: time.Now()}
	if f.contractFile == "" {
		m.Contract = report.NewInput(fixtures.ContractPath+" (built in)", fixtures.Contract)
	} else {
		data, err := os.ReadFile(f.contractFile)
		if err != nil {
			return nil, fmt.Errorf("digest the contract: %w", err)
		}
		m.Contract = report.NewInput(f.contractFile, data)
	}
	if config != nil {
		for _, s := range config.tier.Model().Input().Sources {
			m.Inputs = append(m.Inputs, report.Input{Name: s.Name, SHA256: s.SHA256, Size: s.Size})
		}
	}
	return m, nil
}
