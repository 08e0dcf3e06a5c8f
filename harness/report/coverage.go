package report

import (
	"fmt"
	"strings"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/coverage"
)

// RouteCoverage is the route coverage of a run on a config-driven target:
// every route of the routing input and the cases that took it, and the
// threshold the run was held to.
type RouteCoverage struct {
	coverage.Report
	// Min is --min-route-coverage (percent); 0 holds the run to nothing.
	Min float64
}

// Failed reports whether the coverage is under Min.
func (c RouteCoverage) Failed() bool { return c.Check(c.Min) != nil }

// JSONCoverage is routeCoverage in report.json.
type JSONCoverage struct {
	Covered int                 `json:"covered"`
	Total   int                 `json:"total"`
	Percent float64             `json:"percent"`
	Min     float64             `json:"min"`
	Failed  bool                `json:"failed"`
	Routes  []JSONCoverageRoute `json:"routes"`
}

// JSONCoverageRoute is one route and the cases that took it.
type JSONCoverageRoute struct {
	Route string   `json:"route"` // "namespace/vs http[i] (name)"
	Pos   string   `json:"pos"`   // file:line:col of the route in the input
	Cases []string `json:"cases"` // empty: uncovered
}

func (c RouteCoverage) json() *JSONCoverage {
	covered, total := c.Counts()
	out := &JSONCoverage{Covered: covered, Total: total, Percent: c.Percent(), Min: c.Min, Failed: c.Failed(), Routes: []JSONCoverageRoute{}}
	for _, r := range c.Routes {
		cases := r.Cases
		if cases == nil {
			cases = []string{}
		}
		out.Routes = append(out.Routes, JSONCoverageRoute{Route: r.Route.String(), Pos: r.Route.Pos.String(), Cases: cases})
	}
	return out
}

// tableLines are the coverage lines under the routing matrix: the summary,
// then each uncovered route with where it is written.
func (c RouteCoverage) tableLines() []string {
	lines := []string{"", c.Line()}
	if c.Min > 0 {
		verdict := "held"
		if c.Failed() {
			verdict = "FAILED"
		}
		lines[1] += fmt.Sprintf(", minimum %g%%: %s", c.Min, verdict)
	}
	for _, r := range c.Uncovered() {
		lines = append(lines, fmt.Sprintf("  UNCOVERED %s (%s)", r.Route, r.Route.Pos))
	}
	return lines
}

// junitSuite is one testcase per route: covered ones pass and list their
// cases; uncovered ones fail when the run is held to a minimum it misses,
// else are skipped; both name the route's position.
func (c RouteCoverage) junitSuite(suiteName string) JUnitSuite {
	s := JUnitSuite{Name: suiteName + ".routes", Cases: []JUnitCase{}}
	failed := c.Failed()
	for _, r := range c.Routes {
		tc := JUnitCase{Name: "route " + r.Route.String(), Classname: suiteName + ".routes", Time: seconds(0)}
		msg := fmt.Sprintf("uncovered: no case took this route (%s)", r.Route.Pos)
		switch {
		case r.Covered():
			tc.SystemOut = &JUnitText{Text: xmlSafe("taken by " + strings.Join(r.Cases, ", "))}
		case failed:
			s.Failures++
			tc.Failure = &JUnitFailure{Message: oneLine(msg), Type: "uncovered", Text: xmlSafe(c.Line() + fmt.Sprintf(", under the minimum %g%%", c.Min))}
		default:
			s.Skipped++
			tc.Skipped = &JUnitSkipped{Message: oneLine(msg)}
		}
		s.Tests++
		s.Cases = append(s.Cases, tc)
	}
	s.Time = seconds(0)
	return s
}
