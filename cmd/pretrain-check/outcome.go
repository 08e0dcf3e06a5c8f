package main

import (
	"errors"
	"fmt"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/report"
)

// stoppedLine is printed before the summary line of a stopped run.
func stoppedLine(stop string, rep report.Report) string {
	s := rep.Summary()
	return fmt.Sprintf("stopped: %s: %d of %d checks are inconclusive", stop, s.Inconclusive, s.Total())
}

// errStopped ends a run stopped (--timeout, Ctrl-C) before every check had
// a verdict, none of them failed; the run printed stoppedLine already.
func errStopped(stop string, rep report.Report) error {
	return &exitError{code: exitStopped, err: errors.New(stoppedLine(stop, rep)), quiet: true}
}

// nothingChecked is a usage error when no check had a verdict that says
// anything (every one n/a or skipped): a run that checked nothing must not
// pass. The reason is the first check's.
func nothingChecked(rep report.Report, targetName string) error {
	s := rep.Summary()
	if s.Passed+s.Failed+s.Inconclusive > 0 {
		return nil
	}
	first := ""
	for _, v := range rep.Cases {
		if len(v.Reasons) > 0 {
			first = v.Reasons[0]
			break
		}
	}
	if first == "" {
		for _, r := range rep.Budgets {
			if len(r.Reasons) > 0 {
				first = r.Reasons[0]
				break
			}
		}
	}
	if first == "" {
		for _, r := range rep.Shares {
			if len(r.Reasons) > 0 {
				first = r.Reasons[0]
				break
			}
		}
	}
	msg := fmt.Sprintf("nothing checked: all %d selected checks are n/a on target %q", s.Total(), targetName)
	if first != "" {
		msg += "; first reason: " + first
	}
	return usageError(errors.New(msg))
}
