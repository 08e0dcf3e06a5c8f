package suites

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/latency"
)

// AreaLatency is the area (and Ginkgo label) of the latency budgets: one
// spec per budget of the contract.
const AreaLatency = "latency"

// LatencyConfig is what the latency area needs beyond Config.
type LatencyConfig struct {
	// Options tune every attack: RateScale (--rate-scale), MaxDuration
	// (in-process runs), AllowProduction, Timeout. Live is taken from the
	// target, UserAgent defaults to Config.Probe's.
	Options latency.Options
	// ReportDir, when set, receives every budget's plots and JSON under
	// latency/ as it ends; latency/index.html and latency/summary.txt are
	// written with the run's report (report.Report.WriteDir).
	ReportDir string
	// Record, when set, receives every budget's result as its spec ends.
	Record func(latency.Result)
}

// defineLatency checks the budgets and returns the function that registers
// their specs: one Entry per budget, labelled "latency", the budget's
// labels and its entry's label, Serial (an attack measures best alone).
// Nothing is registered when the contract has no budgets.
func defineLatency(cfg Config, pre *measured) (func(), error) {
	if err := latency.CheckScale(orOne(cfg.Latency.Options.RateScale)); err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	var errs []error
	args := []any{func(ctx SpecContext, b *contract.Budget) { budgetSpec(ctx, cfg, pre, b) }}
	for _, b := range cfg.Contract.Budgets {
		cs, err := cfg.Contract.BudgetCase(b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		args = append(args, Entry(b.Name, Label(BudgetLabels(b, cs)...), b))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("latency: %w", err)
	}
	if len(args) == 1 {
		return func() {}, nil
	}
	return func() {
		Describe(AreaTitle(AreaLatency), Label(AreaLatency), Serial, func() {
			DescribeTable("budget", args...)
		})
	}, nil
}

// budgetSpec is one budget's spec body.
func budgetSpec(ctx SpecContext, cfg Config, pre *measured, b *contract.Budget) {
	r, err, ok := pre.get(b)
	if !ok {
		r, err = RunBudget(ctx, cfg, b)
	}
	Expect(err).NotTo(HaveOccurred(), "budget %q", b.Name)
	AddReportEntry("evidence", r.Explain(), ReportEntryVisibilityFailureOrVerbose)
	switch r.Outcome {
	case check.NotApplicable, check.Inconclusive, check.Skipped:
		// Skipped in Ginkgo's terms, never passed; the result keeps the
		// finer outcome.
		Skip(fmt.Sprintf("%s: %s", r.Outcome, strings.Join(r.Reasons, "; ")))
	}
	// A func, not a string: Gomega formats a lone string description
	// with Sprintf, and the evidence holds "%" signs.
	Expect(r.Outcome).To(Equal(check.Passed), func() string { return r.Explain() })
}

// RunBudget attacks one budget against cfg's target, writes its files
// when cfg.Latency.ReportDir is set and hands the result to
// cfg.Latency.Record. The error is for unusable input or unwritable
// report files; the result is recorded whenever an attack ran.
func RunBudget(ctx context.Context, cfg Config, b *contract.Budget) (latency.Result, error) {
	opts := cfg.Latency.Options
	opts.Live = opts.Live || cfg.Target.Live()
	if opts.UserAgent == "" {
		opts.UserAgent = cfg.Probe.UserAgent // the probe's (live targets: the required descriptive one)
	}
	r, err := latency.Run(ctx, cfg.Target, b, cfg.Contract, opts)
	if err != nil {
		return r, err
	}
	var errs []error
	if dir := cfg.Latency.ReportDir; dir != "" {
		// The budget's own files now; the index of every budget is the
		// report's (report.Report.WriteDir), built from what Record got.
		if err := latency.WriteFiles(dir, &r); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.Latency.Record != nil {
		cfg.Latency.Record(r)
	}
	return r, errors.Join(errs...)
}

func orOne(f float64) float64 {
	if f == 0 {
		return 1
	}
	return f
}

// BudgetLabels are a budget's Ginkgo labels besides its area's: its
// contract labels and its case's entry point.
func BudgetLabels(b *contract.Budget, cs *contract.Case) []string {
	labels := append([]string{}, b.Labels...)
	return append(labels, EntryLabel(cs.Entry))
}

// SelectBudgets returns the budgets a run with this label filter and
// focus will attack, in contract order, as Ginkgo selects their specs
// (labels: "latency", the budget's and its entry's; focus: regexps on the
// spec text "<latency title> budget <budget name>").
func SelectBudgets(c *contract.Contract, labelFilter string, focus []string) ([]*contract.Budget, error) {
	selected, err := newSelector(labelFilter, focus)
	if err != nil {
		return nil, err
	}
	var out []*contract.Budget
	for _, b := range c.Budgets {
		cs, err := c.BudgetCase(b)
		if err != nil {
			return nil, err
		}
		if selected(append(BudgetLabels(b, cs), AreaLatency), AreaTitle(AreaLatency)+" budget "+b.Name) {
			out = append(out, b)
		}
	}
	return out, nil
}

// measured holds the budgets measured before the specs (Config.PrefetchBudgets).
type measured struct {
	mu      sync.Mutex
	results map[*contract.Budget]budgetRun
}

type budgetRun struct {
	r   latency.Result
	err error
}

// measureAll measures the budgets side by side, each at its own rate.
func (m *measured) measureAll(ctx context.Context, cfg Config, budgets []*contract.Budget) {
	var wg sync.WaitGroup
	for _, b := range budgets {
		wg.Go(func() {
			r, err := RunBudget(ctx, cfg, b)
			m.mu.Lock()
			defer m.mu.Unlock()
			m.results[b] = budgetRun{r, err}
		})
	}
	wg.Wait()
}

func (m *measured) get(b *contract.Budget) (latency.Result, error, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	run, ok := m.results[b]
	return run.r, run.err, ok
}
