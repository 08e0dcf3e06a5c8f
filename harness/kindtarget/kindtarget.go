// Package kindtarget is the target.Target of the kind replica: every
// contract entry point is a NodePort of the single kind node, published on
// 127.0.0.1 by an extraPortMapping of the kind config; the mesh entries are
// reached through the forward endpoint of the mesh-client pod, which sends
// the request to its own localhost listeners. When the replica runs the
// ingress gateway generated from a routing input (UseGateway), the ingress
// and jobrunner-gateway entries are its one TLS listener, told apart by
// SNI as production's clients do.
package kindtarget

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/forward"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
	v1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// Name is the target's name in reports.
const Name = "kind"

// NodePorts fixed by fixtures/kind/manifests (and kind-config.yaml's
// containerPorts): which NodePort serves which entry point.
const (
	NodePortEdge             = 30080
	NodePortIngress          = 30081
	NodePortJobrunnerGateway = 30082
	NodePortRESTGateway      = 30083
	NodePortJobrunner        = 30084
	NodePortMeshForward      = 30086
	// NodePortGateway is the ingress gateway's TLS listener (production's
	// 30443), when the replica runs one.
	NodePortGateway = 30443
)

// The names production's clients reach each Gateway by: an entry connects
// with its name whatever Host a case sends (as the config tier does).
var gatewaySNI = map[string]string{
	contract.EntryIngress:          configtarget.IngressSNI,
	contract.EntryJobrunnerGateway: configtarget.JobrunnerGatewaySNI,
}

// In-pod addresses of the mesh-client pod's sidecar listeners.
const (
	MeshAPIIntURL    = "http://127.0.0.1:6501"
	MeshJobrunnerURL = "http://127.0.0.1:6506"
)

// direct maps the entries reached straight through a NodePort.
var direct = map[string]int{
	contract.EntryEdge:             NodePortEdge,
	contract.EntryIngress:          NodePortIngress,
	contract.EntryJobrunnerGateway: NodePortJobrunnerGateway,
	contract.EntryRESTGateway:      NodePortRESTGateway,
	contract.EntryJobrunner:        NodePortJobrunner,
}

// mesh maps the entries reached through the mesh-client's forward endpoint.
var mesh = map[string]string{
	contract.EntryMeshAPIInt:    MeshAPIIntURL,
	contract.EntryMeshJobrunner: MeshJobrunnerURL,
}

