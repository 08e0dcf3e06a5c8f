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

// startEdge runs traffic_server from a private runroot whose config
// directory holds the packaged defaults plus the replica's remap.config
// and edge.lua.
func startEdge(t *testing.T, ups map[string]upstream) (string, *proctest.Output) {
	return startEdgeWith(t, ups, edgeFixture(t, "pretrain-infra/edge-config/edge.lua"))
}

func startEdgeWith(t *testing.T, ups map[string]upstream, lua string) (string, *proctest.Output) {
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
	remap = bytes.ReplaceAll(remap, []byte("/etc/trafficserver/edge.lua"), []byte(lua))
	if err := os.WriteFile(filepath.Join(etc, "remap.config"), remap, 0o644); err != nil {
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
	env := []string{
		// The Deployment's records (fixtures/kind/manifests/40-edge.yaml).
		"PROXY_CONFIG_HTTP_SERVER_PORTS=" + port,
		"PROXY_CONFIG_URL_REMAP_PRISTINE_HOST_HDR=1",
		"PROXY_CONFIG_HTTP_CACHE_HTTP=0",
		"PROXY_CONFIG_HTTP_RESPONSE_SERVER_ENABLED=0",
		"PROXY_CONFIG_HTTP_INSERT_AGE_IN_RESPONSE=0",
		"PROXY_CONFIG_DIAGS_OUTPUT_NOTE=E",
		"PROXY_CONFIG_DIAGS_OUTPUT_WARNING=E",
		"PROXY_CONFIG_DIAGS_OUTPUT_ERROR=E",
		"PROXY_CONFIG_ADMIN_USER_ID=#-1", // stay the test's user
		"EDGE_NAME=edge-test",
		"EDGE_UPSTREAM_INGRESS=" + ups["ingress"].addr,
		"EDGE_UPSTREAM_REST_GATEWAY=" + ups["rest-gateway"].addr,
		"EDGE_UPSTREAM_MW_WEB=" + ups["mw-web"].addr,
		"EDGE_UPSTREAM_MW_DEBUG=" + ups["mw-debug"].addr,
		"EDGE_UPSTREAM_MW_DEBUG_NEXT=" + ups["mw-debug-next"].addr,
		"EDGE_UPSTREAM_MW_EXPERIMENTAL=" + ups["mw-experimental"].addr,
		"EDGE_UPSTREAM_MW_PARSOID=" + ups["mw-parsoid"].addr,
	}
	out := proctest.Start(t, env, addr, "traffic_server", "--run-root="+filepath.Join(root, "runroot.yaml"))
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

// edgeUpstreams are the upstreams edge.lua needs.
var edgeUpstreams = []string{"ingress", "rest-gateway", "mw-web", "mw-debug", "mw-debug-next", "mw-experimental", "mw-parsoid"}

func TestProxiesEdge(t *testing.T) {
	ups := upstreams(t, edgeUpstreams...)
	edge, edgeLog := startEdge(t, ups)
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
				t.Errorf("expected status %d, got %d", tc.status, a.status)
			}
			if got := a.header.Get("X-Upstream"); got != tc.to {
				t.Errorf("expected upstream %q, got %q", tc.to, got)
			}
			if tc.to != "" {
				if got := a.header.Get("Server"); got != tc.to {
					t.Errorf("expected the upstream's Server %q passed through, got %q", tc.to, a.header.Values("Server"))
				}
				if got := a.header.Get("X-Seen-Host"); got != tc.host {
					t.Errorf("expected the upstream to see Host %q, got %q", tc.host, got)
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
		`NOTE: edge: GET test.wikipedia.org/wiki/Main_Page xwd="" -> ingress (miss)`,
		`NOTE: edge: GET en.wikipedia.org/wiki/Main_Page xwd="backend=k8s-mw-pretrain" -> 400 (x-wikimedia-debug-routing: no match found for the backend specified in X-Wikimedia-Debug (scope: default))`)
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
				addr, _ = startEdgeWith(t, upstreams(t, edgeUpstreams...), path)
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
