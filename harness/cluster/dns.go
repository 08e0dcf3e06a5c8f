package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilexec "k8s.io/client-go/util/exec"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"
	"sigs.k8s.io/e2e-framework/klient/wait"
)

// coreDNS is the cluster DNS kubeadm deploys; the replica replaces its
// Corefile with fixtures/kind/configmaps/kube-system/coredns/Corefile.
var coreDNS = deploymentRef{namespace: "kube-system", name: "coredns"}

// sealDNS applies the replica's Corefile (cluster names only, NXDOMAIN for
// every other name) and rolls CoreDNS onto it before any proxy starts: a
// proxy resolves its upstreams through glibc's search list, and must never
// get an address outside the replica. The pod template carries the
// Corefile's hash, so a reused cluster that already runs it is not rolled
// again. It waits only until no CoreDNS pod with another Corefile can
// answer (dnsSealed); the new pods' readiness is the ready step's, so on
// a fresh cluster, whose CoreDNS has not started yet, the proxies are
// applied at once and start with it.
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
	strategy := ""
	if r.opts.kubeconfig == "" {
		// On a kind cluster of its own: Recreate, so kubeadm's pods, made
		// before the node was Ready, are deleted before they ever start
		// instead of running until the new ones are available. On a
		// user's cluster the roll keeps its DNS up.
		strategy = `"strategy":{"type":"Recreate","rollingUpdate":null},`
	}
	patch := fmt.Sprintf(`{"spec":{%s"template":{"metadata":{"annotations":{%q:%q}}}}}`, strategy, configHashAnnotation, hash)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: coreDNS.name, Namespace: coreDNS.namespace}}
	if err := r.client.Resources().Patch(ctx, d, k8s.Patch{PatchType: types.StrategicMergePatchType, Data: []byte(patch)}); err != nil {
		return "", fmt.Errorf("roll %s onto the replica's Corefile: %w", coreDNS, err)
	}
	if err := r.client.Resources().Get(ctx, coreDNS.name, coreDNS.namespace, d); err != nil {
		return "", fmt.Errorf("read %s: %w", coreDNS, err)
	}
	sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels).String()
	var pods corev1.PodList
	sealed := func(ctx context.Context) (bool, error) {
		if err := r.client.Resources(coreDNS.namespace).List(ctx, &pods, resources.WithLabelSelector(sel)); err != nil {
			return false, err
		}
		return dnsSealed(pods.Items, hash), nil
	}
	timeout := r.readyTimeout(ctx)
	if err := wait.For(sealed, wait.WithContext(ctx), wait.WithTimeout(timeout), wait.WithInterval(readyInterval), wait.WithImmediate()); err != nil {
		return "", fmt.Errorf("wait until no %s pod runs another Corefile (pods: %s): %w", coreDNS, describePods(pods.Items, hash), err)
	}
	return fmt.Sprintf("%s answers cluster.local only (Corefile %.12s)", coreDNS, hash), nil
}

// dnsSealed: every CoreDNS pod runs the Corefile whose hash is given, or
// is being deleted without ever having had an address (a pod kubeadm made
// before the node was Ready, never started): none can answer otherwise.
func dnsSealed(pods []corev1.Pod, hash string) bool {
	for _, p := range pods {
		if p.Annotations[configHashAnnotation] == hash {
			continue
		}
		if p.DeletionTimestamp != nil && p.Status.PodIP == "" {
			continue
		}
		return false
	}
	return true
}

func describePods(pods []corev1.Pod, hash string) string {
	var out []string
	for _, p := range pods {
		corefile := "the replica's Corefile"
		if p.Annotations[configHashAnnotation] != hash {
			corefile = "another Corefile"
		}
		out = append(out, fmt.Sprintf("%s %s (IP %q, deleting %t, %s)", p.Name, p.Status.Phase, p.Status.PodIP, p.DeletionTimestamp != nil, corefile))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
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
