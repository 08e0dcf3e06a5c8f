// Package replicatest is an in-process replica of Pretrain's routing for
// tests: real stub MediaWiki servers (package stub) behind small Go reverse
// proxies that route like the edge, the ingress gateways, the REST gateway
// and the service mesh do, all on 127.0.0.1. It can be started with
// deliberate faults, each flipping one routing rule, so a suite proves
// that it passes on correct routing and fails, naming the right cases, on
// wrong routing.
//
// Topology (see routes.go for each rule):
//
//	edge ──REST──────────────► rest-gateway ──testwiki──► ingress
//	  │  ──testwiki / XWD pretrain scope──► ingress       │   └─ XWD k8s-mwdebug* ─► mw-debug
//	  │  ──XWD default scope──► mw-debug/pinkunicorn,     └─ default ─► mw-api-ext/main
//	  │       mw-debug/next, mw-experimental, mw-parsoid (pinkllama)
//	  │  ──XWD unknown in scope──► 400, the scope in the body
//	  └──other wikis──► mw-web/main
//	ingress (test.wikipedia.org, mw-pretrain.{discovery,svc.eqiad,svc.codfw}.wmnet)
//	        ──XWD (backend=)?k8s-mw-pretrain.*──► mw-pretrain/debug
//	        └──prefix /──► mw-pretrain/main (every 3rd: canary)
//	jobrunner-gateway (mw-pretrain-jobrunner names) ──GET health / POST RunSingleJob──► jobrunner Service
//	jobrunner ──► jobrunner Service: mw-pretrain/jobrunner (every 3rd: jobrunner-canary)
//	mesh/mw-api-int (6501)   ──testwiki──► ingress;                  default ─► mw-api-int/main
//	mesh/mw-jobrunner (6506) ──testwiki──► jobrunner Service;        default ─► mw-jobrunner/main
//
// The mesh entries are reached through the forward endpoint of a
// "mw-pretrain/mesh-client" stub, as a probe reaches a real pod's
// localhost listeners.
package replicatest

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/forward"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/stub"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// Name is the replica target's name; faults are appended ("replicatest+xwd-ignored").
const Name = "replicatest"

// Pod name parts shared by every stub: production-shaped names
// "<namespace>.eqiad.<release>-7d9f8c6b5-x2v4q".
const (
	podDC         = "eqiad"
	podReplicaSet = "7d9f8c6b5"
	podSuffix     = "x2v4q"
)

// backendSpec is one stub MediaWiki release.
type backendSpec struct {
	namespace, release, role, imageKind string
}

func (b backendSpec) name() string { return b.namespace + "/" + b.release }

func (b backendSpec) identity() identity.Identity {
	return identity.Identity{
		Namespace: b.namespace,
		Release:   b.release,
		DC:        podDC,
		Pod:       identity.PodName(b.namespace, podDC, b.release, podReplicaSet, podSuffix),
		Role:      b.role,
		ImageKind: b.imageKind,
	}
}

// backends are the contract's backends, each a real stub.
var backends = []backendSpec{
	{"mw-pretrain", "main", "web", "image"},
	{"mw-pretrain", "canary", "web", "image"},
	{"mw-pretrain", "debug", "web", "debug-image"},
	{"mw-pretrain", "jobrunner", "jobrunner", "image"},
	{"mw-pretrain", "jobrunner-canary", "jobrunner", "image"},
	{"mw-web", "main", "web", "image"},
	{"mw-api-ext", "main", "web", "image"},
	{"mw-api-int", "main", "web", "image"},
	{"mw-jobrunner", "main", "jobrunner", "image"},
	{"mw-debug", "pinkunicorn", "web", "debug-image"},
	{"mw-debug", "next", "web", "debug-image"},
	{"mw-experimental", "pinkllama", "web", "image"},
	{"mw-parsoid", "pinkllama", "web", "image"},
}

// meshClient is the pod whose mesh listeners the mesh entries stand for;
// it is not a contract backend, only the forwarder.
var meshClient = backendSpec{"mw-pretrain", "mesh-client", "web", "image"}

// MeshClient is the Addr name of the mesh client's forward listener.
const MeshClient = "mesh-client"

