package istio

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/routing"
)

// trapInput is a small world built to catch the classic mistakes: unanchored
// regexes, prefix taken for exact, a later specific route shadowed by an
// earlier general one, header name case, hosts of another gateway, and
// namespace-restricted gateway hosts.
const trapInput = `
apiVersion: networking.istio.io/v1beta1
kind: Gateway
metadata: {name: gw-a, namespace: mw-pretrain}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: c}
    hosts: [a.example.org, "*.wild.example.org", ./own.example.org, other/shared.example.org]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw-b, namespace: mw-pretrain}
spec:
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: SIMPLE}
    hosts: [b.example.org]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw-http, namespace: mw-pretrain}
spec:
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: va, namespace: mw-pretrain}
spec:
  hosts: [a.example.org, "*.wild.example.org", shared.example.org]
  gateways: [gw-a]
  http:
  - name: debug
    match:
    - headers:
        x-wikimedia-debug: {regex: "(backend=)?k8s-mw-pretrain.*"}
    route: [{destination: {host: svc-debug}}]
  - name: exact
    match: [{uri: {exact: /exact}, method: {exact: GET}}]
    route: [{destination: {host: svc-a.mw-pretrain.svc.cluster.local, port: {number: 4457}}}]
  - name: case
    match: [{uri: {prefix: /CaseY}, ignoreUriCase: true}]
    route: [{destination: {host: svc-a}}]
  - name: without
    match: [{uri: {prefix: /without}, withoutHeaders: {x-skip: {}}}]
    route: [{destination: {host: svc-a}}]
  - name: query
    match: [{uri: {prefix: /q}, queryParams: {mode: {exact: x}}}]
    route: [{destination: {host: svc-a}}]
  - name: query-prefix
    match: [{uri: {prefix: /qp}, queryParams: {lang: {prefix: en}, flag: {exact: ""}}}]
    route: [{destination: {host: svc-b}}]
  - name: query-regex
    match: [{queryParams: {id: {regex: "[0-9]+"}}}]
    route: [{destination: {host: svc-a}}]
  - name: or
    match: [{uri: {exact: /one}}, {uri: {exact: /two}}]
    route: [{destination: {host: svc-b}}]
  - name: split
    match: [{uri: {prefix: /split}}]
    route:
    - {destination: {host: svc-a}, weight: 90}
    - {destination: {host: svc-b}, weight: 10}
  - name: general
    match: [{uri: {prefix: /}}]
    route: [{destination: {host: svc-a}}]
  - name: specific-after
    match: [{uri: {exact: /specific}}]
    route: [{destination: {host: svc-b}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vb, namespace: other}
spec:
  hosts: [shared.example.org]
  gateways: [mw-pretrain/gw-a]
  http:
  - route: [{destination: {host: svc-b.mw-pretrain.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vc, namespace: other}
spec:
  hosts: [own.example.org]
  gateways: [mw-pretrain/gw-a]
  http:
  - route: [{destination: {host: svc-b.mw-pretrain.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vbound-b, namespace: mw-pretrain}
spec:
  hosts: [a.example.org, b.example.org]
  gateways: [gw-b]
  http:
  - route: [{destination: {host: svc-b}}]
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {name: vh, namespace: mw-pretrain}
spec:
  hosts: ["*"]
  gateways: [gw-http, mesh]
  http:
  - route: [{destination: {host: svc-b}}]
---
apiVersion: v1
kind: Service
metadata: {name: svc-a, namespace: mw-pretrain}
spec: {selector: {app: a}, ports: [{port: 4457}]}
---
apiVersion: v1
kind: Service
metadata: {name: svc-b, namespace: mw-pretrain}
spec: {selector: {app: b}, ports: [{port: 4457}]}
---
apiVersion: v1
kind: Service
metadata: {name: svc-debug, namespace: mw-pretrain}
spec: {selector: {app: debug}, ports: [{port: 4457}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: da, namespace: mw-pretrain}
spec:
  replicas: 3
  template: {metadata: {labels: {app: a, release: ra}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: mw-pretrain}
spec:
  template: {metadata: {labels: {app: b, release: rb}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ddebug, namespace: mw-pretrain}
spec:
  replicas: 2
  template: {metadata: {labels: {app: debug, release: rdebug}}}
`

