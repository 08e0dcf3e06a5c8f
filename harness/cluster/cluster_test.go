package cluster

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/kindtarget"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var testImages = map[string]string{
	ImageNode:    "pretrain-check/node:test",
	ImageStub:    "pretrain-check/mwstub:test",
	ImageTraefik: "pretrain-check/traefik:test",
	ImageATS:     "pretrain-check/ats:test",
	ImageHAProxy: "pretrain-check/haproxy:test",
}

func fixtures(t *testing.T) string { return filepath.Join(repoRoot(t), DefaultFixtures) }

func TestBundleAirgap(t *testing.T) {
	b, err := loadBundle(fixtures(t), ProfileAirgap, IngressObjects, testImages)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(b.images, ","), "ats,haproxy,mwstub,traefik"; got != want {
		t.Errorf("expected images %s, got %s", want, got)
	}
	// Namespaces first, then ConfigMaps, then the rest.
	phase := 0
	for _, o := range b.objects {
		p := 2
		switch o.u.GetKind() {
		case "Namespace":
			p = 0
		case "ConfigMap":
			p = 1
		}
		if p < phase {
			t.Fatalf("object %s out of order (namespaces, configmaps, rest)", o)
		}
		phase = p
	}
	// Every image reference is filled in and never pulled.
	for _, d := range b.deployments() {
		cs, _, _ := unstructured.NestedSlice(d.u.Object, "spec", "template", "spec", "containers")
		for _, c := range cs {
			m := c.(map[string]any)
			if img := m["image"].(string); !strings.HasPrefix(img, "pretrain-check/") || !strings.HasSuffix(img, ":test") {
				t.Errorf("%s: container %v image %q not from the images given", d, m["name"], img)
			}
			if m["imagePullPolicy"] != "Never" {
				t.Errorf("%s: container %v pulls (%v): no registry exists", d, m["name"], m["imagePullPolicy"])
			}
		}
		// Config hashes are rendered: a config change rolls the pods.
		if h, ok, _ := unstructured.NestedString(d.u.Object, "spec", "template", "metadata", "annotations", "pretrain-check/config-hash"); ok && !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(h) {
			t.Errorf("%s: config hash %q not rendered", d, h)
		}
	}
	// The ConfigMaps carry the proxy configs.
	want := map[string][]string{
		"pretrain-infra/edge-config":         {"cdn.lua", "edge.lua", "remap.config", "xwd.lua"},
		"pretrain-infra/rest-gateway-config": {"haproxy.cfg"},
		"pretrain-infra/xwd-backends-config": {"haproxy.cfg"},
		"mw-pretrain/mesh-proxy-config":      {"haproxy.cfg"},
		"kube-system/coredns":                {"Corefile"},
	}
	for _, o := range b.objects {
		if o.u.GetKind() != "ConfigMap" {
			continue
		}
		key := o.u.GetNamespace() + "/" + o.u.GetName()
		data, _, _ := unstructured.NestedStringMap(o.u.Object, "data")
		keys := sortedKeys(data)
		if strings.Join(keys, ",") != strings.Join(want[key], ",") {
			t.Errorf("configmap %s: expected keys %v, got %v", key, want[key], keys)
		}
		delete(want, key)
	}
	if len(want) > 0 {
		t.Errorf("configmaps missing: %v", want)
	}
}

