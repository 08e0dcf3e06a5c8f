package httpbb

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/live"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/live/livetest"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
)

type imitation struct {
	caFile  string
	edge    *livetest.Server
	ingress *livetest.Server
}

func start(t *testing.T) imitation {
	t.Helper()
	ca, caFile := livetest.NewTestCA(t)
	// fixtures/httpbb/testwiki.yaml holds at the edge only with step 1 on.
	edge, err := livetest.Start(ca, livetest.Options{Role: livetest.Edge, Features: []string{contract.FeatureEdgeDiversion}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(edge.Close)
	ingress, err := livetest.Start(ca, livetest.Options{Role: livetest.Ingress})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ingress.Close)
	return imitation{caFile: caFile, edge: edge, ingress: ingress}
}

func load(t *testing.T, names ...string) []*Test {
	t.Helper()
	var paths []string
	for _, n := range names {
		paths = append(paths, fixture(n))
	}
	tests, _, err := Load(paths...)
	if err != nil {
		t.Fatal(err)
	}
	return tests
}

func run(t *testing.T, tests []*Test, o Options) []check.Verdict {
	t.Helper()
	if o.Rate == 0 {
		o.Rate = live.MaxRate
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	vs, err := Run(ctx, tests, o)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func outcomes(vs []check.Verdict) map[check.Outcome][]string {
	m := map[check.Outcome][]string{}
	for _, v := range vs {
		m[v.Outcome] = append(m[v.Outcome], v.Case.Name)
	}
	return m
}

// The shipped Pretrain suites pass against faithful imitations: the
// testwiki basics through the edge and through the ingress, the edge suite
// through the edge, the jobrunner suite through the ingress.
func TestShippedSuitesAgainstImitation(t *testing.T) {
	t.Parallel() // waits on the rate cap
	im := start(t)
	for _, c := range []struct {
		files []string
		srv   *livetest.Server
	}{
		{[]string{"testwiki.yaml", "testwiki-edge.yaml"}, im.edge},
		{[]string{"testwiki.yaml", "jobrunner.yaml"}, im.ingress},
	} {
		tests := load(t, c.files...)
		vs := run(t, tests, Options{Hosts: []string{c.srv.Addr()}, CAFile: im.caFile})
		if len(vs) != len(tests) {
			t.Fatalf("%d verdicts for %d tests", len(vs), len(tests))
		}
		for _, v := range vs {
			if v.Outcome != check.Passed {
				t.Errorf("%v: %s\n%s", c.files, v.Outcome, v.Explain())
			}
			if v.Case.Entry != Entry || !strings.Contains(v.Case.Name, ".yaml:") || v.Evidence.Request.ConnectedTo != c.srv.Addr() {
				t.Errorf("verdict case %q entry %q connected to %q", v.Case.Name, v.Case.Entry, v.Evidence.Request.ConnectedTo)
			}
		}
		// httpbb semantics: the base URL host is Host and SNI; no cache
		// busting; the safe User-Agent.
		ua := ""
		for _, s := range c.srv.Seen() {
			if s.SNI != s.Host || strings.Contains(s.Path, probe.NonceParam) || live.CheckUserAgent(s.UserAgent) != nil {
				t.Errorf("request %+v", s)
			}
			if ua == "" {
				ua = s.UserAgent
			}
		}
		if f, _ := live.Default(); ua != f.UserAgent {
			t.Errorf("User-Agent %q, want the live target's", ua)
		}
	}
}

// A fault in the imitation (testwiki served by mw-web) fails exactly the
// tests that assert a Pretrain main pod.
func TestFaultFailsTheRightTests(t *testing.T) {
	t.Parallel() // waits on the rate cap
	im := start(t)
	im.edge.SetFault(livetest.TestwikiToMWWeb)
	tests := load(t, "testwiki.yaml")
	vs := run(t, tests, Options{Hosts: []string{im.edge.Addr()}, CAFile: im.caFile})
	var failed []int
	for _, v := range vs {
		if v.Outcome == check.Failed {
			failed = append(failed, v.Case.Pos.Line)
			if r := strings.Join(v.Reasons, "; "); !strings.Contains(r, `got "`+livetest.PodMWWeb+`"`) {
				t.Errorf("%s: reasons %q do not name the mw-web pod", v.Case.Name, r)
			}
		}
	}
	// testwiki.yaml: every test but the XWD one (line 27) asserts main.
	want := []int{12, 16, 22, 35, 38}
	if len(failed) != len(want) {
		t.Fatalf("failed tests at lines %v, want %v\n%v", failed, want, outcomes(vs))
	}
	for i := range want {
		if failed[i] != want[i] {
			t.Fatalf("failed tests at lines %v, want %v", failed, want)
		}
	}
}

// Unsafe tests are refused before anything is sent, each named by
// file:line.
func TestUnsafeTestsRefusedUpFront(t *testing.T) {
	im := start(t)
	doc := `https://test.wikipedia.org:
- path: /wiki/Main_Page
  assert_status: 200
- path: /wiki/Main_Page
  method: PUT
  assert_status: 200
- path: /w/api.php
  method: POST
  assert_status: 200
- path: /wiki/Main_Page
  request_headers: {User-Agent: curl/8}
  assert_status: 200
`
	tests, _, err := Parse("unsafe.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), tests, Options{Hosts: []string{im.edge.Addr()}, CAFile: im.caFile, Rate: live.MaxRate})
	if err == nil || !errors.Is(err, ErrUnsafe) {
		t.Fatalf("error %v, want ErrUnsafe", err)
	}
	for _, want := range []string{`unsafe.yaml:4:3: PUT https://test.wikipedia.org/wiki/Main_Page`, `unsafe.yaml:7:3: POST`, `unsafe.yaml:10:3: User-Agent "curl/8"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if n := len(im.edge.Seen()); n != 0 {
		t.Fatalf("%d requests sent before the refusal", n)
	}
}

func TestRunOptions(t *testing.T) {
	tests := load(t, "testwiki.yaml")
	for name, o := range map[string]Options{
		"rate too high":  {Rate: live.MaxRate + 1},
		"bad user agent": {UserAgent: "curl/8"},
		"bad host":       {Hosts: []string{"a:b:c"}},
		"bad port":       {Hosts: []string{"127.0.0.1:0"}},
		"missing CA":     {CAFile: "/does/not/exist.pem"},
	} {
		if _, err := Run(context.Background(), tests, o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// Several --hosts: every test runs against each, named "@ host"; a host
// without a port takes the base URL's.
func TestSeveralHosts(t *testing.T) {
	t.Parallel() // waits on the rate cap
	im := start(t)
	tests := load(t, "jobrunner.yaml")
	vs := run(t, tests, Options{Hosts: []string{im.ingress.Addr(), im.edge.Addr()}, CAFile: im.caFile})
	if len(vs) != 2*len(tests) {
		t.Fatalf("%d verdicts, want %d", len(vs), 2*len(tests))
	}
	o := outcomes(vs)
	// The edge imitation is no jobrunner gateway: its half fails.
	if len(o[check.Passed]) != len(tests) || len(o[check.Failed]) != len(tests) {
		t.Fatalf("outcomes %v", o)
	}
	for _, n := range o[check.Failed] {
		if !strings.HasSuffix(n, " @ "+im.edge.Addr()) {
			t.Errorf("failed %q, want only the edge's", n)
		}
	}
	if got := connectAddress(tests[0], "10.0.0.1"); got != "10.0.0.1:443" {
		t.Errorf("connect address %q", got)
	}
	if got := connectAddress(tests[0], ""); got != "mw-pretrain-jobrunner.discovery.wmnet:443" {
		t.Errorf("connect address %q", got)
	}
}

// Every assertion proves it can fail, reporting expected and got.
func TestEvaluateNegative(t *testing.T) {
	tests, _, err := Parse("e.yaml", []byte(`https://test.wikipedia.org:
- path: /
  assert_status: 200
  assert_headers: {Content-Type: text/html}
  assert_headers_regex: {Server: '^mw-pretrain\.'}
  assert_headers_absent: [X-Powered-By]
  assert_body_contains: Main Page
  assert_body_regex: 'wg[A-Z]+'
`))
	if err != nil {
		t.Fatal(err)
	}
	tc := tests[0]
	good := probe.Result{Status: 200, AllHeaders: http.Header{
		"Content-Type": {"text/html"}, "Server": {"mw-pretrain.eqiad.main-a-b"},
	}, Body: []byte("<title>Main Page</title> wgPageName")}
	if o, r := Evaluate(tc, good); o != check.Passed {
		t.Fatalf("good response: %s %v", o, r)
	}
	bad := probe.Result{Status: 404, AllHeaders: http.Header{
		"Content-Type": {"text/plain"}, "Server": {"mw-web.eqiad.main-a-b"}, "X-Powered-By": {"PHP"},
	}, Body: []byte("nothing")}
	o, reasons := Evaluate(tc, bad)
	if o != check.Failed || len(reasons) != 6 {
		t.Fatalf("bad response: %s %q", o, reasons)
	}
	for i, want := range []string{
		"expected status 200, got 404",
		`expected header "Content-Type" = "text/html", got "text/plain"`,
		`expected header "Server" to match "^mw-pretrain\\.", got "mw-web.eqiad.main-a-b"`,
		`expected header "X-Powered-By" absent, got "PHP"`,
		`expected body to contain "Main Page", got "nothing"`,
		`expected body to match "wg[A-Z]+", got "nothing"`,
	} {
		if reasons[i] != want {
			t.Errorf("reason %d: %q, want %q", i, reasons[i], want)
		}
	}
	missing := probe.Result{Status: 200, AllHeaders: http.Header{}, Body: []byte("Main Page wgX")}
	_, reasons = Evaluate(tc, missing)
	if len(reasons) != 2 || !strings.Contains(reasons[0], "got no such header") || !strings.Contains(reasons[1], "got no such header") {
		t.Fatalf("missing headers: %q", reasons)
	}
	if o, r := Evaluate(tc, probe.Result{Err: "dial tcp: refused"}); o != check.Failed || r[0] != "request failed: dial tcp: refused" {
		t.Fatalf("no response: %s %q", o, r)
	}
	// A cached answer is judged like any other (httpbb semantics).
	cached := good
	cached.CacheStatus = "hit-front"
	if o, _ := Evaluate(tc, cached); o != check.Passed {
		t.Fatalf("cached good response: %s", o)
	}
}

// Tests the run's timeout stops (waiting for a rate slot, or never
// started) are inconclusive, never failed "refused by the guard".
func TestStoppedTestsAreInconclusive(t *testing.T) {
	im := start(t)
	tests := load(t, "testwiki.yaml")
	if len(tests) < 3 {
		t.Fatalf("want at least 3 tests, got %d", len(tests))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	// One request every 100 s: the first is sent, the second waits for a
	// slot past the run's end, the rest never start.
	vs, err := Run(ctx, tests, Options{Hosts: []string{im.edge.Addr()}, CAFile: im.caFile, Rate: live.MinRate})
	if err != nil {
		t.Fatal(err)
	}
	if vs[0].Outcome != check.Passed {
		t.Errorf("first test: %s %q", vs[0].Outcome, vs[0].Reasons)
	}
	for _, v := range vs[1:] {
		if v.Outcome != check.Inconclusive || !strings.Contains(strings.Join(v.Reasons, "; "), "the run was stopped") {
			t.Errorf("%s: %s %q, want inconclusive (the run was stopped)", v.Case.Name, v.Outcome, v.Reasons)
		}
	}
}
