package share_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/replicatest"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/share"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

func runShares(t *testing.T, tgt target.Target, o share.Options) map[string]share.Result {
	t.Helper()
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	p := probe.New(probe.Options{Timeout: 5 * time.Second})
	defer p.Close()
	out := map[string]share.Result{}
	for _, s := range c.Shares {
		out[s.Name] = share.Run(context.Background(), c, s, tgt, p, o)
	}
	return out
}

// A correct replica passes both share checks; a canary with all of the
// traffic, or none, fails both, saying so.
func TestSharesPassAndFail(t *testing.T) {
	for _, tc := range []struct {
		fault   replicatest.Fault
		outcome check.Outcome
		reason  string
	}{
		{replicatest.NoFault, check.Passed, ""},
		{replicatest.CanaryTakesAll, check.Failed, "to serve 46..117 of 240 (19.2%..48.8%) around 1/3, got 240 (100.0%)"},
		{replicatest.CanaryGetsNone, check.Failed, "to serve 46..117 of 240 (19.2%..48.8%) around 1/3, got 0 (0.0%)"},
	} {
		t.Run(string(tc.fault)+"-", func(t *testing.T) {
			r, err := replicatest.Start(tc.fault)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for name, res := range runShares(t, r.Target(), share.Options{}) {
				if res.Outcome != tc.outcome || !strings.Contains(strings.Join(res.Reasons, "; "), tc.reason) || res.Sent != 240 {
					t.Errorf("%s: %s", name, res.Explain())
				}
				if tc.fault == replicatest.NoFault && res.Canary != 80 {
					t.Errorf("%s: round-robin canary served %d of 240, want 80", name, res.Canary)
				}
			}
		})
	}
}

// limiter is a fake live rate cap.
type limiter float64

func (l limiter) Rate() float64                 { return float64(l) }
func (l limiter) Reserve(t time.Time) time.Time { return t }

// liveTarget is the replica behind a guard that counts, as a live target.
type liveTarget struct {
	target.Target
	rate   float64
	guards *atomic.Int64
}

func (l liveTarget) Live() bool { return true }

func (l liveTarget) Endpoint(entry string) (target.Endpoint, error) {
	ep, err := l.Target.Endpoint(entry)
	ep.Limiter = limiter(l.rate)
	ep.Guard = func(*http.Request) error { l.guards.Add(1); return nil }
	return ep, err
}

// On a live target every request passes the guard, and a rate cap too
// low for N requests within MaxLiveDuration makes the check n/a, unsent.
func TestSharesOnLiveTargets(t *testing.T) {
	r, err := replicatest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var guards atomic.Int64
	got := runShares(t, liveTarget{Target: r.Target(), rate: 10, guards: &guards}, share.Options{})
	if n := guards.Load(); n != 480 {
		t.Errorf("%d requests passed the guard, want 480", n)
	}
	for name, res := range got {
		if res.Outcome != check.Passed {
			t.Errorf("%s at 10/s: %s", name, res.Explain())
		}
	}
	guards.Store(0)
	got = runShares(t, liveTarget{Target: r.Target(), rate: 2, guards: &guards}, share.Options{})
	for name, res := range got {
		want := "240 requests at the live rate cap of 2/s would take 2m0s, more than the 1m0s a live share check may take: raise --rate"
		if res.Outcome != check.NotApplicable || !strings.Contains(strings.Join(res.Reasons, "; "), want) {
			t.Errorf("%s at 2/s: %s", name, res.Explain())
		}
	}
	if n := guards.Load(); n != 0 {
		t.Errorf("%d requests sent for n/a share checks", n)
	}
}