// Production's names: Deployments "<namespace>.<dc>.<release>", the
// releases of mw-pretrain and the services testwiki is diverted from.
func TestBundleMirrorsProductionNames(t *testing.T) {
	b, err := loadBundle(fixtures(t), ProfileAirgap, IngressObjects, testImages)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range b.deployments() {
		if strings.HasPrefix(d.u.GetNamespace(), "mw-") {
			got = append(got, d.u.GetNamespace()+" "+d.u.GetName())
		}
	}
	sort.Strings(got)
	want := []string{
		"mw-api-ext mw-api-ext.eqiad.main",
		"mw-api-int mw-api-int.eqiad.main",
		"mw-debug mw-debug.eqiad.next",
		"mw-debug mw-debug.eqiad.pinkunicorn",
		"mw-experimental mw-experimental.eqiad.pinkllama",
		"mw-jobrunner mw-jobrunner.eqiad.main",
		"mw-parsoid mw-parsoid.eqiad.pinkllama",
		"mw-pretrain mw-pretrain.eqiad.canary",
		"mw-pretrain mw-pretrain.eqiad.debug",
		"mw-pretrain mw-pretrain.eqiad.jobrunner",
		"mw-pretrain mw-pretrain.eqiad.jobrunner-canary",
		"mw-pretrain mw-pretrain.eqiad.main",
		"mw-pretrain mw-pretrain.eqiad.mesh-client",
		"mw-web mw-web.eqiad.main",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("expected deployments\n%s\ngot\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
}

// The NodePorts of the manifests are exactly the ones the kind target
// needs, and kind-config.yaml publishes each on 127.0.0.1.
func TestNodePortsMatchKindConfigAndTarget(t *testing.T) {
	for _, profile := range []string{ProfileAirgap, ProfileUpstream} {
		b, err := loadBundle(fixtures(t), profile, IngressObjects, testImages)
		if err != nil {
			t.Fatal(err)
		}
		var nodePorts []int
		// The generated ingress gateway's NodePort, beside the manifests'.
		for _, o := range append(b.objects, mustObject(gatewayService(), "test")) {
			if o.u.GetKind() != "Service" {
				continue
			}
			ports, _, _ := unstructured.NestedSlice(o.u.Object, "spec", "ports")
			for _, p := range ports {
				if np, ok := p.(map[string]any)["nodePort"]; ok {
					nodePorts = append(nodePorts, int(np.(int64)))
				}
			}
		}
		sort.Ints(nodePorts)
		if got, want := nodePorts, kindtarget.RequiredNodePorts(); !equalInts(got, want) {
			t.Errorf("profile %s: expected NodePorts %v, got %v", profile, want, got)
		}
	}
	for _, cfg := range []string{"kind-config.yaml"} {
		if _, err := kindtarget.FromConfigFile(filepath.Join(repoRoot(t), cfg)); err != nil {
			t.Errorf("%s: %v", cfg, err)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The upstream profile replaces only the controllers, keeping their names
// and selectors (the dry-run updates them in place).
func TestBundleUpstream(t *testing.T) {
	air, err := loadBundle(fixtures(t), ProfileAirgap, IngressObjects, testImages)
	if err != nil {
		t.Fatal(err)
	}
	up, err := loadBundle(fixtures(t), ProfileUpstream, IngressObjects, testImages)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(up.images, ","), ImageTraefik) {
		t.Errorf("upstream profile uses the Traefik image: %v", up.images)
	}
	controllers := func(b bundle) map[string]string {
		m := map[string]string{}
		for _, d := range b.deployments() {
			if d.u.GetNamespace() == "ingress-nginx" {
				sel, _, _ := unstructured.NestedStringMap(d.u.Object, "spec", "selector", "matchLabels")
				m[d.u.GetName()] = strings.Join(func() []string {
					var kv []string
					for _, k := range sortedKeys(sel) {
						kv = append(kv, k+"="+sel[k])
					}
					return kv
				}(), ",")
			}
		}
		return m
	}
	a, u := controllers(air), controllers(up)
	if len(a) != 2 || len(u) != 2 {
		t.Fatalf("expected 2 controllers in each profile, got %v and %v", a, u)
	}
	for name, sel := range a {
		if u[name] != sel {
			t.Errorf("controller %s: selector %q in airgap, %q upstream (immutable: the dry-run would fail)", name, sel, u[name])
		}
	}
}

func TestBundleErrorsListEveryProblem(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "manifests"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "configmaps", "ns", "cm"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "configmaps", "ns", "cm", "a.cfg"), []byte("x"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "manifests", "10-a.yaml"), []byte(`
apiVersion: v1
kind: Pod
metadata: {name: a, annotations: {h: '{{ configHash "ns/nope" }}'}}
`), 0o644))
	must(os.WriteFile(filepath.Join(dir, "manifests", "20-b.yaml"), []byte(`
apiVersion: v1
kind: Pod
metadata: {name: b}
spec: {containers: [{name: c, image: '{{ image "nope" }}'}]}
---
apiVersion: v1
kind: Pod
metadata: {}
`), 0o644))
	_, err := loadBundle(dir, ProfileAirgap, IngressObjects, map[string]string{"node": "n"})
	if err == nil {
		t.Fatal("expected errors")
	}
	for _, want := range []string{`no ConfigMap "ns/nope"`, `no image "nope" given (known: node)`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("expected %q in %v", want, err)
		}
	}
	_, err = decodeDocuments("x.yaml", []byte("apiVersion: v1\nkind: Pod\nmetadata: {}\n---\n# only a comment\n---\nkind: [\n"))
	if err == nil || !strings.Contains(err.Error(), "x.yaml#0: Pod has no metadata.name") || !strings.Contains(err.Error(), "x.yaml#2") {
		t.Errorf("expected both bad documents named, got %v", err)
	}
	if _, err := loadBundle(dir, ProfileUpstream, IngressObjects, map[string]string{}); err == nil || !strings.Contains(err.Error(), "nothing in") {
		t.Errorf("expected an upstream profile without replacements refused, got %v", err)
	}
}

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{
		"pretrain-check/mwstub:abc": "docker.io/pretrain-check/mwstub:abc",
		"haproxy":                   "docker.io/library/haproxy:latest",
		"haproxy:2.6":               "docker.io/library/haproxy:2.6",
		"registry.k8s.io/ingress-nginx/controller:v1.15.1": "registry.k8s.io/ingress-nginx/controller:v1.15.1",
		"localhost:5000/x/y": "localhost:5000/x/y:latest",
		"localhost/x:1":      "localhost/x:1",
		"x/y@sha256:00":      "docker.io/x/y@sha256:00",
	} {
		if got := normalizeRef(in); got != want {
			t.Errorf("normalizeRef(%q): expected %q, got %q", in, want, got)
		}
	}
}

