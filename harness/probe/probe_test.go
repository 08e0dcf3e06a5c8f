package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/forward"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/stub"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

const testHost = "test.wikipedia.org"

// seen records what a test server received.
type seen struct {
	mu   sync.Mutex
	reqs []seenReq
}

type seenReq struct {
	Host, RequestURI, Method, SNI, LocalAddr string
	Header                                   http.Header
	Body                                     string
	At                                       time.Time
}

func (s *seen) add(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	sr := seenReq{Host: r.Host, RequestURI: r.RequestURI, Method: r.Method, Header: r.Header.Clone(), Body: string(b), At: time.Now()}
	if r.TLS != nil {
		sr.SNI = r.TLS.ServerName
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		sr.LocalAddr = a.String()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, sr)
}

func (s *seen) all() []seenReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenReq(nil), s.reqs...)
}

func mainPod() identity.Identity {
	return identity.Identity{Namespace: "mw-pretrain", Release: "main", DC: "eqiad", Pod: "mw-pretrain.eqiad.main-abc-def"}
}

// stubServer answers like a Pretrain stub: Server and identity headers.
func stubServer(t *testing.T, s *seen, id identity.Identity) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.add(r)
		w.Header().Set("Server", id.Pod)
		w.Header().Set(identity.Header, id.HeaderValue())
		w.Header().Set("X-Unrelated", "noise")
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello from "+id.Pod)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newProber(t *testing.T, opts Options) *Prober {
	t.Helper()
	p := New(opts)
	t.Cleanup(p.Close)
	return p
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestDoKeepsHostWhileConnectingElsewhere(t *testing.T) {
	var s seen
	srv := stubServer(t, &s, mainPod())
	addr := srv.Listener.Addr().String()
	// The URL names a host that must never be resolved; ConnectTo is dialled.
	ep := target.Endpoint{Entry: "edge", URL: mustURL(t, "http://edge.invalid:8080"), ConnectTo: addr}
	p := newProber(t, Options{})
	req := contract.Request{Method: "GET", Host: testHost, Path: "/wiki/Main_Page?a=b%20c",
		Headers: []contract.Header{{Name: "X-Wikimedia-Debug", Value: "backend=k8s-mw-pretrain"}}}

	r := p.Do(context.Background(), ep, req)

	if r.Err != "" {
		t.Fatalf("Err = %q", r.Err)
	}
	got := s.all()
	if len(got) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(got))
	}
	if got[0].Host != testHost {
		t.Errorf("server saw Host %q, want %q", got[0].Host, testHost)
	}
	if got[0].RequestURI != "/wiki/Main_Page?a=b%20c" {
		t.Errorf("server saw request URI %q, want the path verbatim", got[0].RequestURI)
	}
	if got[0].LocalAddr != addr {
		t.Errorf("server accepted on %q, want %q", got[0].LocalAddr, addr)
	}
	if got[0].Header.Get("X-Wikimedia-Debug") != "backend=k8s-mw-pretrain" {
		t.Errorf("XWD not sent: %v", got[0].Header)
	}
	if ua := got[0].Header.Get("User-Agent"); ua != DefaultUserAgent {
		t.Errorf("User-Agent %q, want %q", ua, DefaultUserAgent)
	}
	if r.Request.ConnectedTo != addr || r.Request.Host != testHost || r.Request.Entry != "edge" {
		t.Errorf("evidence request = %+v", r.Request)
	}
	if want := "http://test.wikipedia.org/wiki/Main_Page?a=b%20c"; r.Request.URL != want {
		t.Errorf("evidence URL %q, want %q", r.Request.URL, want)
	}
	if r.Status != 200 || r.ServedBy.Backend() != "mw-pretrain/main" || r.ServedBy.Source != "identity-header" {
		t.Errorf("status %d served by %+v", r.Status, r.ServedBy)
	}
	if r.Headers.Get("X-Unrelated") != "" || r.Headers.Get("Server") == "" || r.Headers.Get("Content-Type") == "" {
		t.Errorf("kept headers = %v, want deciding headers only", r.Headers)
	}
	if r.Header("X-Unrelated") == nil {
		t.Errorf("Header(X-Unrelated) lost: AllHeaders must keep every header")
	}
	if r.Latency <= 0 || r.At.IsZero() {
		t.Errorf("latency %v at %v", r.Latency, r.At)
	}
	if !strings.HasPrefix(r.BodyExcerpt, "hello from") || string(r.Body) != r.BodyExcerpt {
		t.Errorf("body %q excerpt %q", r.Body, r.BodyExcerpt)
	}
}

