package cluster

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/faults"
)

// The kind replica makes exactly the faults the catalogue
// (fixtures/faults.yaml) lists for kind, each breaking the catalogue's
// cases, and each has a witness.
func TestFaultCatalogue(t *testing.T) {
	fs, err := LoadFaults()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := faults.Default()
	if err != nil {
		t.Fatal(err)
	}
	ms, err := configtarget.Mutations()
	if err != nil {
		t.Fatal(err)
	}
	want := faults.Names(cat.For(faults.Kind))
	for _, m := range ms {
		want = append(want, m.Name)
	}
	if got := names(fs); !slices.Equal(got, want) {
		t.Errorf("faults %q, want the catalogue's then the mutations' %q", got, want)
	}
	mutations := 0
	if len(fs) < 6 {
		t.Fatalf("expected at least 6 faults, got %d", len(fs))
	}
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	w, err := faultWitnesses()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range fs {
		if seen[f.Name] {
			t.Errorf("fault %q listed twice", f.Name)
		}
		seen[f.Name] = true
		if len(f.Breaks) == 0 {
			t.Errorf("fault %q breaks nothing: it proves nothing", f.Name)
		}
		if f.mutation != nil {
			mutations++
			if want := slices.Sorted(slices.Values(f.mutation.Fails)); !slices.Equal(f.Breaks, want) {
				t.Errorf("mutation %q: breaks %q, want its fails %q", f.Name, f.Breaks, want)
			}
		} else if cf, _ := cat.Fault(f.Name); !slices.Equal(f.Breaks, cf.Failures()) || f.Description != cf.Description {
			t.Errorf("fault %q: breaks %q (%q), want the catalogue's %q (%q)", f.Name, f.Breaks, f.Description, cf.Failures(), cf.Description)
		}
		for _, b := range f.Breaks {
			if c.Case(b) == nil {
				t.Errorf("fault %q: case %q is not in the default contract", f.Name, b)
			}
		}
		// A mutation's witness is the route its mutated model predicts.
		if w.Case(f.Name) == nil && f.mutation == nil {
			t.Errorf("fault %q has no witness in faults.yaml", f.Name)
		}
		if (f.mutation == nil) == (f.config == nil) {
			t.Errorf("fault %q: want exactly one of a config edit and a routing input mutation", f.Name)
		}
		if f.made == "" {
			t.Errorf("fault %q does not say how it is made", f.Name)
		}
		if _, err := FaultByName(f.Name); err != nil {
			t.Error(err)
		}
	}
	if len(w.Cases) != len(fs)-mutations {
		t.Errorf("expected one witness per config-edit fault, got %d witnesses for %d faults", len(w.Cases), len(fs)-mutations)
	}
	if mutations != len(ms) || mutations == 0 {
		t.Errorf("expected every mutation (%d) made on kind, got %d", len(ms), mutations)
	}
	if _, err := FaultByName("nope"); err == nil || !strings.Contains(err.Error(), "debug-route-removed") {
		t.Errorf("expected an unknown fault refused with the known ones listed, got %v", err)
	}
}

func names(fs []Fault) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

// Every config edit of the faults applies to the fixtures as they are now
// (exactly the expected number of times) and changes them.
func TestFaultEditsApplyToFixtures(t *testing.T) {
	fs, err := LoadFaults()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range fs {
		if f.config == nil {
			continue
		}
		n++
		b, err := os.ReadFile(filepath.Join(fixtures(t), "configmaps", f.config.path()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := applyEdits(string(b), f.config.edits)
		if err != nil {
			t.Errorf("fault %s: %v", f.Name, err)
			continue
		}
		if out == string(b) {
			t.Errorf("fault %s: edits changed nothing", f.Name)
		}
		if len(f.restarts) == 0 {
			t.Errorf("fault %s edits a config but restarts nothing: no proxy would see it", f.Name)
		}
	}
	if n < 6 {
		t.Errorf("expected at least 6 config-edit faults, got %d", n)
	}
	if _, err := applyEdits("a a", []edit{replace("a", "b")}); err == nil {
		t.Error("expected an edit matching twice refused")
	}
	if _, err := applyEdits("a", []edit{replace("c", "b")}); err == nil {
		t.Error("expected an edit matching nothing refused")
	}
}

// The faults restart proxies the manifests define.
func TestFaultDeploymentsExist(t *testing.T) {
	b, err := loadBundle(fixtures(t), ProfileAirgap, IngressGateway, testImages)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []deploymentRef{edge, restGateway, meshClient} {
		found := false
		for _, o := range b.deployments() {
			found = found || (o.u.GetNamespace() == d.namespace && o.u.GetName() == d.name)
		}
		if !found {
			t.Errorf("deployment %s restarted by faults is not in the manifests", d)
		}
	}
}
