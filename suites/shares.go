package suites

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/share"
)

// AreaShare is the area (and Ginkgo label) of the canary share checks:
// one spec per share of the contract.
const AreaShare = "share"

// ShareTitle is the title of the share checks' Describe container.
const ShareTitle = "the canaries get their replica share of their Service's traffic"

// SharesConfig configures the share checks.
type SharesConfig struct {
	// Run registers the share checks (each sends its case N times). The
	// CLI and go test front ends set it; a front end whose target cannot
	// give a canary its production share leaves it off.
	Run     bool
	Options share.Options
	// Record, when set, receives every share check's result as it ends.
	Record func(share.Result)
}

// defineShares returns the function registering the share specs: one
// Entry per share, labelled "share", its labels and its case's entry,
// Serial (its count must not mix with other specs' requests).
func defineShares(cfg Config, prober *probe.Prober) func() {
	if !cfg.Shares.Run || len(cfg.Contract.Shares) == 0 {
		return func() {}
	}
	args := []any{func(ctx SpecContext, s *contract.Share) {
		r := share.Run(ctx, cfg.Contract, s, cfg.Target, prober, cfg.Shares.Options)
		if cfg.Shares.Record != nil {
			cfg.Shares.Record(r)
		}
		AddReportEntry("evidence", r.Explain(), ReportEntryVisibilityFailureOrVerbose)
		switch r.Outcome {
		case check.NotApplicable, check.Inconclusive, check.Skipped:
			Skip(fmt.Sprintf("%s: %s", r.Outcome, strings.Join(r.Reasons, "; ")))
		}
		Expect(r.Outcome).To(Equal(check.Passed), func() string { return r.Explain() })
	}}
	for _, s := range cfg.Contract.Shares {
		args = append(args, Entry(s.Name, Label(ShareLabels(cfg.Contract, s)...), s))
	}
	return func() {
		Describe(ShareTitle, Label(AreaShare), Serial, func() {
			DescribeTable("share", args...)
		})
	}
}

// ShareLabels are a share's Ginkgo labels besides its area's: its
// contract labels and its case's entry point.
func ShareLabels(c *contract.Contract, s *contract.Share) []string {
	labels := append([]string{}, s.Labels...)
	if cs := c.Case(s.Case); cs != nil {
		labels = append(labels, EntryLabel(cs.Entry))
	}
	return labels
}

// SelectShares returns the shares a run with this label filter and focus
// checks, in contract order, as Ginkgo selects their specs (labels:
// "share", the share's and its entry's; focus: regexps on "<share title>
// share <name>").
func SelectShares(c *contract.Contract, labelFilter string, focus []string) ([]*contract.Share, error) {
	selected, err := newSelector(labelFilter, focus)
	if err != nil {
		return nil, err
	}
	var out []*contract.Share
	for _, s := range c.Shares {
		if selected(append(ShareLabels(c, s), AreaShare), ShareTitle+" share "+s.Name) {
			out = append(out, s)
		}
	}
	return out, nil
}
