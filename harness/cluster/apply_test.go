package cluster

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestApplyWavesPutConfigBeforeWorkloads: the bundle's Namespaces and
// cluster-scoped objects go first, workloads last, so no pod starts
// without its ConfigMap or Secret; the bundle's order is kept in a wave.
func TestApplyWavesPutConfigBeforeWorkloads(t *testing.T) {
	b, err := loadBundle(fixtures(t), ProfileAirgap, IngressObjects, testImages)
	if err != nil {
		t.Fatal(err)
	}
	waves := applyWaves(b.objects)
	seen := 0
	for w, idx := range waves {
		for j, i := range idx {
			seen++
			o := b.objects[i]
			if j > 0 && idx[j-1] > i {
				t.Errorf("wave %d: %s comes before an object listed earlier", w, o)
			}
			kind, ns := o.u.GetKind(), o.u.GetNamespace()
			switch {
			case w == 0 && ns != "":
				t.Errorf("wave 0 holds namespaced %s", o)
			case w == 1 && (ns == "" || workloadKinds[kind]):
				t.Errorf("wave 1 holds %s", o)
			case w == 2 && !workloadKinds[kind]:
				t.Errorf("wave 2 holds %s, not a workload", o)
			}
		}
	}
	if seen != len(b.objects) {
		t.Errorf("waves hold %d objects, the bundle %d", seen, len(b.objects))
	}
	for _, w := range waves {
		if len(w) == 0 {
			t.Errorf("an empty wave: the bundle should have namespaces, configuration and workloads: %v", waves)
		}
	}
}

// TestDNSSealedOnlyWhenNoOtherCorefileCanAnswer: a CoreDNS pod with
// another Corefile that has (or may get) an address keeps the DNS
// unsealed; one being deleted before it ever started does not.
func TestDNSSealedOnlyWhenNoOtherCorefileCanAnswer(t *testing.T) {
	now := metav1.NewTime(time.Now())
	pod := func(hash, ip string, deleting bool) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("coredns-%s-%s-%t", hash, ip, deleting),
			Annotations: map[string]string{}}, Status: corev1.PodStatus{PodIP: ip}}
		if hash != "" {
			p.Annotations[configHashAnnotation] = hash
		}
		if deleting {
			p.DeletionTimestamp = &now
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		pods   []corev1.Pod
		sealed bool
	}{
		{"no pods yet", nil, true},
		{"only ours", []corev1.Pod{pod("ours", "10.244.0.5", false), pod("ours", "", false)}, true},
		{"kubeadm's pending pod, deleted unstarted", []corev1.Pod{pod("", "", true), pod("ours", "", false)}, true},
		{"kubeadm's pending pod, still wanted", []corev1.Pod{pod("", "", false), pod("ours", "", false)}, false},
		{"kubeadm's running pod", []corev1.Pod{pod("", "10.244.0.3", false), pod("ours", "10.244.0.5", false)}, false},
		{"kubeadm's pod terminating with an address", []corev1.Pod{pod("", "10.244.0.3", true)}, false},
		{"an older Corefile of ours", []corev1.Pod{pod("older", "10.244.0.3", false)}, false},
	} {
		if got := dnsSealed(tc.pods, "ours"); got != tc.sealed {
			t.Errorf("%s: sealed %t, want %t", tc.name, got, tc.sealed)
		}
	}
}
