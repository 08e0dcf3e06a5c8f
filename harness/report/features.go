package report

import (
	"strings"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
)

// Features are the features (rollout steps) of a run: those its target
// declared (or --features named) on, and the contract's others, off.
type Features struct {
	On  []string `json:"on"`
	Off []string `json:"off"`
}

// FeaturesOf are the features of a run over c, a contract resolved with
// ForFeatures; nil when c was not resolved or declares no feature.
func FeaturesOf(c *contract.Contract) *Features {
	if c == nil || !c.Resolved() || len(c.Features) == 0 {
		return nil
	}
	f := &Features{On: []string{}, Off: []string{}}
	on := map[string]bool{}
	for _, n := range c.FeaturesOn {
		on[n] = true
	}
	for _, n := range c.FeatureNames() {
		if on[n] {
			f.On = append(f.On, n)
		} else {
			f.Off = append(f.Off, n)
		}
	}
	return f
}

// Line says the features in one line: "features: edge-diversion on,
// rest-diversion off, mesh-split off" in the contract's order.
func (f *Features) Line() string {
	if f == nil {
		return ""
	}
	parts := make([]string, 0, len(f.On)+len(f.Off))
	for _, n := range f.On {
		parts = append(parts, n+" on")
	}
	for _, n := range f.Off {
		parts = append(parts, n+" off")
	}
	if len(parts) == 0 {
		return "features: none declared"
	}
	return "features: " + strings.Join(parts, ", ")
}