func mustModel(t *testing.T, src string) *Model {
	t.Helper()
	in, err := routing.Parse("trap.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	m, err := New(in)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// summary renders a decision compactly: "routed va#9 da:1.00" or the outcome.
func summary(d Decision) string {
	if d.Route == nil {
		return d.Outcome.String()
	}
	var bs []string
	for _, b := range d.Backends {
		bs = append(bs, fmt.Sprintf("%s:%.2f", b.Deployment, b.Share))
	}
	return fmt.Sprintf("%s %s#%d %s", d.Outcome, strings.TrimPrefix(d.Route.VirtualService, "mw-pretrain/"), d.Route.Index, strings.Join(bs, ","))
}

func TestRouteTraps(t *testing.T) {
	m := mustModel(t, trapInput)
	a := func(method, path string, hdr ...string) Request {
		h := http.Header{}
		for i := 0; i+1 < len(hdr); i += 2 {
			h[hdr[i]] = append(h[hdr[i]], hdr[i+1]) // raw keys: the case as sent
		}
		return Request{SNI: "a.example.org", Host: "a.example.org", Method: method, Path: path, Header: h}
	}
	with := func(r Request, f func(*Request)) Request { f(&r); return r }
	cases := []struct {
		name string
		req  Request
		want string
		why  string // a reason that must appear among the skipped routes (or the decision's reason)
	}{
		{"xwd backend=", a("GET", "/", "X-Wikimedia-Debug", "backend=k8s-mw-pretrain"), "routed va#0 ddebug:1.00", ""},
		{"xwd bare", a("GET", "/", "X-Wikimedia-Debug", "k8s-mw-pretrain-eqiad"), "routed va#0 ddebug:1.00", ""},
		{"xwd regex is anchored", a("GET", "/", "X-Wikimedia-Debug", "xk8s-mw-pretrain"), "routed va#9 da:1.00",
			`header x-wikimedia-debug: "xk8s-mw-pretrain" does not match regex "(backend=)?k8s-mw-pretrain.*"`},
		{"xwd header name case", a("GET", "/", "X-WIKIMEDIA-DEBUG", "k8s-mw-pretrain"), "routed va#0 ddebug:1.00", ""},
		{"xwd header sent twice is joined", a("GET", "/", "X-Wikimedia-Debug", "k8s-mw-pretrain", "x-wikimedia-debug", "log"), "routed va#0 ddebug:1.00", ""},
		{"exact GET", a("GET", "/exact"), "routed va#1 da:1.00", ""},
		{"exact ignores the query", a("GET", "/exact?a=1"), "routed va#1 da:1.00", ""},
		{"exact is not a prefix", a("GET", "/exactly"), "routed va#9 da:1.00", `uri: "/exactly" does not match exact "/exact"`},
		{"exact POST", a("POST", "/exact"), "routed va#9 da:1.00", `method: POST does not match exact "GET"`},
		{"dot segments normalised", a("GET", "/w/../exact"), "routed va#1 da:1.00", ""},
		{"ignoreUriCase", a("GET", "/casey/page"), "routed va#2 da:1.00", ""},
		{"withoutHeaders absent", a("GET", "/without"), "routed va#3 da:1.00", ""},
		{"withoutHeaders present", a("GET", "/without", "X-Skip", "1"), "routed va#9 da:1.00", `withoutHeaders x-skip: present ("1")`},
		{"query exact", a("GET", "/q?mode=x"), "routed va#4 da:1.00", ""},
		{"query exact is exact", a("GET", "/q?mode=xy"), "routed va#9 da:1.00", `query parameter mode: "xy" does not match exact "x"`},
		{"query absent", a("GET", "/q?other=x"), "routed va#9 da:1.00", `query parameter mode: absent`},
		{"query prefix and presence", a("GET", "/qp?flag&lang=en-gb"), "routed va#5 db:1.00", ""},
		{"query flag with a value is not exact \"\"", a("GET", "/qp?flag=1&lang=en"), "routed va#9 da:1.00", `query parameter flag: "1" does not match exact ""`},
		{"query regex", a("GET", "/p?id=123"), "routed va#6 da:1.00", ""},
		{"query regex anchored", a("GET", "/p?id=12a"), "routed va#9 da:1.00", `query parameter id: "12a" does not match regex "[0-9]+"`},
		{"or: second block", a("GET", "/two"), "routed va#7 db:1.00", `uri: "/two" does not match exact "/one"`},
		{"weights", a("GET", "/split/x"), "routed va#8 da:0.90,db:0.10", ""},
		{"first match wins over a later exact", a("GET", "/specific"), "routed va#9 da:1.00", ""},
		{"wildcard SNI and Host", with(a("GET", "/"), func(r *Request) { r.SNI, r.Host = "x.wild.example.org", "x.wild.example.org" }), "routed va#9 da:1.00", ""},
		{"wildcard takes deeper names", with(a("GET", "/"), func(r *Request) { r.SNI, r.Host = "y.x.wild.example.org", "y.x.wild.example.org" }), "routed va#9 da:1.00", ""},
		{"wildcard does not take its own suffix", with(a("GET", "/"), func(r *Request) { r.SNI = "wild.example.org" }), "TLS handshake failure", `SNI "wild.example.org" is not a host of any HTTPS server on port 443`},
		{"unlisted SNI", with(a("GET", "/"), func(r *Request) { r.SNI = "en.wikipedia.org" }), "TLS handshake failure", ""},
		{"no SNI", with(a("GET", "/"), func(r *Request) { r.SNI = "" }), "TLS handshake failure", "no SNI sent"},
		{"Host with port and case", with(a("GET", "/"), func(r *Request) { r.Host = "A.Example.org:443" }), "routed va#9 da:1.00", ""},
		{"gateway host for another namespace", with(a("GET", "/"), func(r *Request) { r.Host = "own.example.org" }), "no route (404)",
			`VirtualService other/vc: hosts own.example.org do not take Host "own.example.org"`},
		{"gateway host for the VS namespace", with(a("GET", "/"), func(r *Request) { r.Host = "shared.example.org" }), "routed other/vb#0 db:1.00", ""},
		{"other gateway's VirtualService applies there", with(a("GET", "/"), func(r *Request) { r.SNI, r.Host = "b.example.org", "b.example.org" }), "routed vbound-b#0 db:1.00", ""},
		{"a Host of another server is not served", with(a("GET", "/"), func(r *Request) { r.SNI = "b.example.org" }), "no route (404)",
			`VirtualService mw-pretrain/vbound-b: hosts a.example.org, b.example.org do not take Host "a.example.org" on mw-pretrain/gw-b servers[0]`},
		{"a VirtualService bound elsewhere does not apply", with(a("GET", "/"), func(r *Request) { r.Host = "b.example.org" }), "no route (404)", `Host "b.example.org" matches no VirtualService bound to mw-pretrain/gw-a`},
		{"plain HTTP server", with(a("GET", "/"), func(r *Request) { r.SNI, r.Port, r.Host = "", 80, "anything.example" }), "routed vh#0 db:1.00", ""},
		{"no listener on the port", with(a("GET", "/"), func(r *Request) { r.Port = 8443 }), "TLS handshake failure", "no Gateway server listens on port 8443"},
		// Envoy lowercases ASCII only: a Kelvin sign is not a "k".
		{"ignoreUriCase is ASCII only", a("GET", "/ca\u017fey/page"), "routed va#9 da:1.00", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := m.Route(c.req)
			if got := summary(d); got != c.want {
				t.Errorf("got %s, want %s\n%s", got, c.want, strings.Join(d.Lines(), "\n"))
			}
			if c.why != "" {
				text := strings.Join(d.Lines(), "\n")
				if !strings.Contains(text, c.why) {
					t.Errorf("explanation lacks %q:\n%s", c.why, text)
				}
			}
		})
	}
}

func TestDecisionCarriesPositions(t *testing.T) {
	m := mustModel(t, trapInput)
	d := m.Route(Request{SNI: "a.example.org", Host: "a.example.org", Method: "GET", Path: "/two"})
	if d.Server == nil || d.Server.Pos.String() != "trap.yaml:8:5" {
		t.Errorf("server position %v, want trap.yaml:8:5", d.Server)
	}
	if d.Route == nil || d.Route.Pos.String() != "trap.yaml:59:5" || d.Route.Name != "or" || d.MatchBlock != 1 {
		t.Fatalf("route %+v block %d, want or at trap.yaml:59:5 block 1", d.Route, d.MatchBlock)
	}
	last := d.Skipped[len(d.Skipped)-1]
	if last.Route.Name != "or" || len(last.Blocks) != 1 || last.Blocks[0].Pos.String() != "trap.yaml:60:13" {
		t.Errorf("the chosen route's failed block is %+v, want block 0 of or at trap.yaml:60:13", last)
	}
	if len(d.Skipped) != 8 {
		t.Errorf("skipped %d entries, want the 7 earlier routes and the chosen route's block 0", len(d.Skipped))
	}
}

func TestRoutesAndServerNames(t *testing.T) {
	m := mustModel(t, trapInput)
	routes := m.Routes()
	if len(routes) != 15 {
		t.Fatalf("%d routes, want 15", len(routes))
	}
	if r := routes[0]; r.String() != "mw-pretrain/va http[0] (debug)" || strings.Join(r.Gateways, ",") != "mw-pretrain/gw-a" {
		t.Errorf("first route %s on %v", r, r.Gateways)
	}
	if r := routes[14]; strings.Join(r.Gateways, ",") != "mw-pretrain/gw-http" {
		t.Errorf("mesh is not a gateway: %v", r.Gateways)
	}
	want := "*, *.wild.example.org, a.example.org, b.example.org, own.example.org, shared.example.org"
	if got := strings.Join(m.ServerNames(), ", "); got != want {
		t.Errorf("ServerNames() = %s, want %s", got, want)
	}
	svc, backends, err := m.Resolve("mw-pretrain", "svc-a", 0)
	if err != nil || svc.Name != "svc-a" || svc.Port != 4457 || len(backends) != 1 || backends[0].Replicas != 3 || backends[0].Release != "ra" {
		t.Errorf("Resolve(svc-a) = %+v %+v %v", svc, backends, err)
	}
	for _, c := range []struct{ host, err string }{
		{"svc-a.mw-pretrain", "not a Kubernetes Service name"},
		{"svc-x", "no Service mw-pretrain/svc-x in the input"},
	} {
		if _, _, err := m.Resolve("mw-pretrain", c.host, 0); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("Resolve(%s) error %v, want %q", c.host, err, c.err)
		}
	}
	if _, _, err := m.Resolve("mw-pretrain", "svc-a", 80); err == nil || !strings.Contains(err.Error(), "has no port 80") {
		t.Errorf("Resolve(svc-a:80) error %v", err)
	}
}

