package stub

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
)

const (
	webPod       = "mw-pretrain.eqiad.main-6d5f7c9b8-x2v4q"
	jobrunnerPod = "mw-pretrain.eqiad.jobrunner-7c9b8d5f6-k2l9m"
	testwiki     = "test.wikipedia.org"
)

func webIdentity() identity.Identity {
	return identity.Identity{Namespace: "mw-pretrain", Release: "main", DC: "eqiad", Pod: webPod,
		Node: "kind-worker", Role: RoleWeb, ImageKind: "image", ImageFlavour: "publish-81"}
}

func jobrunnerIdentity() identity.Identity {
	return identity.Identity{Namespace: "mw-pretrain", Release: "jobrunner", DC: "eqiad", Pod: jobrunnerPod, Role: RoleJobrunner}
}

// mustHandler builds a handler that also sends identity.Header: these
// tests read both; TestIdentityHeaderOnlyWhenAsked covers the default.
func mustHandler(t testing.TB, cfg Config) http.Handler {
	t.Helper()
	cfg.IdentityHeader = true
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	return h
}

// serve runs one request through h in-process.
func serve(h http.Handler, method, target, host, body string, header http.Header) *httptest.ResponseRecorder {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	if host != "" {
		r.Host = host
	}
	for k, vs := range header {
		r.Header[k] = vs
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// checkIdentity asserts the two identity headers every response carries.
func checkIdentity(t *testing.T, w *httptest.ResponseRecorder, want identity.Identity) {
	t.Helper()
	if got := w.Header().Get("Server"); got != want.Pod {
		t.Errorf("Server header: expected %q, got %q", want.Pod, got)
	}
	got, err := identity.ParseHeader(w.Header().Get(identity.Header))
	if err != nil {
		t.Fatalf("parse %s: %v", identity.Header, err)
	}
	want.Source = "identity-header"
	if got != want {
		t.Errorf("%s: expected %+v, got %+v", identity.Header, want, got)
	}
}

func decodeEcho(t *testing.T, w *httptest.ResponseRecorder) Echo {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("echo Content-Type: expected application/json, got %q (body %q)", ct, w.Body.String())
	}
	var e Echo
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("decode echo %q: %v", w.Body.String(), err)
	}
	return e
}

