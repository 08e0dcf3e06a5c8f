package latency

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
)

func ceilingBudget() *contract.Budget {
	return &contract.Budget{Name: "b", Case: "main-page", Rate: 5, Requests: 60,
		P50: 100 * time.Millisecond, P95: 300 * time.Millisecond, P99: 500 * time.Millisecond, Max: time.Second, MinSuccess: 0.95}
}

func goodResult() Result {
	return Result{
		Requests: 60, Successes: 60, SuccessRatio: 1, RequestedRate: 5, AchievedRate: 5,
		Expected:  "status 2xx from mw-pretrain/main",
		Latencies: Latencies{P50: 50 * time.Millisecond, P95: 300 * time.Millisecond, P99: 400 * time.Millisecond, Max: time.Second},
	}
}

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mutate  func(r *Result)
		want    check.Outcome
		reasons []string
	}{
		{"at every ceiling passes", func(*Result) {}, check.Passed, nil},
		{"p50 over", func(r *Result) { r.Latencies.P50 = 101 * time.Millisecond }, check.Failed,
			[]string{"expected p50 <= 100ms, got 101ms"}},
		{"p95 over", func(r *Result) { r.Latencies.P95 = 612 * time.Millisecond }, check.Failed,
			[]string{"expected p95 <= 300ms, got 612ms"}},
		{"p99 over", func(r *Result) { r.Latencies.P99 = 2 * time.Second }, check.Failed,
			[]string{"expected p99 <= 500ms, got 2s"}},
		{"max over", func(r *Result) { r.Latencies.Max = 1001 * time.Millisecond }, check.Failed,
			[]string{"expected max <= 1s, got 1.001s"}},
		{"57 of 60 is 95%", func(r *Result) { r.Successes, r.SuccessRatio = 57, 0.95 }, check.Passed, nil},
		{"56 of 60 is below 95%", func(r *Result) { r.Successes, r.SuccessRatio = 56, 56.0/60 }, check.Failed,
			[]string{"expected success >= 95% (status 2xx from mw-pretrain/main), got 93.3% (56 of 60)"}},
		{"no request", func(r *Result) { r.Requests, r.Successes = 0, 0 }, check.Failed,
			[]string{"expected at least one request, sent none"}},
		{"wrong backend", func(r *Result) {
			r.WrongBackend, r.WrongBackends = 1, map[string]int{"mw-web/main": 1}
		}, check.Failed,
			[]string{`expected every response from nobody identifiable, got 1 of 60 from "mw-web/main" (1): the budget was measured on the wrong backend`}},
		{"shortfall alone is inconclusive", func(r *Result) { r.AchievedRate, r.RateShortfall, r.Lag = 4, true, 2950*time.Millisecond }, check.Inconclusive,
			[]string{"expected rate >= 4.5 req/s (90% of 5 requested), achieved 4 req/s (2.95s behind schedule): the attack could not hold its rate, the figures are not trustworthy"}},
		{"shortfall and a ceiling fail", func(r *Result) {
			r.AchievedRate, r.RateShortfall, r.Lag = 4, true, 2950*time.Millisecond
			r.Latencies.P95 = time.Second
		}, check.Failed, []string{
			"expected p95 <= 300ms, got 1s",
			"expected rate >= 4.5 req/s (90% of 5 requested), achieved 4 req/s (2.95s behind schedule): the attack could not hold its rate, the figures are not trustworthy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := goodResult()
			tc.mutate(&r)
			got, reasons := verdict(&r, ceilingBudget())
			if got != tc.want || strings.Join(reasons, "\n") != strings.Join(tc.reasons, "\n") {
				t.Errorf("expected %s %q, got %s %q", tc.want, tc.reasons, got, reasons)
			}
		})
	}
}

func TestVerdictOnlySetCeilingsCount(t *testing.T) {
	r := goodResult()
	r.Latencies = Latencies{P50: time.Hour, P95: time.Hour, P99: time.Hour, Max: time.Hour}
	b := &contract.Budget{Name: "b", Rate: 1, Requests: 1, P99: 2 * time.Hour, MinSuccess: 1}
	if got, reasons := verdict(&r, b); got != check.Passed {
		t.Errorf("only p99 is set and met: expected passed, got %s %q", got, reasons)
	}
}

func TestCheckRate(t *testing.T) {
	b := func(rate float64) *contract.Budget { return &contract.Budget{Name: "b", Rate: rate, Requests: 1} }
	for _, tc := range []struct {
		name        string
		rate, scale float64
		live, allow bool
		refused     bool
	}{
		{"live at the limit", 10, 1, true, false, false},
		{"live over the limit", 11, 1, true, false, true},
		{"live scaled over the limit", 5, 2.5, true, false, true},
		{"live scaled under the limit", 40, 0.25, true, false, false},
		{"live over the limit with the override", 100, 1, true, true, false},
		{"not live", 1000, 1, false, false, false},
		{"zero scale means 1", 11, 0, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckRate(b(tc.rate), tc.scale, tc.live, tc.allow)
			if got := errors.Is(err, ErrRateRefused); got != tc.refused {
				t.Errorf("expected refused=%v, got %v", tc.refused, err)
			}
		})
	}
	err := CheckRate(b(20), 1, true, false)
	if err == nil || err.Error() != `budget "b": 20 req/s (rate 20 x scale 1) exceeds 10 req/s: rate refused against a live target` {
		t.Errorf("unexpected message: %v", err)
	}
}

