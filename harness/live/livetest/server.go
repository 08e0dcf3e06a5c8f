package livetest

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
)

// Pod names as production's web servers put them in Server.
const (
	PodMain      = "mw-pretrain.eqiad.main-7d9f8-x2v4q"
	PodDebug     = "mw-pretrain.eqiad.debug-5c6d7-k2l9m"
	PodJobrunner = "mw-pretrain.eqiad.jobrunner-6f7a8-p3q4r"
	PodMWWeb     = "mw-web.eqiad.main-8a9b0-z7y6x"
	PodAPIExt    = "mw-api-ext.eqiad.main-4e5f6-h8j9k"
	PodMWDebug   = "mw-debug.eqiad.pinkunicorn-2b3c4-m5n6p"
	PodMWDebugNx = "mw-debug.eqiad.next-3c4d5-n6p7q"
	PodMWExp     = "mw-experimental.eqiad.pinkllama-9a8b7-w2x3y"
	PodMWParsoid = "mw-parsoid.eqiad.pinkllama-8b7c6-v3w4x"
	// PodMainOld and PodMWWebOld are pods a cached object was first
	// produced by (edge-diversion on and off).
	PodMainOld  = "mw-pretrain.eqiad.main-1a2b3-c4d5e"
	PodMWWebOld = "mw-web.eqiad.main-0f1e2-d3c4b"
	// ServerEdge and ServerIngress are the Server of answers the proxies
	// give themselves (XWD 400, no route 404): no pod name.
	ServerEdge    = "ATS/9.2.11"
	ServerIngress = "istio-envoy"
)

// Hosts the imitation serves.
const (
	TestWiki = "test.wikipedia.org"
	EnWiki   = "en.wikipedia.org"
)

// JobrunnerNames are the names the jobrunner release's own gateway is
// bound to.
var JobrunnerNames = []string{
	"mw-pretrain-jobrunner.discovery.wmnet",
	"mw-pretrain-jobrunner.svc.eqiad.wmnet",
	"mw-pretrain-jobrunner.svc.codfw.wmnet",
}

// CertNames are the names the imitation's certificate covers.
func CertNames() []string {
	return append([]string{TestWiki, EnWiki, "de.wikipedia.org", "k8s-ingress-wikikube.discovery.wmnet", "127.0.0.1"}, JobrunnerNames...)
}

// Role says what a Server imitates.
type Role int

const (
	// Edge is the CDN edge as production runs it today: XWD scoped by
	// Host (k8s-mw-pretrain to Pretrain), caching (X-Cache-Status), every
	// other request by path (/w/api.php and /w/rest.php to mw-api-ext, the
	// rest to mw-web), testwiki's included. Features switch the planned
	// steps on: edge-diversion (testwiki to Pretrain), rest-diversion
	// (/w/rest.php through the REST gateway, testwiki to Pretrain).
	Edge Role = iota
	// Ingress is production's shared ingress: the main gateway for
	// test.wikipedia.org and the jobrunner gateway for its own names.
	Ingress
)

// Fault breaks the imitation on purpose, to prove the checks fail.
type Fault int

const (
	NoFault Fault = iota
	// TestwikiToMWWeb: generic testwiki traffic is served by mw-web: on the
	// ingress, and at the edge when edge-diversion is on, as if the
	// diversion to Pretrain were lost (XWD and REST unaffected).
	TestwikiToMWWeb
)

// Seen is a request the imitation received.
type Seen struct {
	Method    string
	Host      string
	SNI       string
	Path      string // path and query
	UserAgent string
	XWD       string
	BodyBytes int
}

// Options configure a Server.
type Options struct {
	Role Role
	// CachedPaths are paths (without query) the edge answers from its
	// cache (X-Cache-Status: hit-front, Server of an older pod), whatever
	// the query: cache busting cannot help there.
	CachedPaths []string
	// Features are the rollout steps the edge has on (contract feature
	// names): none, as production today, unless listed.
	Features []string
}

// Server is an imitation listening on 127.0.0.1 over TLS.
type Server struct {
	opts Options
	srv  *httptest.Server

	mu       sync.Mutex
	fault    Fault
	features map[string]bool
	seen     []Seen
}

// Start starts a Server with the CA's certificate.
func Start(ca *CA, opts Options) (*Server, error) {
	s := &Server{opts: opts}
	s.SetFeatures(opts.Features...)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server}, MinVersion: tls.VersionTLS12}
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	s.srv.StartTLS()
	return s, nil
}

