package replicatest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/forward"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// Backend groups: a Service is served by its release or its canary.
const (
	mainService      = "mw-pretrain/main|mw-pretrain/canary"
	jobrunnerService = "mw-pretrain/jobrunner|mw-pretrain/jobrunner-canary"
	nobody           = "" // a proxy's own answer: no identity
)

const (
	enwiki    = "en.wikipedia.org"
	jrgwHost  = "mw-pretrain-jobrunner.discovery.wmnet"
	xwdPretr  = "backend=k8s-mw-pretrain"
	xwdDebug  = "backend=k8s-mwdebug"
	scopeMsgP = "x-wikimedia-debug-routing: no match found for the backend specified in X-Wikimedia-Debug (scope: pretrain)"
	scopeMsgD = "x-wikimedia-debug-routing: no match found for the backend specified in X-Wikimedia-Debug (scope: default)"
	// routingHeader is a response header production never sends: the
	// scope error is the 400's body.
	routingHeader = "X-Wikimedia-Debug-Routing"
)

// rcase is one request to one entry point and who must answer it.
type rcase struct {
	entry  string
	method string
	host   string
	path   string
	xwd    string // X-Wikimedia-Debug, when set
	body   string
	// servedBy is a backend or "a|b" group; nobody means no identity.
	servedBy string
	status   int               // 0: not checked
	headers  map[string]string // response headers that must equal ("" = absent)
	bodyIs   string            // the exact body, when set
}

func (c rcase) String() string {
	s := fmt.Sprintf("%s %s %s%s", c.entry, c.method, c.host, c.path)
	if c.xwd != "" {
		s += fmt.Sprintf(" [XWD %q]", c.xwd)
	}
	return s
}

func get(entry, host, path string) rcase {
	return rcase{entry: entry, method: http.MethodGet, host: host, path: path}
}

func (c rcase) withXWD(v string) rcase  { c.xwd = v; return c }
func (c rcase) withBody(b string) rcase { c.body = b; return c }
func (c rcase) post() rcase             { c.method = http.MethodPost; return c }
func (c rcase) by(backend string) rcase { c.servedBy = backend; return c }
func (c rcase) code(s int) rcase        { c.status = s; return c }
func (c rcase) bodyEq(b string) rcase   { c.bodyIs = b; return c }
func (c rcase) header(name, v string) rcase {
	h := make(map[string]string, len(c.headers)+1)
	for k, v := range c.headers {
		h[k] = v
	}
	h[name] = v
	c.headers = h
	return c
}

// answer is what came back.
type answer struct {
	status  int
	header  http.Header
	body    string
	backend string // identity header's backend, "" when absent
}

func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{Proxy: nil, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func send(t *testing.T, client *http.Client, r *Replica, c rcase) answer {
	t.Helper()
	addr := r.Addr(c.entry)
	if addr == "" {
		t.Fatalf("%s: replica has no entry %q", c, c.entry)
	}
	req, err := http.NewRequest(c.method, "http://"+addr+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatalf("%s: build request: %v", c, err)
	}
	req.Host = c.host
	if c.xwd != "" {
		req.Header.Set(xwdHeader, c.xwd)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s: send: %v", c, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: read body: %v", c, err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(body)}
	// Who answered, as production says it: the Server header.
	a.backend = probe.Identify(resp.Header).Backend()
	return a
}

// problems lists how an answer differs from what the case expects.
func (c rcase) problems(a answer) []string {
	var out []string
	switch {
	case c.servedBy == nobody && a.backend != "":
		out = append(out, fmt.Sprintf("expected no backend, got %s", a.backend))
	case c.servedBy != nobody && !slices.Contains(strings.Split(c.servedBy, "|"), a.backend):
		out = append(out, fmt.Sprintf("expected %s, got %q", c.servedBy, a.backend))
	}
	if c.servedBy == nobody {
		if _, isPod := identity.FromServer(a.header.Get("Server")); isPod {
			out = append(out, fmt.Sprintf("expected no pod, got Server %q", a.header.Get("Server")))
		}
	}
	if c.status != 0 && a.status != c.status {
		out = append(out, fmt.Sprintf("expected status %d, got %d", c.status, a.status))
	}
	for name, want := range c.headers {
		if got := a.header.Get(name); got != want {
			out = append(out, fmt.Sprintf("expected header %s %q, got %q", name, want, got))
		}
	}
	if c.bodyIs != "" && a.body != c.bodyIs {
		out = append(out, fmt.Sprintf("expected body %q, got %.200q", c.bodyIs, a.body))
	}
	return out
}

func expect(t *testing.T, client *http.Client, r *Replica, c rcase) {
	t.Helper()
	a := send(t, client, r, c)
	if p := c.problems(a); len(p) > 0 {
		t.Errorf("%s on %s: %s (status %d, body %.200q)", c, r.Target().Name(), strings.Join(p, "; "), a.status, a.body)
	}
}

func start(t *testing.T, faults ...Fault) *Replica {
	t.Helper()
	r, err := Start(faults...)
	if err != nil {
		t.Fatalf("start replica: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("close replica: %v", err)
		}
	})
	return r
}

