package contract

import (
	"errors"
	"strings"
	"testing"
)

// head is a valid contract up to "cases:"; a test appends its cases (line
// 10 onwards) and budgets.
const head = `version: 1
backends:
  - name: ns/a
  - name: ns/b
  - name: ns/ab
    members: [ns/a, ns/b]
entries:
  - name: e
cases:
`

// okCase is a valid case (lines 10-13 when it comes first).
const okCase = `  - name: ok
    entry: e
    request: {method: GET, host: h.example, path: /}
    expect: {served_by: ns/a}
`

func problems(t *testing.T, src string) []string {
	t.Helper()
	c, err := Parse("t.yaml", []byte(src))
	if err == nil {
		t.Fatalf("Parse succeeded, want problems (contract has %d cases)", len(c.Cases))
	}
	if c != nil {
		t.Errorf("Parse returned a contract with its problems")
	}
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Parse error is %T (%v), want *Problems", err, err)
	}
	out := make([]string, len(ps.List))
	for i, p := range ps.List {
		out[i] = p.String()
	}
	if got := err.Error(); got != strings.Join(out, "\n") {
		t.Errorf("Error() = %q, want one problem per line", got)
	}
	return out
}

func TestValidOK(t *testing.T) {
	c, err := Parse("t.yaml", []byte(head+okCase))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	cs := c.Case("ok")
	if cs == nil || cs.Pos != (Position{File: "t.yaml", Line: 10, Column: 5}) || cs.Request.Host != "h.example" {
		t.Errorf("case = %+v", cs)
	}
	if b := c.Backends["ns/ab"]; b.Pos != (Position{File: "t.yaml", Line: 5, Column: 5}) || len(b.Members) != 2 {
		t.Errorf("group = %+v", b)
	}
}

func TestValidationErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want []string
	}{
		{"unknown backend", head + `  - name: c
    entry: e
    request: {method: GET, host: h.example, path: /}
    expect: {served_by: ns/zz}
`, []string{`t.yaml:13:25: unknown backend "ns/zz"`}},
		{"unknown entry", head + `  - name: c
    entry: nowhere
    request: {method: GET, host: h.example, path: /}
    expect: {served_by: ns/a}
`, []string{`t.yaml:11:12: unknown entry "nowhere"`}},
		{"duplicate case name", head + okCase + okCase,
			[]string{`t.yaml:14:11: duplicate case name "ok" (first defined at t.yaml:10:11)`}},
		{"bad regex", head + `  - name: c
    entry: e
    request: {method: GET, host: h.example, path: /}
    expect:
      served_by: ns/a
      headers:
        - {name: Server, matches: "main-("}
`, []string{"t.yaml:16:35: case \"c\" expect header \"Server\" matches: invalid regex \"main-(\": error parsing regexp: missing closing ): `main-(`"}},
		{"bad method", head + `  - name: c
    entry: e
    request: {method: get, host: h.example, path: /}
    expect: {served_by: ns/a}
`, []string{`t.yaml:12:23: case "c" request: invalid method "get" (want one of: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)`}},
		{"missing fields", head + `  - name: c
    request: {method: GET, path: /}
    expect: {}
`, []string{
			`t.yaml:10:5: case "c": missing required key "entry"`,
			`t.yaml:11:14: case "c" request: missing required key "host"`,
			`t.yaml:12:13: case "c" expect: want served_by (a backend or group) or no_backend: true`,
		}},
		{"unknown keys", head + `  - name: c
    entry: e
    request: {method: GET, host: h.example, path: /, query: x}
    expect: {served_by: ns/a, servedBy: ns/b}
    lables: [host]
`, []string{
			`t.yaml:12:54: case "c" request: unknown key "query" (want one of: method, host, path, headers, body)`,
			`t.yaml:13:31: case "c" expect: unknown key "servedBy" (want one of: served_by, no_backend, status, any_status, headers, body_contains)`,
			`t.yaml:14:5: case #1: unknown key "lables" (want one of: name, description, source, feature, entry, labels, request, expect, expect_off)`,
		}},
		{"unknown top-level key", "version: 1\nbackend: []\n", []string{
			`t.yaml:1:1: contract: missing required key "backends"`,
			`t.yaml:1:1: contract: missing required key "entries"`,
			`t.yaml:1:1: contract: missing required key "cases"`,
			`t.yaml:2:1: contract: unknown key "backend" (want one of: version, features, backends, entries, cases, budgets, shares)`,
		}},
		{"bad status", head + `  - name: c
    entry: e
    request: {method: GET, host: h.example, path: /}
    expect: {no_backend: true, status: 600}
  - name: d
    entry: e
    request: {method: GET, host: h.example, path: /}
    expect: {served_by: ns/a, status: "404"}
`, []string{
			`t.yaml:13:40: case "c" expect status: invalid status 600: want 100..599`,
			`t.yaml:17:39: case "d" expect status: want an integer, got "404"`,
		}},
		{"no_backend without status, both served_by and no_backend", head + `  - name: c
    entry: e
    request: {method: GET, host: h.example, path: /}
    expect: {no_backend: true}
  - name: d
    entry: e
    request: {method: GET, host: h.example, path: /}
    expect: {served_by: ns/a, no_backend: true, status: 404, any_status: true}
`, []string{
			`t.yaml:13:14: case "c" expect: no_backend needs an exact status (e.g. 404 for no route)`,
			`t.yaml:17:31: case "d" expect: served_by and no_backend are mutually exclusive`,
			`t.yaml:17:62: case "d" expect: status and any_status: true are mutually exclusive`,
		}},
		{"unknown label", head + `  - name: c
    entry: e
    labels: [host, hots, host]
    request: {method: GET, host: h.example, path: /}
    expect: {served_by: ns/a}
`, []string{
			`t.yaml:12:20: case "c": unknown label "hots" (want one of: host, path, xwd, mesh, rest, jobrunner, edge, negative)`,
			`t.yaml:12:26: case "c": duplicate label "host"`,
		}},
		{"header problems", head + `  - name: c
    entry: e
    request:
      method: GET
      host: h.example
      path: no-slash
      headers:
        - {name: Host, value: x}
        - {name: "bad name", value: x}
        - {value: x}
    expect:
      served_by: ns/a
      headers:
        - {name: A, equals: x, absent: true}
        - {name: B, absent: false}
`, []string{
			`t.yaml:15:13: case "c" request: invalid path "no-slash": want an absolute path with optional query, no spaces or fragment`,
			`t.yaml:17:18: case "c" request header #1: set the Host with request.host, not as a header`,
			`t.yaml:18:18: case "c" request header #2: invalid header name "bad name"`,
			`t.yaml:19:11: case "c" request header #3: missing required key "name"`,
			`t.yaml:23:11: case "c" expect header "A": want exactly one of equals, matches and absent`,
			`t.yaml:24:29: case "c" expect header "B": absent: false says nothing; omit it or use absent: true`,
		}},
		{"group members unknown", `version: 1
backends:
  - name: ns/a
  - name: ns/g
    members: [ns/a, ns/nope, ns/a]
  - name: ns/empty
    members: []
entries: [{name: e}]
cases:
` + okCase, []string{
			`t.yaml:5:21: group "ns/g": unknown member "ns/nope"`,
			`t.yaml:5:30: group "ns/g" lists member "ns/a" twice`,
			`t.yaml:7:14: group "ns/empty" has no members`,
		}},
		{"group cycles", `version: 1
backends:
  - name: ns/a
  - name: ns/g1
    members: [ns/a, ns/g2]
  - name: ns/g2
    members: [ns/g3]
  - name: ns/g3
    members: [ns/g1]
  - name: ns/self
    members: [ns/self]
entries: [{name: e}]
cases:
` + strings.ReplaceAll(okCase, "ns/a}", "ns/g1}"), []string{
			`t.yaml:9:15: group cycle: ns/g1 -> ns/g2 -> ns/g3 -> ns/g1`,
			`t.yaml:11:15: group cycle: ns/self -> ns/self`,
		}},
		{"duplicate backend and entry, bad names", `version: 1
backends:
  - name: ns/a
  - name: ns/a
  - name: NoSlash
entries:
  - name: e
  - name: e
  - name: "bad entry"
cases:
` + okCase, []string{
			`t.yaml:4:11: duplicate backend "ns/a" (first defined at t.yaml:3:11)`,
			`t.yaml:5:11: invalid backend name "NoSlash": want "<namespace>/<release>" in lowercase (a group may use "+" and "*")`,
			`t.yaml:8:11: duplicate entry "e" (first defined at t.yaml:7:5)`,
			`t.yaml:9:11: invalid entry name "bad entry": want lowercase letters, digits, ".", "_", "-" and at most one "/"`,
		}},
		{"wrong types", `version: "1"
backends: {ns/a: {}}
entries:
  - e
cases: []
`, []string{
			`t.yaml:1:10: version: want an integer, got "1"`,
			`t.yaml:2:11: backends: want a list, got a mapping`,
			`t.yaml:4:5: entry #1: want a mapping, got "e"`,
			`t.yaml:5:8: cases: the contract has no cases`,
		}},
		{"unsupported version, duplicate key", "version: 2\nversion: 1\nbackends: []\nentries: []\ncases: [{}]\n", []string{
			`t.yaml:1:10: unsupported version 2: want 1`,
			`t.yaml:2:1: contract: duplicate key "version" (first at t.yaml:1:1)`,
			`t.yaml:5:9: case #1: missing required key "name"`,
			`t.yaml:5:9: case #1: missing required key "entry"`,
			`t.yaml:5:9: case #1: missing required key "request"`,
			`t.yaml:5:9: case #1: missing required key "expect"`,
		}},
		{"yaml syntax error", "version: 1\nbackends:\n\t- x\n", []string{
			`t.yaml:3:1: invalid YAML: found character that cannot start any token`,
		}},
		{"empty", "", []string{`t.yaml:1:1: empty contract`}},
		{"two documents", head + okCase + "---\nversion: 1\n", []string{
			`t.yaml:14:1: a contract is one YAML document; found another`,
		}},
		{"budget problems", head + okCase + `budgets:
  - name: b1
    case: nope
    rate: 0
    duration: 10s
    requests: 5
    p50: 2s
    p95: 1s
    min_success: 1.5
  - name: b2
    entry: nowhere
    rate: 1
    requests: 1
    min_success: 1
  - name: b1
    case: ok
    entry: e
    rate: 1
    duration: soon
    max: 1s
    min_success: 0.5
    success_statuses: [200, 999]
  - name: b4
    rate: .nan
    min_success: 0.9
    p99: 1s
`, []string{
			`t.yaml:16:11: budget "b1": unknown case "nope"`,
			`t.yaml:17:11: budget "b1": rate must be positive (requests per second), got 0`,
			`t.yaml:19:5: budget "b1": duration and requests are mutually exclusive`,
			`t.yaml:21:10: budget "b1": p95 (1s) is below p50 (2s)`,
			`t.yaml:22:18: budget "b1": min_success must be a ratio in (0, 1], got 1.5`,
			`t.yaml:23:5: budget "b2": want at least one latency ceiling (p50, p95, p99 or max)`,
			`t.yaml:24:12: budget "b2": unknown entry "nowhere"`,
			`t.yaml:28:11: duplicate budget name "b1" (first defined at t.yaml:15:11)`,
			`t.yaml:30:5: budget "b1": case and entry are mutually exclusive`,
			`t.yaml:32:15: budget "b1" duration: invalid duration "soon": want a Go duration such as "500ms" or "2s"`,
			`t.yaml:35:29: budget "b1" success_statuses: invalid status 999: want 100..599`,
			`t.yaml:36:5: budget "b4": want case (a case name) or entry (an entry name)`,
			`t.yaml:36:5: budget "b4": want duration (e.g. "30s") or requests (a count)`,
			`t.yaml:37:11: budget "b4" rate: want a number, got ".nan"`,
		}},
		{"entry budget without a backend case", `version: 1
backends: [{name: ns/a}]
entries: [{name: e}, {name: f}]
cases:
  - name: c
    entry: f
    request: {method: GET, host: h.example, path: /}
    expect: {no_backend: true, status: 404}
budgets:
  - {name: b, entry: f, rate: 1, requests: 1, max: 1s, min_success: 1}
`, []string{
			`t.yaml:10:22: budget "b": entry "f" has no case that expects a backend`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := problems(t, tc.src)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("problems:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tc.want, "\n      "))
			}
		})
	}
}
