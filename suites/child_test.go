package suites_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	childOnce sync.Once
	childDir  string
	childPath string
	childErr  error
)

// childBinary is this package's test binary built once without the race
// detector, for the TestSuites children. They check routing, not memory:
// without the detector a child takes a third of the CPU (0.5 CPU-s, not
// 1.8), and some 40 of them run in `make test`. The concurrent code they
// run (check.RunAll, run.Run's prefetch) is raced in harness/check's and
// harness/run's own tests.
func childBinary() (string, error) {
	childOnce.Do(func() {
		if childDir, childErr = os.MkdirTemp("", "pretrain-suites-child-"); childErr != nil {
			return
		}
		childPath = filepath.Join(childDir, "suites.test")
		if out, err := exec.Command("go", "test", "-c", "-o", childPath, ".").CombinedOutput(); err != nil {
			childErr = fmt.Errorf("build the suites' child binary (go test -c, without -race): %w\n%s", err, out)
		}
	})
	return childPath, childErr
}

func TestMain(m *testing.M) {
	code := m.Run()
	if childDir != "" {
		os.RemoveAll(childDir)
	}
	os.Exit(code)
}