func TestRoutes(t *testing.T) {
	web := mustHandler(t, Config{Identity: webIdentity()})
	jobrunner := mustHandler(t, Config{Identity: jobrunnerIdentity()})
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	tests := []struct {
		name     string
		role     string
		method   string
		target   string
		host     string
		body     string
		header   http.Header
		status   int
		echo     bool   // the body is an Echo
		servedBy bool   // the echo says servedby
		bodyIs   string // exact body, when not an echo
		allow    string
	}{
		// web
		{name: "web root", role: RoleWeb, method: "GET", target: "/", host: testwiki, status: 200, echo: true},
		{name: "web article", role: RoleWeb, method: "GET", target: "/wiki/Main_Page", host: testwiki, status: 200, echo: true},
		{name: "web index.php", role: RoleWeb, method: "GET", target: "/w/index.php?title=Main_Page&action=raw", host: testwiki, status: 200, echo: true},
		{name: "web load.php", role: RoleWeb, method: "GET", target: "/w/load.php?modules=startup&only=scripts", host: testwiki, status: 200, echo: true},
		{name: "jobrunner load.php is 404", role: RoleJobrunner, method: "GET", target: "/w/load.php", host: testwiki, status: 404, echo: true},
		{name: "web api without servedby", role: RoleWeb, method: "GET", target: "/w/api.php?action=query&format=json", host: testwiki, status: 200, echo: true},
		{name: "web api servedby=1", role: RoleWeb, method: "GET", target: "/w/api.php?action=query&servedby=1", host: testwiki, status: 200, echo: true, servedBy: true},
		{name: "web api servedby=0 is true as in MediaWiki", role: RoleWeb, method: "GET", target: "/w/api.php?servedby=0", host: testwiki, status: 200, echo: true, servedBy: true},
		{name: "web api servedbyx is not servedby", role: RoleWeb, method: "GET", target: "/w/api.php?servedbyx=1", host: testwiki, status: 200, echo: true},
		{name: "web api POST form servedby", role: RoleWeb, method: "POST", target: "/w/api.php", host: testwiki, body: "action=query&servedby=1", header: form, status: 200, echo: true, servedBy: true},
		{name: "web api POST form without servedby", role: RoleWeb, method: "POST", target: "/w/api.php", host: testwiki, body: "action=query", header: form, status: 200, echo: true},
		{name: "web rest.php", role: RoleWeb, method: "GET", target: "/w/rest.php/v1/page/Main_Page", host: testwiki, status: 200, echo: true},
		{name: "web rest.php without route", role: RoleWeb, method: "GET", target: "/w/rest.php", host: testwiki, status: 404, echo: true},
		{name: "web health check", role: RoleWeb, method: "GET", target: "/w/health-check.php", host: "localhost", status: 200, echo: true},
		{name: "web unknown path", role: RoleWeb, method: "GET", target: "/nope", host: testwiki, status: 404, echo: true},
		{name: "web /wiki without slash", role: RoleWeb, method: "GET", target: "/wiki", host: testwiki, status: 404, echo: true},
		{name: "web does not serve RunSingleJob (POST)", role: RoleWeb, method: "POST", target: "/rpc/RunSingleJob.php", host: testwiki, body: `{"database":"testwiki","type":"null"}`, status: 404, echo: true},
		{name: "web does not serve RunSingleJob (GET)", role: RoleWeb, method: "GET", target: "/rpc/RunSingleJob.php", host: testwiki, status: 404, echo: true},
		// jobrunner
		{name: "jobrunner health check", role: RoleJobrunner, method: "GET", target: "/w/health-check.php", host: "mw-pretrain-jobrunner.discovery.wmnet", status: 200, echo: true},
		{name: "jobrunner article is 404 whatever the Host", role: RoleJobrunner, method: "GET", target: "/wiki/Main_Page", host: testwiki, status: 404, echo: true},
		{name: "jobrunner root is 404", role: RoleJobrunner, method: "GET", target: "/", host: testwiki, status: 404, echo: true},
		{name: "jobrunner api is 404 even with servedby", role: RoleJobrunner, method: "GET", target: "/w/api.php?servedby=1", host: testwiki, status: 404, echo: true},
		{name: "jobrunner rest.php is 404", role: RoleJobrunner, method: "GET", target: "/w/rest.php/v1/page/Main_Page", host: testwiki, status: 404, echo: true},
		{name: "RunSingleJob GET is 405", role: RoleJobrunner, method: "GET", target: "/rpc/RunSingleJob.php", host: testwiki, status: 405, allow: "POST", bodyIs: "Request must be POSTed."},
		{name: "RunSingleJob PUT is 405", role: RoleJobrunner, method: "PUT", target: "/rpc/RunSingleJob.php", host: testwiki, body: "{}", status: 405, allow: "POST", bodyIs: "Request must be POSTed."},
		{name: "RunSingleJob empty POST is 422", role: RoleJobrunner, method: "POST", target: "/rpc/RunSingleJob.php", host: testwiki, status: 422, bodyIs: NoEventBody},
		{name: "RunSingleJob event without database is 500", role: RoleJobrunner, method: "POST", target: "/rpc/RunSingleJob.php", host: testwiki, body: `{"type":"null"}`, status: 500},
		{name: "RunSingleJob event with empty database is 500", role: RoleJobrunner, method: "POST", target: "/rpc/RunSingleJob.php", host: testwiki, body: `{"database":"","type":"null"}`, status: 500},
		{name: "RunSingleJob invalid JSON is 500", role: RoleJobrunner, method: "POST", target: "/rpc/RunSingleJob.php", host: testwiki, body: `{"database":`, status: 500},
		{name: "RunSingleJob JSON array is 500", role: RoleJobrunner, method: "POST", target: "/rpc/RunSingleJob.php", host: testwiki, body: `[1]`, status: 500},
		{name: "RunSingleJob JSON null is 500", role: RoleJobrunner, method: "POST", target: "/rpc/RunSingleJob.php", host: testwiki, body: `null`, status: 500},
		{name: "RunSingleJob HEAD is 405", role: RoleJobrunner, method: "HEAD", target: "/rpc/RunSingleJob.php", host: testwiki, status: 405, allow: "POST"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, id := web, webIdentity()
			if tc.role == RoleJobrunner {
				h, id = jobrunner, jobrunnerIdentity()
			}
			w := serve(h, tc.method, tc.target, tc.host, tc.body, tc.header)
			if w.Code != tc.status {
				t.Fatalf("%s %s (Host %s) on %s: expected status %d, got %d (body %q)", tc.method, tc.target, tc.host, tc.role, tc.status, w.Code, w.Body.String())
			}
			checkIdentity(t, w, id)
			if got := w.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow: expected %q, got %q", tc.allow, got)
			}
			if tc.bodyIs != "" && w.Body.String() != tc.bodyIs {
				t.Errorf("body: expected %q, got %q", tc.bodyIs, w.Body.String())
			}
			if !tc.echo {
				return
			}
			e := decodeEcho(t, w)
			wantID := id
			if e.Identity != wantID {
				t.Errorf("echo identity: expected %+v, got %+v", wantID, e.Identity)
			}
			if e.Status != tc.status || e.Method != tc.method || e.Host != tc.host || e.URI != tc.target {
				t.Errorf("echo: expected %d %s %s (Host %s), got %d %s %s (Host %s)",
					tc.status, tc.method, tc.target, tc.host, e.Status, e.Method, e.URI, e.Host)
			}
			if e.BodyLength != int64(len(tc.body)) {
				t.Errorf("echo bodyLength: expected %d, got %d", len(tc.body), e.BodyLength)
			}
			if e.RemoteAddr == "" {
				t.Error("echo remoteAddr is empty")
			}
			wantServedBy := ""
			if tc.servedBy {
				wantServedBy = id.Pod
			}
			if e.ServedBy != wantServedBy {
				t.Errorf("echo servedby: expected %q, got %q", wantServedBy, e.ServedBy)
			}
			if e.Fault != "" {
				t.Errorf("echo fault: expected none, got %q", e.Fault)
			}
		})
	}
}

