package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// definition is the plan, in order. Hash inputs are declared next to what
// each step builds, so the two cannot drift apart.
func definition() []*Step {
	one := func(name string) map[string]string { return map[string]string{name: ""} }
	return []*Step{
		{Name: StepEngine, build: buildEngine},
		{
			Name: StepDebianBase, Deps: []string{StepEngine}, Images: one(ImageDebianBase),
			inputs: func(p *planner, s *Step, h *hasher) error {
				h.value("debian", Pinned.DebianSuite, Pinned.DebianVariant, p.opts.DebianMirror, Pinned.DebianSecurity)
				return h.tree("fixtures", p.fixture("debian-base"))
			},
			build: buildDebianBase,
		},
		{
			Name: StepKubeBinaries, cpuHeavy: true,
			inputs: func(p *planner, s *Step, h *hasher) error { return p.goInputs(s, kubeBinaries(), h) },
			build: func(ctx context.Context, b *builder, l *stepLog, s *Step) (bool, error) {
				_, built, err := b.goBuild(ctx, l, s, kubeBinaries())
				return built, err
			},
		},
		scratchImage(StepEtcd, ImageEtcd, etcdBinary),
		scratchImage(StepCoreDNS, ImageCoreDNS, corednsBinary),
		scratchImage(StepPause, ImagePause, pauseBinary),
		{
			Name: StepControlPlane, Deps: []string{StepEngine, StepKubeBinaries},
			Images: map[string]string{ImageKubeAPIServer: "", ImageKubeControllerManager: "", ImageKubeScheduler: ""},
			inputs: func(p *planner, s *Step, h *hasher) error { return p.dockerInputs(h, "control-plane") },
			build:  buildControlPlane,
		},
		debianImage(StepKubeProxy, ImageKubeProxy, StepKubeBinaries),
		scratchImage(StepTraefik, ImageTraefik, traefikBinary()),
		debianImage(StepATS, ImageATS, ""),
		debianImage(StepHAProxy, ImageHAProxy, ""),
		scratchImage(StepMWStub, ImageMWStub, mwstubBinary),
		{
			Name: StepNode, Images: one(ImageNode),
			// The replica's images are deps too: preloaded, so `up` loads nothing.
			Deps: []string{StepEngine, StepDebianBase, StepKubeBinaries, StepEtcd, StepCoreDNS, StepPause, StepControlPlane, StepKubeProxy,
				StepATS, StepHAProxy, StepMWStub},
			inputs: func(p *planner, s *Step, h *hasher) error {
				if err := p.layerInputs(s, StepNode, h, "kind", Pinned.Kind, Pinned.Kubernetes); err != nil {
					return err
				}
				h.value("preloaded", preloadList()...)
				h.value("replica", replicaImages...)
				return p.dockerInputs(h, "node")
			},
			build: buildNode,
		},
		{
			Name: StepKindCLI, cpuHeavy: true,
			inputs: func(p *planner, s *Step, h *hasher) error { return p.goInputs(s, kindBinary, h) },
			build: func(ctx context.Context, b *builder, l *stepLog, s *Step) (bool, error) {
				_, built, err := b.goBuild(ctx, l, s, kindBinary)
				return built, err
			},
		},
	}
}

// dockerInputs hashes what context() puts in a build context from a fixture
// directory: its Dockerfile and files/.
func (p *planner) dockerInputs(h *hasher, dir string) error {
	if err := h.file("Dockerfile", p.fixture(dir, "Dockerfile")); err != nil {
		return err
	}
	return h.tree("files", p.fixture(dir, "files"))
}

