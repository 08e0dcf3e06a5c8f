//go:build proxies

// The differential proof: the generated HAProxy configuration routes every
// request as the model does. Real stubs named like production's pods run on
// 127.0.0.1 behind a real haproxy (Debian's 2.6), for the example routing
// input and each of its mutations; every contract case of the ingress and
// jobrunner-gateway entries and a few hundred generated requests go to
// both, and the outcome (TLS failure, 404, 503, routed), the route
// (X-Pretrain-Route) and the pod's Deployment (Server) must agree.
//
//	go test -tags proxies -run Differential ./harness/haproxy/
//	PRETRAIN_HAPROXY_SEED=123 go test -tags proxies -run Differential ./harness/haproxy/
package haproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/proctest"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/tlsca"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/mutate"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/routing"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/stub"
)

const haproxyBin = "/usr/sbin/haproxy"

// defaultSeed makes runs reproducible; PRETRAIN_HAPROXY_SEED overrides it.
const defaultSeed = 20260610

// generatedPerInput is how many requests are generated for each input;
// at least minCompared of them must be compared (not excluded).
const (
	generatedPerInput = 420
	minCompared       = 300
)

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
		extra extras
	}
	inputs := []input{{name: "example"}}
	for _, m := range muts {
		inputs = append(inputs, input{name: "mutation " + m.Name, muts: []mutate.Mutation{m}})
	}
	inputs = append(inputs, input{name: "constructs", yaml: constructs, extra: constructExtras})

	pods := newPodSet(t)
	total := tally{excluded: map[string]int{}}
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
			addrs := pods.start(t, m)
			px := startProxy(t, m, addrs, nil)
			var reqs []wireReq
			if in.yaml == "" {
				reqs = contractRequests(c)
			}
			nContract := len(reqs)
			reqs = append(reqs, in.extra.directed...)
			reqs = append(reqs, generateRequests(mrand.New(mrand.NewPCG(seed, uint64(i))), m, generatedPerInput, in.extra)...)
			got := tally{excluded: map[string]int{}}
			var fails []string
			generated := 0
			taken := map[string]bool{}
			outcomes := map[istio.Outcome]int{}
			for _, r := range reqs {
				if why := excluded(r, px.cfg.JoinedHeaders); why != "" {
					got.excluded[why]++
					if why == classTooMany || why == classInvalidTarget {
						if err := px.checkRefusal(m, r, why); err != nil {
							fails = append(fails, err.Error())
						}
					}
					continue
				}
				got.compared++
				if strings.HasPrefix(r.origin, "generated") {
					generated++
				}
				msg, d := px.compareDecision(m, pods, r)
				if msg != "" {
					fails = append(fails, msg)
				}
				if d.Route != nil {
					taken[d.Route.String()] = true
				}
				outcomes[d.Outcome]++
			}
			t.Logf("%s: %d requests compared (%d contract cases or directed, %d of %d generated), %d excluded", in.name, got.compared, got.compared-generated, generated, len(reqs)-nContract, got.excludedCount())
			var untaken []string
			for _, r := range m.Routes() {
				if !taken[r.String()] {
					untaken = append(untaken, r.String())
				}
			}
			t.Logf("%s: outcomes compared: %d routed, %d no route, %d no backend, %d TLS failures; routes taken %d of %d",
				in.name, outcomes[istio.Routed], outcomes[istio.NoRoute], outcomes[istio.NoBackend], outcomes[istio.TLSFailure], len(m.Routes())-len(untaken), len(m.Routes()))
			switch {
			case len(untaken) > 0 && in.yaml != "":
				t.Errorf("routes no compared request took (the proof says nothing about them): %v", untaken)
			case len(untaken) > 0:
				t.Logf("%s: routes shadowed by the mutation, so taken by no request: %v", in.name, untaken)
			}
			if generated < minCompared {
				t.Errorf("only %d generated requests compared, want at least %d", generated, minCompared)
			}
			for k, n := range got.excluded {
				total.excluded[k] += n
			}
			total.compared += got.compared
			for i, f := range fails {
				if i == 20 {
					t.Errorf("... and %d more disagreements", len(fails)-20)
					break
				}
				t.Error(f)
			}
			if len(fails) > 0 {
				t.Logf("haproxy.cfg:\n%s", px.cfg.Text)
			}
		})
	}
	t.Logf("in all: %d requests compared over %d inputs; excluded by class:", total.compared, len(inputs))
	for _, k := range sortedKeys(total.excluded) {
		t.Logf("  %4d  %s", total.excluded[k], k)
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
	var fails []string
	for _, r := range contractRequests(c) {
		if msg := px.compare(m, pods, r); msg != "" {
			fails = append(fails, strings.SplitN(msg, "\n", 3)[1])
		}
	}
	if len(fails) == 0 {
		t.Fatal("an unanchored config agreed with the model on every contract case: the comparison cannot fail")
	}
	t.Logf("the unanchored config disagrees on %d contract cases, as it must; e.g.%s", len(fails), fails[0])
}

