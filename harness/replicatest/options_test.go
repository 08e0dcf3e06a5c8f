package replicatest

import (
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

func TestFeaturesOff(t *testing.T) {
	opts, err := ParseSpec("mesh-split-off,xwd-ignored")
	if err != nil {
		t.Fatal(err)
	}
	r, err := StartWith(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got := strings.Join(r.Features(), ","); got != "edge-diversion,rest-diversion" {
		t.Errorf("Features = %q", got)
	}
	d, ok := r.Target().(target.FeatureDeclarer)
	if !ok || strings.Join(d.Features(), ",") != "edge-diversion,rest-diversion" {
		t.Errorf("the target does not declare the replica's features")
	}
	if got := r.Target().Name(); got != "replicatest+mesh-split-off+xwd-ignored" {
		t.Errorf("Name = %q", got)
	}
	if _, err := ParseSpec("mesh-splitt-off"); err == nil || !strings.Contains(err.Error(), `enable fault "mesh-splitt-off": unknown fault`) {
		t.Errorf("ParseSpec of a typo: %v", err)
	}
	if _, err := StartWith(WithFeaturesOff("mesh")); err == nil || !strings.Contains(err.Error(), `switch feature "mesh" off: unknown feature`) {
		t.Errorf("StartWith(WithFeaturesOff(mesh)): %v", err)
	}
}
