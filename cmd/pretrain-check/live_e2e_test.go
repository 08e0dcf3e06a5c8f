package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/live/livetest"
)

// The live target and httpbb end to end: the binary is built once and run
// against local TLS servers imitating the edge and the shared ingress,
// through --connect-to / --hosts, with --ca-file trusting the test CA.
// Only loopback is ever dialled.

var (
	liveBuildOnce sync.Once
	liveBinPath   string
	liveBuildErr  error
)

func liveBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	liveBuildOnce.Do(buildLiveBinary)
	if liveBuildErr != nil {
		t.Fatal(liveBuildErr)
	}
	return liveBinPath
}

func buildLiveBinary() {
	dir, err := os.MkdirTemp("", "pretrain-check-e2e-")
	if err != nil {
		liveBuildErr = err
		return
	}
	liveBinPath = filepath.Join(dir, "pretrain-check")
	cmd := exec.Command("go", "build", "-o", liveBinPath, ".")
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		liveBuildErr = fmt.Errorf("go build: %v\n%s", err, out)
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	// The parallel tests mostly wait: on the live rate cap (10/s), on
	// preflight time-outs, on the binary they run. GOMAXPROCS of them at a
	// time (go test's default) leaves the CPUs idle; an explicit
	// -test.parallel still wins.
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		flag.Set("test.parallel", "4")
	}
	// Build the binary while the in-process tests run.
	if !testing.Short() {
		go liveBuildOnce.Do(buildLiveBinary)
	}
	code := m.Run()
	liveBuildOnce.Do(func() {}) // waits for a build still under way
	if liveBinPath != "" {
		os.RemoveAll(filepath.Dir(liveBinPath))
	}
	os.Exit(code)
}

type liveResult struct {
	code           int
	stdout, stderr string
}

// summary is the last line of stderr.
func (r liveResult) summary() string {
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	return lines[len(lines)-1]
}

func runLive(t *testing.T, args ...string) liveResult {
	t.Helper()
	return runBinary(t, nil, args...)
}

type liveImitation struct {
	caFile  string
	edge    *livetest.Server
	ingress *livetest.Server
}

func startLiveImitation(t *testing.T) liveImitation {
	t.Helper()
	ca, caFile := livetest.NewTestCA(t)
	edge, err := livetest.Start(ca, livetest.Options{Role: livetest.Edge, CachedPaths: []string{"/w/index.php"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(edge.Close)
	ingress, err := livetest.Start(ca, livetest.Options{Role: livetest.Ingress})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ingress.Close)
	return liveImitation{caFile: caFile, edge: edge, ingress: ingress}
}

// livePinnedContract is the contract the verdict counts below are for.
const livePinnedContract = "../../harness/live/testdata/contract.yaml"

func livePinnedCases(t *testing.T) int {
	t.Helper()
	c, err := contract.Load(livePinnedContract)
	if err != nil {
		t.Fatal(err)
	}
	return len(c.Cases)
}

func liveArgs(vantage, addr, caFile string, extra ...string) []string {
	return append([]string{"run", "--target", "live", "--vantage", vantage, "--connect-to", addr, "--ca-file", caFile,
		"--contract", livePinnedContract, "--rate", "10", "--consecutive", "1", "--poll-timeout", "1s", "--poll-interval", "10ms",
		"--request-timeout", "5s"}, extra...)
}

func wantLiveSummary(t *testing.T, r liveResult, code, passed, failed, inconclusive, na int) {
	t.Helper()
	want := fmt.Sprintf("pretrain-check: %d passed, %d failed, %d inconclusive, %d n/a", passed, failed, inconclusive, na)
	if r.code != code || r.summary() != want {
		t.Fatalf("exit %d, summary %q; want exit %d, %q\nstdout:\n%s\nstderr:\n%s", r.code, r.summary(), code, want, r.stdout, r.stderr)
	}
}

func TestLiveRunExternal(t *testing.T) {
	t.Parallel()
	im := startLiveImitation(t)
	total := livePinnedCases(t)
	dir := t.TempDir()
	r := runLive(t, liveArgs("external", im.edge.Addr(), im.caFile, "-o", "json", "--report-dir", dir)...)
	wantLiveSummary(t, r, exitPassed, 18, 0, 1, total-19)

	var doc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.stdout)
	}
	for _, f := range []string{"report.json", "junit.xml", "summary.txt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("report dir: %v", err)
		}
	}
	// The evidence says who served: the pod names are in the report, and
	// the run's features are production's (none on).
	report, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	for _, want := range []string{livetest.PodDebug, livetest.PodMWWeb, livetest.PodAPIExt, "hit-front", "is not in the allow-list",
		`"off": [
      "edge-diversion",
      "rest-diversion",
      "mesh-split"
    ]`, `"featureState": "off"`} {
		if !bytes.Contains(report, []byte(want)) {
			t.Errorf("report.json lacks %q", want)
		}
	}
}