func TestRunSingleJobValidEvent(t *testing.T) {
	h := mustHandler(t, Config{Identity: jobrunnerIdentity()})
	w := serve(h, "POST", "/rpc/RunSingleJob.php", testwiki, `{"database":"testwiki","type":"null","params":{}}`,
		http.Header{"X-Request-Id": {"req-1"}, "Content-Type": {"application/json"}})
	if w.Code != 200 {
		t.Fatalf("expected 200, got %d (body %q)", w.Code, w.Body.String())
	}
	checkIdentity(t, w, jobrunnerIdentity())
	var res JobResult
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatalf("decode job result %q: %v", w.Body.String(), err)
	}
	want := JobResult{Status: "ok", Job: "null", Database: "testwiki", RequestID: "req-1", ServedBy: jobrunnerPod}
	if res != want {
		t.Errorf("job result: expected %+v, got %+v", want, res)
	}
}

func TestEchoHeadersAndOddValues(t *testing.T) {
	h := mustHandler(t, Config{Identity: webIdentity()})
	hdr := http.Header{
		"X-Wikimedia-Debug": {"backend=k8s-mw-pretrain; profile"},
		"X-Quote":           {`a"b\c` + "\x01\t\u2028é\xff"},
		"X-Multi":           {"1", "2"},
	}
	for i := range 40 { // more than the stack array in appendEcho
		hdr.Set("X-Many-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "v")
	}
	w := serve(h, "GET", "/wiki/Special:Search?q=%22x%22", testwiki, "", hdr)
	e := decodeEcho(t, w)
	for k, vs := range hdr {
		got := e.Headers[k]
		if len(got) != len(vs) {
			t.Errorf("echo header %q: expected %q, got %q", k, vs, got)
			continue
		}
		for i := range vs {
			want := strings.ToValidUTF8(vs[i], "\ufffd")
			if got[i] != want {
				t.Errorf("echo header %q[%d]: expected %q, got %q", k, i, want, got[i])
			}
		}
	}
	if e.URI != "/wiki/Special:Search?q=%22x%22" {
		t.Errorf("echo uri: got %q", e.URI)
	}
}

func TestInjectedFaults(t *testing.T) {
	id := webIdentity()
	faultHeader := func(k, v string) http.Header { return http.Header{k: {v}} }
	tests := []struct {
		name   string
		cfg    Config
		target string
		header http.Header
		status int
		fault  string
	}{
		{name: "forced status", cfg: Config{ForcedStatus: 503}, target: "/wiki/Main_Page", status: 503, fault: "status 503"},
		{name: "forced status on health check", cfg: Config{ForcedStatus: 500}, target: "/w/health-check.php", status: 500, fault: "status 500"},
		{name: "forced 200 on a 404 path", cfg: Config{ForcedStatus: 200}, target: "/nope", status: 200, fault: "status 200"},
		{name: "error rate 1", cfg: Config{ErrorRate: 1}, target: "/wiki/Main_Page", status: 503, fault: "error-rate"},
		{name: "error rate 0", cfg: Config{ErrorRate: 0}, target: "/wiki/Main_Page", status: 200},
		// per-request headers are ignored unless enabled
		{name: "status header ignored when disabled", target: "/wiki/Main_Page", header: faultHeader(HeaderFaultStatus, "503"), status: 200},
		{name: "error-rate header ignored when disabled", target: "/wiki/Main_Page", header: faultHeader(HeaderFaultErrorRate, "1"), status: 200},
		{name: "bad fault header ignored when disabled", target: "/wiki/Main_Page", header: faultHeader(HeaderFaultStatus, "nope"), status: 200},
		{name: "latency header ignored when disabled", target: "/wiki/Main_Page", header: faultHeader(HeaderFaultLatency, "1h"), status: 200},
		// enabled
		{name: "status header", cfg: Config{HeaderFaults: true}, target: "/wiki/Main_Page", header: faultHeader(HeaderFaultStatus, "503"), status: 503, fault: "status 503"},
		{name: "status header overrides forced status", cfg: Config{HeaderFaults: true, ForcedStatus: 500}, target: "/", header: faultHeader(HeaderFaultStatus, "502"), status: 502, fault: "status 502"},
		{name: "error-rate header", cfg: Config{HeaderFaults: true}, target: "/", header: faultHeader(HeaderFaultErrorRate, "1"), status: 503, fault: "error-rate"},
		{name: "error-rate header 0 overrides config", cfg: Config{HeaderFaults: true, ErrorRate: 1}, target: "/", header: faultHeader(HeaderFaultErrorRate, "0"), status: 200},
		{name: "bad status header", cfg: Config{HeaderFaults: true}, target: "/", header: faultHeader(HeaderFaultStatus, "99"), status: 400},
		{name: "bad error-rate header", cfg: Config{HeaderFaults: true}, target: "/", header: faultHeader(HeaderFaultErrorRate, "1.5"), status: 400},
		{name: "bad latency header", cfg: Config{HeaderFaults: true}, target: "/", header: faultHeader(HeaderFaultLatency, "soon"), status: 400},
		{name: "latency header above max", cfg: Config{HeaderFaults: true}, target: "/", header: faultHeader(HeaderFaultLatency, "6m"), status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Identity = id
			h := mustHandler(t, tc.cfg)
			// A sleep the handler must not do would hit this deadline and
			// leave the recorder without a body.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r := httptest.NewRequest("GET", tc.target, nil).WithContext(ctx)
			r.Host = testwiki
			for k, vs := range tc.header {
				r.Header[k] = vs
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("expected status %d, got %d (body %q)", tc.status, w.Code, w.Body.String())
			}
			checkIdentity(t, w, id)
			if tc.status == 400 {
				if !strings.Contains(w.Body.String(), "X-Pretrain-Fault-") {
					t.Errorf("400 body should name the fault header, got %q", w.Body.String())
				}
				return
			}
			if e := decodeEcho(t, w); e.Fault != tc.fault {
				t.Errorf("echo fault: expected %q, got %q", tc.fault, e.Fault)
			}
		})
	}
}

