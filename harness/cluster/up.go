package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/e2e-framework/klient"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/kindtarget"
)

// Stamp: what a cluster was created from, so a later run can tell whether
// an existing cluster of the same name may be reused.
const (
	stampNamespace = "kube-system"
	stampName      = "pretrain-check-replica"
	stampKey       = "created-from"
)

// ErrInput is wrapped by Up's errors about its input (options, the kind
// config, the fixtures, the routing input, an edge script), found before
// anything is created.
var ErrInput = errors.New("bad input")

// Up brings the replica up: create (or reuse) the kind cluster, load the
// images, apply the manifests, wait for every Deployment, and probe the
// entry points until they converge. Each step prints one line on the
// logger. On any failure, or when ctx is cancelled (SIGINT), it prints the
// failing step and the diagnostics, writes them under the report
// directory, and deletes the cluster unless WithKeep; the error is a
// *StepError naming the step.
func Up(ctx context.Context, opts ...Option) (*Replica, error) {
	o, err := buildOptions(opts)
	if err == nil && o.images[ImageNode] == "" {
		err = errors.New("options: no node image (WithNodeImage or WithImages)")
	}
	if err != nil {
		return nil, fmt.Errorf("bring up replica: %w: %w", ErrInput, err)
	}
	r, err := newReplica(o)
	if err == nil {
		err = r.planGateway()
	}
	if err != nil {
		return nil, fmt.Errorf("bring up replica %q: %w: %w", o.name, ErrInput, err)
	}
	first := []step{
		{name: "create", timeout: o.timeouts.Create + o.timeouts.Delete, run: r.createOrReuse},
		{name: "load", timeout: o.timeouts.Load, run: r.load},
	}
	if o.kubeconfig != "" {
		first = []step{
			{name: "adopt", timeout: o.timeouts.Apply, run: r.adopt},
			{name: "load", timeout: o.timeouts.Load, run: r.loadExisting},
		}
	}
	steps := append(first, []step{
		{name: "dns", timeout: o.timeouts.Ready, run: r.sealDNS},
		{name: "apply", timeout: o.timeouts.Apply, run: r.applyStep},
		{name: "ready", timeout: o.timeouts.Ready, run: r.ready},
		{name: "converge", timeout: o.timeouts.Converge + o.timeouts.Request, run: r.converge},
	}...)
	err = runSteps(ctx, o.logger, "up", steps)
	if err == nil {
		return r, nil
	}
	r.fail(err)
	return nil, fmt.Errorf("bring up replica %q: %w", o.name, err)
}

