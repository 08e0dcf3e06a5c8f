package live

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrRefused is wrapped by every refusal of the safety guard: the request
// was not sent.
var ErrRefused = errors.New("refused by the production safety guard")

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
)

// Policy is what production may receive.
type Policy struct {
	// AllowHosts are the only hosts a request may name (Host header, SNI,
	// URL host), redirects included. Compared without port, case-insensitively.
	AllowHosts []string
	// Rate is the most requests per second, 0 < Rate <= MaxRate.
	Rate float64
}

// Guard enforces a Policy on every request, in one place: a target puts
// Check in target.Endpoint.Guard (the probe calls it before sending), and
// RoundTripper wraps any other client (httpbb, a redirect-following client)
// so that every request, redirects included, passes through Check.
//
// The rules:
//   - methods: GET and HEAD without a body; POST only with an empty body to
//     RunSingleJobPath (no query); nothing else;
//   - hosts: the request's Host and URL host must be in the allow-list;
//   - User-Agent: present and descriptive, with a contact URL or e-mail;
//   - rate: requests are spaced by 1/Rate; a request whose slot falls after
//     its context's deadline is refused (at that deadline) without taking
//     the slot.
type Guard struct {
	hosts map[string]bool
	list  []string

	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

// NewGuard validates p and builds its guard.
func NewGuard(p Policy) (*Guard, error) {
	if p.Rate <= 0 || p.Rate > MaxRate {
		return nil, fmt.Errorf("build safety guard: rate %g requests/s is outside (0, %g]", p.Rate, MaxRate)
	}
	if len(p.AllowHosts) == 0 {
		return nil, errors.New("build safety guard: the host allow-list is empty")
	}
	g := &Guard{hosts: map[string]bool{}, interval: time.Duration(float64(time.Second) / p.Rate)}
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
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if err := admitMethod(strings.ToUpper(method), req.URL.RequestURI(), bodyBytes); err != nil {
		return err
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if err := g.admitHost("Host", host); err != nil {
		return err
	}
	if err := g.admitHost("URL host", req.URL.Host); err != nil {
		return err
	}
	if err := CheckUserAgent(req.Header.Get("User-Agent")); err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return g.wait(req.Context())
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
		return fmt.Errorf("%w: rate cap of one request every %s: no slot before the request's deadline",
			ErrRefused, g.interval)
	}
	g.next = slot.Add(g.interval)
	g.mu.Unlock()

	d := time.Until(slot)
	if d <= 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %v", ErrRefused, err)
		}
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting for the rate cap: %v", ErrRefused, ctx.Err())
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