// An edge routing wrongly for today's production (testwiki diverted,
// step 1 undeclared) fails exactly the edge-diversion cases; declared with
// --features, the same edge passes; with the step declared and the
// diversion lost, the same cases fail naming mw-web.
func TestLiveRunExternalFault(t *testing.T) {
	t.Parallel()
	total := livePinnedCases(t)
	// Three runs, each against its own imitation, side by side: each waits
	// on the live rate cap.
	t.Run("step 1 undeclared", func(t *testing.T) {
		t.Parallel()
		im := startLiveImitation(t)
		im.edge.SetFeatures(contract.FeatureEdgeDiversion)
		r := runLive(t, liveArgs("external", im.edge.Addr(), im.caFile, "-o", "junit")...)
		wantLiveSummary(t, r, exitFailed, 15, 3, 1, total-19)
		for _, want := range []string{`<property name="features.on" value=""></property>`, livetest.PodMain,
			`expected served by &#34;mw-web/*&#34;`} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("JUnit lacks %s", want)
			}
		}
	})

	t.Run("step 1 declared", func(t *testing.T) {
		t.Parallel()
		im := startLiveImitation(t)
		im.edge.SetFeatures(contract.FeatureEdgeDiversion)
		r := runLive(t, liveArgs("external", im.edge.Addr(), im.caFile, "--features", "edge-diversion")...)
		wantLiveSummary(t, r, exitPassed, 18, 0, 1, total-19)
		if !strings.Contains(r.stderr, "features: edge-diversion on, rest-diversion off, mesh-split off") ||
			!strings.Contains(r.stdout, "features: edge-diversion on, rest-diversion off, mesh-split off") ||
			!strings.Contains(r.stdout, "(edge-diversion on)") {
			t.Errorf("the run does not name its features:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		}
	})

	t.Run("step 1 declared, diversion lost", func(t *testing.T) {
		t.Parallel()
		im := startLiveImitation(t)
		im.edge.SetFeatures(contract.FeatureEdgeDiversion)
		im.edge.SetFault(livetest.TestwikiToMWWeb)
		r := runLive(t, liveArgs("external", im.edge.Addr(), im.caFile, "-o", "junit", "--features", "edge-diversion")...)
		wantLiveSummary(t, r, exitFailed, 15, 3, 1, total-19)
		var suites struct {
			XMLName xml.Name
		}
		if err := xml.Unmarshal([]byte(r.stdout), &suites); err != nil {
			t.Fatalf("stdout is not JUnit XML: %v\n%s", err, r.stdout)
		}
		for _, name := range []string{"edge-testwiki-main-page", "edge-testwiki-api", "edge-runsinglejob-not-jobrunner"} {
			if !strings.Contains(r.stdout, name) {
				t.Errorf("JUnit lacks %s", name)
			}
		}
		if !strings.Contains(r.stdout, livetest.PodMWWeb) {
			t.Errorf("JUnit does not name the mw-web pod that answered")
		}
	})
}

func TestLiveRunInternal(t *testing.T) {
	t.Parallel()
	im := startLiveImitation(t)
	total := livePinnedCases(t)
	r := runLive(t, liveArgs("internal", im.ingress.Addr(), im.caFile)...)
	wantLiveSummary(t, r, exitPassed, 20, 0, 0, total-20)
	for _, want := range []string{"jobrunner-gateway-health-check-post", "n/a"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
}

// Bad usage is exit 2 and environment trouble exit 3, before any case.
func TestLiveRunRefusals(t *testing.T) {
	t.Parallel()
	im := startLiveImitation(t)
	static := filepath.Join(t.TempDir(), "static.yaml")
	os.WriteFile(static, []byte("entries:\n  edge:\n    url: http://127.0.0.1:9\n"), 0o644)
	for name, c := range map[string]struct {
		args []string
		code int
		want string
	}{
		"rate above the cap":     {liveArgs("external", im.edge.Addr(), im.caFile, "--rate", "50"), exitUsage, `"--rate" flag: check rate: 50 requests/s is not a number within [0.01, 10]`},
		"unknown vantage":        {liveArgs("moon", im.edge.Addr(), im.caFile), exitUsage, `unknown vantage point "moon"`},
		"undescriptive UA":       {liveArgs("external", im.edge.Addr(), im.caFile, "--user-agent", "curl/8"), exitUsage, "no contact URL"},
		"live flag, static file": {[]string{"run", "--target", static, "--connect-to", "127.0.0.1:1"}, exitUsage, "--connect-to: only for live targets"},
		"unreachable":            {liveArgs("external", "127.0.0.1:1", im.caFile), exitEnvironment, "no HTTP answer within 5s"},
	} {
		r := runLive(t, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", name, r.code, r.stderr, c.code, c.want)
		}
	}
	if n := len(im.edge.Seen()); n != 0 {
		t.Errorf("%d requests reached the edge during refused runs", n)
	}
}

// A live target file given as --target FILE is recognised by its kind.
func TestLiveTargetFile(t *testing.T) {
	t.Parallel()
	im := startLiveImitation(t)
	r := runLive(t, "run", "--target", "../../fixtures/targets/live.yaml", "--vantage", "external",
		"--connect-to", im.edge.Addr(), "--ca-file", im.caFile, "--contract", livePinnedContract, "--rate", "10",
		"--consecutive", "1", "--focus", "edge-testwiki-main-page$", "--focus", "edge-dewiki-untouched$")
	wantLiveSummary(t, r, exitPassed, 1, 0, 0, 1)
}

func httpbbCmdArgs(files []string, hosts, caFile string, extra ...string) []string {
	args := append([]string{"httpbb"}, files...)
	return append(append(args, "--hosts", hosts, "--ca-file", caFile, "--rate", "10"), extra...)
}

func TestHttpbbCommand(t *testing.T) {
	t.Parallel()
	im := startLiveImitation(t)
	// testwiki.yaml holds at the edge only with step 1 on (its header).
	im.edge.SetFeatures(contract.FeatureEdgeDiversion)
	fx := func(n string) string { return "../../fixtures/httpbb/" + n }

	r := runLive(t, httpbbCmdArgs([]string{fx("testwiki.yaml"), fx("testwiki-edge.yaml")}, im.edge.Addr(), im.caFile, "-o", "junit")...)
	wantLiveSummary(t, r, exitPassed, 11, 0, 0, 0)
	if err := xml.Unmarshal([]byte(r.stdout), new(struct{ XMLName xml.Name })); err != nil {
		t.Fatalf("stdout is not JUnit XML: %v", err)
	}

	dir := t.TempDir()
	r = runLive(t, httpbbCmdArgs([]string{fx("jobrunner.yaml")}, im.ingress.Addr(), im.caFile, "--report-dir", dir)...)
	wantLiveSummary(t, r, exitPassed, 7, 0, 0, 0)
	if _, err := os.Stat(filepath.Join(dir, "report.json")); err != nil {
		t.Error(err)
	}

	im.edge.SetFault(livetest.TestwikiToMWWeb)
	r = runLive(t, httpbbCmdArgs([]string{fx("testwiki.yaml")}, im.edge.Addr(), im.caFile, "-o", "json")...)
	wantLiveSummary(t, r, exitFailed, 1, 5, 0, 0)
	if !strings.Contains(r.stdout, "testwiki.yaml:12 GET https://test.wikipedia.org/wiki/Main_Page") {
		t.Errorf("JSON lacks the failing test's file:line name")
	}

	malformed := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(malformed, []byte("https://test.wikipedia.org:\n- path: /\n  assert_stauts: 200\n"), 0o644)
	unsafe := filepath.Join(t.TempDir(), "unsafe.yaml")
	os.WriteFile(unsafe, []byte("https://test.wikipedia.org:\n- path: /wiki/X\n  method: DELETE\n  assert_status: 200\n"), 0o644)
	im.edge.Reset()
	for name, c := range map[string]struct {
		args []string
		code int
		want string
	}{
		"malformed":   {httpbbCmdArgs([]string{malformed}, im.edge.Addr(), im.caFile), exitUsage, "bad.yaml:3:3: unknown key \"assert_stauts\""},
		"unsafe":      {httpbbCmdArgs([]string{unsafe}, im.edge.Addr(), im.caFile), exitUsage, "unsafe.yaml:2:3: DELETE"},
		"no file":     {[]string{"httpbb"}, exitUsage, "requires at least 1 arg"},
		"unreachable": {httpbbCmdArgs([]string{fx("testwiki.yaml")}, "127.0.0.1:1", im.caFile), exitEnvironment, "127.0.0.1:1 (for https://test.wikipedia.org/"},
	} {
		r := runLive(t, c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", name, r.code, r.stderr, c.code, c.want)
		}
	}
	if n := len(im.edge.Seen()); n != 0 {
		t.Errorf("%d requests reached the edge from refused httpbb runs", n)
	}
}

// A share check needs 240 requests: at the live target's default rate cap
// (2/s) that is 2 minutes, so it is n/a, nothing sent, and a run of only
// share checks checked nothing (exit 2) saying why.
func TestLiveShareChecksRespectTheRateCap(t *testing.T) {
	t.Parallel()
	im := startLiveImitation(t)
	r := runLive(t, "run", "--target", "live", "--vantage", "internal", "--connect-to", im.ingress.Addr(), "--ca-file", im.caFile,
		"--label-filter", "share", "-o", "json")
	want := "240 requests at the live rate cap of 2/s would take 2m0s, more than the 1m0s a live share check may take: raise --rate (at most 10/s) to run it"
	if r.code != exitUsage || !strings.Contains(r.stderr, "nothing checked: all 2 selected checks are n/a") || !strings.Contains(r.stderr, want) {
		t.Errorf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	var doc struct {
		Shares []struct{ Name, Outcome string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Shares) != 2 || doc.Shares[0].Outcome != "not-applicable" {
		t.Errorf("JSON shares: %v %+v", err, doc.Shares)
	}
	// Only the preflight's request reached the imitation.
	if n := len(im.ingress.Seen()); n > 2 {
		t.Errorf("%d requests reached the ingress for n/a share checks", n)
	}
}