// Addr is the "127.0.0.1:port" to --connect-to.
func (s *Server) Addr() string { return s.srv.Listener.Addr().String() }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// SetFault switches a fault on (or NoFault off).
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// SetFeatures sets the rollout steps on (none: production today).
func (s *Server) SetFeatures(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.features = map[string]bool{}
	for _, n := range names {
		s.features[n] = true
	}
}

// Seen returns the requests received so far.
func (s *Server) Seen() []Seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Seen(nil), s.seen...)
}

// Reset forgets the requests seen.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	seen := Seen{
		Method:    r.Method,
		Host:      r.Host,
		Path:      r.URL.RequestURI(),
		UserAgent: r.UserAgent(),
		XWD:       strings.Join(r.Header.Values("X-Wikimedia-Debug"), ";"),
		BodyBytes: len(body),
	}
	if r.TLS != nil {
		seen.SNI = r.TLS.ServerName
	}
	s.mu.Lock()
	s.seen = append(s.seen, seen)
	fault := s.fault
	edgeDiversion, restDiversion := s.features[contract.FeatureEdgeDiversion], s.features[contract.FeatureRESTDiversion]
	s.mu.Unlock()

	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	switch s.opts.Role {
	case Edge:
		s.edge(w, r, host, fault, edgeDiversion, restDiversion)
	default:
		s.ingress(w, r, host, fault, len(body))
	}
}

// edge answers like ATS and what is behind it. X-Wikimedia-Debug: the
// backend is the first backend=<name> anywhere, else the whole value,
// looked up in the Host's scope; an unknown one is a 400 whose body names
// the scope. /w/rest.php is not remapped (the REST gateway picks) unless
// the backend is mw-experimental or mw-parsoid. Varnish passes every
// request with XWD: X-Cache-Status "pass", the edge's 400s included.
func (s *Server) edge(w http.ResponseWriter, r *http.Request, host string, fault Fault, edgeDiversion, restDiversion bool) {
	x := parseXWD(r.Header)
	rest := r.URL.Path == "/w/rest.php" || strings.HasPrefix(r.URL.Path, "/w/rest.php/")
	if x.present && (!rest || restRemapped(x.backend)) {
		scope, backends := "default", defaultScope
		if host == TestWiki {
			scope, backends = "pretrain", pretrainScope
		}
		pod, ok := backends[x.backend]
		if !ok {
			answer(w, ServerEdge, "pass", http.StatusBadRequest,
				"x-wikimedia-debug-routing: no match found for the backend specified in X-Wikimedia-Debug (scope: "+scope+")")
			return
		}
		w.Header().Set("Backend-Timing", "D=31337 t=1700000000000000")
		if pod == PodDebug && !ingressXWD.MatchString(x.raw) {
			pod = PodMain // the Pretrain ingress's route 1 is anchored
		}
		mediawiki(w, r, host, pod, "pass", http.StatusOK)
		return
	}
	cacheStatus := "miss"
	if x.present {
		cacheStatus = "pass"
	}
	// /w/rest.php: production's rest.php map sends it to mw-api-ext; with
	// rest-diversion on, through the REST gateway: Host diversion > XWD
	// backend > default.
	if rest && !restDiversion {
		answer(w, PodAPIExt, cacheStatus, http.StatusOK, "rest: mw-api-ext")
		return
	}
	if rest {
		switch {
		case host == TestWiki && ingressXWD.MatchString(x.raw):
			answer(w, PodDebug, cacheStatus, http.StatusOK, "rest: debug")
		case host == TestWiki:
			answer(w, PodMain, cacheStatus, http.StatusOK, "rest: main")
		case defaultScope[x.backend] != "":
			answer(w, defaultScope[x.backend], cacheStatus, http.StatusOK, "rest: debug backend")
		default:
			answer(w, PodAPIExt, cacheStatus, http.StatusOK, "rest: mw-api-ext")
		}
		return
	}
	diverted := host == TestWiki && edgeDiversion
	if host == TestWiki {
		for _, p := range s.opts.CachedPaths {
			if r.URL.Path != p {
				continue
			}
			old := PodMWWebOld
			if diverted {
				old = PodMainOld
			}
			mediawiki(w, r, host, old, "hit-front", http.StatusOK)
			return
		}
	}
	if !diverted {
		pod := PodMWWeb
		if r.URL.Path == "/w/api.php" {
			pod = PodAPIExt // the edge's api.php map
		}
		mediawiki(w, r, host, pod, "miss", http.StatusOK)
		return
	}
	pod := PodMain
	if fault == TestwikiToMWWeb {
		pod = PodMWWeb
	}
	status := http.StatusOK
	if r.URL.Path == "/rpc/RunSingleJob.php" {
		status = http.StatusNotFound // MediaWiki main has no such entry point
	}
	mediawiki(w, r, host, pod, "miss", status)
}

