package coverage

import (
	"net/http"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/routing"
)

func took(route string) probe.Result {
	return probe.Result{Headers: http.Header{RouteHeader: {route}}}
}

func TestComputeCountsEachCaseOncePerRoute(t *testing.T) {
	debug := istio.RouteRef{VirtualService: "ns/vs", Index: 0, Name: "debug", Pos: routing.Position{File: "in.yaml", Line: 12, Column: 5}}
	main := istio.RouteRef{VirtualService: "ns/vs", Index: 1, Name: "main", Pos: routing.Position{File: "in.yaml", Line: 20, Column: 5}}
	jobs := istio.RouteRef{VirtualService: "ns/jobs", Index: 0, Pos: routing.Position{File: "in.yaml", Line: 40, Column: 5}}
	a, b := &contract.Case{Name: "a"}, &contract.Case{Name: "b"}
	rep := Compute([]istio.RouteRef{debug, main, jobs}, []check.Verdict{
		{Case: a, Evidence: took(main.String()), History: []probe.Result{took(debug.String()), took(main.String())}},
		{Case: b, Evidence: took("none: no route")},
	})
	if got := rep.Routes[0].Cases; len(got) != 1 || got[0] != "a" {
		t.Errorf("debug route cases %v, want [a] (from the history)", got)
	}
	if got := rep.Routes[1].Cases; len(got) != 1 {
		t.Errorf("main route cases %v, want a once", got)
	}
	if c, n := rep.Counts(); c != 2 || n != 3 {
		t.Errorf("counts %d of %d, want 2 of 3", c, n)
	}
	err := rep.Check(100)
	if err == nil || !strings.Contains(err.Error(), "ns/jobs http[0] (in.yaml:40:5)") {
		t.Errorf("Check(100) = %v, want the uncovered route with its position", err)
	}
	if err := rep.Check(66); err != nil {
		t.Errorf("Check(66) = %v, want nil at 66.7%%", err)
	}
	if !strings.Contains(strings.Join(rep.Lines(), "\n"), "UNCOVERED (in.yaml:40:5)") {
		t.Errorf("lines lack the uncovered route:\n%s", strings.Join(rep.Lines(), "\n"))
	}
}

func TestEmptyInputIsFullyCovered(t *testing.T) {
	if p := Compute(nil, nil).Percent(); p != 100 {
		t.Errorf("percent %v, want 100", p)
	}
}