func TestDoUsesURLAddressWithoutConnectTo(t *testing.T) {
	var s seen
	srv := stubServer(t, &s, mainPod())
	ep := target.Endpoint{Entry: "edge", URL: mustURL(t, srv.URL+"/prefix/")}
	r := newProber(t, Options{}).Do(context.Background(), ep, contract.Request{Host: testHost, Path: "/w/api.php"})
	if r.Err != "" {
		t.Fatal(r.Err)
	}
	got := s.all()
	if got[0].RequestURI != "/prefix/w/api.php" || got[0].Method != "GET" || got[0].Host != testHost {
		t.Errorf("server saw %+v", got[0])
	}
	if r.Request.ConnectedTo != srv.Listener.Addr().String() {
		t.Errorf("ConnectedTo %q", r.Request.ConnectedTo)
	}
}

func TestDoCapturesCaseHeadersAndPostsBody(t *testing.T) {
	var s seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.add(r)
		w.Header().Set("Allow", "POST")
		w.Header().Set("X-Special", "yes")
		w.WriteHeader(http.StatusMethodNotAllowed)
	}))
	t.Cleanup(srv.Close)
	ep := target.Endpoint{Entry: "jobrunner", URL: mustURL(t, srv.URL)}
	cs := &contract.Case{Expect: contract.Expectation{Headers: []contract.HeaderExpectation{{Name: "x-special", Equals: "yes"}}}}
	req := contract.Request{Method: "post", Host: testHost, Path: "/rpc/RunSingleJob.php", Body: `{"a":1}`,
		Headers: []contract.Header{{Name: "User-Agent", Value: "mine"}}}
	r := newProber(t, Options{}).Do(context.Background(), ep, req, CaptureFor(cs))
	if r.Status != 405 || r.Headers.Get("Allow") != "POST" || r.Headers.Get("X-Special") != "yes" {
		t.Errorf("status %d headers %v", r.Status, r.Headers)
	}
	if r.ServedBy.Known() || r.ServedBy.Source != "" {
		t.Errorf("served by %+v, want nobody", r.ServedBy)
	}
	got := s.all()[0]
	if got.Method != "POST" || got.Body != `{"a":1}` || got.Header.Get("User-Agent") != "mine" {
		t.Errorf("server saw %+v", got)
	}
	if r.Request.BodyBytes != 7 || r.Request.Method != "POST" {
		t.Errorf("evidence %+v", r.Request)
	}
}

func TestDoIdentifiesFromServerHeader(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "mw-pretrain.codfw.debug-5f6-7gh")
		w.Header().Set("X-Cache-Status", "hit-front")
		// A malformed identity header falls back to Server.
		w.Header().Set(identity.Header, "garbage")
	}))
	t.Cleanup(srv.Close)
	r := newProber(t, Options{}).Do(context.Background(), target.Endpoint{URL: mustURL(t, srv.URL)}, contract.Request{Host: testHost, Path: "/"})
	if r.ServedBy.Backend() != "mw-pretrain/debug" || r.ServedBy.Source != "server-header" || r.ServedBy.DC != "codfw" {
		t.Errorf("served by %+v", r.ServedBy)
	}
	if r.CacheStatus != "hit-front" || !r.Cached() {
		t.Errorf("cache status %q cached %v", r.CacheStatus, r.Cached())
	}
}

func TestDoUnidentifiedServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "envoy")
		w.WriteHeader(404)
	}))
	t.Cleanup(srv.Close)
	r := newProber(t, Options{}).Do(context.Background(), target.Endpoint{URL: mustURL(t, srv.URL)}, contract.Request{Host: testHost, Path: "/"})
	if r.ServedBy.Known() || r.ServedBy.Pod != "envoy" || r.Status != 404 {
		t.Errorf("status %d served by %+v", r.Status, r.ServedBy)
	}
}

