// Package configtarget is the config tier: production's rendered routing
// config (Istio Gateways and VirtualServices, with the Services and
// Deployments behind them) served in-process, in seconds, with no Docker.
// One TLS listener plays the shared ingress gateway: the Gateway server is
// picked by SNI and the route by the Istio model (harness/istio), exactly
// as `routes explain` reports it; real stub servers named like
// production's pods answer behind it, so probes identify them by the
// Server header alone, as they do in production.
package configtarget

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/coverage"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/tlsca"
)

// RouteHeader is added to every response of the tier: the route the model
// chose ("mw-pretrain/mediawiki-main http[0] (debug)") or why there was
// none. Probes keep it as evidence and route coverage counts it.
const RouteHeader = coverage.RouteHeader

// Entries are the contract entry points the tier serves: both are the
// shared ingress gateway, told apart by SNI and Host.
var Entries = []string{contract.EntryIngress, contract.EntryJobrunnerGateway}

// Option tunes Start.
type Option func(*options)

type options struct {
	log  *slog.Logger
	port int
	sni  map[string]string
}

// The names production's clients reach each Gateway by (the edge and the
// REST gateway dial mw-pretrain.discovery.wmnet:30443; job queue clients
// the jobrunner's discovery name). An entry connects with its name whatever
// Host a case sends, so "Host en.wikipedia.org at the ingress" is asked of
// the main Gateway's routes (404), and "Host test.wikipedia.org on the
// jobrunner gateway" of the jobrunner Gateway's, as in production.
const (
	IngressSNI          = "mw-pretrain.discovery.wmnet"
	JobrunnerGatewaySNI = "mw-pretrain-jobrunner.discovery.wmnet"
)

// Tier is a running config tier. Close it when done.
type Tier struct {
	model  *istio.Model
	port   int
	log    *slog.Logger
	pods   map[string][]pod // by Deployment namespace/name
	run    podGroup
	ln     net.Listener
	srv    *http.Server
	served chan error
	target *Target
	proxy  *httputil.ReverseProxy
}

