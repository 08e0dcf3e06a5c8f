package check

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// backendServer answers each request as the release answer(n) names (n is
// the 1-based request count); "" means an unidentified 404.
func backendServer(t *testing.T, answer func(n int) string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rel := answer(int(n.Add(1)))
		if rel == "" {
			w.Header().Set("Server", "envoy")
			w.WriteHeader(http.StatusNotFound)
			return
		}
		id := pod(rel)
		w.Header().Set("Server", id.Pod)
		w.Header().Set(identity.Header, id.HeaderValue())
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func edgeTarget(t *testing.T, srv *httptest.Server) target.Target {
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return target.NewStatic("test", map[string]target.Endpoint{"edge": {URL: u}}, false)
}

func mainCase() *contract.Case {
	return &contract.Case{
		Name:    "testwiki goes to main",
		Entry:   "edge",
		Request: contract.Request{Method: "GET", Host: "test.wikipedia.org", Path: "/wiki/Main_Page"},
		Expect:  contract.Expectation{ServedBy: "mw-pretrain/main"},
		Pos:     contract.Position{File: "pretrain.yaml", Line: 3, Column: 5},
	}
}

func fastPoll() PollConfig {
	return PollConfig{Timeout: 3 * time.Second, Interval: 5 * time.Millisecond, RequiredConsecutive: 3, MaxHistory: 4}
}

func newTestProber(t *testing.T) *probe.Prober {
	p := probe.New(probe.Options{Timeout: 2 * time.Second})
	t.Cleanup(p.Close)
	return p
}

func TestRunPassesAfterConvergence(t *testing.T) {
	// The first 4 answers come from the old backend, then main.
	srv, n := backendServer(t, func(n int) string {
		if n <= 4 {
			return "canary"
		}
		return "main"
	})
	v := Run(context.Background(), testContract(), mainCase(), edgeTarget(t, srv), newTestProber(t), fastPoll())
	if v.Outcome != Passed {
		t.Fatalf("outcome %s\n%s", v.Outcome, v.Explain())
	}
	if v.Attempts != 7 || int(n.Load()) != 7 || v.PassedAttempts != 3 {
		t.Errorf("attempts %d (server saw %d), passed %d; want 7, 7, 3", v.Attempts, n.Load(), v.PassedAttempts)
	}
	if len(v.History) != 4 || len(v.HistoryReasons) != 4 || v.History[0].Request.Attempt != 1 || v.History[3].Request.Attempt != 4 {
		t.Errorf("history %d entries, want the 4 misses", len(v.History))
	}
	if v.Evidence.Request.Attempt != 7 || v.Evidence.ServedBy.Backend() != "mw-pretrain/main" || len(v.Reasons) != 0 {
		t.Errorf("evidence %+v reasons %q", v.Evidence.Request, v.Reasons)
	}
	if v.Elapsed <= 0 || v.Started.IsZero() {
		t.Errorf("elapsed %v started %v", v.Elapsed, v.Started)
	}
}

func TestRunNeedsConsecutivePasses(t *testing.T) {
	// Alternates: never 3 in a row.
	srv, _ := backendServer(t, func(n int) string {
		if n%2 == 0 {
			return "main"
		}
		return "debug"
	})
	cfg := fastPoll()
	cfg.Timeout = 300 * time.Millisecond
	v := Run(context.Background(), testContract(), mainCase(), edgeTarget(t, srv), newTestProber(t), cfg)
	if v.Outcome != Failed {
		t.Fatalf("outcome %s, want failed\n%s", v.Outcome, v.Explain())
	}
	if v.PassedAttempts == 0 || v.Attempts < 4 {
		t.Errorf("attempts %d passed %d", v.Attempts, v.PassedAttempts)
	}
	if len(v.History) != cfg.MaxHistory || len(v.HistoryReasons) != cfg.MaxHistory {
		t.Errorf("history %d, want bounded to %d", len(v.History), cfg.MaxHistory)
	}
	if v.Evidence.ServedBy.Backend() != "mw-pretrain/debug" {
		t.Errorf("evidence served by %s, want the last miss", v.Evidence.ServedBy)
	}
	want0 := `expected served by "mw-pretrain/main", got "mw-pretrain/debug" (pod mw-pretrain.eqiad.debug-abc-def)`
	if len(v.Reasons) < 2 || v.Reasons[0] != want0 || !strings.Contains(v.Reasons[1], "at most 1 in a row (3 required)") {
		t.Errorf("reasons %q", v.Reasons)
	}
	for i := 1; i < len(v.History); i++ {
		if v.History[i].Request.Attempt <= v.History[i-1].Request.Attempt {
			t.Errorf("history out of order: %d then %d", v.History[i-1].Request.Attempt, v.History[i].Request.Attempt)
		}
	}
	if last := v.History[len(v.History)-1].Request.Attempt; last >= v.Evidence.Request.Attempt {
		t.Errorf("history ends at attempt %d, evidence is %d", last, v.Evidence.Request.Attempt)
	}
	ex := v.Explain()
	for _, want := range []string{
		`case "testwiki goes to main" (pretrain.yaml:3:5): failed after`,
		"request:      GET http://test.wikipedia.org/wiki/Main_Page",
		"host:         test.wikipedia.org",
		"connected to: " + srv.Listener.Addr().String(),
		"served by:    mw-pretrain/debug (pod mw-pretrain.eqiad.debug-abc-def)",
		"reasons:\n    - " + want0,
		"history (last 4 misses before the evidence, oldest first):",
		"200 mw-pretrain/debug: expected served by",
	} {
		if !strings.Contains(ex, want) {
			t.Errorf("Explain() lacks %q:\n%s", want, ex)
		}
	}
}

func TestRunFailsWithoutAnyMiss(t *testing.T) {
	// Passing but too slowly to collect 3 passes within the budget.
	srv, _ := backendServer(t, func(int) string { time.Sleep(70 * time.Millisecond); return "main" })
	cfg := PollConfig{Timeout: 150 * time.Millisecond, Interval: 100 * time.Millisecond, RequiredConsecutive: 3}
	v := Run(context.Background(), testContract(), mainCase(), edgeTarget(t, srv), newTestProber(t), cfg)
	if v.Outcome != Failed || len(v.Reasons) != 1 || !strings.Contains(v.Reasons[0], "not converged within 150ms") {
		t.Errorf("outcome %s reasons %q", v.Outcome, v.Reasons)
	}
}

func TestRunLastMissIsEvidenceEvenWhenStreakRunning(t *testing.T) {
	srv, _ := backendServer(t, func(n int) string {
		time.Sleep(40 * time.Millisecond) // 5 passes take longer than the budget
		if n == 1 {
			return "debug"
		}
		return "main"
	})
	cfg := PollConfig{Timeout: 250 * time.Millisecond, Interval: 100 * time.Millisecond, RequiredConsecutive: 5}
	v := Run(context.Background(), testContract(), mainCase(), edgeTarget(t, srv), newTestProber(t), cfg)
	if v.Outcome != Failed || v.Evidence.Request.Attempt != 1 {
		t.Fatalf("outcome %s evidence attempt %d\n%s", v.Outcome, v.Evidence.Request.Attempt, v.Explain())
	}
	if !strings.Contains(strings.Join(v.Reasons, "\n"), "attempts passed; the evidence above is the last miss (attempt 1)") {
		t.Errorf("reasons %q", v.Reasons)
	}
}

// After a correct answer the next attempt goes at once; after a miss, the
// interval passes first.
func TestRunWaitsOnlyAfterAMiss(t *testing.T) {
	srv, _ := backendServer(t, func(n int) string {
		if n == 1 {
			return "debug"
		}
		return "main"
	})
	cfg := PollConfig{Timeout: 5 * time.Second, Interval: 300 * time.Millisecond, RequiredConsecutive: 3}
	v := Run(context.Background(), testContract(), mainCase(), edgeTarget(t, srv), newTestProber(t), cfg)
	if v.Outcome != Passed || v.Attempts != 4 {
		t.Fatalf("outcome %s after %d attempts, want passed after 4", v.Outcome, v.Attempts)
	}
	// One interval (after the miss), not three.
	if v.Elapsed < 300*time.Millisecond || v.Elapsed >= 900*time.Millisecond { // three pauses would be 900ms
		t.Errorf("took %s: want one 300ms pause (after the miss) and none between the passes", v.Elapsed)
	}
}

func TestRunCachedIsInconclusiveAtOnce(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Server", pod("debug").Pod)
		w.Header().Set("X-Cache-Status", "hit-front")
	}))
	t.Cleanup(srv.Close)
	v := Run(context.Background(), testContract(), mainCase(), edgeTarget(t, srv), newTestProber(t), fastPoll())
	if v.Outcome != Inconclusive || n.Load() != 1 || v.Attempts != 1 {
		t.Errorf("outcome %s after %d requests", v.Outcome, n.Load())
	}
	if len(v.Reasons) != 1 || !strings.Contains(v.Reasons[0], "hit-front") {
		t.Errorf("reasons %q", v.Reasons)
	}
}