// layerInputs hashes what a Debian layer is made of (the base, the packages,
// rootfs/ and setup.sh, extra values) into s.layerHash, and adds it to h.
// The layer cache is keyed by it, so a new binary does not reinstall packages.
func (p *planner) layerInputs(s *Step, step string, h *hasher, extra ...string) error {
	l := newHasher()
	l.value("recipe", recipe)
	l.value("base", p.hashes[StepDebianBase])
	l.value("packages", debianPackages[step]...)
	l.value("extra", extra...)
	if err := l.tree("rootfs", p.fixture(step, "rootfs")); err != nil {
		return err
	}
	if fileExists(p.fixture(step, "setup.sh")) {
		if err := l.file("setup.sh", p.fixture(step, "setup.sh")); err != nil {
			return err
		}
	}
	s.layerHash = l.sum()
	h.value("layer", s.layerHash)
	return nil
}

func preloadList() []string {
	var out []string
	for _, ref := range sortedKeys(preloaded()) {
		out = append(out, ref+"="+preloaded()[ref])
	}
	return out
}

// scratchImage is a Go binary built on the host and copied into a FROM
// scratch image by fixtures/images/<step>/Dockerfile.
func scratchImage(step, image string, gb goBinary) *Step {
	return &Step{
		Name: step, Deps: []string{StepEngine}, Images: map[string]string{image: ""}, cpuHeavy: true,
		inputs: func(p *planner, s *Step, h *hasher) error {
			if err := p.goInputs(s, gb, h); err != nil {
				return err
			}
			return p.dockerInputs(h, step)
		},
		build: func(ctx context.Context, b *builder, l *stepLog, s *Step) (bool, error) {
			tag := s.Images[image]
			if ok, err := b.imageExists(ctx, l, tag); err != nil || ok {
				return false, err
			}
			bin, _, err := b.goBuild(ctx, l, s, gb)
			if err != nil {
				return false, err
			}
			dir, err := b.context(s, image, b.fixture(step, "Dockerfile"), "")
			if err != nil {
				return false, err
			}
			defer os.RemoveAll(dir)
			if err := linkInto(filepath.Join(bin, step), filepath.Join(dir, "bin", step)); err != nil {
				return false, err
			}
			return true, b.buildAndTag(ctx, l, s, dir, nil, tag)
		},
	}
}

// debianImage is an image derived from the debootstrap base: a layer of
// Debian packages installed in a chroot, then fixtures/images/<step>/Dockerfile.
// binStep, when set, is a Go build step whose binaries the context gets in bin/.
func debianImage(step, image, binStep string) *Step {
	deps := []string{StepEngine, StepDebianBase}
	if binStep != "" {
		deps = append(deps, binStep)
	}
	return &Step{
		Name: step, Deps: deps, Images: map[string]string{image: ""},
		inputs: func(p *planner, s *Step, h *hasher) error {
			if err := p.layerInputs(s, step, h); err != nil {
				return err
			}
			return p.dockerInputs(h, step)
		},
		build: func(ctx context.Context, b *builder, l *stepLog, s *Step) (bool, error) {
			tag := s.Images[image]
			if ok, err := b.imageExists(ctx, l, tag); err != nil || ok {
				return false, err
			}
			layer, err := b.debianLayer(ctx, l, s, b.fixture(step), nil)
			if err != nil {
				return false, err
			}
			dir, err := b.context(s, image, b.fixture(step, "Dockerfile"), layer)
			if err != nil {
				return false, err
			}
			defer os.RemoveAll(dir)
			if binStep != "" {
				bs := b.plan.Step(binStep)
				for _, c := range kubeCommands {
					if c == step {
						if err := linkInto(filepath.Join(b.binDir(bs), c), filepath.Join(dir, "bin", c)); err != nil {
							return false, err
						}
					}
				}
			}
			return true, b.buildAndTag(ctx, l, s, dir, map[string]string{"BASE": b.plan.Images[ImageDebianBase]}, tag)
		},
	}
}

func (b *builder) fixture(parts ...string) string {
	return filepath.Join(append([]string{b.opts.RepoRoot, "fixtures", "images"}, parts...)...)
}

// binDir is where a Go build step left its binaries.
func (b *builder) binDir(s *Step) string {
	return filepath.Join(b.opts.CacheDir, "bin", s.Name+"-"+short(s.goHash))
}