// Representative requests, one or more per rule, on correct routing.
var (
	// edge
	edgeTestwiki         = get(contract.EntryEdge, testwiki, "/wiki/Main_Page").by(mainService).code(200).header("X-Cache-Status", "miss")
	edgeEnwiki           = get(contract.EntryEdge, enwiki, "/wiki/Main_Page").by("mw-web/main").code(200)
	edgeTestwikiXWD      = get(contract.EntryEdge, testwiki, "/wiki/Main_Page").withXWD(xwdPretr+"; profile; log").by("mw-pretrain/debug").code(200).header("X-Cache-Status", "pass")
	edgeTestwikiXWDBare  = get(contract.EntryEdge, testwiki, "/w/api.php").withXWD("k8s-mw-pretrain-codfw").by("mw-pretrain/debug").code(200)
	edgeTestwikiNotFirst = get(contract.EntryEdge, testwiki, "/wiki/Main_Page").withXWD("profile; "+xwdPretr).by(mainService).code(200).header("X-Cache-Status", "pass")
	edgeTestwikiMwdebug  = get(contract.EntryEdge, testwiki, "/wiki/Main_Page").withXWD(xwdDebug).by(nobody).code(400).bodyEq(scopeMsgP).header(routingHeader, "").header("X-Cache-Status", "pass")
	edgeTestwikiBogus    = get(contract.EntryEdge, testwiki, "/wiki/Main_Page").withXWD("backend=k8s-bogus").by(nobody).code(400).bodyEq(scopeMsgP)
	edgeTestwikiNoBknd   = get(contract.EntryEdge, testwiki, "/wiki/Main_Page").withXWD("profile; log").by(nobody).code(400).bodyEq(scopeMsgP)
	edgeTestwikiBareFlag = get(contract.EntryEdge, testwiki, "/wiki/Main_Page").withXWD("k8s-mw-pretrain; log").by(nobody).code(400).bodyEq(scopeMsgP)
	edgeEnwikiMwdebug    = get(contract.EntryEdge, enwiki, "/wiki/Main_Page").withXWD(xwdDebug).by("mw-debug/pinkunicorn").code(200)
	edgeEnwikiMwdebugDC  = get(contract.EntryEdge, enwiki, "/wiki/Main_Page").withXWD("k8s-mwdebug-codfw").by("mw-debug/pinkunicorn").code(200)
	edgeEnwikiNext       = get(contract.EntryEdge, enwiki, "/wiki/Main_Page").withXWD("backend=k8s-mwdebug-next-eqiad").by("mw-debug/next").code(200)
	edgeEnwikiPretrain   = get(contract.EntryEdge, enwiki, "/wiki/Main_Page").withXWD(xwdPretr).by(nobody).code(400).bodyEq(scopeMsgD)
	edgeEnwikiNoBknd     = get(contract.EntryEdge, enwiki, "/wiki/Main_Page").withXWD("profile; log").by(nobody).code(400).bodyEq(scopeMsgD).header("X-Cache-Status", "pass")
	edgeEnwikiExperiment = get(contract.EntryEdge, enwiki, "/wiki/Main_Page").withXWD("backend=k8s-mw-experimental-eqiad").by("mw-experimental/pinkllama").code(200)
	edgeEnwikiParsoid    = get(contract.EntryEdge, enwiki, "/wiki/Main_Page").withXWD("k8s-mw-parsoid-codfw").by("mw-parsoid/pinkllama").code(200)
	edgeTestwikiREST     = get(contract.EntryEdge, testwiki, "/w/rest.php/v1/page/Main_Page").by(mainService).code(200)
	edgeTestwikiRESTDbg  = get(contract.EntryEdge, testwiki, "/w/rest.php/v1/page/Main_Page").withXWD(xwdDebug).by(mainService).code(200).header("X-Cache-Status", "pass")
	edgeTestwikiRESTExp  = get(contract.EntryEdge, testwiki, "/w/rest.php/v1/page/Main_Page").withXWD("backend=k8s-mw-experimental-eqiad").by(nobody).code(400).bodyEq(scopeMsgP)
	edgeEnwikiREST       = get(contract.EntryEdge, enwiki, "/w/rest.php/v1/page/Main_Page").by("mw-api-ext/main").code(200)
	edgeEnwikiRESTDbg    = get(contract.EntryEdge, enwiki, "/w/rest.php/v1/page/Main_Page").withXWD(xwdDebug).by("mw-debug/pinkunicorn").code(200)
	edgeEnwikiRESTBogus  = get(contract.EntryEdge, enwiki, "/w/rest.php").withXWD("backend=k8s-bogus").by("mw-api-ext/main").code(404)
	edgeEnwikiRESTExp    = get(contract.EntryEdge, enwiki, "/w/rest.php").withXWD("k8s-mw-experimental-codfw").by("mw-experimental/pinkllama").code(404)

	// ingress
	ingressTestwiki     = get(contract.EntryIngress, testwiki, "/wiki/Main_Page").by(mainService).code(200)
	ingressTestwikiPort = get(contract.EntryIngress, testwiki+":443", "/wiki/Main_Page").by(mainService).code(200)
	ingressXWD          = get(contract.EntryIngress, testwiki, "/wiki/Main_Page").withXWD(xwdPretr).by("mw-pretrain/debug").code(200)
	ingressXWDBareEqiad = get(contract.EntryIngress, testwiki, "/wiki/Main_Page").withXWD("k8s-mw-pretrain-eqiad").by("mw-pretrain/debug").code(200)
	ingressXWDMwdebug   = get(contract.EntryIngress, testwiki, "/wiki/Main_Page").withXWD(xwdDebug).by(mainService).code(200)
	ingressXWDNotFirst  = get(contract.EntryIngress, testwiki, "/wiki/Main_Page").withXWD("profile; " + xwdPretr).by(mainService).code(200)
	ingressEnwiki       = get(contract.EntryIngress, enwiki, "/wiki/Main_Page").by(nobody).code(404)
	ingressDiscovery    = get(contract.EntryIngress, "mw-pretrain.discovery.wmnet", "/wiki/Main_Page").by(mainService).code(200)
	ingressSvcCodfwXWD  = get(contract.EntryIngress, "mw-pretrain.svc.codfw.wmnet", "/wiki/Main_Page").withXWD("backend=k8s-mw-pretrain-codfw").by("mw-pretrain/debug").code(200)
	ingressJobrunnerNm  = get(contract.EntryIngress, jrgwHost, "/w/health-check.php").by(nobody).code(404)
	ingressRunSingleJob = get(contract.EntryIngress, testwiki, "/rpc/RunSingleJob.php").post().by(mainService).code(404)

	// jobrunner gateway and jobrunner
	jrgwHealth          = get(contract.EntryJobrunnerGateway, jrgwHost, "/w/health-check.php").by(jobrunnerService).code(200)
	jrgwHealthCodfwPort = get(contract.EntryJobrunnerGateway, "mw-pretrain-jobrunner.svc.codfw.wmnet:4447", "/w/health-check.php").by(jobrunnerService).code(200)
	jrgwPostEmpty       = get(contract.EntryJobrunnerGateway, jrgwHost, "/rpc/RunSingleJob.php").post().by(jobrunnerService).code(422)
	jrgwGetJob          = get(contract.EntryJobrunnerGateway, jrgwHost, "/rpc/RunSingleJob.php").by(nobody).code(404)
	jrgwPostHealth      = get(contract.EntryJobrunnerGateway, jrgwHost, "/w/health-check.php").post().by(nobody).code(404)
	jrgwAPI             = get(contract.EntryJobrunnerGateway, jrgwHost, "/w/api.php").by(nobody).code(404)
	jrgwTestwiki        = get(contract.EntryJobrunnerGateway, testwiki, "/w/health-check.php").by(nobody).code(404)
	jobrunnerGet        = get(contract.EntryJobrunner, testwiki, "/rpc/RunSingleJob.php").by(jobrunnerService).code(405).header("Allow", "POST")
	jobrunnerJob        = get(contract.EntryJobrunner, testwiki, "/rpc/RunSingleJob.php").post().withBody(`{"type":"null","database":"testwiki"}`).by(jobrunnerService).code(200)

	// REST gateway
	restTestwiki        = get(contract.EntryRESTGateway, testwiki, "/w/rest.php/v1/page/Main_Page").by(mainService).code(200)
	restTestwikiMwdebug = get(contract.EntryRESTGateway, testwiki, "/w/rest.php/v1/page/Main_Page").withXWD(xwdDebug).by(mainService).code(200)
	restTestwikiPretr   = get(contract.EntryRESTGateway, testwiki, "/w/rest.php/v1/page/Main_Page").withXWD(xwdPretr).by("mw-pretrain/debug").code(200)
	restEnwiki          = get(contract.EntryRESTGateway, enwiki, "/w/rest.php/v1/page/Main_Page").by("mw-api-ext/main").code(200)
	restEnwikiMwdebug   = get(contract.EntryRESTGateway, enwiki, "/w/rest.php/v1/page/Main_Page").withXWD(xwdDebug).by("mw-debug/pinkunicorn").code(200)

	// mesh listeners
	meshAPITestwiki = get(contract.EntryMeshAPIInt, testwiki, "/w/api.php?action=query").by(mainService).code(200)
	meshAPIXWD      = get(contract.EntryMeshAPIInt, testwiki, "/w/api.php?action=query").withXWD(xwdPretr).by("mw-pretrain/debug").code(200)
	meshAPIEnwiki   = get(contract.EntryMeshAPIInt, enwiki, "/w/api.php?action=query").by("mw-api-int/main").code(200)
	meshAPIWithPort = get(contract.EntryMeshAPIInt, testwiki+":6501", "/w/api.php").by("mw-api-int/main").code(200)
	meshAPIEvil     = get(contract.EntryMeshAPIInt, testwiki+".evil", "/w/api.php").by("mw-api-int/main").code(200)
	meshAPIXtest    = get(contract.EntryMeshAPIInt, "xtest.wikipedia.org", "/w/api.php").by("mw-api-int/main").code(200)
	meshAPIDotIsDot = get(contract.EntryMeshAPIInt, "testXwikipedia.org", "/w/api.php").by("mw-api-int/main").code(200)
	meshJobTestwiki = get(contract.EntryMeshJobrunner, testwiki, "/rpc/RunSingleJob.php").post().withBody(`{"type":"null","database":"testwiki"}`).by(jobrunnerService).code(200)
	meshJobEnwiki   = get(contract.EntryMeshJobrunner, enwiki, "/rpc/RunSingleJob.php").post().withBody(`{"type":"null","database":"enwiki"}`).by("mw-jobrunner/main").code(200)
	meshJobXtest    = get(contract.EntryMeshJobrunner, "xtest.wikipedia.org", "/rpc/RunSingleJob.php").post().by("mw-jobrunner/main").code(422)
)

