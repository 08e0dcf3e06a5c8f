package check

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// PollConfig is every time budget of a case run, in one place. Routing
// converges eventually (a config push, a pod becoming ready), so a case is
// probed until it passes RequiredConsecutive times in a row, within Timeout.
// A zero field takes its DefaultPollConfig value.
type PollConfig struct {
	// Timeout is the most a case may take to converge, from its first
	// attempt. On expiry the case fails with its last miss as evidence.
	Timeout time.Duration
	// Interval is the pause after a miss, before the next attempt. After
	// a correct answer the next attempt goes at once: the wait is for a
	// proxy to converge, and a correct answer needs none (the answers must
	// still be correct RequiredConsecutive times in a row).
	Interval time.Duration
	// RequiredConsecutive passes in a row make a case pass; any miss resets
	// the count (one good answer among bad ones is not convergence).
	RequiredConsecutive int
	// MaxHistory bounds the misses kept in Verdict.History (most recent).
	MaxHistory int
}

// DefaultPollConfig: 30s to converge, an attempt every 200ms, 3 passes in
// a row, the last 10 misses kept.
func DefaultPollConfig() PollConfig {
	return PollConfig{
		Timeout:             30 * time.Second,
		Interval:            200 * time.Millisecond,
		RequiredConsecutive: 3,
		MaxHistory:          10,
	}
}

func (c PollConfig) withDefaults() PollConfig {
	d := DefaultPollConfig()
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.Interval <= 0 {
		c.Interval = d.Interval
	}
	if c.RequiredConsecutive <= 0 {
		c.RequiredConsecutive = d.RequiredConsecutive
	}
	if c.MaxHistory <= 0 {
		c.MaxHistory = d.MaxHistory
	}
	return c
}

// Run probes one case until it converges or its budget runs out:
//
//   - an entry the target cannot reach (target.ErrNotApplicable) is
//     NotApplicable, never passed; any other endpoint error is Failed;
//   - cfg.RequiredConsecutive passes in a row are Passed;
//   - a miss resets the count and is kept in History with its reasons;
//   - an Inconclusive attempt (a cached answer) ends the case at once;
//   - on cfg.Timeout the case is Failed with its last miss as Evidence;
//   - when ctx ends first the case is Inconclusive ("stopped before a
//     verdict"), returned promptly.
func Run(ctx context.Context, c *contract.Contract, cs *contract.Case, t target.Target, p *probe.Prober, cfg PollConfig) (v Verdict) {
	cfg = cfg.withDefaults()
	v = Verdict{Case: cs, Started: time.Now()}
	defer func() { v.Elapsed = time.Since(v.Started) }()

	ep, err := t.Endpoint(cs.Entry)
	if err != nil {
		v.Evidence = unsent(cs, v.Started)
		if errors.Is(err, target.ErrNotApplicable) {
			v.Outcome = NotApplicable
			v.Reasons = []string{err.Error()}
			return v
		}
		v.Outcome = Failed
		v.Reasons = []string{fmt.Sprintf("resolve entry %q on target %q: %v", cs.Entry, t.Name(), err)}
		return v
	}
	if s, ok := t.(target.Screener); ok {
		if err := s.Screen(cs.Entry, cs.Request); err != nil {
			v.Evidence = unsent(cs, v.Started)
			v.Outcome = Failed
			if errors.Is(err, target.ErrNotApplicable) {
				v.Outcome = NotApplicable
			}
			v.Reasons = []string{err.Error()}
			return v
		}
	}

	pollCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	timer := time.NewTimer(cfg.Interval)
	defer timer.Stop()

	var (
		misses      []miss // bounded to MaxHistory+1: the last becomes Evidence
		lastPass    probe.Result
		consecutive int
		best        int
	)
	deadline, _ := pollCtx.Deadline()
	for {
		wait := cfg.Interval
		r := p.Do(pollCtx, ep, cs.Request, probe.CaptureFor(cs))
		if ctx.Err() != nil {
			if v.Attempts == 0 {
				lastPass = r
			}
			return v.stopped(ctx, misses, lastPass)
		}
		if r.Refused {
			// The guard refused what Screen let through: never sent, so
			// not applicable (unsafe for production), never failed.
			v.Outcome, v.Evidence = NotApplicable, r
			v.Reasons = []string{"unsafe for production, never sent: " + r.Err}
			v.setHistory(misses)
			return v
		}
		if r.NoSlot {
			// No rate slot before the request's deadline: nothing was sent,
			// nothing learnt.
			if pollCtx.Err() == nil {
				continue
			}
			if v.Attempts == 0 {
				v.Outcome, v.Evidence = Inconclusive, r
				v.Reasons = []string{fmt.Sprintf("not sent within the poll budget of %s: the target's rate cap left no slot: %s", cfg.Timeout, r.Err)}
				return v
			}
			break
		}
		// An attempt cut short by the budget says nothing new once there is
		// other evidence: drop it.
		if pollCtx.Err() != nil && r.Err != "" && v.Attempts > 0 {
			break
		}
		v.Attempts++
		r.Request.Attempt = v.Attempts
		outcome, reasons := Evaluate(c, cs, r)
		if outcome != Passed {
			if after, ok := RetryAfter(r); ok {
				// Throttled (429/503 with Retry-After): wait it out within
				// the poll budget, never beyond; beyond it, the case is
				// inconclusive, not failed.
				left := time.Until(deadline)
				if after > left {
					v.Outcome, v.Evidence = Inconclusive, r
					v.Reasons = append([]string{fmt.Sprintf("throttled: %d with Retry-After %s, beyond the %s left of the poll budget", r.Status, after, left.Round(time.Millisecond))}, reasons...)
					v.setHistory(misses)
					return v
				}
				reasons = append(reasons, fmt.Sprintf("throttled: %d with Retry-After %s, waited out", r.Status, after))
				wait = max(wait, after)
			}
		}
		switch outcome {
		case Passed:
			v.PassedAttempts++
			consecutive++
			best = max(best, consecutive)
			lastPass = r
			if consecutive >= cfg.RequiredConsecutive {
				v.Outcome, v.Evidence = Passed, r
				v.setHistory(misses)
				return v
			}
		case Inconclusive:
			v.Outcome, v.Evidence, v.Reasons = Inconclusive, r, reasons
			v.setHistory(misses)
			return v
		default:
			consecutive = 0
			misses = append(misses, miss{r, reasons})
			if len(misses) > cfg.MaxHistory+1 {
				misses = append(misses[:0:0], misses[len(misses)-cfg.MaxHistory-1:]...)
			}
		}
		if pollCtx.Err() != nil {
			break
		}
		if outcome == Passed {
			continue
		}
		timer.Reset(wait)
		select {
		case <-pollCtx.Done():
		case <-timer.C:
			continue
		}
		if ctx.Err() != nil {
			return v.stopped(ctx, misses, lastPass)
		}
		break
	}

	// Timed out.
	v.Outcome = Failed
	summary := fmt.Sprintf("not converged within %s: %d attempts, %d passed, at most %d in a row (%d required)",
		cfg.Timeout, v.Attempts, v.PassedAttempts, best, cfg.RequiredConsecutive)
	if len(misses) == 0 {
		v.Evidence = lastPass
		v.Reasons = []string{summary}
		return v
	}
	last := misses[len(misses)-1]
	v.Evidence = last.result
	v.Reasons = append(append([]string(nil), last.reasons...), summary)
	if consecutive > 0 {
		v.Reasons = append(v.Reasons, fmt.Sprintf("the last %d attempts passed; the evidence above is the last miss (attempt %d)",
			consecutive, last.result.Request.Attempt))
	}
	v.setHistory(misses[:len(misses)-1])
	return v
}

