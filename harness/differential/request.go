package differential

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/haproxy"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
)

// Request is one request as it goes on the wire, byte for byte: the proof
// sends what a generated request says, not what an HTTP client would make
// of it.
type Request struct {
	Origin  string // "contract case X", "directed", "generated #n"
	SNI     string // as configured on the client ("" = none)
	Method  string
	Target  string  // the request-target, sent as it is
	Host    *string // nil: no Host header
	Headers [][2]string
	Body    string
}

// String prints the request for a disagreement: origin, method, target,
// SNI, Host and headers (long values cut).
func (r Request) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s, SNI %q", r.Origin, r.Method, r.Target, r.SNI)
	if r.Host != nil {
		fmt.Fprintf(&b, ", Host %q", *r.Host)
	}
	for _, h := range r.Headers {
		v := h[1]
		if len(v) > 80 {
			v = fmt.Sprintf("%s...(%d bytes)", v[:60], len(v))
		}
		fmt.Fprintf(&b, ", %s: %q", h[0], v)
	}
	return b.String()
}

// wireSNI is the server name Go's TLS client sends for sni: without a
// trailing dot, none for an IP address.
func wireSNI(sni string) string {
	sni = strings.TrimSuffix(sni, ".")
	if net.ParseIP(sni) != nil {
		return ""
	}
	return sni
}

// owsTrim is a field value as a receiver reads it (RFC 9110 5.5).
func owsTrim(v string) string { return strings.Trim(v, " \t") }

// modelRequest is the request the model is asked about: the one the
// gateway receives.
func (r Request) modelRequest() istio.Request {
	req := istio.Request{SNI: wireSNI(r.SNI), Port: istio.DefaultPort, Method: r.Method, Path: r.Target, Header: http.Header{}}
	if r.Host != nil {
		req.Host = owsTrim(*r.Host)
	}
	for _, h := range r.Headers {
		req.Header.Add(h[0], owsTrim(h[1]))
	}
	return req
}

// Classes of requests excluded from the comparison, each with its reason
// (Report.Excluded counts them by it).
const (
	ClassUnsendable    = "a header value holding CR, LF, NUL or another control character: not sendable in HTTP/1.1 (RFC 9110 5.5); Go's client refuses it, and a raw one would have the proxy read another request than the model is asked about"
	ClassInvalidTarget = "a request-target that is not origin-form (RFC 9112 3.2: a raw \"#\", space or control character): HAProxy answers 400 before routing, asserted instead; Envoy refuses it too"
	ClassTooMany       = "more lines of one matched header than the proxy joins (haproxy.MaxHeaderLines): the proxy refuses with 431, asserted instead"
)

// excludedClass is the class that keeps r from the comparison, or "".
// joined are the header names the proxy joins (lowercase).
func excludedClass(r Request, joined []string) string {
	if strings.ContainsFunc(r.Target, func(c rune) bool { return c == '#' || c <= ' ' || c >= 0x7f }) {
		return ClassInvalidTarget
	}
	counts := map[string]int{}
	for _, h := range r.Headers {
		if strings.ContainsFunc(h[1], func(c rune) bool { return c != '\t' && isCtl(c) }) {
			return ClassUnsendable
		}
		counts[strings.ToLower(h[0])]++
	}
	for name, n := range counts {
		if n > haproxy.MaxHeaderLines && slices.Contains(joined, name) {
			return ClassTooMany
		}
	}
	return ""
}

func isCtl(r rune) bool { return r < 0x20 || r == 0x7f }
