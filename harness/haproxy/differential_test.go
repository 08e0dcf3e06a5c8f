//go:build proxies

// The differential proof: the generated HAProxy configuration routes every
// request as the model does. Real stubs named like production's pods run on
// 127.0.0.1 behind a real haproxy (Debian's 2.6), for the example routing
// input and each of its mutations; harness/differential sends every
// contract case of the ingress and jobrunner-gateway entries and a few
// hundred generated requests to both, and the outcome (TLS failure, 404,
// 503, routed), the route (X-Pretrain-Route) and the pod's Deployment
// (Server) must agree.
//
//	go test -tags proxies -run Differential ./harness/haproxy/
//	PRETRAIN_HAPROXY_SEED=123 go test -tags proxies -run Differential ./harness/haproxy/
package haproxy_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/differential"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/haproxy"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/mutate"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/proctest"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/routing"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/stub"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/tlsca"
)

const haproxyBin = "/usr/sbin/haproxy"

// defaultSeed makes runs reproducible; PRETRAIN_HAPROXY_SEED overrides it.
const defaultSeed = 20260610

// minCompared is how many of each input's generated requests must be
// compared (not excluded).
const minCompared = 300

func TestProxiesDifferential(t *testing.T) {
	if _, err := os.Stat(haproxyBin); err != nil {
		t.Skip("SKIPPED: " + haproxyBin + " is missing (apt-get install haproxy): the differential proof of the generated HAProxy config did NOT run")
	}
	seed := uint64(defaultSeed)
	if s := os.Getenv("PRETRAIN_HAPROXY_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PRETRAIN_HAPROXY_SEED %q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (reproduce: PRETRAIN_HAPROXY_SEED=%d go test -tags proxies -run Differential ./harness/haproxy/)", seed, seed)

	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	muts, err := configtarget.Mutations()
	if err != nil {
		t.Fatal(err)
	}
	type input struct {
		name  string
		muts  []mutate.Mutation
		yaml  string
		extra differential.Extras
	}
	inputs := []input{{name: "example"}}
	for _, m := range muts {
		inputs = append(inputs, input{name: "mutation " + m.Name, muts: []mutate.Mutation{m}})
	}
	inputs = append(inputs, input{name: "constructs", yaml: constructs, extra: constructExtras})

	pods := newPodSet(t)
	compared, excluded := 0, map[string]int{}
	for i, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			rin, err := configtarget.Input{Mutations: in.muts}.Read()
			if in.yaml != "" {
				rin, err = routing.Parse("constructs.yaml", []byte(in.yaml))
			}
			if err != nil {
				t.Fatal(err)
			}
			m, err := istio.New(rin)
			if err != nil {
				t.Fatal(err)
			}
			px := startProxy(t, m, pods.start(t, m), nil)
			o := px.options(m, pods)
			if in.yaml == "" {
				o.Contract = c
			}
			o.Seed, o.Stream, o.Extra = seed, uint64(i), in.extra
			rep, err := differential.Run(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d requests compared (%d contract cases or directed, %d of %d generated), %d excluded",
				in.name, rep.Compared, rep.Compared-rep.GeneratedCompared, rep.GeneratedCompared, rep.Generated, rep.ExcludedCount())
			t.Logf("%s: outcomes compared: %d routed, %d no route, %d no backend, %d TLS failures; routes taken %d of %d",
				in.name, rep.Outcomes[istio.Routed], rep.Outcomes[istio.NoRoute], rep.Outcomes[istio.NoBackend], rep.Outcomes[istio.TLSFailure], rep.Routes-len(rep.Untaken), rep.Routes)
			switch {
			case len(rep.Untaken) > 0 && in.yaml != "":
				t.Errorf("routes no compared request took (the proof says nothing about them): %v", rep.Untaken)
			case len(rep.Untaken) > 0:
				t.Logf("%s: routes shadowed by the mutation, so taken by no request: %v", in.name, rep.Untaken)
			}
			if rep.GeneratedCompared < minCompared {
				t.Errorf("only %d generated requests compared, want at least %d", rep.GeneratedCompared, minCompared)
			}
			for k, n := range rep.Excluded {
				excluded[k] += n
			}
			compared += rep.Compared
			for i, d := range rep.Disagreements {
				if i == 20 {
					t.Errorf("... and %d more disagreements", len(rep.Disagreements)-20)
					break
				}
				t.Error(d)
			}
			if len(rep.Disagreements) > 0 {
				t.Logf("haproxy.cfg:\n%s", px.cfg.Text)
			}
		})
	}
	t.Logf("in all: %d requests compared over %d inputs; excluded by class:", compared, len(inputs))
	for _, k := range slices.Sorted(maps.Keys(excluded)) {
		t.Logf("  %4d  %s", excluded[k], k)
	}
}

