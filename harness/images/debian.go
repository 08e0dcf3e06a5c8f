package images

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// sourcesList is the apt configuration of every Debian image.
func sourcesList(mirror string) string {
	s := Pinned.DebianSuite
	return fmt.Sprintf("deb %s %s main\ndeb %s %s-updates main\ndeb %s %s-security main\n",
		mirror, s, mirror, s, Pinned.DebianSecurity, s)
}

// baseRootfs is the unpacked debootstrap tree of the current base hash.
func (b *builder) baseRootfs() string {
	return filepath.Join(b.opts.CacheDir, "rootfs", ImageDebianBase+"-"+short(b.plan.Step(StepDebianBase).Hash))
}

// buildDebianBase runs debootstrap (minbase) into the cache, writes the apt
// sources, and imports the tree as the base image. The tree stays in the cache:
// derived images install their packages over it (see debianLayer).
func buildDebianBase(ctx context.Context, b *builder, l *stepLog, s *Step) (bool, error) {
	tag := s.Images[ImageDebianBase]
	root := b.baseRootfs()
	exists, err := b.imageExists(ctx, l, tag)
	if err != nil {
		return false, err
	}
	if exists && fileExists(root+".complete") {
		return false, nil
	}
	if !fileExists(root + ".complete") {
		if exists {
			// the image is there but the tree is not (cache cleaned): take it back from the image
			return true, b.exportImage(ctx, l, tag, root)
		}
		if err := b.debootstrap(ctx, l, root); err != nil {
			return false, err
		}
	}
	out, err := b.pipe(ctx, l,
		cmd{args: []string{"tar", "--numeric-owner", "-C", root, "-c", "."}},
		b.docker("import",
			"--change", "LABEL "+LabelHash+"="+s.Hash, "--change", "LABEL "+LabelStep+"="+s.Name,
			"--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"--change", `CMD ["/bin/bash"]`, "-"))
	if err != nil {
		return false, err
	}
	id := strings.TrimSpace(out)
	if err := b.tag(ctx, l, id, tag); err != nil {
		b.discard(ctx, l, id)
		return false, err
	}
	return true, nil
}

func (b *builder) debootstrap(ctx context.Context, l *stepLog, root string) error {
	if _, err := b.run(ctx, l, cmd{args: []string{"sh", "-c", "command -v debootstrap"}}); err != nil {
		if _, err := b.run(ctx, l, cmd{args: []string{"apt-get", "update"}}); err != nil {
			return err
		}
		if _, err := b.run(ctx, l, cmd{args: []string{"apt-get", "install", "-y", "--no-install-recommends", "debootstrap"},
			env: []string{"DEBIAN_FRONTEND=noninteractive"}}); err != nil {
			return err
		}
	}
	tmp := root + ".tmp"
	if err := removeTree(tmp); err != nil {
		return err
	}
	debs := filepath.Join(b.opts.CacheDir, "cache", "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return fmt.Errorf("create package cache: %w", err)
	}
	if _, err := b.run(ctx, l, cmd{args: []string{"debootstrap", "--variant=" + Pinned.DebianVariant,
		"--cache-dir=" + debs, Pinned.DebianSuite, tmp, b.opts.DebianMirror}}); err != nil {
		if log, rerr := os.ReadFile(filepath.Join(tmp, "debootstrap", "debootstrap.log")); rerr == nil {
			var ce *CommandError
			if errors.As(err, &ce) {
				ce.Tail += "\n(debootstrap.log) " + lastLines(string(log), 8)
			}
		}
		_ = removeTree(tmp)
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "etc", "apt", "sources.list"), []byte(sourcesList(b.opts.DebianMirror)), 0o644); err != nil {
		return fmt.Errorf("write apt sources: %w", err)
	}
	// No package lists, caches or logs in the base: derived layers then create
	// (and clean) their own without deleting anything of the base.
	if _, err := b.run(ctx, l, cmd{args: []string{"chroot", tmp, "apt-get", "clean"}}); err != nil {
		return err
	}
	for _, pattern := range []string{"var/lib/apt/lists/*", "var/log/*.log", "var/log/apt/*", "var/cache/debconf/*-old",
		"etc/resolv.conf", "etc/hostname", "var/cache/ldconfig/aux-cache",
		// units enabled by minbase packages (apt and e2fsprogs timers): containers run none
		"etc/systemd/system/*.wants/*"} {
		matches, _ := filepath.Glob(filepath.Join(tmp, pattern))
		for _, m := range matches {
			if filepath.Base(m) == "partial" || filepath.Base(m) == "lock" {
				continue
			}
			if err := os.RemoveAll(m); err != nil {
				return fmt.Errorf("clean base: %w", err)
			}
		}
	}
	if err := removeTree(root); err != nil {
		return err
	}
	if err := os.Rename(tmp, root); err != nil {
		return fmt.Errorf("install base tree: %w", err)
	}
	return touch(root + ".complete")
}

// exportImage unpacks an image's file system into dir.
func (b *builder) exportImage(ctx context.Context, l *stepLog, ref, dir string) error {
	out, err := b.run(ctx, l, b.docker("create", ref, "/bin/true"))
	if err != nil {
		return err
	}
	id := strings.TrimSpace(out)
	defer b.run(context.WithoutCancel(ctx), l, b.docker("rm", "-f", id))
	tmp := dir + ".tmp"
	if err := removeTree(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("create %q: %w", tmp, err)
	}
	if _, err := b.pipe(ctx, l, b.docker("export", id), cmd{args: []string{"tar", "--numeric-owner", "-C", tmp, "-x"}}); err != nil {
		return err
	}
	if err := removeTree(dir); err != nil {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("install %q: %w", dir, err)
	}
	return touch(dir + ".complete")
}

// debianLayer installs the step's Debian packages over the base tree in an
// overlay mount, copies fixture/rootfs into it, runs fixture/setup.sh in the
// chroot, and returns a tar of the changes (the overlay's upper directory),
// cached by step hash. extra, when set, adds files to the tree before setup.
func (b *builder) debianLayer(ctx context.Context, l *stepLog, s *Step, fixture string, extra func(root string) error) (string, error) {
	final := filepath.Join(b.opts.CacheDir, "layers", s.Name+"-"+short(s.layerHash)+".tar")
	if fileExists(final) {
		return final, nil
	}
	lower := b.baseRootfs()
	if !fileExists(lower + ".complete") {
		if err := b.exportImage(ctx, l, b.plan.Images[ImageDebianBase], lower); err != nil {
			return "", err
		}
	}
	work := filepath.Join(b.opts.CacheDir, "work", s.Name+"-"+short(s.layerHash))
	if err := removeTree(work); err != nil {
		return "", err
	}
	upper, wd, merged := filepath.Join(work, "upper"), filepath.Join(work, "work"), filepath.Join(work, "merged")
	for _, d := range []string{upper, wd, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("create %q: %w", d, err)
		}
	}
	if err := b.inOverlay(ctx, l, lower, upper, wd, merged, func() error {
		return b.installLayer(ctx, l, s, fixture, merged, lower, extra)
	}); err != nil {
		return "", err
	}
	if wh, err := whiteouts(upper); err != nil {
		return "", err
	} else if len(wh) > 0 {
		return "", fmt.Errorf("build layer: it deletes %d file(s) of the base, which a layer tar cannot express: %s", len(wh), strings.Join(wh, ", "))
	}
	tmp := final + ".tmp"
	if _, err := b.run(ctx, l, cmd{args: []string{"tar", "--numeric-owner", "-C", upper, "-cf", tmp, "."}}); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("install layer: %w", err)
	}
	return final, removeTree(work)
}

