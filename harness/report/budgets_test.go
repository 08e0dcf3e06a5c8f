package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/coverage"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/latency"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/share"
)

// sampleReport: the sample cases (the first passed after 2 misses) and
// two budgets, one failed.
func sampleReport() Report {
	vs := sampleVerdicts()
	vs[0].Attempts, vs[0].PassedAttempts = 5, 3
	vs[0].History = vs[1].History
	vs[0].HistoryReasons = vs[1].HistoryReasons
	mainCase := vs[0].Case
	budget := func(name string, o check.Outcome, p95 time.Duration, reasons ...string) latency.Result {
		return latency.Result{
			Budget: &contract.Budget{Name: name, Case: mainCase.Name, Rate: 5, Requests: 60, P95: 300 * time.Millisecond,
				Pos: contract.Position{File: "pretrain.yaml", Line: 90, Column: 5}},
			Case: mainCase, Target: "static:x", Endpoint: "http://127.0.0.1:8080", Host: "test.wikipedia.org",
			Method: "GET", URL: "http://test.wikipedia.org/wiki/Main_Page", Outcome: o, Reasons: reasons,
			Plan: latency.Plan{Rate: 5, Requests: 60, Duration: 12 * time.Second}, RequestedRate: 5, AchievedRate: 4.98,
			Requests: 60, Latencies: latency.Latencies{P50: 20 * time.Millisecond, P95: p95, P99: p95 + time.Millisecond, Max: p95 + 2*time.Millisecond},
			Statuses: map[int]int{200: 60}, ServedBy: map[string]int{"mw-pretrain/main": 60},
			Expected: "2xx from mw-pretrain/main", Successes: 60, SuccessRatio: 1, Started: t0, Elapsed: 12 * time.Second,
		}
	}
	return Report{Cases: vs, Budgets: []latency.Result{
		budget("main-page-fast", check.Passed, 120*time.Millisecond),
		budget("main-page-slow", check.Failed, 612*time.Millisecond, "expected p95 <= 300ms, got 612ms"),
	}}
}

// A failed budget counts and shows in every format: summary line, table,
// JSON, JUnit, summary.txt and the report directory (the defect: -o json
// totals 0, JUnit tests="0", summary.txt 0 failed).
func TestBudgetsInEveryFormat(t *testing.T) {
	rep := sampleReport()
	if s := rep.Summary(); s.Failed != 3 || s.Passed != 2 || s.Total() != 8 {
		t.Fatalf("summary %+v", s)
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"budget main-page-slow", "budget main-page-fast", "p95 612ms", "FAIL",
		"budget main-page-slow: expected p95 <= 300ms, got 612ms", "ok (after 2 misses)"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc JSONReport
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary.Failed != 3 || doc.Summary.Total != 8 || doc.Summary.Budgets != 2 || doc.Summary.Cases != 6 || len(doc.Budgets) != 2 {
		t.Errorf("json summary %+v, %d budgets", doc.Summary, len(doc.Budgets))
	}
	if b := doc.Budgets[1]; b.Outcome != "failed" || b.LatencyMs.P95 != 612 || b.Position != "pretrain.yaml:90:5" || b.Ceilings["p95"] != 300 || b.Statuses["200"] != 60 {
		t.Errorf("json budget %+v", b)
	}
	if c := doc.Cases[0]; c.Verdict != "passed after 2 misses" || c.Misses != 2 {
		t.Errorf("json case verdict %q misses %d", c.Verdict, c.Misses)
	}

	var ju bytes.Buffer
	if err := rep.WriteJUnit(&ju, "pretrain-check"); err != nil {
		t.Fatal(err)
	}
	var suites JUnitSuites
	if err := xml.Unmarshal(ju.Bytes(), &suites); err != nil {
		t.Fatal(err)
	}
	if suites.Tests != 8 || suites.Failures != 3 {
		t.Errorf("junit tests %d failures %d, want 8 and 3", suites.Tests, suites.Failures)
	}
	cs := suites.Suites[0].Cases
	if last := cs[len(cs)-1]; last.Name != "budget main-page-slow" || last.Classname != "pretrain-check.latency" || last.Failure == nil {
		t.Errorf("junit budget case %+v", last)
	}
	if cs[0].SystemOut == nil || !strings.HasPrefix(cs[0].SystemOut.Text, "passed after 2 misses") {
		t.Errorf("junit: a case that passed after misses does not say so: %+v", cs[0])
	}

	dir := t.TempDir()
	if err := rep.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(dir, FileSummary))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(sum), "pretrain-check: 2 passed, 3 failed") || !strings.Contains(string(sum), "budget main-page-slow") || !strings.Contains(string(sum), "ok (after 2 misses)") {
		t.Errorf("summary.txt:\n%s", sum)
	}
	for _, f := range []string{FileJSON, FileJUnit, "latency/index.html", "latency/summary.txt", "evidence/008-budget-main-page-slow.txt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("report directory: %v", err)
		}
	}
}

