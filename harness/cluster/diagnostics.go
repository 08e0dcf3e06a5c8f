package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DiagnosticsDir is the report directory's subdirectory for diagnostics.
const DiagnosticsDir = "diagnostics"

// componentOrder ranks pods for the printed logs: controllers first, then
// the edge, the gateways, the mesh client, the stubs, then everything else.
func componentRank(p *corev1.Pod) int {
	switch {
	case p.Namespace == "ingress-nginx":
		return 0
	case p.Namespace == "pretrain-infra" && p.Labels["app"] == "edge":
		return 1
	case p.Namespace == "pretrain-infra":
		return 2
	case p.Labels["app"] == "mesh-client":
		return 3
	case strings.HasPrefix(p.Namespace, "mw-"):
		return 4
	default:
		return 5
	}
}

// ours reports whether a pod belongs to the replica (not the kind plumbing).
func ours(p *corev1.Pod) bool {
	return componentRank(p) < 5 || (p.Namespace == "kube-system" && p.Labels["k8s-app"] == "kube-dns")
}

// CollectDiagnostics gathers, concurrently, pod statuses, events,
// Deployments, Ingresses and the last log lines of every replica container
// (and the kind node's logs when dir is set); prints a summary on the
// logger and writes everything under dir/diagnostics (when dir is not
// empty). Collectors that fail do not stop the others: their errors are
// joined.
func (r *Replica) CollectDiagnostics(ctx context.Context, dir string) error {
	return r.collect(ctx, dir, true)
}

type diagnostics struct {
	mu       sync.Mutex
	files    map[string][]byte // relative path -> content
	sections []section
	errs     []error
}

type section struct {
	rank  int
	order string
	title string
	body  string
}

func (d *diagnostics) file(name string, b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.files[name] = b
}

func (d *diagnostics) print(rank int, order, title, body string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sections = append(d.sections, section{rank, order, title, body})
}

func (d *diagnostics) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.errs = append(d.errs, err)
}

