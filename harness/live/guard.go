package live

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/net/http/httpguts"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// ErrRefused is wrapped by every refusal of the safety guard: the request
// was not sent. A refusal for want of a rate slot also wraps
// target.ErrNoSlot; any other refusal is a request production must not
// receive.
var ErrRefused = target.ErrRefused

// RunSingleJobPath is the only path a POST may go to against production:
// an empty POST is RunSingleJob.php's documented probe (422 "No event
// received."), it runs no job.
const RunSingleJobPath = "/rpc/RunSingleJob.php"

// Rate limits, in requests per second (Wikimedia asks every client for a
// low rate).
const (
	DefaultRate = 2.0
	// MaxRate is the ceiling no target file or flag can raise.
	MaxRate = 10.0
	// MinRate is the floor: below it the interval between two requests
	// (100 s) says the input is a mistake, not a wish for politeness.
	MinRate = 0.01
)

// CheckRate validates a rate from any input (a flag, a target file, a
// budget): a finite number within [MinRate, limit], limit itself never
// above MaxRate. NaN, infinities, zero, negative and subnormal rates are
// refused, so no interval derived from an accepted rate can overflow or be
// zero.
func CheckRate(rate, limit float64) error {
	if !(limit >= MinRate && limit <= MaxRate) { // also NaN
		limit = MaxRate
	}
	if math.IsNaN(rate) || math.IsInf(rate, 0) || !(rate >= MinRate && rate <= limit) {
		return fmt.Errorf("check rate: %v requests/s is not a number within [%g, %g]", rate, MinRate, limit)
	}
	return nil
}

// intervalFor is the time between two request slots at rate, clamped to
// [1/MaxRate, 1/MinRate] whatever rate is (NaN included): the guard never
// computes an overflowing, negative or zero interval.
func intervalFor(rate float64) time.Duration {
	const (
		shortest = time.Duration(float64(time.Second) / MaxRate)
		longest  = time.Duration(float64(time.Second) / MinRate)
	)
	if !(rate >= MinRate) { // NaN, zero, negative, tiny
		return longest
	}
	if rate > MaxRate {
		return shortest
	}
	d := time.Duration(float64(time.Second) / rate)
	return min(max(d, shortest), longest)
}

// Policy is what production may receive.
type Policy struct {
	// AllowHosts are the only hosts a request may name (Host header, SNI,
	// URL host), redirects included. Compared without port, case-insensitively.
	AllowHosts []string
	// Rate is the most requests per second, MinRate <= Rate <= MaxRate.
	Rate float64
}

// Guard enforces a Policy on every request, in one place: a target puts
// Check in target.Endpoint.Guard (the probe calls it before sending), and
// RoundTripper wraps any other client (httpbb, a redirect-following client)
// so that every request, redirects included, passes through Check.
//
// The rules:
//   - methods: GET and HEAD without a body; POST only with an empty body to
//     RunSingleJobPath (no query); nothing else (methods are case-sensitive:
//     "get" is refused);
//   - scheme: https only (redirects to http are refused), no user info;
//   - hosts: the request's Host and URL host must be in the allow-list;
//   - headers: valid names, no control characters in values (no CR/LF
//     smuggling), no trailers or transfer encodings;
//   - User-Agent: present and descriptive, with a contact URL or e-mail;
//   - rate: requests are spaced by 1/Rate; a request whose slot falls after
//     its context's deadline is refused (at that deadline) without taking
//     the slot. The same slots serve Reserve (latency attacks): one rate
//     limiter per target.
type Guard struct {
	hosts map[string]bool
	list  []string
	rate  float64

	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

var _ target.Limiter = (*Guard)(nil)

// NewGuard validates p and builds its guard.
func NewGuard(p Policy) (*Guard, error) {
	if err := CheckRate(p.Rate, MaxRate); err != nil {
		return nil, fmt.Errorf("build safety guard: %w", err)
	}
	if len(p.AllowHosts) == 0 {
		return nil, errors.New("build safety guard: the host allow-list is empty")
	}
	g := &Guard{hosts: map[string]bool{}, rate: p.Rate, interval: intervalFor(p.Rate)}
	for _, h := range p.AllowHosts {
		n := normalHost(h)
		if n == "" {
			return nil, fmt.Errorf("build safety guard: allow-list entry %q is not a host name", h)
		}
		if !g.hosts[n] {
			g.hosts[n] = true
			g.list = append(g.list, n)
		}
	}
	sort.Strings(g.list)
	return g, nil
}

// Hosts is the allow-list, sorted.
func (g *Guard) Hosts() []string { return append([]string(nil), g.list...) }

// Interval is the minimum time between two requests.
func (g *Guard) Interval() time.Duration { return g.interval }

// Rate is the most requests per second (target.Limiter).
func (g *Guard) Rate() float64 { return g.rate }

// Reserve takes the first rate slot at or after notBefore and returns it
// (target.Limiter): a latency attack paces its requests by it, sharing the
// probes' slots, so --rate holds for everything sent to the target.
func (g *Guard) Reserve(notBefore time.Time) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	slot := g.next
	if now := time.Now(); slot.Before(now) {
		slot = now
	}
	if slot.Before(notBefore) {
		slot = notBefore
	}
	g.next = slot.Add(g.interval)
	return slot
}

