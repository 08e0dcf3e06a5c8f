package check

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// throttlingServer answers the first `throttled` requests with status and
// Retry-After, then as main.
func throttlingServer(t *testing.T, throttled int, status int, retryAfter string) (*httptest.Server, *atomic.Int32) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if int(n.Add(1)) <= throttled {
			w.Header().Set("Retry-After", retryAfter)
			w.WriteHeader(status)
			return
		}
		id := pod("main")
		w.Header().Set("Server", id.Pod)
		w.Header().Set(identity.Header, id.HeaderValue())
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// A 429 or 503 with Retry-After is waited out within the poll budget and
// shows in the evidence; the case then passes after its misses.
func TestRunWaitsOutRetryAfter(t *testing.T) {
	t.Parallel() // each status waits out a second
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			srv, n := throttlingServer(t, 1, status, "1")
			start := time.Now()
			v := Run(context.Background(), testContract(), mainCase(), edgeTarget(t, srv), newTestProber(t), fastPoll())
			if v.Outcome != Passed {
				t.Fatalf("%d: outcome %s\n%s", status, v.Outcome, v.Explain())
			}
			if el := time.Since(start); el < time.Second {
				t.Errorf("%d: Retry-After 1 not waited out: passed after %s", status, el)
			}
			if n.Load() != 4 || len(v.HistoryReasons) != 1 || !strings.Contains(strings.Join(v.HistoryReasons[0], "; "), fmt.Sprintf("throttled: %d with Retry-After 1s, waited out", status)) {
				t.Errorf("%d: %d requests, history %q", status, n.Load(), v.HistoryReasons)
			}
		})
	}
}

// A Retry-After beyond what is left of the poll budget makes the case
// inconclusive at once (not failed, and not waited beyond the budget).
func TestRunRetryAfterBeyondBudgetIsInconclusive(t *testing.T) {
	srv, n := throttlingServer(t, 100, http.StatusTooManyRequests, "120")
	start := time.Now()
	v := Run(context.Background(), testContract(), mainCase(), edgeTarget(t, srv), newTestProber(t), fastPoll())
	if v.Outcome != Inconclusive || !strings.HasPrefix(v.Reasons[0], "throttled: 429 with Retry-After 2m0s, beyond the") {
		t.Fatalf("outcome %s %q", v.Outcome, v.Reasons)
	}
	if el := time.Since(start); el > time.Second || n.Load() != 1 {
		t.Errorf("took %s and %d requests, want one request and no wait", el, n.Load())
	}
	// An HTTP date works too.
	srv2, _ := throttlingServer(t, 100, http.StatusServiceUnavailable, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	v = Run(context.Background(), testContract(), mainCase(), edgeTarget(t, srv2), newTestProber(t), fastPoll())
	if v.Outcome != Inconclusive || !strings.HasPrefix(v.Reasons[0], "throttled: 503 with Retry-After") {
		t.Fatalf("HTTP date: outcome %s %q", v.Outcome, v.Reasons)
	}
}

// guardedTarget puts a guard on every endpoint of a static target.
func guardedTarget(t *testing.T, srv *httptest.Server, guard func(*http.Request) error) target.Target {
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return target.NewStatic("guarded", map[string]target.Endpoint{"edge": {URL: u, Guard: guard}}, true)
}

// A request the guard refuses as unsafe was never sent: the case is n/a,
// not failed.
func TestRunRefusedByTheGuardIsNotApplicable(t *testing.T) {
	srv, n := backendServer(t, func(int) string { return "main" })
	refuse := func(*http.Request) error { return fmt.Errorf("%w: method %q", target.ErrRefused, "PUT") }
	v := Run(context.Background(), testContract(), mainCase(), guardedTarget(t, srv, refuse), newTestProber(t), fastPoll())
	if v.Outcome != NotApplicable || n.Load() != 0 || !strings.HasPrefix(v.Reasons[0], "unsafe for production, never sent: ") {
		t.Fatalf("outcome %s, %d sent, reasons %q", v.Outcome, n.Load(), v.Reasons)
	}
}

// A case that never got a rate slot within its poll budget was never
// sent: inconclusive, not failed.
func TestRunWithoutRateSlotIsInconclusive(t *testing.T) {
	srv, n := backendServer(t, func(int) string { return "main" })
	noSlot := func(r *http.Request) error {
		<-r.Context().Done()
		return fmt.Errorf("%w: %w: no slot before the request's deadline", target.ErrRefused, target.ErrNoSlot)
	}
	cfg := fastPoll()
	cfg.Timeout = 300 * time.Millisecond
	p := probe.New(probe.Options{Timeout: 100 * time.Millisecond})
	defer p.Close()
	v := Run(context.Background(), testContract(), mainCase(), guardedTarget(t, srv, noSlot), p, cfg)
	if v.Outcome != Inconclusive || n.Load() != 0 || !strings.Contains(v.Reasons[0], "rate cap left no slot") {
		t.Fatalf("outcome %s, %d sent, reasons %q", v.Outcome, n.Load(), v.Reasons)
	}
}
