package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/e2e-framework/klient"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/kindtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// Replica is a running kind replica.
type Replica struct {
	name     string
	opts     options
	provider *kindcluster.Provider
	target   *kindtarget.Target
	bundle   bundle
	stamp    string
	reused   bool
	gateway  *Gateway
	adopted  bool // up recorded itself on an existing cluster (WithKubeconfig)

	kubeconfig string
	rest       *rest.Config
	client     klient.Client
	clientset  kubernetes.Interface
}

// Name is the kind cluster's name.
func (r *Replica) Name() string { return r.name }

// Target maps every contract entry point to the replica's 127.0.0.1 ports.
func (r *Replica) Target() target.Target { return r.target }

// Kubeconfig is the kubeconfig the replica's clients use: a later process
// attaches with it (WithKubeconfig) without asking kind, which takes a
// docker exec.
func (r *Replica) Kubeconfig() []byte { return []byte(r.kubeconfig) }

// Down deletes the kind cluster (and its kubeconfig entry), printing
// "[down] teardown 4.9s". Deleting a cluster that does not exist is not an
// error.
func (r *Replica) Down(ctx context.Context) error {
	if r.opts.kubeconfig != "" {
		if err := runStep(ctx, r.opts.logger, "down", step{name: "release", timeout: r.opts.timeouts.Delete, run: r.release}); err != nil {
			return fmt.Errorf("tear down replica on %s: %w", r.opts.kubeconfig, err)
		}
		return nil
	}
	err := runStep(ctx, r.opts.logger, "down", step{name: "teardown", timeout: r.opts.timeouts.Delete, run: func(ctx context.Context) (string, error) {
		return fmt.Sprintf("cluster %q", r.name), r.delete(ctx)
	}})
	if err != nil {
		return fmt.Errorf("tear down replica %q: %w", r.name, err)
	}
	return nil
}

// delete runs kind's Delete, which takes no context, giving up waiting on
// ctx (kind keeps deleting in the background).
func (r *Replica) delete(ctx context.Context) error {
	done := make(chan error, 1)
	// "": kind's default kubeconfig, where create wrote the cluster's.
	go func() { done <- r.provider.Delete(r.name, "") }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("delete kind cluster %q: %w", r.name, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("delete kind cluster %q: %w", r.name, ctx.Err())
	}
}

// configuredDeployments are the Deployments whose pods mount a ConfigMap
// (their template carries the config-hash annotation).
func (r *Replica) configuredDeployments() []deploymentRef {
	var out []deploymentRef
	for _, o := range r.bundle.deployments() {
		tmpl, _, _ := unstructured.NestedStringMap(o.u.Object, "spec", "template", "metadata", "annotations")
		if _, ok := tmpl[configHashAnnotation]; ok {
			out = append(out, deploymentRef{o.u.GetNamespace(), o.u.GetName()})
		}
	}
	return out
}

// restart asks for a new rollout of each Deployment, without waiting.
func (r *Replica) restart(ctx context.Context, refs []deploymentRef) error {
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
	var errs []error
	for _, ref := range refs {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: ref.name, Namespace: ref.namespace}}
		if err := r.client.Resources().Patch(ctx, d, k8s.Patch{PatchType: types.StrategicMergePatchType, Data: []byte(patch)}); err != nil {
			errs = append(errs, fmt.Errorf("restart deployment %s: %w", ref, err))
		}
	}
	return errors.Join(errs...)
}

// applyAndRestart applies the manifests and restarts the configured
// proxies, so that they run the fixtures' configs whatever happened before.
func (r *Replica) applyAndRestart(ctx context.Context) (string, error) {
	// A fault proof that was stopped leaves its variant serving.
	stopped := map[deploymentRef]bool{}
	for _, f := range Faults() {
		if v := f.variant(); !stopped[v.proxy] {
			if err := v.stop(ctx, r); err != nil {
				return "", err
			}
			stopped[v.proxy] = true
		}
	}
	detail, err := r.apply(ctx)
	if err != nil {
		return "", err
	}
	refs := r.configuredDeployments()
	if err := r.restart(ctx, refs); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s; restarted %d proxies", detail, len(refs)), nil
}

// readyTimeout bounds a wait for pods: ctx's deadline, else the ready
// timeout.
func (r *Replica) readyTimeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return r.opts.timeouts.Ready
}

// waitRolledOut waits, within ctx's deadline (else the ready timeout),
// until the Deployments run only pods of their latest template.
func (r *Replica) waitRolledOut(ctx context.Context, refs ...deploymentRef) error {
	timeout := r.readyTimeout(ctx)
	return waitRolledOut(ctx, r.client.Resources(), refs, timeout, readyInterval)
}

// DryRun renders a profile's manifests with the replica's images and
// server-side applies them in dry-run mode against the replica's API
// server: schema, strict field validation, admission and immutable-field
// checks, nothing persisted. It is how the upstream profile (which needs
// a registry) stays valid here. It returns the number of objects checked.
func (r *Replica) DryRun(ctx context.Context, profile string) (int, error) {
	// The upstream profile is the real ingress-nginx: its Ingress objects
	// are what a dry-run checks, whatever serves this replica's ingress.
	b, err := loadBundle(r.opts.fixtures, profile, IngressObjects, r.opts.images)
	if err != nil {
		return 0, fmt.Errorf("dry-run profile %q: %w", profile, err)
	}
	if err := applyObjects(ctx, r.client.Resources(), b.objects, true); err != nil {
		return len(b.objects), fmt.Errorf("dry-run profile %q: %w", profile, err)
	}
	return len(b.objects), nil
}