// Start runs one stub per replica of every Deployment in the model's input
// and the ingress listener on 127.0.0.1.
func Start(ctx context.Context, m *istio.Model, opts ...Option) (*Tier, error) {
	o := options{port: istio.DefaultPort, sni: map[string]string{
		contract.EntryIngress:          IngressSNI,
		contract.EntryJobrunnerGateway: JobrunnerGatewaySNI,
	}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	t := &Tier{model: m, port: o.port, log: o.log, pods: map[string][]pod{}}
	podCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t.run.cancel = cancel
	for _, d := range m.Input().Deployments {
		for _, name := range podNames(d.Name, int(d.Replicas())) {
			p, err := t.run.start(podCtx, podIdentity(name, d.Namespace, d.PodLabels()["release"]), o.log)
			if err != nil {
				return nil, errors.Join(fmt.Errorf("start config tier: %w", err), t.Close())
			}
			key := d.Namespace + "/" + d.Name
			t.pods[key] = append(t.pods[key], p)
		}
	}
	ca, err := tlsca.ForServerNames(m.ServerNames())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start config tier: %w", err), t.Close())
	}
	t.proxy = &httputil.ReverseProxy{
		Rewrite:        func(*httputil.ProxyRequest) {}, // set per request in ServeHTTP
		Transport:      loopbackTransport(),
		ModifyResponse: stripIdentity,
		ErrorHandler:   t.upstreamError,
		ErrorLog:       slog.NewLogLogger(o.log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start config tier: listen: %w", err), t.Close())
	}
	t.ln = ln
	t.srv = &http.Server{
		Handler:           t,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(o.log.Handler(), slog.LevelDebug), // refused handshakes are expected
		TLSConfig: &tls.Config{
			MinVersion:         tls.VersionTLS12,
			Certificates:       []tls.Certificate{ca.Server},
			GetConfigForClient: t.screenSNI,
		},
	}
	t.served = make(chan error, 1)
	go func() { t.served <- t.srv.ServeTLS(ln, "", "") }()
	u := &url.URL{Scheme: "https", Host: ln.Addr().String()}
	t.target = &Target{endpoints: map[string]target.Endpoint{}}
	base := &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	for _, e := range Entries {
		ep := target.Endpoint{Entry: e, URL: u, TLS: base}
		if sni := o.sni[e]; sni != "" {
			// One *tls.Config per distinct SNI: the probe pools connections by it.
			ep.TLS = base.Clone()
			ep.TLS.ServerName = sni
		}
		t.target.endpoints[e] = ep
	}
	return t, nil
}

// screenSNI refuses the handshake of an SNI no Gateway server takes, as
// Envoy has no filter chain for it.
func (t *Tier) screenSNI(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	d := t.model.Route(istio.Request{SNI: hello.ServerName, Port: t.port, Method: http.MethodGet, Path: "/"})
	if d.Outcome == istio.TLSFailure {
		return nil, fmt.Errorf("refuse handshake: %s", d.Reason)
	}
	return nil, nil
}

// ServeHTTP routes one request as the model says and relays it to a pod.
func (t *Tier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := istio.Request{Port: t.port, Host: r.Host, Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header}
	if r.TLS != nil {
		req.SNI = r.TLS.ServerName
	}
	d := t.model.Route(req)
	if d.Route != nil {
		w.Header().Set(RouteHeader, d.Route.String())
	} else {
		w.Header().Set(RouteHeader, "none: "+oneLine(d.Reason))
	}
	switch d.Outcome {
	case istio.Routed:
	case istio.NoBackend:
		gatewayAnswer(w, http.StatusServiceUnavailable, "no healthy upstream")
		return
	default: // no route; a TLS failure cannot reach here
		gatewayAnswer(w, http.StatusNotFound, "")
		return
	}
	p, ok := t.pick(d.Backends)
	if !ok {
		gatewayAnswer(w, http.StatusServiceUnavailable, "no healthy upstream")
		return
	}
	out := r.Clone(r.Context())
	out.URL = &url.URL{Scheme: "http", Host: p.addr, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	out.Host = r.Host
	out.RequestURI = ""
	t.proxy.ServeHTTP(w, out)
}

// pick draws a pod: a backend by its share of the route's traffic, then one
// of its replicas, at random as Envoy's load balancer spreads requests.
func (t *Tier) pick(backends []istio.Backend) (pod, bool) {
	x := rand.Float64()
	var total float64
	for _, b := range backends {
		total += b.Share
	}
	x *= total
	for _, b := range backends {
		ps := t.pods[b.Namespace+"/"+b.Deployment]
		if x -= b.Share; x < 0 && len(ps) > 0 {
			return ps[rand.IntN(len(ps))], true
		}
	}
	for i := len(backends) - 1; i >= 0; i-- { // float rounding: the last with pods
		if ps := t.pods[backends[i].Namespace+"/"+backends[i].Deployment]; len(ps) > 0 {
			return ps[rand.IntN(len(ps))], true
		}
	}
	return pod{}, false
}

// gatewayAnswer is the gateway's own answer: Envoy's 404 for no route has
// no body; its 503 says there is no healthy upstream.
func gatewayAnswer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Server", "istio-envoy")
	if body != "" {
		w.Header().Set("Content-Type", "text/plain")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (t *Tier) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	t.log.Warn("relay to pod failed", "url", r.URL.String(), "err", err)
	gatewayAnswer(w, http.StatusServiceUnavailable, "upstream connect error or disconnect/reset before headers")
}

// stripIdentity drops the stub's machine-readable identity header: the
// tier identifies pods by Server only, the one production offers.
func stripIdentity(resp *http.Response) error {
	resp.Header.Del(identity.Header)
	return nil
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func loopbackTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil, // pods are on 127.0.0.1, never behind an environment proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     30 * time.Second,
	}
}

// Target is the tier as a contract target.
func (t *Tier) Target() *Target { return t.target }

// Model is the model the tier routes with.
func (t *Tier) Model() *istio.Model { return t.model }

// Addr is the ingress listener's address.
func (t *Tier) Addr() string { return t.ln.Addr().String() }

// Close stops the listener and every pod.
func (t *Tier) Close() error {
	var errs []error
	if t.srv != nil {
		// A connection a client dialed and never used stays "new", and
		// Shutdown waits 5 s for it: after a short grace, close it all
		// (the tier is closed after its run, nothing is left to finish).
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		if err := t.srv.Shutdown(ctx); err != nil {
			if cerr := t.srv.Close(); cerr != nil {
				errs = append(errs, fmt.Errorf("close ingress listener: %w", cerr))
			}
		}
		if err := <-t.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("ingress listener: %w", err))
		}
		t.srv = nil
	}
	// The proxy's spare connections to the pods (dialed under concurrent
	// requests, never used) would hold each pod's graceful stop.
	if t.proxy != nil {
		if tr, ok := t.proxy.Transport.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
	}
	errs = append(errs, t.run.stop())
	return errors.Join(errs...)
}

// Target reaches the tier's ingress for the ingress and jobrunner-gateway
// entries; every other entry is not applicable.
type Target struct {
	endpoints map[string]target.Endpoint
}

var _ target.Target = (*Target)(nil)

// Name is "config".
func (*Target) Name() string { return "config" }

// Live is false: the tier runs here.
func (*Target) Live() bool { return false }

// MeasuresNoLatency makes latency budgets not applicable: the tier is a
// model of the routing in-process, and its latency says nothing about
// production's proxies.
func (*Target) MeasuresNoLatency() error {
	return fmt.Errorf("the config tier models the routing in-process: its latency is not production's (run budgets on the kind replica or live): %w", target.ErrNotApplicable)
}

// Endpoint is the ingress listener for the entries the tier serves.
func (t *Target) Endpoint(entry string) (target.Endpoint, error) {
	if ep, ok := t.endpoints[entry]; ok {
		return ep, nil
	}
	return target.Endpoint{}, fmt.Errorf("the config tier serves only the ingress gateway's entries (%s) from the rendered Gateways and VirtualServices, not %q: %w",
		strings.Join(Entries, ", "), entry, target.ErrNotApplicable)
}
