package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"
)

// A kind fault runs as a variant of one proxy: a ReplicaSet beside the
// proxy's Deployment, of the same pod template, whose config object (a
// ConfigMap, or the gateway's Secret) is a copy holding the fault's
// config. The Services that select the proxy's pods are pointed at the
// variant's pods alone. The proxy's Deployment is left as it is, so a
// revert points the Services back (one kube-proxy sync) instead of
// rolling the proxy a second time. A ReplicaSet, not a Deployment: its
// pods are named "<proxy>-fault-<random>", which production's pod-name
// parsing (harness/identity.FromServer) still reads as the proxy's
// release, as the stubs check.

// variantSuffix marks the variant's label values: its pods carry the
// proxy's labels with this suffix, so that neither the proxy's Deployment
// nor a Service pointed back at the proxy selects them.
const variantSuffix = "-fault"

// faultLabel names the fault a variant's pods run, so that a variant
// never adopts the pods of an earlier fault's that are still going.
const faultLabel = "pretrain-check/fault"

// configObject is the config object a variant copies.
type configObject struct {
	secret bool // a Secret; else a ConfigMap
	name   string
}

func (c configObject) String() string {
	if c.secret {
		return "Secret " + c.name
	}
	return "ConfigMap " + c.name
}

// variant is one fault's copy of a proxy.
type variant struct {
	proxy  deploymentRef
	config configObject
	fault  string
	// pooled says other proxies keep connections to this one (the
	// gateway, the REST gateway): a Service pointed elsewhere does not end
	// a connection already open, so the pods that lose the Services are
	// ended too, and waited for.
	pooled bool
}

func (v variant) name() string       { return v.proxy.name + variantSuffix }
func (v variant) configName() string { return v.config.name + variantSuffix }

// labels are the variant's labels for the proxy's.
func (v variant) labels(proxy map[string]string) map[string]string {
	out := suffixed(proxy)
	out[faultLabel] = v.fault
	return out
}

// suffixed are the labels of any fault's variant for the proxy's.
func suffixed(proxy map[string]string) map[string]string {
	out := make(map[string]string, len(proxy)+1)
	for k, val := range proxy {
		out[k] = val + variantSuffix
	}
	return out
}

// proxyLabels undoes labels.
func proxyLabels(variant map[string]string) map[string]string {
	out := make(map[string]string, len(variant))
	for k, val := range variant {
		if k != faultLabel {
			out[k] = strings.TrimSuffix(val, variantSuffix)
		}
	}
	return out
}

// start creates the variant with the config edit makes of the proxy's,
// waits until its pods are ready and points the proxy's Services at them.
// It returns the Services it pointed.
func (v variant) start(ctx context.Context, r *Replica, edit func(map[string]string) (map[string]string, error)) ([]string, error) {
	d, err := r.clientset.AppsV1().Deployments(v.proxy.namespace).Get(ctx, v.proxy.name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("read deployment %s: %w", v.proxy, err)
	}
	if err := v.copyConfig(ctx, r, edit); err != nil {
		return nil, err
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: v.name(), Namespace: v.proxy.namespace, Labels: v.labels(d.Labels)},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: d.Spec.Replicas,
			Selector: &metav1.LabelSelector{MatchLabels: v.labels(d.Spec.Selector.MatchLabels)},
			Template: *d.Spec.Template.DeepCopy(),
		},
	}
	rs.Spec.Template.Labels = v.labels(d.Spec.Template.Labels)
	mounted := false
	for i := range rs.Spec.Template.Spec.Volumes {
		src := &rs.Spec.Template.Spec.Volumes[i].VolumeSource
		switch {
		case v.config.secret && src.Secret != nil && src.Secret.SecretName == v.config.name:
			src.Secret.SecretName, mounted = v.configName(), true
		case !v.config.secret && src.ConfigMap != nil && src.ConfigMap.Name == v.config.name:
			src.ConfigMap.Name, mounted = v.configName(), true
		}
	}
	if !mounted {
		return nil, fmt.Errorf("deployment %s mounts no %s: the fault would change nothing", v.proxy, v.config)
	}
	sets := r.clientset.AppsV1().ReplicaSets(v.proxy.namespace)
	if _, err := sets.Create(ctx, rs, metav1.CreateOptions{FieldManager: FieldManager}); err != nil {
		return nil, fmt.Errorf("create the fault's copy of %s: %w", v.proxy, err)
	}
	if err := v.waitReady(ctx, r); err != nil {
		return nil, err
	}
	selectsProxy := func(sel map[string]string) bool {
		return labels.SelectorFromSet(sel).Matches(labels.Set(d.Spec.Template.Labels))
	}
	pointed, err := v.pointServices(ctx, r, selectsProxy, v.labels)
	if err != nil {
		return nil, err
	}
	if len(pointed) == 0 {
		return nil, fmt.Errorf("no Service in %s selects the pods of %s: the fault would reach no one", v.proxy.namespace, v.proxy)
	}
	if v.pooled {
		// Its Deployment starts a new pod, which no Service selects now.
		if err := v.endPods(ctx, r, d.Spec.Selector.MatchLabels); err != nil {
			return nil, err
		}
	}
	return pointed, nil
}

