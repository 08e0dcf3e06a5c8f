package cluster

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"sort"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/routing"
)

// Profiles: which ingress controller serves the Ingress objects.
const (
	// ProfileAirgap runs Traefik's ingress-nginx provider on the node image
	// built here (no registry needed).
	ProfileAirgap = "airgap"
	// ProfileUpstream runs the real ingress-nginx on kindest/node; it needs
	// a registry, so on the air-gapped machines it is only dry-run.
	ProfileUpstream = "upstream"
)

// Logical image names the manifests use ('{{ image "mwstub" }}').
const (
	ImageNode    = "node"
	ImageStub    = "mwstub"
	ImageTraefik = "traefik"
	ImageATS     = "ats"
	ImageHAProxy = "haproxy"
)

// Defaults.
const (
	DefaultName       = "pretrain-check"
	DefaultConfigFile = "kind-config.yaml"
	DefaultFixtures   = "fixtures/kind"
)

// Option configures Up.
type Option func(*options) error

type options struct {
	name       string
	configFile string
	fixtures   string
	profile    string
	images     map[string]string
	keep       bool
	reportDir  string
	timeouts   Timeouts
	logger     io.Writer
	ingress    string
	routes     *routing.Input
	edgeLua    *configFile
	kubeconfig string
}

// EdgeXWDScript is the edge's X-Wikimedia-Debug routing script, the key of
// its ConfigMap that WithEdgeLua replaces.
const EdgeXWDScript = "pretrain-infra/edge-config/xwd.lua"

// Ingress modes: what serves the ingress and jobrunner-gateway entries.
const (
	// IngressGateway (default) runs the ingress gateway generated from the
	// routing input (WithRoutes): one TLS listener on NodePort 30443, the
	// Gateway picked by SNI, the route by Host, as in production.
	IngressGateway = "gateway"
	// IngressObjects leaves them to the Ingress controllers (the Ingress
	// objects of fixtures/kind/manifests), for users who route with
	// ingress-nginx. The edge, REST gateway and mesh still reach the
	// generated gateway (by the names production's clients dial).
	IngressObjects = "objects"
)

func defaultOptions() options {
	return options{
		name:       DefaultName,
		configFile: DefaultConfigFile,
		fixtures:   DefaultFixtures,
		profile:    ProfileAirgap,
		images:     map[string]string{},
		timeouts:   DefaultTimeouts(),
		logger:     io.Discard,
		ingress:    IngressGateway,
	}
}

