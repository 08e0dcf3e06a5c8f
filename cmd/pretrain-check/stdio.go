package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// withStdoutOnStderr runs fn with file descriptor 1 pointing at stderr.
// Ginkgo's reporter writes to the process's stdout, captured when its
// package initialised; swapping the descriptor is the only way to keep
// stdout for the report alone (JSON or JUnit must stay parseable).
func withStdoutOnStderr(fn func()) error {
	saved, err := unix.Dup(1)
	if err != nil {
		return fmt.Errorf("duplicate stdout: %w", err)
	}
	defer unix.Close(saved)
	if err := unix.Dup2(2, 1); err != nil {
		return fmt.Errorf("redirect stdout to stderr: %w", err)
	}
	defer func() {
		os.Stdout.Sync()
		unix.Dup2(saved, 1)
	}()
	fn()
	return nil
}
