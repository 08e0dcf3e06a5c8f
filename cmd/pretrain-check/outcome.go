package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/latency"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/report"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/share"
)

// stopReason says why a run ended before every selected check had a
// verdict, "" when it was not stopped: Ctrl-C (or SIGTERM) cancels ctx,
// --timeout ends Ginkgo's suite.
func stopReason(ctx context.Context, started time.Time, timeout time.Duration) string {
	switch {
	case ctx.Err() != nil:
		return fmt.Sprintf("the run was interrupted after %s (Ctrl-C or SIGTERM)", roundSeconds(time.Since(started)))
	case time.Since(started) >= timeout:
		return fmt.Sprintf("the run was stopped after %s (--timeout)", roundSeconds(timeout))
	}
	return ""
}

func roundSeconds(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

// completeReport is the run's report with every selected case and budget
// in contract order: a check that never got a verdict (the run was
// stopped before it) is inconclusive, "not run: <why>"; a check the stop
// cut short says why it stopped.
func completeReport(c *contract.Contract, cases []*contract.Case, budgets []*contract.Budget,
	verdicts []check.Verdict, results []latency.Result, stop string) report.Report {
	why := stop
	if why == "" {
		why = "the run ended before it"
	}
	have := map[*contract.Case]bool{}
	for i, v := range verdicts {
		have[v.Case] = true
		if stop != "" && v.Outcome == check.Inconclusive && len(v.Reasons) > 0 && strings.HasPrefix(v.Reasons[0], "stopped before a verdict") {
			verdicts[i].Reasons = append([]string{v.Reasons[0] + ": " + stop}, v.Reasons[1:]...)
		}
	}
	now := time.Now()
	for _, cs := range cases {
		if !have[cs] {
			verdicts = append(verdicts, check.Verdict{Case: cs, Outcome: check.Inconclusive, Started: now,
				Reasons: []string{"not run: " + why}})
		}
	}
	sortByContract(c, verdicts)

	ran := map[string]bool{}
	for _, r := range results {
		if r.Budget != nil {
			ran[r.Budget.Name] = true
		}
	}
	for _, b := range budgets {
		if ran[b.Name] {
			continue
		}
		r := latency.Result{Budget: b, Outcome: check.Inconclusive, Started: now, Reasons: []string{"not run: " + why}}
		if cs, err := c.BudgetCase(b); err == nil {
			r.Case = cs
		}
		results = append(results, r)
	}
	order := map[string]int{}
	for i, b := range c.Budgets {
		order[b.Name] = i
	}
	sort.SliceStable(results, func(i, j int) bool {
		return order[budgetKey(results[i])] < order[budgetKey(results[j])]
	})
	return report.Report{Cases: verdicts, Budgets: results}
}

// completeShares are the run's share results with every selected share,
// in contract order: one the run never reached is inconclusive, "not run".
func completeShares(c *contract.Contract, selected []*contract.Share, results []share.Result, stop string) []share.Result {
	why := stop
	if why == "" {
		why = "the run ended before it"
	}
	ran := map[*contract.Share]bool{}
	for _, r := range results {
		ran[r.Share] = true
	}
	for _, s := range selected {
		if !ran[s] {
			results = append(results, share.Result{Share: s, Case: c.Case(s.Case), Outcome: check.Inconclusive, Started: time.Now(),
				Reasons: []string{"not run: " + why}})
		}
	}
	order := map[*contract.Share]int{}
	for i, s := range c.Shares {
		order[s] = i
	}
	sort.SliceStable(results, func(i, j int) bool { return order[results[i].Share] < order[results[j].Share] })
	return results
}

func budgetKey(r latency.Result) string {
	if r.Budget == nil {
		return ""
	}
	return r.Budget.Name
}

// stoppedLine is printed before the summary line of a stopped run.
func stoppedLine(stop string, rep report.Report) string {
	s := rep.Summary()
	return fmt.Sprintf("stopped: %s: %d of %d checks are inconclusive", stop, s.Inconclusive, s.Total())
}

// errStopped ends a run stopped (--timeout, Ctrl-C) before every check had
// a verdict, none of them failed; the run printed stoppedLine already.
func errStopped(stop string, rep report.Report) error {
	return &exitError{code: exitStopped, err: errors.New(stoppedLine(stop, rep)), quiet: true}
}

// nothingChecked is a usage error when no check had a verdict that says
// anything (every one n/a or skipped): a run that checked nothing must not
// pass. The reason is the first check's.
func nothingChecked(rep report.Report, targetName string) error {
	s := rep.Summary()
	if s.Passed+s.Failed+s.Inconclusive > 0 {
		return nil
	}
	first := ""
	for _, v := range rep.Cases {
		if len(v.Reasons) > 0 {
			first = v.Reasons[0]
			break
		}
	}
	if first == "" {
		for _, r := range rep.Budgets {
			if len(r.Reasons) > 0 {
				first = r.Reasons[0]
				break
			}
		}
	}
	if first == "" {
		for _, r := range rep.Shares {
			if len(r.Reasons) > 0 {
				first = r.Reasons[0]
				break
			}
		}
	}
	msg := fmt.Sprintf("nothing checked: all %d selected checks are n/a on target %q", s.Total(), targetName)
	if first != "" {
		msg += "; first reason: " + first
	}
	return usageError(errors.New(msg))
}
