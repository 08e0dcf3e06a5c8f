package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Prune removes what earlier inputs left behind: cached binaries, layers and
// base trees whose hashes the current plan no longer has, and images of
// Options.Repository labelled by this package whose tags are not current. An
// image still used by a container is kept (docker refuses) and reported in the
// error. It returns what it removed.
func Prune(ctx context.Context, opts Options) ([]string, error) {
	p, err := NewPlan(ctx, opts)
	if err != nil {
		return nil, err
	}
	opts = p.opts
	keep := map[string]bool{}
	for _, s := range p.Steps {
		if s.goHash != "" {
			keep[filepath.Join("bin", s.Name+"-"+short(s.goHash))] = true
		}
		if s.layerHash != "" {
			keep[filepath.Join("layers", s.Name+"-"+short(s.layerHash)+".tar")] = true
		}
		if s.Name == StepDebianBase && s.Hash != "" {
			keep[filepath.Join("rootfs", ImageDebianBase+"-"+short(s.Hash))] = true
			keep[filepath.Join("rootfs", ImageDebianBase+"-"+short(s.Hash)+".complete")] = true
		}
	}
	var removed []string
	var errs []string
	for _, dir := range []string{"bin", "layers", "rootfs", "ctx", "work"} {
		entries, err := os.ReadDir(filepath.Join(opts.CacheDir, dir))
		if err != nil {
			continue
		}
		for _, e := range entries {
			rel := filepath.Join(dir, e.Name())
			if keep[rel] {
				continue
			}
			if err := removeTree(filepath.Join(opts.CacheDir, rel)); err != nil {
				errs = append(errs, err.Error())
				continue
			}
			removed = append(removed, rel)
		}
	}
	current := map[string]bool{}
	for _, t := range p.Images {
		current[t] = true
	}
	out, err := runQuiet(ctx, "", nil, opts.Docker, "images", "--filter", "label="+LabelStep, "--format", "{{.Repository}}:{{.Tag}}")
	if err != nil {
		return removed, fmt.Errorf("prune images: %w", err)
	}
	for _, ref := range trimLines(out) {
		if !strings.HasPrefix(ref, opts.Repository+"/") || current[ref] || strings.HasSuffix(ref, ":<none>") {
			continue
		}
		if _, err := runQuiet(ctx, "", nil, opts.Docker, "image", "rm", ref); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		removed = append(removed, ref)
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("prune: %d item(s) kept:\n%s", len(errs), strings.Join(errs, "\n"))
	}
	return removed, nil
}