func TestDoDoesNotFollowRedirects(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	r := newProber(t, Options{}).Do(context.Background(), target.Endpoint{URL: mustURL(t, srv.URL)}, contract.Request{Host: testHost, Path: "/wiki"})
	if r.Err != "" || r.Status != 302 || r.Headers.Get("Location") != "/elsewhere" {
		t.Errorf("err %q status %d headers %v", r.Err, r.Status, r.Headers)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("server hit %d times, want 1 (no redirect following)", n)
	}
}

func TestDoTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	start := time.Now()
	r := newProber(t, Options{Timeout: 100 * time.Millisecond}).Do(context.Background(), target.Endpoint{Entry: "edge", URL: mustURL(t, srv.URL)}, contract.Request{Host: testHost, Path: "/slow"})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Do took %v with a 100ms timeout", took)
	}
	if r.Err == "" || r.Status != 0 {
		t.Fatalf("status %d err %q, want a timeout error", r.Status, r.Err)
	}
	if !strings.Contains(r.Err, "deadline exceeded") && !strings.Contains(r.Err, "timeout") {
		t.Errorf("Err = %q, want a timeout", r.Err)
	}
}

func TestDoContextCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	r := newProber(t, Options{Timeout: time.Minute}).Do(ctx, target.Endpoint{URL: mustURL(t, srv.URL)}, contract.Request{Host: testHost, Path: "/"})
	if time.Since(start) > 3*time.Second || !strings.Contains(r.Err, "canceled") {
		t.Errorf("err %q after %v", r.Err, time.Since(start))
	}
}

func TestDoConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := newProber(t, Options{}).Do(context.Background(), target.Endpoint{Entry: "edge", URL: mustURL(t, "http://"+addr)}, contract.Request{Host: testHost, Path: "/"})
	if r.Err == "" || !strings.Contains(r.Err, addr) {
		t.Errorf("err %q, want a dial error naming %s", r.Err, addr)
	}
}

func TestDoBadRequests(t *testing.T) {
	p := newProber(t, Options{})
	for name, tc := range map[string]struct {
		ep  target.Endpoint
		req contract.Request
	}{
		"no url":      {target.Endpoint{Entry: "edge"}, contract.Request{Host: testHost, Path: "/"}},
		"no host":     {target.Endpoint{URL: mustURL(t, "http://127.0.0.1:1")}, contract.Request{Path: "/"}},
		"bad path":    {target.Endpoint{URL: mustURL(t, "http://127.0.0.1:1")}, contract.Request{Host: testHost, Path: "wiki"}},
		"double path": {target.Endpoint{URL: mustURL(t, "http://127.0.0.1:1")}, contract.Request{Host: testHost, Path: "//evil.example/"}},
	} {
		if r := p.Do(context.Background(), tc.ep, tc.req); r.Err == "" {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestDoMaxBody(t *testing.T) {
	big := strings.Repeat("x", 4000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) }))
	t.Cleanup(srv.Close)
	r := newProber(t, Options{MaxBody: 1000}).Do(context.Background(), target.Endpoint{URL: mustURL(t, srv.URL)}, contract.Request{Host: testHost, Path: "/"})
	if len(r.Body) != 1000 || len(r.BodyExcerpt) != ExcerptBytes || r.Err != "" {
		t.Errorf("body %d excerpt %d err %q", len(r.Body), len(r.BodyExcerpt), r.Err)
	}
}

