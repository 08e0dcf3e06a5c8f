package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Labels put on every image; the hash label lets `docker images --filter`
// find what a plan built.
const (
	LabelHash = "org.wikimedia.pretrain-check.hash"
	LabelStep = "org.wikimedia.pretrain-check.step"
)

func (b *builder) docker(args ...string) cmd {
	return cmd{args: append([]string{b.opts.Docker}, args...), env: []string{"DOCKER_BUILDKIT=0"}}
}

// imageExists reports whether ref names an image in the engine.
func (b *builder) imageExists(ctx context.Context, l *stepLog, ref string) (bool, error) {
	_, err := b.run(ctx, l, b.docker("image", "inspect", "--format", "{{.Id}}", ref))
	if err == nil {
		return true, nil
	}
	if exitedNonZero(err) {
		return false, nil
	}
	return false, err
}

// allExist reports whether every tag exists.
func (b *builder) allExist(ctx context.Context, l *stepLog, tags ...string) (bool, error) {
	for _, t := range tags {
		ok, err := b.imageExists(ctx, l, t)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// buildImage runs `docker build` on a context directory and returns the new
// image's ID. The image is not tagged: callers tag it once everything that
// belongs to the step succeeded.
func (b *builder) buildImage(ctx context.Context, l *stepLog, s *Step, dir string, buildArgs map[string]string) (string, error) {
	iid := filepath.Join(dir, ".iid")
	args := []string{"build", "--iidfile", iid, "--label", LabelHash + "=" + s.Hash, "--label", LabelStep + "=" + s.Name}
	for k, v := range buildArgs {
		args = append(args, "--build-arg", k+"="+v)
	}
	args = append(args, dir)
	if _, err := b.run(ctx, l, b.docker(args...)); err != nil {
		return "", err
	}
	id, err := os.ReadFile(iid)
	if err != nil {
		return "", fmt.Errorf("read image id: %w", err)
	}
	return strings.TrimSpace(string(id)), nil
}

// tag gives an image its tags, only after the whole step succeeded.
func (b *builder) tag(ctx context.Context, l *stepLog, id string, refs ...string) error {
	for _, r := range refs {
		if _, err := b.run(ctx, l, b.docker("tag", id, r)); err != nil {
			return err
		}
	}
	return nil
}

// discard removes an untagged image left by a failed step (best effort).
func (b *builder) discard(ctx context.Context, l *stepLog, id string) {
	if id != "" {
		_, _ = b.run(context.WithoutCancel(ctx), l, b.docker("image", "rm", id))
	}
}