func (r *Replica) collect(ctx context.Context, dir string, print bool) error {
	d := &diagnostics{files: map[string][]byte{}}
	if dir != "" {
		dir = filepath.Join(dir, DiagnosticsDir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("collect diagnostics: %w", err)
		}
	}
	var wg sync.WaitGroup
	if r.clientset != nil {
		var pods *corev1.PodList
		pods, err := r.clientset.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
		if err != nil {
			d.fail(fmt.Errorf("list pods: %w", err))
		} else {
			wg.Go(func() { r.collectPods(d, pods.Items) })
			wg.Go(func() { r.collectLogs(ctx, d, pods.Items) })
		}
		wg.Go(func() { r.collectEvents(ctx, d) })
		wg.Go(func() { r.collectDeployments(ctx, d) })
		wg.Go(func() { r.collectIngresses(ctx, d) })
	} else {
		d.fail(errors.New("no API client: the cluster never answered"))
	}
	if dir != "" {
		wg.Go(func() {
			if err := r.provider.CollectLogs(r.name, filepath.Join(dir, "kind")); err != nil {
				d.fail(fmt.Errorf("collect kind node logs: %w", err))
			}
		})
	}
	wg.Wait()

	w := r.opts.logger
	if print {
		sort.SliceStable(d.sections, func(i, j int) bool {
			if d.sections[i].rank != d.sections[j].rank {
				return d.sections[i].rank < d.sections[j].rank
			}
			return d.sections[i].order < d.sections[j].order
		})
		for _, s := range d.sections {
			fmt.Fprintf(w, "[diagnostics] %s\n", s.title)
			for _, l := range strings.Split(strings.TrimRight(s.body, "\n"), "\n") {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
	for _, name := range sortedKeys(d.files) {
		if dir == "" {
			break
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			d.fail(err)
			continue
		}
		if err := os.WriteFile(p, d.files[name], 0o644); err != nil {
			d.fail(err)
		}
	}
	if print && dir != "" {
		fmt.Fprintf(w, "[diagnostics] written to %s\n", dir)
	}
	if err := errors.Join(d.errs...); err != nil {
		return fmt.Errorf("collect diagnostics: %w", err)
	}
	return nil
}

// podStatus is kubectl's STATUS column: the first waiting or terminated
// reason, else the phase.
func podStatus(p *corev1.Pod) string {
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason
		}
		if t := cs.State.Terminated; t != nil && t.Reason != "" && p.Status.Phase != corev1.PodSucceeded {
			return t.Reason
		}
	}
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	return string(p.Status.Phase)
}

func (r *Replica) collectPods(d *diagnostics, pods []corev1.Pod) {
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Namespace != pods[j].Namespace {
			return pods[i].Namespace < pods[j].Namespace
		}
		return pods[i].Name < pods[j].Name
	})
	var table, detail bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tREADY\tSTATUS\tRESTARTS\tAGE")
	for i := range pods {
		p := &pods[i]
		ready, restarts := 0, int32(0)
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Ready {
				ready++
			}
			restarts += cs.RestartCount
			var msg string
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Message != "":
				msg = cs.State.Waiting.Reason + ": " + cs.State.Waiting.Message
			case cs.LastTerminationState.Terminated != nil:
				t := cs.LastTerminationState.Terminated
				msg = fmt.Sprintf("last terminated: %s, exit code %d %s", t.Reason, t.ExitCode, strings.TrimSpace(t.Message))
			}
			if msg != "" {
				fmt.Fprintf(&detail, "%s/%s %s: %s\n", p.Namespace, p.Name, cs.Name, msg)
			}
		}
		for _, c := range p.Status.Conditions {
			// ContainersReady repeats Ready's message.
			if c.Status != corev1.ConditionTrue && c.Message != "" && c.Type != corev1.ContainersReady {
				fmt.Fprintf(&detail, "%s/%s condition %s: %s\n", p.Namespace, p.Name, c.Type, c.Message)
			}
		}
		age := "-"
		if !p.CreationTimestamp.IsZero() {
			age = time.Since(p.CreationTimestamp.Time).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%d\t%s\n", p.Namespace, p.Name, ready, len(p.Spec.Containers), podStatus(p), restarts, age)
	}
	tw.Flush()
	body := table.String()
	if detail.Len() > 0 {
		body += "\n" + detail.String()
	}
	d.file("pods.txt", []byte(body))
	d.print(-3, "", "pods", body)
}

func (r *Replica) collectEvents(ctx context.Context, d *diagnostics) {
	evs, err := r.clientset.CoreV1().Events("").List(ctx, metav1.ListOptions{})
	if err != nil {
		d.fail(fmt.Errorf("list events: %w", err))
		return
	}
	items := evs.Items
	when := func(e *corev1.Event) time.Time {
		switch {
		case !e.LastTimestamp.IsZero():
			return e.LastTimestamp.Time
		case !e.EventTime.IsZero():
			return e.EventTime.Time
		}
		return e.CreationTimestamp.Time
	}
	sort.SliceStable(items, func(i, j int) bool { return when(&items[i]).Before(when(&items[j])) })
	var all, warn bytes.Buffer
	nWarn := 0
	for i := range items {
		e := &items[i]
		line := fmt.Sprintf("%s %s %s %s/%s: %s (x%d)\n", when(e).Format("15:04:05"), e.Type, e.Reason,
			strings.ToLower(e.InvolvedObject.Kind), e.InvolvedObject.Namespace+"/"+e.InvolvedObject.Name, strings.TrimSpace(e.Message), max(e.Count, 1))
		all.WriteString(line)
		if e.Type == corev1.EventTypeWarning {
			nWarn++
			warn.WriteString(line)
		}
	}
	d.file("events.txt", all.Bytes())
	body := lastLines(warn.String(), 25)
	if nWarn == 0 {
		body = "(none)"
	}
	d.print(-2, "", fmt.Sprintf("warning events (%d, last 25; all %d events in events.txt)", nWarn, len(items)), body)
}