// Attach returns the Replica of a running cluster brought up earlier (by
// another process: `pretrain-check up`, then `run`, `faults` or `down`),
// with the same options Up was given. It checks that the API server
// answers; it changes nothing.
func Attach(ctx context.Context, opts ...Option) (*Replica, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("attach to replica: %w", err)
	}
	r, err := newReplica(o)
	if err != nil {
		return nil, fmt.Errorf("attach to replica %q: %w", o.name, err)
	}
	if o.kubeconfig != "" {
		if err := r.connectKubeconfig(); err != nil {
			return nil, fmt.Errorf("attach to replica on %s: %w", o.kubeconfig, err)
		}
	} else {
		exists, err := r.exists()
		if err != nil {
			return nil, fmt.Errorf("attach to replica %q: %w", o.name, err)
		}
		if !exists {
			return nil, fmt.Errorf("attach to replica %q: no such kind cluster (pretrain-check up first)", o.name)
		}
		if err := r.connect(); err != nil {
			return nil, fmt.Errorf("attach to replica %q: %w", o.name, err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := r.clientset.Discovery().ServerVersion(); err != nil || cctx.Err() != nil {
		return nil, fmt.Errorf("attach to replica %q: API server not answering: %w", o.name, errors.Join(err, cctx.Err()))
	}
	roots, ok, err := r.gatewayRoots(cctx)
	if err != nil {
		return nil, fmt.Errorf("attach to replica %q: %w", o.name, err)
	}
	if ok {
		r.target.UseGateway(roots)
	}
	r.reused = true
	return r, nil
}

// Down deletes the named kind cluster (WithName; default
// "pretrain-check"), whoever created it, printing "[down] teardown 4.9s";
// on an existing cluster (WithKubeconfig) it removes exactly what up
// created there and puts CoreDNS's Corefile back. Only the name,
// kubeconfig, timeouts and logger options matter. A cluster that does not
// exist is not an error.
func Down(ctx context.Context, opts ...Option) error {
	o, err := buildOptions(opts)
	if err != nil {
		return fmt.Errorf("tear down replica: %w", err)
	}
	r := &Replica{name: o.name, opts: o, provider: newProvider(o)}
	return r.Down(ctx)
}

func newProvider(o options) *kindcluster.Provider {
	return kindcluster.NewProvider(kindcluster.ProviderWithDocker(), kindcluster.ProviderWithLogger(&kindLogger{w: o.logger}))
}

// fail runs after a failed or interrupted bring-up: diagnostics first (the
// cluster must still exist), then the teardown unless keep. Both get fresh
// contexts: the caller's may be cancelled already.
func (r *Replica) fail(cause error) {
	w := r.opts.logger
	if r.opts.kubeconfig != "" && !r.adopted {
		return // refused before anything was created on the cluster
	}
	if exists, _ := r.exists(); exists || r.adopted {
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.timeouts.Diagnostics)
		if err := r.collect(ctx, r.opts.reportDir, true); err != nil {
			fmt.Fprintf(w, "[diagnostics] incomplete: %v\n", err)
		}
		cancel()
	}
	if r.opts.keep {
		if r.opts.kubeconfig != "" {
			fmt.Fprintf(w, "[up] keeping what up created on %s (keep): remove it with `pretrain-check down --kubeconfig %s`\n", r.opts.kubeconfig, r.opts.kubeconfig)
			return
		}
		fmt.Fprintf(w, "[up] keeping cluster %q (keep): delete it with `pretrain-check down` or `kind delete cluster --name %s`\n", r.name, r.name)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.timeouts.Delete)
	defer cancel()
	if err := r.Down(ctx); err != nil {
		fmt.Fprintf(w, "[down] could not delete cluster %q after %v: %v\n", r.name, cause, err)
	}
}

func newReplica(o options) (*Replica, error) {
	cfg, err := os.ReadFile(o.configFile)
	if err != nil {
		return nil, fmt.Errorf("read kind config: %w", err)
	}
	ports, err := kindtarget.ParseHostPorts(cfg)
	if err != nil {
		return nil, fmt.Errorf("read kind config %q: %w", o.configFile, err)
	}
	tg, err := kindtarget.New(ports)
	if err != nil {
		return nil, fmt.Errorf("kind config %q: %w", o.configFile, err)
	}
	var overrides []configFile
	if o.edgeLua != nil {
		overrides = append(overrides, *o.edgeLua)
	}
	b, err := loadBundle(o.fixtures, o.profile, o.ingress, o.images, overrides...)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(cfg)
	fmt.Fprintf(h, "\x00%s", o.images[ImageNode])
	return &Replica{
		name:     o.name,
		opts:     o,
		provider: newProvider(o),
		target:   tg,
		bundle:   b,
		stamp:    hex.EncodeToString(h.Sum(nil))[:16],
	}, nil
}

// exists reports whether a kind cluster called name has nodes.
func (r *Replica) exists() (bool, error) {
	names, err := r.provider.List()
	if err != nil {
		return false, fmt.Errorf("list kind clusters: %w", err)
	}
	for _, n := range names {
		if n == r.name {
			return true, nil
		}
	}
	return false, nil
}

func (r *Replica) createOrReuse(ctx context.Context) (string, error) {
	exists, err := r.exists()
	if err != nil {
		return "", err
	}
	replaced := ""
	if exists {
		why := r.reusable(ctx)
		if why == "" {
			r.reused = true
			return fmt.Sprintf("reused cluster %q", r.name), nil
		}
		if err := r.delete(ctx); err != nil {
			return "", fmt.Errorf("delete existing cluster %q (%s): %w", r.name, why, err)
		}
		replaced = fmt.Sprintf("; replaced an existing cluster: %s", why)
	}
	if err := r.create(ctx); err != nil {
		return "", err
	}
	if err := r.connect(); err != nil {
		return "", err
	}
	if err := r.writeStamp(ctx); err != nil {
		return "", err
	}
	return fmt.Sprintf("node image %s%s", r.opts.images[ImageNode], replaced), nil
}

// create runs kind's Create, which takes no context: on cancellation the
// cluster is deleted at once (so Create fails fast) and again once Create
// returns, in case it had not made its node yet.
func (r *Replica) create(ctx context.Context) error {
	cfg, err := os.ReadFile(r.opts.configFile)
	if err != nil {
		return fmt.Errorf("read kind config: %w", err)
	}
	copts := []kindcluster.CreateOption{
		kindcluster.CreateWithRawConfig(cfg),
		kindcluster.CreateWithNodeImage(r.opts.images[ImageNode]),
		// No wait for the node to be Ready: the next steps only talk to
		// the API server, and the ready step waits for the node.
		kindcluster.CreateWithDisplayUsage(false),
		kindcluster.CreateWithDisplaySalutation(false),
	}
	done := make(chan error, 1)
	go func() { done <- r.provider.Create(r.name, copts...) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("create kind cluster %q: %w", r.name, err)
		}
		return nil
	case <-ctx.Done():
		fmt.Fprintf(r.opts.logger, "[up] create interrupted: deleting cluster %q while kind finishes\n", r.name)
		delErr := r.delete(context.Background())
		createErr := <-done
		delErr2 := r.delete(context.Background())
		return errors.Join(ctx.Err(), createErr, delErr, delErr2)
	}
}

