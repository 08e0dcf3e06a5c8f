package live_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/live"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/live/livetest"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// Expected verdicts of the contract (testdata/contract.yaml, a pinned copy
// of the default) against the imitation, per vantage point. Cases not
// listed must be not applicable.
var (
	externalPassed = []string{
		"edge-testwiki-main-page", "edge-testwiki-api", "edge-enwiki-untouched",
		"edge-xwd-pretrain-testwiki", "edge-xwd-pretrain-eqiad", "edge-xwd-pretrain-codfw",
		"edge-xwd-bare-value", "edge-xwd-with-flags", "edge-xwd-mwdebug-testwiki",
		"edge-xwd-mwdebug-next-testwiki", "edge-xwd-pretrain-enwiki", "edge-xwd-mwdebug-enwiki",
		"edge-xwd-flags-only-testwiki", "edge-xwd-flags-only-enwiki",
		"edge-rest-testwiki", "edge-rest-testwiki-xwd-mwdebug", "edge-rest-enwiki",
		"edge-runsinglejob-not-jobrunner",
	}
	// /w/index.php is answered from the edge cache (hit-front).
	externalInconclusive = []string{"edge-testwiki-index-php"}
	// The edge is reachable, but these hosts are off the allow-list.
	externalOffList = []string{"edge-dewiki-untouched", "edge-commons-untouched", "edge-test2wiki-untouched", "edge-xwd-pretrain-test2wiki"}
	// The fault (testwiki served by mw-web at the edge) fails exactly these.
	externalFaulty = []string{
		"edge-testwiki-main-page", "edge-testwiki-api", "edge-runsinglejob-not-jobrunner",
	}

	internalPassed = []string{
		"ingress-testwiki-main-page", "ingress-testwiki-api", "ingress-testwiki-index-php", "ingress-enwiki-no-route",
		"ingress-xwd-pretrain", "ingress-xwd-bare-value", "ingress-xwd-with-flags", "ingress-xwd-pretrain-eqiad",
		"ingress-xwd-flags-only", "ingress-xwd-backend-not-first", "ingress-xwd-mwdebug-not-debug",
		"jobrunner-gateway-health-check", "jobrunner-gateway-health-check-svc-eqiad", "jobrunner-gateway-health-check-svc-codfw",
		"jobrunner-gateway-runsinglejob-post", "jobrunner-gateway-runsinglejob-get", "jobrunner-gateway-main-page",
		"jobrunner-gateway-api-php", "ingress-runsinglejob-not-jobrunner", "ingress-health-check-not-jobrunner",
	}
	internalUnsafe = []string{"jobrunner-gateway-health-check-post", "jobrunner-gateway-runsinglejob-suffix"}
	internalFaulty = []string{
		"ingress-testwiki-main-page", "ingress-testwiki-api", "ingress-testwiki-index-php", "ingress-xwd-flags-only",
		"ingress-xwd-backend-not-first", "ingress-xwd-mwdebug-not-debug", "ingress-runsinglejob-not-jobrunner",
		"ingress-health-check-not-jobrunner",
	}
)

type fixture struct {
	ca     *livetest.CA
	caFile string
	c      *contract.Contract
	file   *live.File
	// features, when set, are the features the run declares on instead
	// of the live target's (none).
	features []string
}