// jsonFieldMeanings pins what every field of report.json means: a field
// added, renamed or dropped fails TestJSONFieldMeanings until it is
// documented here (and in JSONReport's doc), and a change of meaning
// bumps SchemaVersion. Paths: "a.b" nested, "a[].b" in a list, "a{}" a
// map's values.
var jsonFieldMeanings = map[string]string{
	"schema":                "the format's name and version: pretrain-check/report/v2",
	"summary":               "counts of every verdict, cases and budgets alike",
	"summary.passed":        "verdicts passed (a case: N consecutive correct answers; a budget: every ceiling held at its rate)",
	"summary.failed":        "verdicts failed: the routing or the budget is wrong",
	"summary.inconclusive":  "verdicts that say nothing either way (cached answer, throttled, the run stopped before them)",
	"summary.notApplicable": "verdicts n/a: the target cannot reach the entry, or the request is unsafe for production",
	"summary.skipped":       "verdicts skipped (filtered out by a front end that lists them)",
	"summary.total":         "every verdict counted: cases + budgets",
	"summary.cases":         "how many case verdicts",
	"summary.budgets":       "how many budget verdicts",
	"summary.shares":        "how many share check verdicts",

	"shares":              "one entry per canary share check run",
	"shares[].name":       "the share's name in the contract",
	"shares[].case":       "the case sent N times",
	"shares[].entry":      "the case's entry point",
	"shares[].backend":    "the canary whose answers are counted",
	"shares[].position":   "where the share is written: file:line:column",
	"shares[].outcome":    "passed, failed (answers outside the group, or the canary's count outside the band), inconclusive or not-applicable",
	"shares[].reasons":    "why it did not pass",
	"shares[].expected":   "the canary's replica share, \"1/3\"",
	"shares[].band":       "[min, max]: the canary's answers allowed, inclusive",
	"shares[].requests":   "N, the requests the share sends",
	"shares[].sent":       "requests actually sent",
	"shares[].canary":     "answers from the canary",
	"shares[].inGroup":    "answers from the case's expected group, the canary's included",
	"shares[].observed":   "canary / inGroup",
	"shares[].servedBy":   "answers by who served them (error, unidentified, cached, refused for the others)",
	"shares[].servedBy{}": "how many",
	"shares[].elapsedMs":  "the check's duration, ms",

	"cases":                         "one entry per case, in contract order",
	"cases[].name":                  "the case's name in the contract",
	"cases[].description":           "why the case exists",
	"cases[].entry":                 "the contract entry point the request enters by",
	"cases[].labels":                "the case's contract labels",
	"cases[].position":              "where the case is written: file:line:column",
	"cases[].outcome":               "passed, failed, inconclusive, not-applicable or skipped",
	"cases[].verdict":               "the outcome in words, as the table says it: \"passed after 2 misses\", \"n/a\"",
	"cases[].misses":                "attempts that missed, a passed case's included",
	"cases[].reasons":               "\"expected X, got Y\" lines (or why n/a, inconclusive); empty when passed",
	"cases[].attempts":              "requests sent and judged",
	"cases[].passedAttempts":        "attempts that were correct, in a row or not",
	"cases[].elapsedMs":             "time from the first attempt to the verdict, ms",
	"cases[].expected":              "what the contract asks",
	"cases[].expected.servedBy":     "the backend or group that must answer",
	"cases[].expected.noBackend":    "true: the request must reach no backend",
	"cases[].expected.status":       "the status asked: \"404\", \"2xx\" or \"any status\"",
	"cases[].expected.headers":      "response header expectations",
	"cases[].expected.headers[]":    "one header expectation (name with equals, matches or absent)",
	"cases[].expected.bodyContains": "a substring the body must contain",
	"cases[].request":               "the deciding request as sent",
	"cases[].request.method":        "the method sent",
	"cases[].request.url":           "scheme://<case host><path>, as addressed",
	"cases[].request.host":          "the Host header (and SNI)",
	"cases[].request.headers":       "the request headers sent",
	"cases[].request.headers{}":     "one header's values",
	"cases[].request.bodyBytes":     "the request body's size",
	"cases[].request.connectedTo":   "the address dialled",
	"cases[].request.via":           "the forward endpoint that relayed it from a pod",
	"cases[].request.attempt":       "which attempt this was, 1-based",
	"cases[].response":              "what came back to the deciding request (absent when nothing was sent)",
	"cases[].response.status":       "the HTTP status",
	"cases[].response.servedBy":     "who served, read from the response",
	"cases[].response.servedBy.*":   "identity fields (backend <namespace>/<release>, pod, dc, source)",
	"cases[].response.latencyMs":    "request to end of body, ms",
	"cases[].response.headers":      "the response headers that decide a verdict",
	"cases[].response.headers{}":    "one header's values",
	"cases[].response.bodyExcerpt":  "the body's first bytes",
	"cases[].response.cacheStatus":  "X-Cache-Status: anything but miss/pass/int-* makes the case inconclusive",
	"cases[].response.error":        "why no HTTP response came back",
	"cases[].response.at":           "when the request was sent, RFC 3339",
	"cases[].history":               "earlier misses, oldest first (bounded)",
	"cases[].history[].attempt":     "the miss's attempt number",
	"cases[].history[].elapsedMs":   "when it was sent, from the case's start, ms",
	"cases[].history[].status":      "its status",
	"cases[].history[].servedBy":    "who served it",
	"cases[].history[].pod":         "the answering pod or raw Server value",
	"cases[].history[].cacheStatus": "its X-Cache-Status",
	"cases[].history[].latencyMs":   "its latency, ms",
	"cases[].history[].error":       "why it got no response",
	"cases[].history[].reasons":     "why it missed (throttling included: \"throttled: 429 with Retry-After 2s, waited out\")",
	"budgets":                       "one entry per latency budget run",
	"budgets[].name":                "the budget's name in the contract",
	"budgets[].case":                "the case whose request the budget sends",
	"budgets[].entry":               "the case's entry point",
	"budgets[].position":            "where the budget is written: file:line:column",
	"budgets[].outcome":             "passed, failed, inconclusive (rate shortfall, interrupted) or not-applicable",
	"budgets[].reasons":             "\"expected p95 <= 300ms, got 612ms\" lines; empty when passed",
	"budgets[].expected":            "what counts as a success: status and backend",
	"budgets[].requestedRate":       "the rate asked for, requests/s (scaled, capped by the target's rate cap)",
	"budgets[].achievedRate":        "the rate requests were actually started at, requests/s",
	"budgets[].rateCapped":          "true: the budget's rate was lowered to the target's rate cap (--rate)",
	"budgets[].requests":            "requests sent",
	"budgets[].successes":           "responses with a success status from the expected backend, not cached",
	"budgets[].successRatio":        "successes / requests",
	"budgets[].latencyMs":           "latency percentiles of every request, ms",
	"budgets[].latencyMs.p50":       "median, ms",
	"budgets[].latencyMs.p95":       "95th percentile, ms",
	"budgets[].latencyMs.p99":       "99th percentile, ms",
	"budgets[].latencyMs.max":       "slowest, ms",
	"budgets[].ceilingsMs":          "the budget's ceilings, ms, by percentile",
	"budgets[].ceilingsMs{}":        "one ceiling, ms",
	"budgets[].statuses":            "responses by status (\"0\": no response)",
	"budgets[].statuses{}":          "how many",
	"budgets[].servedBy":            "responses by who served them",
	"budgets[].servedBy{}":          "how many",
	"budgets[].files":               "the budget's files in the report directory",
	"budgets[].files.json":          "the whole result with every sample",
	"budgets[].files.histogram":     "latency histogram, SVG",
	"budgets[].files.timeline":      "latency over time, SVG",
	"budgets[].elapsedMs":           "the attack's duration, ms",

	"features":     "the run's features (rollout steps): on, as the target declared or --features named, and off",
	"features.on":  "features on, in the contract's order",
	"features.off": "the contract's other features",

	"cases[].feature":      "a feature case: the feature it depends on",
	"cases[].featureState": "that feature's state in the run, on or off: expected is the expectation of that state",

	"manifest":                 "what the run was, set by the CLI",
	"manifest.tool":            "pretrain-check's version",
	"manifest.contract":        "the routing contract read",
	"manifest.contract.name":   "its path (\"(built in)\" for the embedded default)",
	"manifest.contract.sha256": "hex sha256 of its bytes",
	"manifest.contract.size":   "its size in bytes",
	"manifest.inputs":          "the routing input files (config-driven targets)",
	"manifest.inputs[].name":   "the path as given, or <stdin>",
	"manifest.inputs[].sha256": "hex sha256 of its bytes",
	"manifest.inputs[].size":   "its size in bytes",
	"manifest.target":          "the target's name",
	"manifest.labelFilter":     "--label-filter as given",
	"manifest.focus":           "--focus as given",
	"manifest.started":         "when the checks started (RFC 3339)",
	"manifest.ended":           "when the report was built (RFC 3339)",

	"routeCoverage":                "config-driven targets only: which routes of the routing input the cases took",
	"routeCoverage.covered":        "routes at least one case took",
	"routeCoverage.total":          "every VirtualService http route of the input",
	"routeCoverage.percent":        "covered / total, 0..100 (100 when there are no routes)",
	"routeCoverage.min":            "--min-route-coverage, percent (0: no minimum)",
	"routeCoverage.failed":         "true when percent is under min: the run fails",
	"routeCoverage.routes":         "every route, in input order",
	"routeCoverage.routes[].route": "the route: \"namespace/virtualservice http[i] (name)\"",
	"routeCoverage.routes[].pos":   "where the route is written: file:line:col",
	"routeCoverage.routes[].cases": "the cases whose requests took it, sorted; empty: uncovered",
}

