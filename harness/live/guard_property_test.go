package live

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// adversarialRates are rates no input may turn into a guard, and the
// edges of the valid range.
var adversarialRates = []float64{
	math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), -1, -MaxRate,
	1e-300, 1e-10, 1e300, math.MaxFloat64, -math.MaxFloat64,
	math.SmallestNonzeroFloat64, 2.2250738585072014e-308 / 2, // subnormals
	MinRate * (1 - 1e-12), MaxRate * (1 + 1e-12), MaxRate + 1,
}

// Property: whatever rate it is given, a guard is either refused or has an
// interval within [1/MaxRate, 1/MinRate]; CheckRate and NewGuard agree,
// and intervalFor never overflows, whatever its input.
func TestGuardPropertyRates(t *testing.T) {
	shortest := time.Duration(float64(time.Second) / MaxRate)
	longest := time.Duration(float64(time.Second) / MinRate)
	rng := rand.New(rand.NewPCG(12, 2025))
	rates := append([]float64{MinRate, MaxRate, DefaultRate, 1}, adversarialRates...)
	for range 500 {
		// Random bit patterns cover every exponent, sign and NaN payload.
		rates = append(rates, math.Float64frombits(rng.Uint64()), rng.Float64()*20-5)
	}
	for _, r := range rates {
		if d := intervalFor(r); d < shortest || d > longest {
			t.Errorf("intervalFor(%v) = %s, outside [%s, %s]", r, d, shortest, longest)
		}
		valid := r >= MinRate && r <= MaxRate
		g, err := NewGuard(Policy{AllowHosts: []string{"test.wikipedia.org"}, Rate: r})
		if (err == nil) != valid || (CheckRate(r, MaxRate) == nil) != valid {
			t.Errorf("rate %v: NewGuard error %v, CheckRate %v, want valid=%v", r, err, CheckRate(r, MaxRate), valid)
			continue
		}
		if g != nil && (g.Interval() < shortest || g.Interval() > longest) {
			t.Errorf("rate %v: interval %s", r, g.Interval())
		}
	}
	for _, limit := range adversarialRates {
		// A bad limit never widens the range.
		if CheckRate(MaxRate*2, limit) == nil || CheckRate(math.NaN(), limit) == nil {
			t.Errorf("CheckRate with limit %v admits a rate above %g", limit, MaxRate)
		}
	}
}

// seen is what a local counting server received.
type seen struct {
	at     time.Time
	method string
	host   string
	target string
	header http.Header
	body   int
}

// countingServer records every request it receives; /redirect?to=X
// answers a redirect to X.
func countingServer(t *testing.T) (*httptest.Server, func() []seen) {
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{time.Now(), r.Method, r.Host, r.RequestURI, r.Header.Clone(), len(b)})
		mu.Unlock()
		if r.URL.Path == "/redirect" {
			w.Header().Set("Location", r.URL.Query().Get("to"))
			w.WriteHeader(http.StatusFound)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), got...)
	}
}

// unsafe says why a request that reached the server should not have, ""
// when it is safe.
func unsafe(s seen, allowed map[string]bool) string {
	path, query, _ := strings.Cut(s.target, "?")
	switch {
	case s.method == http.MethodGet || s.method == http.MethodHead:
		if s.body != 0 {
			return "a body on " + s.method
		}
	case s.method == http.MethodPost:
		if path != RunSingleJobPath || query != "" || s.body != 0 {
			return "POST other than the empty RunSingleJob probe"
		}
	default:
		return "method " + s.method
	}
	if !allowed[normalHost(s.host)] {
		return "host " + s.host
	}
	if s.header.Get("Authorization") != "" {
		return "credentials (URL user info)"
	}
	if err := CheckUserAgent(s.header.Get("User-Agent")); err != nil {
		return err.Error()
	}
	for name, vs := range s.header {
		if strings.HasPrefix(name, "X-Injected") {
			return "an injected header " + name
		}
		for _, v := range vs {
			if hasControl(v) {
				return "control characters in " + name
			}
		}
	}
	return ""
}