func TestErrorRateShare(t *testing.T) {
	h := mustHandler(t, Config{Identity: webIdentity(), ErrorRate: 0.5})
	const n = 2000
	failed := 0
	for range n {
		if w := serve(h, "GET", "/", testwiki, "", nil); w.Code == 503 {
			failed++
		}
	}
	// Binomial(2000, 0.5): 0.4..0.6 is more than 8 standard deviations wide.
	if share := float64(failed) / n; share < 0.4 || share > 0.6 {
		t.Errorf("error rate 0.5: expected about half 503s, got %d of %d", failed, n)
	}
}

func TestLatency(t *testing.T) {
	h := mustHandler(t, Config{Identity: webIdentity(), HeaderFaults: true})
	start := time.Now()
	w := serve(h, "GET", "/", testwiki, "", http.Header{HeaderFaultLatency: {"30ms"}})
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("latency header 30ms: answered after %s", d)
	}
	if w.Code != 200 {
		t.Errorf("expected 200, got %d", w.Code)
	}
}

func TestLatencyRespectsCancellation(t *testing.T) {
	h := mustHandler(t, Config{Identity: webIdentity(), Latency: MaxLatency})
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { h.ServeHTTP(w, r); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("handler still sleeping 10s after its request was cancelled")
	}
	if w.Body.Len() != 0 {
		t.Errorf("a cancelled request should get no body, got %q", w.Body.String())
	}
}

