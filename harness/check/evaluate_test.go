package check

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
)

func testContract() *contract.Contract {
	b := func(name string, members ...string) *contract.Backend {
		return &contract.Backend{Name: name, Members: members}
	}
	return &contract.Contract{Backends: map[string]*contract.Backend{
		"mw-pretrain/main":      b("mw-pretrain/main"),
		"mw-pretrain/canary":    b("mw-pretrain/canary"),
		"mw-pretrain/debug":     b("mw-pretrain/debug"),
		"mw-pretrain/web":       b("mw-pretrain/web", "mw-pretrain/main", "mw-pretrain/canary"),
		"mw-web/main":           b("mw-web/main"),
		"mw-pretrain/jobrunner": b("mw-pretrain/jobrunner"),
	}}
}

func pod(release string) identity.Identity {
	return identity.Identity{Namespace: "mw-pretrain", Release: release, DC: "eqiad",
		Pod: "mw-pretrain.eqiad." + release + "-abc-def", Source: "identity-header"}
}

func served(release string, status int) probe.Result {
	return probe.Result{Status: status, ServedBy: pod(release)}
}

func TestEvaluate(t *testing.T) {
	c := testContract()
	caseFor := func(e contract.Expectation) *contract.Case {
		return &contract.Case{Name: "c", Entry: "edge", Expect: e}
	}
	withHeaders := func(r probe.Result, kv ...string) probe.Result {
		r.Headers = http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			r.Headers.Add(kv[i], kv[i+1])
		}
		return r
	}
	for _, tc := range []struct {
		name    string
		expect  contract.Expectation
		result  probe.Result
		outcome Outcome
		reasons []string
	}{
		{
			name:    "right backend, any 2xx",
			expect:  contract.Expectation{ServedBy: "mw-pretrain/main"},
			result:  served("main", 200),
			outcome: Passed,
		},
		{
			name:    "wrong backend",
			expect:  contract.Expectation{ServedBy: "mw-pretrain/debug"},
			result:  served("main", 200),
			outcome: Failed,
			reasons: []string{`expected served by "mw-pretrain/debug", got "mw-pretrain/main" (pod mw-pretrain.eqiad.main-abc-def)`},
		},
		{
			name:    "group member",
			expect:  contract.Expectation{ServedBy: "mw-pretrain/web"},
			result:  served("canary", 200),
			outcome: Passed,
		},
		{
			name:    "not a group member",
			expect:  contract.Expectation{ServedBy: "mw-pretrain/web"},
			result:  served("debug", 200),
			outcome: Failed,
			reasons: []string{`expected served by "mw-pretrain/web" (mw-pretrain/main or mw-pretrain/canary), got "mw-pretrain/debug" (pod mw-pretrain.eqiad.debug-abc-def)`},
		},
		{
			name:    "nobody identifiable when a backend is expected",
			expect:  contract.Expectation{ServedBy: "mw-pretrain/main", Status: 404},
			result:  probe.Result{Status: 404},
			outcome: Failed,
			reasons: []string{`expected served by "mw-pretrain/main", got nobody identifiable`},
		},
		{
			name:    "unidentified Server when a backend is expected",
			expect:  contract.Expectation{ServedBy: "mw-pretrain/main"},
			result:  probe.Result{Status: 200, ServedBy: identity.Identity{Pod: "envoy", Source: "server-header"}},
			outcome: Failed,
			reasons: []string{`expected served by "mw-pretrain/main", got unidentified (Server "envoy")`},
		},
		{
			name:    "no backend, nobody answered",
			expect:  contract.Expectation{NoBackend: true, Status: 404},
			result:  probe.Result{Status: 404, ServedBy: identity.Identity{Pod: "envoy"}},
			outcome: Passed,
		},
		{
			name:    "no backend, but a stub answered",
			expect:  contract.Expectation{NoBackend: true, Status: 404},
			result:  served("jobrunner", 404),
			outcome: Failed,
			reasons: []string{`expected no backend to answer, got "mw-pretrain/jobrunner" (pod mw-pretrain.eqiad.jobrunner-abc-def)`},
		},
		{
			name:    "wrong status",
			expect:  contract.Expectation{ServedBy: "mw-pretrain/main", Status: 404},
			result:  served("main", 200),
			outcome: Failed,
			reasons: []string{"expected status 404, got 200"},
		},
		{
			name:    "not 2xx",
			expect:  contract.Expectation{ServedBy: "mw-pretrain/main"},
			result:  served("main", 301),
			outcome: Failed,
			reasons: []string{"expected status 2xx, got 301"},
		},
		{
			name:    "any status",
			expect:  contract.Expectation{ServedBy: "mw-pretrain/main", AnyStatus: true},
			result:  served("main", 503),
			outcome: Passed,
		},
		{
			name:    "wrong backend and wrong status: both reported",
			expect:  contract.Expectation{ServedBy: "mw-pretrain/jobrunner", Status: 405},
			result:  served("main", 200),
			outcome: Failed,
			reasons: []string{
				`expected served by "mw-pretrain/jobrunner", got "mw-pretrain/main" (pod mw-pretrain.eqiad.main-abc-def)`,
				"expected status 405, got 200",
			},
		},
		{
			name: "header equals",
			expect: contract.Expectation{ServedBy: "mw-pretrain/jobrunner", Status: 405,
				Headers: []contract.HeaderExpectation{{Name: "Allow", Equals: "POST"}}},
			result:  withHeaders(served("jobrunner", 405), "allow", "POST"),
			outcome: Passed,
		},
		{
			name: "header missing",
			expect: contract.Expectation{ServedBy: "mw-pretrain/jobrunner", Status: 405,
				Headers: []contract.HeaderExpectation{{Name: "Allow", Equals: "POST"}}},
			result:  served("jobrunner", 405),
			outcome: Failed,
			reasons: []string{`expected header "Allow" = "POST", got no such header`},
		},
		{
			name: "header mismatched",
			expect: contract.Expectation{ServedBy: "mw-pretrain/jobrunner", Status: 405,
				Headers: []contract.HeaderExpectation{{Name: "Allow", Equals: "POST"}}},
			result:  withHeaders(served("jobrunner", 405), "Allow", "GET", "Allow", "POST"),
			outcome: Failed,
			reasons: []string{`expected header "Allow" = "POST", got "GET, POST"`},
		},
		{
			name: "header matches",
			expect: contract.Expectation{NoBackend: true, Status: 400,
				Headers: []contract.HeaderExpectation{{Name: "X-Wikimedia-Debug-Routing", Matches: `no match found.*\(scope: pretrain\)`}}},
			result:  withHeaders(probe.Result{Status: 400}, "X-Wikimedia-Debug-Routing", "no match found for the backend specified in X-Wikimedia-Debug (scope: pretrain)"),
			outcome: Passed,
		},
		{
			name: "header does not match",
			expect: contract.Expectation{NoBackend: true, Status: 400,
				Headers: []contract.HeaderExpectation{{Name: "X-Wikimedia-Debug-Routing", Matches: `scope: pretrain`}}},
			result:  withHeaders(probe.Result{Status: 400}, "X-Wikimedia-Debug-Routing", "no match found (scope: default)"),
			outcome: Failed,
			reasons: []string{`expected header "X-Wikimedia-Debug-Routing" to match "scope: pretrain", got "no match found (scope: default)"`},
		},
		{
			name: "header to match is missing",
			expect: contract.Expectation{NoBackend: true, Status: 400,
				Headers: []contract.HeaderExpectation{{Name: "X-Wikimedia-Debug-Routing", Matches: `scope`}}},
			result:  probe.Result{Status: 400},
			outcome: Failed,
			reasons: []string{`expected header "X-Wikimedia-Debug-Routing" to match "scope", got no such header`},
		},
		{
			name: "invalid pattern",
			expect: contract.Expectation{ServedBy: "mw-pretrain/main",
				Headers: []contract.HeaderExpectation{{Name: "Server", Matches: `(`}}},
			result:  withHeaders(served("main", 200), "Server", "x"),
			outcome: Failed,
			reasons: []string{"expected header \"Server\" to match \"(\", but the pattern is invalid: error parsing regexp: missing closing ): `(`"},
		},
		{
			name: "header absent",
			expect: contract.Expectation{ServedBy: "mw-pretrain/main",
				Headers: []contract.HeaderExpectation{{Name: "Backend-Timing", Absent: true}}},
			result:  served("main", 200),
			outcome: Passed,
		},
		{
			name: "header present when it must be absent",
			expect: contract.Expectation{ServedBy: "mw-pretrain/main",
				Headers: []contract.HeaderExpectation{{Name: "Backend-Timing", Absent: true}}},
			result:  withHeaders(served("main", 200), "Backend-Timing", "D=1"),
			outcome: Failed,
			reasons: []string{`expected header "Backend-Timing" absent, got "D=1"`},
		},
		{
			name:    "body contains",
			expect:  contract.Expectation{ServedBy: "mw-pretrain/jobrunner", Status: 422, BodyContains: "No event received."},
			result:  probe.Result{Status: 422, ServedBy: pod("jobrunner"), Body: []byte("error: No event received.\n")},
			outcome: Passed,
		},
		{
			name:    "body does not contain",
			expect:  contract.Expectation{ServedBy: "mw-pretrain/jobrunner", Status: 422, BodyContains: "No event received."},
			result:  probe.Result{Status: 422, ServedBy: pod("jobrunner"), Body: []byte("something else")},
			outcome: Failed,
			reasons: []string{`expected body to contain "No event received.", got "something else"`},
		},
		{
			name:    "cached response is inconclusive",
			expect:  contract.Expectation{ServedBy: "mw-pretrain/main"},
			result:  probe.Result{Status: 200, ServedBy: pod("main"), CacheStatus: "hit-front"},
			outcome: Inconclusive,
			reasons: []string{`response came from a cache (X-Cache-Status "hit-front"): it does not say who served this request; bust the cache or send X-Wikimedia-Debug`},
		},
		{
			name:    "cache miss is judged",
			expect:  contract.Expectation{ServedBy: "mw-pretrain/debug"},
			result:  probe.Result{Status: 200, ServedBy: pod("main"), CacheStatus: "miss"},
			outcome: Failed,
			reasons: []string{`expected served by "mw-pretrain/debug", got "mw-pretrain/main" (pod mw-pretrain.eqiad.main-abc-def)`},
		},
		{
			name:    "error fails",
			expect:  contract.Expectation{ServedBy: "mw-pretrain/main"},
			result:  probe.Result{Err: "send GET http://test.wikipedia.org/: connection refused"},
			outcome: Failed,
			reasons: []string{"request failed: send GET http://test.wikipedia.org/: connection refused"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outcome, reasons := Evaluate(c, caseFor(tc.expect), tc.result)
			if outcome != tc.outcome {
				t.Errorf("outcome %s, want %s (reasons %q)", outcome, tc.outcome, reasons)
			}
			if !reflect.DeepEqual(reasons, tc.reasons) {
				t.Errorf("reasons\n got %q\nwant %q", reasons, tc.reasons)
			}
		})
	}
}

func TestEvaluateWithoutContract(t *testing.T) {
	cs := &contract.Case{Expect: contract.Expectation{ServedBy: "mw-pretrain/main"}}
	if o, r := Evaluate(nil, cs, served("main", 200)); o != Passed {
		t.Errorf("exact backend without contract: %s %q", o, r)
	}
	cs.Expect.ServedBy = "mw-pretrain/web"
	if o, _ := Evaluate(nil, cs, served("main", 200)); o != Failed {
		t.Errorf("group without contract must not match a member")
	}
}

func TestEvaluateUsesAllHeaders(t *testing.T) {
	// A probe keeps every header in AllHeaders; an absent check must see
	// headers not kept in the evidence.
	r := served("main", 200)
	r.AllHeaders = http.Header{"X-Powered-By": {"PHP"}}
	cs := &contract.Case{Expect: contract.Expectation{ServedBy: "mw-pretrain/main",
		Headers: []contract.HeaderExpectation{{Name: "X-Powered-By", Absent: true}}}}
	o, reasons := Evaluate(testContract(), cs, r)
	if o != Failed || len(reasons) != 1 || !strings.Contains(reasons[0], "absent") {
		t.Errorf("%s %q", o, reasons)
	}
}
