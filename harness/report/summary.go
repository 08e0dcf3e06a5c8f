// Package report turns verdicts into what people and CI read after a run:
// a one-line summary, a routing matrix table, a JSON report with the
// evidence, a JUnit file, and a directory holding all of them plus one
// evidence file per case that did not pass.
//
// Builders keep the order they are given (the CLI passes contract order);
// none of them print anything on their own.
package report

import (
	"fmt"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
)

// Summary counts verdicts by outcome.
type Summary struct {
	Passed        int `json:"passed"`
	Failed        int `json:"failed"`
	Inconclusive  int `json:"inconclusive"`
	NotApplicable int `json:"notApplicable"`
	Skipped       int `json:"skipped"`
}

// Summarize counts outcomes. An unknown outcome counts as failed: a
// verdict nobody can read is not a pass.
func Summarize(vs []check.Verdict) Summary {
	var s Summary
	for _, v := range vs {
		s.Add(v.Outcome)
	}
	return s
}

// Add counts one outcome (a case's, or a latency budget's).
func (s *Summary) Add(o check.Outcome) {
	switch o {
	case check.Passed:
		s.Passed++
	case check.Inconclusive:
		s.Inconclusive++
	case check.NotApplicable:
		s.NotApplicable++
	case check.Skipped:
		s.Skipped++
	default:
		s.Failed++
	}
}

// Total is the number of verdicts counted.
func (s Summary) Total() int {
	return s.Passed + s.Failed + s.Inconclusive + s.NotApplicable + s.Skipped
}

// OK reports whether nothing failed.
func (s Summary) OK() bool { return s.Failed == 0 }

// Line is the one-line summary:
// "pretrain-check: 43 passed, 0 failed, 2 inconclusive, 3 n/a", with
// ", N skipped" appended only when some were skipped.
func (s Summary) Line() string {
	line := fmt.Sprintf("pretrain-check: %d passed, %d failed, %d inconclusive, %d n/a",
		s.Passed, s.Failed, s.Inconclusive, s.NotApplicable)
	if s.Skipped > 0 {
		line += fmt.Sprintf(", %d skipped", s.Skipped)
	}
	return line
}
