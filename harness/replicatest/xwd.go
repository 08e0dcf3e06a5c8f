package replicatest

import (
	"net/http"
	"regexp"
	"strings"
)

// xwdHeader is the X-Wikimedia-Debug request header.
const xwdHeader = "X-Wikimedia-Debug"

// xwd is a parsed X-Wikimedia-Debug header, read as the edge reads it: the
// backend is the first "backend=<name>" anywhere in the value (name made
// of letters, digits, "." and "-"); without one, the WHOLE value is the
// backend, flags and all ("profile; log" names a backend "profile; log").
type xwd struct {
	present bool   // the header was sent
	backend string // never empty when present
}

var xwdBackendAttr = regexp.MustCompile(`backend=([A-Za-z0-9.-]+)`)

func parseXWD(h http.Header) xwd {
	values := h.Values(xwdHeader)
	if len(values) == 0 {
		return xwd{}
	}
	raw := strings.Join(values, ", ") // as a proxy joins repeated headers
	if m := xwdBackendAttr.FindStringSubmatch(raw); m != nil {
		return xwd{present: true, backend: m[1]}
	}
	return xwd{present: true, backend: raw}
}

// ingressXWDRegex is the main gateway's header match, fully anchored like every
// Istio regex.
var ingressXWDRegex = regexp.MustCompile(`^(?:(backend=)?k8s-mw-pretrain.*)$`)

// XWD scopes at the edge, by exact Host: scope "pretrain" is
// test.wikipedia.org only; scope "default" is every other Host. Each maps
// a backend to the upstream that serves it (in production a discovery or
// DC-pinned service name; here the stub of the release behind it).
var (
	pretrainScope = map[string]string{
		"k8s-mw-pretrain":       "ingress",
		"k8s-mw-pretrain-eqiad": "ingress",
		"k8s-mw-pretrain-codfw": "ingress",
	}
	defaultScope = map[string]string{
		"k8s-mwdebug":               "mw-debug/pinkunicorn",
		"k8s-mwdebug-eqiad":         "mw-debug/pinkunicorn",
		"k8s-mwdebug-codfw":         "mw-debug/pinkunicorn",
		"k8s-mwdebug-next":          "mw-debug/next",
		"k8s-mwdebug-next-eqiad":    "mw-debug/next",
		"k8s-mwdebug-next-codfw":    "mw-debug/next",
		"k8s-mw-experimental-eqiad": "mw-experimental/pinkllama",
		"k8s-mw-experimental-codfw": "mw-experimental/pinkllama",
		"k8s-mw-parsoid-eqiad":      "mw-parsoid/pinkllama",
		"k8s-mw-parsoid-codfw":      "mw-parsoid/pinkllama",
	}
)

// restRemapped reports whether an XWD backend is still remapped on
// /w/rest.php (a temporary exception: only mw-experimental and mw-parsoid).
func restRemapped(backend string) bool {
	return strings.HasPrefix(backend, "k8s-mw-experimental") || strings.HasPrefix(backend, "k8s-mw-parsoid")
}

// debugRoutingBody is the body of the edge's 400 for a backend unknown in
// the Host's scope (the edge sends no header of that name).
func debugRoutingBody(scope string) string {
	return "x-wikimedia-debug-routing: no match found for the backend specified in X-Wikimedia-Debug (scope: " + scope + ")"
}