// localServer is the Server header of an entry point's own answers (no
// route, XWD scope error, upstream failure): never a pod name.
var localServer = map[string]string{
	contract.EntryEdge:             "ATS",
	contract.EntryIngress:          "istio-envoy",
	contract.EntryJobrunnerGateway: "istio-envoy",
	contract.EntryJobrunner:        "istio-envoy",
	contract.EntryRESTGateway:      "envoy",
	contract.EntryMeshAPIInt:       "envoy",
	contract.EntryMeshJobrunner:    "envoy",
}

// Replica is a running replica. Close it when done.
type Replica struct {
	faults faultSet
	// off are the features switched off (WithFeaturesOff).
	off map[string]bool

	mainCount      atomic.Uint64
	jobrunnerCount atomic.Uint64

	proxyTransport   *http.Transport // entry points to upstreams
	forwardTransport *http.Transport // the mesh client's forward requests

	addrs     map[string]string   // backend, entry or MeshClient -> 127.0.0.1:port
	upstreams map[string]*url.URL // backend or entry -> http://127.0.0.1:port

	servers []*http.Server
	serving sync.WaitGroup

	target target.Target

	closeOnce sync.Once
	closeErr  error
}

// Start starts every stub and entry point on 127.0.0.1:0 with the given
// faults (none: correct routing) and every feature on.
func Start(faults ...Fault) (*Replica, error) {
	return StartWith(WithFaults(faults...))
}

// StartWith starts a replica with options: faults, features off.
func StartWith(opts ...Option) (*Replica, error) {
	o := options{off: map[string]bool{}}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("start replica: %w", err)
		}
	}
	set, err := newFaultSet(o.faults)
	if err != nil {
		return nil, fmt.Errorf("start replica: %w", err)
	}
	r := &Replica{
		faults:           set,
		off:              o.off,
		proxyTransport:   newTransport(),
		forwardTransport: newTransport(),
		addrs:            make(map[string]string),
		upstreams:        make(map[string]*url.URL),
	}
	if err := r.start(); err != nil {
		return nil, errors.Join(fmt.Errorf("start replica: %w", err), r.Close())
	}
	return r, nil
}

func (r *Replica) start() error {
	for _, b := range backends {
		h, err := stub.NewHandler(stub.Config{Identity: b.identity()})
		if err != nil {
			return fmt.Errorf("create stub %q: %w", b.name(), err)
		}
		if err := r.listen(b.name(), h); err != nil {
			return err
		}
	}
	forwardClient := &http.Client{
		Transport: r.forwardTransport,
		// a pod's request is one hop: redirects come back as they are
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if err := r.listen(MeshClient, stub.NewForwardHandler(meshClient.identity(), forwardClient)); err != nil {
		return err
	}
	entries := []struct {
		name  string
		route func(*http.Request) decision
	}{
		{contract.EntryIngress, r.routeIngress},
		{contract.EntryJobrunnerGateway, r.routeJobrunnerGateway},
		{contract.EntryJobrunner, r.routeJobrunner},
		{contract.EntryRESTGateway, r.routeRESTGateway},
		{contract.EntryEdge, r.routeEdge},
		{contract.EntryMeshAPIInt, r.routeMeshAPIInt},
		{contract.EntryMeshJobrunner, r.routeMeshJobrunner},
	}
	for _, e := range entries {
		if err := r.listen(e.name, r.entryHandler(e.name, e.route)); err != nil {
			return err
		}
	}
	t, err := r.buildTarget()
	if err != nil {
		return err
	}
	r.target = t
	return nil
}

func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // loopback only, never an environment proxy
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		DisableCompression:    true, // a proxy passes bodies through as they are
	}
}

var discardLog = log.New(io.Discard, "", 0)

// listen serves h on a new 127.0.0.1 listener registered under name.
func (r *Replica) listen(name string, h http.Handler) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for %q: %w", name, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: discardLog}
	addr := ln.Addr().String()
	r.addrs[name] = addr
	r.upstreams[name] = &url.URL{Scheme: "http", Host: addr}
	r.servers = append(r.servers, srv)
	r.serving.Add(1)
	go func() {
		defer r.serving.Done()
		_ = srv.Serve(ln) // returns http.ErrServerClosed on Close
	}()
	return nil
}

