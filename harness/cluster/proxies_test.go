//go:build proxies

// Host tests of the replica's proxy configurations, before any cluster:
// the edge (ATS 9.2 + edge.lua), the REST gateway and the mesh sidecar
// (HAProxy 2.6) run from the host's Debian packages
// (apt-get install trafficserver haproxy) against named upstreams on
// 127.0.0.1, with the very files the cluster mounts.
//
//	go test -tags proxies ./harness/cluster -run Proxies
package cluster

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/proctest"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/tlsca"
)

// upstream is a named stand-in for whatever a proxy forwards to.
type upstream struct {
	name string
	addr string
}

func startUpstream(t *testing.T, name string) upstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startUpstreamOn(t, name, ln)
}

func startUpstreamOn(t *testing.T, name string, ln net.Listener) upstream {
	t.Helper()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		h := w.Header()
		h.Set("Server", name)
		h.Set("X-Upstream", name)
		h.Set("X-Seen-Host", r.Host)
		h.Set("X-Seen-XWD", r.Header.Get("X-Wikimedia-Debug"))
		h.Set("Backend-Timing", "D=1 t=1")
		h.Set("X-Powered-By", "stub")
		h.Set("X-Request-Id", "r1")
		fmt.Fprintf(w, "%s %s %s\n", name, r.Method, r.URL.RequestURI())
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return upstream{name: name, addr: ln.Addr().String()}
}

// startTLSUpstream is startUpstream over TLS on a fixed address, with a
// certificate from ca for the wiki hosts (the edge sends the Host as SNI).
func startTLSUpstream(t *testing.T, name, addr string, ca *tlsca.CA) upstream {
	t.Helper()
	cert, err := ca.Issue(xwdBackendHosts...)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("listen on %s for %s (the edge's script names this port): %v", addr, name, err)
	}
	plain := startUpstreamOn(t, name, ln)
	return plain
}

type answer struct {
	status int
	header http.Header
	body   string
}

func send(t *testing.T, addr, method, host, path string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s via %s: %v", method, host, path, addr, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return answer{resp.StatusCode, resp.Header, string(body)}
}

func edgeFixture(t *testing.T, rel string) string {
	return filepath.Join(fixtures(t), "configmaps", rel)
}

// edgeScripts are the edge's remap chain (remap.config), by ConfigMap key.
var edgeScripts = []string{"cdn.lua", "xwd.lua", "edge.lua"}

// edgeUpstream is where the edge reaches an upstream: plain HTTP on a free
// port, or, as in the cluster, by production's name on its fixed port over
// TLS (the ports xwd.lua names; 127.0.0.1 through a hosts file).
type edgeUpstream struct {
	name string
	tls  string // host:port dialled over TLS; "" for plain HTTP
}

var edgeUpstreamList = []edgeUpstream{
	{"ingress", "mw-pretrain.discovery.wmnet:30443"},
	{"rest-gateway", ""},
	{"mw-web", ""},
	{"mw-debug", "mwdebug.discovery.wmnet:4444"},
	{"mw-debug-next", "mwdebug-next.discovery.wmnet:4453"},
	{"mw-experimental", "mw-experimental.eqiad.wmnet:4456"},
	{"mw-parsoid", "mw-parsoid.eqiad.wmnet:4452"},
}

// xwdNames are every name xwd.lua (and production's script) routes to.
var xwdNames = []string{
	"mw-pretrain.discovery.wmnet", "mw-pretrain.svc.eqiad.wmnet", "mw-pretrain.svc.codfw.wmnet",
	"mwdebug.discovery.wmnet", "mwdebug.svc.eqiad.wmnet", "mwdebug.svc.codfw.wmnet",
	"mwdebug-next.discovery.wmnet", "mwdebug-next.svc.eqiad.wmnet", "mwdebug-next.svc.codfw.wmnet",
	"mw-experimental.eqiad.wmnet", "mw-experimental.codfw.wmnet", "mw-parsoid.eqiad.wmnet", "mw-parsoid.codfw.wmnet",
}

// edgeEnv is a running edge's world: its upstreams and the CA they serve
// with.
type edgeEnv struct {
	ups map[string]upstream
	ca  *tlsca.CA
}