// kind cluster names become container names and kubeconfig contexts.
var clusterName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,48}[a-z0-9])?$`)

// WithName names the kind cluster (default "pretrain-check").
func WithName(name string) Option {
	return func(o *options) error {
		if !clusterName.MatchString(name) {
			return fmt.Errorf("cluster name %q: want lowercase letters, digits and '-', at most 50", name)
		}
		o.name = name
		return nil
	}
}

// WithConfigFile is the kind config (default "kind-config.yaml").
func WithConfigFile(path string) Option {
	return func(o *options) error {
		if path == "" {
			return errors.New("kind config path is empty")
		}
		o.configFile = path
		return nil
	}
}

// WithFixtures is the fixtures/kind directory (manifests, configmaps,
// upstream); default "fixtures/kind".
func WithFixtures(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return errors.New("fixtures directory is empty")
		}
		o.fixtures = dir
		return nil
	}
}

// WithProfile picks ProfileAirgap (default) or ProfileUpstream.
func WithProfile(profile string) Option {
	return func(o *options) error {
		if profile != ProfileAirgap && profile != ProfileUpstream {
			return fmt.Errorf("profile %q: want %q or %q", profile, ProfileAirgap, ProfileUpstream)
		}
		o.profile = profile
		return nil
	}
}

// WithIngress picks IngressGateway (default) or IngressObjects.
func WithIngress(mode string) Option {
	return func(o *options) error {
		if mode != IngressGateway && mode != IngressObjects {
			return fmt.Errorf("ingress %q: want %q or %q", mode, IngressGateway, IngressObjects)
		}
		o.ingress = mode
		return nil
	}
}

// WithRoutes is the routing input the ingress gateway is generated from
// (configtarget.Input.Read: `helm template` output of the mw-pretrain
// releases); nil means the project's example (fixtures/routes).
func WithRoutes(in *routing.Input) Option {
	return func(o *options) error { o.routes = in; return nil }
}

// WithEdgeLua runs a tslua remap script in place of the edge's own
// X-Wikimedia-Debug routing (EdgeXWDScript), unchanged: a copy of
// production's x-wikimedia-debug-routing.lua (operations-puppet). It runs
// between the CDN's script and the edge's other routing, with https as the
// scheme of the backends it names; the replica answers production's names
// and ports for them.
func WithEdgeLua(name string, script []byte) Option {
	return func(o *options) error {
		if len(script) == 0 {
			return fmt.Errorf("edge Lua %s: empty", name)
		}
		o.edgeLua = &configFile{path: EdgeXWDScript, data: script}
		return nil
	}
}

// WithNodeImage is the kind node image (same as WithImages ImageNode).
func WithNodeImage(ref string) Option {
	return WithImages(map[string]string{ImageNode: ref})
}

// WithImages sets image references by logical name (ImageNode, ImageStub,
// ...), e.g. from the images manifest; later calls override earlier ones
// name by name. Every image a manifest names must be set.
func WithImages(refs map[string]string) Option {
	return func(o *options) error {
		var empty []string
		for name, ref := range refs {
			if ref == "" {
				empty = append(empty, name)
				continue
			}
			o.images[name] = ref
		}
		if len(empty) > 0 {
			sort.Strings(empty)
			return fmt.Errorf("images %q: empty reference", empty)
		}
		return nil
	}
}

// WithKeep keeps the cluster when Up fails or is interrupted (for
// debugging); callers also skip their teardown.
func WithKeep(keep bool) Option {
	return func(o *options) error { o.keep = keep; return nil }
}

// WithReportDir is where diagnostics are written on failure
// (<dir>/diagnostics/...); empty means the logger only.
func WithReportDir(dir string) Option {
	return func(o *options) error { o.reportDir = dir; return nil }
}

// WithTimeouts sets the time budgets; zero fields keep their defaults.
func WithTimeouts(t Timeouts) Option {
	return func(o *options) error {
		t = t.withDefaults()
		if err := t.validate(); err != nil {
			return fmt.Errorf("timeouts: %w", err)
		}
		o.timeouts = t
		return nil
	}
}

// WithLogger receives one line per step and, on failure, the diagnostics.
func WithLogger(w io.Writer) Option {
	return func(o *options) error {
		if w == nil {
			w = io.Discard
		}
		o.logger = w
		return nil
	}
}

func buildOptions(opts []Option) (options, error) {
	o := defaultOptions()
	var errs []error
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("options: %w", err)
	}
	for _, p := range []*string{&o.configFile, &o.fixtures, &o.kubeconfig} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return o, fmt.Errorf("options: resolve %q: %w", *p, err)
		}
		*p = abs
	}
	return o, nil
}

// KeepPolicy says when a finished run keeps its cluster: never, always,
// or only when something failed (to look at what went wrong).
type KeepPolicy string

// Keep policies, as PRETRAIN_E2E_KEEP (E2E_KEEP) spells them.
const (
	KeepNever     KeepPolicy = ""
	KeepAlways    KeepPolicy = "always"
	KeepOnFailure KeepPolicy = "on-failure"
)

// ParseKeepPolicy reads "" (never), "1", "true" or "always", and
// "on-failure".
func ParseKeepPolicy(s string) (KeepPolicy, error) {
	switch s {
	case "", "0", "false", "never":
		return KeepNever, nil
	case "1", "true", "always":
		return KeepAlways, nil
	case "on-failure":
		return KeepOnFailure, nil
	}
	return KeepNever, fmt.Errorf("keep policy %q: want always (or 1), on-failure or never (or empty)", s)
}

// Keep reports whether the cluster stays, given whether the run failed.
func (p KeepPolicy) Keep(failed bool) bool {
	return p == KeepAlways || (p == KeepOnFailure && failed)
}