func TestConfigValidate(t *testing.T) {
	mod := func(f func(*Config)) Config { c := Config{Identity: webIdentity()}; f(&c); return c }
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" = valid
	}{
		{name: "valid web", cfg: mod(func(*Config) {})},
		{name: "valid jobrunner", cfg: Config{Identity: jobrunnerIdentity()}},
		{name: "valid kind pod name", cfg: mod(func(c *Config) { c.Identity.Pod = "main-6d5f7c9b8-x2v4q" })},
		{name: "valid faults", cfg: mod(func(c *Config) { c.Latency, c.ErrorRate, c.ForcedStatus = time.Second, 1, 503 })},
		{name: "no namespace", cfg: mod(func(c *Config) { c.Identity.Namespace = "" }), wantErr: "namespace is required"},
		{name: "no release", cfg: mod(func(c *Config) { c.Identity.Release = "" }), wantErr: "release is required"},
		{name: "no pod", cfg: mod(func(c *Config) { c.Identity.Pod = "" }), wantErr: "pod is required"},
		{name: "bad role", cfg: mod(func(c *Config) { c.Identity.Role = "api" }), wantErr: `role "api"`},
		{name: "no role", cfg: mod(func(c *Config) { c.Identity.Role = "" }), wantErr: `role ""`},
		{name: "separator in node", cfg: mod(func(c *Config) { c.Identity.Node = "a;b" }), wantErr: `node "a;b"`},
		{name: "newline in flavour", cfg: mod(func(c *Config) { c.Identity.ImageFlavour = "a\nb" }), wantErr: "image flavour"},
		{name: "pod names another release", cfg: mod(func(c *Config) { c.Identity.Pod = "mw-pretrain.eqiad.debug-6d5f7c9b8-x2v4q" }), wantErr: "names mw-pretrain/debug"},
		{name: "pod names another dc", cfg: mod(func(c *Config) { c.Identity.Pod = "mw-pretrain.codfw.main-6d5f7c9b8-x2v4q" }), wantErr: `dc "codfw"`},
		{name: "negative latency", cfg: mod(func(c *Config) { c.Latency = -time.Second }), wantErr: "latency"},
		{name: "huge latency", cfg: mod(func(c *Config) { c.Latency = time.Hour }), wantErr: "latency"},
		{name: "error rate above 1", cfg: mod(func(c *Config) { c.ErrorRate = 1.5 }), wantErr: "error rate"},
		{name: "error rate NaN", cfg: mod(func(c *Config) { c.ErrorRate = math.NaN() }), wantErr: "error rate"},
		{name: "forced status 99", cfg: mod(func(c *Config) { c.ForcedStatus = 99 }), wantErr: "forced status 99"},
		{name: "forced status 600", cfg: mod(func(c *Config) { c.ForcedStatus = 600 }), wantErr: "forced status 600"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewHandler(tc.cfg)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("expected a valid config, got %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("expected an error containing %q, got none", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("expected an error containing %q, got %v", tc.wantErr, err)
			}
		})
	}
}

