package suites_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/latency"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/replicatest"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/report"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/suites"
)

// quickLatency keeps in-process budgets short: ten times the rate, at most
// 300ms of traffic each.
var quickLatency = latency.Options{RateScale: 10, MaxDuration: 300 * time.Millisecond}

func defaultBudget(t *testing.T, c *contract.Contract, name string) *contract.Budget {
	t.Helper()
	for _, b := range c.Budgets {
		if b.Name == name {
			return b
		}
	}
	t.Fatalf("the default contract has no budget %q", name)
	return nil
}

func TestSelectBudgets(t *testing.T) {
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	names := func(bs []*contract.Budget) []string {
		var out []string
		for _, b := range bs {
			out = append(out, b.Name)
		}
		return out
	}
	all := names(c.Budgets)
	for _, tc := range []struct {
		filter string
		focus  []string
		want   []string
	}{
		{"", nil, all},
		{"latency", nil, all},
		{"!latency", nil, nil},
		{"routing", nil, nil}, // a routing run attacks nothing
		{"latency && mesh", nil, []string{"mesh-api-int-testwiki"}},
		{"latency && entry-ingress", nil, []string{"ingress-first-case"}},
		{"", []string{"budget jobrunner-"}, []string{"jobrunner-health-check"}},
	} {
		got, err := suites.SelectBudgets(c, tc.filter, tc.focus)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names(got), tc.want) {
			t.Errorf("filter %q focus %q: expected %q, got %q", tc.filter, tc.focus, tc.want, names(got))
		}
	}
	if _, err := suites.SelectBudgets(c, "latency &&", nil); err == nil {
		t.Error("expected a bad label filter refused")
	}
	// A case-only filter selects no budget and the budgets no case.
	cases, err := suites.Select(c, "latency", nil)
	if err != nil || len(cases) != 0 {
		t.Errorf("expected --label-filter latency to select no case, got %d (%v)", len(cases), err)
	}
}

func TestBudgetLabels(t *testing.T) {
	b := &contract.Budget{Name: "b", Labels: []string{"mesh"}}
	cs := &contract.Case{Entry: contract.EntryMeshAPIInt}
	if got := suites.BudgetLabels(b, cs); !slices.Equal(got, []string{"mesh", "entry-mesh-mw-api-int"}) {
		t.Errorf("unexpected labels %q", got)
	}
	if suites.AreaTitle(suites.AreaLatency) == suites.AreaLatency {
		t.Error("the latency area has no title in suites.Areas")
	}
}

// Every default budget passes on the in-process replica with correct
// routing (mesh through the forward endpoint included), and writes its
// plots and the index.
func TestDefaultBudgetsPassOnTheReplica(t *testing.T) {
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	r, err := replicatest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	var recorded []latency.Result
	cfg := suites.Config{Contract: c, Target: r.Target(), Latency: suites.LatencyConfig{
		Options: quickLatency, ReportDir: dir, Record: func(res latency.Result) { recorded = append(recorded, res) },
	}}
	for _, b := range c.Budgets {
		res, err := suites.RunBudget(context.Background(), cfg, b)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != check.Passed {
			t.Errorf("budget %q: expected passed on correct routing, got:\n%s", b.Name, res.Explain())
		}
		if res.Files == nil {
			t.Errorf("budget %q: no files written", b.Name)
			continue
		}
		for _, f := range []string{res.Files.JSON, res.Files.Histogram, res.Files.Timeline} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("budget %q: %v", b.Name, err)
			}
		}
	}
	if len(recorded) != len(c.Budgets) {
		t.Errorf("expected %d recorded results, got %d", len(c.Budgets), len(recorded))
	}
	if err := (report.Report{Budgets: recorded}).WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	summary, err := os.ReadFile(filepath.Join(dir, "latency", "summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(summary), "\n"); n != len(c.Budgets) {
		t.Errorf("expected one summary line per budget, got %d:\n%s", n, summary)
	}
}

// A budget whose traffic reaches the wrong backend fails, in the suite's
// own terms: the edge sends testwiki to mw-web, the edge budget fails
// with the wrong backend as its reason.
func TestBudgetOnWrongRoutingFails(t *testing.T) {
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	r, err := replicatest.Start(replicatest.TestwikiNotDiverted)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cfg := suites.Config{Contract: c, Target: r.Target(), Latency: suites.LatencyConfig{Options: quickLatency}}
	res, err := suites.RunBudget(context.Background(), cfg, defaultBudget(t, c, "edge-testwiki-page"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != check.Failed || res.WrongBackends["mw-web/main"] != res.Requests {
		t.Fatalf("expected failed with every response from mw-web/main, got:\n%s", res.Explain())
	}
	if !strings.Contains(strings.Join(res.Reasons, "\n"), "the budget was measured on the wrong backend") {
		t.Errorf("expected the wrong-backend reason, got %q", res.Reasons)
	}
	// The other budgets do not use the edge: they still pass.
	res, err = suites.RunBudget(context.Background(), cfg, defaultBudget(t, c, "ingress-first-case"))
	if err != nil || res.Outcome != check.Passed {
		t.Errorf("expected the ingress budget unaffected, got %v:\n%s", err, res.Explain())
	}
}

// A live target refuses budgets above the live limit unless production
// traffic is allowed: the refusal is an error, nothing is sent.
func TestRunBudgetLiveGuard(t *testing.T) {
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	r, err := replicatest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cfg := suites.Config{Contract: c, Target: r.Target(), Latency: suites.LatencyConfig{
		// 5 req/s x 10 = 50 req/s: over the live limit (10), and light
		// enough for a loaded 2-core machine to hold (100 x failed there).
		Options: latency.Options{RateScale: 10, MaxDuration: 200 * time.Millisecond, Live: true}}}
	if _, err := suites.RunBudget(context.Background(), cfg, defaultBudget(t, c, "ingress-first-case")); err == nil || !strings.Contains(err.Error(), "rate refused against a live target") {
		t.Fatalf("expected the live rate refusal, got %v", err)
	}
	cfg.Latency.Options.AllowProduction = true
	res, err := suites.RunBudget(context.Background(), cfg, defaultBudget(t, c, "ingress-first-case"))
	if err != nil || res.Outcome != check.Passed {
		t.Fatalf("expected the override to run the budget, got %v:\n%s", err, res.Explain())
	}
}