// startEdgeUpstreams starts the edge's upstreams; the TLS ones on their
// fixed ports (free on the host: the replica's are inside its node).
func startEdgeUpstreams(t *testing.T) edgeEnv {
	t.Helper()
	ca, err := tlsca.New(xwdBackendHosts...)
	if err != nil {
		t.Fatal(err)
	}
	env := edgeEnv{ups: map[string]upstream{}, ca: ca}
	for _, u := range edgeUpstreamList {
		if u.tls == "" {
			env.ups[u.name] = startUpstream(t, u.name)
			continue
		}
		_, port, _ := net.SplitHostPort(u.tls)
		env.ups[u.name] = startTLSUpstream(t, u.name, "127.0.0.1:"+port, ca)
	}
	return env
}

// startEdge runs traffic_server from a private runroot whose config
// directory holds the packaged defaults plus the replica's remap.config
// and scripts; replace maps a script's key to another file (a fault's
// edit, a user's XWD script). PRETRAIN_EDGE_LUA names a copy of
// production's x-wikimedia-debug-routing.lua to run as xwd.lua, as `up
// --edge-lua` does.
func startEdge(t *testing.T, env edgeEnv, replace map[string]string) (string, *proctest.Output) {
	t.Helper()
	if _, err := os.Stat("/etc/trafficserver/records.config"); err != nil {
		t.Skipf("trafficserver not installed: %v", err)
	}
	root := t.TempDir()
	etc := filepath.Join(root, "etc")
	for _, d := range []string{etc, filepath.Join(root, "run"), filepath.Join(root, "log"), filepath.Join(root, "cache"), filepath.Join(root, "var")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-r", "/etc/trafficserver/.", etc).CombinedOutput(); err != nil {
		t.Fatalf("copy /etc/trafficserver: %v: %s", err, out)
	}
	remap, err := os.ReadFile(edgeFixture(t, "pretrain-infra/edge-config/remap.config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range edgeScripts {
		path := edgeFixture(t, "pretrain-infra/edge-config/"+key)
		if key == "xwd.lua" && os.Getenv("PRETRAIN_EDGE_LUA") != "" {
			path = os.Getenv("PRETRAIN_EDGE_LUA")
		}
		if p, ok := replace[key]; ok {
			path = p
		}
		remap = bytes.ReplaceAll(remap, []byte("/etc/trafficserver/"+key), []byte(path))
	}
	if err := os.WriteFile(filepath.Join(etc, "remap.config"), remap, 0o644); err != nil {
		t.Fatal(err)
	}
	var hosts strings.Builder
	for _, n := range xwdNames {
		fmt.Fprintf(&hosts, "127.0.0.1 %s\n", n)
	}
	if err := os.WriteFile(filepath.Join(root, "hosts"), []byte(hosts.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	caFile, err := env.ca.WriteCAFile(root)
	if err != nil {
		t.Fatal(err)
	}
	runroot := fmt.Sprintf(`prefix: /usr
exec_prefix: /usr
bindir: /usr/bin
sbindir: /usr/sbin
sysconfdir: %[1]s/etc
datadir: %[1]s/cache
includedir: /usr/include
libdir: /usr/lib/trafficserver
libexecdir: /usr/lib/trafficserver/modules
localstatedir: %[1]s/var
runtimedir: %[1]s/run
logdir: %[1]s/log
cachedir: %[1]s/cache
`, root)
	if err := os.WriteFile(filepath.Join(root, "runroot.yaml"), []byte(runroot), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := proctest.FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	vars := []string{
		// The Deployment's records (fixtures/kind/manifests/40-edge.yaml).
		"PROXY_CONFIG_HTTP_SERVER_PORTS=" + port,
		"PROXY_CONFIG_URL_REMAP_PRISTINE_HOST_HDR=1",
		"PROXY_CONFIG_HTTP_CACHE_HTTP=0",
		"PROXY_CONFIG_HTTP_RESPONSE_SERVER_ENABLED=0",
		"PROXY_CONFIG_HTTP_INSERT_AGE_IN_RESPONSE=0",
		"PROXY_CONFIG_DIAGS_OUTPUT_NOTE=E",
		"PROXY_CONFIG_DIAGS_OUTPUT_WARNING=E",
		"PROXY_CONFIG_DIAGS_OUTPUT_ERROR=E",
		"PROXY_CONFIG_SSL_CLIENT_CA_CERT_PATH=" + filepath.Dir(caFile),
		"PROXY_CONFIG_SSL_CLIENT_CA_CERT_FILENAME=" + filepath.Base(caFile),
		"PROXY_CONFIG_SSL_CLIENT_VERIFY_SERVER_POLICY=ENFORCED",
		// The cluster's DNS answers production's names; here a hosts file,
		// and no nameserver (a closed port on 127.0.0.1): no query leaves.
		"PROXY_CONFIG_HOSTDB_HOST_FILE_PATH=" + filepath.Join(root, "hosts"),
		"PROXY_CONFIG_DNS_NAMESERVERS=127.0.0.1:9",
		"PROXY_CONFIG_ADMIN_USER_ID=#-1", // stay the test's user
		"EDGE_NAME=edge-test",
		"EDGE_UPSTREAM_INGRESS=https://" + edgeUpstreamList[0].tls,
		"EDGE_UPSTREAM_REST_GATEWAY=" + env.ups["rest-gateway"].addr,
		"EDGE_UPSTREAM_MW_WEB=" + env.ups["mw-web"].addr,
	}
	out := proctest.Start(t, vars, addr, "traffic_server", "--run-root="+filepath.Join(root, "runroot.yaml"))
	// ATS loads the hosts file after it starts listening: wait until a
	// name resolves (an XWD request to mw-debug), or give up and let the
	// cases say what they get.
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if a := send(t, addr, "GET", "en.wikipedia.org", "/wiki/Main_Page", "X-Wikimedia-Debug", "backend=k8s-mwdebug"); a.header.Get("X-Upstream") != "" {
			break
		}
	}
	return addr, out
}

func upstreams(t *testing.T, names ...string) map[string]upstream {
	m := map[string]upstream{}
	for _, n := range names {
		m[n] = startUpstream(t, n)
	}
	return m
}

// routingMsg is the body of the edge's 400 (production sends no header).
const routingMsg = "x-wikimedia-debug-routing: no match found for the backend specified in X-Wikimedia-Debug (scope: %s)"

func TestProxiesEdge(t *testing.T) {
	edge, edgeLog := startEdge(t, startEdgeUpstreams(t), nil)
	for _, tc := range []struct {
		name, method, host, path, xwd string
		to                            string // upstream; "" for the edge's own answer
		status                        int
		cache                         string
		routing                       string // scope of the 400
	}{
		{"testwiki page", "GET", "test.wikipedia.org", "/wiki/Main_Page", "", "ingress", 200, "miss", ""},
		{"testwiki api post", "POST", "test.wikipedia.org", "/w/api.php", "", "ingress", 200, "miss", ""},
		{"testwiki host case and port", "GET", "Test.Wikipedia.org:443", "/wiki/Main_Page", "", "ingress", 200, "miss", ""},
		{"enwiki", "GET", "en.wikipedia.org", "/wiki/Main_Page", "", "mw-web", 200, "miss", ""},
		{"test2wiki", "GET", "test2.wikipedia.org", "/wiki/Main_Page", "", "mw-web", 200, "miss", ""},
		{"lookalike", "GET", "xtest.wikipedia.org", "/wiki/Main_Page", "", "mw-web", 200, "miss", ""},
		{"xwd pretrain testwiki", "GET", "test.wikipedia.org", "/wiki/Main_Page", "backend=k8s-mw-pretrain", "ingress", 200, "pass", ""},
		{"xwd pretrain codfw", "GET", "test.wikipedia.org", "/wiki/Main_Page", "backend=k8s-mw-pretrain-codfw", "ingress", 200, "pass", ""},
		{"xwd bare", "GET", "test.wikipedia.org", "/wiki/Main_Page", "k8s-mw-pretrain", "ingress", 200, "pass", ""},
		{"xwd flags", "GET", "test.wikipedia.org", "/wiki/Main_Page", "backend=k8s-mw-pretrain; profile; log", "ingress", 200, "pass", ""},
		{"xwd flags first", "GET", "test.wikipedia.org", "/wiki/Main_Page", "profile; backend=k8s-mw-pretrain-eqiad", "ingress", 200, "pass", ""},
		{"xwd flags only testwiki", "GET", "test.wikipedia.org", "/wiki/Main_Page", "profile; log", "", 400, "pass", "pretrain"},
		{"xwd flags only enwiki", "GET", "en.wikipedia.org", "/wiki/Main_Page", "profile; log", "", 400, "pass", "default"},
		{"xwd bare with flags is whole", "GET", "en.wikipedia.org", "/wiki/Main_Page", "k8s-mwdebug; log", "", 400, "pass", "default"},
		{"xwd mwdebug testwiki", "GET", "test.wikipedia.org", "/wiki/Main_Page", "backend=k8s-mwdebug", "", 400, "pass", "pretrain"},
		{"xwd mwdebug-next testwiki", "GET", "test.wikipedia.org", "/wiki/Main_Page", "backend=k8s-mwdebug-next", "", 400, "pass", "pretrain"},
		{"xwd pretrain enwiki", "GET", "en.wikipedia.org", "/wiki/Main_Page", "backend=k8s-mw-pretrain", "", 400, "pass", "default"},
		{"xwd pretrain test2wiki", "GET", "test2.wikipedia.org", "/wiki/Main_Page", "backend=k8s-mw-pretrain", "", 400, "pass", "default"},
		{"xwd empty backend", "GET", "en.wikipedia.org", "/wiki/Main_Page", "backend=", "", 400, "pass", "default"},
		{"xwd prefix is not a backend", "GET", "test.wikipedia.org", "/wiki/Main_Page", "backend=k8s-mw-pretrain-x", "", 400, "pass", "pretrain"},
		{"xwd mwdebug enwiki", "GET", "en.wikipedia.org", "/wiki/Main_Page", "backend=k8s-mwdebug", "mw-debug", 200, "pass", ""},
		{"xwd mwdebug codfw enwiki", "GET", "en.wikipedia.org", "/wiki/Main_Page", "k8s-mwdebug-codfw", "mw-debug", 200, "pass", ""},
		{"xwd mwdebug-next enwiki", "GET", "en.wikipedia.org", "/wiki/Main_Page", "profile; backend=k8s-mwdebug-next-eqiad", "mw-debug-next", 200, "pass", ""},
		{"xwd experimental enwiki", "GET", "en.wikipedia.org", "/wiki/Main_Page", "backend=k8s-mw-experimental-codfw", "mw-experimental", 200, "pass", ""},
		{"xwd parsoid enwiki", "GET", "en.wikipedia.org", "/wiki/Main_Page", "backend=k8s-mw-parsoid-eqiad", "mw-parsoid", 200, "pass", ""},
		{"rest testwiki", "GET", "test.wikipedia.org", "/w/rest.php/v1/page/Main_Page", "", "rest-gateway", 200, "miss", ""},
		{"rest testwiki xwd mwdebug untouched", "GET", "test.wikipedia.org", "/w/rest.php/v1/page/Main_Page", "backend=k8s-mwdebug", "rest-gateway", 200, "pass", ""},
		{"rest enwiki xwd unknown untouched", "GET", "en.wikipedia.org", "/w/rest.php", "backend=k8s-bogus", "rest-gateway", 200, "pass", ""},
		{"rest enwiki xwd experimental remapped", "GET", "en.wikipedia.org", "/w/rest.php/v1/page/Main_Page", "backend=k8s-mw-experimental-eqiad", "mw-experimental", 200, "pass", ""},
		{"rest testwiki xwd parsoid out of scope", "GET", "test.wikipedia.org", "/w/rest.php/v1/page/Main_Page", "k8s-mw-parsoid-codfw", "", 400, "pass", "pretrain"},
		{"rest enwiki", "GET", "en.wikipedia.org", "/w/rest.php", "", "rest-gateway", 200, "miss", ""},
		{"rest lookalike path", "GET", "en.wikipedia.org", "/w/rest.phpx", "", "mw-web", 200, "miss", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hs []string
			if tc.xwd != "" {
				hs = []string{"X-Wikimedia-Debug", tc.xwd}
			}
			a := send(t, edge, tc.method, tc.host, tc.path, hs...)
			if a.status != tc.status {
				t.Errorf("expected status %d, got %d: %.300s", tc.status, a.status, a.body)
			}
			if got := a.header.Get("X-Upstream"); got != tc.to {
				t.Errorf("expected upstream %q, got %q", tc.to, got)
			}
			if tc.to != "" {
				if got := a.header.Get("Server"); got != tc.to {
					t.Errorf("expected the upstream's Server %q passed through, got %q", tc.to, a.header.Values("Server"))
				}
				// The CDN has normalised the Host (cdn.lua).
				if got, want := a.header.Get("X-Seen-Host"), strings.TrimSuffix(strings.ToLower(strings.TrimSuffix(tc.host, ":443")), "."); got != want {
					t.Errorf("expected the upstream to see Host %q, got %q", want, got)
				}
				if got := a.header.Get("X-Seen-XWD"); got != tc.xwd {
					t.Errorf("expected the upstream to see XWD %q, got %q", tc.xwd, got)
				}
				stripped := tc.xwd == ""
				for _, h := range []string{"Backend-Timing", "X-Powered-By", "X-Request-Id"} {
					if present := a.header.Get(h) != ""; present == stripped {
						t.Errorf("header %s: expected stripped=%v (XWD %q), got %q", h, stripped, tc.xwd, a.header.Get(h))
					}
				}
			}
			if got := a.header.Get("X-Cache-Status"); got != tc.cache {
				t.Errorf("expected X-Cache-Status %q, got %q", tc.cache, got)
			}
			if tc.routing != "" {
				if want := fmt.Sprintf(routingMsg, tc.routing); strings.TrimSpace(a.body) != want {
					t.Errorf("expected the 400's body %q, got %q", want, a.body)
				}
			}
			if got := a.header.Values("X-Wikimedia-Debug-Routing"); len(got) != 0 {
				t.Errorf("expected no x-wikimedia-debug-routing header (production sends none), got %q", got)
			}
		})
	}
	edgeLogged(t, edgeLog,
		`NOTE: edge: GET test.wikipedia.org/wiki/Main_Page xwd="" -> ingress`,
		`NOTE: edge: GET test.wikipedia.org/w/rest.php/v1/page/Main_Page xwd="backend=k8s-mwdebug" -> rest-gateway`)
}

// edgeLogged checks edge.lua's one-line decision log (NOTEs on stderr).
func edgeLogged(t *testing.T, log *proctest.Output, want ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		missing := ""
		for _, w := range want {
			if !strings.Contains(log.String(), w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("expected %q in the edge's log:\n%s", missing, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func haproxyEnv(t *testing.T, cfg string, env []string, listen string) {
	t.Helper()
	haproxyWith(t, filepath.Join(fixtures(t), "configmaps", cfg), env, listen)
}

func haproxyWith(t *testing.T, path string, env []string, listen string) {
	t.Helper()
	check := exec.Command("haproxy", "-c", "-f", path)
	check.Env = append(os.Environ(), env...)
	if out, err := check.CombinedOutput(); err != nil {
		if _, lerr := exec.LookPath("haproxy"); lerr != nil {
			t.Skipf("haproxy not installed: %v", lerr)
		}
		t.Fatalf("haproxy -c %s: %v\n%s", path, err, out)
	}
	proctest.Start(t, env, listen, "haproxy", "-W", "-db", "-f", path)
}

func TestProxiesRESTGateway(t *testing.T) {
	ups := upstreams(t, "ingress", "mw-debug", "mw-api-ext")
	listen := proctest.FreeAddr(t)
	haproxyEnv(t, "pretrain-infra/rest-gateway-config/haproxy.cfg", []string{
		"REST_GATEWAY_LISTEN=" + listen,
		"REST_GATEWAY_HEALTH_LISTEN=" + proctest.FreeAddr(t),
		"REST_GATEWAY_UPSTREAM_INGRESS=" + ups["ingress"].addr,
		"REST_GATEWAY_UPSTREAM_MW_DEBUG=" + ups["mw-debug"].addr,
		"REST_GATEWAY_UPSTREAM_MW_API_EXT=" + ups["mw-api-ext"].addr,
	}, listen)
	for _, tc := range []struct{ name, host, xwd, cookie, to string }{
		{"testwiki", "test.wikipedia.org", "", "", "ingress"},
		{"testwiki beats xwd mwdebug", "test.wikipedia.org", "backend=k8s-mwdebug", "", "ingress"},
		{"testwiki xwd pretrain", "test.wikipedia.org", "backend=k8s-mw-pretrain", "", "ingress"},
		{"testwiki with port and case", "TEST.wikipedia.org:443", "", "", "ingress"},
		{"testwiki php engine cookie", "test.wikipedia.org", "", "PHP_ENGINE=8.1", "ingress"},
		{"enwiki", "en.wikipedia.org", "", "", "mw-api-ext"},
		{"test2wiki", "test2.wikipedia.org", "", "", "mw-api-ext"},
		{"lookalike", "test.wikipedia.org.evil", "", "", "mw-api-ext"},
		{"enwiki xwd mwdebug", "en.wikipedia.org", "backend=k8s-mwdebug; log", "", "mw-debug"},
		{"enwiki xwd mwdebug codfw bare", "en.wikipedia.org", "k8s-mwdebug-codfw", "", "mw-debug"},
		{"enwiki xwd mwdebug not first", "en.wikipedia.org", "profile; backend=k8s-mwdebug-eqiad", "", "mw-debug"},
		{"enwiki xwd bare with flags is whole", "en.wikipedia.org", "profile; k8s-mwdebug", "", "mw-api-ext"},
		{"enwiki xwd other backend", "en.wikipedia.org", "backend=k8s-mwdebugx", "", "mw-api-ext"},
		{"enwiki xwd pretrain", "en.wikipedia.org", "backend=k8s-mw-pretrain", "", "mw-api-ext"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hs []string
			if tc.xwd != "" {
				hs = append(hs, "X-Wikimedia-Debug", tc.xwd)
			}
			if tc.cookie != "" {
				hs = append(hs, "Cookie", tc.cookie)
			}
			a := send(t, listen, "GET", tc.host, "/w/rest.php/v1/page/Main_Page", hs...)
			if got := a.header.Get("X-Upstream"); got != tc.to || a.status != 200 {
				t.Errorf("expected 200 from %q, got %d from %q", tc.to, a.status, got)
			}
			if got := a.header.Get("X-Seen-Host"); got != tc.host {
				t.Errorf("expected the upstream to see Host %q, got %q", tc.host, got)
			}
		})
	}
}

func TestProxiesMesh(t *testing.T) {
	ups := upstreams(t, "pretrain-ingress", "mw-api-int", "pretrain-jobrunner", "mw-jobrunner")
	apiInt, jobrunner := proctest.FreeAddr(t), proctest.FreeAddr(t)
	haproxyEnv(t, "mw-pretrain/mesh-proxy-config/haproxy.cfg", []string{
		"MESH_LISTEN_API_INT=" + apiInt,
		"MESH_LISTEN_JOBRUNNER=" + jobrunner,
		"MESH_HEALTH_LISTEN=" + proctest.FreeAddr(t),
		"MESH_UPSTREAM_PRETRAIN_INGRESS=" + ups["pretrain-ingress"].addr,
		"MESH_UPSTREAM_MW_API_INT=" + ups["mw-api-int"].addr,
		"MESH_UPSTREAM_PRETRAIN_JOBRUNNER=" + ups["pretrain-jobrunner"].addr,
		"MESH_UPSTREAM_MW_JOBRUNNER=" + ups["mw-jobrunner"].addr,
	}, jobrunner)
	for _, tc := range []struct {
		host     string
		diverted bool
	}{
		{"test.wikipedia.org", true},
		{"en.wikipedia.org", false},
		{"test.wikipedia.org.evil", false},
		{"xtest.wikipedia.org", false},
		{"test.wikipedia.org:443", false}, // :authority with a port does not fully match
		{"testxwikipedia.org", false},     // the dots are escaped
		{"TEST.wikipedia.org", false},     // RE2 is case-sensitive
	} {
		for _, l := range []struct{ addr, pretrain, def string }{
			{apiInt, "pretrain-ingress", "mw-api-int"},
			{jobrunner, "pretrain-jobrunner", "mw-jobrunner"},
		} {
			want := l.def
			if tc.diverted {
				want = l.pretrain
			}
			t.Run(tc.host+"->"+want, func(t *testing.T) {
				a := send(t, l.addr, "POST", tc.host, "/rpc/RunSingleJob.php")
				if got := a.header.Get("X-Upstream"); got != want {
					t.Errorf("expected %q, got %q (status %d)", want, got, a.status)
				}
				if got := a.header.Get("X-Seen-Host"); !strings.EqualFold(got, tc.host) {
					t.Errorf("expected the upstream to see Host %q, got %q", tc.host, got)
				}
			})
		}
	}
}

// faulted writes a fault's edited copy of its config file.
func faulted(t *testing.T, f Fault) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures(t), "configmaps", f.config.path()))
	if err != nil {
		t.Fatal(err)
	}
	out, err := applyEdits(string(b), f.config.edits)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), f.config.key)
	if err := os.WriteFile(p, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The config-edit faults make the real proxies route wrongly on the host
// too, the way their witnesses expect in the cluster.
func TestProxiesFaults(t *testing.T) {
	type witness struct{ method, host, path, xwd, to string }
	witnesses := map[string]witness{
		"testwiki-not-diverted": {"GET", "test.wikipedia.org", "/wiki/Main_Page", "", "mw-web"},
		"other-wiki-diverted":   {"GET", "en.wikipedia.org", "/wiki/Main_Page", "", "ingress"},
		"xwd-scope-ignored":     {"GET", "test.wikipedia.org", "/wiki/Main_Page", "backend=k8s-mwdebug", "mw-debug"},
		"mesh-split-missing":    {"GET", "test.wikipedia.org", "/w/api.php", "", "mw-api-int"},
		"mesh-split-all-hosts":  {"GET", "en.wikipedia.org", "/w/api.php", "", "pretrain-ingress"},
		"mesh-split-unanchored": {"GET", "xtest.wikipedia.org", "/w/api.php", "", "pretrain-ingress"},
		"rest-prefers-xwd":      {"GET", "test.wikipedia.org", "/w/rest.php/v1/page/Main_Page", "backend=k8s-mwdebug", "mw-debug"},
	}
	for _, f := range Faults() {
		if f.config == nil {
			continue
		}
		w, ok := witnesses[f.Name]
		if !ok {
			t.Errorf("fault %q has no host witness", f.Name)
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			path := faulted(t, f)
			var addr string
			switch f.config.name {
			case "edge-config":
				addr, _ = startEdge(t, startEdgeUpstreams(t), map[string]string{f.config.key: path})
			case "rest-gateway-config":
				ups := upstreams(t, "ingress", "mw-debug", "mw-api-ext")
				addr = proctest.FreeAddr(t)
				haproxyWith(t, path, []string{
					"REST_GATEWAY_LISTEN=" + addr, "REST_GATEWAY_HEALTH_LISTEN=" + proctest.FreeAddr(t),
					"REST_GATEWAY_UPSTREAM_INGRESS=" + ups["ingress"].addr,
					"REST_GATEWAY_UPSTREAM_MW_DEBUG=" + ups["mw-debug"].addr,
					"REST_GATEWAY_UPSTREAM_MW_API_EXT=" + ups["mw-api-ext"].addr,
				}, addr)
			case "mesh-proxy-config":
				ups := upstreams(t, "pretrain-ingress", "mw-api-int", "pretrain-jobrunner", "mw-jobrunner")
				addr = proctest.FreeAddr(t)
				haproxyWith(t, path, []string{
					"MESH_LISTEN_API_INT=" + addr, "MESH_LISTEN_JOBRUNNER=" + proctest.FreeAddr(t), "MESH_HEALTH_LISTEN=" + proctest.FreeAddr(t),
					"MESH_UPSTREAM_PRETRAIN_INGRESS=" + ups["pretrain-ingress"].addr,
					"MESH_UPSTREAM_MW_API_INT=" + ups["mw-api-int"].addr,
					"MESH_UPSTREAM_PRETRAIN_JOBRUNNER=" + ups["pretrain-jobrunner"].addr,
					"MESH_UPSTREAM_MW_JOBRUNNER=" + ups["mw-jobrunner"].addr,
				}, addr)
			default:
				t.Fatalf("no host run for configmap %q", f.config.name)
			}
			var hs []string
			if w.xwd != "" {
				hs = []string{"X-Wikimedia-Debug", w.xwd}
			}
			a := send(t, addr, w.method, w.host, w.path, hs...)
			if got := a.header.Get("X-Upstream"); got != w.to {
				t.Errorf("fault %s: expected %s %s%s to go to %q, got %q (status %d)", f.Name, w.method, w.host, w.path, w.to, got, a.status)
			}
		})
	}
}
