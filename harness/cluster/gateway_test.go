package cluster

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/haproxy"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/routing"
)

// The example input becomes the gateway's objects: a Service per routed
// Deployment selecting the replica's stub pods, one server line per replica
// the input declares (the canary's 1 of 3), and the NodePort 30443.
func TestGatewayObjectsFromTheExample(t *testing.T) {
	b, err := loadBundle(fixtures(t), ProfileAirgap, IngressGateway, testImages)
	if err != nil {
		t.Fatal(err)
	}
	in, err := configtarget.ExampleInput()
	if err != nil {
		t.Fatal(err)
	}
	m, err := istio.New(in)
	if err != nil {
		t.Fatal(err)
	}
	files, ca, err := newGatewayTLS(m)
	if err != nil {
		t.Fatal(err)
	}
	objs, _, err := gatewayObjects(in, b, testImages[ImageHAProxy], files)
	if err != nil {
		t.Fatal(err)
	}
	early, err := tlsObjects(ca)
	if err != nil {
		t.Fatal(err)
	}
	objs = append(early, objs...)
	byRef := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byRef[o.u.GetKind()+" "+o.u.GetNamespace()+"/"+o.u.GetName()] = o.u
	}
	svc := byRef["Service mw-pretrain/pods-mw-pretrain-eqiad-canary"]
	if svc == nil {
		t.Fatalf("no Service for the canary's pods; objects: %v", objs)
	}
	if sel, _, _ := unstructured.NestedStringMap(svc.Object, "spec", "selector"); sel["release"] != "canary" || sel["app"] != "mediawiki" {
		t.Errorf("the canary's Service selects %v, want the stub Deployment's selector", sel)
	}
	secret := byRef["Secret pretrain-infra/ingressgateway-config"]
	if secret == nil {
		t.Fatal("no gateway Secret")
	}
	data, _, _ := unstructured.NestedStringMap(secret.Object, "stringData")
	cfg := data[haproxy.ConfigFile]
	for name, want := range map[string]int{
		"pods-mw-pretrain-eqiad-main.mw-pretrain.svc.cluster.local:8080":   2,
		"pods-mw-pretrain-eqiad-canary.mw-pretrain.svc.cluster.local:8080": 1,
	} {
		// The main route's backend: main's two replicas, the canary's one.
		i := strings.Index(cfg, "http[1] (main) -> ")
		if i < 0 {
			t.Fatalf("no backend for the main route:\n%s", cfg)
		}
		block, _, _ := strings.Cut(cfg[i:], "\n\n")
		if got := strings.Count(block, " "+name+" "); got != want {
			t.Errorf("the main route's backend lists %s %d times, want %d:\n%s", name, got, want, block)
		}
	}
	if !strings.Contains(cfg, "bind :8443") || !strings.Contains(data[gatewayCAKey], "BEGIN CERTIFICATE") || string(files.ca) != data[gatewayCAKey] {
		t.Errorf("want the listener on :8443 and the CA in %s", gatewayCAKey)
	}
	if !strings.Contains(data[gatewayInputKey], "fixtures/routes/main.yaml sha256:") {
		t.Errorf("the Secret does not record its input: %q", data[gatewayInputKey])
	}
	dep := byRef["Deployment pretrain-infra/ingressgateway"]
	if dep == nil {
		t.Fatal("no gateway Deployment")
	}
	hash, _, _ := unstructured.NestedString(dep.Object, "spec", "template", "metadata", "annotations", configHashAnnotation)
	if hash == "" || hash != secret.GetAnnotations()[configHashAnnotation] {
		t.Errorf("the gateway's pods carry config hash %q, the Secret %q: a changed input would not roll them", hash, secret.GetAnnotations()[configHashAnnotation])
	}
	if np, _, _ := unstructured.NestedSlice(byRef["Service pretrain-infra/ingressgateway"].Object, "spec", "ports"); len(np) != 1 || np[0].(map[string]any)["nodePort"] != int64(30443) || np[0].(map[string]any)["port"] != int64(30443) {
		t.Errorf("gateway ports %v, want port and NodePort 30443", np)
	}
}

// A routing input that sends traffic to a Deployment the replica runs no
// stub for fails before anything is created, naming the route's position
// and the Deployment.
func TestGatewayObjectsNameAnUnknownDeployment(t *testing.T) {
	b, err := loadBundle(fixtures(t), ProfileAirgap, IngressGateway, testImages)
	if err != nil {
		t.Fatal(err)
	}
	files, err := configtarget.ExampleFiles()
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		files[i].Data = []byte(strings.ReplaceAll(string(f.Data), "mw-pretrain.eqiad.canary", "mw-pretrain.eqiad.canary2"))
	}
	in, err := routing.ParseFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = gatewayObjects(in, b, testImages[ImageHAProxy], gatewayTLS{certKey: []byte("x"), ca: []byte("x")})
	if err == nil {
		t.Fatal("an input routing to a Deployment the replica does not run was accepted")
	}
	for _, want := range []string{"fixtures/routes/", "mw-pretrain/mw-pretrain.eqiad.canary2", "no pod address", "runs none for"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

// On an existing cluster, down deletes the cluster-scoped objects up
// records: the replica's Namespaces, and with --ingress objects the
// controllers' RBAC and IngressClasses; never a namespace it did not make.
func TestClusterScopedObjectsUpRecords(t *testing.T) {
	for mode, want := range map[string]int{IngressGateway: 10, IngressObjects: 14} {
		b, err := loadBundle(fixtures(t), ProfileAirgap, mode, testImages)
		if err != nil {
			t.Fatal(err)
		}
		r := &Replica{bundle: b}
		got := r.clusterScoped()
		if len(got) != want {
			t.Errorf("%s: %d cluster-scoped objects %v, want %d", mode, len(got), got, want)
		}
		for _, c := range got {
			if c.Kind == "Namespace" && (c.Name == "kube-system" || c.Name == "default") {
				t.Errorf("%s: up would record (and down delete) %s", mode, c)
			}
			if c.APIVersion == "" {
				t.Errorf("%s: %s has no apiVersion", mode, c)
			}
		}
	}
}