func TestRolledOut(t *testing.T) {
	two := int32(2)
	ok := appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Generation: 3},
		Spec:       appsv1.DeploymentSpec{Replicas: &two},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 3, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2},
	}
	if !rolledOut(&ok) {
		t.Fatal("expected a complete rollout to count")
	}
	for name, mutate := range map[string]func(d *appsv1.Deployment){
		"old generation observed": func(d *appsv1.Deployment) { d.Status.ObservedGeneration = 2 },
		"old pod still running":   func(d *appsv1.Deployment) { d.Status.Replicas = 3 },
		"not all updated":         func(d *appsv1.Deployment) { d.Status.UpdatedReplicas = 1 },
		"not ready":               func(d *appsv1.Deployment) { d.Status.ReadyReplicas = 1 },
		"not available":           func(d *appsv1.Deployment) { d.Status.AvailableReplicas = 1 },
		"default replicas, none up": func(d *appsv1.Deployment) {
			d.Spec.Replicas = nil
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: 3}
		},
	} {
		d := ok.DeepCopy()
		mutate(d)
		if rolledOut(d) {
			t.Errorf("%s: expected not rolled out", name)
		}
	}
	if rolledOut(&corev1.Pod{}) {
		t.Error("expected a non-Deployment to never count")
	}
}

var stepLine = regexp.MustCompile(`^\[up\] (\S+) +\d+\.\ds(  \(.*\))?$`)

func TestRunStepsLinesAndFailure(t *testing.T) {
	var buf bytes.Buffer
	var ran []string
	ok := func(name, detail string) step {
		return step{name: name, timeout: time.Second, run: func(context.Context) (string, error) { ran = append(ran, name); return detail, nil }}
	}
	boom := errors.New("boom")
	err := runSteps(context.Background(), &buf, "up", []step{
		ok("create", "node image x"),
		ok("load", ""),
		{name: "apply", timeout: time.Second, run: func(context.Context) (string, error) { ran = append(ran, "apply"); return "", boom }},
		ok("ready", ""),
	})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "apply" || !errors.Is(err, boom) {
		t.Fatalf("expected a StepError for apply wrapping boom, got %v", err)
	}
	if strings.Join(ran, ",") != "create,load,apply" {
		t.Errorf("expected steps to stop at the failure, ran %v", ran)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("expected 3 lines, got %q", buf.String())
	}
	for _, l := range lines[:2] {
		if !stepLine.MatchString(l) {
			t.Errorf("line %q does not look like a step line", l)
		}
	}
	if !strings.Contains(lines[0], "(node image x)") {
		t.Errorf("expected the detail in %q", lines[0])
	}
	if !strings.HasPrefix(lines[2], "[up] apply     FAILED after ") || !strings.HasSuffix(lines[2], ": boom") {
		t.Errorf("expected the failing step named, got %q", lines[2])
	}
}

