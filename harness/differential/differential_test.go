package differential

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/haproxy"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/tlsca"
)

// joined is the header the example's routes match a value of.
var joined = []string{"x-wikimedia-debug"}

func exampleModel(t *testing.T) *istio.Model {
	t.Helper()
	in, err := configtarget.Input{}.Read()
	if err != nil {
		t.Fatal(err)
	}
	m, err := istio.New(in)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGenerateIsDeterministic(t *testing.T) {
	m := exampleModel(t)
	draw := func(stream uint64) []Request {
		return generate(mrand.New(mrand.NewPCG(7, stream)), m, DefaultGenerated, Extras{})
	}
	a := draw(0)
	if len(a) != DefaultGenerated || a[0].Origin != "generated #0" {
		t.Fatalf("drew %d requests, the first %q", len(a), a[0].Origin)
	}
	if !reflect.DeepEqual(a, draw(0)) {
		t.Fatal("one seed and stream drew two different request lists")
	}
	if reflect.DeepEqual(a, draw(1)) {
		t.Fatal("another stream drew the same requests")
	}
}

// The contract cases and the generated requests Run sends for the example
// take every route between them (generated ones alone often miss the
// jobrunner's: they need its SNI, Host, path and method at once).
func TestSentRequestsTakeEveryRoute(t *testing.T) {
	m := exampleModel(t)
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range []uint64{7, 20260610} {
		reqs := append(contractRequests(c), generate(mrand.New(mrand.NewPCG(seed, 0)), m, DefaultGenerated, Extras{})...)
		taken := map[string]bool{}
		for _, r := range reqs {
			if excludedClass(r, joined) != "" {
				continue
			}
			if d := m.Route(r.modelRequest()); d.Route != nil {
				taken[d.Route.String()] = true
			}
		}
		for _, rt := range m.Routes() {
			if !taken[rt.String()] {
				t.Errorf("seed %d: no compared request takes route %s", seed, rt)
			}
		}
	}
}

// fakeProxy routes as the model says, in process: a plain TLS listener
// reading each request with http.ReadRequest (net/http's server would
// refuse hosts a proxy routes, such as " test.wikipedia.org "), answering
// like the generated HAProxy: the gateway's own 404/503 and refusals with
// Server istio-envoy, pods with their production-like name.
type fakeProxy struct {
	m *istio.Model
	// mistake, when set, changes the request before it is routed: a proxy
	// that routes something wrongly.
	mistake func(*istio.Request)
}

// start serves until the test ends; it returns the address and the roots
// that trust it.
func (f fakeProxy) start(t *testing.T) (string, *x509.CertPool) {
	t.Helper()
	ca, err := tlsca.ForServerNames(f.m.ServerNames())
	if err != nil {
		t.Fatal(err)
	}
	conf := &tls.Config{
		Certificates: []tls.Certificate{ca.Server},
		// No Gateway server takes the SNI: no filter chain, no handshake.
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if f.m.Route(istio.Request{SNI: hello.ServerName}).Outcome == istio.TLSFailure {
				return nil, errors.New("no server for this SNI")
			}
			return nil, nil
		},
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c.(*tls.Conn))
		}
	}()
	return ln.Addr().String(), ca.Pool
}

func (f fakeProxy) serve(c *tls.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := c.Handshake(); err != nil {
		return
	}
	status, server, route := f.answer(c)
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nServer: %s\r\n", status, http.StatusText(status), server)
	if route != "" {
		fmt.Fprintf(c, "%s: %s\r\n", haproxy.RouteHeader, route)
	}
	io.WriteString(c, "Content-Length: 0\r\nConnection: close\r\n\r\n")
	// Close only once the client has read the answer and closed: unread
	// request bytes would reset the connection and lose it.
	_ = c.CloseWrite()
	_, _ = io.Copy(io.Discard, c)
}

func (f fakeProxy) answer(c *tls.Conn) (status int, server, route string) {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil || strings.Contains(req.RequestURI, "#") {
		return http.StatusBadRequest, "", ""
	}
	_, _ = io.Copy(io.Discard, req.Body)
	for _, name := range joined {
		if len(req.Header.Values(name)) > haproxy.MaxHeaderLines {
			return http.StatusRequestHeaderFieldsTooLarge, gatewayServer, haproxy.TooManyLines(name)
		}
	}
	req.Header.Del("Content-Length")
	req.Header.Del("Connection")
	mr := istio.Request{SNI: c.ConnectionState().ServerName, Host: req.Host, Method: req.Method, Path: req.RequestURI, Header: req.Header}
	if f.mistake != nil {
		f.mistake(&mr)
	}
	d := f.m.Route(mr)
	switch {
	case d.Outcome == istio.Routed:
		return http.StatusOK, d.Backends[0].Deployment + "-6c4f9d8b7-x2v4q", d.Route.String()
	case d.Outcome == istio.NoBackend:
		return http.StatusServiceUnavailable, gatewayServer, d.Route.String()
	case d.Outcome == istio.NoRoute && d.VirtualService != "":
		return http.StatusNotFound, gatewayServer, haproxy.NoRoute(d.VirtualService)
	case d.Outcome == istio.NoRoute:
		return http.StatusNotFound, gatewayServer, haproxy.NoVirtualService(d.Server.Gateway)
	}
	return http.StatusInternalServerError, "", ""
}