func TestBustCache(t *testing.T) {
	var s seen
	srv := stubServer(t, &s, mainPod())
	ep := target.Endpoint{URL: mustURL(t, srv.URL)}
	p := newProber(t, Options{BustCache: true})
	ctx := context.Background()
	r1 := p.Do(ctx, ep, contract.Request{Host: testHost, Path: "/wiki/Main_Page"})
	r2 := p.Do(ctx, ep, contract.Request{Method: "HEAD", Host: testHost, Path: "/w/index.php?title=X"})
	r3 := p.Do(ctx, ep, contract.Request{Host: testHost, Path: "/wiki/Main_Page", Headers: []contract.Header{{Name: "x-wikimedia-debug", Value: "backend=k8s-mw-pretrain"}}})
	r4 := p.Do(ctx, ep, contract.Request{Method: "POST", Host: testHost, Path: "/rpc/RunSingleJob.php"})
	got := s.all()
	if len(got) != 4 {
		t.Fatalf("server saw %d requests", len(got))
	}
	n1 := mustNonce(t, got[0].RequestURI, "/wiki/Main_Page?")
	n2 := mustNonce(t, got[1].RequestURI, "/w/index.php?title=X&")
	if n1 == n2 {
		t.Errorf("nonce reused: %q", n1)
	}
	if !strings.HasSuffix(r1.Request.URL, got[0].RequestURI) || !strings.HasSuffix(r2.Request.URL, got[1].RequestURI) {
		t.Errorf("evidence URLs %q %q do not record the nonce", r1.Request.URL, r2.Request.URL)
	}
	if got[2].RequestURI != "/wiki/Main_Page" || r3.Request.URL != "http://test.wikipedia.org/wiki/Main_Page" {
		t.Errorf("XWD request got a nonce: %q", got[2].RequestURI)
	}
	if got[3].RequestURI != "/rpc/RunSingleJob.php" || strings.Contains(r4.Request.URL, NonceParam) {
		t.Errorf("POST got a nonce: %q", got[3].RequestURI)
	}
}

func mustNonce(t *testing.T, uri, prefix string) string {
	t.Helper()
	rest, ok := strings.CutPrefix(uri, prefix+NonceParam+"=")
	if !ok || len(rest) != 16 {
		t.Fatalf("request URI %q, want %s%s=<16 hex>", uri, prefix, NonceParam)
	}
	return rest
}

func TestNoBustCacheByDefault(t *testing.T) {
	var s seen
	srv := stubServer(t, &s, mainPod())
	newProber(t, Options{}).Do(context.Background(), target.Endpoint{URL: mustURL(t, srv.URL)}, contract.Request{Host: testHost, Path: "/x"})
	if got := s.all()[0].RequestURI; got != "/x" {
		t.Errorf("request URI %q", got)
	}
}

func TestMinInterval(t *testing.T) {
	var s seen
	srv := stubServer(t, &s, mainPod())
	p := newProber(t, Options{MinInterval: 60 * time.Millisecond})
	// The guard runs right after the slot, before any network: its times
	// are the slots' (a busy machine delays arrivals, not slots).
	var mu sync.Mutex
	var slots []time.Time
	ep := target.Endpoint{URL: mustURL(t, srv.URL), Guard: func(*http.Request) error {
		mu.Lock()
		defer mu.Unlock()
		slots = append(slots, time.Now())
		return nil
	}}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { p.Do(context.Background(), ep, contract.Request{Host: testHost, Path: "/"}) })
	}
	wg.Wait()
	if got := s.all(); len(got) != 3 || len(slots) != 3 {
		t.Fatalf("%d requests, %d slots", len(got), len(slots))
	}
	if span := slots[2].Sub(slots[0]); span < 110*time.Millisecond {
		t.Errorf("3 requests within %v, want >= 120ms apart overall", span)
	}
}

func TestClose(t *testing.T) {
	var s seen
	srv := stubServer(t, &s, mainPod())
	p := New(Options{})
	ep := target.Endpoint{URL: mustURL(t, srv.URL)}
	if r := p.Do(context.Background(), ep, contract.Request{Host: testHost, Path: "/"}); r.Err != "" {
		t.Fatal(r.Err)
	}
	p.Close()
	if r := p.Do(context.Background(), ep, contract.Request{Host: testHost, Path: "/"}); !strings.Contains(r.Err, "closed") {
		t.Errorf("Do after Close: err %q", r.Err)
	}
}

// --- TLS ---------------------------------------------------------------

type testPKI struct {
	pool *x509.CertPool
	cert tls.Certificate
}

// newPKI makes a CA and a leaf certificate for hosts.
func newPKI(t *testing.T, hosts ...string) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pretrain-check test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: hosts[0]},
		DNSNames:     hosts,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{pool: pool, cert: tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}}
}

