package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// step is one named, timed stage of a lifecycle.
type step struct {
	name    string
	timeout time.Duration
	// run returns a short detail for the progress line ("5 images").
	run func(ctx context.Context) (string, error)
}

// StepError is a failed step: which one, after how long, and why.
type StepError struct {
	Step    string
	Elapsed time.Duration
	Err     error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %q failed after %s: %v", e.Step, e.Elapsed.Round(100*time.Millisecond), e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// runSteps runs steps in order, each under its own timeout, printing one
// line per step: "[up] create     22.1s  (detail)". It stops at the first
// failure and returns it as a *StepError, printed as
// "[up] ready      FAILED after 3m0.0s: <error>".
func runSteps(ctx context.Context, w io.Writer, prefix string, steps []step) error {
	for _, s := range steps {
		if err := runStep(ctx, w, prefix, s); err != nil {
			return err
		}
	}
	return nil
}

func runStep(ctx context.Context, w io.Writer, prefix string, s step) error {
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, s.timeout)
	detail, err := s.run(sctx)
	timedOut := errors.Is(sctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	cancel()
	d := time.Since(start)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err() // finished, but the caller gave up meanwhile
	}
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("interrupted: %w", err)
		case timedOut:
			err = fmt.Errorf("timed out after %s: %w", s.timeout, err)
		}
		fmt.Fprintf(w, "[%s] %-9s FAILED after %.1fs: %v\n", prefix, s.name, d.Seconds(), err)
		return &StepError{Step: s.name, Elapsed: d, Err: err}
	}
	if detail != "" {
		detail = "  (" + detail + ")"
	}
	fmt.Fprintf(w, "[%s] %-9s %6.1fs%s\n", prefix, s.name, d.Seconds(), detail)
	return nil
}

// Timed runs fn as a step of another lifecycle (the suites of make e2e,
// say) and prints its line in the same format as Up's steps.
func Timed(ctx context.Context, w io.Writer, prefix, name string, timeout time.Duration, fn func(ctx context.Context) (string, error)) error {
	if w == nil {
		w = io.Discard
	}
	return runStep(ctx, w, prefix, step{name: name, timeout: timeout, run: fn})
}