// TestProxiesDifferentialCanFail is the negative twin: a config whose
// regexes lost their anchors must disagree with the model on the contract's
// cases (an unanchored "(backend=)?k8s-mw-pretrain.*" takes
// "xk8s-mw-pretrain" to debug).
func TestProxiesDifferentialCanFail(t *testing.T) {
	if _, err := os.Stat(haproxyBin); err != nil {
		t.Skip("SKIPPED: " + haproxyBin + " is missing (apt-get install haproxy): the negative twin of the differential proof did NOT run")
	}
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	rin, err := configtarget.Input{}.Read()
	if err != nil {
		t.Fatal(err)
	}
	m, err := istio.New(rin)
	if err != nil {
		t.Fatal(err)
	}
	pods := newPodSet(t)
	unanchor := func(cfg string) string {
		return strings.NewReplacer(`-m reg '\A`, `-m reg '`, `\z' }`, `' }`).Replace(cfg)
	}
	px := startProxy(t, m, pods.start(t, m), unanchor)
	o := px.options(m, pods)
	o.Contract, o.Generated = c, -1
	rep, err := differential.Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Disagreements) == 0 {
		t.Fatal("an unanchored config agreed with the model on every contract case: the comparison cannot fail")
	}
	t.Logf("the unanchored config disagrees on %d contract cases, as it must; e.g. request %s", len(rep.Disagreements), rep.Disagreements[0].Request)
}

// podSet runs one stub per replica of every Deployment, named like
// production's pods, shared by every input.
type podSet struct {
	ctx    context.Context
	addrs  map[string][]string // Deployment namespace/name -> addresses
	deploy map[string]string   // pod name -> Deployment namespace/name
	wg     sync.WaitGroup
}

func newPodSet(t *testing.T) *podSet {
	ctx, cancel := context.WithCancel(context.Background())
	p := &podSet{ctx: ctx, addrs: map[string][]string{}, deploy: map[string]string{}}
	t.Cleanup(func() { cancel(); p.wg.Wait() })
	return p
}

func (p *podSet) start(t *testing.T, m *istio.Model) map[string][]string {
	for _, d := range m.Input().Deployments {
		key := d.Key()
		if _, ok := p.addrs[key]; ok {
			continue
		}
		p.addrs[key] = []string{}
		for i := range int(d.Replicas()) {
			name := fmt.Sprintf("%s-5d8f7c9b4%d-%05d", d.Name, i%10, i)
			id, ok := identity.FromServer(name)
			if !ok {
				id = identity.Identity{Namespace: d.Namespace, Release: d.PodLabels()["release"], Pod: name}
			}
			id.Source = ""
			id.Role = stub.RoleWeb
			if strings.HasPrefix(id.Release, "jobrunner") {
				id.Role = stub.RoleJobrunner
			}
			srv, err := stub.Listen(stub.Options{Listen: "127.0.0.1:0", Config: stub.Config{Identity: id}}, nil)
			if err != nil {
				t.Fatalf("start pod %s: %v", name, err)
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); _ = srv.Serve(p.ctx) }()
			p.addrs[key] = append(p.addrs[key], srv.Addr().String())
			p.deploy[name] = key
		}
	}
	return p.addrs
}

