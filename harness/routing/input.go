// Package routing reads the routing input: Kubernetes objects as
// `helm template` prints them (multi-document YAML) from the charts that
// render Pretrain's ingress. It keeps the Istio Gateways and
// VirtualServices (decoded into Istio's own API types), the core Services
// and the Deployments, with the file:line:col of every field, and counts
// every other kind it skips.
//
// Reading is strict: every problem in every input is reported at once (see
// Problems), including an unknown field, a wrong type, a missing name, a
// duplicate object, and an Istio field that changes which destination a
// request reaches but that the model (harness/istio) does not implement.
// Istio fields that do not change the destination are accepted and listed
// in Input.Notices; AcceptedFields documents them.
package routing

import (
	"fmt"
	"sort"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// Kinds read by this package. Other kinds are counted in Input.Ignored.
const (
	KindGateway        = "Gateway"
	KindVirtualService = "VirtualService"
	KindService        = "Service"
	KindDeployment     = "Deployment"
)

// DefaultNamespace is the namespace given to objects that name none:
// `helm template` output of the mediawiki chart carries no
// metadata.namespace (helmfile deploys every mw-pretrain release into
// mw-pretrain).
const DefaultNamespace = "mw-pretrain"

// DefaultMaxBytes bounds the size of each input (a file or stdin).
const DefaultMaxBytes = 64 << 20

// Input is everything read from the routing input.
type Input struct {
	Sources         []Source          `json:"sources"`
	Gateways        []*Gateway        `json:"gateways"`
	VirtualServices []*VirtualService `json:"virtualServices"`
	Services        []*Service        `json:"services"`
	Deployments     []*Deployment     `json:"deployments"`
	// Ignored counts the objects of other kinds, by kind (or "Kind
	// (apiVersion)" for a read kind in another API group, such as a Knative
	// Service).
	Ignored map[string]int `json:"ignored"`
	// Notices lists every accepted field that the model does not evaluate
	// because it does not change which destination is chosen (a timeout,
	// retries, header manipulation...), one per occurrence, in input order.
	Notices []Notice `json:"notices,omitempty"`
}

// Source is one input read: a file or stdin.
type Source struct {
	Name   string `json:"name"`   // the path as given, or "<stdin>"
	SHA256 string `json:"sha256"` // hex digest of the bytes read
	Size   int    `json:"size"`   // bytes
}

// Notice says that a field was accepted but is not evaluated.
type Notice struct {
	Pos    Position `json:"pos"`
	Object string   `json:"object"` // e.g. "VirtualService mw-pretrain/mediawiki-main"
	Field  string   `json:"field"`  // e.g. "spec.http[0].timeout"
	Reason string   `json:"reason"`
}

// String renders the notice as "file:line:col: object: field: accepted, not evaluated: reason".
func (n Notice) String() string {
	return fmt.Sprintf("%s: %s: %s: accepted, not evaluated: %s", n.Pos, n.Object, n.Field, n.Reason)
}

// IgnoredSummary renders Ignored as "3 objects: 2 DestinationRule, 1
// ConfigMap" (most frequent first, then by kind), or "" when nothing was
// ignored.
func (in *Input) IgnoredSummary() string {
	total := 0
	kinds := make([]string, 0, len(in.Ignored))
	for k, n := range in.Ignored {
		total += n
		kinds = append(kinds, k)
	}
	if total == 0 {
		return ""
	}
	sort.Slice(kinds, func(i, j int) bool {
		if in.Ignored[kinds[i]] != in.Ignored[kinds[j]] {
			return in.Ignored[kinds[i]] > in.Ignored[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%d %s", in.Ignored[k], k)
	}
	noun := "objects"
	if total == 1 {
		noun = "object"
	}
	return fmt.Sprintf("%d %s: %s", total, noun, strings.Join(parts, ", "))
}

// Object is what every object read has: identity and positions.
type Object struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Name       string   `json:"name"`
	Pos        Position `json:"pos"` // the document's first line (apiVersion/kind)
	// NamespaceDefaulted is true when the object named no namespace and got
	// the loader's default.
	NamespaceDefaulted bool `json:"namespaceDefaulted,omitempty"`

	fields map[string]Position
}

// Ref names the object as "Kind namespace/name".
func (o *Object) Ref() string { return o.Kind + " " + o.Namespace + "/" + o.Name }

// Key is "namespace/name".
func (o *Object) Key() string { return o.Namespace + "/" + o.Name }

// FieldPos returns where the field at path was written, e.g.
// "spec.http[1].match[0].uri" or "spec.http[0].match[0].headers[x-wikimedia-debug]"
// (map keys in brackets, Istio fields by their camelCase name whatever the
// spelling used). For a path not written it returns the position of the
// nearest written ancestor, and the object's position at worst.
func (o *Object) FieldPos(path string) Position {
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := o.fields[p]; ok {
			return pos
		}
	}
	return o.Pos
}

// HasField reports whether the field at path was written.
func (o *Object) HasField(path string) bool {
	_, ok := o.fields[path]
	return ok
}

// parentPath drops the last element of a field path: "a.b[1]" -> "a.b",
// "a.b" -> "a", "a" -> "".
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// Gateway is a networking.istio.io Gateway (v1alpha3, v1beta1 or v1: one
// schema).
type Gateway struct {
	Object
	Spec *networking.Gateway `json:"spec"`
}

// VirtualService is a networking.istio.io VirtualService (v1alpha3,
// v1beta1 or v1: one schema).
type VirtualService struct {
	Object
	Spec *networking.VirtualService `json:"spec"`
}

// Service is a core v1 Service.
type Service struct {
	Object
	Service *corev1.Service `json:"service"`
}

// Deployment is an apps/v1 Deployment.
type Deployment struct {
	Object
	Deployment *appsv1.Deployment `json:"deployment"`
}

// Replicas is spec.replicas, 1 when not set (the Kubernetes default).
func (d *Deployment) Replicas() int32 {
	if d.Deployment.Spec.Replicas == nil {
		return 1
	}
	return *d.Deployment.Spec.Replicas
}

// PodLabels is the pod template's labels.
func (d *Deployment) PodLabels() map[string]string {
	return d.Deployment.Spec.Template.Labels
}
