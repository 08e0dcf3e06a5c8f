package replicatest

import "gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"

// replicaTarget is a static target named after the replica and its faults
// ("replicatest+xwd-ignored") rather than "static:...".
// It declares the features the replica has on.
type replicaTarget struct {
	*target.Static
	name     string
	features []string
}

func (t replicaTarget) Name() string { return t.name }

// Features are the features the replica has on (target.FeatureDeclarer).
func (t replicaTarget) Features() []string { return append([]string(nil), t.features...) }

func newStaticTarget(name string, entries map[string]target.Endpoint, features []string) target.Target {
	return replicaTarget{Static: target.NewStatic(name, entries, false), name: name, features: features}
}
