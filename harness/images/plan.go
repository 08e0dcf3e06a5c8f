package images

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Step names, in the order Build runs them when nothing runs concurrently.
const (
	StepEngine       = "docker-engine"
	StepDebianBase   = "debian-base"
	StepKubeBinaries = "kube-binaries"
	StepEtcd         = "etcd"
	StepCoreDNS      = "coredns"
	StepPause        = "pause"
	StepControlPlane = "control-plane"
	StepKubeProxy    = "kube-proxy"
	StepNode         = "node-image"
	StepTraefik      = "traefik"
	StepATS          = "ats"
	StepHAProxy      = "haproxy"
	StepMWStub       = "mwstub"
	StepKindCLI      = "kind-cli"
)

// Image names: keys of Manifest.Images and of Tags.
const (
	ImageDebianBase            = "debian-base"
	ImageEtcd                  = "etcd"
	ImageCoreDNS               = "coredns"
	ImagePause                 = "pause"
	ImageKubeAPIServer         = "kube-apiserver"
	ImageKubeControllerManager = "kube-controller-manager"
	ImageKubeScheduler         = "kube-scheduler"
	ImageKubeProxy             = "kube-proxy"
	ImageNode                  = "node"    // kind node image
	ImageTraefik               = "traefik" // ingress controller (kubernetesIngressNGINX provider)
	ImageATS                   = "ats"     // edge
	ImageHAProxy               = "haproxy" // REST gateway and mesh proxy
	ImageMWStub                = "mwstub"  // stub MediaWiki
)

// Repository is the default repository part of every tag (Options.Repository).
const Repository = "pretrain-check"

// recipe is bumped when the build code changes what a step produces.
const recipe = "1"

// Step is one named step of the plan.
type Step struct {
	Name   string
	Deps   []string          // steps that must succeed first
	Hash   string            // content hash of the inputs (hex SHA-256); "" for docker-engine
	Images map[string]string // image name -> tag, for the images this step produces

	cpuHeavy  bool // its Go build takes the CPU token
	inputs    func(p *planner, s *Step, h *hasher) error
	goHash    string // hash of the Go build inputs alone (binary cache key)
	layerHash string // hash of the Debian layer inputs alone (layer cache key)
	build     func(ctx context.Context, b *builder, l *stepLog, s *Step) (built bool, err error)
}

// Plan is the ordered list of steps and the tags they produce.
type Plan struct {
	Steps     []*Step
	Images    map[string]string // image name -> tag
	Preloaded map[string]string // image reference inside the node's containerd -> image name
	GoVersion string
	opts      Options
	kindDir   string // sigs.k8s.io/kind module directory (base-image files), set by Build
}