type tally struct {
	compared int
	excluded map[string]int
}

func (t tally) excludedCount() int {
	n := 0
	for _, v := range t.excluded {
		n += v
	}
	return n
}

// wireReq is one request as it goes on the wire.
type wireReq struct {
	origin  string // "contract case X" or "generated #n"
	sni     string // as configured on the client ("" = none)
	method  string
	target  string
	host    *string // nil: no Host header
	headers [][2]string
	body    string
}

func (r wireReq) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %s, SNI %q", r.origin, r.method, r.target, r.sni)
	if r.host != nil {
		fmt.Fprintf(&b, ", Host %q", *r.host)
	}
	for _, h := range r.headers {
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
func (r wireReq) modelRequest() istio.Request {
	req := istio.Request{SNI: wireSNI(r.sni), Port: istio.DefaultPort, Method: r.method, Path: r.target, Header: http.Header{}}
	if r.host != nil {
		req.Host = owsTrim(*r.host)
	}
	for _, h := range r.headers {
		req.Header.Add(h[0], owsTrim(h[1]))
	}
	return req
}

// Classes of requests excluded from the comparison, each with its reason.
const (
	classUnsendable    = "a header value holding CR, LF, NUL or another control character: not sendable in HTTP/1.1 (RFC 9110 5.5); Go's client refuses it, and a raw one would have the proxy read another request than the model is asked about"
	classInvalidTarget = "a request-target that is not origin-form (RFC 9112 3.2: a raw \"#\", space or control character): HAProxy answers 400 before routing, asserted instead; Envoy refuses it too"
	classTooMany       = "more lines of one matched header than the proxy joins (haproxy.MaxHeaderLines): the proxy refuses with 431, asserted instead"
)

func excluded(r wireReq, joined []string) string {
	if strings.ContainsFunc(r.target, func(c rune) bool { return c == '#' || c <= ' ' || c >= 0x7f }) {
		return classInvalidTarget
	}
	counts := map[string]int{}
	for _, h := range r.headers {
		if strings.ContainsFunc(h[1], func(c rune) bool { return c != '\t' && isCtl(c) }) {
			return classUnsendable
		}
		counts[strings.ToLower(h[0])]++
	}
	for name, n := range counts {
		if n > MaxHeaderLines && contains(joined, name) {
			return classTooMany
		}
	}
	return ""
}

// podSet runs one stub per replica of every Deployment, named like
// production's pods, shared by every input.
type podSet struct {
	t      *testing.T
	ctx    context.Context
	addrs  map[string][]string // Deployment namespace/name -> addresses
	deploy map[string]string   // pod name -> Deployment namespace/name
	wg     sync.WaitGroup
}

func newPodSet(t *testing.T) *podSet {
	ctx, cancel := context.WithCancel(context.Background())
	p := &podSet{t: t, ctx: ctx, addrs: map[string][]string{}, deploy: map[string]string{}}
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

// proxy is a running haproxy with its config and the client's TLS roots.
type proxy struct {
	addr string
	cfg  Config
	pool *x509.CertPool
}

// startProxy generates the config, lets edit change it (a negative twin),
// and runs haproxy on it.
func startProxy(t *testing.T, m *istio.Model, pods map[string][]string, edit func(string) string) *proxy {
	t.Helper()
	pemBytes, pool := testCert(t, m.ServerNames())
	addr := proctest.FreeAddr(t)
	dir := t.TempDir()
	cfg, err := Generate(m, Options{Listen: addr, Dir: dir, CertKeyPEM: pemBytes, Pods: pods})
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

// answer is what the proxy did with a request.
type answer struct {
	tlsErr error
	err    error
	// closedMidWrite: the proxy closed the connection before the request
	// was all written, and no response could be read.
	closedMidWrite bool
	status         int
	server         string
	route          string
	outcome        istio.Outcome
	deploy         string
}

func (a answer) String() string {
	switch {
	case a.tlsErr != nil:
		return "TLS handshake failed: " + a.tlsErr.Error()
	case a.err != nil:
		return "error: " + a.err.Error()
	}
	return fmt.Sprintf("%d, Server %q, %s %q -> %s", a.status, a.server, RouteHeader, a.route, a.outcome)
}

func (p *proxy) send(r wireReq, pods *podSet) answer {
	raw, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
	if err != nil {
		return answer{err: err}
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(10 * time.Second))
	conf := &tls.Config{
		ServerName: r.sni,
		NextProtos: []string{"http/1.1"},
		MinVersion: tls.VersionTLS12,
		// The chain is verified against the test CA below; the name is
		// not, as a connection without SNI (or to a "*" server) names none.
		InsecureSkipVerify: true,
		// The request goes in as few records as it can (one up to 16 KiB):
		// HAProxy then parses it whole, not while the rest is in flight.
		DynamicRecordSizingDisabled: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: p.pool})
			return err
		},
	}
	c := tls.Client(raw, conf)
	if err := c.Handshake(); err != nil {
		return answer{tlsErr: err, outcome: istio.TLSFailure}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", r.method, r.target)
	if r.host != nil {
		fmt.Fprintf(&b, "Host: %s\r\n", *r.host)
	}
	for _, h := range r.headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(r.body), r.body)
	_, werr := io.WriteString(c, b.String())
	// A proxy that refuses a request line answers and closes while the
	// rest may still be in flight: read its answer before blaming the write.
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: r.method})
	if err != nil {
		if werr != nil {
			return answer{err: fmt.Errorf("write request: %w (no response: %v)", werr, err), closedMidWrite: true}
		}
		return answer{err: fmt.Errorf("read response: %w", err)}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	a := answer{status: resp.StatusCode, server: resp.Header.Get("Server"), route: resp.Header.Get(RouteHeader)}
	if resp.Header.Get(IdentityHeader) != "" {
		return answer{err: fmt.Errorf("%s %q leaked: pods must be identified by Server alone", IdentityHeader, resp.Header.Get(IdentityHeader))}
	}
	switch {
	case a.server == "istio-envoy" && a.status == http.StatusNotFound:
		a.outcome = istio.NoRoute
	case a.server == "istio-envoy" && a.status == http.StatusServiceUnavailable:
		a.outcome = istio.NoBackend
	case pods != nil && pods.deploy[a.server] != "":
		a.outcome, a.deploy = istio.Routed, pods.deploy[a.server]
	}
	return a
}