// deployment is the Deployment of one of the stubs this set started:
// stricter than differential.PodDeployment, which takes any name shaped
// like a pod's.
func (p *podSet) deployment(server string) (string, bool) {
	d, ok := p.deploy[server]
	return d, ok
}

// proxy is a running haproxy with its config and the client's TLS roots.
type proxy struct {
	addr string
	cfg  haproxy.Config
	pool *x509.CertPool
}

// startProxy generates the config, lets edit change it (a negative twin),
// and runs haproxy on it.
func startProxy(t *testing.T, m *istio.Model, pods map[string][]string, edit func(string) string) *proxy {
	t.Helper()
	pemBytes, pool := testCert(t, m.ServerNames())
	addr := proctest.FreeAddr(t)
	dir := t.TempDir()
	cfg, err := haproxy.Generate(m, haproxy.Options{Listen: addr, Dir: dir, CertKeyPEM: pemBytes, Pods: pods})
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	if edit != nil {
		cfg.Text = edit(cfg.Text)
	}
	if err := cfg.Write(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(haproxyBin, "-c", "-f", cfg.Path()).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s\n%s", err, out, cfg.Text)
	}
	proctest.Start(t, nil, addr, haproxyBin, "-db", "-f", cfg.Path())
	return &proxy{addr: addr, cfg: cfg, pool: pool}
}

// options point the proof at the proxy and its pods.
func (p *proxy) options(m *istio.Model, pods *podSet) differential.Options {
	return differential.Options{Model: m, Addr: p.addr, Roots: p.pool, JoinedHeaders: p.cfg.JoinedHeaders, Deployment: pods.deployment}
}

// directed builds a request to site.example.
func directed(method, target string, headers ...string) differential.Request {
	host := "site.example"
	r := differential.Request{Origin: "directed", SNI: host, Method: method, Target: target, Host: &host}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Headers = append(r.Headers, [2]string{headers[i], headers[i+1]})
	}
	return r
}

// constructs is an input with every match the example lacks: query
// parameters (exact, presence, regex), authority, withoutHeaders,
// ignoreUriCase (exact and prefix), method and uri regexes, header
// prefixes, wildcard server and VirtualService hosts, and weights.
const constructs = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: web}
spec:
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [site.example, "*.wild.example"]
    tls: {mode: SIMPLE}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: narrow, namespace: web}
spec:
  gateways: [gw]
  hosts: ["*.b.wild.example"]
  http:
  - name: narrow
    route:
    - destination: {host: canary-svc}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: web}
spec:
  gateways: [gw]
  hosts: [site.example, "*.wild.example"]
  http:
  - name: query-exact-or-present
    route: [{destination: {host: main-svc}}]
    match:
    - queryParams: {action: {exact: raw}}
    - queryParams: {debug: {}}
  - name: query-regex
    route: [{destination: {host: main-svc}}]
    match:
    - queryParams: {title: {regex: "Main_.*"}}
  - name: authority
    route: [{destination: {host: main-svc}}]
    match:
    - authority: {prefix: "SITE.example:"}
  - name: without-header
    route: [{destination: {host: main-svc}}]
    match:
    - uri: {prefix: /api}
      withoutHeaders: {x-skip: {}}
  - name: fold-exact
    route: [{destination: {host: main-svc}}]
    match:
    - uri: {exact: /Wiki/Kelvin}
      ignoreUriCase: true
  - name: fold-prefix
    route: [{destination: {host: main-svc}}]
    match:
    - uri: {prefix: /CASE/}
      ignoreUriCase: true
  - name: method-regex
    route: [{destination: {host: main-svc}}]
    match:
    - method: {regex: "P(UT|ATCH)"}
  - name: header-prefix-and-regex
    route: [{destination: {host: main-svc}}]
    match:
    - headers:
        x-b: {prefix: ab}
        x-c: {regex: "[0-9]+|none"}
  - name: uri-regex
    route: [{destination: {host: main-svc}}]
    match:
    - uri: {regex: "/r/[0-9]+(/.*)?"}
  - name: no-pods
    route: [{destination: {host: nopods-svc}}]
    match:
    - headers: {x-empty: {exact: "1"}}
  - name: split
    route:
    - destination: {host: main-svc}
      weight: 75
    - destination: {host: canary-svc}
      weight: 25