func TestCorrectRouting(t *testing.T) {
	r := start(t)
	client := newClient(t)
	for _, c := range []rcase{
		edgeTestwiki, edgeEnwiki, edgeTestwikiXWD, edgeTestwikiXWDBare, edgeTestwikiNotFirst, edgeTestwikiMwdebug,
		edgeTestwikiBogus, edgeTestwikiNoBknd, edgeTestwikiBareFlag, edgeEnwikiMwdebug, edgeEnwikiMwdebugDC,
		edgeEnwikiNext, edgeEnwikiPretrain, edgeEnwikiNoBknd, edgeEnwikiExperiment, edgeEnwikiParsoid,
		edgeTestwikiREST, edgeTestwikiRESTDbg, edgeTestwikiRESTExp, edgeEnwikiREST, edgeEnwikiRESTDbg,
		edgeEnwikiRESTBogus, edgeEnwikiRESTExp,
		ingressTestwiki, ingressTestwikiPort, ingressXWD, ingressXWDBareEqiad, ingressXWDMwdebug,
		ingressXWDNotFirst, ingressEnwiki, ingressDiscovery, ingressSvcCodfwXWD, ingressJobrunnerNm, ingressRunSingleJob,
		jrgwHealth, jrgwHealthCodfwPort, jrgwPostEmpty, jrgwGetJob, jrgwPostHealth, jrgwAPI, jrgwTestwiki,
		jobrunnerGet, jobrunnerJob,
		restTestwiki, restTestwikiMwdebug, restTestwikiPretr, restEnwiki, restEnwikiMwdebug,
		meshAPITestwiki, meshAPIXWD, meshAPIEnwiki, meshAPIWithPort, meshAPIEvil, meshAPIXtest, meshAPIDotIsDot,
		meshJobTestwiki, meshJobEnwiki, meshJobXtest,
	} {
		expect(t, client, r, c)
	}
}

