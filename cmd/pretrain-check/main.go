// Command pretrain-check checks that Pretrain's routing does what the
// routing contract says, against a kind replica, a static target or the
// live testwiki.
//
// Exit codes: 0 every check passed, 1 a check failed, 2 bad usage or bad
// input (a run that checked nothing included), 3 the environment could not
// be reached or brought up, 4 the run was stopped (--timeout, Ctrl-C)
// before every check had a verdict and none failed.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, the contract with CI and scap's supervision commands.
const (
	exitPassed      = 0
	exitFailed      = 1
	exitUsage       = 2
	exitEnvironment = 3
	// exitStopped: the run was stopped (--timeout, Ctrl-C) before every
	// check had a verdict, and none failed: not a pass, not a failure.
	exitStopped = 4
)

// exitError carries an exit code to main; only main prints and exits.
type exitError struct {
	code int
	err  error
	// quiet: the command already said it (the summary line stays last).
	quiet bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(err error) error       { return &exitError{code: exitUsage, err: err} }
func environmentError(err error) error { return &exitError{code: exitEnvironment, err: err} }

// errChecksFailed ends a run whose report was printed but had failures.
var errChecksFailed = &exitError{code: exitFailed, err: errors.New("one or more checks failed")}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	if err == nil {
		return exitPassed
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee != errChecksFailed && !ee.quiet {
			fmt.Fprintf(os.Stderr, "ERROR: %v\n", ee.err)
		}
		return ee.code
	}
	// cobra's own errors: unknown command or flag, bad arguments.
	fmt.Fprintf(os.Stderr, "ERROR: %v\n", err)
	return exitUsage
}