// Property: whatever method, host, redirect, header and body a request
// carries, nothing unsafe reaches a local counting server through the
// guard (a redirect-following client, every connection to that server as
// --connect-to does), every refusal wraps ErrRefused, and the rate cap
// holds for what is sent.
func TestGuardPropertyNothingUnsafeReachesTheServer(t *testing.T) {
	srv, received := countingServer(t)
	const rate = MaxRate
	allowHosts := []string{"test.wikipedia.org", "en.wikipedia.org"}
	allowed := map[string]bool{}
	for _, h := range allowHosts {
		allowed[h] = true
	}
	g, err := NewGuard(Policy{AllowHosts: allowHosts, Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	client, inner := connectToClient(g, srv.Listener.Addr().String())

	methods := []string{"GET", "HEAD", "POST", "get", "Get", "head", "post", "PUT", "DELETE", "PATCH",
		"OPTIONS", "TRACE", "CONNECT", "PROPFIND", "PURGE", "BAN", "M-SEARCH", "GET\x00", "G\tET", "", "GETX"}
	hosts := []string{"test.wikipedia.org", "TEST.Wikipedia.ORG", "test.wikipedia.org.", "test.wikipedia.org:443",
		"en.wikipedia.org:8443", "evil.example", "EVIL.example.", "evil.example:443", "127.0.0.1", "[::1]:443",
		"test.wikipedia.org.evil.example", "xtest.wikipedia.org", "user:pw@test.wikipedia.org", "test.wikipedia.org@evil.example",
		"test.wikipedia.org%00.evil.example"}
	paths := []string{"/", "/wiki/Main_Page", RunSingleJobPath, RunSingleJobPath + "?x=1", RunSingleJobPath + "/x",
		"/w/api.php?action=query", "/redirect?to=https://evil.example/x", "/redirect?to=http://test.wikipedia.org/x",
		"/redirect?to=//evil.example/x", "/redirect?to=https://en.wikipedia.org/landed",
		"/redirect?to=https://user:pw@test.wikipedia.org/x", "/redirect?to=https://127.0.0.1/x",
		"/redirect?to=https://test.wikipedia.org:8443/x", "/redirect?to=ftp://test.wikipedia.org/x"}
	headers := []http.Header{
		nil,
		{"X-A": {"a\r\nX-Injected: 1"}},
		{"X-A": {"a\nX-Injected: 1"}},
		{"X-A": {"a\x00b"}},
		{"X-Injected\r\nY": {"1"}},
		{"User-Agent": {"curl/8"}},
		{"User-Agent": {""}},
		{"User-Agent": {testUA + "\r\nX-Injected: 1"}},
		{"Host": {"evil.example"}},
		{"X-Wikimedia-Debug": {"backend=k8s-mw-pretrain"}},
	}
	bodies := []string{"", "", "x", `{"type":"job"}`}

	rng := rand.New(rand.NewPCG(1, 12))
	// pick favours the first safe items of a list (two times in three), so
	// that safe and unsafe requests mix in every dimension.
	pick := func(list []string, safe int) string {
		if rng.IntN(3) > 0 {
			return list[rng.IntN(safe)]
		}
		return list[rng.IntN(len(list))]
	}
	var refusals, sent int
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; i < 300 && time.Now().Before(deadline); i++ {
		method := pick(methods, 2)
		host := pick(hosts, 5)
		path := pick(paths, 3)
		body := pick(bodies, 2)
		scheme := "https"
		if rng.IntN(8) == 0 {
			scheme = "http"
		}
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
			if rng.IntN(2) == 0 {
				r = io.NopCloser(r) // a body of unknown length
			}
		}
		req, err := http.NewRequest("GET", scheme+"://test.wikipedia.org/", r)
		if err != nil {
			t.Fatal(err)
		}
		req.Method = method // odd tokens too, past NewRequest's validation
		u, err := url.Parse(scheme + "://" + host + path)
		if err != nil {
			continue // not a URL at all: nothing to send
		}
		req.URL = u
		if rng.IntN(4) == 0 {
			req.Host = hosts[rng.IntN(len(hosts))] // a Host header other than the URL's
		}
		req.Header.Set("User-Agent", testUA)
		h := headers[0]
		if rng.IntN(3) == 0 {
			h = headers[rng.IntN(len(headers))]
		}
		for k, vs := range h {
			req.Header[k] = vs
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		resp, err := client.Do(req.WithContext(ctx))
		cancel()
		if err != nil {
			if !errors.Is(err, ErrRefused) && !isTransportRefusal(err) {
				t.Errorf("%s %s (Host %q): error %v neither a guard refusal nor a client-side refusal", method, u, req.Host, err)
			}
			refusals++
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		sent++
	}
	got := received()
	for _, s := range got {
		if why := unsafe(s, allowed); why != "" {
			t.Errorf("unsafe request reached the server (%s): %s %s Host %q %v", why, s.method, s.target, s.host, s.header)
		}
	}
	if sent < 10 || refusals < 10 {
		t.Fatalf("the property needs both: %d sent, %d refused", sent, refusals)
	}
	assertRateCap(t, arrivals(got), inner.sendTimes(), rate)
	t.Logf("%d requests sent (%d received, redirects included), %d refused", sent, len(got), refusals)
}

// isTransportRefusal: net/http's own refusals of invalid requests on the
// client side (nothing was sent either; the server's log proves it).
func isTransportRefusal(err error) bool {
	msg := err.Error()
	for _, s := range []string{"invalid method", "invalid header", "unsupported protocol scheme", "invalid URL", "stopped after"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// Property: concurrent senders through one guard, probes (Check) and a
// latency attack (Reserve) together, never exceed the rate cap.
func TestGuardPropertyRateCapUnderConcurrency(t *testing.T) {
	srv, received := countingServer(t)
	const rate = MaxRate
	g, err := NewGuard(Policy{AllowHosts: []string{"test.wikipedia.org"}, Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	client, inner := connectToClient(g, srv.Listener.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, "GET", "https://test.wikipedia.org/wiki/Main_Page", nil)
				req.Header.Set("User-Agent", testUA)
				if resp, err := client.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	// A latency attack's sender: takes its slots through Reserve and sends
	// without Check, as harness/latency does.
	direct := &http.Client{Transport: inner, Timeout: 5 * time.Second}
	wg.Go(func() {
		for ctx.Err() == nil {
			slot := g.Reserve(time.Now())
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(slot)):
			}
			req, _ := http.NewRequest("GET", "https://test.wikipedia.org/attack", nil)
			req.Header.Set("User-Agent", testUA)
			if resp, err := direct.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	})
	wg.Wait()
	got := received()
	if len(got) < 10 {
		t.Fatalf("only %d requests received", len(got))
	}
	assertRateCap(t, arrivals(got), inner.sendTimes(), rate)
}

func arrivals(got []seen) []time.Time {
	out := make([]time.Time, len(got))
	for i, s := range got {
		out[i] = s.at
	}
	return out
}

func (c *countingTransport) sendTimes() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.times...)
}

// assertRateCap: at the server, no window of one second holds more than
// rate requests (+1 for the window's edges); past the guard, where it
// decides, k+1 consecutive sends span at least k-2 intervals: the slots
// are 1/rate apart, and only the wake-up jitter of a goroutine held to its
// slot (on a loaded machine, up to two intervals) moves a late sender
// closer to the next one, never the slots themselves.
func assertRateCap(t *testing.T, arrived, sent []time.Time, rate float64) {
	t.Helper()
	sortTimes(arrived)
	limit := int(math.Floor(rate)) + 1
	for i := range arrived {
		n := 0
		for j := i; j < len(arrived) && arrived[j].Sub(arrived[i]) < time.Second; j++ {
			n++
		}
		if n > limit {
			t.Fatalf("%d requests arrived within one second from %s, cap %g/s", n, arrived[i].Format(time.StampMilli), rate)
		}
	}
	sortTimes(sent)
	interval := time.Duration(float64(time.Second) / rate)
	for i := 1; i < len(sent); i++ {
		for k := 3; k <= min(i, 12); k++ {
			if d := sent[i].Sub(sent[i-k]); d < time.Duration(k-2)*interval {
				t.Fatalf("%d requests sent within %s at %s", k+1, d, sent[i].Format(time.StampMilli))
			}
		}
	}
}

func sortTimes(ts []time.Time) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
}
