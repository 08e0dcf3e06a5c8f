package istio

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	networking "istio.io/api/networking/v1alpha3"
)

// stringMatch is a compiled Istio StringMatch.
//
// Istio API reference: networking.istio.io VirtualService "StringMatch":
// exact, prefix, or regex ("RE2 style regex-based match"). Envoy runs the
// regex as a full match, so it is compiled anchored: ^(?:re)$.
type stringMatch struct {
	kind    string // "exact", "prefix", "regex" or "" (empty StringMatch: presence)
	pattern string
	re      *regexp.Regexp
	fold    bool // ignoreUriCase (exact and prefix only)
}

func compileStringMatch(m *networking.StringMatch) (stringMatch, error) {
	switch t := m.GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		return stringMatch{kind: "exact", pattern: t.Exact}, nil
	case *networking.StringMatch_Prefix:
		return stringMatch{kind: "prefix", pattern: t.Prefix}, nil
	case *networking.StringMatch_Regex:
		re, err := regexp.Compile(`^(?:` + t.Regex + `)$`)
		if err != nil {
			return stringMatch{}, fmt.Errorf("compile regex %q: %w", t.Regex, err)
		}
		return stringMatch{kind: "regex", pattern: t.Regex, re: re}, nil
	}
	return stringMatch{}, nil
}

func (s stringMatch) matches(v string) bool {
	switch s.kind {
	case "exact":
		if s.fold {
			return asciiEqualFold(v, s.pattern)
		}
		return v == s.pattern
	case "prefix":
		if s.fold {
			return len(v) >= len(s.pattern) && asciiEqualFold(v[:len(s.pattern)], s.pattern)
		}
		return strings.HasPrefix(v, s.pattern)
	case "regex":
		return s.re.MatchString(v)
	}
	return true
}

// String renders the matcher as "exact \"/x\"", "prefix \"/\"" or
// "regex \"k8s.*\"" (the regex as written; it is matched anchored).
func (s stringMatch) String() string {
	if s.kind == "" {
		return "present"
	}
	str := fmt.Sprintf("%s %q", s.kind, s.pattern)
	if s.fold {
		str += " (ignoring case)"
	}
	return str
}

// headerMatch is one entry of headers or withoutHeaders.
type headerMatch struct {
	name string // lowercase
	m    stringMatch
}

// queryMatch is one entry of queryParams.
type queryMatch struct {
	name string
	m    stringMatch
}

// matchBlock is a compiled HTTPMatchRequest: every condition set must hold.
//
// Istio API reference: networking.istio.io VirtualService
// "HTTPMatchRequest": "All conditions inside a single match block have AND
// semantics, while the list of match blocks have OR semantics."
type matchBlock struct {
	name           string
	uri            *stringMatch
	scheme         *stringMatch
	method         *stringMatch
	authority      *stringMatch
	headers        []headerMatch
	withoutHeaders []headerMatch
	queryParams    []queryMatch
	port           uint32
	gateways       []string // resolved namespace/name; empty: the VirtualService's
}

// reqView is the request as a route sees it.
type reqView struct {
	path      string // normalised, with the query
	scheme    string
	method    string
	authority string // the Host as sent, port included
	port      int
	header    http.Header
	gateway   string // namespace/name of the Gateway the request came through
}

// headerValue returns all values of a header joined with "," (as Envoy
// matches a header sent several times) and whether it was sent.
// Keys that differ only in case (a header map not built with Add) are
// read in a fixed order: the canonical key first, then the others sorted.
func headerValue(h http.Header, name string) (string, bool) {
	canon := http.CanonicalHeaderKey(name)
	vals := append([]string(nil), h[canon]...)
	var others []string
	for k := range h {
		if k != canon && strings.EqualFold(k, name) {
			others = append(others, k)
		}
	}
	sort.Strings(others)
	for _, k := range others {
		vals = append(vals, h[k]...)
	}
	if len(vals) == 0 {
		return "", false
	}
	return strings.Join(vals, ","), true
}

// queryValue returns the first value of a query parameter, undecoded, as
// Envoy's query parameter matcher reads it ("?key" has the value "").
func queryValue(path, name string) (string, bool) {
	_, q, ok := strings.Cut(path, "?")
	if !ok {
		return "", false
	}
	for _, kv := range strings.Split(q, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if k == name {
			return v, true
		}
	}
	return "", false
}

// why returns nil when the block matches r, or every condition that does
// not hold, each as a short sentence for `routes explain`.
func (b *matchBlock) why(r reqView) []string {
	var out []string
	if b.uri != nil {
		// Envoy: exact and regex paths compare the path without the query
		// string; a prefix compares the beginning of the whole :path.
		p := r.path
		if b.uri.kind != "prefix" {
			p, _, _ = strings.Cut(p, "?")
		}
		if !b.uri.matches(p) {
			out = append(out, fmt.Sprintf("uri: %q does not match %s", p, b.uri))
		}
	}
	if b.scheme != nil && !b.scheme.matches(r.scheme) {
		out = append(out, fmt.Sprintf("scheme: %q does not match %s", r.scheme, b.scheme))
	}
	if b.method != nil && !b.method.matches(r.method) {
		out = append(out, fmt.Sprintf("method: %s does not match %s", r.method, b.method))
	}
	if b.authority != nil && !b.authority.matches(r.authority) {
		out = append(out, fmt.Sprintf("authority: %q does not match %s", r.authority, b.authority))
	}
	for _, h := range b.headers {
		v, ok := headerValue(r.header, h.name)
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("header %s: absent", h.name))
		case !h.m.matches(v):
			out = append(out, fmt.Sprintf("header %s: %q does not match %s", h.name, v, h.m))
		}
	}
	for _, h := range b.withoutHeaders {
		// Envoy's inverted header match: a header that is absent, or whose
		// value does not match, satisfies withoutHeaders.
		if v, ok := headerValue(r.header, h.name); ok && h.m.matches(v) {
			if h.m.kind == "" {
				out = append(out, fmt.Sprintf("withoutHeaders %s: present (%q)", h.name, v))
			} else {
				out = append(out, fmt.Sprintf("withoutHeaders %s: %q matches %s", h.name, v, h.m))
			}
		}
	}
	for _, q := range b.queryParams {
		v, ok := queryValue(r.path, q.name)
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("query parameter %s: absent", q.name))
		case !q.m.matches(v):
			out = append(out, fmt.Sprintf("query parameter %s: %q does not match %s", q.name, v, q.m))
		}
	}
	if b.port != 0 && int(b.port) != r.port {
		out = append(out, fmt.Sprintf("port: %d is not %d", r.port, b.port))
	}
	if len(b.gateways) > 0 && !contains(b.gateways, r.gateway) {
		out = append(out, fmt.Sprintf("gateways: %s is not one of %s", r.gateway, strings.Join(b.gateways, ", ")))
	}
	return out
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// normalizePath removes "." and ".." segments from the path (RFC 3986
// 5.2.4), as the ingress gateway does before routing (Istio's default
// meshConfig.pathNormalization BASE: Envoy normalize_path). Other
// normalisations (percent-decoding, backslashes, merging slashes) are not
// modelled.
func normalizePath(p string) string {
	path, query, hasQuery := strings.Cut(p, "?")
	if !strings.Contains(path, ".") {
		return p
	}
	in := strings.Split(path, "/")
	var out []string
	for i, seg := range in {
		last := i == len(in)-1
		switch seg {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, seg)
		}
	}
	np := strings.Join(out, "/")
	if !strings.HasPrefix(np, "/") {
		np = "/" + np
	}
	if hasQuery {
		np += "?" + query
	}
	return np
}
