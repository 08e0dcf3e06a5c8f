package images

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestHasherIsOrderIndependentAndSensitive(t *testing.T) {
	a, b := newHasher(), newHasher()
	a.value("x", "1")
	a.value("y", "2")
	b.value("y", "2")
	b.value("x", "1")
	if a.sum() != b.sum() {
		t.Fatal("expected the same hash whatever the order of inputs")
	}
	b.value("x", "1", "")
	if a.sum() == b.sum() {
		t.Fatal("expected a different hash when a value changes")
	}
	c := newHasher()
	c.value("x", "1\x002") // not the same as two values "1","2" in another key
	d := newHasher()
	d.value("x", "1", "2")
	if c.sum() != d.sum() {
		t.Log("values are joined with NUL: documented collision, keys keep them apart")
	}
}

func TestHasherTree(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM scratch\n", 0o644)
	write("rootfs/usr/bin/x", "#!/bin/sh\n", 0o755)
	sum := func() string {
		h := newHasher()
		if err := h.tree("f", dir); err != nil {
			t.Fatal(err)
		}
		return h.sum()
	}
	first := sum()
	if sum() != first {
		t.Fatal("expected a stable hash")
	}
	write("rootfs/usr/bin/x", "#!/bin/sh\n", 0o644)
	if sum() == first {
		t.Fatal("expected losing the executable bit to change the hash")
	}
	write("rootfs/usr/bin/x", "#!/bin/sh\n", 0o755)
	write("rootfs/etc/new", "", 0o644)
	if sum() == first {
		t.Fatal("expected a new file to change the hash")
	}
	h := newHasher()
	if err := h.tree("missing", filepath.Join(dir, "nope")); err != nil {
		t.Fatalf("expected a missing tree to add nothing, got %v", err)
	}
}