// expectedRoute is the RouteHeader the proxy must send for the decision.
func expectedRoute(d istio.Decision) string {
	switch {
	case d.Route != nil:
		return d.Route.String()
	case d.Outcome == istio.NoRoute && d.VirtualService != "":
		return NoRoute(d.VirtualService)
	case d.Outcome == istio.NoRoute && d.Server != nil:
		return NoVirtualService(d.Server.Gateway)
	}
	return ""
}

// compare sends r to the proxy and asks the model; "" when they agree.
func (p *proxy) compare(m *istio.Model, pods *podSet, r wireReq) string {
	msg, _ := p.compareDecision(m, pods, r)
	return msg
}

// compareDecision is compare, also returning the model's decision.
func (p *proxy) compareDecision(m *istio.Model, pods *podSet, r wireReq) (string, istio.Decision) {
	d := m.Route(r.modelRequest())
	a := p.send(r, pods)
	var why []string
	if a.outcome != d.Outcome {
		why = append(why, fmt.Sprintf("outcome: model %s, proxy %s", d.Outcome, a.outcome))
	}
	if d.Outcome != istio.TLSFailure && a.outcome == d.Outcome {
		if want := expectedRoute(d); a.route != want {
			why = append(why, fmt.Sprintf("route: model %q, proxy %q", want, a.route))
		}
	}
	if d.Outcome == istio.Routed && a.outcome == istio.Routed {
		var want []string
		for _, b := range d.Backends {
			want = append(want, b.Namespace+"/"+b.Deployment)
		}
		if !contains(want, a.deploy) {
			why = append(why, fmt.Sprintf("pod: %s of Deployment %s, model expects one of %v", a.server, a.deploy, want))
		}
	}
	if len(why) == 0 {
		return "", d
	}
	return fmt.Sprintf("disagreement: %s\n  request: %s\n  model:\n    %s\n  proxy: %s",
		strings.Join(why, "; "), r, strings.Join(d.Lines(), "\n    "), a), d
}

