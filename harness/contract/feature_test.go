package contract

import (
	"strings"
	"testing"
)

const featureContract = `version: 1
features:
  - {name: step-one, source: "planned: T1 step 1"}
  - {name: step-two, source: "planned: T1 step 2"}
backends: [{name: ns/on}, {name: ns/off}]
entries: [{name: e}]
cases:
  - name: plain
    source: "a/b c.yaml@1234567"
    entry: e
    labels: [host]
    request: {method: GET, host: h.example, path: /}
    expect: {served_by: ns/on}
  - name: stepped
    source: "planned: T1 step 1"
    feature: step-one
    entry: e
    labels: [host]
    request: {method: GET, host: h.example, path: /x}
    expect: {served_by: ns/on}
    expect_off: {served_by: ns/off, status: 404}
budgets:
  - {name: b, source: "planned: T1 step 1", case: stepped, rate: 1, requests: 1, max: 1s, min_success: 1}
`

func TestForFeaturesPicksEachCaseState(t *testing.T) {
	c, err := Parse("t.yaml", []byte(featureContract))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.FeatureNames(); strings.Join(got, ",") != "step-one,step-two" {
		t.Fatalf("FeatureNames = %q", got)
	}
	if ps := CheckFeatures(c); len(ps) > 0 {
		t.Fatalf("CheckFeatures: %v", ps)
	}
	for _, tc := range []struct {
		on          []string
		wantBackend string
		wantState   string
	}{
		{[]string{"step-one"}, "ns/on", "step-one on"},
		{[]string{"step-two"}, "ns/off", "step-one off"},
		{nil, "ns/off", "step-one off"},
	} {
		r, err := c.ForFeatures(tc.on)
		if err != nil {
			t.Fatal(err)
		}
		cs := r.Case("stepped")
		if cs.Expect.ServedBy != tc.wantBackend || cs.FeatureState() != tc.wantState {
			t.Errorf("on %q: stepped expects %q (%q), want %q (%q)", tc.on, cs.Expect.ServedBy, cs.FeatureState(), tc.wantBackend, tc.wantState)
		}
		if r.Case("plain") != c.Case("plain") {
			t.Errorf("on %q: a case without a feature was copied", tc.on)
		}
		// A budget loads the resolved case: it measures the declared state.
		if bc, _ := r.BudgetCase(r.Budgets[0]); bc.Expect.ServedBy != tc.wantBackend {
			t.Errorf("on %q: budget loads a case expecting %q", tc.on, bc.Expect.ServedBy)
		}
		if !r.Resolved() || c.Resolved() {
			t.Errorf("Resolved: copy %v, original %v", r.Resolved(), c.Resolved())
		}
	}
	// The parsed contract is untouched.
	if cs := c.Case("stepped"); cs.Expect.ServedBy != "ns/on" || cs.FeatureState() != "" {
		t.Errorf("parsed case changed: %+v", cs.Expect)
	}
	if _, err := c.ForFeatures([]string{"step-one", "nope"}); err == nil || !strings.Contains(err.Error(), `unknown feature "nope"`) {
		t.Errorf("ForFeatures with an unknown name: %v", err)
	}
}

func TestParseFeatureList(t *testing.T) {
	c, err := Parse("t.yaml", []byte(featureContract))
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"none":              "",
		"all":               "step-one,step-two",
		"step-two,step-one": "step-one,step-two",
		" step-two ":        "step-two",
	} {
		got, err := c.ParseFeatureList(in)
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("ParseFeatureList(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":              `want "none", "all" or feature names`,
		"step-one,oops": `unknown feature "oops" (want step-one, step-two, "none" or "all")`,
		"a,b":           `unknown feature "a", "b"`,
	} {
		if _, err := c.ParseFeatureList(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseFeatureList(%q): %v; want %q", in, err, want)
		}
	}
}