// RequiredNodePorts lists every NodePort the target needs published, sorted.
func RequiredNodePorts() []int {
	ports := []int{NodePortMeshForward, NodePortGateway}
	for _, p := range direct {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	return ports
}

// Target resolves entry points to 127.0.0.1 host ports.
type Target struct {
	// hostPorts maps a NodePort (the mapping's containerPort) to the host
	// port that publishes it.
	hostPorts map[int]int
	host      string
	// gateway, when set, trusts the ingress gateway's serving certificate:
	// ingress and jobrunner-gateway go to NodePortGateway over TLS.
	gateway map[string]*tls.Config
}

var _ target.Target = (*Target)(nil)

// New builds the target from NodePort -> host port mappings (all on
// 127.0.0.1). Every RequiredNodePorts entry must be mapped.
func New(hostPorts map[int]int) (*Target, error) {
	var missing []string
	for _, np := range RequiredNodePorts() {
		hp, ok := hostPorts[np]
		if !ok {
			missing = append(missing, strconv.Itoa(np))
			continue
		}
		if hp <= 0 || hp > 65535 {
			return nil, fmt.Errorf("build kind target: host port %d for NodePort %d is not within 1..65535", hp, np)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("build kind target: no extraPortMapping publishes NodePort %s", strings.Join(missing, ", "))
	}
	cp := make(map[int]int, len(hostPorts))
	for k, v := range hostPorts {
		cp[k] = v
	}
	return &Target{hostPorts: cp, host: "127.0.0.1"}, nil
}

// FromConfigFile builds the target from a kind config file's
// extraPortMappings (see ParseHostPorts).
func FromConfigFile(path string) (*Target, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kind config: %w", err)
	}
	ports, err := ParseHostPorts(data)
	if err != nil {
		return nil, fmt.Errorf("read kind config %q: %w", path, err)
	}
	return New(ports)
}

// ParseHostPorts reads a kind config (kind.x-k8s.io/v1alpha4) and returns
// its TCP extraPortMappings as containerPort -> hostPort. A mapping must
// listen on 127.0.0.1 and name its hostPort: the harness never publishes a
// port beyond the loopback interface, nor on a port it cannot predict.
func ParseHostPorts(data []byte) (map[int]int, error) {
	var cfg v1alpha4.Cluster
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return nil, fmt.Errorf("parse kind config: %w", err)
	}
	if cfg.Kind != "Cluster" || cfg.APIVersion != "kind.x-k8s.io/v1alpha4" {
		return nil, fmt.Errorf("parse kind config: want kind Cluster, apiVersion kind.x-k8s.io/v1alpha4; got %q, %q", cfg.Kind, cfg.APIVersion)
	}
	ports := map[int]int{}
	var errs []error
	for i, n := range cfg.Nodes {
		for j, m := range n.ExtraPortMappings {
			where := fmt.Sprintf("nodes[%d].extraPortMappings[%d]", i, j)
			if m.Protocol != "" && m.Protocol != v1alpha4.PortMappingProtocolTCP {
				continue
			}
			if m.ListenAddress != "127.0.0.1" {
				errs = append(errs, fmt.Errorf("%s: listenAddress %q is not 127.0.0.1", where, m.ListenAddress))
				continue
			}
			if m.HostPort <= 0 {
				errs = append(errs, fmt.Errorf("%s: hostPort %d: a fixed port is required", where, m.HostPort))
				continue
			}
			if prev, dup := ports[int(m.ContainerPort)]; dup {
				errs = append(errs, fmt.Errorf("%s: containerPort %d already published on host port %d", where, m.ContainerPort, prev))
				continue
			}
			ports[int(m.ContainerPort)] = int(m.HostPort)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("parse kind config: %w", err)
	}
	return ports, nil
}

// UseGateway sends the ingress and jobrunner-gateway entries to the
// replica's ingress gateway (NodePortGateway, TLS verified against roots)
// instead of the Ingress controllers' plain-HTTP NodePorts.
func (t *Target) UseGateway(roots *x509.CertPool) {
	t.gateway = map[string]*tls.Config{}
	for entry, sni := range gatewaySNI {
		// One *tls.Config per SNI: the probe pools connections by it.
		t.gateway[entry] = &tls.Config{RootCAs: roots, ServerName: sni, MinVersion: tls.VersionTLS12}
	}
}

// GatewayAddr is the ingress gateway's address on the host.
func (t *Target) GatewayAddr() string { return t.addr(NodePortGateway) }

// Name implements target.Target.
func (t *Target) Name() string { return Name }

// Live implements target.Target: the replica is never production.
func (t *Target) Live() bool { return false }

// HostPort returns the host port publishing a NodePort.
func (t *Target) HostPort(nodePort int) (int, bool) {
	p, ok := t.hostPorts[nodePort]
	return p, ok
}

// ForwardEndpoint is the mesh-client stub's forward endpoint URL.
func (t *Target) ForwardEndpoint() string {
	return "http://" + t.addr(NodePortMeshForward) + forward.Path
}

func (t *Target) addr(nodePort int) string {
	return t.host + ":" + strconv.Itoa(t.hostPorts[nodePort])
}

// Endpoint implements target.Target.
func (t *Target) Endpoint(entry string) (target.Endpoint, error) {
	if cfg, ok := t.gateway[entry]; ok {
		return target.Endpoint{Entry: entry, URL: &url.URL{Scheme: "https", Host: t.addr(NodePortGateway)}, TLS: cfg}, nil
	}
	if np, ok := direct[entry]; ok {
		return target.Endpoint{Entry: entry, URL: &url.URL{Scheme: "http", Host: t.addr(np)}}, nil
	}
	if inPod, ok := mesh[entry]; ok {
		return target.Endpoint{
			Entry:   entry,
			Forward: &target.Forward{Endpoint: t.ForwardEndpoint(), InPodURL: inPod},
		}, nil
	}
	return target.Endpoint{}, fmt.Errorf("resolve entry %q on target %q: %w", entry, Name, target.ErrNotApplicable)
}

// Entries lists the entry points the target reaches, sorted.
func (t *Target) Entries() []string {
	var out []string
	for e := range direct {
		out = append(out, e)
	}
	for e := range mesh {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}