// checkRefusal asserts the proxy's own refusal of an excluded request: 431
// for too many lines of a matched header, 400 for an invalid target.
func (p *proxy) checkRefusal(m *istio.Model, r wireReq, class string) error {
	a := p.send(r, nil)
	if m.Route(r.modelRequest()).Outcome == istio.TLSFailure {
		if a.tlsErr == nil {
			return fmt.Errorf("request %s: the model fails the handshake, the proxy did not: %s", r, a)
		}
		return nil
	}
	switch {
	case class == classTooMany && a.status == http.StatusRequestHeaderFieldsTooLarge && strings.HasPrefix(a.route, "refused: "):
	case class == classInvalidTarget && a.status == http.StatusBadRequest && a.route == "":
	case class == classInvalidTarget && a.closedMidWrite:
		// Refused while the request line was parsed, before the rest of
		// a large request arrived: the 400 was lost with the connection.
	default:
		return fmt.Errorf("request %s: want the proxy's refusal (%s), got %s", r, class, a)
	}
	return nil
}

func contractRequests(c *contract.Contract) []wireReq {
	sni := map[string]string{
		contract.EntryIngress:          configtarget.IngressSNI,
		contract.EntryJobrunnerGateway: configtarget.JobrunnerGatewaySNI,
	}
	var out []wireReq
	for _, cs := range c.Cases {
		s, ok := sni[cs.Entry]
		if !ok {
			continue
		}
		host := cs.Request.Host
		r := wireReq{origin: "contract case " + cs.Name, sni: s, method: cs.Request.Method, target: cs.Request.Path, host: &host, body: cs.Request.Body}
		for _, h := range cs.Request.Headers {
			r.headers = append(r.headers, [2]string{h.Name, h.Value})
		}
		out = append(out, r)
	}
	return out
}