func TestNoBackend(t *testing.T) {
	m := mustModel(t, `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  servers:
  - port: {number: 443, protocol: HTTPS}
    tls: {mode: SIMPLE}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [h.example.org]
  gateways: [gw]
  http:
  - route: [{destination: {host: mediawiki-canary-tls-service}}]
`)
	d := m.Route(Request{SNI: "anything", Host: "h.example.org", Method: "GET", Path: "/"})
	if d.Outcome != NoBackend || d.Status != 503 || !strings.Contains(d.Destinations[0].Error, "no Service mw-pretrain/mediawiki-canary-tls-service") {
		t.Errorf("got %s %d %+v", d.Outcome, d.Status, d.Destinations)
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	in, err := routing.Parse("bad.yaml", []byte(`apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: g1}
spec:
  servers:
  - port: {number: 443, protocol: HTTPS}
    tls: {mode: SIMPLE}
    hosts: [a.example.org]
  - port: {number: 443, protocol: HTTPS}
    tls: {mode: MUTUAL}
    hosts: [m.example.org]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: g2}
spec:
  servers:
  - port: {number: 443, protocol: HTTPS}
    tls: {mode: SIMPLE}
    hosts: [a.example.org]
  - port: {number: 80, protocol: HTTP}
    tls: {httpsRedirect: true}
    hosts: ["*"]
  - port: {number: 9000, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v1}
spec:
  hosts: [a.example.org]
  gateways: [g1]
  http:
  - match: [{uri: {regex: "(unclosed"}}, {headers: {x-a: {regex: "a)"}}}]
    route:
    - {destination: {host: a}, weight: 0}
    - {destination: {host: b}, weight: 0}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v2}
spec:
  hosts: [a.example.org]
  gateways: [g1]
  http:
  - route: [{destination: {host: a}}]
`))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	_, err = New(in)
	var ps *routing.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("New error %v, want *routing.Problems", err)
	}
	want := []string{
		"bad.yaml:10:11: Gateway mw-pretrain/g1: spec.servers[1].tls.mode: not modelled: MUTUAL needs a client certificate",
		`bad.yaml:18:5: Gateway mw-pretrain/g2: spec.servers[0]: host "a.example.org" on port 443 is also a host of mw-pretrain/g1 server 0 (bad.yaml:6:5): Istio keeps only the oldest`,
		"bad.yaml:22:11: Gateway mw-pretrain/g2: spec.servers[1].tls.httpsRedirect: not modelled: the gateway answers every request with a redirect to HTTPS",
		`bad.yaml:24:26: Gateway mw-pretrain/g2: spec.servers[2].port.protocol: not modelled: "TCP" (only HTTPS and HTTP servers are)`,
		"bad.yaml:34:20: VirtualService mw-pretrain/v1: spec.http[0].match[0].uri.regex: compile regex \"(unclosed\": error parsing regexp: missing closing ): `^(?:(unclosed)$`",
		"bad.yaml:34:59: VirtualService mw-pretrain/v1: spec.http[0].match[1].headers[x-a].regex: compile regex \"a)\": error parsing regexp: unexpected ): `^(?:a))$`",
		"bad.yaml:35:5: VirtualService mw-pretrain/v1: spec.http[0].route: every destination has weight 0: no traffic can be routed",
		`bad.yaml:43:11: VirtualService mw-pretrain/v2: spec.hosts[0]: host "a.example.org" on Gateway mw-pretrain/g1 is also a host of VirtualService mw-pretrain/v1 (bad.yaml:27:1): the order Istio merges them in is not in the input`,
	}
	got := make([]string, len(ps.List))
	for i, p := range ps.List {
		got[i] = p.String()
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

// Envoy lowercases hosts and SNI in ASCII only: a Kelvin sign (U+212A),
// which Go's strings.ToLower turns into "k", is not a "k" there.
func TestHostsFoldASCIIOnly(t *testing.T) {
	for _, c := range []struct {
		pattern, host string
		want          bool
	}{
		{"k8s.example", "K8S.EXAMPLE", true},
		{"k8s.example", "\u212a8s.example", false},
		{"*.k8s.example", "a.\u212a8s.example", false},
	} {
		if got := HostMatches(c.pattern, asciiLower(c.host)); got != c.want {
			t.Errorf("HostMatches(%q, %q) = %v, want %v", c.pattern, c.host, got, c.want)
		}
	}
}
