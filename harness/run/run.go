// Package run is the one entry point of a check run: the suites generated
// from a contract (cases, latency budgets, canary shares) against one
// target, run by Ginkgo, into one report that carries every selected check.
// pretrain-check run, the go test front end (suites) and the kind tier's
// child run (suites/e2e) all call Run; they differ only in the options they
// map from flags or environment and in what they do with the report.
//
// Run never prints: Ginkgo's reporter writes where the caller's reporter
// configuration says, the caller writes the report.
package run

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/latency"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/report"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/share"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/suites"
)

// Options is one run. Contract and Target are required; a zero field
// takes the default its comment gives.
type Options struct {
	// Contract is the routing contract, resolved for the run's features
	// (contract.ForFeatures); one that is not is resolved with the
	// features the target declares (target.DeclaredFeatures).
	Contract *contract.Contract
	Target   target.Target
	// SuiteName names the Ginkgo suite (and the JUnit suite). Default
	// "pretrain-check".
	SuiteName string
	// LabelFilter and Focus select the checks, as Ginkgo's
	// --label-filter and --focus. Empty: what Ginkgo's own flags say
	// (go test -ginkgo.label-filter ...), else everything.
	LabelFilter string
	Focus       []string
	// Timeout ends the suite (Ginkgo's --timeout). Zero: Ginkgo's own.
	Timeout time.Duration
	// Probe, Poll and Latency configure the cases' requests and polling
	// and the budgets' attacks. Zero Poll: check.DefaultPollConfig().
	Probe   probe.Options
	Poll    check.PollConfig
	Latency latency.Options
	// Concurrency is how many cases are checked at a time, before the
	// specs run (suites.Config.Prefetch). Zero: DefaultConcurrency, or 1
	// against a live target (one request at a time, politely).
	Concurrency int
	// ReportDir receives the budgets' plots while the run goes on (the
	// caller writes the report there after).
	ReportDir string
	// SkipShares leaves the contract's canary-share checks out (for a
	// target whose replica counts differ from production's).
	SkipShares bool
	// Before runs once the checks are selected and before anything is
	// sent: safety refusals and preflight requests. Its error is returned
	// unchanged.
	Before func(ctx context.Context, sel Selection) error
	// T is the GinkgoTestingT the suite reports to: a go test front end
	// passes its *testing.T. Nil: Run's own, whose failure is Result.SuiteFailed.
	T ginkgo.GinkgoTestingT
	// Reporter configures Ginkgo's console reporter. Nil: Ginkgo's flags.
	Reporter *types.ReporterConfig
}

// Result is what a run found.
type Result struct {
	// Report has every selected check in contract order: a check the run
	// never reached is inconclusive, "not run: <why>".
	Report report.Report
	// Stop says why the run ended before every check had a verdict
	// (Ctrl-C, the Timeout), "" when it did not.
	Stop string
	// SuiteFailed: Ginkgo failed the suite (a failed check, a panic in a
	// spec, or a stop).
	SuiteFailed bool
	Started     time.Time
	Ended       time.Time
}

// DefaultConcurrency is how many cases a run checks at a time on a target
// that is not live.
const DefaultConcurrency = 8

// ErrNothingSelected: the label filter and focus select no check.
var ErrNothingSelected = errors.New("nothing checked")