// TestEdgeCacheHeaders: no cache, so a miss, or a pass for every request
// with XWD, the edge's own 400 included.
func TestEdgeCacheHeaders(t *testing.T) {
	r := start(t)
	client := newClient(t)
	a := send(t, client, r, edgeEnwiki)
	if got := a.header.Get("X-Cache"); got != "replicatest-edge miss" {
		t.Errorf("X-Cache: expected %q, got %q", "replicatest-edge miss", got)
	}
	a = send(t, client, r, edgeTestwikiMwdebug)
	if got := a.header.Values("X-Cache-Status"); len(got) != 1 || got[0] != "pass" {
		t.Errorf("X-Cache-Status of the edge's own 400: expected pass, got %q", got)
	}
}

// canaryFaults change no single answer, only the canary's share: they are
// proved here and by the share checks (harness/share, suites' proofs).
var canaryFaults = map[Fault]func(n int) (main, canary int){
	NoFault:        func(n int) (int, int) { return n - n/canaryEvery, n / canaryEvery },
	CanaryTakesAll: func(n int) (int, int) { return 0, n },
	CanaryGetsNone: func(n int) (int, int) { return n, 0 },
}

func TestServicesSendEveryThirdRequestToTheCanary(t *testing.T) {
	for fault, counts := range canaryFaults {
		t.Run(string(fault)+"-", func(t *testing.T) {
			r := start(t, fault)
			client := newClient(t)
			for _, c := range []struct {
				req          rcase
				main, canary string
			}{
				{ingressTestwiki, "mw-pretrain/main", "mw-pretrain/canary"},
				{jrgwHealth, "mw-pretrain/jobrunner", "mw-pretrain/jobrunner-canary"},
			} {
				seen := make(map[string]int)
				n := 2 * canaryEvery
				for range n {
					seen[send(t, client, r, c.req).backend]++
				}
				m, k := counts(n)
				want := map[string]int{}
				if m > 0 {
					want[c.main] = m
				}
				if k > 0 {
					want[c.canary] = k
				}
				if fmt.Sprint(seen) != fmt.Sprint(want) {
					t.Errorf("%s x%d: expected %v, got %v", c.req, n, want, seen)
				}
			}
		})
	}
}

