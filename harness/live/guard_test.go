package live

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testUA = "pretrain-check-test/1 (https://example.org/contact)"

func newTestGuard(t *testing.T, rate float64) *Guard {
	t.Helper()
	g, err := NewGuard(Policy{AllowHosts: []string{"test.wikipedia.org", "EN.wikipedia.org."}, Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestNewGuardRefusesBadPolicies(t *testing.T) {
	for _, p := range []Policy{
		{AllowHosts: []string{"a.org"}, Rate: 0},
		{AllowHosts: []string{"a.org"}, Rate: MaxRate + 1},
		{AllowHosts: nil, Rate: 1},
		{AllowHosts: []string{"a.org/x"}, Rate: 1},
	} {
		if _, err := NewGuard(p); err == nil {
			t.Errorf("NewGuard(%+v): no error", p)
		}
	}
}

func TestAdmit(t *testing.T) {
	g := newTestGuard(t, MaxRate)
	ok := []struct {
		method, host, path string
		body               int64
	}{
		{"GET", "test.wikipedia.org", "/wiki/Main_Page", 0},
		{"get", "Test.Wikipedia.Org", "/w/api.php?action=query", 0},
		{"HEAD", "en.wikipedia.org", "/", 0},
		{"GET", "test.wikipedia.org:443", "/", 0},
		{"POST", "test.wikipedia.org", "/rpc/RunSingleJob.php", 0},
	}
	for _, c := range ok {
		if err := g.Admit(c.method, c.host, c.path, c.body); err != nil {
			t.Errorf("Admit(%s %s%s, %d bytes): %v", c.method, c.host, c.path, c.body, err)
		}
	}
	refused := []struct {
		method, host, path string
		body               int64
		want               string
	}{
		{"POST", "test.wikipedia.org", "/rpc/RunSingleJob.php", 12, "only the empty-body probe"},
		{"POST", "test.wikipedia.org", "/w/api.php", 0, `POST to "/w/api.php"`},
		{"POST", "test.wikipedia.org", "/rpc/RunSingleJob.php?x=1", 0, "POST to"},
		{"POST", "test.wikipedia.org", "/rpc/RunSingleJob.php/extra", 0, "POST to"},
		{"POST", "test.wikipedia.org", "/w/health-check.php", 0, "POST to"},
		{"PUT", "test.wikipedia.org", "/wiki/X", 0, `method "PUT"`},
		{"DELETE", "test.wikipedia.org", "/wiki/X", 0, `method "DELETE"`},
		{"PATCH", "test.wikipedia.org", "/wiki/X", 0, `method "PATCH"`},
		{"OPTIONS", "test.wikipedia.org", "/", 0, `method "OPTIONS"`},
		{"GET", "test.wikipedia.org", "/", 3, "GET with a body"},
		{"GET", "de.wikipedia.org", "/", 0, `Host "de.wikipedia.org" is not in the allow-list (en.wikipedia.org, test.wikipedia.org)`},
		{"GET", "test.wikipedia.org.evil", "/", 0, "not in the allow-list"},
		{"GET", "xtest.wikipedia.org", "/", 0, "not in the allow-list"},
	}
	for _, c := range refused {
		err := g.Admit(c.method, c.host, c.path, c.body)
		if err == nil {
			t.Errorf("Admit(%s %s%s, %d bytes): admitted", c.method, c.host, c.path, c.body)
			continue
		}
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Admit(%s %s%s): error %q, want ErrRefused containing %q", c.method, c.host, c.path, err, c.want)
		}
	}
}

func TestCheckUserAgent(t *testing.T) {
	for _, ua := range []string{testUA, "bot/1 (sre@example.org)", "x (http://example.org)"} {
		if err := CheckUserAgent(ua); err != nil {
			t.Errorf("CheckUserAgent(%q): %v", ua, err)
		}
	}
	for _, ua := range []string{"", "  ", "Go-http-client/1.1", "curl/8.5.0"} {
		if err := CheckUserAgent(ua); err == nil {
			t.Errorf("CheckUserAgent(%q): accepted", ua)
		}
	}
}

// countingTransport counts what reaches the network side of the guard.
type countingTransport struct {
	n    atomic.Int32
	next http.RoundTripper

	mu    sync.Mutex
	times []time.Time // when each request was handed on
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	c.mu.Lock()
	c.times = append(c.times, time.Now())
	c.mu.Unlock()
	if c.next == nil {
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	}
	return c.next.RoundTrip(r)
}

func request(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("User-Agent", testUA)
	return r
}

// Refused requests never reach the transport behind the guard.
func TestRoundTripperRefusesUnsafeRequests(t *testing.T) {
	g := newTestGuard(t, MaxRate)
	inner := &countingTransport{}
	rt := g.RoundTripper(inner)

	noUA := request(t, "GET", "https://test.wikipedia.org/", nil)
	noUA.Header.Del("User-Agent")
	badUA := request(t, "GET", "https://test.wikipedia.org/", nil)
	badUA.Header.Set("User-Agent", "Go-http-client/1.1")
	hostOff := request(t, "GET", "https://test.wikipedia.org/", nil)
	hostOff.Host = "de.wikipedia.org"
	urlOff := request(t, "GET", "https://de.wikipedia.org/", nil)
	urlOff.Host = "test.wikipedia.org"
	unknownLen := request(t, "POST", "https://test.wikipedia.org/rpc/RunSingleJob.php", io.NopCloser(strings.NewReader("{}")))
	unknownLen.ContentLength = 0 // a body whose length is not declared

	cases := map[string]*http.Request{
		"POST with body":      request(t, "POST", "https://test.wikipedia.org/rpc/RunSingleJob.php", strings.NewReader(`{"type":"x"}`)),
		"POST unknown length": unknownLen,
		"POST elsewhere":      request(t, "POST", "https://test.wikipedia.org/w/api.php", nil),
		"PUT":                 request(t, "PUT", "https://test.wikipedia.org/wiki/X", nil),
		"DELETE":              request(t, "DELETE", "https://test.wikipedia.org/wiki/X", nil),
		"Host off the list":   hostOff,
		"URL host off list":   urlOff,
		"no User-Agent":       noUA,
		"no contact in UA":    badUA,
	}
	for name, r := range cases {
		resp, err := rt.RoundTrip(r)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: sent", name)
			continue
		}
		if !errors.Is(err, ErrRefused) {
			t.Errorf("%s: error %v does not wrap ErrRefused", name, err)
		}
	}
	if n := inner.n.Load(); n != 0 {
		t.Fatalf("%d refused requests reached the transport", n)
	}

	for _, r := range []*http.Request{
		request(t, "GET", "https://test.wikipedia.org/wiki/Main_Page?pretrain_check_nonce=1", nil),
		request(t, "HEAD", "https://en.wikipedia.org/", nil),
		request(t, "POST", "https://test.wikipedia.org/rpc/RunSingleJob.php", nil),
		request(t, "POST", "https://test.wikipedia.org/rpc/RunSingleJob.php", http.NoBody),
	} {
		resp, err := rt.RoundTrip(r)
		if err != nil {
			t.Errorf("%s %s: %v", r.Method, r.URL, err)
			continue
		}
		resp.Body.Close()
	}
	if n := inner.n.Load(); n != 4 {
		t.Fatalf("%d allowed requests reached the transport, want 4", n)
	}
}

// A client following redirects through the guard never sends a request to
// a host off the allow-list (nor over http); a redirect to an allowed host
// is followed.
func TestRedirectsAreGuarded(t *testing.T) {
	var offList atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Host != "test.wikipedia.org" && r.Host != "en.wikipedia.org":
			offList.Add(1)
			w.WriteHeader(http.StatusTeapot)
		case r.URL.Path == "/away":
			http.Redirect(w, r, "https://evil.example.org/steal", http.StatusFound)
		case r.URL.Path == "/plain":
			http.Redirect(w, r, "http://en.wikipedia.org/landed", http.StatusFound)
		case r.URL.Path == "/sideways":
			http.Redirect(w, r, "https://en.wikipedia.org/landed", http.StatusMovedPermanently)
		default:
			io.WriteString(w, "ok "+r.Host+r.URL.Path)
		}
	}))
	defer srv.Close()
	g := newTestGuard(t, MaxRate)
	client, inner := connectToClient(g, srv.Listener.Addr().String())

	_, err := client.Do(request(t, "GET", "https://test.wikipedia.org/away", nil))
	if err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `"evil.example.org"`) {
		t.Fatalf("redirect to an off-list host: error %v, want a refusal naming evil.example.org", err)
	}
	_, err = client.Do(request(t, "GET", "https://test.wikipedia.org/plain", nil))
	if err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `scheme "http"`) {
		t.Fatalf("redirect to http: error %v, want a refusal of the scheme", err)
	}
	if offList.Load() != 0 || inner.n.Load() != 2 {
		t.Fatalf("off-list requests received %d, requests sent %d (want 0 and 2)", offList.Load(), inner.n.Load())
	}

	resp, err := client.Do(request(t, "GET", "https://test.wikipedia.org/sideways", nil))
	if err != nil {
		t.Fatalf("redirect to an allowed host: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok en.wikipedia.org/landed" {
		t.Fatalf("redirect to an allowed host: got %q", b)
	}
}

// connectToClient is a redirect-following client whose every connection
// goes to addr whatever the URL host, as --connect-to does (so only the
// guard stands between a request and an off-list host), trusting any
// certificate (a test server's).
func connectToClient(g *Guard, addr string) (*http.Client, *countingTransport) {
	var dialer net.Dialer
	base := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // a local test server
	}
	inner := &countingTransport{next: base}
	return &http.Client{Transport: g.RoundTripper(inner), Timeout: 5 * time.Second}, inner
}

