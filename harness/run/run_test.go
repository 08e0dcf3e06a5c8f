package run

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/latency"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/replicatest"
)

// Run once (Ginkgo runs one suite per process) on the in-process replica
// with the ingress ignoring X-Wikimedia-Debug: the report carries exactly
// the selected checks, the fault's cases fail with evidence, the others
// pass, the selection reached Before, and the suite failed.
func TestRunReportsEverySelectedCheck(t *testing.T) {
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	r, err := replicatest.StartWith(replicatest.WithFaults(replicatest.XWDIgnored))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	// Unresolved: Run resolves it with the features the replica declares
	// (all), and reports each selected case once, the planned
	// edge-testwiki-main-page included.
	focus := []string{"ingress-xwd-pretrain$", "ingress-testwiki", "edge-testwiki-main-page$"}
	var before Selection
	rc := types.NewDefaultReporterConfig()
	rc.Succinct = true
	res, err := Run(context.Background(), Options{
		Contract: c,
		Target:   r.Target(),
		Focus:    focus,
		Poll:     check.PollConfig{Timeout: time.Second, Interval: 10 * time.Millisecond, RequiredConsecutive: 3, MaxHistory: 3},
		Latency:  latency.Options{RateScale: 10, MaxDuration: time.Second},
		Before: func(_ context.Context, sel Selection) error {
			before = sel
			return nil
		},
		Reporter: &rc,
	})
	if err != nil {
		t.Fatal(err)
	}
	resolved, err := c.ForFeatures(c.FeatureNames())
	if err != nil {
		t.Fatal(err)
	}
	want, err := selectChecks(resolved, "", focus)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Cases) != len(want.Cases) || len(want.Cases) < 2 {
		t.Fatalf("Before got %d cases, want the %d selected (at least 2)", len(before.Cases), len(want.Cases))
	}
	if len(res.Report.Cases) != len(want.Cases) {
		t.Fatalf("report has %d cases, want every selected one (%d)", len(res.Report.Cases), len(want.Cases))
	}
	failed := 0
	for _, v := range res.Report.Cases {
		switch {
		case v.Case.Name == "ingress-xwd-pretrain":
			if v.Outcome != check.Failed || v.Attempts == 0 || v.Evidence.Status == 0 {
				t.Errorf("%s: want failed with its evidence, got %s (%d attempts, status %d)", v.Case.Name, v.Outcome, v.Attempts, v.Evidence.Status)
			}
			failed++
		case v.Outcome != check.Passed:
			t.Errorf("%s: want passed (the fault does not touch it), got %s: %v", v.Case.Name, v.Outcome, v.Reasons)
		}
	}
	if failed != 1 {
		t.Errorf("ingress-xwd-pretrain not in the report")
	}
	if !res.SuiteFailed || res.Stop != "" {
		t.Errorf("SuiteFailed %v, Stop %q: want a failed suite, not stopped", res.SuiteFailed, res.Stop)
	}
	index := map[string]int{}
	for i, cs := range resolved.Cases {
		index[cs.Name] = i
	}
	if !slices.IsSortedFunc(res.Report.Cases, func(a, b check.Verdict) int { return index[a.Case.Name] - index[b.Case.Name] }) {
		t.Error("report not in contract order")
	}
}

func TestNothingSelected(t *testing.T) {
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	_, err = selectChecks(c, "no-such-label", nil)
	if !errors.Is(err, ErrNothingSelected) {
		t.Fatalf("want ErrNothingSelected, got %v", err)
	}
}

// A stopped run reports the checks it never reached as inconclusive,
// "not run: <why>", and says why it stopped.
func TestCompleteStoppedRun(t *testing.T) {
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	sel, err := selectChecks(c, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	stop := stopReason(ctx, time.Now().Add(-1500*time.Millisecond), time.Minute)
	if stop != "the run was interrupted after 2s (Ctrl-C or SIGTERM)" {
		t.Fatalf("stop reason %q", stop)
	}
	done := check.Verdict{Case: sel.Cases[1], Outcome: check.Passed}
	rep := complete(c, sel, []check.Verdict{done}, nil, stop)
	if len(rep.Cases) != len(sel.Cases) || len(rep.Budgets) != len(sel.Budgets) {
		t.Fatalf("report has %d cases and %d budgets, want %d and %d", len(rep.Cases), len(rep.Budgets), len(sel.Cases), len(sel.Budgets))
	}
	if rep.Cases[1].Outcome != check.Passed {
		t.Errorf("the case that ran lost its verdict: %s", rep.Cases[1].Outcome)
	}
	for _, v := range append(rep.Cases[:1:1], rep.Cases[2:]...) {
		if v.Outcome != check.Inconclusive || len(v.Reasons) == 0 || v.Reasons[0] != "not run: "+stop {
			t.Fatalf("%s: want inconclusive \"not run: %s\", got %s %v", v.Case.Name, stop, v.Outcome, v.Reasons)
		}
	}
	if stopReason(context.Background(), time.Now(), time.Minute) != "" {
		t.Error("a run inside its timeout is not stopped")
	}
	if got := stopReason(context.Background(), time.Now().Add(-2*time.Minute), time.Minute); got != "the run was stopped after 1m0s (--timeout)" {
		t.Errorf("timeout stop reason %q", got)
	}
}
