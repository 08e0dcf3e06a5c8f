package kindtarget

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", rel)
}

// The repository's kind configs publish every entry point the target needs.
func TestRepositoryConfigs(t *testing.T) {
	for _, rel := range []string{"kind-config.yaml"} {
		t.Run(rel, func(t *testing.T) {
			tg, err := FromConfigFile(repoFile(t, rel))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				contract.EntryEdge:             "http://127.0.0.1:20080",
				contract.EntryIngress:          "http://127.0.0.1:20081",
				contract.EntryJobrunnerGateway: "http://127.0.0.1:20082",
				contract.EntryRESTGateway:      "http://127.0.0.1:20083",
				contract.EntryJobrunner:        "http://127.0.0.1:20084",
			}
			for entry, u := range want {
				ep, err := tg.Endpoint(entry)
				if err != nil {
					t.Fatalf("entry %q: %v", entry, err)
				}
				if ep.URL == nil || ep.URL.String() != u || ep.Forward != nil {
					t.Errorf("entry %q: expected URL %s and no forward, got %s", entry, u, ep)
				}
			}
			for entry, inPod := range map[string]string{
				contract.EntryMeshAPIInt:    "http://127.0.0.1:6501",
				contract.EntryMeshJobrunner: "http://127.0.0.1:6506",
			} {
				ep, err := tg.Endpoint(entry)
				if err != nil {
					t.Fatalf("entry %q: %v", entry, err)
				}
				if ep.Forward == nil || ep.Forward.Endpoint != "http://127.0.0.1:20086/forward" || ep.Forward.InPodURL != inPod {
					t.Errorf("entry %q: expected forward via http://127.0.0.1:20086/forward to %s, got %s", entry, inPod, ep)
				}
			}
		})
	}
}

// Every contract entry of the default contract resolves: none is silently
// not applicable on the replica.
func TestEveryDefaultEntryResolves(t *testing.T) {
	c, err := contract.Load(repoFile(t, "fixtures/contract/pretrain.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := FromConfigFile(repoFile(t, "kind-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range c.Entries {
		if _, err := tg.Endpoint(name); err != nil {
			t.Errorf("entry %q: %v", name, err)
		}
	}
}

func TestUnknownEntryIsNotApplicable(t *testing.T) {
	tg, err := New(fullPorts())
	if err != nil {
		t.Fatal(err)
	}
	_, err = tg.Endpoint("mesh/mw-api-int-async")
	if !errors.Is(err, target.ErrNotApplicable) {
		t.Fatalf("expected ErrNotApplicable, got %v", err)
	}
	if tg.Name() != "kind" || tg.Live() {
		t.Errorf("expected name kind, not live; got %q, live %v", tg.Name(), tg.Live())
	}
}

func fullPorts() map[int]int {
	m := map[int]int{}
	for _, p := range RequiredNodePorts() {
		m[p] = p - 10000
	}
	return m
}

func TestNewRejectsMissingAndBadPorts(t *testing.T) {
	m := fullPorts()
	delete(m, NodePortRESTGateway)
	delete(m, NodePortMeshForward)
	_, err := New(m)
	if err == nil || !strings.Contains(err.Error(), "30083, 30086") {
		t.Fatalf("expected both missing NodePorts named, got %v", err)
	}
	m = fullPorts()
	m[NodePortEdge] = 70000
	if _, err := New(m); err == nil || !strings.Contains(err.Error(), "70000") {
		t.Fatalf("expected out-of-range host port refused, got %v", err)
	}
}

func TestParseHostPortsRefusesUnsafeMappings(t *testing.T) {
	for name, tc := range map[string]struct{ cfg, want string }{
		"all interfaces": {`kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
  extraPortMappings:
  - {containerPort: 30080, hostPort: 20080}
`, `listenAddress "" is not 127.0.0.1`},
		"random host port": {`kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
  extraPortMappings:
  - {containerPort: 30080, listenAddress: 127.0.0.1}
`, "a fixed port is required"},
		"duplicate": {`kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
  extraPortMappings:
  - {containerPort: 30080, hostPort: 20080, listenAddress: 127.0.0.1}
  - {containerPort: 30080, hostPort: 38090, listenAddress: 127.0.0.1}
`, "already published on host port 20080"},
		"unknown field": {`kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodez: []
`, "nodez"},
		"wrong kind": {`kind: Config
apiVersion: v1
`, `want kind Cluster`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseHostPorts([]byte(tc.cfg))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("expected error containing %q, got %v", tc.want, err)
			}
		})
	}
}

func TestParseHostPortsSkipsUDP(t *testing.T) {
	ports, err := ParseHostPorts([]byte(`kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
  extraPortMappings:
  - {containerPort: 30080, hostPort: 20080, listenAddress: 127.0.0.1}
  - {containerPort: 30053, protocol: UDP}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 1 || ports[30080] != 20080 {
		t.Fatalf("expected only 30080 -> 20080, got %v", ports)
	}
}

// The shipped kind config publishes its entry points below Linux's
// ephemeral port range (and this machine's): a host port inside it can be
// held by any outgoing connection's source port when docker publishes it.
func TestShippedHostPortsOutsideEphemeralRange(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "kind-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ports, err := ParseHostPorts(data)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var l, h int
		if _, err := fmt.Sscan(string(b), &l, &h); err == nil {
			lo, hi = min(lo, l), max(hi, h)
		}
	}
	for node, host := range ports {
		if host >= lo && host <= hi {
			t.Errorf("NodePort %d is published on host port %d, inside the ephemeral range %d-%d", node, host, lo, hi)
		}
	}
}

// With the generated gateway, ingress and jobrunner-gateway are one TLS
// listener told apart by SNI; without it, each is its controller's
// plain-HTTP NodePort.
func TestGatewayEntriesShareOneTLSListenerBySNI(t *testing.T) {
	tg, err := New(fullPorts())
	if err != nil {
		t.Fatal(err)
	}
	before, err := tg.Endpoint(contract.EntryIngress)
	if err != nil {
		t.Fatal(err)
	}
	if before.URL.String() != "http://127.0.0.1:20081" || before.TLS != nil {
		t.Errorf("without the gateway, ingress = %s (TLS %v); want http://127.0.0.1:20081, no TLS", before.URL, before.TLS != nil)
	}
	roots := x509.NewCertPool()
	tg.UseGateway(roots)
	want := map[string]string{
		contract.EntryIngress:          "mw-pretrain.discovery.wmnet",
		contract.EntryJobrunnerGateway: "mw-pretrain-jobrunner.discovery.wmnet",
	}
	for entry, sni := range want {
		ep, err := tg.Endpoint(entry)
		if err != nil {
			t.Fatal(err)
		}
		if ep.URL.String() != "https://127.0.0.1:20443" {
			t.Errorf("%s: URL %s, want https://127.0.0.1:20443", entry, ep.URL)
		}
		if ep.TLS == nil || ep.TLS.ServerName != sni || ep.TLS.RootCAs != roots || ep.TLS.InsecureSkipVerify {
			t.Errorf("%s: TLS %+v, want SNI %q verified against the gateway's roots", entry, ep.TLS, sni)
		}
	}
	if ep, _ := tg.Endpoint(contract.EntryEdge); ep.URL.String() != "http://127.0.0.1:20080" {
		t.Errorf("the gateway changed the edge entry: %s", ep.URL)
	}
}
