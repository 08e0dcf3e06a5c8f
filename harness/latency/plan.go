// Package latency runs a contract's latency budgets: one vegeta attack per
// budget against the budget's case, addressed to the case's host (Host
// header and TLS SNI) but connected to the target's address, every
// response identified, and a verdict that carries the evidence (requested
// and achieved rate, percentiles, statuses, errors, who served) with a
// latency histogram and a latency-over-time plot as SVG files.
//
// A budget measured on the wrong backend is a failure, not a pass; a budget
// whose attack could not hold its rate is inconclusive (the figures are not
// trustworthy), never passed.
package latency

import (
	"errors"
	"fmt"
	"math"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// Live-target limits (pretrain.md: Wikimedia asks every client for a low
// rate). The default contract's budgets stay within DefaultLiveRate and
// DefaultLiveRequests; the CLI refuses more than LiveRateLimit against a
// live target unless production traffic is explicitly allowed.
const (
	DefaultLiveRate     = 5.0  // requests/s per budget in the default contract
	DefaultLiveRequests = 60   // requests per budget in the default contract
	LiveRateLimit       = 10.0 // requests/s refused against live targets without the override
	// MinRate is the lowest rate a plan accepts (requests/s): below it the
	// plan's duration (and the pacer's intervals) say the input is a
	// mistake, and they would overflow long before 1e-300.
	MinRate = 0.01
)

// ShortfallRatio is the share of the requested rate an attack must reach for
// its figures to be trusted: below it, and more than ShortfallSlack behind
// schedule, the verdict is inconclusive (or failed, when a ceiling is
// exceeded anyway). The slack keeps scheduling jitter in short attacks
// from counting as a shortfall.
const (
	ShortfallRatio = 0.9
	ShortfallSlack = 100 * time.Millisecond
)

// ErrRateRefused is returned (wrapped) by CheckRate when a budget would
// exceed LiveRateLimit against a live target without the override.
var ErrRateRefused = errors.New("rate refused against a live target")

// CheckScale validates a --rate-scale value: finite and positive.
func CheckScale(scale float64) error {
	if math.IsNaN(scale) || math.IsInf(scale, 0) || scale <= 0 {
		return fmt.Errorf("check rate scale: %v is not a positive number", scale)
	}
	return nil
}

// ScaledRate is the budget's rate times scale (a zero scale means 1).
func ScaledRate(b *contract.Budget, scale float64) float64 {
	if scale == 0 {
		scale = 1
	}
	return b.Rate * scale
}

// CheckRate refuses a budget whose scaled rate exceeds LiveRateLimit
// against a live target unless allowProduction is set.
func CheckRate(b *contract.Budget, scale float64, live, allowProduction bool) error {
	if err := CheckScale(orOne(scale)); err != nil {
		return err
	}
	rate := ScaledRate(b, scale)
	if math.IsNaN(rate) || math.IsInf(rate, 0) || rate < MinRate {
		return fmt.Errorf("budget %q: %v req/s (rate %s x scale %s) is not a finite rate of at least %g req/s",
			b.Name, rate, fmtRate(b.Rate), fmtRate(orOne(scale)), MinRate)
	}
	if live && !allowProduction && rate > LiveRateLimit {
		return fmt.Errorf("budget %q: %s req/s (rate %s x scale %s) exceeds %s req/s: %w",
			b.Name, fmtRate(rate), fmtRate(b.Rate), fmtRate(orOne(scale)), fmtRate(LiveRateLimit), ErrRateRefused)
	}
	return nil
}

// CheckBudgets is CheckRate for every budget; the error lists every
// refused budget.
func CheckBudgets(budgets []*contract.Budget, scale float64, live, allowProduction bool) error {
	if err := CheckScale(orOne(scale)); err != nil {
		return err
	}
	var errs []error
	for _, b := range budgets {
		if err := CheckRate(b, scale, live, allowProduction); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func orOne(scale float64) float64 {
	if scale == 0 {
		return 1
	}
	return scale
}

// Plan is what an attack sends: Requests requests paced at Rate, so it
// lasts about Requests/Rate seconds.
type Plan struct {
	Rate     float64 `json:"rate"`     // requests per second, scaled
	Requests int     `json:"requests"` // how many are sent
	// Duration is the planned sending time (Requests/Rate).
	Duration time.Duration `json:"duration"`
	// Capped says the plan was shortened by Options.MaxDuration.
	Capped bool `json:"capped,omitempty"`
	// RateCapped says the budget's rate was lowered to the target's rate
	// cap (Options.MaxRate: a live target's --rate).
	RateCapped bool `json:"rateCapped,omitempty"`
}

// PlanFor turns a budget and options into a plan. The scale multiplies the
// rate and the attack keeps its duration: a "duration" budget sends
// rate x scale x duration requests, a "requests" budget scale x requests
// (at least one), so --rate-scale 0.1 is a tenth of the traffic over the
// same time. Options.MaxDuration, when set, then shortens the plan.
func PlanFor(b *contract.Budget, opts Options) (Plan, error) {
	scale := orOne(opts.RateScale)
	if err := CheckScale(scale); err != nil {
		return Plan{}, err
	}
	if b.Rate <= 0 || math.IsNaN(b.Rate) || math.IsInf(b.Rate, 0) {
		return Plan{}, fmt.Errorf("plan budget %q: rate %v is not a positive number", b.Name, b.Rate)
	}
	p := Plan{Rate: b.Rate * scale}
	if math.IsNaN(p.Rate) || math.IsInf(p.Rate, 0) || p.Rate < MinRate {
		return Plan{}, fmt.Errorf("plan budget %q: rate %v x scale %v is not a finite rate of at least %g req/s", b.Name, b.Rate, scale, MinRate)
	}
	if opts.MaxRate > 0 && p.Rate > opts.MaxRate {
		// The target's one rate limiter (live: --rate) is the ceiling; a
		// duration budget keeps its duration, a requests budget its count.
		p.Rate, p.RateCapped = opts.MaxRate, true
	}
	switch {
	case b.Requests > 0:
		p.Requests = int(math.Ceil(float64(b.Requests)*scale - 1e-9))
	case b.Duration > 0:
		p.Requests = int(math.Ceil(p.Rate*b.Duration.Seconds() - 1e-9))
	default:
		return Plan{}, fmt.Errorf("plan budget %q: neither requests nor duration is set", b.Name)
	}
	p.Requests = max(p.Requests, 1)
	if opts.MaxDuration > 0 && p.duration() > opts.MaxDuration {
		p.Requests = max(int(math.Floor(p.Rate*opts.MaxDuration.Seconds())), 1)
		p.Capped = true
	}
	p.Duration = p.duration()
	return p, nil
}

// duration is the time between the first and the last request's start
// plus one interval: Requests/Rate.
func (p Plan) duration() time.Duration {
	return time.Duration(float64(p.Requests) / p.Rate * float64(time.Second))
}

// pacer sends request i at i/rate seconds (the first at once) and stops
// after max requests. A zero rate sends as fast as the workers allow. With
// a limiter (a live target's guard), each request also takes a slot from
// it, so the attack and the target's probes share one rate cap.
type pacer struct {
	rate    float64
	max     uint64
	limiter target.Limiter
}

func (p pacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if p.max > 0 && hits >= p.max {
		return 0, true
	}
	var wait time.Duration
	if p.rate > 0 {
		due := time.Duration(float64(hits) / p.rate * float64(time.Second))
		wait = due - elapsed
	}
	if p.limiter != nil {
		// vegeta calls Pace once per request it then sends (after the
		// wait): the slot is taken for that request.
		slot := p.limiter.Reserve(time.Now().Add(max(wait, 0)))
		wait = time.Until(slot)
	}
	return wait, false
}

// Rate is the pacer's rate (vegeta.Pacer).
func (p pacer) Rate(time.Duration) float64 { return p.rate }

func fmtRate(r float64) string {
	if r == math.Trunc(r) && math.Abs(r) < 1e9 {
		return fmt.Sprintf("%.0f", r)
	}
	if r >= 100 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.3g", r)
}