// reusable returns "" when the existing cluster may be reused, else why not.
func (r *Replica) reusable(ctx context.Context) string {
	if err := r.connect(); err != nil {
		return fmt.Sprintf("no usable kubeconfig: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	cm, err := r.clientset.CoreV1().ConfigMaps(stampNamespace).Get(cctx, stampName, metav1.GetOptions{})
	if err != nil {
		r.client, r.clientset = nil, nil
		return fmt.Sprintf("API server not answering or stamp missing (an interrupted run?): %v", err)
	}
	if got := cm.Data[stampKey]; got != r.stamp {
		r.client, r.clientset = nil, nil
		return fmt.Sprintf("created from another kind config or node image (stamp %q, want %q)", got, r.stamp)
	}
	return ""
}

func (r *Replica) writeStamp(ctx context.Context) error {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: stampName, Namespace: stampNamespace,
			Labels: map[string]string{"app.kubernetes.io/part-of": "pretrain-check"}},
		Data: map[string]string{
			stampKey:     r.stamp,
			"node-image": r.opts.images[ImageNode],
			"created-at": time.Now().UTC().Format(time.RFC3339),
		},
	}
	if _, err := r.clientset.CoreV1().ConfigMaps(stampNamespace).Create(ctx, cm, metav1.CreateOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("write replica stamp %s/%s: %w", stampNamespace, stampName, err)
	}
	return nil
}

// connect builds the API clients from the cluster's kubeconfig.
func (r *Replica) connect() error {
	kc, err := r.provider.KubeConfig(r.name, false)
	if err != nil {
		return fmt.Errorf("get kubeconfig of cluster %q: %w", r.name, err)
	}
	return r.clientsFrom([]byte(kc), fmt.Sprintf("kubeconfig of cluster %q", r.name))
}

// clientsFrom builds the API clients from a kubeconfig.
func (r *Replica) clientsFrom(kubeconfig []byte, source string) error {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("parse %s: %w", source, err)
	}
	cfg.Timeout = 30 * time.Second
	// Bring-up and diagnostics send bursts of requests to a local API
	// server: no need for client-go's default 5 QPS throttling.
	cfg.QPS, cfg.Burst = 50, 100
	// Warnings (e.g. "a DNS label is recommended" for the production-style
	// Deployment names with dots) go to the logger once each, not to klog.
	cfg.WarningHandler = rest.NewWarningWriter(r.opts.logger, rest.WarningWriterOptions{Deduplicate: true})
	return r.setClients(string(kubeconfig), cfg)
}

func (r *Replica) setClients(kubeconfig string, cfg *rest.Config) error {
	kc, err := klient.New(cfg)
	if err != nil {
		return fmt.Errorf("build client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("build clientset: %w", err)
	}
	r.kubeconfig, r.rest, r.client, r.clientset = kubeconfig, cfg, kc, cs
	return nil
}

func (r *Replica) load(ctx context.Context) (string, error) {
	ns, err := r.provider.ListInternalNodes(r.name)
	if err != nil {
		return "", fmt.Errorf("list nodes of cluster %q: %w", r.name, err)
	}
	var refs []string
	for _, name := range r.bundle.images {
		if ref, ok := r.opts.images[name]; ok && !strings.HasPrefix(ref, "registry.k8s.io/") {
			refs = append(refs, ref)
		}
	}
	res, err := loadImages(ctx, ns, refs)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d images loaded, %d already on the node", len(res.loaded), len(res.present)), nil
}

// applyStep applies the manifests; on a reused cluster it also restarts
// the proxies that read ConfigMaps: a pod keeps the config it started with,
// whatever a kept run left behind.
func (r *Replica) applyStep(ctx context.Context) (string, error) {
	if r.reused {
		return r.applyAndRestart(ctx)
	}
	return r.apply(ctx)
}

func (r *Replica) apply(ctx context.Context) (string, error) {
	if err := applyObjects(ctx, r.client.Resources(), r.bundle.objects, false); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d objects, profile %s", len(r.bundle.objects), r.opts.profile), nil
}

// deploymentRefs are the bundle's Deployments plus CoreDNS, which the
// proxies need to resolve their upstreams.
func (r *Replica) deploymentRefs() []deploymentRef {
	refs := []deploymentRef{coreDNS}
	for _, o := range r.bundle.deployments() {
		refs = append(refs, deploymentRef{namespace: o.u.GetNamespace(), name: o.u.GetName()})
	}
	return refs
}

func (r *Replica) ready(ctx context.Context) (string, error) {
	refs := r.deploymentRefs()
	timeout := r.readyTimeout(ctx)
	// The nodes first: a node that never gets Ready is named as such, not
	// as 19 Deployments without pods.
	if err := waitNodesReady(ctx, r.client.Resources(), timeout, readyInterval); err != nil {
		return "", err
	}
	if err := waitRolledOut(ctx, r.client.Resources(), refs, timeout, readyInterval); err != nil {
		return "", err
	}
	return fmt.Sprintf("%d deployments", len(refs)), nil
}

func (r *Replica) converge(ctx context.Context) (string, error) {
	res, err := converge(ctx, r.target, r.opts.timeouts)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d probes, %d in a row each; slowest %s %.1fs", res.probes, r.opts.timeouts.RequiredConsecutive, res.slowest, res.slowestT.Seconds()), nil
}