// faultCases: for each fault, a request whose routing the fault changes
// (with its outcome under the fault; the correct outcome is in
// TestCorrectRouting) and requests it must not change.
var faultCases = []struct {
	fault     Fault
	changed   []rcase
	unchanged []rcase
}{
	{XWDIgnored,
		[]rcase{ingressXWD.by(mainService), edgeTestwikiXWD.by(mainService)},
		[]rcase{ingressTestwiki, edgeEnwikiMwdebug}},
	{XWDPatternTooBroad,
		[]rcase{ingressXWDMwdebug.by("mw-pretrain/debug"), restTestwikiMwdebug.by("mw-pretrain/debug"), edgeTestwikiNotFirst.by("mw-pretrain/debug")},
		[]rcase{ingressTestwiki, ingressXWD}},
	{TestwikiNotDiverted,
		[]rcase{edgeTestwiki.by("mw-web/main")},
		[]rcase{edgeEnwiki, edgeTestwikiXWD, edgeTestwikiREST}},
	{OtherWikiDiverted,
		// the Pretrain ingress binds only test.wikipedia.org: no route
		[]rcase{edgeEnwiki.by(nobody).code(404)},
		[]rcase{edgeTestwiki, edgeEnwikiMwdebug, edgeEnwikiREST}},
	{JobrunnerOpenOnIngress,
		[]rcase{ingressRunSingleJob.by(jobrunnerService).code(422)},
		[]rcase{ingressTestwiki, jrgwGetJob}},
	{GetRunSingleJobRouted,
		[]rcase{jrgwGetJob.by(jobrunnerService).code(405)},
		[]rcase{jrgwAPI, jrgwPostHealth, jrgwPostEmpty}},
	{MeshSplitMissing,
		[]rcase{meshAPITestwiki.by("mw-api-int/main"), meshJobTestwiki.by("mw-jobrunner/main")},
		[]rcase{meshAPIEnwiki, meshJobEnwiki}},
	{MeshSplitAllHosts,
		[]rcase{meshJobEnwiki.by(jobrunnerService), meshAPIEnwiki.by(nobody).code(404)},
		[]rcase{meshAPITestwiki, meshJobTestwiki}},
	{MeshSplitUnanchored,
		[]rcase{
			meshJobXtest.by(jobrunnerService),
			meshAPIWithPort.by(mainService),
			meshAPIEvil.by(nobody).code(404), // diverted, then no route on the ingress
		},
		[]rcase{meshAPIEnwiki, meshAPIDotIsDot, meshAPITestwiki}},
	{RESTPrefersXWD,
		[]rcase{restTestwikiMwdebug.by("mw-debug/pinkunicorn"), edgeTestwikiRESTDbg.by("mw-debug/pinkunicorn")},
		[]rcase{restTestwiki, restEnwiki, restTestwikiPretr}},
	{JobrunnerGatewayOpen,
		[]rcase{jrgwAPI.by(jobrunnerService).code(404), jrgwGetJob.by(jobrunnerService).code(405)},
		[]rcase{jrgwTestwiki, jrgwHealth}},
	{XWDScopeIgnored,
		[]rcase{
			edgeTestwikiMwdebug.by("mw-debug/pinkunicorn").code(200).bodyEq(""),
			edgeTestwikiRESTExp.by("mw-experimental/pinkllama").code(200).bodyEq(""),
			// to the Pretrain ingress, which binds only testwiki
			edgeEnwikiPretrain.by(nobody).code(404).bodyEq(""),
		},
		[]rcase{edgeTestwikiBogus, edgeTestwikiNoBknd, edgeTestwikiXWD, edgeEnwikiMwdebug}},
}

