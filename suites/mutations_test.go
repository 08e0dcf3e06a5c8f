package suites_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/mutate"
)

// startConfigTier starts the config tier for PRETRAIN_TARGET "config" or
// "config:MUTATION[,MUTATION]".
func startConfigTier(spec string) (*configtarget.Tier, error) {
	var ms []mutate.Mutation
	if list, ok := strings.CutPrefix(spec, "config:"); ok {
		for _, name := range strings.Split(list, ",") {
			m, err := configtarget.Mutation(name)
			if err != nil {
				return nil, err
			}
			ms = append(ms, m)
		}
	}
	in, err := configtarget.Input{Mutations: ms}.Read()
	if err != nil {
		return nil, err
	}
	model, err := istio.New(in)
	if err != nil {
		return nil, fmt.Errorf("model the routing input: %w", err)
	}
	return configtarget.Start(context.Background(), model)
}

// TestMutationsFailTheRightCases runs the ingress cases (TestSuites, in a
// child process) against the config tier with each mutation of the example
// input applied, and compares the failed cases with the mutation's fails
// at the entries the tier serves (the others, the edge's, REST gateway's
// and mesh's cases that cross the ingress gateway, fail on the kind
// replica: suites/e2e).
func TestMutationsFailTheRightCases(t *testing.T) {
	if os.Getenv(envTarget) != "" {
		t.Skip("child run of TestSuites: not a proof run")
	}
	t.Parallel()
	ms, err := configtarget.Mutations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("the mutation catalogue is empty")
	}
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	children := make([]*suitesChild, len(ms))
	for i, m := range ms {
		children[i] = startSuitesChild(t, "config:"+m.Name)
	}
	for i, m := range ms {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			got, out := children[i].failed(t)
			if len(got) == 0 {
				t.Fatalf("mutation %q: no case failed: the suite cannot see this wrong routing\n%s", m.Name, tail(out, 40))
			}
			want := configtarget.Failures(m, c)
			if !slices.Equal(got, want) {
				t.Errorf("mutation %q (%s:%d): failed cases differ\n  missing (should fail, passed): %q\n  unexpected (failed, should pass): %q",
					m.Name, "fixtures/mutations/routes.yaml", m.Line, minus(want, got), minus(got, want))
			}
		})
	}
}
