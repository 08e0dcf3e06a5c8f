// Package suites holds the Ginkgo specs of pretrain-check. The specs are
// generated from the routing contract, one Ginkgo Entry per case, so both
// front ends (go test ./suites/... and pretrain-check run) run exactly the
// same specs: each builds a Config and calls Define before RunSpecs.
package suites

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// Config is what one run of the suites needs.
type Config struct {
	// Contract is the routing contract, resolved for the run's features
	// (contract.ForFeatures); one that is not is resolved with the
	// features the target declares (target.DeclaredFeatures).
	Contract *contract.Contract
	Target   target.Target
	Probe    probe.Options
	Poll     check.PollConfig
	// Record, when set, receives every case's verdict as its spec ends.
	Record func(check.Verdict)
	// Latency configures the latency area (the contract's budgets).
	Latency LatencyConfig
	// Shares configures the canary share checks.
	Shares SharesConfig
	// Prefetch are cases checked before the specs run, Concurrency at a
	// time (each case's spec then reports the verdict found): the
	// selected cases of a run whose target bears concurrent requests.
	// The cases only send requests, so they do not interfere; each still
	// needs its RequiredConsecutive answers in a row. Empty, or
	// Concurrency under 2: each spec checks its case when it runs.
	Prefetch    []*contract.Case
	Concurrency int
	// PrefetchBudgets are budgets measured side by side after the
	// prefetched cases and before the specs (each budget's spec then
	// reports its result): each keeps its own rate and request count, so
	// the target bears their sum. Never on a live target, which gets one
	// budget at a time.
	PrefetchBudgets []*contract.Budget
}

func (c Config) validate() error {
	var errs []error
	if c.Contract == nil {
		errs = append(errs, errors.New("no contract"))
	}
	if c.Target == nil {
		errs = append(errs, errors.New("no target"))
	}
	if c.Poll.RequiredConsecutive < 1 {
		errs = append(errs, fmt.Errorf("poll: required consecutive successes must be >= 1, got %d", c.Poll.RequiredConsecutive))
	}
	if c.Poll.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("poll: timeout must be positive, got %s", c.Poll.Timeout))
	}
	return errors.Join(errs...)
}

// Area is a group of specs: every case whose entry point belongs to it.
type Area struct {
	Name  string // also its Ginkgo label
	Title string
}

// Areas in the order their specs run. contract.Area maps a case to one.
var Areas = []Area{
	{"routing", "Pretrain's main gateway routes by Host, path and X-Wikimedia-Debug"},
	{"edge", "the edge diverts testwiki and scopes X-Wikimedia-Debug by Host"},
	{"rest", "the REST gateway prefers Host diversion over X-Wikimedia-Debug"},
	{"jobrunner", "the jobrunner is reachable only through its own gateway"},
	{"mesh", "the service mesh splits testwiki-bound internal traffic to Pretrain"},
	{AreaLatency, "latency budgets hold at their rate on the expected backend"},
}

// AreaTitle is the title of the named area's Describe container.
func AreaTitle(name string) string {
	for _, a := range Areas {
		if a.Name == name {
			return a.Title
		}
	}
	return name
}

