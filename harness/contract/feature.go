package contract

import (
	"fmt"
	"strings"
)

// FeatureNames are the contract's features, in file order.
func (c *Contract) FeatureNames() []string {
	out := make([]string, 0, len(c.Features))
	for _, f := range c.Features {
		out = append(out, f.Name)
	}
	return out
}

// Feature returns the feature called name, or nil.
func (c *Contract) Feature(name string) *Feature {
	for _, f := range c.Features {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// ParseFeatureList reads a list of features as --features and
// PRETRAIN_FEATURES give it: "none" (no feature on), "all" (every feature
// of the contract on) or comma-separated feature names. Every unknown name
// is reported at once. The result is in the contract's order.
func (c *Contract) ParseFeatureList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "none":
		return []string{}, nil
	case "all":
		return c.FeatureNames(), nil
	case "":
		return nil, fmt.Errorf(`parse features %q: want "none", "all" or feature names separated by commas (%s)`, s, c.knownFeatures())
	}
	on := map[string]bool{}
	var unknown []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if c.Feature(name) == nil {
			unknown = append(unknown, fmt.Sprintf("%q", name))
			continue
		}
		on[name] = true
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("parse features %q: unknown feature %s (want %s, \"none\" or \"all\")",
			s, strings.Join(unknown, ", "), c.knownFeatures())
	}
	out := []string{}
	for _, f := range c.Features {
		if on[f.Name] {
			out = append(out, f.Name)
		}
	}
	return out, nil
}

func (c *Contract) knownFeatures() string {
	if len(c.Features) == 0 {
		return "the contract declares none"
	}
	return strings.Join(c.FeatureNames(), ", ")
}

// ForFeatures returns a copy of the contract for a run whose target has
// exactly the features on enabled: every feature case is a copy whose
// Expect is its expectation in its feature's state (ExpectOn or ExpectOff)
// and whose FeatureOn says which; other cases and every budget are shared.
// An unknown feature name is an error. A feature case is never skipped: it
// asserts the state the target declares.
func (c *Contract) ForFeatures(on []string) (*Contract, error) {
	set := map[string]bool{}
	var unknown []string
	for _, name := range on {
		if c.Feature(name) == nil {
			unknown = append(unknown, fmt.Sprintf("%q", name))
			continue
		}
		set[name] = true
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("resolve features: unknown feature %s (want %s)", strings.Join(unknown, ", "), c.knownFeatures())
	}
	cp := *c
	cp.resolved = true
	cp.FeaturesOn = []string{}
	for _, f := range c.Features {
		if set[f.Name] {
			cp.FeaturesOn = append(cp.FeaturesOn, f.Name)
		}
	}
	cp.Cases = make([]*Case, len(c.Cases))
	for i, cs := range c.Cases {
		if cs.Feature == "" {
			cp.Cases[i] = cs
			continue
		}
		fc := *cs
		fc.FeatureOn = set[cs.Feature]
		fc.resolved = true
		if fc.FeatureOn {
			fc.Expect = *cs.ExpectOn
		} else {
			fc.Expect = *cs.ExpectOff
		}
		cp.Cases[i] = &fc
	}
	return &cp, nil
}

// Resolved reports whether the contract came from ForFeatures (its
// feature cases expect their feature's state in the run).
func (c *Contract) Resolved() bool { return c.resolved }

// FeatureState says a feature case's state for reports: "edge-diversion
// on", "edge-diversion off"; "" for a case without a feature or in a
// contract not resolved for a run.
func (cs *Case) FeatureState() string {
	if cs.Feature == "" || !cs.resolved {
		return ""
	}
	if cs.FeatureOn {
		return cs.Feature + " on"
	}
	return cs.Feature + " off"
}

// CheckFeatures reports what would make a run assert the wrong state of a
// rollout step: a planned case or budget that names no feature (it would
// expect the planned behaviour from every target, production included), a
// planned case whose feature enables another step, a planned budget whose
// case has no feature. `contract lint` fails on these.
func CheckFeatures(c *Contract) []Problem {
	var ps []Problem
	for _, cs := range c.Cases {
		if !cs.Source.Planned() {
			continue
		}
		if cs.Feature == "" {
			ps = append(ps, Problem{Pos: cs.Pos, Msg: fmt.Sprintf(
				"case %q is planned (%s) but names no feature: add `feature:` and `expect_off:` (what a target without the step does)",
				cs.Name, cs.Source)})
			continue
		}
		if f := c.Feature(cs.Feature); f != nil && f.Source != cs.Source {
			ps = append(ps, Problem{Pos: cs.Pos, Msg: fmt.Sprintf(
				"case %q is planned as %q but its feature %q enables %q", cs.Name, cs.Source.String(), f.Name, f.Source.String())})
		}
	}
	for _, b := range c.Budgets {
		if !b.Source.Planned() {
			continue
		}
		if cs, err := c.BudgetCase(b); err == nil && cs.Feature == "" {
			ps = append(ps, Problem{Pos: b.Pos, Msg: fmt.Sprintf(
				"budget %q is planned (%s) but loads case %q, which names no feature", b.Name, b.Source, cs.Name)})
		}
	}
	sortProblems(ps)
	return ps
}
