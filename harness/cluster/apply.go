package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/e2e-framework/klient/k8s"
	"sigs.k8s.io/e2e-framework/klient/k8s/resources"
	"sigs.k8s.io/e2e-framework/klient/wait"
	"sigs.k8s.io/e2e-framework/klient/wait/conditions"
)

// FieldManager owns every field the harness applies.
const FieldManager = "pretrain-check"

// applyObjects server-side applies objects in order (create or update,
// idempotent: a reused cluster or a restore after a fault converges to the
// fixtures). The API server validates fields strictly: a typo in a manifest
// fails here, not silently. With dryRun nothing is persisted. Every failing
// object is reported, not only the first.
func applyObjects(ctx context.Context, r *resources.Resources, objs []object, dryRun bool) error {
	var errs []error
	for _, o := range objs {
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
			errs = append(errs, fmt.Errorf("apply %s: %w", o, err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
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
