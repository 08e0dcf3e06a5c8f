package images

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// goBinary is a Go build: packages of a module, built statically on the host
// (module and build caches live here) and copied into images.
type goBinary struct {
	module  string   // module directory relative to the repository; "" is the main module
	pkgs    []string // packages (import paths or ./relative)
	ldflags string   // -ldflags value
	out     string   // output file relative to the repository; "" is the step's cache dir
}

func kubeBinaries() goBinary {
	ld := []string{"-s", "-w"}
	for _, p := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		for _, kv := range [][2]string{
			{"gitVersion", Pinned.Kubernetes}, {"gitMajor", "1"}, {"gitMinor", "33"},
			{"gitTreeState", "clean"}, {"buildDate", kubeBuildDate},
		} {
			ld = append(ld, "-X", p+"."+kv[0]+"="+kv[1])
		}
	}
	var pkgs []string
	for _, c := range kubeCommands {
		pkgs = append(pkgs, "k8s.io/kubernetes/cmd/"+c)
	}
	return goBinary{module: "fixtures/images/kube", pkgs: pkgs, ldflags: strings.Join(ld, " ")}
}

// kubeCommands are the Kubernetes commands kube-binaries builds.
var kubeCommands = []string{"kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"}

// Build dates stamped into version output: the publication times of the
// pinned module versions, so that builds are reproducible.
const (
	kubeBuildDate    = "2026-06-11T16:59:07Z"
	traefikBuildDate = "2026-08-26T08:16:06Z"
)

func traefikBinary() goBinary {
	v := "github.com/traefik/traefik/v3/pkg/version"
	return goBinary{module: "fixtures/images/traefik", pkgs: []string{"github.com/traefik/traefik/v3/cmd/traefik"},
		ldflags: "-s -w -X " + v + ".Version=" + Pinned.Traefik + " -X " + v + ".BuildDate=" + traefikBuildDate}
}

var (
	etcdBinary    = goBinary{module: "fixtures/images/etcd", pkgs: []string{"."}, ldflags: "-s -w"}
	corednsBinary = goBinary{module: "fixtures/images/coredns", pkgs: []string{"github.com/coredns/coredns"},
		ldflags: "-s -w -X github.com/coredns/coredns/coremain.GitCommit=51e11f16"}
	pauseBinary  = goBinary{module: "fixtures/images/pause", pkgs: []string{"."}, ldflags: "-s -w"}
	mwstubBinary = goBinary{pkgs: []string{"./cmd/mwstub"}, ldflags: "-s -w"}
	kindBinary   = goBinary{pkgs: []string{"sigs.k8s.io/kind"}, ldflags: "-s -w", out: "bin/kind"}
)

// goBuildEnv: no VCS stamp (binaries must not change with the repository's commit),
// go.sum as committed, the local toolchain only.
var goBuildEnv = []string{"GOTOOLCHAIN=local", "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=-mod=readonly -buildvcs=false"}

// goInputs hashes what a Go build depends on: the toolchain and platform,
// flags, and for a nested module its go.mod, go.sum and Go files; for the
// main module, the module versions and the repository's Go files that the
// packages actually import (so unrelated edits elsewhere do not rebuild).
func (p *planner) goInputs(s *Step, gb goBinary, h *hasher) error {
	g := newHasher()
	g.value("go", p.goVersion, p.goEnv["GOOS"], p.goEnv["GOARCH"])
	g.value("env", goBuildEnv...)
	g.value("pkgs", gb.pkgs...)
	g.value("ldflags", gb.ldflags)
	if gb.module != "" {
		dir := filepath.Join(p.opts.RepoRoot, gb.module)
		if err := goTree(g, dir); err != nil {
			return err
		}
	} else {
		if err := p.mainModuleInputs(g, gb.pkgs); err != nil {
			return err
		}
	}
	s.goHash = g.sum()
	h.value("go-build", s.goHash)
	return nil
}

// goTree hashes go.mod, go.sum and non-test Go files under dir.
func goTree(h *hasher, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return fmt.Errorf("read module %q: %w", dir, err)
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %q: %w", path, err)
		}
		name := d.Name()
		if d.IsDir() || !(name == "go.mod" || name == "go.sum" || strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		return h.file(filepath.ToSlash(rel), path)
	})
}

