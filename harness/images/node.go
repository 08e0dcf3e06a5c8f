package images

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// buildNode builds the kind node image: Debian packages (systemd,
// containerd, runc, CNI plugins, iptables...) over the base, kind's
// base-image files from the kind module, this repository's overrides
// (containerd config with restrict_oom_score_adj, the single-node bridge CNI
// unit), the Kubernetes node binaries, and the control-plane images
// preloaded into containerd, the way `kind build node-image` does, with the
// replica's own images (replicaImages) beside them.
func buildNode(ctx context.Context, b *builder, l *stepLog, s *Step) (bool, error) {
	tag := s.Images[ImageNode]
	if ok, err := b.imageExists(ctx, l, tag); err != nil || ok {
		return false, err
	}
	bin := b.binDir(b.plan.Step(StepKubeBinaries))
	if err := b.checkKubeadmImages(ctx, l, filepath.Join(bin, "kubeadm")); err != nil {
		return false, err
	}
	kindDir, err := b.kindModule(ctx, l)
	if err != nil {
		return false, err
	}
	layer, err := b.debianLayer(ctx, l, s, b.fixture("node"), func(root string) error {
		if err := copyKindFiles(filepath.Join(kindDir, "images", "base", "files"), root); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(root, "kind", "version"), []byte(Pinned.Kubernetes+"\n"), 0o644)
	})
	if err != nil {
		return false, err
	}
	dir, err := b.context(s, ImageNode, b.fixture("node", "Dockerfile"), layer)
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	for _, c := range []string{"kubeadm", "kubelet", "kubectl"} {
		if err := linkInto(filepath.Join(bin, c), filepath.Join(dir, "bin", c)); err != nil {
			return false, err
		}
	}
	base, err := b.buildImage(ctx, l, s, dir, map[string]string{"BASE": b.plan.Images[ImageDebianBase]})
	if err != nil {
		return false, err
	}
	// base stays untagged: the committed image below is its child
	id, err := b.preload(ctx, l, s, base)
	if err != nil {
		b.discard(ctx, l, base)
		return false, err
	}
	if err := b.tag(ctx, l, id, tag); err != nil {
		b.discard(ctx, l, id)
		return false, err
	}
	return true, nil
}

// checkKubeadmImages compares kubeadm's image list with what the node preloads.
func (b *builder) checkKubeadmImages(ctx context.Context, l *stepLog, kubeadm string) error {
	out, err := b.run(ctx, l, cmd{args: []string{kubeadm, "config", "images", "list", "--kubernetes-version", Pinned.Kubernetes}})
	if err != nil {
		return err
	}
	want := trimLines(out)
	have := sortedKeys(b.plan.Preloaded)
	sort.Strings(want)
	if strings.Join(want, " ") != strings.Join(have, " ") {
		return fmt.Errorf("check preloaded images: kubeadm %s expects %s, the plan preloads %s",
			Pinned.Kubernetes, strings.Join(want, ", "), strings.Join(have, ", "))
	}
	return nil
}

// kindModule returns the directory of the pinned kind module (downloaded
// through the module proxy if the module cache lacks it).
func (b *builder) kindModule(ctx context.Context, l *stepLog) (string, error) {
	out, err := b.run(ctx, l, cmd{args: []string{b.opts.Go, "mod", "download", "-json", "sigs.k8s.io/kind@" + Pinned.Kind},
		dir: b.opts.RepoRoot, env: goBuildEnv})
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ": "); ok && k == `"Dir"` {
			return strings.Trim(v, `",`), nil
		}
	}
	return "", fmt.Errorf("find kind module: no Dir in %q", out)
}

// copyKindFiles copies kind's images/base/files with the modes kind's
// Dockerfile gives them (the module cache is read-only).
func copyKindFiles(src, root string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("copy kind files: %w", err)
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(root, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(rel, "usr/local/bin/") || strings.HasPrefix(rel, "kind/bin/") {
			mode = 0o755
		}
		return copyFile(p, target, mode)
	})
}

