// Package share runs the contract's canary share checks: one case sent N
// times, the answers from the canary counted and held against the
// contract's band (see contract.Share for how the band is chosen). The
// requests go through the target's endpoint like a probe's, its safety
// guard and rate cap included.
package share

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// DefaultMaxLiveDuration is how long a share check may take on a live
// target at its rate cap: beyond it the check is n/a (240 requests need
// --rate 4 or more).
const DefaultMaxLiveDuration = time.Minute

// Options tune a share check.
type Options struct {
	// MaxLiveDuration bounds a share check on a live target at the
	// target's rate cap (default DefaultMaxLiveDuration).
	MaxLiveDuration time.Duration
}

// Result is a share check's verdict and counts.
type Result struct {
	Share *contract.Share `json:"share"`
	Case  *contract.Case  `json:"case"`
	// Outcome is passed, failed, inconclusive or not-applicable.
	Outcome check.Outcome `json:"outcome"`
	Reasons []string      `json:"reasons,omitempty"`
	// Sent counts the requests sent; Canary the answers from the share's
	// backend; InGroup those from the case's expected group (the canary's
	// included); ServedBy every answer by backend ("error", "unidentified",
	// "cached" for the others).
	Sent     int            `json:"sent"`
	Canary   int            `json:"canary"`
	InGroup  int            `json:"inGroup"`
	ServedBy map[string]int `json:"servedBy,omitempty"`
	// Last is the last answer, as evidence of what was sent.
	Last    probe.Result  `json:"last"`
	Started time.Time     `json:"started"`
	Elapsed time.Duration `json:"elapsed"`
}

// Observed is the canary's share of the answers from the group.
func (r Result) Observed() float64 {
	if r.InGroup == 0 {
		return 0
	}
	return float64(r.Canary) / float64(r.InGroup)
}

// Band describes the band: "46..117 of 240 (19.2%..48.8%) around 1/3".
func Band(s *contract.Share) string {
	return fmt.Sprintf("%d..%d of %d (%.1f%%..%.1f%%) around %d/%d", s.Min, s.Max, s.Requests,
		100*float64(s.Min)/float64(s.Requests), 100*float64(s.Max)/float64(s.Requests), s.Num, s.Den)
}