// Admit applies the static rules (method, path, body, host) to a request
// not yet built; pathAndQuery is the request target ("/w/api.php?x=1").
// The error wraps ErrRefused.
func (g *Guard) Admit(method, host, pathAndQuery string, bodyBytes int64) error {
	if err := admitMethod(strings.ToUpper(method), pathAndQuery, bodyBytes); err != nil {
		return err
	}
	return g.admitHost("Host", host)
}

// AllowsHost reports whether host (port ignored) is in the allow-list.
func (g *Guard) AllowsHost(host string) bool { return g.hosts[normalHost(host)] }

func admitMethod(method, pathAndQuery string, bodyBytes int64) error {
	switch method {
	case http.MethodGet, http.MethodHead:
		if bodyBytes != 0 {
			return fmt.Errorf("%w: %s with a body (%d bytes)", ErrRefused, method, bodyBytes)
		}
		return nil
	case http.MethodPost:
		if pathAndQuery != RunSingleJobPath {
			return fmt.Errorf("%w: POST to %q: POST is only allowed, with an empty body, to %s (its 422 probe)",
				ErrRefused, pathAndQuery, RunSingleJobPath)
		}
		if bodyBytes != 0 {
			return fmt.Errorf("%w: POST to %s with a body (%d bytes): only the empty-body probe is allowed",
				ErrRefused, RunSingleJobPath, bodyBytes)
		}
		return nil
	default:
		return fmt.Errorf("%w: method %q (only GET, HEAD, and POST with an empty body to %s)",
			ErrRefused, method, RunSingleJobPath)
	}
}

func (g *Guard) admitHost(what, host string) error {
	if g.AllowsHost(host) {
		return nil
	}
	return fmt.Errorf("%w: %s %q is not in the allow-list (%s)", ErrRefused, what, host, strings.Join(g.list, ", "))
}