func TestEachFaultChangesItsRuleOnly(t *testing.T) {
	covered := make(map[Fault]bool)
	for _, fc := range faultCases {
		covered[fc.fault] = true
		t.Run(string(fc.fault), func(t *testing.T) {
			r := start(t, fc.fault)
			if want := Name + "+" + string(fc.fault); r.Target().Name() != want {
				t.Errorf("target name: expected %q, got %q", want, r.Target().Name())
			}
			client := newClient(t)
			for _, c := range fc.changed {
				expect(t, client, r, c)
			}
			for _, c := range fc.unchanged {
				expect(t, client, r, c)
			}
		})
	}
	for _, f := range AllFaults() {
		if _, ok := canaryFaults[f]; !ok && !covered[f] {
			t.Errorf("fault %q has no test", f)
		}
	}
}

// TestFaultCasesDifferFromCorrectRouting proves each "changed" case is
// really a change: on correct routing it fails its faulty expectation.
func TestFaultCasesDifferFromCorrectRouting(t *testing.T) {
	r := start(t)
	client := newClient(t)
	for _, fc := range faultCases {
		for _, c := range fc.changed {
			if p := c.problems(send(t, client, r, c)); len(p) == 0 {
				t.Errorf("fault %q: %s answers the same without the fault", fc.fault, c)
			}
		}
	}
}