func TestCheckBudgetsListsEveryRefusal(t *testing.T) {
	bs := []*contract.Budget{{Name: "slow", Rate: 5}, {Name: "fast", Rate: 20}, {Name: "faster", Rate: 50}}
	err := CheckBudgets(bs, 1, true, false)
	if err == nil || !errors.Is(err, ErrRateRefused) || !strings.Contains(err.Error(), `"fast"`) || !strings.Contains(err.Error(), `"faster"`) || strings.Contains(err.Error(), `"slow"`) {
		t.Fatalf("expected fast and faster refused, got %v", err)
	}
	if err := CheckBudgets(bs, 0.1, true, false); err != nil {
		t.Errorf("at scale 0.1 every budget is within the limit, got %v", err)
	}
}

func TestCheckScale(t *testing.T) {
	for _, s := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if CheckScale(s) == nil {
			t.Errorf("expected %v refused", s)
		}
	}
	if err := CheckScale(0.1); err != nil {
		t.Errorf("0.1: %v", err)
	}
	if err := CheckBudgets(nil, math.NaN(), false, false); err == nil {
		t.Error("expected CheckBudgets to refuse a NaN scale")
	}
}

func TestPlanFor(t *testing.T) {
	for _, tc := range []struct {
		name     string
		b        contract.Budget
		opts     Options
		requests int
		duration time.Duration
		capped   bool
	}{
		{"requests", contract.Budget{Rate: 5, Requests: 60}, Options{}, 60, 12 * time.Second, false},
		{"requests scaled keep the duration", contract.Budget{Rate: 5, Requests: 60}, Options{RateScale: 0.1}, 6, 12 * time.Second, false},
		{"duration", contract.Budget{Rate: 2, Duration: 20 * time.Second}, Options{}, 40, 20 * time.Second, false},
		{"duration scaled", contract.Budget{Rate: 2, Duration: 20 * time.Second}, Options{RateScale: 0.5}, 20, 20 * time.Second, false},
		{"at least one request", contract.Budget{Rate: 1, Requests: 3}, Options{RateScale: 0.01}, 1, 100 * time.Second, false},
		{"capped", contract.Budget{Rate: 5, Requests: 60}, Options{RateScale: 10, MaxDuration: time.Second}, 50, time.Second, true},
		{"cap not reached", contract.Budget{Rate: 50, Requests: 10}, Options{MaxDuration: time.Second}, 10, 200 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b
			b.Name = "b"
			p, err := PlanFor(&b, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Requests != tc.requests || p.Duration != tc.duration || p.Capped != tc.capped {
				t.Errorf("expected %d requests over %s (capped %v), got %+v", tc.requests, tc.duration, tc.capped, p)
			}
		})
	}
	if _, err := PlanFor(&contract.Budget{Name: "b", Rate: 1}, Options{}); err == nil {
		t.Error("expected an error without requests or duration")
	}
}

func TestPacer(t *testing.T) {
	p := pacer{rate: 4, max: 3}
	if wait, stop := p.Pace(0, 0); wait != 0 || stop {
		t.Errorf("first request at once: got %s %v", wait, stop)
	}
	if wait, stop := p.Pace(100*time.Millisecond, 1); wait != 150*time.Millisecond || stop {
		t.Errorf("second request at 250ms: got %s %v", wait, stop)
	}
	if wait, _ := p.Pace(time.Second, 2); wait >= 0 {
		t.Errorf("behind schedule: expected no wait, got %s", wait)
	}
	if _, stop := p.Pace(time.Second, 3); !stop {
		t.Error("expected a stop after max requests")
	}
}

// The default contract's budgets are live-safe: at most DefaultLiveRate
// req/s and DefaultLiveRequests requests each, within the CLI's limit.
func TestDefaultContractBudgetsAreLiveSafe(t *testing.T) {
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Budgets) == 0 {
		t.Fatal("the default contract has no budgets")
	}
	for _, b := range c.Budgets {
		p, err := PlanFor(b, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if b.Rate > DefaultLiveRate || p.Requests > DefaultLiveRequests {
			t.Errorf("budget %q: %v req/s, %d requests: want at most %v req/s and %d requests", b.Name, b.Rate, p.Requests, DefaultLiveRate, DefaultLiveRequests)
		}
		if err := CheckRate(b, 1, true, false); err != nil {
			t.Error(err)
		}
		if _, err := c.BudgetCase(b); err != nil {
			t.Error(err)
		}
	}
}
