// Package identity names who served a request: a MediaWiki pod (stub or
// real) identified by namespace, release and pod, as production's Server
// header does.
package identity

import (
	"fmt"
	"sort"
	"strings"
)

// Header is the machine-readable identity header every mwstub response
// carries, e.g. "namespace=mw-pretrain; release=main; dc=eqiad; pod=...".
const Header = "X-Pretrain-Identity"

// Identity is who answered a request.
type Identity struct {
	Namespace    string `json:"namespace"`
	Release      string `json:"release"`
	DC           string `json:"dc,omitempty"`
	Pod          string `json:"pod,omitempty"`
	Node         string `json:"node,omitempty"`
	Role         string `json:"role,omitempty"` // web or jobrunner
	ImageKind    string `json:"imageKind,omitempty"`
	ImageFlavour string `json:"imageFlavour,omitempty"`
	// Source says what the identity was read from: "identity-header",
	// "server-header" or "" when nobody identifiable answered.
	Source string `json:"source,omitempty"`
}

// Known reports whether a backend was identified at all.
func (i Identity) Known() bool { return i.Namespace != "" && i.Release != "" }

// Backend is the contract's name for the release: "<namespace>/<release>".
func (i Identity) Backend() string {
	if !i.Known() {
		return ""
	}
	return i.Namespace + "/" + i.Release
}

// String is for humans: "mw-pretrain/main (pod mw-pretrain.eqiad.main-7d9f-x2v4)".
func (i Identity) String() string {
	if !i.Known() {
		if i.Pod != "" {
			return fmt.Sprintf("unidentified (Server %q)", i.Pod)
		}
		return "nobody identifiable"
	}
	if i.Pod == "" {
		return i.Backend()
	}
	return fmt.Sprintf("%s (pod %s)", i.Backend(), i.Pod)
}

// HeaderValue renders the identity for the Header response header.
func (i Identity) HeaderValue() string {
	kv := []string{
		"namespace=" + i.Namespace,
		"release=" + i.Release,
	}
	add := func(k, v string) {
		if v != "" {
			kv = append(kv, k+"="+v)
		}
	}
	add("dc", i.DC)
	add("pod", i.Pod)
	add("node", i.Node)
	add("role", i.Role)
	add("image-kind", i.ImageKind)
	add("image-flavour", i.ImageFlavour)
	return strings.Join(kv, "; ")
}

// ParseHeader reads a Header value written by HeaderValue.
func ParseHeader(v string) (Identity, error) {
	id := Identity{Source: "identity-header"}
	var unknown []string
	for _, tok := range strings.Split(v, ";") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		k, val, ok := strings.Cut(tok, "=")
		if !ok {
			return Identity{}, fmt.Errorf("parse %s %q: token %q is not key=value", Header, v, tok)
		}
		switch k {
		case "namespace":
			id.Namespace = val
		case "release":
			id.Release = val
		case "dc":
			id.DC = val
		case "pod":
			id.Pod = val
		case "node":
			id.Node = val
		case "role":
			id.Role = val
		case "image-kind":
			id.ImageKind = val
		case "image-flavour":
			id.ImageFlavour = val
		default:
			unknown = append(unknown, k)
		}
	}
	if !id.Known() {
		return Identity{}, fmt.Errorf("parse %s %q: namespace and release are required", Header, v)
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return Identity{}, fmt.Errorf("parse %s %q: unknown keys %s", Header, v, strings.Join(unknown, ", "))
	}
	return id, nil
}

// PodName builds the pod name production gives a MediaWiki pod:
// "<namespace>.<dc>.<release>-<replicaset>-<pod>".
func PodName(namespace, dc, release, replicaSet, pod string) string {
	return fmt.Sprintf("%s.%s.%s-%s-%s", namespace, dc, release, replicaSet, pod)
}

// FromServer reads the identity from a production Server header: a pod
// name "<namespace>.<dc>.<release>-<rs>-<pod>"; stripping the last two "-"
// segments gives the release. When the mesh proxy itself answers, Server is
// "<release>-tls": that is reported with Release set and no Namespace, so it
// is never Known. ok is false when the value does not look like a pod name.
func FromServer(server string) (id Identity, ok bool) {
	server = strings.TrimSpace(server)
	id = Identity{Pod: server, Source: "server-header"}
	ns, rest, found := strings.Cut(server, ".")
	if !found {
		if rel, isTLS := strings.CutSuffix(server, "-tls"); isTLS && rel != "" {
			id.Release = rel
		}
		return id, false
	}
	dc, deployment, found := strings.Cut(rest, ".")
	if !found || ns == "" || dc == "" {
		return id, false
	}
	parts := strings.Split(deployment, "-")
	if len(parts) < 3 || parts[len(parts)-1] == "" || parts[len(parts)-2] == "" {
		return id, false
	}
	release := strings.Join(parts[:len(parts)-2], "-")
	if release == "" {
		return id, false
	}
	id.Namespace, id.DC, id.Release = ns, dc, release
	return id, true
}