func (p *planner) mainModuleInputs(h *hasher, pkgs []string) error {
	args := append([]string{p.opts.Go, "list", "-deps", "-f",
		"{{if .Module}}{{if .Module.Main}}D {{.Dir}}{{else}}M {{.Module.Path}}@{{.Module.Version}}{{with .Module.Replace}}=>{{.Path}}@{{.Version}}{{end}}{{end}}{{end}}"}, pkgs...)
	out, err := runQuiet(p.ctx, p.opts.RepoRoot, goBuildEnv, args...)
	if err != nil {
		return err
	}
	var mods []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		kind, val, _ := strings.Cut(line, " ")
		switch kind {
		case "M":
			mods = append(mods, val)
		case "D":
			entries, err := os.ReadDir(val)
			if err != nil {
				return fmt.Errorf("read package %q: %w", val, err)
			}
			rel, _ := filepath.Rel(p.opts.RepoRoot, val)
			for _, e := range entries {
				n := e.Name()
				if e.Type().IsRegular() && strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
					if err := h.file(filepath.ToSlash(filepath.Join(rel, n)), filepath.Join(val, n)); err != nil {
						return err
					}
				}
			}
		}
	}
	h.value("modules", dedupe(mods)...)
	return nil
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// goBuild builds gb unless a complete build of the same inputs exists, and
// returns the directory holding the binaries.
func (b *builder) goBuild(ctx context.Context, l *stepLog, s *Step, gb goBinary) (string, bool, error) {
	dir := filepath.Join(b.opts.CacheDir, "bin", s.Name+"-"+short(s.goHash))
	if gb.out != "" {
		dir = filepath.Join(b.opts.RepoRoot, filepath.Dir(gb.out))
		if stamp, err := os.ReadFile(filepath.Join(dir, "."+filepath.Base(gb.out)+".hash")); err == nil &&
			strings.TrimSpace(string(stamp)) == s.goHash && fileExists(filepath.Join(b.opts.RepoRoot, gb.out)) {
			return dir, false, nil
		}
	} else if fileExists(filepath.Join(dir, ".complete")) {
		return dir, false, nil
	}
	t0 := time.Now()
	if err := b.cpu.acquire(ctx); err != nil {
		return "", false, err
	}
	l.waited += time.Since(t0)
	defer b.cpu.release()

	modDir := filepath.Join(b.opts.RepoRoot, gb.module)
	if gb.out != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", false, fmt.Errorf("create %q: %w", dir, err)
		}
		final := filepath.Join(b.opts.RepoRoot, gb.out)
		tmp := final + ".tmp"
		args := append([]string{b.opts.Go, "build", "-trimpath", "-ldflags", gb.ldflags, "-o", tmp}, gb.pkgs...)
		if _, err := b.run(ctx, l, cmd{args: args, dir: modDir, env: goBuildEnv, nice: true}); err != nil {
			_ = os.Remove(tmp)
			return "", false, err
		}
		if err := os.Rename(tmp, final); err != nil {
			return "", false, fmt.Errorf("install %q: %w", final, err)
		}
		stamp := filepath.Join(dir, "."+filepath.Base(gb.out)+".hash")
		if err := os.WriteFile(stamp, []byte(s.goHash+"\n"), 0o644); err != nil {
			return "", false, fmt.Errorf("write %q: %w", stamp, err)
		}
		return dir, true, nil
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", false, fmt.Errorf("clean %q: %w", tmp, err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", false, fmt.Errorf("create %q: %w", tmp, err)
	}
	args := append([]string{b.opts.Go, "build", "-trimpath", "-ldflags", gb.ldflags, "-o", tmp + "/"}, gb.pkgs...)
	if len(gb.pkgs) == 1 {
		// one package: name the binary after the step (a module's "." would be named after the module)
		args = append([]string{b.opts.Go, "build", "-trimpath", "-ldflags", gb.ldflags, "-o", filepath.Join(tmp, s.Name)}, gb.pkgs...)
	}
	if _, err := b.run(ctx, l, cmd{args: args, dir: modDir, env: goBuildEnv, nice: true}); err != nil {
		return "", false, err
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return "", false, fmt.Errorf("mark %q complete: %w", tmp, err)
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", false, fmt.Errorf("install %q: %w", dir, err)
	}
	return dir, true, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