func tlsServer(t *testing.T, s *seen, pki testPKI) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.add(r)
		w.Header().Set("Server", mainPod().Pod)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestDoTLSSendsCaseHostAsSNI(t *testing.T) {
	pki := newPKI(t, testHost, "mw-pretrain-jobrunner.discovery.wmnet")
	var s seen
	srv := tlsServer(t, &s, pki)
	ep := target.Endpoint{
		Entry:     "ingress",
		URL:       mustURL(t, "https://ingress.invalid:30443"),
		ConnectTo: srv.Listener.Addr().String(),
		TLS:       &tls.Config{RootCAs: pki.pool},
	}
	p := newProber(t, Options{})
	for _, host := range []string{testHost, "mw-pretrain-jobrunner.discovery.wmnet"} {
		r := p.Do(context.Background(), ep, contract.Request{Host: host, Path: "/w/health-check.php"})
		if r.Err != "" {
			t.Fatalf("%s: %s", host, r.Err)
		}
		if want := "https://" + host + "/w/health-check.php"; r.Request.URL != want {
			t.Errorf("evidence URL %q, want %q", r.Request.URL, want)
		}
		if r.ServedBy.Backend() != "mw-pretrain/main" {
			t.Errorf("served by %+v", r.ServedBy)
		}
	}
	got := s.all()
	for i, host := range []string{testHost, "mw-pretrain-jobrunner.discovery.wmnet"} {
		if got[i].SNI != host || got[i].Host != host {
			t.Errorf("request %d: server saw SNI %q Host %q, want %q", i, got[i].SNI, got[i].Host, host)
		}
	}
}

func TestDoTLSVerifiesCaseHost(t *testing.T) {
	pki := newPKI(t, testHost)
	var s seen
	srv := tlsServer(t, &s, pki)
	ep := target.Endpoint{URL: mustURL(t, "https://"+srv.Listener.Addr().String()), TLS: &tls.Config{RootCAs: pki.pool}}
	p := newProber(t, Options{})
	r := p.Do(context.Background(), ep, contract.Request{Host: "en.wikipedia.org", Path: "/"})
	if r.Err == "" || !strings.Contains(r.Err, "certificate") {
		t.Errorf("err %q, want a certificate error for a host the certificate does not name", r.Err)
	}
	// Unknown CA.
	ep.TLS = nil
	r = p.Do(context.Background(), ep, contract.Request{Host: testHost, Path: "/"})
	if r.Err == "" || !strings.Contains(r.Err, "certificate") {
		t.Errorf("err %q, want unknown authority", r.Err)
	}
	if len(s.all()) != 0 {
		t.Errorf("requests got through unverified TLS")
	}
}

func TestDoTLSFixedServerName(t *testing.T) {
	pki := newPKI(t, "ingress.svc.eqiad.wmnet")
	var s seen
	srv := tlsServer(t, &s, pki)
	ep := target.Endpoint{URL: mustURL(t, "https://"+srv.Listener.Addr().String()),
		TLS: &tls.Config{RootCAs: pki.pool, ServerName: "ingress.svc.eqiad.wmnet"}}
	r := newProber(t, Options{}).Do(context.Background(), ep, contract.Request{Host: testHost, Path: "/"})
	if r.Err != "" {
		t.Fatal(r.Err)
	}
	if got := s.all()[0]; got.SNI != "ingress.svc.eqiad.wmnet" || got.Host != testHost {
		t.Errorf("SNI %q Host %q", got.SNI, got.Host)
	}
}

// --- forward -----------------------------------------------------------