// The rate cap spaces requests by 1/rate and refuses at once a request
// whose slot would come after its deadline.
func TestRateCap(t *testing.T) {
	g := newTestGuard(t, 10) // one request every 100ms
	rt := g.RoundTripper(&countingTransport{})
	start := time.Now()
	for i := 0; i < 4; i++ {
		resp, err := rt.RoundTrip(request(t, "GET", "https://test.wikipedia.org/", nil))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Fatalf("4 requests at 10/s took %s, want at least 300ms", el)
	}

	// One request every 200ms: right after a request, one that must be
	// sent within 30ms is refused at its deadline without taking the next
	// slot, which the following request gets (~200ms after the first, not
	// ~400ms).
	g5 := newTestGuard(t, 5)
	if err := g5.Check(request(t, "GET", "https://test.wikipedia.org/", nil)); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := g5.Check(request(t, "GET", "https://test.wikipedia.org/", nil).WithContext(ctx))
	if err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no slot before the request's deadline") {
		t.Fatalf("request beyond the rate cap: error %v, want a rate cap refusal", err)
	}
	if err := g5.Check(request(t, "GET", "https://test.wikipedia.org/", nil)); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el > 300*time.Millisecond {
		t.Fatalf("the refused request took a slot: the next request came %s later", el)
	}

	// A cancelled wait is a refusal too, and prompt.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer time.AfterFunc(20*time.Millisecond, cancel2).Stop()
	g2 := newTestGuard(t, 0.5) // one request every 2s
	if err := g2.Check(request(t, "GET", "https://test.wikipedia.org/", nil)); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	err = g2.Check(request(t, "GET", "https://test.wikipedia.org/", nil).WithContext(ctx2))
	if err == nil || !errors.Is(err, ErrRefused) {
		t.Fatalf("cancelled wait: error %v", err)
	}
	if el := time.Since(t1); el > time.Second {
		t.Fatalf("cancelled wait returned after %s", el)
	}
}