// TestTagsAreDeterministic computes the real plan twice: the harness relies on
// Tags giving what Build tags.
func TestTagsAreDeterministic(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	ctx := context.Background()
	a, err := Tags(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Tags(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []string{ImageDebianBase, ImageEtcd, ImageCoreDNS, ImagePause, ImageKubeAPIServer,
		ImageKubeControllerManager, ImageKubeScheduler, ImageKubeProxy, ImageNode, ImageTraefik, ImageATS, ImageHAProxy, ImageMWStub} {
		if a[img] == "" || a[img] != b[img] {
			t.Errorf("image %q: expected one stable tag, got %q then %q", img, a[img], b[img])
		}
		if !strings.HasPrefix(a[img], Repository+"/"+img+":") || len(a[img]) != len(Repository+"/"+img+":")+12 {
			t.Errorf("image %q: unexpected tag shape %q", img, a[img])
		}
	}
	if len(a) != 13 {
		t.Errorf("expected 13 images, got %d: %v", len(a), a)
	}
	r, err := Tags(ctx, Options{Repository: "registry.example.org/ci"})
	if err != nil {
		t.Fatal(err)
	}
	if r[ImageNode] != "registry.example.org/ci/node:"+a[ImageNode][len(Repository+"/node:"):] {
		t.Errorf("expected the same hash under another repository, got %q and %q", a[ImageNode], r[ImageNode])
	}
	for ref, want := range map[string]string{"pretrain-check/node:x": "docker.io/pretrain-check/node:x",
		"registry.example.org/ci/node:x": "registry.example.org/ci/node:x", "localhost/a:b": "localhost/a:b", "busybox:1": "docker.io/library/busybox:1"} {
		if got := normalizeRef(ref); got != want {
			t.Errorf("normalizeRef(%q): expected %q, got %q", ref, want, got)
		}
	}
	c, err := Tags(ctx, Options{DebianMirror: "http://127.0.0.1:9/debian"})
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []string{ImageDebianBase, ImageATS, ImageNode} {
		if c[img] == a[img] {
			t.Errorf("image %q: expected another mirror to change the tag", img)
		}
	}
	if c[ImageTraefik] != a[ImageTraefik] {
		t.Error("expected the Debian mirror not to change Traefik's tag")
	}
}

func TestPlanOrderAndSelection(t *testing.T) {
	p := &Plan{Steps: definition()}
	seen := map[string]bool{}
	for _, s := range p.Steps {
		for _, d := range s.Deps {
			if !seen[d] {
				t.Errorf("step %q needs %q, which does not come before it", s.Name, d)
			}
		}
		seen[s.Name] = true
	}
	sel, err := p.selected([]string{StepHAProxy})
	if err != nil {
		t.Fatal(err)
	}
	if !sel[StepHAProxy] || !sel[StepDebianBase] || !sel[StepEngine] || sel[StepNode] || sel[StepKubeBinaries] {
		t.Errorf("expected haproxy with the base and the engine only, got %v", sel)
	}
	if _, err := p.selected([]string{"no-such-step"}); err == nil || !strings.Contains(err.Error(), `"no-such-step"`) {
		t.Errorf("expected an error naming the unknown step, got %v", err)
	}
}

func TestPreloadedMatchesKubeadm(t *testing.T) {
	// What `kubeadm config images list --kubernetes-version v1.33.13` printed;
	// the node step re-checks it against the built kubeadm.
	want := []string{
		"registry.k8s.io/coredns/coredns:v1.12.0",
		"registry.k8s.io/etcd:3.5.24-0",
		"registry.k8s.io/kube-apiserver:v1.33.13",
		"registry.k8s.io/kube-controller-manager:v1.33.13",
		"registry.k8s.io/kube-proxy:v1.33.13",
		"registry.k8s.io/kube-scheduler:v1.33.13",
		"registry.k8s.io/pause:3.10",
	}
	if got := sortedKeys(preloaded()); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("expected %v, got %v", want, got)
	}
}

func TestCommandErrorNamesTheCommand(t *testing.T) {
	err := &StepError{Step: StepHAProxy, Err: &CommandError{
		Args: []string{"chroot", "/x", "apt-get", "install", "haproxy=9.9"}, Tail: "E: Version '9.9' for 'haproxy' was not found\n",
		Err: errors.New("exit status 100")}}
	msg := err.Error()
	for _, want := range []string{`step "haproxy"`, "run chroot /x apt-get install haproxy=9.9: exit status 100", "| E: Version '9.9'"} {
		if !strings.Contains(msg, want) {
			t.Errorf("expected %q in %q", want, msg)
		}
	}
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Args[2] != "apt-get" {
		t.Errorf("expected the CommandError to unwrap, got %v", ce)
	}
	if got := shellJoin([]string{"sh", "-c", "a b", "it's", ""}); got != `sh -c 'a b' 'it'\''s' ''` {
		t.Errorf("unexpected quoting: %s", got)
	}
}

func TestWhiteouts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating a 0:0 character device needs root")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "kept"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mknod", filepath.Join(dir, "etc", "gone"), "c", "0", "0").CombinedOutput(); err != nil {
		t.Skipf("mknod: %v %s", err, out)
	}
	got, err := whiteouts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "/etc/gone" {
		t.Fatalf("expected [/etc/gone], got %v", got)
	}
}

func TestRemoveTreeRefusesMounts(t *testing.T) {
	// /proc is always mounted: removing its parent must be refused, before
	// anything is deleted.
	err := removeTree("/proc/..")
	if err == nil || !strings.Contains(err.Error(), "mounted") {
		t.Fatalf("expected a refusal naming a mount, got %v", err)
	}
	dir := filepath.Join(t.TempDir(), "x")
	if err := os.MkdirAll(filepath.Join(dir, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := removeTree(dir); err != nil || fileExists(dir) {
		t.Fatalf("expected %q removed, got %v", dir, err)
	}
}

func TestConfigureRuntime(t *testing.T) {
	p := filepath.Join(t.TempDir(), "docker", "daemon.json")
	changed, err := ConfigureRuntime(p, "pretrain-runc", "/usr/local/libexec/x")
	if err != nil || !changed {
		t.Fatalf("expected a new file, got changed=%v err=%v", changed, err)
	}
	if changed, err = ConfigureRuntime(p, "pretrain-runc", "/usr/local/libexec/x"); err != nil || changed {
		t.Fatalf("expected no change the second time, got changed=%v err=%v", changed, err)
	}
	if err := os.WriteFile(p, []byte(`{"log-level":"warn","runtimes":{"other":{"path":"/o"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ConfigureRuntime(p, "pretrain-runc", "/x"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	for _, want := range []string{`"log-level": "warn"`, `"other"`, `"default-runtime": "pretrain-runc"`, `"path": "/x"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("expected %s kept or added in %s", want, b)
		}
	}
	if strings.Contains(string(b), "bridge") {
		t.Errorf("expected no bridge setting, got %s", b)
	}
	for _, bad := range []string{`{`, `{"runtimes": []}`} {
		if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ConfigureRuntime(p, "pretrain-runc", "/x"); err == nil {
			t.Errorf("expected an error for %s", bad)
		}
	}
}

func TestSelectProfile(t *testing.T) {
	ctx := context.Background()
	env := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) { return v, k == ProfileEnv && v != "" }
	}
	yes := func(context.Context) (bool, error) { return true, nil }
	no := func(context.Context) (bool, error) { return false, nil }
	broken := func(context.Context) (bool, error) { return false, errors.New("docker down") }
	cases := []struct {
		flag, env string
		check     RegistryCheck
		want      Profile
	}{
		{"upstream", "airgap", no, ProfileUpstream}, // the flag wins
		{"", "upstream", no, ProfileUpstream},       // then the environment
		{"", "airgap", yes, ProfileAirgap},
		{"", "", yes, ProfileUpstream}, // auto
		{"", "", no, ProfileAirgap},
		{"", "", broken, ProfileAirgap}, // no registry is the safe assumption
		{"", "", nil, ProfileAirgap},
		{"auto", "", yes, ProfileUpstream},
	}
	for _, c := range cases {
		got, why, err := SelectProfile(ctx, c.flag, env(c.env), c.check)
		if err != nil || got != c.want {
			t.Errorf("flag %q env %q: expected %q, got %q (%s) err %v", c.flag, c.env, c.want, got, why, err)
		}
	}
	if _, _, err := SelectProfile(ctx, "", env("offline"), yes); err == nil || !strings.Contains(err.Error(), ProfileEnv) {
		t.Errorf("expected an error naming %s for a bad value, got %v", ProfileEnv, err)
	}
}