// stop points the Services back at the proxy's pods and deletes the
// variant: any fault's, also one a stopped run left or a start that
// stopped half-way. It does nothing when there is no variant.
func (v variant) stop(ctx context.Context, r *Replica) error {
	d, err := r.clientset.AppsV1().Deployments(v.proxy.namespace).Get(ctx, v.proxy.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil // no such proxy here (an ingress without the gateway): no variant either
	}
	if err != nil {
		return fmt.Errorf("read deployment %s: %w", v.proxy, err)
	}
	if v.pooled {
		// start ended the proxy's pods: their replacement must be ready
		// before the Services go back to it.
		if err := r.waitRolledOut(ctx, v.proxy); err != nil {
			return err
		}
	}
	// Any fault's: the one a stopped run left behind as well.
	pointedAtVariant := func(sel map[string]string) bool {
		_, ok := sel[faultLabel]
		return ok && labels.SelectorFromSet(proxyLabels(sel)).Matches(labels.Set(d.Spec.Template.Labels))
	}
	if _, err := v.pointServices(ctx, r, pointedAtVariant, proxyLabels); err != nil {
		return err
	}
	// In the background: the variant's pods match no Service any more.
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	if err := r.clientset.AppsV1().ReplicaSets(v.proxy.namespace).Delete(ctx, v.name(), del); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the fault's copy of %s: %w", v.proxy, err)
	}
	if v.pooled {
		if err := v.endPods(ctx, r, suffixed(d.Spec.Selector.MatchLabels)); err != nil { // any fault's
			return err
		}
	}
	return v.deleteConfig(ctx, r)
}

// endPods deletes the pods of the proxy's namespace that match selector
// and waits until each is gone or all its containers have ended (their
// connections with them).
func (v variant) endPods(ctx context.Context, r *Replica, selector map[string]string) error {
	pods := r.clientset.CoreV1().Pods(v.proxy.namespace)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(selector).String()})
	if err != nil {
		return fmt.Errorf("list the pods of %s: %w", v.proxy, err)
	}
	for _, p := range list.Items {
		if err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("end pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	ended := func(ctx context.Context) (bool, error) {
		for _, p := range list.Items {
			now, err := pods.Get(ctx, p.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) || (err == nil && now.UID != p.UID) {
				continue
			}
			if err != nil {
				return false, err
			}
			for _, c := range now.Status.ContainerStatuses {
				if c.State.Terminated == nil {
					return false, nil
				}
			}
		}
		return true, nil
	}
	if err := wait.For(ended, wait.WithContext(ctx), wait.WithTimeout(r.readyTimeout(ctx)), wait.WithInterval(readyInterval), wait.WithImmediate()); err != nil {
		return fmt.Errorf("wait for the pods of %s to end: %w", v.proxy, err)
	}
	return nil
}