// Step returns the named step, or nil.
func (p *Plan) Step(name string) *Step {
	for _, s := range p.Steps {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// ImageTag is the tag of an image whose inputs hash to hash, in repository
// repo ("" is Repository).
func ImageTag(repo, image, hash string) string {
	if repo == "" {
		repo = Repository
	}
	return repo + "/" + image + ":" + short(hash)
}

// Tags computes, without building anything, the tag of every image: the same
// tags Build produces from the same repository, Go version and options.
func Tags(ctx context.Context, opts Options) (map[string]string, error) {
	p, err := NewPlan(ctx, opts)
	if err != nil {
		return nil, err
	}
	return p.Images, nil
}

// planner computes hashes.
type planner struct {
	ctx       context.Context
	opts      Options
	goVersion string
	goEnv     map[string]string
	hashes    map[string]string // step hashes computed so far
}

func (p *planner) fixture(parts ...string) string {
	return filepath.Join(append([]string{p.opts.RepoRoot, "fixtures", "images"}, parts...)...)
}

// NewPlan resolves options and hashes every step's inputs.
func NewPlan(ctx context.Context, opts Options) (*Plan, error) {
	opts, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	pl := &planner{ctx: ctx, opts: opts}
	if pl.goEnv, err = goEnv(ctx, opts.Go, opts.RepoRoot, "GOVERSION", "GOARCH", "GOOS", "GOMODCACHE"); err != nil {
		return nil, err
	}
	pl.goVersion = pl.goEnv["GOVERSION"]
	steps := definition()
	p := &Plan{Steps: steps, Images: map[string]string{}, Preloaded: preloaded(), GoVersion: pl.goVersion, opts: opts}
	sel, err := p.selected(opts.Steps)
	if err != nil {
		return nil, err
	}
	hashes := map[string]string{}
	pl.hashes = hashes
	for _, s := range steps {
		for _, d := range s.Deps {
			if _, ok := hashes[d]; !ok {
				return nil, fmt.Errorf("plan step %q: dependency %q comes later or does not exist", s.Name, d)
			}
			if hashes[d] == "" && p.Step(d).inputs != nil {
				hashes[s.Name] = "" // a dependency's inputs are unknown, so are this step's
			}
		}
		if v, ok := hashes[s.Name]; ok && v == "" {
			continue
		}
		if s.inputs == nil {
			hashes[s.Name] = ""
			continue
		}
		h := newHasher()
		h.value("recipe", recipe)
		h.value("step", s.Name)
		for _, d := range s.Deps {
			if hashes[d] != "" {
				h.value("dep/"+d, hashes[d])
			}
		}
		if err := s.inputs(pl, s, h); err != nil {
			if !sel[s.Name] {
				// not asked for: its tag stays unknown rather than failing the build
				hashes[s.Name] = ""
				continue
			}
			return nil, fmt.Errorf("plan step %q: %w", s.Name, err)
		}
		s.Hash = h.sum()
		hashes[s.Name] = s.Hash
		for img := range s.Images {
			s.Images[img] = ImageTag(opts.Repository, img, imageHash(s, img))
			p.Images[img] = s.Images[img]
		}
	}
	return p, nil
}

// imageHash distinguishes the images of a step that builds several.
func imageHash(s *Step, image string) string {
	if len(s.Images) == 1 {
		return s.Hash
	}
	h := newHasher()
	h.value("step", s.Hash)
	h.value("image", image)
	return h.sum()
}

// preloaded lists the images kubeadm v1.33.13 runs, by the references
// `kubeadm config images list --kubernetes-version v1.33.13` prints; the node
// step checks that list against this one.
func preloaded() map[string]string {
	k := Pinned.Kubernetes
	return map[string]string{
		"registry.k8s.io/kube-apiserver:" + k:               ImageKubeAPIServer,
		"registry.k8s.io/kube-controller-manager:" + k:      ImageKubeControllerManager,
		"registry.k8s.io/kube-scheduler:" + k:               ImageKubeScheduler,
		"registry.k8s.io/kube-proxy:" + k:                   ImageKubeProxy,
		"registry.k8s.io/coredns/coredns:" + Pinned.CoreDNS: ImageCoreDNS,
		"registry.k8s.io/pause:" + Pinned.Pause:             ImagePause,
		"registry.k8s.io/etcd:" + Pinned.Etcd + "-0":        ImageEtcd,
	}
}

// replicaImages are preloaded into the node image too, under their own
// tags, as the control plane's are: `up` then finds them on the node and
// loads nothing. Traefik runs only with `up --ingress objects` and is
// loaded then.
var replicaImages = []string{ImageATS, ImageHAProxy, ImageMWStub}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// goEnv reads `go env` variables.
func goEnv(ctx context.Context, goCmd, dir string, names ...string) (map[string]string, error) {
	c := exec.CommandContext(ctx, goCmd, append([]string{"env"}, names...)...)
	c.Dir = dir
	c.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off")
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return nil, &CommandError{Args: c.Args, Dir: dir, Tail: stderr.String(), Err: err}
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(names) {
		return nil, fmt.Errorf("read go env: expected %d values, got %q", len(names), out)
	}
	env := map[string]string{}
	for i, n := range names {
		env[n] = lines[i]
	}
	return env, nil
}
