package main

import (
	"context"
	"fmt"
	"os"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// openTarget turns --target into a Target. The returned func releases it.
func openTarget(_ context.Context, spec string) (target.Target, func(), error) {
	switch spec {
	case "kind", "live":
		return nil, nil, usageError(fmt.Errorf("--target %s: not available in this build yet", spec))
	}
	if _, err := os.Stat(spec); err != nil {
		return nil, nil, usageError(fmt.Errorf("--target %q: not \"kind\", \"live\" or a readable target file: %w", spec, err))
	}
	t, err := target.LoadStatic(spec)
	if err != nil {
		return nil, nil, usageError(err)
	}
	return t, func() {}, nil
}
