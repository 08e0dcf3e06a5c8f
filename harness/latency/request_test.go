package latency

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/fixtures"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/forward"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/stub"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// arrived is a request as a server (or a guard) saw it.
type arrived struct {
	Method, URI, Host string
	Header            http.Header
	Body              string
}

var nonceRE = regexp.MustCompile(probe.NonceParam + `=[0-9a-f]{16}`)

// normal is a with the nonce's value and vegeta's own headers
// (X-Vegeta-Attack, X-Vegeta-Seq: the only ones it adds) taken out; nonces
// is how many nonces it carried.
func (a arrived) normal() (n arrived, nonces int) {
	n = a
	nonces = len(nonceRE.FindAllString(a.URI+a.Body, -1))
	n.URI = nonceRE.ReplaceAllString(a.URI, probe.NonceParam+"=N")
	n.Body = nonceRE.ReplaceAllString(a.Body, probe.NonceParam+"=N")
	n.Header = a.Header.Clone()
	n.Header.Del("X-Vegeta-Attack")
	n.Header.Del("X-Vegeta-Seq")
	return n, nonces
}

// recorder keeps what reaches it, in order.
type recorder struct {
	mu  sync.Mutex
	got []arrived
}

func (r *recorder) add(a arrived) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, a)
}

func (r *recorder) take() []arrived {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// wrap records every request, then hands it to next (its body intact).
func (r *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.add(arrived{Method: req.Method, URI: req.RequestURI, Host: req.Host, Header: req.Header.Clone(), Body: string(body)})
		req.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, req)
	})
}

// guard records what a guard is asked to admit, without consuming it.
func (r *recorder) guard(req *http.Request) error {
	var body []byte
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			return err
		}
		body, _ = io.ReadAll(rc)
	}
	r.add(arrived{Method: req.Method, URI: req.URL.Scheme + "://" + req.URL.Host + req.URL.RequestURI(), Host: req.Host, Header: req.Header.Clone(), Body: string(body)})
	return nil
}

// TestBudgetSendsWhatTheProbeSends sends every case of the default contract
// once as a probe and once as a latency budget (one vegeta request), to a
// direct entry and through a stub's forward endpoint, with and without the
// live target's cache busting, and compares what arrived: method, URL, Host,
// headers and body, at the entry, at the in-pod listener and at the
// forward endpoint, and what the endpoint's guard was asked to admit. They
// differ only in the nonce's value and vegeta's own X-Vegeta-* headers.
func TestBudgetSendsWhatTheProbeSends(t *testing.T) {
	c, err := contract.Parse(fixtures.ContractPath, fixtures.Contract)
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	var entry, inPod, fwd, guarded recorder
	direct := httptest.NewServer(entry.wrap(ok))
	t.Cleanup(direct.Close)
	listener := httptest.NewServer(inPod.wrap(ok)) // loopback: the stub forwards to it
	t.Cleanup(listener.Close)
	stubFwd := httptest.NewServer(fwd.wrap(stub.NewForwardHandler(stubIdentity("mw-pretrain", "mesh-client", stub.RoleWeb), nil)))
	t.Cleanup(stubFwd.Close)

	const ua = "pretrain-check-test/1"
	ctx := context.Background()
	compared := 0
	for _, live := range []bool{false, true} {
		p := probe.New(probe.Options{UserAgent: ua, BustCache: live, Timeout: 5 * time.Second})
		t.Cleanup(p.Close)
		opts := Options{UserAgent: ua, Live: live, Timeout: 5 * time.Second}.withDefaults()
		for _, cs := range c.Cases {
			for _, via := range []string{"direct", "forward"} {
				ep := target.Endpoint{Entry: cs.Entry, URL: &url.URL{Scheme: "http", Host: "entry.invalid"},
					ConnectTo: direct.Listener.Addr().String(), Guard: guarded.guard}
				if via == "forward" {
					ep = target.Endpoint{Entry: cs.Entry, Guard: guarded.guard,
						Forward: &target.Forward{Endpoint: stubFwd.URL + forward.Path, InPodURL: listener.URL}}
				}
				name := cs.Name + "/" + via
				if live {
					name += "/live"
				}

				r := p.Do(ctx, ep, cs.Request)
				if r.Err != "" || r.Status != 200 {
					t.Fatalf("%s: probe: status %d, error %s", name, r.Status, r.Err)
				}
				probeSaw := [][]arrived{entry.take(), inPod.take(), fwd.take(), guarded.take()}

				a, err := newAttack(ep, cs, opts)
				if err != nil {
					t.Fatalf("%s: budget: %v", name, err)
				}
				if err := a.admit(ctx, ep.Guard, opts.Timeout); err != nil {
					t.Fatalf("%s: budget: admit: %v", name, err)
				}
				var results []*vegeta.Result
				a.run(ctx, "equal", pacer{max: 1}, 0, func(r *vegeta.Result, _ bool) { results = append(results, r) })
				if len(results) != 1 || results[0].Code != 200 || results[0].Error != "" {
					t.Fatalf("%s: budget: expected one 200, got %+v", name, results)
				}
				if via == "forward" {
					if fa, err := forward.DecodeAnswer(200, results[0].Body); err != nil || fa.Status != 200 {
						t.Fatalf("%s: budget: forward answer %+v, error %v", name, fa, err)
					}
				}
				budgetSaw := [][]arrived{entry.take(), inPod.take(), fwd.take(), guarded.take()}

				bust := live && (probe.Method(cs.Request) == "GET" || probe.Method(cs.Request) == "HEAD") &&
					!hasXWD(cs.Request)
				for i, where := range []string{"entry", "in-pod listener", "forward endpoint", "guard"} {
					ps, bs := probeSaw[i], budgetSaw[i]
					if len(ps) != len(bs) {
						t.Fatalf("%s at the %s: the probe sent %d requests, the budget %d", name, where, len(ps), len(bs))
					}
					for j := range ps {
						pn, pNonces := ps[j].normal()
						bn, bNonces := bs[j].normal()
						if !reflect.DeepEqual(pn, bn) {
							t.Errorf("%s at the %s:\nprobe  %+v\nbudget %+v", name, where, pn, bn)
						}
						if want := map[bool]int{true: 1}[bust]; pNonces != want || bNonces != want {
							t.Errorf("%s at the %s: expected %d nonce(s), the probe sent %d, the budget %d", name, where, want, pNonces, bNonces)
						}
						if pn.Header.Get("User-Agent") != ua && !hasUA(cs.Request) {
							t.Errorf("%s at the %s: User-Agent %q, want %q", name, where, pn.Header.Get("User-Agent"), ua)
						}
						compared++
					}
				}
			}
		}
	}
	if compared < 4*len(c.Cases) {
		t.Errorf("compared only %d requests for %d cases", compared, len(c.Cases))
	}
}