func fakeOptions(t *testing.T, f fakeProxy) Options {
	t.Helper()
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	addr, roots := f.start(t)
	return Options{Model: f.m, Contract: c, Addr: addr, Roots: roots, JoinedHeaders: joined, Seed: 7, Deployment: PodDeployment(f.m), Timeout: 5 * time.Second}
}

func TestRunAgreesWithAProxyThatRoutesAsTheModel(t *testing.T) {
	m := exampleModel(t)
	rep, err := Run(t.Context(), fakeOptions(t, fakeProxy{m: m}))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.Disagreements {
		t.Error(d)
	}
	if rep.Generated != DefaultGenerated || rep.GeneratedCompared < 300 {
		t.Errorf("generated %d, compared %d of them; want %d, at least 300", rep.Generated, rep.GeneratedCompared, DefaultGenerated)
	}
	if rep.Excluded[ClassTooMany] == 0 || rep.Excluded[ClassInvalidTarget] == 0 {
		t.Errorf("excluded %v: the refusals were not exercised", rep.Excluded)
	}
	if len(rep.Untaken) > 0 || rep.Outcomes[istio.TLSFailure] == 0 || rep.Outcomes[istio.NoRoute] == 0 {
		t.Errorf("untaken routes %v, outcomes %v", rep.Untaken, rep.Outcomes)
	}
	t.Logf("%d compared (%d of %d generated), %d excluded", rep.Compared, rep.GeneratedCompared, rep.Generated, rep.ExcludedCount())
}

func TestRunReportsAProxyThatIgnoresTheDebugHeader(t *testing.T) {
	m := exampleModel(t)
	f := fakeProxy{m: m, mistake: func(r *istio.Request) { r.Header.Del("X-Wikimedia-Debug") }}
	rep, err := Run(t.Context(), fakeOptions(t, f))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rep.Disagreements, func(d Disagreement) bool {
		return d.Request.Origin == "contract case ingress-xwd-pretrain"
	})
	if i < 0 {
		t.Fatalf("no disagreement on contract case ingress-xwd-pretrain; got %d: %v", len(rep.Disagreements), rep.Disagreements)
	}
	text := rep.Disagreements[i].String()
	for _, want := range []string{
		"route: model \"mw-pretrain/mediawiki-main http[0] (debug)\", proxy \"mw-pretrain/mediawiki-main http[1] (main)\"",
		"request: contract case ingress-xwd-pretrain: GET /wiki/Main_Page, SNI \"mw-pretrain.discovery.wmnet\", Host \"test.wikipedia.org\", X-Wikimedia-Debug: ",
		"model:\n", "proxy: 200, Server \"mw-pretrain.eqiad.canary-", "pod: ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("disagreement lacks %q:\n%s", want, text)
		}
	}
	t.Logf("%d disagreements, e.g.\n%s", len(rep.Disagreements), text)
}

func TestRunRefusesIncompleteOptions(t *testing.T) {
	if _, err := Run(t.Context(), Options{Addr: "127.0.0.1:1"}); err == nil {
		t.Fatal("Run without a model did not fail")
	}
}

func TestPodDeployment(t *testing.T) {
	deployment := PodDeployment(exampleModel(t))
	for server, want := range map[string]string{
		"mw-pretrain.eqiad.main-5d8f7c9b4-x2v4q":             "mw-pretrain/mw-pretrain.eqiad.main",
		"mw-pretrain.eqiad.jobrunner-canary-5d8f7c9b4-x2v4q": "mw-pretrain/mw-pretrain.eqiad.jobrunner-canary",
		"mw-pretrain.eqiad.jobrunner-5d8f7c9b4-x2v4q":        "mw-pretrain/mw-pretrain.eqiad.jobrunner",
		"mw-pretrain.eqiad.nothere-5d8f7c9b4-x2v4q":          "",
		"mw-web.eqiad.main-5d8f7c9b4-x2v4q":                  "",
		"istio-envoy":                                        "",
		"mw-pretrain.eqiad.main":                             "",
	} {
		got, ok := deployment(server)
		if got != want || ok != (want != "") {
			t.Errorf("%q: got %q, %v; want %q", server, got, ok, want)
		}
	}
}
