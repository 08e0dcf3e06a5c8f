package suites_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/faults"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/replicatest"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/report"
)

// The wrong-routing faults, what goes wrong and exactly the cases (and
// share checks) each must fail are the catalogue's (fixtures/faults.yaml,
// read by harness/faults), shared with the kind replica's proof
// (harness/cluster, suites/e2e); the in-process replica makes each by its
// name (replicatest.Fault).

// inProcessFaults reads the catalogue and checks that the in-process
// replica makes exactly the faults it lists for in-process.
func inProcessFaults(t *testing.T) *faults.Catalogue {
	t.Helper()
	cat, err := faults.Default()
	if err != nil {
		t.Fatal(err)
	}
	var made []string
	for _, f := range replicatest.AllFaults() {
		made = append(made, string(f))
	}
	if err := cat.Implemented(faults.InProcess, made); err != nil {
		t.Fatalf("the in-process replica's faults (harness/replicatest) and the catalogue differ:\n%v", err)
	}
	return cat
}

// TestFaultCatalogueMatchesTheReplica: every fault the catalogue lists for
// the in-process replica is one of its faults, and every one of its faults
// is in the catalogue (fast: no suites run).
func TestFaultCatalogueMatchesTheReplica(t *testing.T) {
	if os.Getenv(envTarget) != "" {
		t.Skip("child run of TestSuites: not a proof run")
	}
	inProcessFaults(t)
}

// TestWrongRoutingFailsTheRightCases runs the suites (TestSuites, in a child
// process: Ginkgo runs once per process) against the in-process replica
// with one fault at a time and compares the failed cases with the
// catalogue's: the suite proves itself by failing on wrong routing and by
// naming the right cases (no more, no fewer). PRETRAIN_PROOF_DISCOVER=1
// runs every fault of the replica, in the catalogue or not, and logs what
// fails.
func TestWrongRoutingFailsTheRightCases(t *testing.T) {
	if os.Getenv(envTarget) != "" {
		t.Skip("child run of TestSuites: not a proof run")
	}
	if testing.Short() {
		t.Skip("SKIPPED: wrong-routing proofs need ~1 min; run without -short")
	}
	t.Parallel()
	discover := os.Getenv("PRETRAIN_PROOF_DISCOVER") != ""
	var cat *faults.Catalogue
	if discover {
		var err error
		if cat, err = faults.Default(); err != nil {
			t.Fatal(err)
		}
	} else {
		cat = inProcessFaults(t)
	}
	children := map[replicatest.Fault]*suitesChild{}
	for _, fault := range replicatest.AllFaults() {
		children[fault] = startSuitesChild(t, "replicatest:"+string(fault))
	}
	for _, fault := range replicatest.AllFaults() {
		t.Run(string(fault), func(t *testing.T) {
			t.Parallel()
			entry, ok := cat.Fault(string(fault))
			if (!ok || !entry.On(faults.InProcess)) && !discover {
				t.Fatalf("fault %q is not in %s for %s: every fault must prove some case fails", fault, cat.File, faults.InProcess)
			}
			want, where := entry.Failures(), entry.Pos.String()
			if !ok {
				where = cat.File
			}
			got, childOutput := children[fault].failed(t)
			if discover {
				t.Logf("fault %q failed cases:\n\t%q", fault, got)
			}
			if len(got) == 0 {
				t.Fatalf("fault %q: no case failed: the suite cannot see this wrong routing\n%s", fault, tail(childOutput, 40))
			}
			if !slices.Equal(got, want) {
				t.Errorf("fault %q: failed cases differ from %s\n  missing (should fail, passed): %q\n  unexpected (failed, should pass): %q",
					fault, where, minus(want, got), minus(got, want))
			}
		})
	}
}

// childSlots bounds the suites children running at once: one more than
// the CPUs, as a child spends part of its run waiting (a wrong case polls
// out its budget). Many more would slow every child's requests, and a
// correct case must still pass three times in a row within its budget.
var childSlots = make(chan struct{}, runtime.GOMAXPROCS(0)+1)

// proofPoll is the children's poll. The in-process targets answer
// consistently at once: a correct case passes on its first three
// attempts and a wrong one never converges, so retrying a miss every 10ms
// (inProcessPoll) for the whole budget only burns the CPU the other
// children share. The budget is a little over inProcessPoll's: the
// children run side by side.
var proofPoll = []string{envPollTimeout + "=2s", envPollInterval + "=250ms"}

// childEnv is the environment of a TestSuites child: the race detector's
// one-second sleep at exit (atexit_sleep_ms) is for long-lived
// processes, not ~40 short children.
func childEnv(env ...string) []string {
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	return append(append(os.Environ(), "GORACE="+gorace), env...)
}

// suitesChild is TestSuites running in a child process against one target.
type suitesChild struct {
	spec string
	dir  string
	done chan struct{}
	out  []byte
	err  error
}

// startSuitesChild starts TestSuites in a child process against
// targetSpec (once a slot is free) with proofPoll; env adds to the child's
// environment (PRETRAIN_FEATURES). Started before the subtests, the
// children of every proof run side by side.
func startSuitesChild(t *testing.T, targetSpec string, env ...string) *suitesChild {
	t.Helper()
	c := &suitesChild{spec: targetSpec, dir: t.TempDir(), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		bin, err := childBinary()
		if err != nil {
			c.err = err
			return
		}
		cmd := exec.Command(bin, "-test.run=^TestSuites$", "-test.count=1", "-ginkgo.label-filter=!latency")
		cmd.Env = childEnv(append(append([]string{envTarget + "=" + targetSpec, envReportDir + "=" + c.dir}, proofPoll...), env...)...)
		childSlots <- struct{}{}
		defer func() { <-childSlots }()
		c.out, c.err = cmd.CombinedOutput()
	}()
	// Registered after t.TempDir's: runs first, so the directory outlives
	// the child.
	t.Cleanup(func() { <-c.done })
	return c
}

// failed waits for the child and returns the sorted names of the failed
// cases ("share <name>" for a share check) from its JSON report, and its
// output.
func (c *suitesChild) failed(t *testing.T) ([]string, []byte) {
	t.Helper()
	<-c.done
	targetSpec, out, err := c.spec, c.out, c.err
	if err == nil {
		// A clean exit is fine only if the report says nothing failed.
		t.Logf("child for %s exited 0", targetSpec)
	}
	data, rerr := os.ReadFile(filepath.Join(c.dir, "report.json"))
	if rerr != nil {
		t.Fatalf("child for %s wrote no report (%v); exit: %v\n%s", targetSpec, rerr, err, tail(out, 40))
	}
	var rep report.JSONReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("child for %s: parse report.json: %v", targetSpec, err)
	}
	var failed []string
	for _, c := range rep.Cases {
		if c.Outcome == "failed" {
			failed = append(failed, c.Name)
		}
	}
	for _, s := range rep.Shares {
		if s.Outcome == "failed" {
			failed = append(failed, "share "+s.Name)
		}
	}
	sort.Strings(failed)
	if len(failed) > 0 && err == nil {
		t.Errorf("child for %s: %d cases failed but the process exited 0", targetSpec, len(failed))
	}
	return failed, out
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func tail(out []byte, lines int) string {
	ls := bytes.Split(bytes.TrimRight(out, "\n"), []byte("\n"))
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return fmt.Sprintf("--- last %d lines of the child's output ---\n%s", len(ls), strings.TrimSpace(string(bytes.Join(ls, []byte("\n")))))
}