func TestIdentityHeaderRoundTrip(t *testing.T) {
	for _, id := range []identity.Identity{webIdentity(), jobrunnerIdentity(),
		{Namespace: "mw-pretrain", Release: "debug", Pod: "debug-1-2", Role: RoleWeb, ImageKind: "debug-image"}} {
		w := serve(mustHandler(t, Config{Identity: id}), "GET", "/w/health-check.php", "", "", nil)
		checkIdentity(t, w, id)
		if fromServer, ok := identity.FromServer(w.Header().Get("Server")); ok && fromServer.Backend() != id.Backend() {
			t.Errorf("Server %q: expected backend %s, got %s", w.Header().Get("Server"), id.Backend(), fromServer.Backend())
		}
	}
}

func TestIdentityFromPod(t *testing.T) {
	got := IdentityFromPod(identity.Identity{Pod: webPod, Role: RoleWeb})
	want := identity.Identity{Namespace: "mw-pretrain", Release: "main", DC: "eqiad", Pod: webPod, Role: RoleWeb}
	if got != want {
		t.Errorf("expected %+v, got %+v", want, got)
	}
	kept := identity.Identity{Namespace: "ns", Release: "rel", Pod: "plain-hostname"}
	if got := IdentityFromPod(kept); got != kept {
		t.Errorf("a pod name not like production should change nothing: expected %+v, got %+v", kept, got)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `"quoted"`, `back\slash`, "\x00\x01\x1f\x7f", "tab\tnl\nrt\r",
		"é漢字🙂", "bad\xffutf8\xc3", "\u2028\u2029", "<>&", "trailing\xe2\x82"} {
		checkJSONString(t, s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(checkJSONString)
}

func checkJSONString(t *testing.T, s string) {
	b := appendJSONString(nil, s)
	var got string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("appendJSONString(%q) = %s: not JSON: %v", s, b, err)
	}
	ref, _ := json.Marshal(s)
	var want string
	_ = json.Unmarshal(ref, &want)
	if got != want {
		t.Fatalf("appendJSONString(%q) decodes to %q, encoding/json gives %q", s, got, want)
	}
}

// By default a stub is identified as production's pods are, by Server
// alone: every replica run exercises the path a live run depends on.
func TestIdentityHeaderOnlyWhenAsked(t *testing.T) {
	for _, asked := range []bool{false, true} {
		h, err := NewHandler(Config{Identity: webIdentity(), IdentityHeader: asked})
		if err != nil {
			t.Fatal(err)
		}
		w := serve(h, http.MethodGet, "/wiki/Main_Page", "test.wikipedia.org", "", nil)
		if got := w.Header().Get("Server"); got != webPod {
			t.Errorf("asked %v: Server %q, want %q", asked, got, webPod)
		}
		if got := w.Header().Get(identity.Header) != ""; got != asked {
			t.Errorf("asked %v: %s present = %v", asked, identity.Header, got)
		}
	}
}
