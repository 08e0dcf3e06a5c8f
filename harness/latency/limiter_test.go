package latency

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
)

// slotLimiter is a target.Limiter spacing slots by 1/rate, as the live
// guard does.
type slotLimiter struct {
	rate float64
	mu   sync.Mutex
	next time.Time
	n    int
}

func (l *slotLimiter) Rate() float64 { return l.rate }

func (l *slotLimiter) Reserve(notBefore time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	slot := latest(l.next, time.Now(), notBefore)
	l.next = slot.Add(time.Duration(float64(time.Second) / l.rate))
	l.n++
	return slot
}

func latest(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

// arrivals records when each request reached the server.
type arrivals struct {
	mu    sync.Mutex
	times []time.Time
}

func (a *arrivals) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.times = append(a.times, time.Now())
		a.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// A budget against a target with a rate limiter (a live target's guard:
// --rate) runs at most at the limiter's rate and takes every slot from
// it: a budget at 50 req/s on a target capped at 10 req/s sends 10 req/s,
// and the plan says its rate was capped.
func TestBudgetSharesTheTargetRateLimiter(t *testing.T) {
	c := loadContract(t)
	arr := &arrivals{}
	ep, seen := serve(t, "ingress", arr.wrap(mainStub(t, 0)))
	lim := &slotLimiter{rate: 10}
	ep.Limiter = lim
	b := budget("main-page", "main-page", 50, 12)
	r, err := Attack(context.Background(), ep, caseNamed(t, c, "main-page"), b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Plan.RateCapped || r.Plan.Rate != 10 || seen.count() != 12 || lim.n < 12 {
		t.Fatalf("plan %+v, %d requests received, %d slots taken; want rate capped to 10, 12 requests, 12 slots", r.Plan, seen.count(), lim.n)
	}
	sort.Slice(arr.times, func(i, j int) bool { return arr.times[i].Before(arr.times[j]) })
	if span := arr.times[len(arr.times)-1].Sub(arr.times[0]); span < 1000*time.Millisecond {
		t.Fatalf("12 requests at a cap of 10/s arrived within %s, want at least 1.1s less jitter", span)
	}
	if r.Outcome != "passed" {
		t.Errorf("a capped budget judged against its capped rate should pass: %s %q", r.Outcome, r.Reasons)
	}
}

// Rates no input may give a plan: NaN, infinities, zero, negative, tiny.
func TestPlanRefusesUnusableRates(t *testing.T) {
	for _, rate := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, -1, 1e-300, 5e-324, 0.001} {
		b := &contract.Budget{Name: "b", Case: "c", Rate: rate, Requests: 3}
		if _, err := PlanFor(b, Options{}); err == nil {
			t.Errorf("PlanFor(rate %v): no error", rate)
		}
		if err := CheckRate(b, 1, true, false); err == nil {
			t.Errorf("CheckRate(rate %v, live): no error", rate)
		}
	}
	b := &contract.Budget{Name: "b", Case: "c", Rate: 5, Requests: 3}
	if err := CheckRate(b, 1e-300, true, false); err == nil || errors.Is(err, ErrRateRefused) {
		t.Errorf("CheckRate(scale 1e-300): %v, want a refusal of the rate", err)
	}
}