// context assembles a docker build context: the Dockerfile, the files/
// directory beside it (if any) and the Debian layer (if any).
func (b *builder) context(s *Step, image, dockerfile, layer string) (string, error) {
	dir := filepath.Join(b.opts.CacheDir, "ctx", image+"-"+short(s.Hash))
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("clean build context: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		return "", fmt.Errorf("create build context: %w", err)
	}
	if err := copyFile(dockerfile, filepath.Join(dir, "Dockerfile"), 0o644); err != nil {
		return "", err
	}
	if files := filepath.Join(filepath.Dir(dockerfile), "files"); fileExists(files) {
		if err := copyTree(files, filepath.Join(dir, "files")); err != nil {
			return "", err
		}
	}
	if layer != "" {
		if err := linkInto(layer, filepath.Join(dir, "layer.tar")); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// buildAndTag builds the context untagged, then tags it.
func (b *builder) buildAndTag(ctx context.Context, l *stepLog, s *Step, dir string, args map[string]string, tags ...string) error {
	id, err := b.buildImage(ctx, l, s, dir, args)
	if err != nil {
		return err
	}
	if err := b.tag(ctx, l, id, tags...); err != nil {
		b.discard(ctx, l, id)
		return err
	}
	return nil
}

func buildControlPlane(ctx context.Context, b *builder, l *stepLog, s *Step) (bool, error) {
	tags := make([]string, 0, len(s.Images))
	for _, img := range sortedKeys(s.Images) {
		tags = append(tags, s.Images[img])
	}
	if ok, err := b.allExist(ctx, l, tags...); err != nil || ok {
		return false, err
	}
	bin := b.binDir(b.plan.Step(StepKubeBinaries))
	for _, img := range sortedKeys(s.Images) {
		if ok, err := b.imageExists(ctx, l, s.Images[img]); err != nil {
			return false, err
		} else if ok {
			continue
		}
		dir, err := b.context(s, img, b.fixture("control-plane", "Dockerfile"), "")
		if err != nil {
			return false, err
		}
		if err := linkInto(filepath.Join(bin, img), filepath.Join(dir, "bin", img)); err != nil {
			return false, err
		}
		err = b.buildAndTag(ctx, l, s, dir, map[string]string{"BINARY": img}, s.Images[img])
		os.RemoveAll(dir)
		if err != nil {
			return false, err
		}
	}
	return true, nil
}

// buildEngine makes sure a Docker engine answers (ensure-docker.sh).
func buildEngine(ctx context.Context, b *builder, l *stepLog, s *Step) (bool, error) {
	if b.opts.SkipEngine {
		_, err := b.run(ctx, l, b.docker("version", "--format", "{{.Server.Version}}"))
		return false, err
	}
	script := filepath.Join(b.opts.RepoRoot, "harness", "images", "ensure-docker.sh")
	_, err := b.run(ctx, l, cmd{args: []string{"bash", script}, dir: b.opts.RepoRoot})
	return false, err
}

// linkInto hard-links src to dst (same file system), or copies it.
func linkInto(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("create %q: %w", filepath.Dir(dst), err)
	}
	_ = os.Remove(dst)
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("stat %q: %w", src, err)
	}
	return copyFile(src, dst, st.Mode().Perm())
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copy %q: %w", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("copy %q: %w", src, err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		return fmt.Errorf("copy %q: %w", src, err)
	}
	return os.Chmod(dst, mode)
}

// copyTree copies regular files, directories and symlinks, keeping the
// executable bits and making everything readable.
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return fmt.Errorf("copy %q: %w", p, err)
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case info.IsDir():
			return os.MkdirAll(target, 0o755)
		case info.Mode()&os.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("copy %q: %w", p, err)
			}
			_ = os.Remove(target)
			return os.Symlink(link, target)
		case info.Mode().IsRegular():
			mode := os.FileMode(0o644)
			if info.Mode()&0o111 != 0 {
				mode = 0o755
			}
			return copyFile(p, target, mode)
		}
		return nil
	})
}

func trimLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