func hasXWD(req contract.Request) bool { return hasHeaderNamed(req, probe.XWDHeader) }
func hasUA(req contract.Request) bool  { return hasHeaderNamed(req, "User-Agent") }

func hasHeaderNamed(req contract.Request, name string) bool {
	for _, h := range req.Headers {
		if strings.EqualFold(h.Name, name) {
			return true
		}
	}
	return false
}

// TestBudgetTargetIsTheProbesRequest: the vegeta target of a budget is the
// probe builder's request for the case, field by field (the forward
// endpoint's POST for a mesh entry).
func TestBudgetTargetIsTheProbesRequest(t *testing.T) {
	c := loadContract(t)
	for _, tc := range []struct {
		cs string
		ep target.Endpoint
	}{
		{"runsinglejob-empty-post", target.Endpoint{Entry: "jobrunner", URL: &url.URL{Scheme: "https", Host: "jobrunner.invalid", Path: "/prefix/"}}},
		{"mesh-api-int", target.Endpoint{Entry: "mesh/mw-api-int", Forward: &target.Forward{Endpoint: "http://127.0.0.1:1/forward", InPodURL: "http://127.0.0.1:6501"}}},
	} {
		cs := caseNamed(t, c, tc.cs)
		a, err := newAttack(tc.ep, cs, Options{Timeout: 3 * time.Second}.withDefaults())
		if err != nil {
			t.Fatal(err)
		}
		var got vegeta.Target
		if err := a.targeter(&got); err != nil {
			t.Fatal(err)
		}
		b, err := probe.NewBuilder(tc.ep, cs.Request, probe.Options{Timeout: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		o, err := b.Next()
		if err != nil {
			t.Fatal(err)
		}
		want := vegeta.Target{Method: o.Wire.Method, URL: o.Wire.URL, Header: o.Wire.Header, Body: o.Wire.Body}
		if !got.Equal(&want) || !reflect.DeepEqual(got.Header, want.Header) {
			t.Errorf("%s: budget target %+v, probe request %+v", tc.cs, got, want)
		}
		if tc.ep.Forward != nil {
			var fr forward.Request
			if err := json.Unmarshal(got.Body, &fr); err != nil || fr.URL != "http://127.0.0.1:6501/w/api.php?action=query" ||
				fr.Host != "test.wikipedia.org" || fr.TimeoutMs != 3000 {
				t.Errorf("%s: forward request %+v (%v)", tc.cs, fr, err)
			}
		} else if got.URL != "https://test.wikipedia.org/prefix/rpc/RunSingleJob.php" || got.Method != "POST" {
			t.Errorf("%s: %s %s", tc.cs, got.Method, got.URL)
		}
	}
}
