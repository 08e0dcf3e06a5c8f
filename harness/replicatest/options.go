package replicatest

import (
	"fmt"
	"strings"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
)

// Features are the rollout steps the replica implements, each on unless
// switched off (WithFeaturesOff): with one off, the replica routes that
// part as production does today.
var Features = []string{contract.FeatureEdgeDiversion, contract.FeatureRESTDiversion, contract.FeatureMeshSplit}

// Option tunes a replica started with StartWith.
type Option func(*options) error

type options struct {
	faults []Fault
	off    map[string]bool
}

// WithFaults starts the replica with these faults.
func WithFaults(faults ...Fault) Option {
	return func(o *options) error {
		o.faults = append(o.faults, faults...)
		return nil
	}
}

// WithFeaturesOff switches rollout steps off: edge-diversion off, the edge
// sends plain testwiki traffic where it sends every other wiki's (mw-web,
// mw-api-ext for /w/api.php); rest-diversion off, the edge sends
// /w/rest.php straight to mw-api-ext and the REST gateway has no Host
// diversion; mesh-split off, the mesh listeners have no testwiki split.
// The replica's target then declares only the others on.
func WithFeaturesOff(names ...string) Option {
	return func(o *options) error {
		for _, n := range names {
			if !contains(Features, n) {
				return fmt.Errorf("switch feature %q off: unknown feature (want %s)", n, strings.Join(Features, ", "))
			}
			o.off[n] = true
		}
		return nil
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ParseSpec reads the replica part of a target spec, as PRETRAIN_TARGET
// gives it after "replicatest:": faults and "<feature>-off" switches,
// separated by commas ("edge-diversion-off,xwd-ignored").
func ParseSpec(spec string) ([]Option, error) {
	var faults []Fault
	var off []string
	for _, tok := range strings.Split(spec, ",") {
		tok = strings.TrimSpace(tok)
		if name, ok := strings.CutSuffix(tok, "-off"); ok && contains(Features, name) {
			off = append(off, name)
			continue
		}
		faults = append(faults, Fault(tok))
	}
	if _, err := newFaultSet(faults); err != nil {
		return nil, fmt.Errorf("parse replica spec %q: %w", spec, err)
	}
	return []Option{WithFaults(faults...), WithFeaturesOff(off...)}, nil
}