func TestRunNotApplicable(t *testing.T) {
	tgt := target.NewStatic("test", map[string]target.Endpoint{}, false)
	cs := mainCase()
	cs.Entry = "mesh/mw-api-int"
	v := Run(context.Background(), testContract(), cs, tgt, newTestProber(t), fastPoll())
	if v.Outcome != NotApplicable || v.Attempts != 0 {
		t.Errorf("outcome %s attempts %d", v.Outcome, v.Attempts)
	}
	if len(v.Reasons) != 1 || !strings.Contains(v.Reasons[0], `no entry "mesh/mw-api-int"`) {
		t.Errorf("reasons %q", v.Reasons)
	}
	if v.Evidence.Request.Entry != "mesh/mw-api-int" || v.Evidence.Request.Host != "test.wikipedia.org" {
		t.Errorf("evidence %+v", v.Evidence.Request)
	}
}

type brokenTarget struct{}

func (brokenTarget) Name() string { return "broken" }
func (brokenTarget) Live() bool   { return false }
func (brokenTarget) Endpoint(string) (target.Endpoint, error) {
	return target.Endpoint{}, fmt.Errorf("discover node port: cluster gone")
}

func TestRunEndpointError(t *testing.T) {
	v := Run(context.Background(), testContract(), mainCase(), brokenTarget{}, newTestProber(t), fastPoll())
	if v.Outcome != Failed || len(v.Reasons) != 1 || !strings.Contains(v.Reasons[0], "cluster gone") {
		t.Errorf("outcome %s reasons %q", v.Outcome, v.Reasons)
	}
}