// flatten lists the field paths of a decoded JSON value.
func flatten(prefix string, v any, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			// Maps keyed by data (headers, statuses, served by, identity)
			// are pinned as a whole.
			switch {
			case strings.HasSuffix(p, ".headers") && !strings.HasPrefix(p, "cases[].expected"),
				strings.HasSuffix(p, "statuses"), strings.HasPrefix(p, "budgets[].servedBy"), strings.HasPrefix(p, "shares[].servedBy"),
				strings.HasSuffix(p, "ceilingsMs"):
				out[p] = true
				for _, hv := range val.(map[string]any) {
					_ = hv
					out[p+"{}"] = true
				}
				continue
			case p == "cases[].response.servedBy":
				out[p] = true
				if len(val.(map[string]any)) > 0 {
					out[p+".*"] = true
				}
				continue
			}
			out[p] = true
			flatten(p, val, out)
		}
	case []any:
		for _, item := range x {
			if _, ok := item.(map[string]any); !ok {
				if prefix == "cases[].expected.headers" {
					out[prefix+"[]"] = true
				}
				continue
			}
			if prefix == "cases[].expected.headers" {
				out[prefix+"[]"] = true
				continue
			}
			flatten(prefix+"[]", item, out)
		}
	}
}

// Every field of report.json has a documented meaning, and every
// documented field appears in a report covering every outcome, a budget,
// a case that passed after misses and the evidence of a failure.
func TestJSONFieldMeanings(t *testing.T) {
	rep := sampleReport()
	rep.Budgets[1].Files = &latency.Files{JSON: "latency/b.json", Histogram: "latency/b.histogram.svg", Timeline: "latency/b.timeline.svg"}
	rep.Budgets[1].Plan.RateCapped = true
	rep.Budgets[1].Statuses[0] = 1
	rep.Cases[1].Case.Expect.Headers = []contract.HeaderExpectation{{Name: "Allow", Equals: "POST"}}
	rep.Cases[1].Case.Expect.BodyContains = "Main Page"
	rep.Cases[1].Evidence.Request.BodyBytes = 2
	rep.Cases[1].Evidence.Request.Via = "http://127.0.0.1:30806/forward"
	rep.Cases[1].Evidence.CacheStatus = "miss"
	rep.Cases[1].History[0].Err = "connection reset"
	rep.Cases[1].History[0].CacheStatus = "miss"
	rep.Cases[4].Case.Expect.NoBackend = true
	rep.Shares = []share.Result{sampleShare(t, check.Failed)}
	fc := featureCase(t, false)
	rep.Cases[2].Case = fc
	rep.Features = &Features{On: []string{}, Off: []string{"step-one"}}
	rep.Manifest = &Manifest{Tool: "v1", Contract: NewInput("c.yaml", []byte("cases: []")), Inputs: []Input{NewInput("<stdin>", []byte("x"))},
		Target: "config", LabelFilter: "xwd", Focus: []string{"a"}, Started: time.Unix(1, 0), Ended: time.Unix(2, 0)}
	rep.Coverage = &RouteCoverage{Min: 50, Report: coverage.Report{Routes: []coverage.Route{
		{Route: istio.RouteRef{VirtualService: "ns/vs", Index: 0, Name: "debug"}, Cases: []string{"a"}},
	}}}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	flatten("", doc, got)
	var undocumented, absent []string
	for p := range got {
		if _, ok := jsonFieldMeanings[p]; !ok {
			undocumented = append(undocumented, p)
		}
	}
	for p := range jsonFieldMeanings {
		if !got[p] {
			absent = append(absent, p)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(absent)
	if len(undocumented) > 0 {
		t.Errorf("fields without a documented meaning (document them in jsonFieldMeanings and JSONReport; a change of meaning bumps SchemaVersion): %q", undocumented)
	}
	if len(absent) > 0 {
		t.Errorf("documented fields missing from a full report: %q", absent)
	}
	if SchemaVersion != "pretrain-check/report/v2" {
		t.Errorf("schema %q: update jsonFieldMeanings' schema line", SchemaVersion)
	}
}
