package cluster

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/faults"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
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

// Each config fault's proxy is a Deployment of the manifests that mounts
// the ConfigMap the fault edits, and a Service selects its pods: its
// variant runs the edit and gets the traffic.
func TestFaultProxiesMountTheirConfig(t *testing.T) {
	b, err := loadBundle(fixtures(t), ProfileAirgap, IngressGateway, testImages)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Faults() {
		if f.config == nil {
			continue
		}
		var d *appsv1.Deployment
		for _, o := range b.deployments() {
			if o.u.GetNamespace() == f.proxy.namespace && o.u.GetName() == f.proxy.name {
				d = &appsv1.Deployment{}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.u.Object, d); err != nil {
					t.Fatal(err)
				}
			}
		}
		if d == nil {
			t.Errorf("fault %s: its proxy %s is not in the manifests", f.Name, f.proxy)
			continue
		}
		if f.config.namespace != f.proxy.namespace {
			t.Errorf("fault %s edits a ConfigMap of %s, its proxy runs in %s", f.Name, f.config.namespace, f.proxy.namespace)
		}
		mounted := false
		for _, v := range d.Spec.Template.Spec.Volumes {
			mounted = mounted || (v.ConfigMap != nil && v.ConfigMap.Name == f.config.name)
		}
		if !mounted {
			t.Errorf("fault %s: %s does not mount ConfigMap %s", f.Name, f.proxy, f.config.name)
		}
		selected := false
		for _, o := range b.objects {
			if o.u.GetKind() != "Service" || o.u.GetNamespace() != f.proxy.namespace {
				continue
			}
			sel, _, _ := unstructured.NestedStringMap(o.u.Object, "spec", "selector")
			selected = selected || (len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(d.Spec.Template.Labels)))
		}
		if !selected {
			t.Errorf("fault %s: no Service selects the pods of %s", f.Name, f.proxy)
		}
	}
}

// A variant's pods are selected neither by the proxy's Deployment nor by a
// Service pointed back at the proxy, nor by another fault's variant, and
// pointing back restores the selector exactly.
func TestVariantLabels(t *testing.T) {
	pod := map[string]string{"app": "mesh-client", "release": "mesh-client"}
	a := variant{fault: "a"}.labels(pod)
	b := variant{fault: "b"}.labels(pod)
	if labels.SelectorFromSet(pod).Matches(labels.Set(a)) {
		t.Errorf("the proxy's selector %v selects the variant's pods %v", pod, a)
	}
	if !labels.SelectorFromSet(a).Matches(labels.Set(a)) {
		t.Errorf("the pointed selector %v does not select the variant's pods", a)
	}
	if labels.SelectorFromSet(a).Matches(labels.Set(b)) {
		t.Errorf("fault a's selector %v selects fault b's pods %v", a, b)
	}
	if back := proxyLabels(a); !maps.Equal(back, pod) {
		t.Errorf("pointed back: %v, want %v", back, pod)
	}
}

// A variant's pods are named so that production's pod-name parsing still
// reads the proxy's release (the stubs refuse any other identity).
func TestVariantPodNamesKeepTheRelease(t *testing.T) {
	v := variant{proxy: meshClient}
	pod := v.name() + "-x7k2p" // a ReplicaSet's pod: "<name>-<random>"
	id, ok := identity.FromServer(pod)
	if !ok || id.Namespace != "mw-pretrain" || id.Release != "mesh-client" {
		t.Errorf("pod %s reads as %+v (ok %v), want mw-pretrain/mesh-client", pod, id, ok)
	}
}
