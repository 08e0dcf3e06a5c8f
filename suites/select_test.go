package suites_test

import (
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/suites"
)

// Select must pick what Ginkgo will run, so preflight dials exactly the
// entry points a filtered run uses.
func TestSelect(t *testing.T) {
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	count := func(filter string, focus ...string) int {
		t.Helper()
		cases, err := suites.Select(c, filter, focus)
		if err != nil {
			t.Fatalf("Select(%q, %q): %v", filter, focus, err)
		}
		return len(cases)
	}
	if n := count(""); n != len(c.Cases) {
		t.Errorf("no filter: want all %d cases, got %d", len(c.Cases), n)
	}
	mesh := 0
	for _, cs := range c.Cases {
		if contract.Area(cs) == "mesh" {
			mesh++
		}
	}
	if n := count("mesh"); n != mesh || n == 0 {
		t.Errorf("area label mesh: want %d cases, got %d", mesh, n)
	}
	if n := count("entry-mesh-mw-api-int && negative"); n == 0 || n >= mesh {
		t.Errorf("entry label and negative: want some but not all mesh cases, got %d of %d", n, mesh)
	}
	if n := count("latency"); n != 0 {
		t.Errorf("latency selects budgets, not cases: got %d cases", n)
	}
	if n := count("", "^no such spec$"); n != 0 {
		t.Errorf("focus matching nothing: got %d cases", n)
	}
	if n := count("", "ingress-xwd-pretrain$"); n != 1 {
		t.Errorf("focus on one case name: got %d cases", n)
	}
	if n := count("", "service mesh"); n != mesh {
		t.Errorf("focus on the mesh area's title: want %d, got %d", mesh, n)
	}
	for _, bad := range [][2]string{{"(mesh", ""}, {"", "("}} {
		if _, err := suites.Select(c, bad[0], []string{bad[1]}); err == nil {
			t.Errorf("Select(%q, %q): want an error", bad[0], bad[1])
		}
	}
}