---
apiVersion: v1
kind: Service
metadata: {name: main-svc, namespace: web}
spec:
  selector: {release: main}
  ports: [{port: 4457}]
---
apiVersion: v1
kind: Service
metadata: {name: canary-svc, namespace: web}
spec:
  selector: {release: canary}
  ports: [{port: 4457}]
---
apiVersion: v1
kind: Service
metadata: {name: nopods-svc, namespace: web}
spec:
  selector: {release: none}
  ports: [{port: 4457}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web.eqiad.main, namespace: web}
spec:
  replicas: 2
  selector: {matchLabels: {release: main}}
  template:
    metadata: {labels: {release: main}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web.eqiad.canary, namespace: web}
spec:
  replicas: 1
  selector: {matchLabels: {release: canary}}
  template:
    metadata: {labels: {release: canary}}
`

var constructExtras = differential.Extras{
	Paths: []string{"/?action=raw", "/?action=raw&x", "/?x=1&action=raw", "/?action=rawx", "/?action=", "/?action", "/?x&action=raw&action=no",
		"/?action=no&action=raw", "/?debug", "/?debug=1", "/?debugx", "/?title=Main_Page", "/?title=Main_Page&title=x", "/?title=x&title=Main_Page",
		"/?title=Main_%50", "/?title=Main_&x=1", "/?title=Main", "/api", "/api/x", "/apix?y", "/Wiki/Kelvin", "/wiki/kelvin", "/WIKI/KELVIN?x",
		"/wiki/%E2%84%AAelvin", "/Wiki/Kelvin/", "/case/x", "/CASE/y", "/Case/", "/case", "/r/12", "/r/12/x", "/r/x", "/r/12?q", "/r/", "/r/1/../2"},
	Methods: []string{"PUT", "PATCH", "PATCHX", "put"},
	Hosts: []string{"site.example", "SITE.example:443", "SITE.example:", "site.example:443", "a.wild.example", "a.b.wild.example", "b.wild.example",
		"wild.example", ".wild.example", "x.a.b.wild.example", "A.B.WILD.EXAMPLE:8443"},
	Headers: [][2]string{{"X-Skip", ""}, {"X-Skip", "1"}, {"x-b", "abc"}, {"X-B", "xab"}, {"X-B", "AB"}, {"X-C", "42"}, {"X-C", "none"},
		{"X-C", "4 2"}, {"X-C", "nonE"}, {"x-c", ""}, {"X-Empty", "1"}, {"X-Empty", "1 "}},
	Directed: []differential.Request{
		directed("GET", "/?x&action=raw"), directed("GET", "/?debug"), directed("GET", "/?title=Main_Page"),
		directed("GET", "/api/x"), directed("GET", "/api/x", "X-Skip", "1"), directed("GET", "/wIKI/kelvin"), directed("GET", "/case/x"),
		directed("PATCH", "/"), directed("GET", "/", "X-B", "abc", "X-C", "42"), directed("GET", "/", "X-B", "abc", "X-C", "4", "X-C", "2"),
		directed("GET", "/r/12/x"), directed("GET", "/", "X-Empty", "1"), directed("GET", "/other"),
	},
}

// testCert makes a CA and a serving certificate for the Gateways' hosts,
// and returns the certificate and key PEM and the CA pool.
func testCert(t *testing.T, names []string) ([]byte, *x509.CertPool) {
	t.Helper()
	ca, err := tlsca.ForServerNames(names)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ca.ServerPEM()
	if err != nil {
		t.Fatal(err)
	}
	return out, ca.Pool
}