// Define registers the specs. Call it once, before RunSpecs.
func Define(cfg Config) error {
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("define suites: %w", err)
	}
	if !cfg.Contract.Resolved() {
		// Feature cases assert the state the target declares.
		c, err := cfg.Contract.ForFeatures(target.DeclaredFeatures(cfg.Target, cfg.Contract))
		if err != nil {
			return fmt.Errorf("define suites: %w", err)
		}
		cfg.Contract = c
	}
	prober := probe.New(cfg.Probe)
	rec := &recorder{record: cfg.Record}
	pre := &prefetched{verdicts: map[*contract.Case]check.Verdict{}}

	known := map[string]bool{}
	for _, a := range Areas {
		known[a.Name] = true
	}
	for _, cs := range cfg.Contract.Cases {
		if a := contract.Area(cs); !known[a] {
			return fmt.Errorf("define suites: case %q: entry %q belongs to no suite area (%q)", cs.Name, cs.Entry, a)
		}
	}
	budgets := &measured{results: map[*contract.Budget]budgetRun{}}
	registerLatency, err := defineLatency(cfg, budgets)
	if err != nil {
		return fmt.Errorf("define suites: %w", err)
	}

	for _, area := range Areas {
		body := func(ctx SpecContext, cs *contract.Case) {
			v, ok := pre.get(cs)
			if !ok {
				v = check.Run(ctx, cfg.Contract, cs, cfg.Target, prober, cfg.Poll)
				rec.add(v)
			}
			AddReportEntry("evidence", v.Explain(), ReportEntryVisibilityFailureOrVerbose)
			switch v.Outcome {
			case check.NotApplicable, check.Inconclusive, check.Skipped:
				// Skipped in Ginkgo's terms, never passed; the report keeps
				// the finer outcome.
				Skip(fmt.Sprintf("%s: %s", v.Outcome, strings.Join(v.Reasons, "; ")))
			}
			// A func, not a string: Gomega would treat "%" in the evidence
			// as a format verb.
			Expect(v.Outcome).To(Equal(check.Passed), func() string { return v.Explain() })
		}
		args := []any{body}
		for _, cs := range cfg.Contract.Cases {
			if contract.Area(cs) == area.Name {
				args = append(args, Entry(cs.Name, Label(CaseLabels(cs)...), cs))
			}
		}
		if len(args) == 1 {
			continue
		}
		Describe(area.Title, Label(area.Name), func() {
			DescribeTable("case", args...)
		})
	}
	registerLatency()
	defineShares(cfg, prober)()
	BeforeSuite(func(ctx SpecContext) {
		DeferCleanup(prober.Close)
		if len(cfg.Prefetch) > 0 && cfg.Concurrency >= 2 {
			for _, v := range check.RunAll(ctx, cfg.Contract, cfg.Prefetch, cfg.Target, prober, cfg.Poll, cfg.Concurrency) {
				if v.Outcome == check.Skipped && ctx.Err() != nil {
					continue // never started: the report says "not run" and why
				}
				pre.put(v)
				// Recorded now: a stop before the case's spec still reports it.
				rec.add(v)
			}
		}
		if len(cfg.PrefetchBudgets) > 0 && !cfg.Target.Live() {
			budgets.measureAll(ctx, cfg, cfg.PrefetchBudgets)
		}
	})
	return nil
}

// prefetched holds the verdicts of the cases checked before the specs.
type prefetched struct {
	mu       sync.Mutex
	verdicts map[*contract.Case]check.Verdict
}

func (p *prefetched) put(v check.Verdict) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.verdicts[v.Case] = v
}

func (p *prefetched) get(cs *contract.Case) (check.Verdict, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.verdicts[cs]
	return v, ok
}

// CaseLabels are a case's Ginkgo labels: its contract labels, its area and
// its entry point ("entry-mesh-mw-api-int": Ginkgo labels cannot hold "/").
func CaseLabels(cs *contract.Case) []string {
	labels := append([]string{}, cs.Labels...)
	labels = append(labels, EntryLabel(cs.Entry))
	return labels
}

// EntryLabel is the Ginkgo label of an entry point.
func EntryLabel(entry string) string {
	return "entry-" + strings.ReplaceAll(entry, "/", "-")
}

// Select returns the cases a run with this label filter and focus will
// check, in contract order, as Ginkgo will select their specs (labels: the
// case's, its entry's and its area's; focus: regexps on the spec text,
// "<area title> case <case name>").
func Select(c *contract.Contract, labelFilter string, focus []string) ([]*contract.Case, error) {
	selected, err := newSelector(labelFilter, focus)
	if err != nil {
		return nil, err
	}
	var out []*contract.Case
	for _, cs := range c.Cases {
		area := contract.Area(cs)
		if selected(append(CaseLabels(cs), area), AreaTitle(area)+" case "+cs.Name) {
			out = append(out, cs)
		}
	}
	return out, nil
}

// newSelector mirrors Ginkgo's spec selection: a spec runs when its labels
// match the label filter and its text matches one of the focus regexps
// (any text when there are none).
func newSelector(labelFilter string, focus []string) (func(labels []string, text string) bool, error) {
	match := func([]string) bool { return true }
	if labelFilter != "" {
		f, err := types.ParseLabelFilter(labelFilter)
		if err != nil {
			return nil, fmt.Errorf("label filter %q: %w", labelFilter, err)
		}
		match = f
	}
	var res []*regexp.Regexp
	for _, f := range focus {
		re, err := regexp.Compile(f)
		if err != nil {
			return nil, fmt.Errorf("focus %q: %w", f, err)
		}
		res = append(res, re)
	}
	return func(labels []string, text string) bool {
		if !match(labels) {
			return false
		}
		for _, re := range res {
			if re.MatchString(text) {
				return true
			}
		}
		return len(res) == 0
	}, nil
}

type recorder struct {
	mu     sync.Mutex
	record func(check.Verdict)
}

func (r *recorder) add(v check.Verdict) {
	if r.record == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.record(v)
}