// mainGatewayHosts are the names the main gateway routes.
var mainGatewayHosts = map[string]bool{
	TestWiki:                      true,
	"mw-pretrain.discovery.wmnet": true,
	"mw-pretrain.svc.eqiad.wmnet": true,
	"mw-pretrain.svc.codfw.wmnet": true,
}

// ingress answers like production's shared ingress: gateways by Host.
func (s *Server) ingress(w http.ResponseWriter, r *http.Request, host string, fault Fault, bodyBytes int) {
	for _, n := range JobrunnerNames {
		if host != n {
			continue
		}
		switch {
		case r.URL.Path == "/w/health-check.php" && r.Method == http.MethodGet:
			answer(w, PodJobrunner, "", http.StatusOK, "ok")
		case r.URL.Path == "/rpc/RunSingleJob.php" && r.Method == http.MethodPost:
			if bodyBytes == 0 {
				answer(w, PodJobrunner, "", http.StatusUnprocessableEntity, "No event received.")
			} else {
				answer(w, PodJobrunner, "", http.StatusInternalServerError, "job failed")
			}
		default:
			answer(w, ServerIngress, "", http.StatusNotFound, "no route")
		}
		return
	}
	if !mainGatewayHosts[host] {
		answer(w, ServerIngress, "", http.StatusNotFound, "no route")
		return
	}
	// Main gateway: route 1 (anchored XWD regex) -> debug, route 2 -> main.
	if vs := r.Header.Values("X-Wikimedia-Debug"); len(vs) > 0 && ingressXWD.MatchString(vs[0]) {
		mediawiki(w, r, host, PodDebug, "", http.StatusOK)
		return
	}
	pod := PodMain
	if fault == TestwikiToMWWeb {
		pod = PodMWWeb
	}
	mediawiki(w, r, host, pod, "", http.StatusOK)
}

func answer(w http.ResponseWriter, server, cacheStatus string, status int, body string) {
	h := w.Header()
	h.Set("Server", server)
	if cacheStatus != "" {
		h.Set("X-Cache-Status", cacheStatus)
		h.Set("X-Cache", fmt.Sprintf("cp1001 %s, cp1002 %s", cacheStatus, cacheStatus))
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(status)
	io.WriteString(w, body+"\n")
}

// mediawiki answers as a MediaWiki pod would for a page or the API.
func mediawiki(w http.ResponseWriter, r *http.Request, host, pod, cacheStatus string, status int) {
	if r.URL.Path == "/w/api.php" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		answer(w, pod, cacheStatus, status, `{"batchcomplete":"","query":{"general":{"servername":"`+host+`"}}}`)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	answer(w, pod, cacheStatus, status, "<!DOCTYPE html><html><title>"+host+"</title></html>")
}

var ingressXWD = regexp.MustCompile(`^(?:(backend=)?k8s-mw-pretrain.*)$`)

// XWD scopes: backend -> the pod that answers.
var (
	pretrainScope = map[string]string{
		"k8s-mw-pretrain": PodDebug, "k8s-mw-pretrain-eqiad": PodDebug, "k8s-mw-pretrain-codfw": PodDebug,
	}
	defaultScope = map[string]string{
		"k8s-mwdebug": PodMWDebug, "k8s-mwdebug-eqiad": PodMWDebug, "k8s-mwdebug-codfw": PodMWDebug,
		"k8s-mwdebug-next": PodMWDebugNx, "k8s-mwdebug-next-eqiad": PodMWDebugNx, "k8s-mwdebug-next-codfw": PodMWDebugNx,
		"k8s-mw-experimental-eqiad": PodMWExp, "k8s-mw-experimental-codfw": PodMWExp,
		"k8s-mw-parsoid-eqiad": PodMWParsoid, "k8s-mw-parsoid-codfw": PodMWParsoid,
	}
)

func restRemapped(backend string) bool {
	return strings.HasPrefix(backend, "k8s-mw-experimental") || strings.HasPrefix(backend, "k8s-mw-parsoid")
}

type xwd struct {
	present bool
	raw     string
	backend string
}

var xwdBackendAttr = regexp.MustCompile(`backend=([A-Za-z0-9.-]+)`)

func parseXWD(h http.Header) xwd {
	vs := h.Values("X-Wikimedia-Debug")
	if len(vs) == 0 {
		return xwd{}
	}
	x := xwd{present: true, raw: strings.Join(vs, ", ")}
	x.backend = x.raw
	if m := xwdBackendAttr.FindStringSubmatch(x.raw); m != nil {
		x.backend = m[1]
	}
	return x
}
