//go:build e2e

package images

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Bad input stops the build at the step that met it, names the command that
// failed with the tail of its output, and tags nothing. Each case uses its own
// cache directory and manifest, and an input that changes the step's hash, so
// the real images are not touched. Needs root, docker and debootstrap.

func badInputBuild(t *testing.T, opts Options) (string, map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	opts.CacheDir = filepath.Join(t.TempDir(), "cache")
	opts.ManifestPath = filepath.Join(t.TempDir(), "images.json")
	opts.SkipEngine = true
	var progress bytes.Buffer
	opts.Progress = &progress
	plan, err := NewPlan(ctx, opts)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	_, err = Build(ctx, opts)
	t.Logf("progress:\n%s", progress.String())
	if err == nil {
		t.Fatal("expected the build to fail")
	}
	if fileExists(opts.ManifestPath) {
		t.Error("expected no manifest after a failed build")
	}
	assertNoMounts(t, opts.CacheDir)
	return err.Error(), plan.Images
}

func assertNotTagged(t *testing.T, tag string) {
	t.Helper()
	if out, err := exec.Command("docker", "image", "inspect", tag).CombinedOutput(); err == nil {
		t.Errorf("expected no image %q after the failure, found one: %.200s", tag, out)
	}
}

func assertNoMounts(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), dir) {
		t.Errorf("expected nothing left mounted under %s", dir)
	}
}

func assertContains(t *testing.T, msg string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("expected %q in the error:\n%s", w, msg)
		}
	}
}

func TestBadInputMissingDebianPackage(t *testing.T) {
	saved := debianPackages[StepHAProxy]
	debianPackages[StepHAProxy] = append(append([]string(nil), saved...), "haproxy-pretrain-no-such-package=1.0")
	defer func() { debianPackages[StepHAProxy] = saved }()

	msg, tags := badInputBuild(t, Options{Steps: []string{StepHAProxy}})
	assertContains(t, msg, `step "haproxy"`, "apt-get install", "haproxy-pretrain-no-such-package=1.0",
		"Unable to locate package haproxy-pretrain-no-such-package")
	assertNotTagged(t, tags[ImageHAProxy])
}

func TestBadInputRefusedModule(t *testing.T) {
	// A pause module that requires a version the module proxy refuses (403).
	root := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module "+ModulePath+"\n\ngo 1.24.0\n")
	const refused = "github.com/containous/go-http-auth v0.4.1-0.20260804094822-b975dcaa8c48"
	write("fixtures/images/pause/go.mod", "module example.com/pause\n\ngo 1.24.0\n\nrequire "+refused+"\n")
	write("fixtures/images/pause/go.sum", refused+" h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"+
		refused+"/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
	write("fixtures/images/pause/main.go", "package main\n\nimport _ \"github.com/abbot/go-http-auth\"\n\nfunc main() {}\n")
	write("fixtures/images/pause/Dockerfile", "FROM scratch\nCOPY bin/pause /pause\n")

	msg, tags := badInputBuild(t, Options{RepoRoot: root, Steps: []string{StepPause}})
	assertContains(t, msg, `step "pause"`, "go build", "go-http-auth", "403")
	assertNotTagged(t, tags[ImagePause])
}

func TestBadInputFailedDebootstrap(t *testing.T) {
	// Nothing listens on 127.0.0.1:9: debootstrap cannot fetch Release.
	msg, tags := badInputBuild(t, Options{Steps: []string{StepDebianBase}, DebianMirror: "http://127.0.0.1:9/debian"})
	assertContains(t, msg, `step "debian-base"`, "run debootstrap --variant=minbase", "http://127.0.0.1:9/debian")
	assertNotTagged(t, tags[ImageDebianBase])
}