func (r *Replica) collectDeployments(ctx context.Context, d *diagnostics) {
	deps, err := r.clientset.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		d.fail(fmt.Errorf("list deployments: %w", err))
		return
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tREADY\tUP-TO-DATE\tAVAILABLE\tCONDITIONS")
	for _, dep := range deps.Items {
		want := int32(1)
		if dep.Spec.Replicas != nil {
			want = *dep.Spec.Replicas
		}
		var conds []string
		for _, c := range dep.Status.Conditions {
			conds = append(conds, fmt.Sprintf("%s=%s", c.Type, c.Status))
			if c.Status != corev1.ConditionTrue && c.Message != "" {
				conds = append(conds, fmt.Sprintf("(%s)", c.Message))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%d\t%s\n", dep.Namespace, dep.Name, dep.Status.ReadyReplicas, want,
			dep.Status.UpdatedReplicas, dep.Status.AvailableReplicas, strings.Join(conds, " "))
	}
	tw.Flush()
	d.file("deployments.txt", b.Bytes())
	d.print(-1, "", "deployments", b.String())
}

func (r *Replica) collectIngresses(ctx context.Context, d *diagnostics) {
	ings, err := r.clientset.NetworkingV1().Ingresses("").List(ctx, metav1.ListOptions{})
	if err != nil {
		d.fail(fmt.Errorf("list ingresses: %w", err))
		return
	}
	var b bytes.Buffer
	for _, ing := range ings.Items {
		class := ""
		if ing.Spec.IngressClassName != nil {
			class = *ing.Spec.IngressClassName
		}
		fmt.Fprintf(&b, "%s/%s class=%s\n", ing.Namespace, ing.Name, class)
		for _, k := range sortedKeys(ing.Annotations) {
			if strings.HasPrefix(k, "nginx.ingress.kubernetes.io/") {
				fmt.Fprintf(&b, "  %s: %s\n", k, strings.TrimSpace(ing.Annotations[k]))
			}
		}
		for _, rule := range ing.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				pt := ""
				if p.PathType != nil {
					pt = string(*p.PathType)
				}
				svc := ""
				if p.Backend.Service != nil {
					svc = fmt.Sprintf("%s:%d", p.Backend.Service.Name, p.Backend.Service.Port.Number)
				}
				fmt.Fprintf(&b, "  %s %s %s -> %s\n", rule.Host, pt, p.Path, svc)
			}
		}
	}
	d.file("ingresses.txt", b.Bytes())
}

func (r *Replica) collectLogs(ctx context.Context, d *diagnostics, pods []corev1.Pod) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range pods {
		p := &pods[i]
		if !ours(p) {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				r.containerLogs(ctx, d, p, cs)
			})
		}
	}
	wg.Wait()
}

func (r *Replica) containerLogs(ctx context.Context, d *diagnostics, p *corev1.Pod, cs corev1.ContainerStatus) {
	fileLines := int64(r.opts.timeouts.DiagnosticsLogFileLines)
	get := func(previous bool) (string, error) {
		req := r.clientset.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: cs.Name, TailLines: &fileLines, Previous: previous})
		rc, err := req.Stream(ctx)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, 4<<20))
		return string(b), err
	}
	base := filepath.Join("logs", p.Namespace, p.Name, cs.Name)
	logs, err := get(false)
	if err != nil && cs.State.Waiting != nil {
		logs, err = "", nil // never started: nothing to read
	}
	if err != nil {
		d.fail(fmt.Errorf("logs of %s/%s %s: %w", p.Namespace, p.Name, cs.Name, err))
		return
	}
	d.file(base+".log", []byte(logs))
	title := fmt.Sprintf("logs %s/%s %s (last %d lines)", p.Namespace, p.Name, cs.Name, r.opts.timeouts.DiagnosticsLogLines)
	body := lastLines(logs, r.opts.timeouts.DiagnosticsLogLines)
	if cs.RestartCount > 0 {
		if prev, err := get(true); err == nil {
			d.file(base+".previous.log", []byte(prev))
			body += "\n--- previous container ---\n" + lastLines(prev, r.opts.timeouts.DiagnosticsLogLines)
		}
	}
	if strings.TrimSpace(body) == "" {
		body = "(no output)"
	}
	d.print(componentRank(p), p.Namespace+"/"+p.Name+"/"+cs.Name, title, body)
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
