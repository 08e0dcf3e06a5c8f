package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/coverage"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/routing"
)

func coverageReport(min float64) Report {
	rep := Report{Cases: sampleVerdicts()}
	rep.Coverage = &RouteCoverage{Min: min, Report: coverage.Report{Routes: []coverage.Route{
		{Route: istio.RouteRef{VirtualService: "ns/vs", Index: 0, Name: "debug", Pos: routing.Position{File: "in.yaml", Line: 10, Column: 5}}, Cases: []string{"a"}},
		{Route: istio.RouteRef{VirtualService: "ns/vs", Index: 1, Name: "main", Pos: routing.Position{File: "in.yaml", Line: 20, Column: 5}}},
	}}}
	return rep
}

// Every format lists the uncovered route with where it is written, and a
// shortfall under the minimum is a failure in JUnit.
func TestCoverageInEveryFormat(t *testing.T) {
	for _, tc := range []struct {
		min        float64
		junitFails int
	}{{0, 0}, {50, 0}, {100, 1}} {
		rep := coverageReport(tc.min)
		var table bytes.Buffer
		if err := rep.WriteTable(&table, false); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(table.String(), "route coverage: 1 of 2 routes (50.0%)") || !strings.Contains(table.String(), "UNCOVERED ns/vs http[1] (main) (in.yaml:20:5)") {
			t.Errorf("min %g: table lacks the coverage:\n%s", tc.min, table.String())
		}
		if tc.min == 100 && !strings.Contains(table.String(), "minimum 100%: FAILED") {
			t.Errorf("table does not say the minimum failed:\n%s", table.String())
		}
		var js bytes.Buffer
		if err := rep.WriteJSON(&js); err != nil {
			t.Fatal(err)
		}
		var doc JSONReport
		if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		rc := doc.RouteCoverage
		if rc == nil || rc.Covered != 1 || rc.Total != 2 || rc.Failed != (tc.min == 100) || rc.Routes[1].Pos != "in.yaml:20:5" || len(rc.Routes[1].Cases) != 0 {
			t.Errorf("min %g: routeCoverage %+v", tc.min, rc)
		}
		var ju bytes.Buffer
		if err := rep.WriteJUnit(&ju, "pc"); err != nil {
			t.Fatal(err)
		}
		var suites JUnitSuites
		if err := xml.Unmarshal(ju.Bytes(), &suites); err != nil {
			t.Fatal(err)
		}
		routes := suites.Suites[len(suites.Suites)-1]
		if routes.Name != "pc.routes" || routes.Tests != 2 || routes.Failures != tc.junitFails {
			t.Errorf("min %g: JUnit routes suite %q tests %d failures %d, want pc.routes 2 %d", tc.min, routes.Name, routes.Tests, routes.Failures, tc.junitFails)
		}
		if !strings.Contains(ju.String(), "uncovered: no case took this route (in.yaml:20:5)") {
			t.Errorf("JUnit lacks the uncovered route's position")
		}
	}
}

func TestNoCoverageNoSection(t *testing.T) {
	rep := Report{Cases: sampleVerdicts()}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(js.String(), "routeCoverage") {
		t.Error("a run without a routing input has a routeCoverage section")
	}
}
