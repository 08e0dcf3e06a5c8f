package suites_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/replicatest"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/report"
)

// wrongRouting lists, for each fault of the in-process replica, exactly the
// cases (and share checks) that must fail: the suite proves itself by failing on wrong routing
// and by naming the right cases (no more, no fewer).
var wrongRouting = map[replicatest.Fault][]string{
	// The ingress ignores X-Wikimedia-Debug: no debug request reaches debug.
	replicatest.XWDIgnored: {
		"edge-xwd-bare-value", "edge-xwd-pretrain-codfw", "edge-xwd-pretrain-eqiad",
		"edge-xwd-pretrain-testwiki", "edge-xwd-with-flags", "ingress-xwd-bare-value",
		"ingress-xwd-pretrain", "ingress-xwd-pretrain-eqiad", "ingress-xwd-pretrain-svc-codfw-host",
		"ingress-xwd-with-flags", "rest-testwiki-xwd-pretrain",
	},
	// Any XWD value reaches debug: other backends, flags and a backend that
	// is not first are captured (at the edge only where the edge lets the
	// request through to the ingress: its XWD 400s are not the ingress's).
	replicatest.XWDPatternTooBroad: {
		"edge-rest-testwiki-xwd-mwdebug", "edge-xwd-backend-not-first-testwiki",
		"ingress-xwd-backend-not-first", "ingress-xwd-flags-only",
		"ingress-xwd-mwdebug-not-debug", "rest-testwiki-xwd-mwdebug",
	},
	// The edge sends testwiki to mw-web like any other wiki (plain traffic:
	// XWD without a backend is a 400 whatever the diversion).
	replicatest.TestwikiNotDiverted: {
		"edge-runsinglejob-not-jobrunner", "edge-testwiki-api", "edge-testwiki-index-php",
		"edge-testwiki-main-page",
	},
	// The edge sends other wikis to the Pretrain ingress.
	replicatest.OtherWikiDiverted: {
		"edge-commons-untouched", "edge-dewiki-untouched", "edge-enwiki-untouched",
		"edge-test2wiki-untouched",
	},
	// The main gateway routes RunSingleJob to the jobrunner.
	replicatest.JobrunnerOpenOnIngress: {
		"edge-runsinglejob-not-jobrunner", "ingress-runsinglejob-not-jobrunner",
	},
	// The jobrunner gateway routes GET RunSingleJob.
	replicatest.GetRunSingleJobRouted: {
		"jobrunner-gateway-runsinglejob-get",
	},
	// The jobrunner gateway routes every path.
	replicatest.JobrunnerGatewayOpen: {
		"jobrunner-gateway-api-php", "jobrunner-gateway-health-check-head",
		"jobrunner-gateway-health-check-post", "jobrunner-gateway-health-check-suffix",
		"jobrunner-gateway-main-page", "jobrunner-gateway-runsinglejob-get",
		"jobrunner-gateway-runsinglejob-suffix",
	},
	// The mesh sends testwiki to the default services.
	replicatest.MeshSplitMissing: {
		"mesh-api-int-testwiki", "mesh-api-int-testwiki-post", "mesh-jobrunner-testwiki",
		"mesh-jobrunner-testwiki-health-check",
	},
	// The mesh split matches every host.
	replicatest.MeshSplitAllHosts: {
		"mesh-api-int-enwiki", "mesh-api-int-host-with-port", "mesh-api-int-prefix-host",
		"mesh-api-int-suffix-host", "mesh-api-int-unescaped-dot-host", "mesh-jobrunner-enwiki",
		"mesh-jobrunner-host-with-port", "mesh-jobrunner-suffix-host",
	},
	// The mesh split regex matches a substring, not the whole Host.
	replicatest.MeshSplitUnanchored: {
		"mesh-api-int-host-with-port", "mesh-api-int-prefix-host", "mesh-api-int-suffix-host",
		"mesh-jobrunner-host-with-port", "mesh-jobrunner-suffix-host",
	},
	// The REST gateway lets XWD beat Host diversion.
	replicatest.RESTPrefersXWD: {
		"edge-rest-testwiki-xwd-mwdebug", "rest-testwiki-xwd-mwdebug",
	},
	// The canaries get all of their Service's traffic, or none: no case
	// can tell (each accepts main or its canary), the share checks can.
	replicatest.CanaryTakesAll: {"share jobrunner-canary-share", "share main-canary-share"},
	replicatest.CanaryGetsNone: {"share jobrunner-canary-share", "share main-canary-share"},
	// The edge accepts XWD backends out of their Host's scope (on
	// /w/rest.php too, for the backends still remapped there).
	replicatest.XWDScopeIgnored: {
		"edge-rest-testwiki-xwd-experimental", "edge-xwd-experimental-testwiki",
		"edge-xwd-mwdebug-next-testwiki", "edge-xwd-mwdebug-testwiki",
		"edge-xwd-pretrain-enwiki", "edge-xwd-pretrain-test2wiki",
	},
}

// TestWrongRoutingFailsTheRightCases runs the suites (TestSuites, in a child
// process: Ginkgo runs once per process) against the in-process replica
// with one fault at a time and compares the failed cases with wrongRouting.
func TestWrongRoutingFailsTheRightCases(t *testing.T) {
	if os.Getenv(envTarget) != "" {
		t.Skip("child run of TestSuites: not a proof run")
	}
	if testing.Short() {
		t.Skip("SKIPPED: wrong-routing proofs need ~1 min; run without -short")
	}
	discover := os.Getenv("PRETRAIN_PROOF_DISCOVER") != ""
	for _, fault := range replicatest.AllFaults() {
		t.Run(string(fault), func(t *testing.T) {
			t.Parallel()
			want, ok := wrongRouting[fault]
			if !ok && !discover {
				t.Fatalf("fault %q has no expected failures in wrongRouting: every fault must prove some case fails", fault)
			}
			got, childOutput := runSuitesChild(t, "replicatest:"+string(fault))
			if discover {
				t.Logf("fault %q failed cases:\n\t%q", fault, got)
			}
			if len(got) == 0 {
				t.Fatalf("fault %q: no case failed: the suite cannot see this wrong routing\n%s", fault, tail(childOutput, 40))
			}
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Errorf("fault %q: failed cases differ\n  missing (should fail, passed): %q\n  unexpected (failed, should pass): %q",
					fault, minus(want, got), minus(got, want))
			}
		})
	}
}

// runSuitesChild runs TestSuites in a child process against targetSpec and
// returns the sorted names of the failed cases ("share <name>" for a share
// check) from its JSON report; env
// adds to the child's environment (PRETRAIN_FEATURES).
func runSuitesChild(t *testing.T, targetSpec string, env ...string) ([]string, []byte) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSuites$", "-test.count=1", "-ginkgo.label-filter=!latency")
	cmd.Env = append(append(os.Environ(), envTarget+"="+targetSpec, envReportDir+"="+dir), env...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		// A clean exit is fine only if the report says nothing failed.
		t.Logf("child for %s exited 0", targetSpec)
	}
	data, rerr := os.ReadFile(filepath.Join(dir, "report.json"))
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