// generateRequests draws n requests: the Gateways' hosts and lookalikes, SNIs
// listed and not, paths with dot segments, encodings and queries, odd
// methods, and X-Wikimedia-Debug values meant to trip an unanchored or
// badly quoted match.
func generateRequests(rng *mrand.Rand, m *istio.Model, n int, extra extras) []wireReq {
	names := m.ServerNames()
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	hostVariants := func(h string) []string {
		return []string{h, strings.ToUpper(h), h + ".", h + ":443", h + ":30443", h + ":", h + ":1:2", "x" + h, h + ".evil.example",
			strings.Replace(h, ".", "-", 1), "[" + h + "]", "[" + h, "a." + h, " " + h + " ", strings.ReplaceAll(h, "i", "\u0130"),
			strings.Replace(h, "k", "\u212a", 1), h + "\xff"}
	}
	extraHosts := []string{"en.wikipedia.org", "wikipedia.org", "", "127.0.0.1", "[::1]:443", "localhost", "test.wikipedia.org.evil", "TEST.WIKIPEDIA.ORG:443"}
	snis := append(append([]string{}, names...), "", "en.wikipedia.org", "evil.example", "127.0.0.1", "wikipedia.org", "xtest.wikipedia.org")
	for _, h := range names {
		snis = append(snis, strings.ToUpper(h), h+".", "a."+h)
	}
	paths := []string{"/", "/wiki/Main_Page", "/w/index.php", "/w/api.php?action=query&servedby", "/w/health-check.php", "/rpc/RunSingleJob.php",
		"/w/health-check.php/x", "/w/health-check.phpx", "/w/health-check.php?", "/w/health-check.php?x=1", "/rpc/RunSingleJob.php?x",
		"/w/../w/health-check.php", "/rpc/./RunSingleJob.php", "/x/../../rpc/RunSingleJob.php", "/w/health%2Dcheck.php", "/%2e%2e/w/health-check.php",
		"/w//health-check.php", "/W/Health-Check.php", "/RPC/RunSingleJob.php", "/wiki/A%20B?q=a&b=%41", "/w/rest.php/v1/page", "/a/b/c/../../../w/health-check.php",
		"/rpc/RunSingleJob.php/..", "/rpc/RunSingleJob.php/.", "/w/./health-check.php/.", "/..", "/.", "/./", "//", "/%2F", "/w/index.php?title=..%2F&action=raw",
		"/rpc/RunSingleJob.php%3F", "/rpc/RunSingleJob.php;x", "/w/health-check.php#frag", "/~user/..;/w/health-check.php"}
	segs := []string{"w", "..", ".", "wiki", "rpc", "RunSingleJob.php", "health-check.php", "%2e", "", "A%2FB", "%2E%2E", "index.php", "x;y", "@", "!$&'()*+,=:"}
	methods := []string{"GET", "GET", "GET", "POST", "POST", "HEAD", "PUT", "OPTIONS", "DELETE", "get", "Post", "PROPFIND", "M-SEARCH", "X_Y!", "GETX", "PATCH"}
	long := strings.Repeat("x", 4000)
	xwd := []string{"k8s-mw-pretrain", "backend=k8s-mw-pretrain", "backend=k8s-mw-pretrain; log", "xk8s-mw-pretrain", "backend=k8s-mw-pretrain\n",
		"k8s-mw-pretrain-eqiad", "K8S-MW-PRETRAIN", " k8s-mw-pretrain", "k8s-mw-pretrain\t", "backend=k8s-mwdebug", "profile; log", "", "backend=",
		"k8s-mw-pretrain" + long, long + "k8s-mw-pretrain", "backend=backend=k8s-mw-pretrain", "k8s-mw-pretrain\x00", "k8s-mw-pretrain\u00e9",
		"k8s-mw-pretrain\xff", "k8s-mw-pretrain\xe2\x82", "\u212a8s-mw-pretrain", "k8s_mw_pretrain", "k8s-mw-pretrai", "(backend=)?k8s-mw-pretrain.*",
		"k8s-mw-pretrain\r\nX-Injected: 1", "k8s-mw-pretrain, backend=x", `"k8s-mw-pretrain"`, "k8s-mw-pretrain#", "k8s-mw-pretrain\\"}
	xwdNames := []string{"X-Wikimedia-Debug", "x-wikimedia-debug", "X-WIKIMEDIA-DEBUG"}
	paths = append(paths, extra.paths...)
	methods = append(methods, extra.methods...)
	extraHosts = append(extraHosts, extra.hosts...)

	out := make([]wireReq, 0, n)
	for i := range n {
		r := wireReq{origin: fmt.Sprintf("generated #%d", i), method: pick(methods)}
		base := pick(names)
		switch rng.IntN(4) {
		case 0:
			h := pick(extraHosts)
			r.host = &h
		default:
			h := pick(hostVariants(base))
			r.host = &h
		}
		if rng.IntN(20) == 0 {
			r.host = nil
		}
		switch rng.IntN(5) {
		case 0:
			r.sni = pick(snis)
		default:
			r.sni = base
		}
		if rng.IntN(3) == 0 {
			k := 1 + rng.IntN(5)
			var parts []string
			for range k {
				parts = append(parts, pick(segs))
			}
			r.target = "/" + strings.Join(parts, "/")
			if rng.IntN(3) == 0 {
				r.target += "?" + pick([]string{"", "a=1", "a=1&b=..", "x=%2F&y", "q=k8s-mw-pretrain"})
			}
		} else {
			r.target = pick(paths)
		}
		switch k := rng.IntN(10); {
		case k < 4:
		case k < 8:
			r.headers = append(r.headers, [2]string{pick(xwdNames), pick(xwd)})
		case k < 9:
			for range 2 + rng.IntN(3) {
				r.headers = append(r.headers, [2]string{pick(xwdNames), pick(xwd)})
			}
		default:
			if rng.IntN(3) == 0 {
				for range MaxHeaderLines + 1 + rng.IntN(3) {
					r.headers = append(r.headers, [2]string{pick(xwdNames), pick(xwd)})
				}
			} else {
				r.headers = append(r.headers, [2]string{"X-Other", pick(xwd)}, [2]string{pick(xwdNames), pick(xwd)})
			}
		}
		if len(extra.headers) > 0 && rng.IntN(2) == 0 {
			for range 1 + rng.IntN(2) {
				h := extra.headers[rng.IntN(len(extra.headers))]
				r.headers = append(r.headers, h)
			}
		}
		if r.method == "POST" && rng.IntN(2) == 0 {
			r.body = `{"database":"testwiki","type":"null"}`
		}
		out = append(out, r)
	}
	return out
}

