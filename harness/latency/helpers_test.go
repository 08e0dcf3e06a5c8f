package latency

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/stub"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// testContract has one backend of each kind the tests need and a case per
// entry; budgets are built per test.
const testContract = `
version: 1
backends:
  - name: mw-pretrain/main
  - name: mw-pretrain/canary
  - name: mw-pretrain/jobrunner
  - name: mw-web/main
  - name: mw-pretrain/main+canary
    members: [mw-pretrain/main, mw-pretrain/canary]
entries:
  - name: ingress
  - name: jobrunner
  - name: mesh/mw-api-int
cases:
  - name: main-page
    entry: ingress
    request: {method: GET, host: test.wikipedia.org, path: /wiki/Main_Page}
    expect: {served_by: mw-pretrain/main+canary}
  - name: runsinglejob-get
    entry: jobrunner
    request: {method: GET, host: test.wikipedia.org, path: /rpc/RunSingleJob.php}
    expect: {served_by: mw-pretrain/jobrunner, status: 405}
  - name: runsinglejob-empty-post
    entry: jobrunner
    request: {method: POST, host: test.wikipedia.org, path: /rpc/RunSingleJob.php}
    expect: {served_by: mw-pretrain/jobrunner, status: 422}
  - name: mesh-api-int
    entry: mesh/mw-api-int
    request:
      method: GET
      host: test.wikipedia.org
      path: "/w/api.php?action=query"
    expect: {served_by: mw-pretrain/main+canary}
budgets:
  - name: placeholder
    case: main-page
    rate: 1
    requests: 1
    p95: 1s
    min_success: 1
`

func loadContract(t testing.TB) *contract.Contract {
	t.Helper()
	c, err := contract.Parse("test.yaml", []byte(testContract))
	if err != nil {
		t.Fatalf("parse test contract: %v", err)
	}
	return c
}

func caseNamed(t testing.TB, c *contract.Contract, name string) *contract.Case {
	t.Helper()
	cs := c.Case(name)
	if cs == nil {
		t.Fatalf("test contract has no case %q", name)
	}
	return cs
}

func stubIdentity(ns, release, role string) identity.Identity {
	return identity.Identity{
		Namespace: ns, Release: release, DC: "eqiad", Role: role,
		Pod: identity.PodName(ns, "eqiad", release, "7d9f8c6b5", "x2v4q"),
	}
}

func stubHandler(t testing.TB, cfg stub.Config) http.Handler {
	t.Helper()
	h, err := stub.NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// seen records what reached a server: Host headers and raw queries.
type seen struct {
	mu      sync.Mutex
	hosts   map[string]int
	queries []string
	n       int
}

func (s *seen) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.hosts == nil {
			s.hosts = map[string]int{}
		}
		s.hosts[r.Host]++
		s.queries = append(s.queries, r.URL.RawQuery)
		s.n++
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (s *seen) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// serve starts h on 127.0.0.1 and returns an endpoint whose URL names an
// unresolvable host: only ConnectTo makes it reachable.
func serve(t testing.TB, entry string, h http.Handler) (target.Endpoint, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewServer(s.wrap(h))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	return target.Endpoint{
		Entry:     entry,
		URL:       &url.URL{Scheme: "http", Host: "entry.invalid:8080"},
		ConnectTo: addr,
	}, s
}

// serveTLS is serve over TLS, recording the SNI of every handshake.
func serveTLS(t testing.TB, entry string, h http.Handler) (target.Endpoint, *seen, func() map[string]int) {
	t.Helper()
	s := &seen{}
	var mu sync.Mutex
	sni := map[string]int{}
	srv := httptest.NewUnstartedServer(s.wrap(h))
	srv.TLS = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		mu.Lock()
		sni[hello.ServerName]++
		mu.Unlock()
		return nil, nil
	}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "https://")
	return target.Endpoint{
			Entry:     entry,
			URL:       &url.URL{Scheme: "https", Host: "entry.invalid"},
			ConnectTo: addr,
			TLS:       &tls.Config{InsecureSkipVerify: true}, // httptest's certificate names example.com
		}, s, func() map[string]int {
			mu.Lock()
			defer mu.Unlock()
			out := map[string]int{}
			for k, v := range sni {
				out[k] = v
			}
			return out
		}
}

// alternate answers every nth request with other, the rest with main.
func alternate(main, other http.Handler, nth int) http.Handler {
	var mu sync.Mutex
	i := 0
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i++
		useOther := i%nth == 0
		mu.Unlock()
		if useOther {
			other.ServeHTTP(w, r)
			return
		}
		main.ServeHTTP(w, r)
	})
}

func budget(name, cs string, rate float64, requests int) *contract.Budget {
	return &contract.Budget{Name: name, Case: cs, Rate: rate, Requests: requests, MinSuccess: 1}
}

var quick = 50 * time.Millisecond