// preload runs the node image with containerd alone, imports the Kubernetes
// images into its k8s.io namespace under the names kubeadm uses and the
// replica's images under their own, stops
// containerd and commits the container. It returns the committed image ID.
func (b *builder) preload(ctx context.Context, l *stepLog, s *Step, base string) (string, error) {
	name := "pretrain-check-node-build-" + short(s.Hash)
	uctx := context.WithoutCancel(ctx)
	_, _ = b.run(uctx, l, b.docker("rm", "-f", name)) // a leftover of an interrupted build
	if _, err := b.run(ctx, l, b.docker("run", "-d", "--name", name, "--network", "none",
		"--security-opt", "seccomp=unconfined", "--entrypoint", "sleep", base, "infinity")); err != nil {
		return "", err
	}
	defer b.run(uctx, l, b.docker("rm", "-f", name))
	exec := func(args ...string) cmd { return b.docker(append([]string{"exec", "-i", name}, args...)...) }
	if _, err := b.run(ctx, l, exec("bash", "-c", "nohup containerd >/tmp/containerd.log 2>&1 &")); err != nil {
		return "", err
	}
	if _, err := b.run(ctx, l, exec("bash", "-c",
		`for i in $(seq 1 60); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && exit 0; sleep 0.5; done; cat /tmp/containerd.log; exit 1`)); err != nil {
		return "", err
	}
	refs := sortedKeys(b.plan.Preloaded)
	var local []string
	for _, ref := range refs {
		local = append(local, b.plan.Images[b.plan.Preloaded[ref]])
	}
	if _, err := b.pipe(ctx, l, b.docker(append([]string{"save"}, local...)...),
		exec("ctr", "--namespace=k8s.io", "images", "import", "--label=io.cri-containerd.pinned=pinned",
			"--all-platforms", "--no-unpack", "-")); err != nil {
		return "", err
	}
	for i, ref := range refs {
		if _, err := b.run(ctx, l, exec("ctr", "--namespace=k8s.io", "images", "tag", "--force", normalizeRef(local[i]), ref)); err != nil {
			return "", err
		}
		if _, err := b.run(ctx, l, exec("ctr", "--namespace=k8s.io", "images", "label", ref, "io.cri-containerd.pinned=pinned")); err != nil {
			return "", err
		}
		if _, err := b.run(ctx, l, exec("ctr", "--namespace=k8s.io", "images", "rm", normalizeRef(local[i]))); err != nil {
			return "", err
		}
	}
	// The replica's images keep their own tags (docker.io/pretrain-check/...),
	// which is what the cluster's load step looks for.
	var replica []string
	for _, img := range replicaImages {
		replica = append(replica, b.plan.Images[img])
		refs = append(refs, normalizeRef(b.plan.Images[img]))
	}
	if _, err := b.pipe(ctx, l, b.docker(append([]string{"save"}, replica...)...),
		exec("ctr", "--namespace=k8s.io", "images", "import", "--label=io.cri-containerd.pinned=pinned",
			"--all-platforms", "--no-unpack", "-")); err != nil {
		return "", err
	}
	out, err := b.run(ctx, l, exec("ctr", "--namespace=k8s.io", "images", "list", "-q"))
	if err != nil {
		return "", err
	}
	have := map[string]bool{}
	for _, r := range trimLines(out) {
		have[r] = true
	}
	for _, ref := range refs {
		if !have[ref] {
			return "", fmt.Errorf("preload images: %q missing from the node's containerd after import (have %s)", ref, strings.Join(trimLines(out), ", "))
		}
	}
	if _, err := b.run(ctx, l, exec("bash", "-c",
		// sleep, the container's PID 1, reaps nothing: containerd stays a zombie
		`rm -f /tmp/containerd.log; pkill -x containerd
for i in $(seq 1 60); do ps -C containerd -o stat= | grep -qv '^Z' || exit 0; sleep 0.5; done
echo "containerd did not stop"; exit 1`)); err != nil {
		return "", err
	}
	out, err = b.run(ctx, l, b.docker("commit",
		"--change", `ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]`,
		"--change", "CMD []",
		"--change", "LABEL "+LabelHash+"="+s.Hash,
		name))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(out), nil
}

// normalizeRef is the name containerd gives an image that docker saved: the
// docker.io/ domain is added unless the first component names a registry.
func normalizeRef(ref string) string {
	first, _, found := strings.Cut(ref, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return ref
	}
	if !found {
		return "docker.io/library/" + ref
	}
	return "docker.io/" + ref
}
