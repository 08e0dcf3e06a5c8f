package istio

import "strings"

// HostMatches reports whether host (lowercase, no port) matches pattern:
// "*" matches every host, "*.example.org" every name ending in
// ".example.org" (any number of labels before it, as Envoy's virtual host
// domains and filter chain server names do), anything else only itself.
// Host names compare case-insensitively.
//
// Istio API reference: networking.istio.io Gateway "Server.hosts" and
// VirtualService "hosts" (wildcard prefix "*").
func HostMatches(pattern, host string) bool {
	pattern = asciiLower(pattern)
	switch {
	case pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*."):
		return strings.HasSuffix(host, pattern[1:]) && len(host) > len(pattern)-1
	}
	return pattern == host
}

// HostSpecificity ranks a host pattern: an exact name beats any wildcard, a
// longer wildcard suffix beats a shorter one, and "*" comes last (Envoy's
// order for virtual host domains and for server names).
func HostSpecificity(pattern string) int {
	switch {
	case pattern == "*":
		return 0
	case strings.HasPrefix(pattern, "*."):
		return 1 + len(pattern)
	}
	return 1 << 20
}

// moreSpecific returns the more specific of two patterns that both match a
// host: the intersection Istio uses as the virtual host's domain.
func moreSpecific(a, b string) string {
	if HostSpecificity(b) > HostSpecificity(a) {
		return b
	}
	return a
}

// stripPort removes a ":port" from a Host header value (IPv6 literals in
// brackets keep their colons).
func stripPort(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.Index(host, "]"); i >= 0 {
			return host[:i+1]
		}
		return host
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		return host[:i]
	}
	return host
}

// serverHost is one entry of a Gateway server's hosts: "[namespace/]host".
type serverHost struct {
	raw       string
	namespace string // "" or "*": any namespace; otherwise the one allowed
	host      string
}

// parseServerHost splits "ns/host"; "./host" means the Gateway's own
// namespace, "*/host" and "host" any namespace.
//
// Istio API reference: networking.istio.io Gateway "Server.hosts": "a host
// exposed by this gateway ... in namespace/dnsName format ... * selects
// VirtualServices in any namespace, . in the Gateway's namespace".
func parseServerHost(raw, gatewayNamespace string) serverHost {
	sh := serverHost{raw: raw, host: asciiLower(raw)}
	if ns, h, ok := strings.Cut(raw, "/"); ok {
		sh.host = asciiLower(h)
		switch ns {
		case ".":
			sh.namespace = gatewayNamespace
		case "*":
		default:
			sh.namespace = ns
		}
	}
	return sh
}

// allows reports whether a VirtualService in namespace ns may bind to this
// host.
func (sh serverHost) allows(ns string) bool {
	return sh.namespace == "" || sh.namespace == ns
}

// asciiLower lowercases A-Z only, as Envoy compares hosts and SNI: Go's
// strings.ToLower would also fold non-ASCII letters (U+212A KELVIN SIGN to
// "k"), which Envoy and the replica's proxy never do.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// asciiEqualFold is strings.EqualFold for A-Z only (Envoy's ignore_case).
func asciiEqualFold(a, b string) bool {
	return len(a) == len(b) && asciiLower(a) == asciiLower(b)
}