func TestRunStepTimeoutAndInterrupt(t *testing.T) {
	var buf bytes.Buffer
	block := func(ctx context.Context) (string, error) { <-ctx.Done(); return "", ctx.Err() }
	err := runSteps(context.Background(), &buf, "up", []step{{name: "ready", timeout: 20 * time.Millisecond, run: block}})
	if err == nil || !strings.Contains(err.Error(), "timed out after 20ms") {
		t.Errorf("expected a timeout named, got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	err = runSteps(ctx, &buf, "up", []step{{name: "load", timeout: time.Minute, run: block}})
	if err == nil || !strings.Contains(err.Error(), "interrupted") || !errors.Is(err, context.Canceled) {
		t.Errorf("expected an interruption named, got %v", err)
	}
}

func TestOptions(t *testing.T) {
	if _, err := Up(context.Background()); err == nil || !strings.Contains(err.Error(), "no node image") {
		t.Errorf("expected a missing node image refused, got %v", err)
	}
	_, err := buildOptions([]Option{WithName("Bad_Name"), WithProfile("cloud"), WithImages(map[string]string{"x": ""}), WithNodeImage("n")})
	for _, want := range []string{`cluster name "Bad_Name"`, `profile "cloud"`, `images ["x"]: empty reference`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("expected %q in %v", want, err)
		}
	}
	o, err := buildOptions([]Option{WithNodeImage("n"), WithTimeouts(Timeouts{Ready: time.Minute})})
	if err != nil {
		t.Fatal(err)
	}
	if o.timeouts.Ready != time.Minute || o.timeouts.Create != DefaultTimeouts().Create || !filepath.IsAbs(o.configFile) {
		t.Errorf("expected defaults filled, got %+v", o)
	}
	if _, err := buildOptions([]Option{WithNodeImage("n"), WithTimeouts(Timeouts{Converge: time.Second, ConvergeInterval: 2 * time.Second})}); err == nil {
		t.Error("expected an interval above the converge budget refused")
	}
}

func TestConvergeProbesParseAndCoverEveryEntry(t *testing.T) {
	c, err := convergeProbes()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, cs := range c.Cases {
		seen[cs.Entry] = true
	}
	tg, err := kindtarget.New(map[int]int{30080: 1, 30081: 2, 30082: 3, 30083: 4, 30084: 5, 30086: 6, 30443: 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tg.Entries() {
		if !seen[e] {
			t.Errorf("entry %q has no bring-up probe", e)
		}
	}
}

func TestPodStatusAndLastLines(t *testing.T) {
	p := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
		{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
		{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull"}}},
	}}}
	if got := podStatus(p); got != "ErrImageNeverPull" {
		t.Errorf("expected the waiting reason, got %q", got)
	}
	if got := lastLines("a\nb\nc\n", 2); got != "b\nc" {
		t.Errorf("expected the last two lines, got %q", got)
	}
	if got := lastLines("", 2); got != "" {
		t.Errorf("expected nothing, got %q", got)
	}
}

func TestConfiguredDeployments(t *testing.T) {
	b, err := loadBundle(fixtures(t), ProfileAirgap, IngressObjects, testImages)
	if err != nil {
		t.Fatal(err)
	}
	r := &Replica{bundle: b}
	var got []string
	for _, d := range r.configuredDeployments() {
		got = append(got, d.String())
	}
	sort.Strings(got)
	want := "mw-pretrain/mw-pretrain.eqiad.mesh-client,pretrain-infra/edge,pretrain-infra/rest-gateway,pretrain-infra/xwd-backends"
	if strings.Join(got, ",") != want {
		t.Errorf("expected the proxies that mount ConfigMaps %s, got %s", want, strings.Join(got, ","))
	}
}

func TestKeepPolicy(t *testing.T) {
	for _, c := range []struct {
		in                   string
		onSuccess, onFailure bool
	}{
		{"", false, false}, {"never", false, false}, {"0", false, false},
		{"1", true, true}, {"always", true, true}, {"true", true, true},
		{"on-failure", false, true},
	} {
		p, err := ParseKeepPolicy(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if p.Keep(false) != c.onSuccess || p.Keep(true) != c.onFailure {
			t.Errorf("%q: keep on success %v, on failure %v; want %v, %v", c.in, p.Keep(false), p.Keep(true), c.onSuccess, c.onFailure)
		}
	}
	if _, err := ParseKeepPolicy("sometimes"); err == nil || !strings.Contains(err.Error(), "on-failure") {
		t.Errorf("bad policy: %v", err)
	}
}
