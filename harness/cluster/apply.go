package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"
)

// FieldManager owns every field the harness applies.
const FieldManager = "pretrain-check"

// applyObjects server-side applies objects (create or update, idempotent:
// a reused cluster or a restore after a fault converges to the fixtures).
// The API server validates fields strictly: a typo in a manifest fails
// here, not silently. With dryRun nothing is persisted. Every failing
// object is reported, in the objects' order, not only the first.
//
// Objects go in waves, each applied concurrently: what others live in or
// are checked against (Namespaces, cluster-scoped objects), then
// configuration (ConfigMaps, Secrets, Services, accounts), then workloads,
// so a pod never starts without its ConfigMap. One at a time, the ~60
// objects took 3-9 s on an API server still starting; a wave takes about
// its slowest object.
func applyObjects(ctx context.Context, r *resources.Resources, objs []object, dryRun bool) error {
	errs := make([]error, len(objs))
	for _, wave := range applyWaves(objs) {
		var wg sync.WaitGroup
		slots := make(chan struct{}, applyConcurrency)
		for _, i := range wave {
			wg.Go(func() {
				slots <- struct{}{}
				defer func() { <-slots }()
				errs[i] = applyOne(ctx, r, objs[i], dryRun)
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// applyConcurrency bounds the requests in flight: enough for a local API
// server, not a burst that trips its priority and fairness.
const applyConcurrency = 8

// applyWaves groups the objects' indexes by applyWave, in order.
func applyWaves(objs []object) [][]int {
	var waves [3][]int
	for i, o := range objs {
		w := applyWave(o)
		waves[w] = append(waves[w], i)
	}
	return waves[:]
}

func applyWave(o object) int {
	switch {
	case o.u.GetNamespace() == "":
		return 0
	case workloadKinds[o.u.GetKind()]:
		return 2
	default:
		return 1
	}
}

var workloadKinds = map[string]bool{"Deployment": true, "DaemonSet": true, "StatefulSet": true, "Job": true, "Pod": true, "ReplicaSet": true}

func applyOne(ctx context.Context, r *resources.Resources, o object, dryRun bool) error {
	obj := o.u.DeepCopy()
	err := r.Patch(ctx, obj, k8s.Patch{PatchType: types.ApplyPatchType, Data: o.json}, func(po *metav1.PatchOptions) {
		force := true
		po.FieldManager = FieldManager
		po.Force = &force
		po.FieldValidation = metav1.FieldValidationStrict
		if dryRun {
			po.DryRun = []string{metav1.DryRunAll}
		}
	})
	if err != nil {
		return fmt.Errorf("apply %s: %w", o, err)
	}
	return nil
}

// rolledOut reports whether a Deployment's newest generation is fully
// rolled out and available, with no old pod left (kubectl rollout status).
func rolledOut(obj k8s.Object) bool {
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		return false
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	return s.ObservedGeneration >= d.Generation &&
		s.UpdatedReplicas == want && s.Replicas == want &&
		s.ReadyReplicas == want && s.AvailableReplicas == want
}

// readyInterval is how often the ready waits look: a local API server, and
// each second of it is a second of `up`.
const readyInterval = 250 * time.Millisecond

// waitNodesReady waits, within timeout, until every node is Ready. The
// error names each node that is not, with its Ready condition.
func waitNodesReady(ctx context.Context, r *resources.Resources, timeout, interval time.Duration) error {
	var nodes corev1.NodeList
	ready := func(ctx context.Context) (bool, error) {
		if err := r.List(ctx, &nodes); err != nil {
			return false, err
		}
		return len(nodes.Items) > 0 && len(notReady(nodes.Items)) == 0, nil
	}
	if err := wait.For(ready, wait.WithContext(ctx), wait.WithTimeout(timeout), wait.WithInterval(interval), wait.WithImmediate()); err != nil {
		return fmt.Errorf("nodes not Ready: %s: %w", strings.Join(notReady(nodes.Items), "; "), err)
	}
	return nil
}

// notReady describes the nodes whose Ready condition is not True.
func notReady(nodes []corev1.Node) []string {
	var out []string
	for _, n := range nodes {
		why := "no Ready condition yet"
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					why = ""
				} else {
					why = fmt.Sprintf("Ready %s: %s: %s", c.Status, c.Reason, c.Message)
				}
			}
		}
		if why != "" {
			out = append(out, n.Name+" ("+why+")")
		}
	}
	if len(nodes) == 0 {
		out = append(out, "no node registered")
	}
	return out
}

// deploymentRef names a Deployment to wait for.
type deploymentRef struct{ namespace, name string }

func (d deploymentRef) String() string { return d.namespace + "/" + d.name }

// waitRolledOut waits, concurrently and within timeout, for every
// Deployment to be rolled out. The error names each Deployment that is
// not, with its last status.
func waitRolledOut(ctx context.Context, r *resources.Resources, deps []deploymentRef, timeout, interval time.Duration) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	cond := conditions.New(r)
	for _, ref := range deps {
		wg.Go(func() {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: ref.name, Namespace: ref.namespace}}
			err := wait.For(cond.ResourceMatch(d, rolledOut), wait.WithContext(ctx), wait.WithTimeout(timeout), wait.WithInterval(interval), wait.WithImmediate())
			if err != nil {
				s := d.Status
				want := int32(1)
				if d.Spec.Replicas != nil {
					want = *d.Spec.Replicas
				}
				mu.Lock()
				errs = append(errs, fmt.Errorf("deployment %q not rolled out (want %d replicas; updated %d, ready %d, available %d, total %d): %w",
					ref.String(), want, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas, s.Replicas, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
