package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
)

const featureContract = `version: 1
features: [{name: step-one, source: "planned: T1 step 1"}, {name: step-two, source: "planned: T1 step 2"}]
backends: [{name: ns/on}, {name: ns/off}]
entries: [{name: e}]
cases:
  - name: stepped
    source: "planned: T1 step 1"
    feature: step-one
    entry: e
    request: {method: GET, host: h.example, path: /x}
    expect: {served_by: ns/on}
    expect_off: {served_by: ns/off}
`

// featureCase is a feature case resolved with its feature on or off.
func featureCase(t *testing.T, on bool) *contract.Case {
	t.Helper()
	c, err := contract.Parse("f.yaml", []byte(featureContract))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if on {
		names = []string{"step-one"}
	}
	r, err := c.ForFeatures(names)
	if err != nil {
		t.Fatal(err)
	}
	return r.Cases[0]
}

// The run's features are named in every format: the table's first line
// and the case's EXPECTED cell, JSON, JUnit properties.
func TestFeaturesInEveryFormat(t *testing.T) {
	c, err := contract.Parse("f.yaml", []byte(featureContract))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.ForFeatures([]string{"step-two"})
	if err != nil {
		t.Fatal(err)
	}
	rep := Report{Cases: []check.Verdict{{Case: r.Cases[0], Outcome: check.Passed}}, Features: FeaturesOf(r)}
	if FeaturesOf(c) != nil {
		t.Errorf("FeaturesOf an unresolved contract: want nil")
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table, false); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(table.String(), "features: step-two on, step-one off\n") ||
		!strings.Contains(table.String(), "ns/off 2xx (step-one off)") {
		t.Errorf("table:\n%s", table.String())
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc JSONReport
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Features == nil || strings.Join(doc.Features.On, ",") != "step-two" || strings.Join(doc.Features.Off, ",") != "step-one" ||
		doc.Cases[0].Feature != "step-one" || doc.Cases[0].FeatureState != "off" || doc.Cases[0].Expected.ServedBy != "ns/off" {
		t.Errorf("json: %s", js.String())
	}

	var junit bytes.Buffer
	if err := rep.WriteJUnit(&junit, "s"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<property name="features.on" value="step-two"></property>`, `<property name="features.off" value="step-one"></property>`} {
		if !strings.Contains(junit.String(), want) {
			t.Errorf("junit lacks %s:\n%s", want, junit.String())
		}
	}

	// Without features: no line, no properties, no JSON key.
	rep.Features = nil
	table.Reset()
	junit.Reset()
	js.Reset()
	_ = rep.WriteTable(&table, false)
	_ = rep.WriteJUnit(&junit, "s")
	_ = rep.WriteJSON(&js)
	if strings.Contains(table.String(), "features:") || strings.Contains(junit.String(), "properties") || strings.Contains(js.String(), `"features"`) {
		t.Errorf("a report without features names some")
	}
	if (&Features{On: []string{}, Off: []string{}}).Line() != "features: none declared" {
		t.Errorf("empty features line")
	}
}