// inOverlay mounts lower+upper on merged (and /proc inside it), runs fn,
// and unmounts whatever happens.
func (b *builder) inOverlay(ctx context.Context, l *stepLog, lower, upper, wd, merged string, fn func() error) error {
	if _, err := b.run(ctx, l, cmd{args: []string{"mount", "-t", "overlay", "overlay", "-o",
		"lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + wd, merged}}); err != nil {
		return err
	}
	uctx := context.WithoutCancel(ctx)
	defer b.run(uctx, l, cmd{args: []string{"umount", merged}})
	proc := filepath.Join(merged, "proc")
	if _, err := b.run(ctx, l, cmd{args: []string{"mount", "-t", "proc", "proc", proc}}); err != nil {
		return err
	}
	err := fn()
	if _, uerr := b.run(uctx, l, cmd{args: []string{"umount", proc}}); uerr != nil && err == nil {
		err = uerr
	}
	return err
}

func (b *builder) installLayer(ctx context.Context, l *stepLog, s *Step, fixture, root, lower string, extra func(string) error) error {
	chroot := func(env []string, args ...string) cmd {
		return cmd{args: append([]string{"chroot", root}, args...), env: append([]string{"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C"}, env...)}
	}
	// Temporary files, all absent from the base, removed below.
	if err := copyFile("/etc/resolv.conf", filepath.Join(root, "etc", "resolv.conf"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "usr", "sbin", "policy-rc.d"), []byte("#!/bin/sh\nexit 101\n"), 0o755); err != nil {
		return fmt.Errorf("write policy-rc.d: %w", err)
	}
	if _, err := b.run(ctx, l, chroot(nil, "apt-get", "update", "-q")); err != nil {
		return err
	}
	if pkgs := debianPackages[s.Name]; len(pkgs) > 0 {
		args := append([]string{"apt-get", "install", "-y", "-q", "--no-install-recommends"}, pkgs...)
		if _, err := b.run(ctx, l, chroot(nil, args...)); err != nil {
			return err
		}
	}
	if extra != nil {
		if err := extra(root); err != nil {
			return err
		}
	}
	if dir := filepath.Join(fixture, "rootfs"); fileExists(dir) {
		if err := copyTree(dir, root); err != nil {
			return err
		}
	}
	if setup := filepath.Join(fixture, "setup.sh"); fileExists(setup) {
		if err := copyFile(setup, filepath.Join(root, "tmp", "pretrain-setup.sh"), 0o755); err != nil {
			return err
		}
		if _, err := b.run(ctx, l, chroot(nil, "/bin/sh", "-eu", "/tmp/pretrain-setup.sh")); err != nil {
			return err
		}
	}
	if _, err := b.run(ctx, l, chroot(nil, "apt-get", "clean")); err != nil {
		return err
	}
	// Clean what the install left, but only files the base does not have
	// (deleting a base file would need a whiteout).
	for _, pattern := range []string{"var/lib/apt/lists/*", "var/log/*.log", "var/log/apt/*", "var/cache/debconf/*-old",
		"etc/resolv.conf", "usr/sbin/policy-rc.d", "tmp/pretrain-setup.sh", "var/cache/ldconfig/aux-cache"} {
		matches, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, m := range matches {
			rel, _ := filepath.Rel(root, m)
			if _, err := os.Lstat(filepath.Join(lower, rel)); err == nil {
				continue
			}
			if err := os.RemoveAll(m); err != nil {
				return fmt.Errorf("clean layer: %w", err)
			}
		}
	}
	return nil
}

// whiteouts lists the overlay whiteouts (deleted base files) under upper.
func whiteouts(upper string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("scan layer: %w", err)
		}
		if d.Type()&fs.ModeCharDevice == 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("scan layer: %w", err)
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Rdev == 0 {
			rel, _ := filepath.Rel(upper, p)
			out = append(out, "/"+rel)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// removeTree deletes a directory tree, refusing when something is mounted
// under it (a bind mount left by an interrupted build must never be followed).
func removeTree(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("remove %q: %w", dir, err)
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("remove %q: %w", dir, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == abs || strings.HasPrefix(fields[4], abs+"/")) {
			return fmt.Errorf("remove %q: %q is still mounted; unmount it first (umount -R %s)", dir, fields[4], fields[4])
		}
	}
	if err := os.RemoveAll(abs); err != nil {
		return fmt.Errorf("remove %q: %w", dir, err)
	}
	return nil
}

func touch(p string) error {
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		return fmt.Errorf("mark %q: %w", p, err)
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
