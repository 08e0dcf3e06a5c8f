package httpbb

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/live"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// ErrUnreachable wraps Preflight's error when an address gave no HTTP
// answer in time.
var ErrUnreachable = errors.New("no HTTP answer")

// preflight sends each address's first test once, through the run's
// guard (its rate cap included), each bounded by timeout, so a host that
// refuses connections or accepts and never answers is reported in
// seconds. Any HTTP answer, whatever its status, is an answer. The error
// wraps ErrUnreachable and names every address that did not answer.
func preflight(ctx context.Context, tests []*Test, o Options, g *live.Guard, tlsCfg *tls.Config, timeout time.Duration) error {
	p := probe.New(probe.Options{Timeout: timeout, UserAgent: o.UserAgent})
	defer p.Close()
	hosts := o.Hosts
	if len(hosts) == 0 {
		hosts = []string{""}
	}
	done := map[string]bool{}
	var errs []error
	for _, host := range hosts {
		for _, t := range tests {
			if t.Body != "" {
				continue // a request with a body is never sent twice, nor as a probe
			}
			addr := connectAddress(t, host)
			if done[addr] {
				continue
			}
			done[addr] = true
			ep := target.Endpoint{Entry: Entry, URL: t.BaseURL, ConnectTo: addr, Guard: g.Check}
			if t.BaseURL.Scheme == "https" {
				ep.TLS = tlsCfg
			}
			rctx, cancel := context.WithTimeout(ctx, timeout)
			r := p.Do(rctx, ep, t.Case(host, false).Request)
			cancel()
			if ctx.Err() != nil {
				return fmt.Errorf("preflight httpbb: %w", ctx.Err())
			}
			if r.Status == 0 && !r.Refused && !r.NoSlot {
				errs = append(errs, fmt.Errorf("%s (for %s): %w within %s: %s", addr, t.URL(), ErrUnreachable, timeout, r.Err))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("preflight httpbb: not reachable:\n%w", errors.Join(errs...))
	}
	return nil
}