func TestRunConnectionErrorsAreMisses(t *testing.T) {
	srv, _ := backendServer(t, func(int) string { return "main" })
	u, _ := url.Parse(srv.URL)
	srv.Close()
	tgt := target.NewStatic("test", map[string]target.Endpoint{"edge": {URL: u}}, false)
	cfg := fastPoll()
	cfg.Timeout = 100 * time.Millisecond
	v := Run(context.Background(), testContract(), mainCase(), tgt, newTestProber(t), cfg)
	if v.Outcome != Failed || v.Evidence.Err == "" || !strings.HasPrefix(v.Reasons[0], "request failed: ") {
		t.Errorf("outcome %s err %q reasons %q", v.Outcome, v.Evidence.Err, v.Reasons)
	}
	if v.Attempts < 2 {
		t.Errorf("attempts %d: connection errors must be retried", v.Attempts)
	}
}

func TestRunCancelIsPrompt(t *testing.T) {
	// A backend that hangs, and one that keeps answering wrong.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(hang.Close)
	wrong, _ := backendServer(t, func(int) string { return "debug" })
	for name, srv := range map[string]*httptest.Server{"hanging": hang, "wrong": wrong} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			cfg := PollConfig{Timeout: time.Minute, Interval: 20 * time.Millisecond}
			p := probe.New(probe.Options{Timeout: time.Minute})
			defer p.Close()
			start := time.Now()
			v := Run(ctx, testContract(), mainCase(), edgeTarget(t, srv), p, cfg)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Run took %v after cancel", took)
			}
			if v.Outcome != Inconclusive || !strings.Contains(v.Reasons[0], "stopped before a verdict") {
				t.Errorf("outcome %s reasons %q", v.Outcome, v.Reasons)
			}
		})
	}
}

func TestRunAllOrderAndConcurrency(t *testing.T) {
	t.Parallel() // its failing case polls out its 2s
	var inFlight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		time.Sleep(5 * time.Millisecond) // simulated service time, not synchronisation
		rel := strings.TrimPrefix(r.URL.Path, "/")
		id := pod(rel)
		w.Header().Set(identity.Header, id.HeaderValue())
	}))
	t.Cleanup(srv.Close)
	var cases []*contract.Case
	for i := range 12 {
		rel := []string{"main", "debug", "canary"}[i%3]
		cs := mainCase()
		cs.Name = fmt.Sprintf("case-%02d", i)
		cs.Request.Path = "/" + rel
		cs.Expect.ServedBy = "mw-pretrain/" + rel
		if i == 5 {
			cs.Expect.ServedBy = "mw-pretrain/jobrunner" // fails
		}
		if i == 7 {
			cs.Entry = "rest-gateway" // n/a
		}
		cases = append(cases, cs)
	}
	cfg := fastPoll()
	// Long enough that no request is abandoned on a loaded machine: an
	// abandoned one still runs on the server beside its successor.
	cfg.Timeout = 2 * time.Second
	vs := RunAll(context.Background(), testContract(), cases, edgeTarget(t, srv), newTestProber(t), cfg, 3)
	if len(vs) != len(cases) {
		t.Fatalf("%d verdicts", len(vs))
	}
	for i, v := range vs {
		if v.Case != cases[i] {
			t.Errorf("verdict %d is for %q", i, v.Case.Name)
		}
		want := Passed
		switch i {
		case 5:
			want = Failed
		case 7:
			want = NotApplicable
		}
		if v.Outcome != want {
			t.Errorf("%s: %s, want %s: %q", v.Case.Name, v.Outcome, want, v.Reasons)
		}
	}
	if p := peak.Load(); p > 3 {
		t.Errorf("peak concurrency %d, want <= 3", p)
	}
}

