package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// preflightTimeout bounds each entry point's preflight request: an
// unreachable target, or one that accepts connections and never answers,
// is reported in seconds, not after every case's poll budget.
const preflightTimeout = 5 * time.Second

// preflight sends one HTTP request to every entry point the cases use (a
// case of that entry, through the target's guard), so an environment that
// does not answer fails fast with exit code 3 and names each address. Any
// HTTP answer, whatever its status, is an answer.
func preflight(ctx context.Context, tgt target.Target, cases []*contract.Case) error {
	first := map[string]*contract.Case{}
	for _, cs := range cases {
		if _, ok := first[cs.Entry]; ok {
			continue
		}
		if s, ok := tgt.(target.Screener); ok && s.Screen(cs.Entry, cs.Request) != nil {
			continue // never sent (n/a): another case of the entry may be
		}
		first[cs.Entry] = cs
	}
	names := make([]string, 0, len(first))
	for e := range first {
		names = append(names, e)
	}
	sort.Strings(names)

	p := probe.New(probe.Options{Timeout: preflightTimeout, BustCache: tgt.Live(), UserAgent: userAgentFor(tgt)})
	defer p.Close()
	var errs []error
	for _, entry := range names {
		ep, err := tgt.Endpoint(entry)
		if errors.Is(err, target.ErrNotApplicable) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("entry %q: %w", entry, err))
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, preflightTimeout)
		r := p.Do(rctx, ep, first[entry].Request)
		cancel()
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("preflight target %q: %w", tgt.Name(), ctx.Err())
		case r.Status != 0, r.Refused, r.NoSlot:
			// An answer; or nothing sent (the checks will say why).
		default:
			errs = append(errs, fmt.Errorf("entry %q (%s): no HTTP answer within %s: %s", entry, ep, preflightTimeout, r.Err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("target %q is not reachable:\n%w", tgt.Name(), errors.Join(errs...))
	}
	return nil
}
