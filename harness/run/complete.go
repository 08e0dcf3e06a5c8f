package run

import (
	"context"
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
// the timeout ends Ginkgo's suite.
func stopReason(ctx context.Context, started time.Time, timeout time.Duration) string {
	switch {
	case ctx.Err() != nil:
		return fmt.Sprintf("the run was interrupted after %s (Ctrl-C or SIGTERM)", RoundSeconds(time.Since(started)))
	case timeout > 0 && time.Since(started) >= timeout:
		return fmt.Sprintf("the run was stopped after %s (--timeout)", RoundSeconds(timeout))
	}
	return ""
}

// RoundSeconds rounds a duration for a stop message: to the millisecond
// under a second, else to the second.
func RoundSeconds(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}

// complete is the run's report with every selected case and budget in
// contract order: a check that never got a verdict (the run was stopped
// before it) is inconclusive, "not run: <why>"; a check the stop cut
// short says why it stopped.
func complete(c *contract.Contract, sel Selection, verdicts []check.Verdict, results []latency.Result, stop string) report.Report {
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
	for _, cs := range sel.Cases {
		if !have[cs] {
			verdicts = append(verdicts, check.Verdict{Case: cs, Outcome: check.Inconclusive, Started: now,
				Reasons: []string{"not run: " + why}})
		}
	}
	index := make(map[*contract.Case]int, len(c.Cases))
	for i, cs := range c.Cases {
		index[cs] = i
	}
	sort.SliceStable(verdicts, func(i, j int) bool { return index[verdicts[i].Case] < index[verdicts[j].Case] })

	ran := map[string]bool{}
	for _, r := range results {
		if r.Budget != nil {
			ran[r.Budget.Name] = true
		}
	}
	for _, b := range sel.Budgets {
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
