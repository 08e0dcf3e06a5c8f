package report

import (
	"fmt"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/latency"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/share"
)

// Report is one run: every case's verdict and every latency budget's
// result, in the order given (the CLI passes contract order). Every
// format (table, JSON, JUnit, summary line, report directory) is built
// from it, so a budget counts and shows wherever a case does.
type Report struct {
	Cases   []check.Verdict
	Budgets []latency.Result
	// Shares are the canary share checks' results.
	Shares []share.Result
	// Coverage is set for config-driven targets: which routes the cases took.
	Coverage *RouteCoverage
	// Features are the run's features (FeaturesOf its resolved contract);
	// nil when the contract has none.
	Features *Features
	// Manifest, when set, says what the run was (tool, inputs, target, times).
	Manifest *Manifest
}

// Summary counts the cases' and the budgets' outcomes.
func (r Report) Summary() Summary {
	s := Summarize(r.Cases)
	for _, b := range r.Budgets {
		s.Add(b.Outcome)
	}
	for _, sh := range r.Shares {
		s.Add(sh.Outcome)
	}
	return s
}

// Misses is how many attempts of a case missed (its history is bounded,
// the count is not).
func Misses(v check.Verdict) int {
	return max(len(v.History), v.Attempts-v.PassedAttempts)
}

// VerdictText is a case's verdict in words, the same in every format:
// "passed", "passed after 2 misses", "failed", "inconclusive", "n/a",
// "skipped".
func VerdictText(v check.Verdict) string {
	switch v.Outcome {
	case check.Passed:
		if k := Misses(v); k > 0 {
			return fmt.Sprintf("passed after %d miss%s", k, plural(k, "es"))
		}
		return "passed"
	case check.NotApplicable:
		return "n/a"
	}
	return string(v.Outcome)
}

func plural(n int, suffix string) string {
	if n == 1 {
		return ""
	}
	return suffix
}

func budgetName(r latency.Result) string {
	if r.Budget == nil {
		return "(no budget)"
	}
	return r.Budget.Name
}

func budgetEntry(r latency.Result) string {
	if r.Case != nil {
		return r.Case.Entry
	}
	return r.Endpoint
}
