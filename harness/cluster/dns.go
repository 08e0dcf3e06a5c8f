package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilexec "k8s.io/client-go/util/exec"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"
)

// coreDNS is the cluster DNS kubeadm deploys; the replica replaces its
// Corefile with fixtures/kind/configmaps/kube-system/coredns/Corefile.
var coreDNS = deploymentRef{namespace: "kube-system", name: "coredns"}

// sealDNS applies the replica's Corefile (cluster names only, NXDOMAIN for
// every other name) and rolls CoreDNS onto it before any proxy starts: a
// proxy resolves its upstreams once at start, through glibc's search list,
// and must never get an address outside the replica. The pod template
// carries the Corefile's hash, so a reused cluster that already runs it is
// not rolled again.
func (r *Replica) sealDNS(ctx context.Context) (string, error) {
	var cm *object
	for i, o := range r.bundle.objects {
		if o.u.GetKind() == "ConfigMap" && o.u.GetNamespace() == coreDNS.namespace && o.u.GetName() == coreDNS.name {
			cm = &r.bundle.objects[i]
			break
		}
	}
	if cm == nil {
		return "", fmt.Errorf("no ConfigMap %s in the fixtures (configmaps/%s/%s/Corefile)", coreDNS, coreDNS.namespace, coreDNS.name)
	}
	if err := applyObjects(ctx, r.client.Resources(), []object{*cm}, false); err != nil {
		return "", err
	}
	hash := cm.u.GetAnnotations()[configHashAnnotation]
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, configHashAnnotation, hash)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: coreDNS.name, Namespace: coreDNS.namespace}}
	if err := r.client.Resources().Patch(ctx, d, k8s.Patch{PatchType: types.StrategicMergePatchType, Data: []byte(patch)}); err != nil {
		return "", fmt.Errorf("roll %s onto the replica's Corefile: %w", coreDNS, err)
	}
	timeout := r.opts.timeouts.Ready
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if err := waitRolledOut(ctx, r.client.Resources(), []deploymentRef{coreDNS}, timeout, 500*time.Millisecond); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s answers cluster.local only (Corefile %.12s)", coreDNS, hash), nil
}

// ErrNoSuchName: the name does not resolve inside the replica.
var ErrNoSuchName = errors.New("no such name")

// Resolve looks a name up from inside the replica, as its proxies do:
// getent (glibc, the pod's resolv.conf and search list) in the REST
// gateway's pod. It returns the addresses, or an error when the name does
// not resolve (ErrNoSuchName) or the lookup could not run.
func (r *Replica) Resolve(ctx context.Context, name string) ([]string, error) {
	var pods corev1.PodList
	if err := r.client.Resources(restGateway.namespace).List(ctx, &pods, resources.WithLabelSelector("app=rest-gateway")); err != nil {
		return nil, fmt.Errorf("resolve %q: list %s pods: %w", name, restGateway, err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		var stdout, stderr bytes.Buffer
		err := r.client.Resources().ExecInPod(ctx, p.Namespace, p.Name, p.Spec.Containers[0].Name, []string{"getent", "ahostsv4", name}, &stdout, &stderr)
		var exit utilexec.ExitError
		if errors.As(err, &exit) && exit.ExitStatus() == 2 { // getent: key not found
			return nil, fmt.Errorf("resolve %q in pod %s/%s: %w", name, p.Namespace, p.Name, ErrNoSuchName)
		}
		if err != nil {
			return nil, fmt.Errorf("resolve %q in pod %s/%s: %w (stderr %q)", name, p.Namespace, p.Name, err, strings.TrimSpace(stderr.String()))
		}
		var addrs []string
		for _, line := range strings.Split(stdout.String(), "\n") {
			if f := strings.Fields(line); len(f) > 0 && !slices.Contains(addrs, f[0]) {
				addrs = append(addrs, f[0])
			}
		}
		return addrs, nil
	}
	return nil, fmt.Errorf("resolve %q: no running %s pod", name, restGateway)
}
