package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/e2e-framework/klient/k8s"
)

// An existing cluster (WithKubeconfig) is not the replica's to delete: up
// records in its stamp what it creates there (the Namespaces and the
// cluster-scoped objects of the bundle) and CoreDNS's Corefile before it
// sealed it, and down deletes exactly those and puts the Corefile back.
const (
	stampCreatedKey  = "created"           // JSON list of clusterObject
	stampCorefileKey = "original-corefile" // CoreDNS's Corefile before up
)

// clusterObject names a cluster-scoped object up created.
type clusterObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
}

func (c clusterObject) String() string { return c.Kind + "/" + c.Name }

func (c clusterObject) object() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(c.APIVersion)
	u.SetKind(c.Kind)
	u.SetName(c.Name)
	return u
}

// WithKubeconfig puts the replica on the existing cluster the kubeconfig
// FILE's current context names, instead of a kind cluster: no cluster is
// created or deleted. Its nodes must have the images (a kind cluster the
// local kind knows gets them loaded, as the replica's own), and the kind
// config's port mappings still say where this machine reaches each
// NodePort.
func WithKubeconfig(path string) Option {
	return func(o *options) error {
		if path == "" {
			return errors.New("kubeconfig path is empty")
		}
		o.kubeconfig = path
		return nil
	}
}

// connectKubeconfig builds the clients from the kubeconfig file.
func (r *Replica) connectKubeconfig() error {
	data, err := os.ReadFile(r.opts.kubeconfig)
	if err != nil {
		return fmt.Errorf("read kubeconfig: %w", err)
	}
	return r.clientsFrom(data, "kubeconfig "+r.opts.kubeconfig)
}

// kindName is the local kind cluster the kubeconfig's current context
// names ("kind-<name>"), or "" when it names none kind knows here.
func (r *Replica) kindName() string {
	raw, err := clientcmd.LoadFromFile(r.opts.kubeconfig)
	if err != nil {
		return ""
	}
	name, ok := strings.CutPrefix(raw.CurrentContext, "kind-")
	if !ok {
		return ""
	}
	names, err := r.provider.List()
	if err != nil || !slices.Contains(names, name) {
		return ""
	}
	return name
}

// clusterScoped are the bundle's objects without a namespace (Namespaces,
// ClusterRoles, IngressClasses, ...).
func (r *Replica) clusterScoped() []clusterObject {
	var out []clusterObject
	for _, o := range r.bundle.objects {
		if o.u.GetNamespace() == "" {
			out = append(out, clusterObject{o.u.GetAPIVersion(), o.u.GetKind(), o.u.GetName()})
		}
	}
	return out
}

// adopt is the existing cluster's first step: the API server answers, no
// object up would create there exists unless an earlier up recorded it,
// and the stamp records what up creates and the Corefile it replaces.
func (r *Replica) adopt(ctx context.Context) (string, error) {
	if err := r.connectKubeconfig(); err != nil {
		return "", err
	}
	v, err := r.clientset.Discovery().ServerVersion()
	if err != nil {
		return "", fmt.Errorf("API server of %s not answering: %w", r.opts.kubeconfig, err)
	}
	cms := r.clientset.CoreV1().ConfigMaps(stampNamespace)
	stamp, err := cms.Get(ctx, stampName, metav1.GetOptions{})
	found := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("read stamp %s/%s: %w", stampNamespace, stampName, err)
	}
	var recorded []clusterObject
	if found && stamp.Data[stampCreatedKey] == "" {
		return "", fmt.Errorf("the cluster is a kind replica pretrain-check created (stamp %s/%s): run up without --kubeconfig", stampNamespace, stampName)
	}
	if found {
		if err := json.Unmarshal([]byte(stamp.Data[stampCreatedKey]), &recorded); err != nil {
			return "", fmt.Errorf("stamp %s/%s: %s: %w", stampNamespace, stampName, stampCreatedKey, err)
		}
		r.reused = true
	}
	want := r.clusterScoped()
	var foreign []string
	for _, c := range want {
		if slices.Contains(recorded, c) {
			continue
		}
		if exists, err := r.objectExists(ctx, c); err != nil {
			return "", err
		} else if exists {
			foreign = append(foreign, c.String())
		}
	}
	if len(foreign) > 0 {
		return "", fmt.Errorf("refusing to take over %s: on the cluster already, and no earlier up created it (down removes only what up created)", strings.Join(foreign, ", "))
	}
	// What an earlier up created and this one no longer needs stays
	// recorded, so down still removes it.
	for _, c := range recorded {
		if !slices.Contains(want, c) {
			want = append(want, c)
		}
	}
	created, err := json.Marshal(want)
	if err != nil {
		return "", err
	}
	if !found {
		dns, err := cms.Get(ctx, coreDNS.name, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("read CoreDNS's Corefile (%s): %w", coreDNS, err)
		}
		stamp = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: stampName, Namespace: stampNamespace,
				Labels: map[string]string{"app.kubernetes.io/part-of": "pretrain-check"}},
			Data: map[string]string{stampCreatedKey: string(created), stampCorefileKey: dns.Data["Corefile"],
				"created-at": time.Now().UTC().Format(time.RFC3339)},
		}
		if _, err := cms.Create(ctx, stamp, metav1.CreateOptions{FieldManager: FieldManager}); err != nil {
			return "", fmt.Errorf("write stamp %s/%s: %w", stampNamespace, stampName, err)
		}
	} else {
		stamp.Data[stampCreatedKey] = string(created)
		if _, err := cms.Update(ctx, stamp, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
			return "", fmt.Errorf("update stamp %s/%s: %w", stampNamespace, stampName, err)
		}
	}
	r.adopted = true
	return fmt.Sprintf("existing cluster %s (Kubernetes %s), %d cluster-scoped objects recorded", r.opts.kubeconfig, v.GitVersion, len(want)), nil
}

