package contract

import (
	"fmt"
	"sort"
	"strings"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/fixtures"
)

// Default parses the default contract embedded in the binary
// (fixtures/contract/pretrain.yaml).
func Default() (*Contract, error) {
	return Parse(fixtures.ContractPath, fixtures.Contract)
}

// Labels are the labels a case or budget may carry, in documentation order.
var Labels = []string{
	LabelHost, LabelPath, LabelXWD, LabelMesh, LabelREST, LabelJobrunner, LabelEdge, LabelNegative,
}

// ValidLabel reports whether l is one of Labels.
func ValidLabel(l string) bool { return contains(Labels, l) }

// Case returns the case called name, or nil.
func (c *Contract) Case(name string) *Case {
	for _, cs := range c.Cases {
		if cs.Name == name {
			return cs
		}
	}
	return nil
}

// Resolve expands a backend to the identities that satisfy it: itself for
// a plain backend, every (recursively expanded) member for a group, in
// declaration order without duplicates. Unknown names resolve to nil.
func (c *Contract) Resolve(backend string) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(name string)
	walk = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		b, ok := c.Backends[name]
		if !ok {
			return
		}
		if !b.IsGroup() {
			out = append(out, name)
			return
		}
		for _, m := range b.Members {
			walk(m)
		}
	}
	walk(backend)
	return out
}

// Allows reports whether a response served by got satisfies a case that
// expects expected: got is expected itself or one of its group's members.
// An empty or unknown got, or an unknown expected, is never allowed.
func (c *Contract) Allows(expected, got string) bool {
	if got == "" {
		return false
	}
	if _, ok := c.Backends[expected]; !ok {
		return false
	}
	if got == expected {
		return true
	}
	return contains(c.Resolve(expected), got)
}

// BudgetCase returns the case a budget loads: its named case, or the first
// case of its entry that expects a backend.
func (c *Contract) BudgetCase(b *Budget) (*Case, error) {
	if b.Case != "" {
		if cs := c.Case(b.Case); cs != nil {
			return cs, nil
		}
		return nil, fmt.Errorf("resolve budget %q: unknown case %q", b.Name, b.Case)
	}
	for _, cs := range c.Cases {
		if cs.Entry == b.Entry && cs.Expect.ServedBy != "" {
			return cs, nil
		}
	}
	return nil, fmt.Errorf("resolve budget %q: entry %q has no case that expects a backend", b.Name, b.Entry)
}

// Suite areas, derived from a case's entry point.
const (
	AreaEdge      = "edge"
	AreaRouting   = "routing"
	AreaJobrunner = "jobrunner"
	AreaREST      = "rest"
	AreaMesh      = "mesh"
)

// Area is the suite area a case belongs to, from its entry point: edge,
// routing (the main ingress), jobrunner (its gateway and its own web
// server), rest or mesh. An entry the package does not know is its own area.
func Area(c *Case) string {
	switch {
	case c.Entry == EntryEdge:
		return AreaEdge
	case c.Entry == EntryIngress:
		return AreaRouting
	case c.Entry == EntryJobrunnerGateway, c.Entry == EntryJobrunner:
		return AreaJobrunner
	case c.Entry == EntryRESTGateway:
		return AreaREST
	case strings.HasPrefix(c.Entry, "mesh/"):
		return AreaMesh
	}
	return c.Entry
}

// StatusOK reports whether a response status meets the expectation: any
// status when AnyStatus, exactly Status when set, else any 2xx.
func (e Expectation) StatusOK(status int) bool {
	switch {
	case e.AnyStatus:
		return status > 0
	case e.Status != 0:
		return status == e.Status
	}
	return status >= 200 && status <= 299
}

// WantStatus describes the expected status for messages: "404", "any
// status" or "2xx".
func (e Expectation) WantStatus() string {
	switch {
	case e.AnyStatus:
		return "any status"
	case e.Status != 0:
		return fmt.Sprint(e.Status)
	}
	return "2xx"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
