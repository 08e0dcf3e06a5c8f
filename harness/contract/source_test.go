package contract

import (
	"strings"
	"testing"
)

func TestParseSource(t *testing.T) {
	good := map[string]Source{
		"wikimedia/operations-puppet modules/profile/files/trafficserver/x.lua@2a7e1c34d38": {
			Repo: "wikimedia/operations-puppet", Path: "modules/profile/files/trafficserver/x.lua", Rev: "2a7e1c34d38"},
		"wikimedia/operations-puppet a/b.lua@blob:6f49119fd76fcef4fb83bec48383af6d501f8537": {
			Repo: "wikimedia/operations-puppet", Path: "a/b.lua", Rev: "blob:6f49119fd76fcef4fb83bec48383af6d501f8537"},
		"planned: T427666 step 2": {Task: "T427666", Step: 2},
	}
	for in, want := range good {
		got, err := ParseSource(in)
		if err != nil || got != want {
			t.Errorf("ParseSource(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if got.String() != in {
			t.Errorf("ParseSource(%q).String() = %q", in, got.String())
		}
	}
	for _, in := range []string{
		"", "pretrain.md", "wikimedia/operations-puppet x.lua", "wikimedia/operations-puppet x.lua@main",
		"wikimedia/operations-puppet x.lua@abc", "operations-puppet x.lua@2a7e1c34d38",
		"wikimedia/operations-puppet /etc/x.lua@2a7e1c34d38", "wikimedia/operations-puppet ../x.lua@2a7e1c34d38",
		"planned: T427666", "planned: T427666 step 0", "planned: soon step 1", "wikimedia/x y.lua@blob:abc",
	} {
		if s, err := ParseSource(in); err == nil {
			t.Errorf("ParseSource(%q) = %+v, want an error", in, s)
		}
	}
}

const sourceContract = `version: 1
backends: [{name: ns/a}]
entries: [{name: edge}]
cases:
  - name: with
    source: "planned: T1 step 1"
    entry: edge
    labels: [edge]
    request: {method: GET, host: h, path: /}
    expect: {served_by: ns/a}
  - name: without
    entry: edge
    labels: [edge]
    request: {method: GET, host: h, path: /}
    expect: {served_by: ns/a}
budgets:
  - {name: b, case: with, rate: 1, requests: 1, p50: 1s, min_success: 1}
`

func TestCheckSourcesNamesEveryCheckWithout(t *testing.T) {
	c, err := Parse("s.yaml", []byte(sourceContract))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range CheckSources(c) {
		got = append(got, p.String())
	}
	want := []string{
		`s.yaml:11:5: case "without" has no source`,
		`s.yaml:17:5: budget "b" has no source`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %d problems", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d: %q, want prefix %q", i, got[i], want[i])
		}
	}
	us := Sources(c)
	if len(us) != 1 || us[0].Source.String() != "planned: T1 step 1" || len(us[0].Cases) != 1 || us[0].Cases[0] != "with" {
		t.Errorf("Sources = %+v", us)
	}
}

func TestMalformedSourceIsAProblem(t *testing.T) {
	src := strings.Replace(sourceContract, `source: "planned: T1 step 1"`, `source: pretrain.md`, 1)
	_, err := Parse("s.yaml", []byte(src))
	if err == nil || !strings.Contains(err.Error(), `s.yaml:6:13: case "with" source: parse source "pretrain.md"`) {
		t.Errorf("got %v", err)
	}
}

func TestHeaderValueLimit(t *testing.T) {
	mk := func(n int) string {
		return strings.Replace(sourceContract, "request: {method: GET, host: h, path: /}",
			"request: {method: GET, host: h, path: /, headers: [{name: X-A, value: \""+strings.Repeat("a", n)+"\"}]}", 1)
	}
	if _, err := Parse("s.yaml", []byte(mk(MaxHeaderValueBytes))); err != nil {
		t.Errorf("a value of exactly the limit: %v", err)
	}
	_, err := Parse("s.yaml", []byte(mk(MaxHeaderValueBytes+1)))
	if err == nil || !strings.Contains(err.Error(), "s.yaml:9:") || !strings.Contains(err.Error(), "header value is 8193 bytes, more than the limit of 8192") {
		t.Errorf("got %v", err)
	}
}