func setup(t *testing.T) fixture {
	t.Helper()
	ca, caFile := livetest.NewTestCA(t)
	c, err := contract.Load("testdata/contract.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := live.Default()
	if err != nil {
		t.Fatal(err)
	}
	return fixture{ca: ca, caFile: caFile, c: c, file: f}
}

func (fx fixture) server(t *testing.T, role livetest.Role) *livetest.Server {
	t.Helper()
	s, err := livetest.Start(fx.ca, livetest.Options{Role: role, CachedPaths: []string{"/w/index.php"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// run checks the whole default contract from a vantage point, through
// --connect-to to the imitation, at the highest rate allowed.
func (fx fixture) run(t *testing.T, vantage string, s *livetest.Server) map[string]check.Verdict {
	t.Helper()
	tgt, err := fx.file.Target(live.Options{Vantage: vantage, ConnectTo: s.Addr(), CAFile: fx.caFile, Rate: live.MaxRate})
	if err != nil {
		t.Fatal(err)
	}
	p := probe.New(probe.Options{Timeout: 5 * time.Second, UserAgent: tgt.UserAgent(), BustCache: tgt.Live()})
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := check.PollConfig{Timeout: 600 * time.Millisecond, Interval: 10 * time.Millisecond, RequiredConsecutive: 2}
	on := target.DeclaredFeatures(tgt, fx.c)
	if fx.features != nil {
		on = fx.features
	}
	c, err := fx.c.ForFeatures(on)
	if err != nil {
		t.Fatal(err)
	}
	vs := check.RunAll(ctx, c, c.Cases, tgt, p, cfg, 1)
	out := map[string]check.Verdict{}
	for _, v := range vs {
		out[v.Case.Name] = v
	}
	return out
}

// expect asserts every case's outcome: the named ones, and not applicable
// for every other case.
func expect(t *testing.T, got map[string]check.Verdict, want map[string]check.Outcome) {
	t.Helper()
	names := make([]string, 0, len(got))
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := got[n]
		w, ok := want[n]
		if !ok {
			w = check.NotApplicable
		}
		if v.Outcome != w {
			t.Errorf("case %s: outcome %s, want %s\n%s", n, v.Outcome, w, v.Explain())
		}
	}
	for n := range want {
		if _, ok := got[n]; !ok {
			t.Errorf("case %s: no verdict (not in the default contract?)", n)
		}
	}
}

func outcomes(o check.Outcome, names ...[]string) map[string]check.Outcome {
	m := map[string]check.Outcome{}
	for _, ns := range names {
		for _, n := range ns {
			m[n] = o
		}
	}
	return m
}

func merge(ms ...map[string]check.Outcome) map[string]check.Outcome {
	out := map[string]check.Outcome{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// Every request the imitation received obeys the production rules: an
// allowed host (with the same SNI), the target's User-Agent, a safe method,
// and a cache-busting nonce on every GET that does not send XWD.
func checkSeen(t *testing.T, s *livetest.Server, tgt string, ua string, allowed []string) {
	t.Helper()
	seen := s.Seen()
	if len(seen) == 0 {
		t.Fatalf("%s: the imitation received nothing", tgt)
	}
	ok := map[string]bool{}
	for _, h := range allowed {
		ok[h] = true
	}
	for _, r := range seen {
		switch {
		case !ok[r.Host]:
			t.Errorf("%s: request to host %q off the allow-list: %+v", tgt, r.Host, r)
		case r.SNI != r.Host:
			t.Errorf("%s: SNI %q differs from Host %q", tgt, r.SNI, r.Host)
		case r.UserAgent != ua:
			t.Errorf("%s: User-Agent %q, want %q", tgt, r.UserAgent, ua)
		case r.Method != "GET" && r.Method != "HEAD" && !(r.Method == "POST" && r.Path == live.RunSingleJobPath && r.BodyBytes == 0):
			t.Errorf("%s: unsafe request reached production: %+v", tgt, r)
		case r.Method == "GET" && r.XWD == "" && !strings.Contains(r.Path, probe.NonceParam+"="):
			t.Errorf("%s: GET %s without a cache-busting nonce", tgt, r.Path)
		case r.XWD != "" && strings.Contains(r.Path, probe.NonceParam):
			t.Errorf("%s: XWD request %s carries a nonce (XWD bypasses caches)", tgt, r.Path)
		}
	}
}

func TestLiveExternalThroughConnectTo(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	edge := fx.server(t, livetest.Edge)
	got := fx.run(t, "external", edge)
	expect(t, got, merge(outcomes(check.Passed, externalPassed), outcomes(check.Inconclusive, externalInconclusive)))
	for _, n := range externalOffList {
		if r := strings.Join(got[n].Reasons, "; "); !strings.Contains(r, "is not in the allow-list") {
			t.Errorf("case %s: reason %q, want the allow-list", n, r)
		}
	}
	if r := strings.Join(got["edge-testwiki-index-php"].Reasons, "; "); !strings.Contains(r, `X-Cache-Status "hit-front"`) {
		t.Errorf("cached case: reason %q", r)
	}
	if r := strings.Join(got["mesh-api-int-testwiki"].Reasons, "; "); !strings.Contains(r, `does not reach entry "mesh/mw-api-int"`) {
		t.Errorf("mesh case: reason %q", r)
	}
	checkSeen(t, edge, "external", fx.file.UserAgent, []string{"test.wikipedia.org", "en.wikipedia.org"})
	// Nothing was sent for cases that are not applicable.
	for _, r := range edge.Seen() {
		if r.Host == "de.wikipedia.org" || r.Host == "test2.wikipedia.org" || r.Host == "commons.wikimedia.org" {
			t.Errorf("request sent for an off-list host: %+v", r)
		}
	}
}

// An edge that diverts testwiki (step 1) while the run declares
// production's features (none) fails exactly the edge-diversion cases the
// external vantage point reaches, naming the Pretrain pod that answered.
func TestLiveExternalUndeclaredStepFailsTheRightCases(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	// Undeclared and declared, each against its own edge, side by side:
	// each waits on the live rate cap.
	t.Run("undeclared", func(t *testing.T) {
		t.Parallel()
		edge := fx.server(t, livetest.Edge)
		edge.SetFeatures(contract.FeatureEdgeDiversion)
		got := fx.run(t, "external", edge)
		expect(t, got, merge(
			outcomes(check.Passed, without(externalPassed, externalFaulty)),
			outcomes(check.Inconclusive, externalInconclusive),
			outcomes(check.Failed, externalFaulty),
		))
		for _, n := range externalFaulty {
			r := strings.Join(got[n].Reasons, "; ")
			if !strings.Contains(r, `got "mw-pretrain/main" (pod `+livetest.PodMain+`)`) || !strings.Contains(r, `expected served by "mw-`) {
				t.Errorf("case %s: reasons %q do not name the Pretrain pod", n, r)
			}
		}
	})
	// Declared, the step passes.
	t.Run("declared", func(t *testing.T) {
		t.Parallel()
		fx := fx
		fx.features = []string{contract.FeatureEdgeDiversion}
		edge := fx.server(t, livetest.Edge)
		edge.SetFeatures(contract.FeatureEdgeDiversion)
		got := fx.run(t, "external", edge)
		expect(t, got, merge(outcomes(check.Passed, externalPassed), outcomes(check.Inconclusive, externalInconclusive)))
	})
}

// With edge-diversion on and declared, an edge that loses the diversion
// fails the same cases, naming mw-web.
func TestLiveExternalFaultFailsTheRightCases(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	fx.features = []string{contract.FeatureEdgeDiversion}
	edge := fx.server(t, livetest.Edge)
	edge.SetFeatures(contract.FeatureEdgeDiversion)
	edge.SetFault(livetest.TestwikiToMWWeb)
	got := fx.run(t, "external", edge)
	passed := without(externalPassed, externalFaulty)
	expect(t, got, merge(
		outcomes(check.Passed, passed),
		outcomes(check.Inconclusive, externalInconclusive),
		outcomes(check.Failed, externalFaulty),
	))
	for _, n := range externalFaulty {
		r := strings.Join(got[n].Reasons, "; ")
		if !strings.Contains(r, `got "mw-web/main" (pod `+livetest.PodMWWeb+`)`) {
			t.Errorf("case %s: reasons %q do not name mw-web", n, r)
		}
	}
}

func TestLiveInternalThroughConnectTo(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	ingress := fx.server(t, livetest.Ingress)
	got := fx.run(t, "internal", ingress)
	expect(t, got, outcomes(check.Passed, internalPassed))
	for _, n := range internalUnsafe {
		if r := strings.Join(got[n].Reasons, "; "); !strings.Contains(r, "unsafe for production") {
			t.Errorf("case %s: reason %q, want unsafe for production", n, r)
		}
	}
	if r := strings.Join(got["jobrunner-gateway-testwiki-host"].Reasons, "; "); !strings.Contains(r, "would be routed by another gateway") {
		t.Errorf("jobrunner-gateway-testwiki-host: reason %q", r)
	}
	checkSeen(t, ingress, "internal", fx.file.UserAgent, append([]string{"test.wikipedia.org", "en.wikipedia.org"}, livetest.JobrunnerNames...))
	for _, r := range ingress.Seen() {
		if r.Method == "POST" && r.Path != live.RunSingleJobPath {
			t.Errorf("unsafe POST sent: %+v", r)
		}
	}
}

func TestLiveInternalFaultFailsTheRightCases(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	ingress := fx.server(t, livetest.Ingress)
	ingress.SetFault(livetest.TestwikiToMWWeb)
	got := fx.run(t, "internal", ingress)
	expect(t, got, merge(outcomes(check.Passed, without(internalPassed, internalFaulty)), outcomes(check.Failed, internalFaulty)))
}

// Without --ca-file the imitation's certificate is not trusted: TLS
// verification is on by default, and the case fails rather than passing.
func TestLiveVerifiesTLS(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	edge := fx.server(t, livetest.Edge)
	tgt, err := fx.file.Target(live.Options{Vantage: "external", ConnectTo: edge.Addr(), Rate: live.MaxRate})
	if err != nil {
		t.Fatal(err)
	}
	p := probe.New(probe.Options{Timeout: 5 * time.Second, UserAgent: tgt.UserAgent(), BustCache: true})
	defer p.Close()
	cs := fx.c.Cases[0]
	v := check.Run(context.Background(), fx.c, cs, tgt, p, check.PollConfig{Timeout: 300 * time.Millisecond, Interval: 10 * time.Millisecond, RequiredConsecutive: 1})
	if v.Outcome != check.Failed || !strings.Contains(strings.Join(v.Reasons, ";"), "certificate") {
		t.Fatalf("untrusted certificate: %s %v", v.Outcome, v.Reasons)
	}
	if n := len(edge.Seen()); n != 0 {
		t.Fatalf("%d requests completed over an unverified connection", n)
	}
}

func without(all, drop []string) []string {
	d := map[string]bool{}
	for _, n := range drop {
		d[n] = true
	}
	var out []string
	for _, n := range all {
		if !d[n] {
			out = append(out, n)
		}
	}
	return out
}

// The current default contract (whatever cases it has now) against a
// faithful imitation: nothing fails, nothing unsafe is sent, mesh and
// jobrunner cases are not applicable from both vantage points.
func TestDefaultContractLive(t *testing.T) {
	t.Parallel()
	fx := setup(t)
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	fx.c = c
	for _, vc := range []struct {
		vantage string
		role    livetest.Role
		allowed []string
	}{
		{"external", livetest.Edge, []string{"test.wikipedia.org", "en.wikipedia.org"}},
		{"internal", livetest.Ingress, append([]string{"test.wikipedia.org", "en.wikipedia.org"}, livetest.JobrunnerNames...)},
	} {
		// Each vantage point against its own imitation, side by side.
		t.Run(vc.vantage, func(t *testing.T) {
			t.Parallel()
			s := fx.server(t, vc.role)
			got := fx.run(t, vc.vantage, s)
			counts := map[check.Outcome]int{}
			for name, v := range got {
				counts[v.Outcome]++
				if v.Outcome == check.Failed {
					t.Errorf("%s: case %s failed against a faithful imitation:\n%s", vc.vantage, name, v.Explain())
				}
				if e := v.Case.Entry; (strings.HasPrefix(e, "mesh/") || e == contract.EntryJobrunner) && v.Outcome != check.NotApplicable {
					t.Errorf("%s: case %s (entry %s) is %s, want not applicable", vc.vantage, name, e, v.Outcome)
				}
			}
			if counts[check.Passed] == 0 {
				t.Errorf("%s: nothing passed: %v", vc.vantage, counts)
			}
			checkSeen(t, s, vc.vantage, fx.file.UserAgent, vc.allowed)
			t.Logf("%s: %v", vc.vantage, counts)
		})
	}
}
