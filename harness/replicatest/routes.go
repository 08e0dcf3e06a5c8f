package replicatest

import (
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
)

// decision is where an entry point sends one request: to an upstream (a
// backend such as "mw-pretrain/main" or another entry point such as
// "ingress"), or an answer of its own (status, no backend identity).
type decision struct {
	to     string // upstream name; "" means answer locally
	status int    // local answer's status
	body   string // local answer's body
	// header is set on the response, proxied or local.
	header http.Header
	// strip names response headers removed from a proxied response.
	strip []string
}

func proxyTo(upstream string) decision { return decision{to: upstream} }

// noRoute is Envoy's 404 when no route matches: no body, no backend.
func noRoute() decision { return decision{status: http.StatusNotFound} }

const testwiki = "test.wikipedia.org"

// hostname is the request's Host without port, lowercased, as gateway
// host bindings compare it.
func hostname(r *http.Request) string {
	h := r.Host
	if name, _, err := net.SplitHostPort(h); err == nil {
		h = name
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// Services: a Service is served by its release's pods and its canary's
// (the canaries have no Service of their own): 2 pods of the release and
// 1 of the canary, balanced round-robin, so every 3rd request goes to the
// canary, deterministically (production: the canary's replica share, 1/3).
// The faults CanaryTakesAll and CanaryGetsNone send it all or none.
const canaryEvery = 3

func (r *Replica) service(count *atomic.Uint64, release, canary string) string {
	switch {
	case r.faults.has(CanaryTakesAll):
		return canary
	case r.faults.has(CanaryGetsNone):
		return release
	case count.Add(1)%canaryEvery == 0:
		return canary
	}
	return release
}

func (r *Replica) mainService() string {
	return r.service(&r.mainCount, "mw-pretrain/main", "mw-pretrain/canary")
}

func (r *Replica) jobrunnerService() string {
	return r.service(&r.jobrunnerCount, "mw-pretrain/jobrunner", "mw-pretrain/jobrunner-canary")
}

// mainGatewayHosts are the names the main release's Gateway (and its
// VirtualService) lists: testwiki and the default service names.
var mainGatewayHosts = map[string]bool{
	testwiki:                      true,
	"mw-pretrain.discovery.wmnet": true,
	"mw-pretrain.svc.eqiad.wmnet": true,
	"mw-pretrain.svc.codfw.wmnet": true,
}

// routeIngress is the main release's Istio Gateway + VirtualService:
// ordered routes, first match wins.
func (r *Replica) routeIngress(req *http.Request) decision {
	if !mainGatewayHosts[hostname(req)] {
		return noRoute()
	}
	if r.faults.has(JobrunnerOpenOnIngress) && req.URL.Path == "/rpc/RunSingleJob.php" {
		return proxyTo(r.jobrunnerService())
	}
	// 1. header x-wikimedia-debug matches (backend=)?k8s-mw-pretrain.* -> debug
	if values := req.Header.Values(xwdHeader); len(values) > 0 {
		value := strings.Join(values, ",") // as Envoy joins repeated headers
		switch {
		case r.faults.has(XWDIgnored):
		case r.faults.has(XWDPatternTooBroad), ingressXWDRegex.MatchString(value):
			return proxyTo("mw-pretrain/debug")
		}
	}
	// 2. prefix / -> main Service
	return proxyTo(r.mainService())
}

// jobrunnerGatewayHosts are the only names the jobrunner's gateway binds.
var jobrunnerGatewayHosts = map[string]bool{
	"mw-pretrain-jobrunner.discovery.wmnet": true,
	"mw-pretrain-jobrunner.svc.eqiad.wmnet": true,
	"mw-pretrain-jobrunner.svc.codfw.wmnet": true,
}

// routeJobrunnerGateway is the jobrunner release's own gateway: two exact
// routes, nothing else.
func (r *Replica) routeJobrunnerGateway(req *http.Request) decision {
	if !jobrunnerGatewayHosts[hostname(req)] {
		return noRoute()
	}
	path, method := req.URL.Path, req.Method
	switch {
	case r.faults.has(JobrunnerGatewayOpen):
		return proxyTo(r.jobrunnerService())
	case path == "/w/health-check.php" && method == http.MethodGet:
		return proxyTo(r.jobrunnerService())
	case path == "/rpc/RunSingleJob.php" && (method == http.MethodPost || r.faults.has(GetRunSingleJobRouted)):
		return proxyTo(r.jobrunnerService())
	}
	return noRoute()
}

// routeJobrunner is the jobrunner Service itself, whatever the Host.
func (r *Replica) routeJobrunner(*http.Request) decision {
	return proxyTo(r.jobrunnerService())
}

// isREST reports whether a path goes to the REST gateway at the edge.
func isREST(path string) bool {
	return path == "/w/rest.php" || strings.HasPrefix(path, "/w/rest.php/")
}

// edgeStripped are the headers the edge removes unless XWD was sent.
var edgeStripped = []string{"Backend-Timing", "X-Request-Id", "X-Powered-By", "X-Envoy-Upstream-Service-Time"}

// routeEdge is the CDN: ATS behind Varnish. There is no cache: every
// proxied answer is a miss, and every request that sent X-Wikimedia-Debug
// a pass (Varnish passes them all, the edge's own 400s included).
func (r *Replica) routeEdge(req *http.Request) decision {
	x := parseXWD(req.Header)
	d := r.edgeUpstream(req, x)
	cacheStatus := "miss"
	if x.present {
		cacheStatus = "pass"
	}
	if d.header == nil {
		d.header = http.Header{}
	}
	d.header.Set("X-Cache-Status", cacheStatus)
	d.header.Set("X-Cache", "replicatest-edge "+cacheStatus)
	if !x.present {
		d.strip = edgeStripped
	}
	return d
}

// edgeUpstream routes like the edge: /w/rest.php to the REST gateway
// untouched (unless the XWD backend is one of the two still remapped
// there; rest-diversion off: straight to mw-api-ext, as production's
// rest.php map does); an XWD backend looked up in the Host's scope
// (unknown: 400 with the scope in the body); otherwise testwiki to the
// Pretrain ingress (edge-diversion on) and every other wiki (testwiki
// too with edge-diversion off) to mw-api-ext for /w/api.php, else mw-web.
func (r *Replica) edgeUpstream(req *http.Request, x xwd) decision {
	isTestwiki := hostname(req) == testwiki
	rest := isREST(req.URL.Path)
	if x.present && (!rest || restRemapped(x.backend)) {
		scope, backends := "default", defaultScope
		if isTestwiki {
			scope, backends = "pretrain", pretrainScope
		}
		to, ok := backends[x.backend]
		if !ok && r.faults.has(XWDScopeIgnored) { // a backend known in any scope
			if to, ok = pretrainScope[x.backend]; !ok {
				to, ok = defaultScope[x.backend]
			}
		}
		if !ok {
			return decision{status: http.StatusBadRequest, body: debugRoutingBody(scope)}
		}
		if to == "ingress" {
			to = contract.EntryIngress
		}
		return proxyTo(to)
	}
	switch {
	case rest && r.on(contract.FeatureRESTDiversion):
		return proxyTo(contract.EntryRESTGateway)
	case rest: // production today: the edge's rest.php map
		return proxyTo("mw-api-ext/main")
	case isTestwiki && r.on(contract.FeatureEdgeDiversion) && !r.faults.has(TestwikiNotDiverted):
		return proxyTo(contract.EntryIngress)
	case !isTestwiki && r.faults.has(OtherWikiDiverted):
		return proxyTo(contract.EntryIngress)
	case req.URL.Path == "/w/api.php": // the edge's api.php map
		return proxyTo("mw-api-ext/main")
	}
	return proxyTo("mw-web/main")
}

// routeRESTGateway picks the upstream with the planned precedence: Host
// diversion > XWD backend (read like the edge; one it does not know falls
// through, no 400) > PHP_ENGINE cookie (not modelled: there is one PHP
// engine here) > default (mw-api-ext, the REST API's public service).
func (r *Replica) routeRESTGateway(req *http.Request) decision {
	diverted := hostname(req) == testwiki && r.on(contract.FeatureRESTDiversion)
	x := parseXWD(req.Header)
	debug, isDebug := "", false
	if x.present {
		debug, isDebug = defaultScope[x.backend]
	}
	switch {
	case r.faults.has(RESTPrefersXWD) && isDebug:
		return proxyTo(debug)
	case diverted:
		return proxyTo(contract.EntryIngress)
	case isDebug:
		return proxyTo(debug)
	}
	return proxyTo("mw-api-ext/main")
}

// meshSplitRegex is the testwiki split of a mesh listener (RE2), fully
// matched against :authority (port included, as Envoy sees it).
const meshSplitRegex = `test[.]wikipedia[.]org`

var (
	meshSplit           = regexp.MustCompile(`^(?:` + meshSplitRegex + `)$`)
	meshSplitUnanchored = regexp.MustCompile(meshSplitRegex)
)

func (r *Replica) meshSplitMatches(authority string) bool {
	switch {
	case !r.on(contract.FeatureMeshSplit): // production today: no split
		return false
	case r.faults.has(MeshSplitMissing):
		return false
	case r.faults.has(MeshSplitAllHosts):
		return true
	case r.faults.has(MeshSplitUnanchored):
		return meshSplitUnanchored.MatchString(authority)
	}
	return meshSplit.MatchString(authority)
}

// routeMeshAPIInt is a pod's mw-api-int listener (localhost:6501): testwiki
// split to Pretrain through its ingress (so XWD still picks debug), default
// route to mw-api-int.
func (r *Replica) routeMeshAPIInt(req *http.Request) decision {
	if r.meshSplitMatches(req.Host) {
		return proxyTo(contract.EntryIngress)
	}
	return proxyTo("mw-api-int/main")
}

// routeMeshJobrunner is a pod's mw-jobrunner listener (localhost:6506):
// testwiki split to the Pretrain jobrunner Service directly (its gateway
// binds only mw-pretrain-jobrunner names, not test.wikipedia.org), default
// route to mw-jobrunner.
func (r *Replica) routeMeshJobrunner(req *http.Request) decision {
	if r.meshSplitMatches(req.Host) {
		return proxyTo(r.jobrunnerService())
	}
	return proxyTo("mw-jobrunner/main")
}