// extras are requests aimed at an input's own constructs.
type extras struct {
	paths, methods, hosts []string
	headers               [][2]string
	// directed requests are sent as they are, whatever the seed.
	directed []wireReq
}

// directed builds a request to site.example.
func directed(method, target string, headers ...string) wireReq {
	host := "site.example"
	r := wireReq{origin: "directed", sni: host, method: method, target: target, host: &host}
	for i := 0; i+1 < len(headers); i += 2 {
		r.headers = append(r.headers, [2]string{headers[i], headers[i+1]})
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

var constructExtras = extras{
	paths: []string{"/?action=raw", "/?action=raw&x", "/?x=1&action=raw", "/?action=rawx", "/?action=", "/?action", "/?x&action=raw&action=no",
		"/?action=no&action=raw", "/?debug", "/?debug=1", "/?debugx", "/?title=Main_Page", "/?title=Main_Page&title=x", "/?title=x&title=Main_Page",
		"/?title=Main_%50", "/?title=Main_&x=1", "/?title=Main", "/api", "/api/x", "/apix?y", "/Wiki/Kelvin", "/wiki/kelvin", "/WIKI/KELVIN?x",
		"/wiki/%E2%84%AAelvin", "/Wiki/Kelvin/", "/case/x", "/CASE/y", "/Case/", "/case", "/r/12", "/r/12/x", "/r/x", "/r/12?q", "/r/", "/r/1/../2"},
	methods: []string{"PUT", "PATCH", "PATCHX", "put"},
	hosts: []string{"site.example", "SITE.example:443", "SITE.example:", "site.example:443", "a.wild.example", "a.b.wild.example", "b.wild.example",
		"wild.example", ".wild.example", "x.a.b.wild.example", "A.B.WILD.EXAMPLE:8443"},
	headers: [][2]string{{"X-Skip", ""}, {"X-Skip", "1"}, {"x-b", "abc"}, {"X-B", "xab"}, {"X-B", "AB"}, {"X-C", "42"}, {"X-C", "none"},
		{"X-C", "4 2"}, {"X-C", "nonE"}, {"x-c", ""}, {"X-Empty", "1"}, {"X-Empty", "1 "}},
	directed: []wireReq{
		directed("GET", "/?x&action=raw"), directed("GET", "/?debug"), directed("GET", "/?title=Main_Page"),
		directed("GET", "/api/x"), directed("GET", "/api/x", "X-Skip", "1"), directed("GET", "/wIKI/kelvin"), directed("GET", "/case/x"),
		directed("PATCH", "/"), directed("GET", "/", "X-B", "abc", "X-C", "42"), directed("GET", "/", "X-B", "abc", "X-C", "4", "X-C", "2"),
		directed("GET", "/r/12/x"), directed("GET", "/", "X-Empty", "1"), directed("GET", "/other"),
	},
}

// testCert makes a CA and a serving certificate for names (the Gateways'
// hosts; "*" cannot be a SAN), and returns the certificate and key PEM and
// the CA pool.
func testCert(t *testing.T, names []string) ([]byte, *x509.CertPool) {
	t.Helper()
	var sans []string
	for _, n := range names {
		if n != "*" {
			sans = append(sans, n)
		}
	}
	ca, err := tlsca.New(sans...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ca.ServerPEM()
	if err != nil {
		t.Fatal(err)
	}
	return out, ca.Pool
}