func TestManifestRoundTripAndImagesFor(t *testing.T) {
	dir := t.TempDir()
	m := &Manifest{Schema: ManifestSchema, Images: map[string]string{
		ImageNode: "pretrain-check/node:aaaaaaaaaaaa", ImageMWStub: "pretrain-check/mwstub:bbbbbbbbbbbb",
		ImageTraefik: "t", ImageATS: "a", ImageHAProxy: "h"}}
	p := filepath.Join(dir, "images.json")
	if err := m.Write(p); err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(p)
	if err != nil {
		t.Fatal(err)
	}
	if tag, err := got.Image(ImageNode); err != nil || tag != "pretrain-check/node:aaaaaaaaaaaa" {
		t.Fatalf("expected the node tag back, got %q %v", tag, err)
	}
	if _, err := got.Image("nope"); err == nil {
		t.Fatal("expected an error for an unknown image")
	}
	air, err := ImagesFor(ProfileAirgap, got, dir)
	if err != nil || air.Node != "pretrain-check/node:aaaaaaaaaaaa" || air.Ingress != "t" || air.Gateway != "h" || air.Edge != "a" {
		t.Fatalf("unexpected airgap images %+v %v", air, err)
	}
	if _, err := ImagesFor(ProfileUpstream, got, dir); err == nil {
		t.Fatal("expected an error when the upstream manifest file is missing")
	}
	if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(UpstreamIngressManifest)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, UpstreamIngressManifest), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	up, err := ImagesFor(ProfileUpstream, got, dir)
	if err != nil || up.Node != Pinned.UpstreamNodeImage || up.Stub != "pretrain-check/mwstub:bbbbbbbbbbbb" {
		t.Fatalf("unexpected upstream images %+v %v", up, err)
	}
	if err := os.WriteFile(p, []byte(`{"schema": 99}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadManifest(p); err == nil || !strings.Contains(err.Error(), "schema 99") {
		t.Fatalf("expected a schema error, got %v", err)
	}
}

func TestSummary(t *testing.T) {
	m := &Manifest{Run: RunRecord{Seconds: 2.5, Cached: 2}, Steps: []StepRecord{
		{Name: StepEngine, Status: StatusReady},
		{Name: StepKubeBinaries, Status: StatusCached, BuildSeconds: 600},
		{Name: StepNode, Status: StatusCached, BuildSeconds: 60},
	}}
	s := m.Summary()
	for _, want := range []string{"0 built, 2 cached, 0 failed in 2.5s (warm)", "last build of these inputs: 11m0s"} {
		if !strings.Contains(s, want) {
			t.Errorf("expected %q in %q", want, s)
		}
	}
	m.Steps[2].BuildSeconds = 0
	if strings.Contains(m.Summary(), "last build") {
		t.Error("expected no cold figure when a step's build time is unknown")
	}
}
