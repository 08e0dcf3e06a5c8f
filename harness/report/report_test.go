package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func pod(release string) identity.Identity {
	return identity.Identity{Namespace: "mw-pretrain", Release: release, DC: "eqiad",
		Pod: "mw-pretrain.eqiad." + release + "-abc-def", Source: "identity-header"}
}

func sent(cs *contract.Case, attempt int) probe.SentRequest {
	h := http.Header{"User-Agent": {"pretrain-check/test"}}
	for _, kv := range cs.Request.Headers {
		h.Add(kv.Name, kv.Value)
	}
	return probe.SentRequest{
		Method: cs.Request.Method, URL: "http://" + cs.Request.Host + cs.Request.Path, Host: cs.Request.Host,
		Headers: h, ConnectedTo: "127.0.0.1:8080", Entry: cs.Entry, Attempt: attempt,
	}
}

// sampleVerdicts covers every outcome; times are fixed so output is stable.
func sampleVerdicts() []check.Verdict {
	pos := func(line int) contract.Position {
		return contract.Position{File: "pretrain.yaml", Line: line, Column: 5}
	}
	mainCase := &contract.Case{Name: "testwiki-main", Entry: "edge", Labels: []string{"host"}, Pos: pos(10),
		Request: contract.Request{Method: "GET", Host: "test.wikipedia.org", Path: "/wiki/Main_Page"},
		Expect:  contract.Expectation{ServedBy: "mw-pretrain/main"}}
	debugCase := &contract.Case{Name: "xwd-debug", Entry: "ingress", Labels: []string{"xwd"}, Pos: pos(20),
		Description: "XWD picks the debug release",
		Request: contract.Request{Method: "GET", Host: "test.wikipedia.org", Path: "/wiki/Main_Page",
			Headers: []contract.Header{{Name: "X-Wikimedia-Debug", Value: "backend=k8s-mw-pretrain"}}},
		Expect: contract.Expectation{ServedBy: "mw-pretrain/debug"}}
	cachedCase := &contract.Case{Name: "cached-page", Entry: "edge", Pos: pos(30),
		Request: contract.Request{Method: "GET", Host: "test.wikipedia.org", Path: "/wiki/Cached"},
		Expect:  contract.Expectation{ServedBy: "mw-pretrain/main"}}
	meshCase := &contract.Case{Name: "mesh-api-int", Entry: "mesh/mw-api-int", Pos: pos(40),
		Request: contract.Request{Method: "GET", Host: "test.wikipedia.org", Path: "/w/api.php"},
		Expect:  contract.Expectation{ServedBy: "mw-pretrain/main"}}
	jobCase := &contract.Case{Name: "jobrunner-get-405", Entry: "jobrunner", Pos: pos(50),
		Request: contract.Request{Method: "GET", Host: "test.wikipedia.org", Path: "/rpc/RunSingleJob.php"},
		Expect: contract.Expectation{ServedBy: "mw-pretrain/jobrunner", Status: 405,
			Headers: []contract.HeaderExpectation{{Name: "Allow", Equals: "POST"}}}}

	miss := func(at time.Duration, attempt int) probe.Result {
		return probe.Result{Request: sent(debugCase, attempt), Status: 200, ServedBy: pod("main"),
			Latency: 1500 * time.Microsecond, At: t0.Add(at),
			Headers: http.Header{"Server": {pod("main").Pod}}, BodyExcerpt: "<html>main</html>"}
	}
	return []check.Verdict{
		{
			Case: mainCase, Outcome: check.Passed, Attempts: 3, PassedAttempts: 3, Started: t0, Elapsed: 450 * time.Millisecond,
			Evidence: probe.Result{Request: sent(mainCase, 3), Status: 200, ServedBy: pod("main"), Latency: 2345 * time.Microsecond,
				At: t0.Add(400 * time.Millisecond), CacheStatus: "miss", Headers: http.Header{"X-Cache-Status": {"miss"}}},
		},
		{
			Case: debugCase, Outcome: check.Failed, Attempts: 3, Started: t0, Elapsed: 30 * time.Second,
			Reasons: []string{
				`expected served by "mw-pretrain/debug", got "mw-pretrain/main" (pod mw-pretrain.eqiad.main-abc-def)`,
				"not converged within 30s: 3 attempts, 0 passed, at most 0 in a row (3 required)",
			},
			Evidence:       miss(29*time.Second, 3),
			History:        []probe.Result{miss(10*time.Millisecond, 1), miss(210*time.Millisecond, 2)},
			HistoryReasons: [][]string{{`expected served by "mw-pretrain/debug", got "mw-pretrain/main"`}, {`expected served by "mw-pretrain/debug", got "mw-pretrain/main"`}},
		},
		{
			Case: cachedCase, Outcome: check.Inconclusive, Attempts: 1, Started: t0, Elapsed: 3 * time.Millisecond,
			Reasons:  []string{`response came from a cache (X-Cache-Status "hit-front")`},
			Evidence: probe.Result{Request: sent(cachedCase, 1), Status: 200, ServedBy: pod("canary"), Latency: 800 * time.Microsecond, At: t0, CacheStatus: "hit-front"},
		},
		{
			Case: meshCase, Outcome: check.NotApplicable, Started: t0,
			Reasons:  []string{`target "static:x" has no entry "mesh/mw-api-int": entry point not reachable from this target`},
			Evidence: probe.Result{Request: probe.SentRequest{Method: "GET", Host: "test.wikipedia.org", URL: "/w/api.php", Entry: "mesh/mw-api-int"}, At: t0},
		},
		{
			Case: jobCase, Outcome: check.Failed, Attempts: 1, Started: t0, Elapsed: 5 * time.Second,
			Reasons:  []string{"request failed: send GET http://test.wikipedia.org/rpc/RunSingleJob.php to 127.0.0.1:8080: connection refused"},
			Evidence: probe.Result{Request: sent(jobCase, 1), Err: "send GET http://test.wikipedia.org/rpc/RunSingleJob.php to 127.0.0.1:8080: connection refused", At: t0},
		},
		{
			Case: &contract.Case{Name: "filtered-out", Entry: "edge", Request: contract.Request{Method: "GET", Host: "en.wikipedia.org", Path: "/"},
				Expect: contract.Expectation{NoBackend: true, Status: 400}},
			Outcome: check.Skipped, Reasons: []string{"not run: context canceled"}, Started: t0,
		},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./harness/report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file (rerun with -update if intended)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestSummary(t *testing.T) {
	s := Summarize(sampleVerdicts())
	want := Summary{Passed: 1, Failed: 2, Inconclusive: 1, NotApplicable: 1, Skipped: 1}
	if s != want {
		t.Errorf("summary %+v, want %+v", s, want)
	}
	if s.Total() != 6 || s.OK() {
		t.Errorf("total %d ok %v", s.Total(), s.OK())
	}
	if got := s.Line(); got != "pretrain-check: 1 passed, 2 failed, 1 inconclusive, 1 n/a, 1 skipped" {
		t.Errorf("line %q", got)
	}
	if got := (Summary{Passed: 43, Inconclusive: 2, NotApplicable: 3}).Line(); got != "pretrain-check: 43 passed, 0 failed, 2 inconclusive, 3 n/a" {
		t.Errorf("line %q", got)
	}
	if s := Summarize([]check.Verdict{{Outcome: "weird"}}); s.Failed != 1 {
		t.Errorf("unknown outcome must count as failed: %+v", s)
	}
	if s := Summarize(nil); s.Total() != 0 || !s.OK() {
		t.Errorf("empty summary %+v", s)
	}
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteTable(&buf, sampleVerdicts(), false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "\x1b[") {
		t.Errorf("colour without asking")
	}
	golden(t, "table.txt", buf.Bytes())
}

func TestWriteTableColour(t *testing.T) {
	var plain, coloured bytes.Buffer
	vs := sampleVerdicts()
	WriteTable(&plain, vs, false)
	WriteTable(&coloured, vs, true)
	if !strings.Contains(coloured.String(), ansiRed+"FAIL"+ansiReset) || !strings.Contains(coloured.String(), ansiGreen+"ok"+ansiReset) {
		t.Errorf("no colour:\n%s", coloured.String())
	}
	// Colour only wraps the verdict: without escapes the text is the same.
	stripped := strings.NewReplacer(ansiRed, "", ansiGreen, "", ansiYellow, "", ansiGrey, "", ansiReset, "").Replace(coloured.String())
	if stripped != plain.String() {
		t.Errorf("coloured table differs from plain beyond escapes")
	}
}

func TestWriteTableKeepsOrderAndListsFailures(t *testing.T) {
	vs := sampleVerdicts()
	var buf bytes.Buffer
	WriteTable(&buf, vs, false)
	out := buf.String()
	last := -1
	for _, v := range vs {
		i := strings.Index(out, v.Case.Name)
		if i < last {
			t.Errorf("%q out of order", v.Case.Name)
		}
		last = i
	}
	footer := out[strings.Index(out, "FAILED:"):]
	if !strings.Contains(footer, "xwd-debug: expected served by") || !strings.Contains(footer, "jobrunner-get-405: request failed") || strings.Contains(footer, "testwiki-main") {
		t.Errorf("failure footer:\n%s", footer)
	}
	buf.Reset()
	WriteTable(&buf, vs[:1], false)
	if strings.Contains(buf.String(), "FAILED") {
		t.Errorf("footer without failures")
	}
}

func TestWriteJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, sampleVerdicts()); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.json", buf.Bytes())
	var rep JSONReport
	if err := json.Unmarshal(buf.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Schema != SchemaVersion || rep.Summary.Total != 6 || rep.Summary.Failed != 2 || len(rep.Cases) != 6 {
		t.Errorf("report %+v", rep.Summary)
	}
	dbg := rep.Cases[1]
	if dbg.Name != "xwd-debug" || dbg.Outcome != "failed" || dbg.Position != "pretrain.yaml:20:5" || dbg.Expected.Status != "2xx" {
		t.Errorf("case %+v", dbg)
	}
	if dbg.Response == nil || dbg.Response.ServedBy.Backend != "mw-pretrain/main" || dbg.Response.LatencyMs != 1.5 {
		t.Errorf("response %+v", dbg.Response)
	}
	if len(dbg.History) != 2 || dbg.History[1].ElapsedMs != 210 || dbg.History[1].Attempt != 2 || len(dbg.History[1].Reasons) != 1 {
		t.Errorf("history %+v", dbg.History)
	}
	if rep.Cases[3].Response != nil || rep.Cases[3].Outcome != "not-applicable" {
		t.Errorf("n/a case has a response: %+v", rep.Cases[3])
	}
	if rep.Cases[4].Response == nil || rep.Cases[4].Response.Error == "" {
		t.Errorf("error case lost its error: %+v", rep.Cases[4])
	}
	// Body bytes are never serialised, only the excerpt.
	if strings.Contains(buf.String(), `"body"`) {
		t.Errorf("full body serialised")
	}
}

func TestWriteJSONEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"cases": []`) {
		t.Errorf("empty report: %s", buf.String())
	}
}

func TestWriteJUnit(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, "pretrain-check", sampleVerdicts()); err != nil {
		t.Fatal(err)
	}
	golden(t, "junit.xml", buf.Bytes())
	var doc JUnitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("junit is not valid XML: %v", err)
	}
	if doc.Tests != 6 || doc.Failures != 2 || doc.Skipped != 3 || len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 6 {
		t.Fatalf("counts tests %d failures %d skipped %d", doc.Tests, doc.Failures, doc.Skipped)
	}
	cs := doc.Suites[0].Cases
	if cs[0].Failure != nil || cs[0].Skipped != nil || cs[0].Classname != "pretrain-check.edge" {
		t.Errorf("passed case %+v", cs[0])
	}
	f := cs[1].Failure
	if f == nil || !strings.HasPrefix(f.Message, `expected served by "mw-pretrain/debug"`) || !strings.Contains(f.Text, "history (last 2 misses") {
		t.Errorf("failure %+v", f)
	}
	if cs[2].Skipped == nil || !strings.HasPrefix(cs[2].Skipped.Message, "inconclusive: ") || cs[2].SystemOut == nil || !strings.Contains(cs[2].SystemOut.Text, "hit-front") {
		t.Errorf("inconclusive case %+v", cs[2])
	}
	if cs[3].Skipped == nil || !strings.HasPrefix(cs[3].Skipped.Message, "not-applicable: ") {
		t.Errorf("n/a case %+v", cs[3])
	}
	if cs[5].Skipped == nil || cs[5].Failure != nil {
		t.Errorf("skipped case %+v", cs[5])
	}
	if cs[1].Time != "30.000" {
		t.Errorf("time %q", cs[1].Time)
	}
}

func TestWriteJUnitEscapes(t *testing.T) {
	v := sampleVerdicts()[1]
	v.Reasons = []string{"expected <a> & \"b\"\nsecond line \x00"}
	v.Evidence.BodyExcerpt = "]]> <script>\x01"
	var buf bytes.Buffer
	if err := WriteJUnit(&buf, "s", []check.Verdict{v}); err != nil {
		t.Fatal(err)
	}
	var doc JUnitSuites
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("invalid XML: %v\n%s", err, buf.String())
	}
	f := doc.Suites[0].Cases[0].Failure
	if strings.Contains(f.Message, "\n") || !strings.Contains(f.Message, `<a> & "b"`) {
		t.Errorf("message %q", f.Message)
	}
	if !strings.Contains(f.Text, `"]]> <script>\x01"`) {
		t.Errorf("text lost the body excerpt:\n%s", f.Text)
	}
}

func TestWriteDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	// A stale evidence file from an earlier run, and a file that is not ours.
	if err := os.MkdirAll(filepath.Join(dir, EvidenceDir), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, EvidenceDir, "009-old.txt"), []byte("old"), 0o644)
	os.WriteFile(filepath.Join(dir, EvidenceDir, "notes.md"), []byte("mine"), 0o644)

	vs := sampleVerdicts()
	if err := WriteDir(dir, vs); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{FileJSON, FileJUnit, FileSummary} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	summary, _ := os.ReadFile(filepath.Join(dir, FileSummary))
	if !strings.HasPrefix(string(summary), "pretrain-check: 1 passed, 2 failed, 1 inconclusive, 1 n/a, 1 skipped\n\nCASE") {
		t.Errorf("summary.txt:\n%s", summary)
	}
	entries, err := os.ReadDir(filepath.Join(dir, EvidenceDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "002-xwd-debug.txt 003-cached-page.txt 005-jobrunner-get-405.txt notes.md" {
		t.Errorf("evidence files: %s", got)
	}
	ev, _ := os.ReadFile(filepath.Join(dir, EvidenceDir, "002-xwd-debug.txt"))
	if string(ev) != vs[1].Explain() {
		t.Errorf("evidence file is not Explain():\n%s", ev)
	}
}

func TestWriteDirError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if err := WriteDir(file, sampleVerdicts()); err == nil {
		t.Errorf("writing under a file succeeded")
	}
}

func TestEvidenceFileName(t *testing.T) {
	v := check.Verdict{Case: &contract.Case{Name: "mesh: api-int / testwiki → pretrain"}}
	if got := EvidenceFileName(41, v); got != "042-mesh-api-int-testwiki-pretrain.txt" {
		t.Errorf("name %q", got)
	}
}
