package cluster

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

//go:embed converge.yaml
var convergeYAML []byte

// convergeProbes are the bring-up probes (converge.yaml), parsed once.
func convergeProbes() (*contract.Contract, error) {
	c, err := contract.Parse("harness/cluster/converge.yaml", convergeYAML)
	if err != nil {
		return nil, fmt.Errorf("parse bring-up probes: %w", err)
	}
	return c, nil
}

// convergeResult summarises a converge run.
type convergeResult struct {
	probes   int
	slowest  string
	slowestT time.Duration
}

// converge probes every bring-up case until it answers correctly
// t.RequiredConsecutive times in a row, all within t.Converge. The error
// lists each probe that did not converge with its reasons and last answer.
func converge(ctx context.Context, tg target.Target, t Timeouts) (convergeResult, error) {
	c, err := convergeProbes()
	if err != nil {
		return convergeResult{}, err
	}
	p := probe.New(probe.Options{Timeout: attemptTimeout(t), FreshConnections: true})
	defer p.Close()
	cfg := check.PollConfig{
		Timeout:             t.Converge,
		Interval:            t.ConvergeInterval,
		RequiredConsecutive: t.RequiredConsecutive,
		MaxHistory:          3,
	}
	verdicts := check.RunAll(ctx, c, c.Cases, tg, p, cfg, len(c.Cases))
	res := convergeResult{probes: len(verdicts)}
	var errs []error
	for _, v := range verdicts {
		if v.Elapsed > res.slowestT {
			res.slowest, res.slowestT = v.Case.Name, v.Elapsed
		}
		if v.Outcome == check.Passed {
			continue
		}
		last := v.Evidence
		who := last.ServedBy.String()
		if last.Err != "" {
			who = "error: " + last.Err
		}
		errs = append(errs, fmt.Errorf("probe %q (%s %s%s on %s) %s after %d attempts: %s; last answer: status %d from %s",
			v.Case.Name, v.Case.Request.Method, v.Case.Request.Host, v.Case.Request.Path, v.Case.Entry,
			v.Outcome, v.Attempts, strings.Join(v.Reasons, "; "), last.Status, who))
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("entry points did not converge: %w", err)
	}
	return res, nil
}
