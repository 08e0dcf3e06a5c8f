package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strings"

	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindexec "sigs.k8s.io/kind/pkg/exec"
)

// normalizeRef is the name containerd stores an image under:
// "pretrain-check/mwstub:abc" is "docker.io/pretrain-check/mwstub:abc",
// "haproxy" is "docker.io/library/haproxy:latest".
func normalizeRef(ref string) string {
	name, rest := ref, ""
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		name, rest = ref[:i], ref[i:]
	} else if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		name, rest = ref[:i], ref[i:]
	}
	if rest == "" {
		rest = ":latest"
	}
	first, _, hasSlash := strings.Cut(name, "/")
	switch {
	case !hasSlash:
		name = "docker.io/library/" + name
	case strings.ContainsAny(first, ".:") || first == "localhost":
	default:
		name = "docker.io/" + name
	}
	return name + rest
}

// nodeImages lists the image names in the node's containerd (k8s.io
// namespace), normalized.
func nodeImages(ctx context.Context, n nodes.Node) (map[string]bool, error) {
	var out, errOut bytes.Buffer
	cmd := n.CommandContext(ctx, "ctr", "--namespace=k8s.io", "images", "list", "--quiet")
	cmd.SetStdout(&out)
	cmd.SetStderr(&errOut)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("list images on node %q: %w: %s", n.String(), err, strings.TrimSpace(errOut.String()))
	}
	have := map[string]bool{}
	for _, l := range strings.Split(out.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			have[l] = true
		}
	}
	return have, nil
}

// loadResult says what loadImages did.
type loadResult struct {
	loaded, present []string
}

// loadImages loads the images (docker references in the local engine) into
// every node, as `kind load docker-image` does: one `docker save` stream
// imported by the node's containerd. An image whose reference the node
// already has is skipped: the images are tagged by content hash, so the
// same reference is the same content. Nodes have no crictl here, so
// presence is read with ctr.
func loadImages(ctx context.Context, ns []nodes.Node, refs []string) (loadResult, error) {
	var res loadResult
	want := map[string]bool{}
	for _, n := range ns {
		have, err := nodeImages(ctx, n)
		if err != nil {
			return res, err
		}
		for _, r := range refs {
			if !have[normalizeRef(r)] {
				want[r] = true
			}
		}
	}
	for _, r := range refs {
		if !want[r] {
			res.present = append(res.present, r)
		}
	}
	res.loaded = sortedKeys(want)
	if len(res.loaded) == 0 {
		return res, nil
	}
	for _, n := range ns {
		if err := saveInto(ctx, n, res.loaded); err != nil {
			return res, err
		}
	}
	// Verify: a load that silently dropped an image would only show up as
	// an ErrImageNeverPull pod much later.
	var missing []string
	for _, n := range ns {
		have, err := nodeImages(ctx, n)
		if err != nil {
			return res, err
		}
		for _, r := range res.loaded {
			if !have[normalizeRef(r)] {
				missing = append(missing, fmt.Sprintf("%s on node %s", r, n.String()))
			}
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return res, fmt.Errorf("load images: still missing after import: %s", strings.Join(missing, ", "))
	}
	return res, nil
}

// saveInto streams `docker save refs...` into the node's containerd.
func saveInto(ctx context.Context, n nodes.Node, refs []string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	save := exec.CommandContext(ctx, "docker", append([]string{"save"}, refs...)...)
	var saveErr bytes.Buffer
	save.Stderr = &saveErr
	stdout, err := save.StdoutPipe()
	if err != nil {
		return fmt.Errorf("docker save: %w", err)
	}
	if err := save.Start(); err != nil {
		return fmt.Errorf("docker save %s: %w", strings.Join(refs, " "), err)
	}
	loadErr := nodeutils.LoadImageArchive(n, stdout)
	if loadErr != nil {
		cancel() // stop docker save: nobody reads its output any more
	}
	waitErr := save.Wait()
	var errs []error
	if waitErr != nil && ctx.Err() == nil {
		errs = append(errs, fmt.Errorf("docker save %s: %w: %s", strings.Join(refs, " "), waitErr, strings.TrimSpace(saveErr.String())))
	}
	if loadErr != nil {
		if re := kindexec.RunErrorForError(loadErr); re != nil {
			loadErr = fmt.Errorf("%w: %s", loadErr, strings.TrimSpace(string(re.Output)))
		}
		errs = append(errs, fmt.Errorf("import images into node %q: %w", n.String(), loadErr))
	}
	return errors.Join(errs...)
}
