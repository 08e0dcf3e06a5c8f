package latency

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/stub"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

func mainStub(t testing.TB, latency time.Duration) http.Handler {
	return stubHandler(t, stub.Config{Identity: stubIdentity("mw-pretrain", "main", stub.RoleWeb), Latency: latency})
}

func TestAttackPassesWithoutInjectedLatency(t *testing.T) {
	c := loadContract(t)
	ep, seen := serve(t, "ingress", mainStub(t, 0))
	b := budget("main-page", "main-page", 25, 30)
	b.P50, b.P95, b.P99, b.Max = 200*time.Millisecond, 300*time.Millisecond, 400*time.Millisecond, time.Second

	r, err := Attack(context.Background(), ep, caseNamed(t, c, "main-page"), b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != check.Passed {
		t.Fatalf("expected passed, got %s:\n%s", r.Outcome, r.Explain())
	}
	if r.Requests != 30 || r.Statuses[200] != 30 || r.ServedBy["mw-pretrain/main"] != 30 || r.Successes != 30 {
		t.Errorf("expected 30 requests, all 200 from mw-pretrain/main, got:\n%s", r.Explain())
	}
	if got := seen.hosts; len(got) != 1 || got["test.wikipedia.org"] != 30 {
		t.Errorf("expected every request with Host test.wikipedia.org, got %v", got)
	}
	if len(r.Samples) != 30 || r.Samples[0].Offset != 0 {
		t.Errorf("expected 30 samples starting at offset 0, got %d (first %+v)", len(r.Samples), r.Samples[0])
	}
	if r.URL != "http://test.wikipedia.org/wiki/Main_Page" {
		t.Errorf("expected URL on the case host, got %q", r.URL)
	}
}

// The proof: a stub with +500 ms fails the p95 budget, for that
// reason and no other.
func TestAttackFailsP95WithInjectedLatency(t *testing.T) {
	c := loadContract(t)
	ep, _ := serve(t, "ingress", mainStub(t, 500*time.Millisecond))
	b := budget("main-page", "main-page", 20, 10)
	b.P95 = 300 * time.Millisecond

	r, err := Attack(context.Background(), ep, caseNamed(t, c, "main-page"), b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != check.Failed {
		t.Fatalf("expected failed, got %s:\n%s", r.Outcome, r.Explain())
	}
	if len(r.Reasons) != 1 || !strings.HasPrefix(r.Reasons[0], "expected p95 <= 300ms, got ") {
		t.Fatalf("expected exactly the p95 reason, got %q", r.Reasons)
	}
	if r.Latencies.P95 < 500*time.Millisecond {
		t.Errorf("expected p95 >= 500ms (injected), got %s", r.Latencies.P95)
	}
	if r.Successes != 10 || r.WrongBackend != 0 {
		t.Errorf("expected every response a success from the right backend, got:\n%s", r.Explain())
	}
	if !strings.Contains(r.Explain(), "expected p95 <= 300ms") {
		t.Errorf("explanation lacks the reason:\n%s", r.Explain())
	}
}

// A budget whose traffic reaches the wrong backend fails, even with good
// latency.
func TestAttackWrongBackendFails(t *testing.T) {
	c := loadContract(t)
	wrong := stubHandler(t, stub.Config{Identity: stubIdentity("mw-web", "main", stub.RoleWeb)})
	ep, _ := serve(t, "ingress", wrong)
	b := budget("main-page", "main-page", 25, 20)
	b.P95 = time.Second

	r, err := Attack(context.Background(), ep, caseNamed(t, c, "main-page"), b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != check.Failed {
		t.Fatalf("expected failed, got %s:\n%s", r.Outcome, r.Explain())
	}
	joined := strings.Join(r.Reasons, "\n")
	for _, want := range []string{
		`expected success >= 100% (status 2xx from mw-pretrain/main+canary), got 0% (0 of 20)`,
		`expected every response from "mw-pretrain/main+canary", got 20 of 20 from "mw-web/main" (20)`,
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("expected reason %q, got:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "p95") {
		t.Errorf("latency was fine, expected no latency reason, got:\n%s", joined)
	}
}

// One response in ten from the wrong backend fails the budget even when
// the success ratio allows the misses.
func TestAttackSomeWrongBackendFailsDespiteMinSuccess(t *testing.T) {
	c := loadContract(t)
	wrong := stubHandler(t, stub.Config{Identity: stubIdentity("mw-web", "main", stub.RoleWeb)})
	ep, _ := serve(t, "ingress", alternate(mainStub(t, 0), wrong, 10))
	b := budget("main-page", "main-page", 25, 20)
	b.P95, b.MinSuccess = time.Second, 0.5

	r, err := Attack(context.Background(), ep, caseNamed(t, c, "main-page"), b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != check.Failed || len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], `got 2 of 20 from "mw-web/main" (2)`) {
		t.Fatalf("expected failed for the wrong backend only, got %s %q", r.Outcome, r.Reasons)
	}
	if r.ServedBy["mw-pretrain/main"] != 18 || r.ServedBy["mw-web/main"] != 2 {
		t.Errorf("expected served by 18 main, 2 mw-web, got %v", r.ServedBy)
	}
}

// Canary answers are the expected group's: they succeed.
func TestAttackGroupMembersSucceed(t *testing.T) {
	c := loadContract(t)
	canary := stubHandler(t, stub.Config{Identity: stubIdentity("mw-pretrain", "canary", stub.RoleWeb)})
	ep, _ := serve(t, "ingress", alternate(mainStub(t, 0), canary, 5))
	b := budget("main-page", "main-page", 25, 20)
	b.P95 = time.Second
	r, err := Attack(context.Background(), ep, caseNamed(t, c, "main-page"), b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != check.Passed || r.ServedBy["mw-pretrain/canary"] != 4 {
		t.Fatalf("expected passed with 4 canary answers, got:\n%s", r.Explain())
	}
}

// A 405 or 422 probe succeeds when it is the expected status (vegeta's
// 200-399 "success" would call it an error); success_statuses overrides
// the case.
func TestAttackSuccessStatuses(t *testing.T) {
	c := loadContract(t)
	jobrunner := stubHandler(t, stub.Config{Identity: stubIdentity("mw-pretrain", "jobrunner", stub.RoleJobrunner)})
	for _, tc := range []struct {
		name, cs string
		statuses []int
		want     check.Outcome
		reason   string
	}{
		{"405 expected by the case", "runsinglejob-get", nil, check.Passed, ""},
		{"422 expected by the case", "runsinglejob-empty-post", nil, check.Passed, ""},
		{"405 listed in success_statuses", "runsinglejob-get", []int{405, 200}, check.Passed, ""},
		{"405 not in success_statuses", "runsinglejob-get", []int{200}, check.Failed,
			"expected success >= 100% (status 200 from mw-pretrain/jobrunner), got 0% (0 of 10)"},
		{"422 when the case expects it, budget wants 405", "runsinglejob-empty-post", []int{405}, check.Failed,
			"expected success >= 100% (status 405 from mw-pretrain/jobrunner), got 0% (0 of 10)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep, _ := serve(t, "jobrunner", jobrunner)
			b := budget("jobrunner", tc.cs, 25, 10)
			b.P95, b.SuccessStatuses = time.Second, tc.statuses
			r, err := Attack(context.Background(), ep, caseNamed(t, c, tc.cs), b, c, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Outcome != tc.want {
				t.Fatalf("expected %s, got %s:\n%s", tc.want, r.Outcome, r.Explain())
			}
			// Only the success reason is asserted: a loaded machine may add a
			// rate-shortfall reason, which is not what this test is about.
			if tc.reason != "" && !slices.Contains(r.Reasons, tc.reason) {
				t.Errorf("expected reason %q, got %q", tc.reason, r.Reasons)
			}
		})
	}
}

// With one worker and a slow backend the attack cannot hold its rate: the
// figures are not trustworthy, so the budget is inconclusive, never passed.
func TestAttackRateShortfallIsReported(t *testing.T) {
	c := loadContract(t)
	ep, _ := serve(t, "ingress", mainStub(t, 100*time.Millisecond))
	b := budget("main-page", "main-page", 40, 8)
	b.P95 = 5 * time.Second

	r, err := Attack(context.Background(), ep, caseNamed(t, c, "main-page"), b, c, Options{MaxWorkers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != check.Inconclusive || !r.RateShortfall {
		t.Fatalf("expected inconclusive with a rate shortfall, got %s:\n%s", r.Outcome, r.Explain())
	}
	if r.AchievedRate > 12 {
		t.Errorf("expected about 10 req/s with one worker and 100ms answers, got %v", r.AchievedRate)
	}
	if len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], "the attack could not hold its rate") ||
		!strings.Contains(r.Reasons[0], "expected rate >= 36 req/s (90% of 40 requested)") {
		t.Errorf("expected the shortfall reason, got %q", r.Reasons)
	}
	if !strings.Contains(r.Explain(), "SHORTFALL") {
		t.Errorf("explanation does not flag the shortfall:\n%s", r.Explain())
	}
}

func TestAttackKeepsHostAndSNIOverTLS(t *testing.T) {
	c := loadContract(t)
	ep, seen, sni := serveTLS(t, "ingress", mainStub(t, 0))
	b := budget("main-page", "main-page", 20, 10)
	b.P95 = time.Second
	r, err := Attack(context.Background(), ep, caseNamed(t, c, "main-page"), b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != check.Passed {
		t.Fatalf("expected passed, got:\n%s", r.Explain())
	}
	if got := sni(); len(got) != 1 || got["test.wikipedia.org"] == 0 {
		t.Errorf("expected SNI test.wikipedia.org on every handshake, got %v", got)
	}
	if got := seen.hosts; got["test.wikipedia.org"] != 10 {
		t.Errorf("expected Host test.wikipedia.org x10, got %v", got)
	}
	if !strings.HasPrefix(r.URL, "https://test.wikipedia.org/") {
		t.Errorf("expected an https URL on the case host, got %q", r.URL)
	}
}

// Mesh entries are attacked through the forward endpoint: the latency is
// the pod's (in-pod request), who served is the in-pod answer's.
func TestAttackThroughForwardEndpoint(t *testing.T) {
	c := loadContract(t)
	inner := httptest.NewServer(mainStub(t, 150*time.Millisecond))
	t.Cleanup(inner.Close)
	client := stubIdentity("mw-pretrain", "mesh-client", stub.RoleWeb)
	// The forward call itself takes 300ms longer than the in-pod request:
	// the latency judged must be the in-pod one.
	fwdHandler := stub.NewForwardHandler(client, nil)
	fwd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		fwdHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(fwd.Close)
	ep := target.Endpoint{
		Entry:   "mesh/mw-api-int",
		Forward: &target.Forward{Endpoint: fwd.URL + stub.ForwardPath, InPodURL: inner.URL},
	}
	b := budget("mesh", "mesh-api-int", 50, 10)
	b.P50, b.P95 = 100*time.Millisecond, time.Second

	r, err := Attack(context.Background(), ep, caseNamed(t, c, "mesh-api-int"), b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// In-pod 150ms plus whatever a busy machine adds, never the outer 450ms.
	if r.Outcome != check.Failed || len(r.Reasons) != 1 || !strings.HasPrefix(r.Reasons[0], "expected p50 <= 100ms, got ") ||
		r.Latencies.P50 < 150*time.Millisecond || r.Latencies.P50 >= 450*time.Millisecond {
		t.Fatalf("expected the p50 ceiling to fail on the in-pod latency (150ms), got %s %q\n%s", r.Outcome, r.Reasons, r.Explain())
	}
	if r.ServedBy["mw-pretrain/main"] != 10 || r.Successes != 10 {
		t.Errorf("expected 10 successes served by mw-pretrain/main (not the forwarder), got:\n%s", r.Explain())
	}
	if r.URL != "http://test.wikipedia.org/w/api.php?action=query" {
		t.Errorf("expected the in-pod URL on the case host, got %q", r.URL)
	}
}

func TestAttackForwardRefusalIsAnError(t *testing.T) {
	c := loadContract(t)
	fwd := httptest.NewServer(stub.NewForwardHandler(stubIdentity("mw-pretrain", "mesh-client", stub.RoleWeb), nil))
	t.Cleanup(fwd.Close)
	// 192.0.2.1 is not loopback: the forwarder refuses with 403.
	ep := target.Endpoint{Entry: "mesh/mw-api-int", Forward: &target.Forward{Endpoint: fwd.URL + stub.ForwardPath, InPodURL: "http://192.0.2.1:6501"}}
	b := budget("mesh", "mesh-api-int", 25, 5)
	b.P95 = time.Second
	r, err := Attack(context.Background(), ep, caseNamed(t, c, "mesh-api-int"), b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != check.Failed || r.Statuses[0] != 5 || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Error, "forward refused with status 403") {
		t.Fatalf("expected 5 forward refusals, got:\n%s", r.Explain())
	}
	if r.ServedBy[NoResponse] != 5 {
		t.Errorf("expected %q x5, got %v", NoResponse, r.ServedBy)
	}
}

func TestAttackConnectionRefusedIsRecorded(t *testing.T) {
	c := loadContract(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens there any more
	ep := target.Endpoint{Entry: "ingress", URL: &url.URL{Scheme: "http", Host: "entry.invalid"}, ConnectTo: addr}
	b := budget("main-page", "main-page", 25, 5)
	b.P95 = time.Second
	r, err := Attack(context.Background(), ep, caseNamed(t, c, "main-page"), b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != check.Failed || r.Statuses[0] != 5 || r.ServedBy[NoResponse] != 5 {
		t.Fatalf("expected 5 requests without response, got:\n%s", r.Explain())
	}
	if len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Error, "connection refused") || !strings.Contains(r.Errors[0].Error, addr) {
		t.Errorf("expected connection refused errors naming %s, got %+v", addr, r.Errors)
	}
}

func TestAttackLiveBustsCachesAndIsGuarded(t *testing.T) {
	c := loadContract(t)
	ep, seen := serve(t, "ingress", mainStub(t, 0))
	b := budget("main-page", "main-page", 10, 5)
	b.P95 = time.Second
	r, err := Attack(context.Background(), ep, caseNamed(t, c, "main-page"), b, c, Options{Live: true, RateScale: 10})
	if !errors.Is(err, ErrRateRefused) {
		t.Fatalf("expected ErrRateRefused at 100 req/s live, got %v", err)
	}
	if seen.count() != 0 || r.Requests != 0 {
		t.Fatalf("a refused attack must send nothing, sent %d", seen.count())
	}

	r, err = Attack(context.Background(), ep, caseNamed(t, c, "main-page"), b, c, Options{Live: true, RateScale: 10, AllowProduction: true})
	if err != nil || r.Outcome != check.Passed {
		t.Fatalf("expected the override to allow the attack, got %v:\n%s", err, r.Explain())
	}
	distinct := map[string]bool{}
	for _, q := range seen.queries {
		if !strings.HasPrefix(q, probe.NonceParam+"=") {
			t.Errorf("expected a cache-busting nonce on a live GET, got query %q", q)
		}
		distinct[q] = true
	}
	if len(distinct) != 50 || r.Requests != 50 { // scale 10 keeps the duration: 10x the requests
		t.Errorf("expected 50 distinct nonces, got %d of %d requests", len(distinct), r.Requests)
	}
}

func TestAttackCachedAnswersNeverSucceed(t *testing.T) {
	c := loadContract(t)
	cached := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(probe.CacheStatusHeader, "hit-front")
		mainStub(t, 0).ServeHTTP(w, r)
	})
	ep, _ := serve(t, "ingress", cached)
	b := budget("main-page", "main-page", 25, 5)
	b.P95 = time.Second
	r, err := Attack(context.Background(), ep, caseNamed(t, c, "main-page"), b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != check.Failed || r.Cached != 5 || r.Successes != 0 {
		t.Fatalf("expected cached answers to fail the success ratio, got:\n%s", r.Explain())
	}
}

// Cancelling the context stops the attack and the requests in flight: it
// returns long before the stub's 5s answers, inconclusive.
func TestAttackInterrupted(t *testing.T) {
	c := loadContract(t)
	ep, _ := serve(t, "ingress", mainStub(t, 5*time.Second))
	b := budget("main-page", "main-page", 20, 100)
	b.P95 = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := Attack(ctx, ep, caseNamed(t, c, "main-page"), b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("expected the attack to stop soon after the context, took %s", took)
	}
	if r.Outcome != check.Inconclusive || len(r.Reasons) == 0 || !strings.HasPrefix(r.Reasons[0], "attack interrupted after ") {
		t.Fatalf("expected inconclusive (interrupted), got %s %q", r.Outcome, r.Reasons)
	}
}

func TestRunNotApplicable(t *testing.T) {
	c := loadContract(t)
	tgt := target.NewStatic("empty", map[string]target.Endpoint{
		"ingress": {URL: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}},
	}, false)
	b := budget("mesh", "mesh-api-int", 1, 1)
	r, err := Run(context.Background(), tgt, b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != check.NotApplicable || len(r.Reasons) != 1 || !strings.Contains(r.Reasons[0], `no entry "mesh/mw-api-int"`) {
		t.Fatalf("expected not applicable naming the entry, got %s %q", r.Outcome, r.Reasons)
	}
}

func TestRunResolvesBudgetByEntry(t *testing.T) {
	c := loadContract(t)
	ep, _ := serve(t, "ingress", mainStub(t, 0))
	tgt := target.NewStatic("one", map[string]target.Endpoint{"ingress": ep}, false)
	b := &contract.Budget{Name: "by-entry", Entry: "ingress", Rate: 100, Requests: 3, P95: time.Second, MinSuccess: 1}
	r, err := Run(context.Background(), tgt, b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Case == nil || r.Case.Name != "main-page" || r.Outcome != check.Passed || r.Target != "static:one" {
		t.Fatalf("expected the entry's first case, passed, on static:one; got:\n%s", r.Explain())
	}
	if _, err := Run(context.Background(), tgt, &contract.Budget{Name: "x", Case: "nope", Rate: 1, Requests: 1}, c, Options{}); err == nil {
		t.Error("expected an error for an unknown case")
	}
}

func TestAttackRejectsBadInput(t *testing.T) {
	c := loadContract(t)
	cs := caseNamed(t, c, "main-page")
	ep := target.Endpoint{Entry: "ingress", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}}
	noHost := *cs
	noHost.Request.Host = ""
	badPath := *cs
	badPath.Request.Path = "//evil/x"
	for name, f := range map[string]func() error{
		"nil budget": func() error { _, err := Attack(context.Background(), ep, cs, nil, c, Options{}); return err },
		"zero rate": func() error {
			_, err := Attack(context.Background(), ep, cs, budget("b", "main-page", 0, 1), c, Options{})
			return err
		},
		"no URL": func() error {
			_, err := Attack(context.Background(), target.Endpoint{Entry: "ingress"}, cs, budget("b", "", 1, 1), c, Options{})
			return err
		},
		"no host": func() error {
			_, err := Attack(context.Background(), ep, &noHost, budget("b", "", 1, 1), c, Options{})
			return err
		},
		"bad path": func() error {
			_, err := Attack(context.Background(), ep, &badPath, budget("b", "", 1, 1), c, Options{})
			return err
		},
		"scale is NaN": func() error {
			_, err := Attack(context.Background(), ep, cs, budget("b", "", 1, 1), c, Options{RateScale: -1})
			return err
		},
	} {
		if f() == nil {
			t.Errorf("%s: expected an error", name)
		}
	}
}

// The endpoint's guard judges the attack's request once, before anything
// is sent; a refusal sends nothing and is not applicable, never passed.
func TestAttackEndpointGuard(t *testing.T) {
	c := loadContract(t)
	ep, seen := serve(t, "ingress", mainStub(t, 0))
	b := budget("main-page", "main-page", 25, 5)
	b.P95 = time.Second

	var calls []*http.Request
	ep.Guard = func(r *http.Request) error { calls = append(calls, r); return errors.New("refused by test: POST only") }
	r, err := Attack(context.Background(), ep, caseNamed(t, c, "main-page"), b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != check.NotApplicable || seen.count() != 0 || len(r.Reasons) != 1 ||
		r.Reasons[0] != "refused before the attack, nothing sent: refused by test: POST only" {
		t.Fatalf("expected not applicable with nothing sent, got %s %q (%d sent)", r.Outcome, r.Reasons, seen.count())
	}
	if len(calls) != 1 || calls[0].Host != "test.wikipedia.org" || calls[0].URL.Path != "/wiki/Main_Page" || calls[0].Header.Get("User-Agent") == "" {
		t.Fatalf("expected one guard call with the case's request, got %d: %+v", len(calls), calls)
	}

	calls = nil
	ep.Guard = func(r *http.Request) error { calls = append(calls, r); return nil }
	r, err = Attack(context.Background(), ep, caseNamed(t, c, "main-page"), b, c, Options{})
	if err != nil || r.Outcome != check.Passed || len(calls) != 1 || seen.count() != 5 {
		t.Fatalf("expected an admitted attack to pass after one guard call, got %v %s, %d calls, %d sent", err, r.Outcome, len(calls), seen.count())
	}
}

type screeningTarget struct{ target.Target }

func (screeningTarget) Screen(entry string, req contract.Request) error {
	return errors.New("unsafe for production: " + entry + " " + req.Path + ": " + target.ErrNotApplicable.Error())
}

type notApplicableScreen struct{ target.Target }

func (notApplicableScreen) Screen(string, contract.Request) error {
	return fmt.Errorf("unsafe for production, not sent: %w", target.ErrNotApplicable)
}

func TestRunScreensTheCase(t *testing.T) {
	c := loadContract(t)
	ep, seen := serve(t, "ingress", mainStub(t, 0))
	static := target.NewStatic("one", map[string]target.Endpoint{"ingress": ep}, true)
	b := budget("main-page", "main-page", 1, 1)
	r, err := Run(context.Background(), notApplicableScreen{static}, b, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != check.NotApplicable || seen.count() != 0 || !strings.Contains(r.Reasons[0], "unsafe for production, not sent") {
		t.Fatalf("expected not applicable from the screen, got %s %q", r.Outcome, r.Reasons)
	}
	if _, err := Run(context.Background(), screeningTarget{static}, b, c, Options{}); err == nil || seen.count() != 0 {
		t.Fatalf("expected a screen error that is not ErrNotApplicable to be an error, got %v", err)
	}
}