// RetryAfter is a throttling answer's wait: a 429 or 503 with a
// Retry-After header in seconds or as an HTTP date.
func RetryAfter(r probe.Result) (time.Duration, bool) {
	if r.Status != http.StatusTooManyRequests && r.Status != http.StatusServiceUnavailable {
		return 0, false
	}
	vs := r.Header("Retry-After")
	if len(vs) == 0 {
		return 0, false
	}
	v := strings.TrimSpace(vs[0])
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		base := r.At
		if base.IsZero() {
			base = time.Now()
		}
		return max(at.Sub(base), 0), true
	}
	return 0, false
}

// stopped is the verdict of a case whose ctx ended before a verdict: the
// last miss (else the last result) is the evidence.
func (v Verdict) stopped(ctx context.Context, misses []miss, last probe.Result) Verdict {
	v.Outcome = Inconclusive
	v.Reasons = []string{fmt.Sprintf("stopped before a verdict after %d attempts: %v", v.Attempts, context.Cause(ctx))}
	if len(misses) > 0 {
		v.Evidence = misses[len(misses)-1].result
		v.Reasons = append(v.Reasons, misses[len(misses)-1].reasons...)
		v.setHistory(misses[:len(misses)-1])
	} else {
		v.Evidence = last
	}
	return v
}

type miss struct {
	result  probe.Result
	reasons []string
}

func (v *Verdict) setHistory(ms []miss) {
	v.History, v.HistoryReasons = nil, nil
	for _, m := range ms {
		v.History = append(v.History, m.result)
		v.HistoryReasons = append(v.HistoryReasons, m.reasons)
	}
}

// unsent is the evidence of a case whose request was never sent: no URL
// (no scheme is known), no address.
func unsent(cs *contract.Case, at time.Time) probe.Result {
	return probe.Result{
		At: at,
		Request: probe.SentRequest{
			Method: cs.Request.Method,
			Host:   cs.Request.Host,
			Entry:  cs.Entry,
		},
	}
}

// RunAll runs cases with at most concurrency at a time (1 when less) and
// returns their verdicts in input order. Cases not started when ctx ends
// are Skipped ("not run").
func RunAll(ctx context.Context, c *contract.Contract, cases []*contract.Case, t target.Target, p *probe.Prober, cfg PollConfig, concurrency int) []Verdict {
	out := make([]Verdict, len(cases))
	if len(cases) == 0 {
		return out
	}
	concurrency = max(1, min(concurrency, len(cases)))
	next := make(chan int)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for i := range next {
				out[i] = Run(ctx, c, cases[i], t, p, cfg)
			}
		})
	}
	sent := 0
feed:
	for ; sent < len(cases); sent++ {
		select {
		case next <- sent:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for i := sent; i < len(cases); i++ {
		now := time.Now()
		out[i] = Verdict{
			Case:     cases[i],
			Outcome:  Skipped,
			Reasons:  []string{fmt.Sprintf("not run: %v", context.Cause(ctx))},
			Evidence: unsent(cases[i], now),
			Started:  now,
		}
	}
	return out
}