func TestDoForwardThroughStub(t *testing.T) {
	var s seen
	// The "mesh listener" inside the pod: answers as the Pretrain main stub.
	upstream := stubServer(t, &s, mainPod())
	from := identity.Identity{Namespace: "mw-web", Release: "main", DC: "eqiad", Pod: "mw-web.eqiad.main-111-222"}
	fwd := httptest.NewServer(stub.NewForwardHandler(from, nil))
	t.Cleanup(fwd.Close)
	ep := target.Endpoint{Entry: "mesh/mw-api-int", Forward: &target.Forward{
		Endpoint: fwd.URL + "/forward",
		InPodURL: upstream.URL,
	}}
	p := newProber(t, Options{})
	req := contract.Request{Host: testHost, Path: "/w/api.php?action=query", Headers: []contract.Header{{Name: "X-Test", Value: "1"}}}
	r := p.Do(context.Background(), ep, req)
	if r.Err != "" {
		t.Fatal(r.Err)
	}
	if r.Status != 200 || r.ServedBy.Backend() != "mw-pretrain/main" || r.BodyExcerpt != "hello from "+mainPod().Pod {
		t.Errorf("status %d served by %+v body %q", r.Status, r.ServedBy, r.BodyExcerpt)
	}
	if r.Request.Via != fwd.URL+"/forward" || r.Request.ConnectedTo != upstream.Listener.Addr().String() {
		t.Errorf("evidence %+v", r.Request)
	}
	if r.Request.URL != "http://test.wikipedia.org/w/api.php?action=query" {
		t.Errorf("evidence URL %q", r.Request.URL)
	}
	got := s.all()
	if len(got) != 1 || got[0].Host != testHost || got[0].RequestURI != "/w/api.php?action=query" || got[0].Header.Get("X-Test") != "1" {
		t.Errorf("upstream saw %+v", got)
	}
	if r.Latency <= 0 {
		t.Errorf("latency %v", r.Latency)
	}
}