// entryHandler routes each request with route, then answers or proxies.
func (r *Replica) entryHandler(entry string, route func(*http.Request) decision) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.serve(entry, w, req, route(req))
	})
}

func (r *Replica) serve(entry string, w http.ResponseWriter, req *http.Request, d decision) {
	if d.to == "" {
		h := w.Header()
		for k, v := range d.header {
			h[k] = v
		}
		h.Set("Server", localServer[entry])
		if d.body != "" {
			h.Set("Content-Type", "text/plain; charset=utf-8")
		}
		w.WriteHeader(d.status)
		_, _ = io.WriteString(w, d.body)
		return
	}
	upstream, ok := r.upstreams[d.to]
	if !ok { // a bug in routes.go, not a routing outcome
		http.Error(w, fmt.Sprintf("replicatest %s: unknown upstream %q", entry, d.to), http.StatusInternalServerError)
		return
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.Host = pr.In.Host // routing is by Host all the way down
		},
		Transport: r.proxyTransport,
		ErrorLog:  discardLog,
		ModifyResponse: func(resp *http.Response) error {
			for _, name := range d.strip {
				resp.Header.Del(name)
			}
			for k, v := range d.header {
				resp.Header[k] = v
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			w.Header().Set("Server", localServer[entry])
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = fmt.Fprintf(w, "replicatest %s: proxy to %q: %v\n", entry, d.to, err)
		},
	}
	proxy.ServeHTTP(w, req)
}

// Target is the replica as a target: every entry point by URL, the mesh
// entries through the mesh client's forward endpoint. Never live.
func (r *Replica) Target() target.Target { return r.target }

// Features are the features (rollout steps) the replica has on, in
// Features' order: its target declares them.
func (r *Replica) Features() []string {
	out := []string{}
	for _, f := range Features {
		if !r.off[f] {
			out = append(out, f)
		}
	}
	return out
}

// on reports whether a feature is on.
func (r *Replica) on(feature string) bool { return !r.off[feature] }

// Addr is the 127.0.0.1:port of an entry point ("edge"), a backend
// ("mw-pretrain/main") or the mesh client's forward listener (MeshClient);
// "" when unknown. For debugging.
func (r *Replica) Addr(entry string) string { return r.addrs[entry] }

func (r *Replica) name() string {
	parts := []string{Name}
	for _, f := range Features {
		if r.off[f] {
			parts = append(parts, f+"-off")
		}
	}
	for _, f := range r.faults.list() {
		parts = append(parts, string(f))
	}
	return strings.Join(parts, "+")
}

func (r *Replica) buildTarget() (target.Target, error) {
	entries := make(map[string]target.Endpoint)
	for _, name := range []string{
		contract.EntryEdge, contract.EntryIngress, contract.EntryJobrunnerGateway,
		contract.EntryRESTGateway, contract.EntryJobrunner,
	} {
		entries[name] = target.Endpoint{Entry: name, URL: r.upstreams[name]}
	}
	for _, name := range []string{contract.EntryMeshAPIInt, contract.EntryMeshJobrunner} {
		inPod := r.upstreams[name]
		entries[name] = target.Endpoint{
			Entry: name,
			URL:   inPod,
			Forward: &target.Forward{
				Endpoint: r.upstreams[MeshClient].String() + forward.Path,
				InPodURL: inPod.String(),
			},
		}
	}
	return newStaticTarget(r.name(), entries, r.Features()), nil
}

// Close stops every listener, closes every connection and waits for the
// servers to return. Safe to call more than once.
func (r *Replica) Close() error {
	r.closeOnce.Do(func() {
		var errs []error
		for _, srv := range r.servers {
			if err := srv.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close server: %w", err))
			}
		}
		r.serving.Wait()
		r.proxyTransport.CloseIdleConnections()
		r.forwardTransport.CloseIdleConnections()
		if len(errs) > 0 {
			r.closeErr = fmt.Errorf("close replica %q: %w", r.name(), errors.Join(errs...))
		}
	})
	return r.closeErr
}