// Run runs the suites. Its error means the run could not start (bad
// options, nothing selected, Before refused); failed checks are in the
// Result, not the error. Ginkgo runs one suite per process: call Run once.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Contract == nil || o.Target == nil {
		return Result{}, errors.New("run: Contract and Target are required")
	}
	suiteConfig, reporterConfig := ginkgo.GinkgoConfiguration()
	if o.LabelFilter != "" {
		suiteConfig.LabelFilter = o.LabelFilter
	}
	if len(o.Focus) > 0 {
		suiteConfig.FocusStrings = o.Focus
	}
	if o.Timeout > 0 {
		suiteConfig.Timeout = o.Timeout
	}
	if o.Reporter != nil {
		reporterConfig = *o.Reporter
	}
	if o.SuiteName == "" {
		o.SuiteName = "pretrain-check"
	}
	if o.Poll == (check.PollConfig{}) {
		o.Poll = check.DefaultPollConfig()
	}
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
		if o.Target.Live() {
			o.Concurrency = 1
		}
	}
	c := o.Contract
	if !c.Resolved() {
		// Resolved here, not only in suites.Define: the report matches
		// verdicts to the selected cases by identity.
		var err error
		if c, err = c.ForFeatures(target.DeclaredFeatures(o.Target, c)); err != nil {
			return Result{}, err
		}
	}

	sel, err := selectChecks(c, suiteConfig.LabelFilter, suiteConfig.FocusStrings)
	if err != nil {
		return Result{}, err
	}
	if o.Before != nil {
		if err := o.Before(ctx, sel); err != nil {
			return Result{}, err
		}
	}

	var (
		mu       sync.Mutex
		verdicts []check.Verdict
		budgets  []latency.Result
		shares   []share.Result
	)
	cfg := suites.Config{
		Contract: c,
		Target:   o.Target,
		Probe:    o.Probe,
		Poll:     o.Poll,
		Record: func(v check.Verdict) {
			mu.Lock()
			defer mu.Unlock()
			verdicts = append(verdicts, v)
		},
		Latency: suites.LatencyConfig{Options: o.Latency, ReportDir: o.ReportDir, Record: func(r latency.Result) {
			mu.Lock()
			defer mu.Unlock()
			budgets = append(budgets, r)
		}},
		Shares: suites.SharesConfig{Run: !o.SkipShares, Record: func(r share.Result) {
			mu.Lock()
			defer mu.Unlock()
			shares = append(shares, r)
		}},
		Prefetch:    sel.Cases,
		Concurrency: o.Concurrency,
	}
	if o.Concurrency >= 2 && !o.Target.Live() {
		// Side by side, as the cases: on the kind replica the five budgets
		// took 87 s one after the other, and each keeps its own rate.
		cfg.PrefetchBudgets = sel.Budgets
	}
	err = suites.Define(cfg)
	if err != nil {
		return Result{}, err
	}

	t := o.T
	own := &suiteT{}
	if t == nil {
		t = own
	}
	gomega.RegisterFailHandler(ginkgo.Fail)
	res := Result{Started: time.Now()}
	passed := ginkgo.RunSpecs(t, o.SuiteName, suiteConfig, reporterConfig)
	res.Ended = time.Now()
	res.SuiteFailed = !passed || own.failed

	mu.Lock()
	defer mu.Unlock()
	res.Stop = stopReason(ctx, res.Started, suiteConfig.Timeout)
	res.Report = complete(c, sel, verdicts, budgets, res.Stop)
	res.Report.Shares = completeShares(c, sel.Shares, shares, res.Stop)
	res.Report.Features = report.FeaturesOf(c)
	return res, nil
}

// Selection is what the label filter and focus select.
type Selection struct {
	Contract *contract.Contract
	Cases    []*contract.Case
	Budgets  []*contract.Budget
	Shares   []*contract.Share
}

func selectChecks(c *contract.Contract, labelFilter string, focus []string) (Selection, error) {
	s := Selection{Contract: c}
	var err error
	if s.Cases, err = suites.Select(c, labelFilter, focus); err != nil {
		return s, err
	}
	if s.Budgets, err = suites.SelectBudgets(c, labelFilter, focus); err != nil {
		return s, err
	}
	if s.Shares, err = suites.SelectShares(c, labelFilter, focus); err != nil {
		return s, err
	}
	if len(s.Cases) == 0 && len(s.Budgets) == 0 && len(s.Shares) == 0 {
		return s, fmt.Errorf("%w: no case or budget matched --label-filter %q --focus %q", ErrNothingSelected, labelFilter, focus)
	}
	return s, nil
}

// Reached is every case a request will be sent for: the cases, the
// budgets' cases and the shares' cases.
func (s Selection) Reached() []*contract.Case {
	out := append([]*contract.Case(nil), s.Cases...)
	for _, b := range s.Budgets {
		if cs, err := s.Contract.BudgetCase(b); err == nil {
			out = append(out, cs)
		}
	}
	for _, sh := range s.Shares {
		if cs := s.Contract.Case(sh.Case); cs != nil {
			out = append(out, cs)
		}
	}
	return out
}

// suiteT is the GinkgoTestingT of a run outside go test.
type suiteT struct{ failed bool }

func (t *suiteT) Fail() { t.failed = true }