// loadExisting loads the images into a local kind cluster standing in for
// an existing one; any other cluster must have them already.
func (r *Replica) loadExisting(ctx context.Context) (string, error) {
	name := r.kindName()
	if name == "" {
		return "skipped: the nodes must have the images (imagePullPolicy Never)", nil
	}
	r.name = name
	return r.load(ctx)
}

func (r *Replica) objectExists(ctx context.Context, c clusterObject) (bool, error) {
	err := r.client.Resources().Get(ctx, c.Name, "", c.object())
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look up %s: %w", c, err)
	}
	return true, nil
}

// release is down on an existing cluster: it deletes the objects the stamp
// records (a Namespace takes everything in it) and, while they drain, puts
// CoreDNS's Corefile back and rolls CoreDNS; once both are done it deletes
// the stamp.
func (r *Replica) release(ctx context.Context) (string, error) {
	if err := r.connectKubeconfig(); err != nil {
		return "", err
	}
	cms := r.clientset.CoreV1().ConfigMaps(stampNamespace)
	stamp, err := cms.Get(ctx, stampName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "nothing to remove: no stamp (up never ran here, or down already did)", nil
	}
	if err != nil {
		return "", fmt.Errorf("read stamp %s/%s: %w", stampNamespace, stampName, err)
	}
	if stamp.Data[stampCreatedKey] == "" {
		return "", fmt.Errorf("the cluster is a kind replica pretrain-check created (stamp %s/%s): run down without --kubeconfig", stampNamespace, stampName)
	}
	var created []clusterObject
	if err := json.Unmarshal([]byte(stamp.Data[stampCreatedKey]), &created); err != nil {
		return "", fmt.Errorf("stamp %s/%s: %s: %w", stampNamespace, stampName, stampCreatedKey, err)
	}
	var errs []error
	for _, c := range created {
		if err := r.client.Resources().Delete(ctx, c.object()); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s: %w", c, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	// The Namespaces drain (their pods terminating) while CoreDNS rolls
	// back: neither waits on the other.
	var (
		gone, restored         error
		goneTook, restoredTook time.Duration
		wg                     sync.WaitGroup
		start                  = time.Now()
	)
	wg.Go(func() { gone = r.waitGone(ctx, created); goneTook = time.Since(start) })
	wg.Go(func() {
		restored = r.restoreCoreDNS(ctx, stamp.Data[stampCorefileKey])
		restoredTook = time.Since(start)
	})
	wg.Wait()
	if err := errors.Join(gone, restored); err != nil {
		return "", err
	}
	if err := cms.Delete(ctx, stampName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("delete stamp %s/%s: %w", stampNamespace, stampName, err)
	}
	return fmt.Sprintf("removed %d objects from %s (gone after %.1fs), CoreDNS's Corefile put back (rolled after %.1fs)",
		len(created), r.opts.kubeconfig, goneTook.Seconds(), restoredTook.Seconds()), nil
}

// waitGone waits until every object up created is gone.
func (r *Replica) waitGone(ctx context.Context, created []clusterObject) error {
	err := wait.PollUntilContextCancel(ctx, readyInterval, true, func(ctx context.Context) (bool, error) {
		for _, c := range created {
			if exists, err := r.objectExists(ctx, c); err != nil || exists {
				return false, err
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("wait for the %d objects up created to be gone: %w", len(created), err)
	}
	return nil
}

// restoreCoreDNS puts the Corefile up found back and rolls CoreDNS onto it.
func (r *Replica) restoreCoreDNS(ctx context.Context, corefile string) error {
	cms := r.clientset.CoreV1().ConfigMaps(coreDNS.namespace)
	dns, err := cms.Get(ctx, coreDNS.name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read %s: %w", coreDNS, err)
	}
	dns.Data["Corefile"] = corefile
	delete(dns.Annotations, configHashAnnotation)
	if _, err := cms.Update(ctx, dns, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("put %s's Corefile back: %w", coreDNS, err)
	}
	// Removing the annotation sealDNS put on CoreDNS's pods rolls them onto
	// the Corefile put back.
	unseal := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:null}}}}}`, configHashAnnotation)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: coreDNS.name, Namespace: coreDNS.namespace}}
	if err := r.client.Resources().Patch(ctx, d, k8s.Patch{PatchType: types.StrategicMergePatchType, Data: []byte(unseal)}); err != nil {
		return fmt.Errorf("roll %s back: %w", coreDNS, err)
	}
	return r.waitRolledOut(ctx, coreDNS)
}