// fakeForward answers the forward protocol with a canned response and
// records the request.
func fakeForward(t *testing.T, status int, answer any, got *forward.Request) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("forward called with %s %s", r.Method, r.Header.Get("Content-Type"))
		}
		if err := json.NewDecoder(r.Body).Decode(got); err != nil {
			t.Errorf("decode forward request: %v", err)
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDoForwardProtocol(t *testing.T) {
	var got forward.Request
	srv := fakeForward(t, 200, map[string]any{
		"status":    404,
		"headers":   map[string][]string{"Server": {"mw-pretrain.eqiad.jobrunner-1-2"}, "X-Cache-Status": {"miss"}},
		"body":      "no route",
		"latencyMs": 12.5,
		"from":      map[string]string{"namespace": "mw-web", "release": "main"},
	}, &got)
	ep := target.Endpoint{Entry: "mesh/mw-jobrunner", Forward: &target.Forward{Endpoint: srv.URL + "/forward", InPodURL: "http://127.0.0.1:6506"}}
	r := newProber(t, Options{Timeout: 3 * time.Second, BustCache: true}).Do(context.Background(), ep,
		contract.Request{Method: "POST", Host: testHost, Path: "/rpc/RunSingleJob.php", Body: "{}"})
	if r.Err != "" {
		t.Fatal(r.Err)
	}
	if got.URL != "http://127.0.0.1:6506/rpc/RunSingleJob.php" || got.Method != "POST" || got.Host != testHost || got.Body != "{}" || got.TimeoutMs != 3000 {
		t.Errorf("forward request %+v", got)
	}
	if len(got.Headers) != 1 || got.Headers[0].Name != "User-Agent" {
		t.Errorf("forward headers %+v", got.Headers)
	}
	if r.Status != 404 || r.ServedBy.Backend() != "mw-pretrain/jobrunner" || r.Latency != 12500*time.Microsecond || r.CacheStatus != "miss" {
		t.Errorf("result status %d served %+v latency %v cache %q", r.Status, r.ServedBy, r.Latency, r.CacheStatus)
	}
	if r.Request.ConnectedTo != "127.0.0.1:6506" {
		t.Errorf("ConnectedTo %q", r.Request.ConnectedTo)
	}
}

func TestDoForwardErrors(t *testing.T) {
	ep := func(u string) target.Endpoint {
		return target.Endpoint{Entry: "mesh/mw-api-int", Forward: &target.Forward{Endpoint: u + "/forward", InPodURL: "http://127.0.0.1:6501"}}
	}
	p := newProber(t, Options{})
	req := contract.Request{Host: testHost, Path: "/w/api.php"}
	var fr forward.Request

	refused := fakeForward(t, 403, map[string]any{"error": "destination \"10.0.0.1\" is not loopback"}, &fr)
	if r := p.Do(context.Background(), ep(refused.URL), req); !strings.Contains(r.Err, "403") || !strings.Contains(r.Err, "not loopback") {
		t.Errorf("refused: err %q", r.Err)
	}
	inner := fakeForward(t, 200, map[string]any{"status": 0, "error": "dial tcp 127.0.0.1:6501: connection refused", "latencyMs": 0.3}, &fr)
	if r := p.Do(context.Background(), ep(inner.URL), req); !strings.Contains(r.Err, "connection refused") || r.Status != 0 {
		t.Errorf("inner failure: status %d err %q", r.Status, r.Err)
	}
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>") }))
	t.Cleanup(garbage.Close)
	if r := p.Do(context.Background(), ep(garbage.URL), req); !strings.Contains(r.Err, "decode forward answer") {
		t.Errorf("garbage: err %q", r.Err)
	}
	bad := target.Endpoint{Forward: &target.Forward{Endpoint: garbage.URL, InPodURL: "not a url"}}
	if r := p.Do(context.Background(), bad, req); r.Err == "" {
		t.Errorf("bad in-pod URL accepted")
	}
}

func TestCached(t *testing.T) {
	for status, want := range map[string]bool{
		"": false, "miss": false, "pass": false, "int-front": false, "int-local": false,
		"hit-front": true, "hit-local": true, "something-new": true,
	} {
		if got := (Result{CacheStatus: status}).Cached(); got != want {
			t.Errorf("Cached() with X-Cache-Status %q = %v, want %v", status, got, want)
		}
	}
}

func TestDoGuard(t *testing.T) {
	var s seen
	srv := stubServer(t, &s, mainPod())
	var guarded []string
	ep := target.Endpoint{Entry: "edge", URL: mustURL(t, "http://edge.invalid"), ConnectTo: srv.Listener.Addr().String(),
		Guard: func(r *http.Request) error {
			guarded = append(guarded, r.Method+" "+r.Host+" "+r.URL.Host+" "+r.URL.RequestURI()+" "+r.Header.Get("User-Agent"))
			if r.Method != http.MethodGet {
				return errors.New("only GET")
			}
			return nil
		}}
	p := newProber(t, Options{BustCache: true, UserAgent: "ua"})
	ok := p.Do(context.Background(), ep, contract.Request{Host: testHost, Path: "/wiki/X"})
	refused := p.Do(context.Background(), ep, contract.Request{Method: "POST", Host: testHost, Path: "/rpc/RunSingleJob.php"})
	if ok.Err != "" || !strings.Contains(refused.Err, "only GET") || refused.Status != 0 {
		t.Errorf("ok err %q; refused err %q status %d", ok.Err, refused.Err, refused.Status)
	}
	if got := s.all(); len(got) != 1 {
		t.Errorf("server saw %d requests, want only the admitted one", len(got))
	}
	// The guard sees the final request: case host everywhere, nonce added, UA set.
	if len(guarded) != 2 || !strings.HasPrefix(guarded[0], "GET test.wikipedia.org test.wikipedia.org /wiki/X?"+NonceParam+"=") || !strings.HasSuffix(guarded[0], " ua") {
		t.Errorf("guard saw %q", guarded)
	}
}

// --- builder ---------------------------------------------------------------

func TestBuilder(t *testing.T) {
	direct := target.Endpoint{Entry: "edge", URL: mustURL(t, "https://edge.invalid/base/")}
	req := contract.Request{Method: "get", Host: testHost, Path: "/wiki/X?a=1", Headers: []contract.Header{{Name: "X-A", Value: "1"}, {Name: "X-A", Value: "2"}}}
	b, err := NewBuilder(direct, req, Options{BustCache: true, UserAgent: "ua"})
	if err != nil {
		t.Fatal(err)
	}
	o1, err := b.Next()
	if err != nil {
		t.Fatal(err)
	}
	o2, _ := b.Next()
	if o1.Method != "GET" || !strings.HasPrefix(o1.URL, "https://test.wikipedia.org/base/wiki/X?a=1&"+NonceParam+"=") || o1.URL == o2.URL {
		t.Errorf("expected GET with a new nonce each time, got %s %s then %s", o1.Method, o1.URL, o2.URL)
	}
	if o1.Host != testHost || !reflect.DeepEqual(o1.Header, http.Header{"X-A": {"1", "2"}, "User-Agent": {"ua"}}) || o1.Forward != nil {
		t.Errorf("Host %q headers %v forward %v", o1.Host, o1.Header, o1.Forward)
	}
	if o1.Wire.Method != "GET" || o1.Wire.URL != o1.URL || o1.Wire.Body != nil || b.URL() != "https://test.wikipedia.org/base/wiki/X?a=1" {
		t.Errorf("wire %+v, URL %s", o1.Wire, b.URL())
	}
	hreq, err := o1.NewHTTPRequest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if hreq.URL.Host != testHost || hreq.Host != testHost || hreq.URL.RequestURI() != strings.TrimPrefix(o1.URL, "https://"+testHost) {
		t.Errorf("http request %s Host %q URI %q", hreq.URL, hreq.Host, hreq.URL.RequestURI())
	}

	// A forward: the case's request is the in-pod one; the wire is the POST.
	fwd := target.Endpoint{Entry: "mesh/mw-api-int", Forward: &target.Forward{Endpoint: "http://127.0.0.1:30806/forward", InPodURL: "http://127.0.0.1:6501"}}
	post := contract.Request{Method: "POST", Host: testHost, Path: "/w/api.php", Body: "a=b", Headers: []contract.Header{{Name: XWDHeader, Value: "1"}}}
	b, err = NewBuilder(fwd, post, Options{BustCache: true, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	o, err := b.Next()
	if err != nil {
		t.Fatal(err)
	}
	want := forward.Request{URL: "http://127.0.0.1:6501/w/api.php", Method: "POST", Host: testHost, Body: "a=b", TimeoutMs: 30000,
		Headers: []forward.Header{{Name: XWDHeader, Value: "1"}, {Name: "User-Agent", Value: DefaultUserAgent}}}
	if o.Forward == nil || !reflect.DeepEqual(*o.Forward, want) || o.URL != "http://test.wikipedia.org/w/api.php" || !b.Forwarded() {
		t.Errorf("forward %+v URL %s", o.Forward, o.URL)
	}
	payload, _ := want.Encode()
	if o.Wire.Method != "POST" || o.Wire.URL != fwd.Forward.Endpoint || string(o.Wire.Body) != string(payload) ||
		o.Wire.Header.Get("Content-Type") != forward.ContentType || o.Wire.Header.Get("User-Agent") != DefaultUserAgent {
		t.Errorf("wire %+v", o.Wire)
	}

	for _, tc := range []struct {
		ep   target.Endpoint
		req  contract.Request
		want string
	}{
		{target.Endpoint{Entry: "e"}, contract.Request{Host: testHost}, `probe entry "e": endpoint has no URL`},
		{direct, contract.Request{Path: "/"}, `probe entry "edge": request has no host`},
		{direct, contract.Request{Host: testHost, Path: "wiki"}, `path "wiki" does not start with /`},
		{target.Endpoint{Entry: "e", URL: mustURL(t, "http://e.invalid")}, contract.Request{Host: testHost, Path: "//x"}, `path "//x" starts with //`},
		{target.Endpoint{Entry: "m", Forward: &target.Forward{Endpoint: "http://127.0.0.1/forward", InPodURL: "6501"}}, contract.Request{Host: testHost},
			`probe entry "m": in-pod URL "6501" is not an absolute URL`},
	} {
		if _, err := NewBuilder(tc.ep, tc.req, Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("expected %q, got %v", tc.want, err)
		}
	}
}

// FreshConnections: every request on a new connection (a witness after a
// rollout); by default a kept connection serves the next request.
func TestFreshConnectionsOpenOnePerRequest(t *testing.T) {
	for _, fresh := range []bool{false, true} {
		var conns atomic.Int32
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		ep := target.Endpoint{Entry: "edge", URL: mustURL(t, srv.URL)}
		p := newProber(t, Options{FreshConnections: fresh})
		for range 3 {
			if r := p.Do(context.Background(), ep, contract.Request{Method: "GET", Host: testHost, Path: "/"}); r.Err != "" {
				t.Fatal(r.Err)
			}
		}
		srv.Close()
		want := int32(1)
		if fresh {
			want = 3
		}
		if got := conns.Load(); got != want {
			t.Errorf("FreshConnections %t: %d connections for 3 requests, want %d", fresh, got, want)
		}
	}
}