// Check applies every rule to a request about to be sent, waiting for its
// rate slot. The error wraps ErrRefused.
func (g *Guard) Check(req *http.Request) error {
	if req == nil || req.URL == nil {
		return fmt.Errorf("%w: no request", ErrRefused)
	}
	bodyBytes := req.ContentLength
	if bodyBytes == 0 && req.Body != nil && req.Body != http.NoBody {
		bodyBytes = -1 // a body of unknown length
	}
	if bodyBytes < 0 {
		return fmt.Errorf("%w: %s with a body of unknown length", ErrRefused, req.Method)
	}
	if len(req.TransferEncoding) > 0 || len(req.Trailer) > 0 {
		return fmt.Errorf("%w: %s with a transfer encoding or trailers", ErrRefused, req.Method)
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	// Exact: "get" is another method to a server, and odd tokens are
	// refused here, not normalised.
	if err := admitMethod(method, req.URL.RequestURI(), bodyBytes); err != nil {
		return err
	}
	if req.URL.Scheme != "https" {
		return fmt.Errorf("%w: scheme %q: production is reached over https only", ErrRefused, req.URL.Scheme)
	}
	if req.URL.User != nil {
		return fmt.Errorf("%w: URL with user info", ErrRefused)
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !httpguts.ValidHostHeader(host) {
		return fmt.Errorf("%w: Host %q is not a valid Host header", ErrRefused, host)
	}
	if err := g.admitHost("Host", host); err != nil {
		return err
	}
	if err := g.admitHost("URL host", req.URL.Host); err != nil {
		return err
	}
	if err := checkHeaders(req.Header); err != nil {
		return err
	}
	if err := CheckUserAgent(req.Header.Get("User-Agent")); err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return g.wait(req.Context())
}

// checkHeaders refuses header names that are not tokens and values with
// control characters (CR/LF would smuggle headers or requests), and a Host
// header set among the others.
func checkHeaders(h http.Header) error {
	for name, values := range h {
		if !httpguts.ValidHeaderFieldName(name) {
			return fmt.Errorf("%w: header name %q is not a token", ErrRefused, name)
		}
		if strings.EqualFold(name, "Host") {
			return fmt.Errorf("%w: a Host header among the headers", ErrRefused)
		}
		for _, v := range values {
			if !httpguts.ValidHeaderFieldValue(v) || hasControl(v) {
				return fmt.Errorf("%w: header %s: value %q has control characters", ErrRefused, name, v)
			}
		}
	}
	return nil
}

// hasControl reports a control character other than horizontal tab.
func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }) >= 0
}

// wait holds the caller until its rate slot; a slot after ctx's deadline
// is refused at once (and not taken).
func (g *Guard) wait(ctx context.Context) error {
	g.mu.Lock()
	now := time.Now()
	slot := g.next
	if slot.Before(now) {
		slot = now
	}
	if dl, ok := ctx.Deadline(); ok && slot.After(dl) {
		// No slot before the deadline: the slot is not taken, and the
		// caller is held until its deadline, as if the request had been
		// slow (a poll loop then drops the attempt as cut short by its
		// budget instead of reporting the rate cap as the evidence).
		g.mu.Unlock()
		<-ctx.Done()
		return fmt.Errorf("%w: %w: rate cap of one request every %s: no slot before the request's deadline",
			ErrRefused, target.ErrNoSlot, g.interval)
	}
	g.next = slot.Add(g.interval)
	g.mu.Unlock()

	d := time.Until(slot)
	if d <= 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w: %v", ErrRefused, target.ErrNoSlot, err)
		}
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("%w: %w: waiting for the rate cap: %v", ErrRefused, target.ErrNoSlot, ctx.Err())
	case <-t.C:
		return nil
	}
}

// RoundTripper wraps next so that every request goes through Check first;
// a refused request never reaches next. A client following redirects with
// it sends each redirect through Check too.
func (g *Guard) RoundTripper(next http.RoundTripper) http.RoundTripper {
	return guardedTransport{g: g, next: next}
}

type guardedTransport struct {
	g    *Guard
	next http.RoundTripper
}

func (t guardedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.g.Check(req); err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTripper contract: always close the body
		}
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// CheckUserAgent enforces Wikimedia's User-Agent policy: a descriptive
// agent with contact information (a URL or an e-mail address).
func CheckUserAgent(ua string) error {
	if hasControl(ua) || !httpguts.ValidHeaderFieldValue(ua) {
		return fmt.Errorf("User-Agent %q has control characters", ua)
	}
	ua = strings.TrimSpace(ua)
	if ua == "" {
		return errors.New("no User-Agent: Wikimedia's User-Agent policy asks for a descriptive one with contact information")
	}
	if !strings.Contains(ua, "https://") && !strings.Contains(ua, "http://") && !strings.Contains(ua, "@") {
		return fmt.Errorf("User-Agent %q has no contact URL or e-mail address (Wikimedia's User-Agent policy)", ua)
	}
	return nil
}

// normalHost lowercases a host name and drops a port and a trailing dot;
// "" when it is not a plausible host name.
func normalHost(h string) string {
	h = strings.TrimSpace(strings.ToLower(h))
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" || strings.ContainsAny(h, "/ @?#*") {
		return ""
	}
	return h
}
