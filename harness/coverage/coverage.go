// Package coverage says which routes of the routing input the contract's
// cases took, as Envoy's router check tool does for a route table: a route
// no case takes is routing nobody checked, and a run can be made to fail
// under a threshold.
package coverage

import (
	"fmt"
	"sort"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
)

// RouteHeader is the response header in which a config-driven target names
// the route it took (harness/configtarget sets it).
const RouteHeader = probe.RouteHeader

// Route is one route of the input and the cases that took it.
type Route struct {
	Route istio.RouteRef `json:"route"`
	Cases []string       `json:"cases"` // sorted; empty: uncovered
}

// Covered reports whether a case took the route.
func (r Route) Covered() bool { return len(r.Cases) > 0 }

// Report is the route coverage of one run.
type Report struct {
	Routes []Route `json:"routes"` // in input order
}

// Compute matches every verdict's attempts (the deciding one and its
// history) to the routes they took.
func Compute(routes []istio.RouteRef, verdicts []check.Verdict) Report {
	byName := make(map[string]int, len(routes))
	rep := Report{Routes: make([]Route, len(routes))}
	for i, r := range routes {
		byName[r.String()] = i
		rep.Routes[i] = Route{Route: r}
	}
	seen := map[[2]string]bool{}
	for _, v := range verdicts {
		if v.Case == nil {
			continue
		}
		for _, res := range append([]probe.Result{v.Evidence}, v.History...) {
			name := res.Header(RouteHeader)
			if len(name) == 0 {
				continue
			}
			i, ok := byName[name[0]]
			if !ok || seen[[2]string{name[0], v.Case.Name}] {
				continue
			}
			seen[[2]string{name[0], v.Case.Name}] = true
			rep.Routes[i].Cases = append(rep.Routes[i].Cases, v.Case.Name)
		}
	}
	for i := range rep.Routes {
		sort.Strings(rep.Routes[i].Cases)
	}
	return rep
}

// Counts are the covered and total routes.
func (r Report) Counts() (covered, total int) {
	for _, rt := range r.Routes {
		if rt.Covered() {
			covered++
		}
	}
	return covered, len(r.Routes)
}

// Percent is the share of routes covered, 0..100; 100 when there are none.
func (r Report) Percent() float64 {
	covered, total := r.Counts()
	if total == 0 {
		return 100
	}
	return 100 * float64(covered) / float64(total)
}

// Uncovered lists the routes no case took.
func (r Report) Uncovered() []Route {
	var out []Route
	for _, rt := range r.Routes {
		if !rt.Covered() {
			out = append(out, rt)
		}
	}
	return out
}

// Line is the one-line summary: "route coverage: 3 of 4 routes (75.0%)".
func (r Report) Line() string {
	covered, total := r.Counts()
	return fmt.Sprintf("route coverage: %d of %d routes (%.1f%%)", covered, total, r.Percent())
}

// Lines renders every route: the cases that took it, or "UNCOVERED" with
// where the route is written.
func (r Report) Lines() []string {
	out := []string{r.Line()}
	for _, rt := range r.Routes {
		if rt.Covered() {
			out = append(out, fmt.Sprintf("  %s: %d cases", rt.Route, len(rt.Cases)))
		} else {
			out = append(out, fmt.Sprintf("  %s: UNCOVERED (%s)", rt.Route, rt.Route.Pos))
		}
	}
	return out
}

// Check fails when the coverage is under min percent.
func (r Report) Check(min float64) error {
	if r.Percent()+1e-9 >= min {
		return nil
	}
	var list string
	for _, rt := range r.Uncovered() {
		list += fmt.Sprintf("\n  %s (%s)", rt.Route, rt.Route.Pos)
	}
	return fmt.Errorf("route coverage %.1f%% is under --min-route-coverage %g%%; uncovered:%s", r.Percent(), min, list)
}