func TestStartRejectsUnknownFault(t *testing.T) {
	r, err := Start(XWDIgnored, Fault("no-such-fault"))
	if err == nil {
		_ = r.Close()
		t.Fatal("expected an error for an unknown fault, got none")
	}
	if !strings.Contains(err.Error(), `"no-such-fault"`) {
		t.Errorf("error should name the fault: %v", err)
	}
}

func TestTarget(t *testing.T) {
	r := start(t)
	tg := r.Target()
	if tg.Name() != Name || tg.Live() {
		t.Errorf("expected target %q not live, got %q live=%v", Name, tg.Name(), tg.Live())
	}
	for _, entry := range []string{
		contract.EntryEdge, contract.EntryIngress, contract.EntryJobrunnerGateway,
		contract.EntryRESTGateway, contract.EntryJobrunner,
	} {
		ep, err := tg.Endpoint(entry)
		if err != nil {
			t.Errorf("endpoint %q: %v", entry, err)
			continue
		}
		if ep.Forward != nil || ep.URL == nil || ep.URL.String() != "http://"+r.Addr(entry) {
			t.Errorf("endpoint %q: expected URL http://%s, got %s", entry, r.Addr(entry), ep)
		}
	}
	if _, err := tg.Endpoint("no-such-entry"); !errors.Is(err, target.ErrNotApplicable) {
		t.Errorf("unknown entry: expected ErrNotApplicable, got %v", err)
	}
}

