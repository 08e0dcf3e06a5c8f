// Command runcwrap is an OCI runtime for dockerd that drops, from the
// container spec, every capability missing from the host's bounding set, then
// executes runc with the same arguments. Install it as the engine's default
// runtime only where a capability is missing (see ensure-docker.sh).
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/images/ocicaps"
)

// runcCandidates are tried in order; RUNCWRAP_RUNC overrides them.
var runcCandidates = []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "runcwrap: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	runc, err := findRunc()
	if err != nil {
		return err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("get working directory: %w", err)
	}
	if target, ok := ocicaps.TargetOf(os.Args[1:], cwd); ok {
		allowed, err := ocicaps.Bounding()
		if err != nil {
			return err
		}
		if err := ocicaps.FilterFile(target.Path, target.Spec, allowed); err != nil {
			return err
		}
	}
	argv := append([]string{"runc"}, os.Args[1:]...)
	if err := syscall.Exec(runc, argv, os.Environ()); err != nil {
		return fmt.Errorf("exec %q: %w", runc, err)
	}
	return nil
}

func findRunc() (string, error) {
	if p := os.Getenv("RUNCWRAP_RUNC"); p != "" {
		return p, nil
	}
	for _, p := range runcCandidates {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	p, err := exec.LookPath("runc")
	if err != nil {
		return "", fmt.Errorf("find runc: %w", err)
	}
	return p, nil
}
