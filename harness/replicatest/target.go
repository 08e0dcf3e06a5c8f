package replicatest

import "gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"

// replicaTarget is a static target named after the replica and its faults
// ("replicatest+xwd-ignored") rather than "static:...".
type replicaTarget struct {
	*target.Static
	name string
}

func (t replicaTarget) Name() string { return t.name }

func newStaticTarget(name string, entries map[string]target.Endpoint) target.Target {
	return replicaTarget{Static: target.NewStatic(name, entries, false), name: name}
}