// TestMeshThroughForward sends mesh requests the way a probe does: through
// the mesh client's forward endpoint, to the in-pod listener.
func TestMeshThroughForward(t *testing.T) {
	r := start(t)
	client := newClient(t)
	for _, c := range []struct {
		entry, host, method, path, body, want string
	}{
		{contract.EntryMeshAPIInt, testwiki, http.MethodGet, "/w/api.php?action=query", "", mainService},
		{contract.EntryMeshAPIInt, enwiki, http.MethodGet, "/w/api.php?action=query", "", "mw-api-int/main"},
		{contract.EntryMeshJobrunner, testwiki, http.MethodPost, "/rpc/RunSingleJob.php", `{"database":"testwiki"}`, jobrunnerService},
		{contract.EntryMeshJobrunner, enwiki, http.MethodPost, "/rpc/RunSingleJob.php", `{"database":"enwiki"}`, "mw-jobrunner/main"},
	} {
		ep, err := r.Target().Endpoint(c.entry)
		if err != nil || ep.Forward == nil {
			t.Fatalf("endpoint %q: expected a forward, got %v (error %v)", c.entry, ep, err)
		}
		fr, err := forward.NewRequest(c.method, ep.Forward.InPodURL+c.path, c.host, nil, c.body, 5*time.Second).Encode()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Post(ep.Forward.Endpoint, forward.ContentType, bytes.NewReader(fr))
		if err != nil {
			t.Fatalf("forward %s %s: %v", c.entry, c.host, err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("forward %s %s: read answer: %v", c.entry, c.host, err)
		}
		out, err := forward.DecodeAnswer(resp.StatusCode, raw)
		if err != nil {
			t.Fatalf("forward %s %s: %v", c.entry, c.host, err)
		}
		if out.Error != "" || out.Status != http.StatusOK {
			t.Errorf("forward %s %s: expected 200, got %d (error %q)", c.entry, c.host, out.Status, out.Error)
		}
		if out.From.Backend() != "mw-pretrain/mesh-client" {
			t.Errorf("forward %s %s: expected from mw-pretrain/mesh-client, got %s", c.entry, c.host, out.From)
		}
		got := probe.Identify(out.Header()).Backend()
		if !slices.Contains(strings.Split(c.want, "|"), got) {
			t.Errorf("forward %s %s: expected %s, got %q", c.entry, c.host, c.want, got)
		}
	}
}

// TestCloseLeavesNoGoroutines: after Close (and the test client's idle
// connections), the goroutine count settles back within a bounded wait.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := settledGoroutines()
	r, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{Proxy: nil}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, c := range []rcase{edgeTestwiki, edgeEnwikiREST, jrgwHealth, meshJobTestwiki, restTestwiki} {
		send(t, client, r, c)
	}
	if err := r.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	tr.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("goroutines: %d before Start, %d 5s after Close:\n%s", before, n, buf)
		}
		time.Sleep(10 * time.Millisecond) // polling a count, not synchronising
	}
}

// settledGoroutines waits briefly for goroutines of earlier tests to end.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for i := 0; i < 50; i++ {
		time.Sleep(10 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// TestEdgeStripsInternalHeadersWithoutXWD uses an upstream that sets the
// internal headers (the stubs do not), called in-process.
func TestEdgeStripsInternalHeadersWithoutXWD(t *testing.T) {
	internal := func(w http.ResponseWriter, _ *http.Request) {
		for _, name := range edgeStripped {
			w.Header().Set(name, "x")
		}
	}
	upstream := httptest.NewServer(http.HandlerFunc(internal))
	defer upstream.Close()
	u, err := url.Parse(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	r := &Replica{proxyTransport: newTransport(), upstreams: map[string]*url.URL{"fake": u}}
	defer r.proxyTransport.CloseIdleConnections()
	for _, c := range []struct {
		xwd  string
		kept bool
	}{{"", false}, {"profile", true}, {xwdPretr, true}} {
		req := httptest.NewRequest(http.MethodGet, "http://"+testwiki+"/wiki/Main_Page", nil)
		if c.xwd != "" {
			req.Header.Set(xwdHeader, c.xwd)
		}
		d := r.routeEdge(req)
		d.to = "fake"
		rec := httptest.NewRecorder()
		r.serve(contract.EntryEdge, rec, req, d)
		for _, name := range edgeStripped {
			if got := rec.Header().Get(name) != ""; got != c.kept {
				t.Errorf("XWD %q: header %s kept=%v, expected kept=%v", c.xwd, name, got, c.kept)
			}
		}
	}
}