func TestRunAllCancelled(t *testing.T) {
	srv, _ := backendServer(t, func(int) string { return "main" })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []*contract.Case{mainCase(), mainCase(), mainCase()}
	vs := RunAll(ctx, testContract(), cases, edgeTarget(t, srv), newTestProber(t), fastPoll(), 1)
	for i, v := range vs {
		if v.Outcome == Passed || v.Case != cases[i] {
			t.Errorf("verdict %d: %s", i, v.Outcome)
		}
	}
	if vs := RunAll(ctx, nil, nil, nil, nil, fastPoll(), 4); len(vs) != 0 {
		t.Errorf("no cases: %d verdicts", len(vs))
	}
}

func TestPollConfigDefaults(t *testing.T) {
	d := DefaultPollConfig()
	if d.Timeout != 30*time.Second || d.Interval != 200*time.Millisecond || d.RequiredConsecutive != 3 || d.MaxHistory <= 0 {
		t.Errorf("defaults %+v", d)
	}
	if got := (PollConfig{}).withDefaults(); got != d {
		t.Errorf("zero config %+v, want defaults", got)
	}
}

// TestNoGoroutineLeak runs cases (passing, failing, cancelled) and checks
// the goroutine count comes back, within a bounded wait.
func TestNoGoroutineLeak(t *testing.T) {
	srv, _ := backendServer(t, func(n int) string {
		if n%2 == 0 {
			return "main"
		}
		return "debug"
	})
	tgt := edgeTarget(t, srv)
	before := runtime.NumGoroutine()
	func() {
		p := probe.New(probe.Options{Timeout: time.Second})
		defer p.Close()
		cfg := fastPoll()
		cfg.Timeout = 100 * time.Millisecond
		var wg sync.WaitGroup
		ctx, cancel := context.WithCancel(context.Background())
		for range 4 {
			wg.Go(func() { Run(ctx, testContract(), mainCase(), tgt, p, cfg) })
		}
		time.AfterFunc(30*time.Millisecond, cancel)
		wg.Wait()
		RunAll(context.Background(), testContract(), []*contract.Case{mainCase(), mainCase()}, tgt, p, cfg, 2)
	}()
	srv.CloseClientConnections()
	deadline := time.Now().Add(3 * time.Second)
	for {
		after := runtime.NumGoroutine()
		if after <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, after, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond) // bounded wait for exiting goroutines
	}
}

// screeningTarget refuses POSTs before anything is sent, like a live target.
type screeningTarget struct{ target.Target }

func (s screeningTarget) Screen(entry string, req contract.Request) error {
	switch {
	case req.Method == "POST":
		return fmt.Errorf("POST to production: %w", target.ErrNotApplicable)
	case req.Method == "DELETE":
		return fmt.Errorf("DELETE is never sent")
	}
	return nil
}

func TestRunScreener(t *testing.T) {
	srv, n := backendServer(t, func(int) string { return "main" })
	tgt := screeningTarget{edgeTarget(t, srv)}
	p := newTestProber(t)
	cs := mainCase()
	cs.Request.Method = "POST"
	if v := Run(context.Background(), testContract(), cs, tgt, p, fastPoll()); v.Outcome != NotApplicable || !strings.Contains(v.Reasons[0], "POST to production") {
		t.Errorf("screened POST: %s %q", v.Outcome, v.Reasons)
	}
	cs.Request.Method = "DELETE"
	if v := Run(context.Background(), testContract(), cs, tgt, p, fastPoll()); v.Outcome != Failed || !strings.Contains(v.Explain(), "(not sent)") {
		t.Errorf("screened DELETE: %s\n%s", v.Outcome, v.Explain())
	}
	if n.Load() != 0 {
		t.Errorf("server saw %d requests, want none", n.Load())
	}
	if v := Run(context.Background(), testContract(), mainCase(), tgt, p, fastPoll()); v.Outcome != Passed {
		t.Errorf("GET: %s %q", v.Outcome, v.Reasons)
	}
}
