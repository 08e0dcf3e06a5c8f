//go:build e2e

package images_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/images"
)

// TestAirgapImages proves the image set end to end, with no registry:
//  1. Build produces every image (cold or warm), and a second Build rebuilds
//     nothing;
//  2. kind creates a cluster from the node image alone, and its node is Ready;
//  3. the stub image, loaded into the node, serves a request on 127.0.0.1
//     through a NodePort and kind's 127.0.0.1-only port mapping.
//
// Run: go test -tags e2e -timeout 60m ./harness/images/ (root; builds what
// is missing first, ~15 min cold on 2 cores).
func TestAirgapImages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Minute)
	defer cancel()
	var progress bytes.Buffer
	opts := images.Options{Progress: io.MultiWriter(&progress, testWriter{t})}

	if _, err := images.Build(ctx, opts); err != nil {
		t.Fatalf("build images: %v", err)
	}
	m, err := images.Build(ctx, opts)
	if err != nil {
		t.Fatalf("rebuild images: %v", err)
	}
	if m.Run.Built != 0 {
		t.Fatalf("expected a second build to rebuild nothing, got %d built: %+v", m.Run.Built, m.Steps)
	}
	tags, err := images.Tags(ctx, opts)
	if err != nil {
		t.Fatalf("compute tags: %v", err)
	}
	for name, tag := range tags {
		if m.Images[name] != tag {
			t.Errorf("image %q: Tags says %q, the manifest %q", name, tag, m.Images[name])
		}
	}
	node, err := m.Image(images.ImageNode)
	if err != nil {
		t.Fatal(err)
	}
	stub, err := m.Image(images.ImageMWStub)
	if err != nil {
		t.Fatal(err)
	}

	hostPort := freePort(t)
	const nodePort = 30080
	name := fmt.Sprintf("pretrain-images-e2e-%d", time.Now().Unix()%100000)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	provider := cluster.NewProvider(cluster.ProviderWithDocker())
	cfg := &v1alpha4.Cluster{Nodes: []v1alpha4.Node{{
		Role: v1alpha4.ControlPlaneRole,
		ExtraPortMappings: []v1alpha4.PortMapping{{
			ContainerPort: nodePort, HostPort: hostPort, ListenAddress: "127.0.0.1", Protocol: v1alpha4.PortMappingProtocolTCP,
		}},
	}}}
	t0 := time.Now()
	// Delete even when Create fails half-way: kind leaves the node otherwise.
	defer func() {
		if err := provider.Delete(name, kubeconfig); err != nil {
			t.Errorf("delete cluster %q: %v", name, err)
		}
	}()
	if err := provider.Create(name, cluster.CreateWithNodeImage(node), cluster.CreateWithV1Alpha4Config(cfg),
		cluster.CreateWithKubeconfigPath(kubeconfig), cluster.CreateWithWaitForReady(4*time.Minute),
		cluster.CreateWithDisplayUsage(false), cluster.CreateWithDisplaySalutation(false)); err != nil {
		t.Fatalf("create cluster from %q: %v", node, err)
	}
	t.Logf("cluster %q from %s: Ready in %s", name, node, time.Since(t0).Round(time.Second))

	nodes, err := provider.ListInternalNodes(name)
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	for _, n := range nodes {
		if err := loadImage(ctx, n, stub); err != nil {
			t.Fatalf("load %q into %s: %v", stub, n, err)
		}
	}

	raw, err := provider.KubeConfig(name, false)
	if err != nil {
		t.Fatalf("read kubeconfig: %v", err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig([]byte(raw))
	if err != nil {
		t.Fatalf("parse kubeconfig: %v", err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	const pod = "mw-pretrain-stub-e2e"
	labels := map[string]string{"app": "mwstub-e2e"}
	_, err = cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: pod, Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "mwstub", Image: stub, ImagePullPolicy: corev1.PullNever,
			Env:   []corev1.EnvVar{{Name: "MWSTUB_NAMESPACE", Value: "mw-pretrain"}, {Name: "MWSTUB_RELEASE", Value: "main"}, {Name: "MWSTUB_DC", Value: "eqiad"}},
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/w/health-check.php", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	_, err = cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "mwstub-e2e"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: labels, Ports: []corev1.ServicePort{{
			Port: 8080, TargetPort: intstr.FromInt32(8080), NodePort: nodePort}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}

	// Ready pod, then the request; both polled within a budget, each miss logged.
	url := fmt.Sprintf("http://127.0.0.1:%d/w/health-check.php", hostPort)
	deadline := time.Now().Add(3 * time.Minute)
	var last string
	for {
		status, server, err := get(ctx, url)
		if err == nil && status == http.StatusOK && server == pod {
			t.Logf("GET %s: %d from %q, %s after create started", url, status, server, time.Since(t0).Round(time.Second))
			break
		}
		last = fmt.Sprintf("status %d, Server %q, error %v", status, server, err)
		if time.Now().After(deadline) {
			p, _ := cs.CoreV1().Pods("default").Get(ctx, pod, metav1.GetOptions{})
			t.Fatalf("GET %s: expected 200 from %q, last got %s; pod status: %+v", url, pod, last, p.Status)
		}
		t.Logf("GET %s: not yet (%s) at %s", url, last, time.Since(t0).Round(time.Second))
		time.Sleep(2 * time.Second)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func freePort(t *testing.T) int32 {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return int32(l.Addr().(*net.TCPAddr).Port)
}

// loadImage streams `docker save` into the node's containerd (what `kind load
// docker-image` does).
func loadImage(ctx context.Context, n nodes.Node, image string) error {
	save := exec.CommandContext(ctx, "docker", "save", image)
	out, err := save.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	save.Stderr = &stderr
	if err := save.Start(); err != nil {
		return fmt.Errorf("docker save %q: %w", image, err)
	}
	lerr := nodeutils.LoadImageArchive(n, out)
	_, _ = io.Copy(io.Discard, out) // let docker save finish if the import stopped early
	if err := save.Wait(); err != nil {
		return fmt.Errorf("docker save %q: %w: %s", image, err, strings.TrimSpace(stderr.String()))
	}
	return lerr
}

func get(ctx context.Context, url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Server"), nil
}
