package suites

import (
	"context"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/latency"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/replicatest"
)

// TestBudgetsMeasuredSideBySide: prefetched budgets run at the same time
// (each budget's traffic overlaps every other's), each sends its whole
// plan, and each spec then finds its result.
func TestBudgetsMeasuredSideBySide(t *testing.T) {
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	r, err := replicatest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cfg := Config{Contract: c, Target: r.Target(), Latency: LatencyConfig{
		Options: latency.Options{RateScale: 10, MaxDuration: 300 * time.Millisecond}}}
	m := &measured{results: map[*contract.Budget]budgetRun{}}
	m.measureAll(context.Background(), cfg, c.Budgets)
	if len(c.Budgets) < 2 {
		t.Fatalf("the default contract should have budgets to overlap, has %d", len(c.Budgets))
	}
	for _, a := range c.Budgets {
		ra, err, ok := m.get(a)
		if !ok || err != nil {
			t.Fatalf("budget %q: measured %t, error %v", a.Name, ok, err)
		}
		// Every request sent and measured; the percentiles' verdicts are
		// TestDefaultBudgetsPassOnTheReplica's (one at a time, so a loaded
		// machine does not make this test about latency).
		if ra.Requests != ra.Plan.Requests || ra.Requests == 0 || ra.Outcome == check.NotApplicable {
			t.Errorf("budget %q: %s with %d of %d requests:\n%s", a.Name, ra.Outcome, ra.Requests, ra.Plan.Requests, ra.Explain())
		}
		for _, b := range c.Budgets {
			rb, _, _ := m.get(b)
			if a != b && !ra.Started.Before(rb.Started.Add(rb.Elapsed)) {
				t.Errorf("budget %q started after %q had ended: one after the other, not side by side", a.Name, b.Name)
			}
		}
	}
}
