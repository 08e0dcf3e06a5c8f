// Package check judges a probe Result against a contract Case: the
// comparison ("expected X, got Y") and the polling for eventual
// consistency, independent of any test framework.
package check

import (
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
)

// Outcome of one case.
type Outcome string

const (
	Passed        Outcome = "passed"
	Failed        Outcome = "failed"
	Inconclusive  Outcome = "inconclusive"   // e.g. served from cache: says nothing about routing
	NotApplicable Outcome = "not-applicable" // entry point unreachable from this target/vantage
	Skipped       Outcome = "skipped"
)

// Verdict is a case's outcome with its evidence.
type Verdict struct {
	Case    *contract.Case `json:"case"`
	Outcome Outcome        `json:"outcome"`
	// Reasons are "expected X, got Y" lines; empty when passed.
	Reasons []string `json:"reasons,omitempty"`
	// Evidence is the deciding attempt; History the earlier attempts (most
	// recent last), bounded.
	Evidence probe.Result   `json:"evidence"`
	History  []probe.Result `json:"history,omitempty"`
	Attempts int            `json:"attempts"`
	// HistoryReasons[i] are the reasons History[i] missed.
	HistoryReasons [][]string `json:"historyReasons,omitempty"`
	// PassedAttempts counts the attempts that passed, in a row or not.
	PassedAttempts int `json:"passedAttempts,omitempty"`
	// Started is when the case began; Elapsed how long it took to decide.
	Started time.Time     `json:"started"`
	Elapsed time.Duration `json:"elapsed"`
}