// Run sends the share's case Requests times, one after the other, to the
// case's entry point on t and judges the canary's count:
//
//   - an entry t cannot reach, a request a live target screens out, or a
//     live rate cap at which the requests would take longer than
//     MaxLiveDuration: not applicable, nothing sent;
//   - any answer from outside the case's expected group: failed;
//   - the canary's count outside the band, whatever the uncounted answers
//     (errors, refusals, unidentified or cached) were: failed;
//   - otherwise uncounted answers: inconclusive;
//   - ctx ending before every request: inconclusive.
func Run(ctx context.Context, c *contract.Contract, s *contract.Share, t target.Target, p *probe.Prober, o Options) (r Result) {
	r = Result{Share: s, Started: time.Now(), ServedBy: map[string]int{}}
	defer func() { r.Elapsed = time.Since(r.Started) }()
	cs := c.Case(s.Case)
	r.Case = cs
	if cs == nil {
		r.Outcome, r.Reasons = check.Failed, []string{fmt.Sprintf("share %q: unknown case %q", s.Name, s.Case)}
		return r
	}
	ep, err := t.Endpoint(cs.Entry)
	if err != nil {
		r.Outcome = check.Failed
		if errors.Is(err, target.ErrNotApplicable) {
			r.Outcome = check.NotApplicable
		}
		r.Reasons = []string{err.Error()}
		return r
	}
	if sc, ok := t.(target.Screener); ok {
		if err := sc.Screen(cs.Entry, cs.Request); err != nil {
			r.Outcome = check.Failed
			if errors.Is(err, target.ErrNotApplicable) {
				r.Outcome = check.NotApplicable
			}
			r.Reasons = []string{err.Error()}
			return r
		}
	}
	if t.Live() && ep.Limiter != nil {
		maxD := o.MaxLiveDuration
		if maxD <= 0 {
			maxD = DefaultMaxLiveDuration
		}
		need := time.Duration(float64(s.Requests) / ep.Limiter.Rate() * float64(time.Second))
		if need > maxD {
			r.Outcome = check.NotApplicable
			r.Reasons = []string{fmt.Sprintf("%d requests at the live rate cap of %g/s would take %s, more than the %s a live share check may take: raise --rate (at most 10/s) to run it",
				s.Requests, ep.Limiter.Rate(), need.Round(time.Second), maxD)}
			return r
		}
	}

	var uncertain, outside []string
	for i := 0; i < s.Requests; i++ {
		res := p.Do(ctx, ep, cs.Request)
		r.Last = res
		if ctx.Err() != nil {
			r.Outcome = check.Inconclusive
			r.Reasons = []string{fmt.Sprintf("stopped before a verdict after %d of %d requests: %v", r.Sent, s.Requests, ctx.Err())}
			return r
		}
		switch {
		case res.Refused || res.NoSlot:
			r.ServedBy["refused"]++
			uncertain = appendOnce(uncertain, "not sent: "+res.Err)
			continue
		case res.Err != "":
			r.Sent++
			r.ServedBy["error"]++
			uncertain = appendOnce(uncertain, "no answer: "+res.Err)
			continue
		}
		r.Sent++
		switch {
		case res.CacheStatus != "" && res.Cached():
			r.ServedBy["cached"]++
			uncertain = appendOnce(uncertain, fmt.Sprintf("cached answers (X-Cache-Status %q) say nothing about who serves", res.CacheStatus))
		case !res.ServedBy.Known():
			r.ServedBy["unidentified"]++
			uncertain = appendOnce(uncertain, "answers that name no backend")
		default:
			b := res.ServedBy.Backend()
			r.ServedBy[b]++
			if !c.Allows(cs.Expect.ServedBy, b) {
				outside = appendOnce(outside, b)
				continue
			}
			r.InGroup++
			if b == s.Backend {
				r.Canary++
			}
		}
	}
	switch {
	case len(outside) > 0:
		sort.Strings(outside)
		n := 0
		for _, b := range outside {
			n += r.ServedBy[b]
		}
		r.Outcome = check.Failed
		r.Reasons = []string{fmt.Sprintf("expected every answer from %q, got %d of %d from %s", cs.Expect.ServedBy, n, r.Sent, strings.Join(outside, ", "))}
	case r.Canary > s.Max || r.Canary+(s.Requests-r.InGroup) < s.Min:
		// Outside the band whatever the uncounted answers were.
		r.Outcome = check.Failed
		r.Reasons = []string{fmt.Sprintf("expected %q to serve %s, got %d (%.1f%%)", s.Backend, Band(s), r.Canary, 100*r.Observed())}
	case len(uncertain) > 0:
		r.Outcome = check.Inconclusive
		r.Reasons = append([]string{fmt.Sprintf("%d of %d requests were not counted", s.Requests-r.InGroup, s.Requests)}, uncertain...)
	default:
		r.Outcome = check.Passed
	}
	return r
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// Served describes who answered: "mw-pretrain/main x160, mw-pretrain/canary x80".
func (r Result) Served() string {
	keys := make([]string, 0, len(r.ServedBy))
	for k := range r.ServedBy {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if r.ServedBy[keys[i]] != r.ServedBy[keys[j]] {
			return r.ServedBy[keys[i]] > r.ServedBy[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s x%d", k, r.ServedBy[k])
	}
	return strings.Join(parts, ", ")
}

// Explain is the evidence for humans: the share, the band, the counts,
// the request and the reasons.
func (r Result) Explain() string {
	var b strings.Builder
	name := "(no share)"
	if r.Share != nil {
		name = r.Share.Name
	}
	fmt.Fprintf(&b, "share %s: %s\n", name, r.Outcome)
	if s := r.Share; s != nil {
		fmt.Fprintf(&b, "  canary:       %s, expected %s\n", s.Backend, Band(s))
		if s.Pos.File != "" {
			fmt.Fprintf(&b, "  written at:   %s\n", s.Pos)
		}
	}
	if cs := r.Case; cs != nil {
		fmt.Fprintf(&b, "  case:         %s (%s), entry %s, expected %s\n", cs.Name, check.RequestLine(cs.Request), cs.Entry, cs.Expect.ServedBy)
	}
	if r.Last.Request.ConnectedTo != "" {
		fmt.Fprintf(&b, "  connected to: %s\n", r.Last.Request.ConnectedTo)
	}
	fmt.Fprintf(&b, "  sent:         %d in %s\n", r.Sent, r.Elapsed.Round(time.Millisecond))
	if len(r.ServedBy) > 0 {
		fmt.Fprintf(&b, "  served by:    %s\n", r.Served())
	}
	if r.InGroup > 0 {
		fmt.Fprintf(&b, "  canary share: %d of %d (%.1f%%)\n", r.Canary, r.InGroup, 100*r.Observed())
	}
	if len(r.Reasons) > 0 {
		b.WriteString("  reasons:\n")
		for _, x := range r.Reasons {
			fmt.Fprintf(&b, "    - %s\n", x)
		}
	}
	return b.String()
}