// waitReady waits until every pod of the variant is ready.
func (v variant) waitReady(ctx context.Context, r *Replica) error {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: v.name(), Namespace: v.proxy.namespace}}
	ready := func(obj k8s.Object) bool {
		s := obj.(*appsv1.ReplicaSet)
		return s.Spec.Replicas != nil && s.Status.ObservedGeneration >= s.Generation && s.Status.ReadyReplicas == *s.Spec.Replicas
	}
	timeout := r.readyTimeout(ctx)
	err := wait.For(conditions.New(r.client.Resources()).ResourceMatch(rs, ready),
		wait.WithContext(ctx), wait.WithTimeout(timeout), wait.WithInterval(readyInterval), wait.WithImmediate())
	if err != nil {
		return fmt.Errorf("the fault's copy of %s not ready (%d of %d pods): %w", v.proxy, rs.Status.ReadyReplicas, rs.Status.Replicas, err)
	}
	return nil
}

// pointServices rewrites the selector of every Service of the proxy's
// namespace whose selector is one of those.
func (v variant) pointServices(ctx context.Context, r *Replica, those func(map[string]string) bool, rewrite func(map[string]string) map[string]string) ([]string, error) {
	svcs := r.clientset.CoreV1().Services(v.proxy.namespace)
	list, err := svcs.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list the Services of %s: %w", v.proxy.namespace, err)
	}
	var pointed []string
	for _, s := range list.Items {
		if len(s.Spec.Selector) == 0 || !those(s.Spec.Selector) {
			continue
		}
		// A merge patch merges maps: a key the rewrite drops goes as null.
		sel := map[string]any{}
		for k := range s.Spec.Selector {
			sel[k] = nil
		}
		for k, val := range rewrite(s.Spec.Selector) {
			sel[k] = val
		}
		patch := map[string]any{"spec": map[string]any{"selector": sel}}
		data, err := json.Marshal(patch)
		if err != nil {
			return nil, err
		}
		if _, err := svcs.Patch(ctx, s.Name, types.MergePatchType, data, metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
			return nil, fmt.Errorf("point Service %s/%s: %w", s.Namespace, s.Name, err)
		}
		pointed = append(pointed, s.Name)
	}
	slices.Sort(pointed)
	return pointed, nil
}

func (v variant) copyConfig(ctx context.Context, r *Replica, edit func(map[string]string) (map[string]string, error)) error {
	core := r.clientset.CoreV1()
	meta := metav1.ObjectMeta{Name: v.configName(), Namespace: v.proxy.namespace,
		Labels: map[string]string{"app.kubernetes.io/part-of": "pretrain-check"}}
	opts := metav1.CreateOptions{FieldManager: FieldManager}
	if v.config.secret {
		s, err := core.Secrets(v.proxy.namespace).Get(ctx, v.config.name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read %s: %w", v.config, err)
		}
		in := map[string]string{}
		for k, b := range s.Data {
			in[k] = string(b)
		}
		out, err := edit(in)
		if err != nil {
			return fmt.Errorf("edit %s: %w", v.config, err)
		}
		if _, err := core.Secrets(v.proxy.namespace).Create(ctx, &corev1.Secret{ObjectMeta: meta, StringData: out}, opts); err != nil {
			return fmt.Errorf("create the fault's copy of %s: %w", v.config, err)
		}
		return nil
	}
	cm, err := core.ConfigMaps(v.proxy.namespace).Get(ctx, v.config.name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read %s: %w", v.config, err)
	}
	out, err := edit(maps.Clone(cm.Data))
	if err != nil {
		return fmt.Errorf("edit %s: %w", v.config, err)
	}
	if _, err := core.ConfigMaps(v.proxy.namespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: meta, Data: out}, opts); err != nil {
		return fmt.Errorf("create the fault's copy of %s: %w", v.config, err)
	}
	return nil
}

func (v variant) deleteConfig(ctx context.Context, r *Replica) error {
	core := r.clientset.CoreV1()
	var err error
	if v.config.secret {
		err = core.Secrets(v.proxy.namespace).Delete(ctx, v.configName(), metav1.DeleteOptions{})
	} else {
		err = core.ConfigMaps(v.proxy.namespace).Delete(ctx, v.configName(), metav1.DeleteOptions{})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete the fault's copy of %s: %w", v.config, err)
	}
	return nil
}
