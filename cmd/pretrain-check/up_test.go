package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/images"
)

func TestProfileForHonoursTheEnvironment(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "PRETRAIN_PROFILE" {
				return v
			}
			return ""
		}
	}
	for _, c := range []struct{ flag, env, want string }{
		{"", "", ""}, {"", "upstream", "upstream"}, {"airgap", "upstream", "airgap"},
	} {
		if got := profileFor(c.flag, env(c.env)); got != c.want {
			t.Errorf("profileFor(%q, PRETRAIN_PROFILE=%q) = %q, want %q", c.flag, c.env, got, c.want)
		}
	}
}

// Bad bring-up input is a usage error (exit 2) found before any cluster is
// created, naming the file (and for a routing input, the position).
func TestUpRefusesBadInputBeforeCreatingAnything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	manifest := filepath.Join(dir, "images.json")
	refs := `{"node":"n:1","mwstub":"s:1","traefik":"t:1","ats":"a:1","haproxy":"h:1"}`
	if err := os.WriteFile(manifest, []byte(`{"schema":`+strconv.Itoa(images.ManifestSchema)+`,"images":`+refs+`}`), 0o644); err != nil {
		t.Fatal(err)
	}
	// The example input with its canary Deployment renamed: the replica
	// runs no stub of that name.
	routes := filepath.Join(dir, "routes")
	files, err := filepath.Glob(filepath.Join("..", "..", "fixtures", "routes", "*.yaml"))
	if err != nil || len(files) == 0 || os.Mkdir(routes, 0o755) != nil {
		t.Fatalf("copy the example input: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		data = []byte(strings.ReplaceAll(string(data), "mw-pretrain.eqiad.canary", "mw-pretrain.eqiad.canary2"))
		if err := os.WriteFile(filepath.Join(routes, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := []string{"up", "--cluster-name", "pretrain-check-never-created", "--images", manifest,
		"--kind-config", filepath.Join("..", "..", "kind-config.yaml"), "--fixtures", filepath.Join("..", "..", "fixtures", "kind")}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing edge script", []string{"--edge-lua", filepath.Join(dir, "nope.lua")}, "nope.lua"},
		{"empty edge script", []string{"--edge-lua", os.DevNull}, "empty"},
		{"routing input", []string{"--routes", routes}, "canary.yaml:6:1: Deployment mw-pretrain/mw-pretrain.eqiad.canary2"},
		{"bad ingress mode", []string{"--ingress", "nginx"}, `ingress "nginx"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := runBinary(t, nil, append(base, c.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("exit %d, want 2 naming %q:\n%s", r.code, c.want, r.stderr)
			}
			if strings.Contains(r.stderr, "[up] create") {
				t.Errorf("a cluster was being created:\n%s", r.stderr)
			}
		})
	}
}
