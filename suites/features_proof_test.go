package suites_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/replicatest"
)

// featureCases lists, for each feature, the cases whose expectation with
// the feature on differs from the one with it off: exactly those fail when
// the replica's state and the run's declared features disagree. (The
// feature's other cases, e.g. rest-enwiki-default, expect the same in both
// states.)
var featureCases = map[string][]string{
	contract.FeatureEdgeDiversion: {
		"edge-runsinglejob-not-jobrunner", "edge-testwiki-api", "edge-testwiki-index-php", "edge-testwiki-main-page",
	},
	contract.FeatureRESTDiversion: {
		"edge-rest-testwiki", "edge-rest-testwiki-xwd-mwdebug", "rest-testwiki", "rest-testwiki-php-engine-cookie",
		"rest-testwiki-xwd-mwdebug", "rest-testwiki-xwd-pretrain",
	},
	contract.FeatureMeshSplit: {
		"mesh-api-int-testwiki", "mesh-api-int-testwiki-post", "mesh-jobrunner-testwiki",
		"mesh-jobrunner-testwiki-health-check",
	},
}

// TestFeaturesAssertTheDeclaredState proves, for each feature, that the
// cases pass in the state the replica declares, on or off, and fail when
// the run declares the other state: the replica with the feature off run
// as if it were on, and the replica with it on run as if it were off, each
// fail exactly the feature's cases. The replica with every feature off
// (production today) passes with none declared.
func TestFeaturesAssertTheDeclaredState(t *testing.T) {
	if os.Getenv(envTarget) != "" {
		t.Skip("child run of TestSuites: not a proof run")
	}
	if testing.Short() {
		t.Skip("SKIPPED: feature proofs run the suites in child processes; run without -short")
	}
	t.Parallel()
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.FeatureNames(); !slices.Equal(got, replicatest.Features) {
		t.Fatalf("the contract's features %q are not the replica's %q", got, replicatest.Features)
	}
	type run struct {
		name, spec, features string
		want                 []string
	}
	var runs []run
	for _, f := range replicatest.Features {
		others := strings.Join(slices.DeleteFunc(slices.Clone(replicatest.Features), func(s string) bool { return s == f }), ",")
		runs = append(runs,
			run{f + " off, declared off", "replicatest:" + f + "-off", "", nil},
			run{f + " off, declared on", "replicatest:" + f + "-off", "all", featureCases[f]},
			run{f + " on, declared off", "replicatest", others, featureCases[f]},
		)
	}
	runs = append(runs, run{"production today: every feature off, none declared",
		"replicatest:edge-diversion-off,rest-diversion-off,mesh-split-off", "none", nil})
	children := make([]*suitesChild, len(runs))
	for i, r := range runs {
		var env []string
		if r.features != "" {
			env = append(env, envFeatures+"="+r.features)
		}
		children[i] = startSuitesChild(t, r.spec, env...)
	}
	for i, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			got, out := children[i].failed(t)
			want := slices.Sorted(slices.Values(r.want))
			if !slices.Equal(got, want) {
				t.Errorf("%s (features %q): failed cases differ\n  missing (should fail, passed): %q\n  unexpected (failed, should pass): %q\n%s",
					r.spec, r.features, minus(want, got), minus(got, want), tail(out, 20))
			}
		})
	}
}