func TestFeatureValidation(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"unknown feature, expectations missing", `version: 1
features:
  - {name: step-one, source: "planned: T1 step 1"}
  - {name: step-one, source: "planned: T1 step 2"}
  - {name: none, source: "a/b c.yaml@1234567"}
backends: [{name: ns/a}]
entries: [{name: e}]
cases:
  - name: a
    feature: stpe-one
    entry: e
    request: {method: GET, host: h.example, path: /}
    expect: {served_by: ns/a}
    expect_off: {served_by: ns/a}
  - name: b
    feature: step-one
    entry: e
    request: {method: GET, host: h.example, path: /}
    expect: {served_by: ns/a}
  - name: c
    entry: e
    request: {method: GET, host: h.example, path: /}
    expect: {served_by: ns/a}
    expect_off: {served_by: ns/nope}
`, []string{
			`t.yaml:4:12: duplicate feature "step-one" (first defined at t.yaml:3:12)`,
			`t.yaml:5:12: invalid feature name "none": "none" and "all" are words of --features`,
			`t.yaml:5:26: feature "none" source: want the planned step it enables ("planned: <task> step <n>")`,
			`t.yaml:10:14: unknown feature "stpe-one" (want one of: step-one, none)`,
			`t.yaml:15:5: case "b": feature "step-one" needs expect_off (what happens while the feature is off) besides expect (while it is on)`,
			`t.yaml:24:5: case "c": expect_off needs a feature (the rollout step whose state it depends on)`,
			`t.yaml:24:29: unknown backend "ns/nope"`,
		}},
		{"a feature in a contract without features", `version: 1
backends: [{name: ns/a}]
entries: [{name: e}]
cases:
  - name: a
    feature: step-one
    entry: e
    request: {method: GET, host: h.example, path: /}
    expect: {served_by: ns/a}
    expect_off: {served_by: ns/a}
`, []string{
			"t.yaml:6:14: unknown feature \"step-one\" (the contract declares none under `features:`)",
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

func TestCheckFeatures(t *testing.T) {
	src := `version: 1
features:
  - {name: step-one, source: "planned: T1 step 1"}
backends: [{name: ns/a}]
entries: [{name: e}]
cases:
  - name: planned-without-feature
    source: "planned: T1 step 1"
    entry: e
    request: {method: GET, host: h.example, path: /}
    expect: {served_by: ns/a}
  - name: wrong-step
    source: "planned: T1 step 2"
    feature: step-one
    entry: e
    request: {method: GET, host: h.example, path: /}
    expect: {served_by: ns/a}
    expect_off: {served_by: ns/a}
budgets:
  - {name: b, source: "planned: T1 step 1", case: planned-without-feature, rate: 1, requests: 1, max: 1s, min_success: 1}
`
	c, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range CheckFeatures(c) {
		got = append(got, p.String())
	}
	want := []string{
		"t.yaml:7:5: case \"planned-without-feature\" is planned (planned: T1 step 1) but names no feature: add `feature:` and `expect_off:` (what a target without the step does)",
		`t.yaml:12:5: case "wrong-step" is planned as "planned: T1 step 2" but its feature "step-one" enables "planned: T1 step 1"`,
		`t.yaml:20:5: budget "b" is planned (planned: T1 step 1) but loads case "planned-without-feature", which names no feature`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("CheckFeatures:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

// The default contract: every planned case names its step's feature, and
// with no feature on no case expects Pretrain at the edge, the REST
// gateway or the mesh for plain testwiki traffic.
func TestDefaultContractFeatures(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if ps := CheckFeatures(c); len(ps) > 0 {
		t.Fatalf("CheckFeatures:\n%v", (&Problems{List: ps}).Error())
	}
	if got := strings.Join(c.FeatureNames(), ","); got != "edge-diversion,rest-diversion,mesh-split" {
		t.Errorf("features %q", got)
	}
	planned, featured := 0, 0
	for _, cs := range c.Cases {
		if cs.Planned() {
			planned++
		}
		if cs.Feature != "" {
			featured++
		}
	}
	if planned != 25 || featured != 25 {
		t.Errorf("%d planned cases, %d feature cases; want 25 and 25", planned, featured)
	}
	off, err := c.ForFeatures(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, cs := range off.Cases {
		if cs.Feature == "" || cs.Entry == EntryIngress {
			continue
		}
		if strings.HasPrefix(cs.Expect.ServedBy, "mw-pretrain/") && cs.Request.Host == "test.wikipedia.org" &&
			!strings.Contains(xwdHeader(cs), "k8s-mw-pretrain") {
			t.Errorf("case %q expects %q with every feature off", cs.Name, cs.Expect.ServedBy)
		}
	}
}
