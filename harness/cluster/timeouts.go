package cluster

import (
	"fmt"
	"time"
)

// Timeouts is every time budget of the replica's lifecycle, in one place. A
// zero field takes its DefaultTimeouts value.
type Timeouts struct {
	// Create bounds creating the kind node up to node Ready (passed to
	// kind as its wait-for-ready) plus kind's own provisioning.
	Create time.Duration
	// Load bounds loading every image into the node.
	Load time.Duration
	// Apply bounds rendering and server-side applying every manifest.
	Apply time.Duration
	// Ready bounds waiting for every Deployment (and CoreDNS) to be rolled
	// out and available.
	Ready time.Duration
	// Converge bounds probing the entry points until each answers
	// correctly RequiredConsecutive times in a row.
	Converge time.Duration
	// ConvergeInterval is the pause between two probes of one entry point.
	ConvergeInterval time.Duration
	// RequiredConsecutive correct answers in a row make an entry point
	// converged; any wrong answer resets the count.
	RequiredConsecutive int
	// Request bounds one probe request.
	Request time.Duration
	// Delete bounds deleting the cluster.
	Delete time.Duration
	// Diagnostics bounds collecting diagnostics after a failure.
	Diagnostics time.Duration
	// DiagnosticsLogLines is how many last log lines of each container are
	// printed on the logger (the report directory gets DiagnosticsLogFileLines).
	DiagnosticsLogLines     int
	DiagnosticsLogFileLines int
}

// DefaultTimeouts are sized for a 2-core machine with a noisy neighbour:
// node Ready takes 20-30s, loading the five images up to a minute cold,
// rollouts a few seconds.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		Create:                  4 * time.Minute,
		Load:                    5 * time.Minute,
		Apply:                   2 * time.Minute,
		Ready:                   3 * time.Minute,
		Converge:                90 * time.Second,
		ConvergeInterval:        250 * time.Millisecond,
		RequiredConsecutive:     3,
		Request:                 5 * time.Second,
		Delete:                  2 * time.Minute,
		Diagnostics:             time.Minute,
		DiagnosticsLogLines:     15,
		DiagnosticsLogFileLines: 500,
	}
}

// withDefaults fills zero fields from DefaultTimeouts.
func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts()
	fill := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	fill(&t.Create, d.Create)
	fill(&t.Load, d.Load)
	fill(&t.Apply, d.Apply)
	fill(&t.Ready, d.Ready)
	fill(&t.Converge, d.Converge)
	fill(&t.ConvergeInterval, d.ConvergeInterval)
	fill(&t.Request, d.Request)
	fill(&t.Delete, d.Delete)
	fill(&t.Diagnostics, d.Diagnostics)
	if t.RequiredConsecutive <= 0 {
		t.RequiredConsecutive = d.RequiredConsecutive
	}
	if t.DiagnosticsLogLines <= 0 {
		t.DiagnosticsLogLines = d.DiagnosticsLogLines
	}
	if t.DiagnosticsLogFileLines <= 0 {
		t.DiagnosticsLogFileLines = d.DiagnosticsLogFileLines
	}
	return t
}

func (t Timeouts) validate() error {
	if t.ConvergeInterval >= t.Converge {
		return fmt.Errorf("converge interval %s is not below the converge budget %s", t.ConvergeInterval, t.Converge)
	}
	if t.Request > t.Converge {
		return fmt.Errorf("request timeout %s exceeds the converge budget %s", t.Request, t.Converge)
	}
	return nil
}
