package httpbb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/live"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/tlsca"
)

// Entry is the entry name httpbb verdicts carry.
const Entry = "httpbb"

// Options configure a run. Zero values take defaults.
type Options struct {
	// Hosts are where to connect, "host" or "host:port" (httpbb's
	// --hosts); every test runs against each. A host without a port takes
	// the base URL's port (443/80 by scheme). Empty: each base URL's own
	// host.
	Hosts []string
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string
	// UserAgent is sent unless a test sets its own; it must carry contact
	// information. Default: the built-in live target's.
	UserAgent string
	// Rate caps requests per second (default live.DefaultRate, at most
	// live.MaxRate).
	Rate float64
	// Timeout bounds one request (default probe.DefaultTimeout).
	Timeout time.Duration
	// AllowPost lets POSTs (with their json_body or form_body) reach
	// production, each still under every other rule of the guard (hosts,
	// https, headers, User-Agent, rate). Without it a POST is sent only
	// empty to RunSingleJob.php, and a suite with any other is refused
	// whole, nothing sent. The command's flag is AllowPostFlag.
	AllowPost bool
	// Preflight, when set, first sends each address's first test once,
	// bounded by it: an address without an HTTP answer makes Run return an
	// error wrapping ErrUnreachable, having run nothing.
	Preflight time.Duration
}

func (o Options) withDefaults() (Options, error) {
	if o.UserAgent == "" {
		f, err := live.Default()
		if err != nil {
			return o, fmt.Errorf("read the built-in live target: %w", err)
		}
		o.UserAgent = f.UserAgent
	}
	if err := live.CheckUserAgent(o.UserAgent); err != nil {
		return o, err
	}
	if o.Rate == 0 {
		o.Rate = live.DefaultRate
	}
	if err := live.CheckRate(o.Rate, live.MaxRate); err != nil {
		return o, err
	}
	if o.Timeout <= 0 {
		o.Timeout = probe.DefaultTimeout
	}
	for _, h := range o.Hosts {
		if err := checkHost(h); err != nil {
			return o, fmt.Errorf("--hosts %q: %w", h, err)
		}
	}
	return o, nil
}

func checkHost(h string) error {
	if h == "" {
		return errors.New("empty host")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		if strings.ContainsAny(h, ":/ ") {
			return fmt.Errorf("not host or host:port")
		}
		return nil
	}
	if host == "" {
		return errors.New("empty host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not 1-65535", port)
	}
	return nil
}

// Guard builds the safety guard for tests: the allow-list is the base
// URLs' hosts.
func Guard(tests []*Test, rate float64) (*live.Guard, error) {
	seen := map[string]bool{}
	var hosts []string
	for _, t := range tests {
		h := t.BaseURL.Hostname()
		if !seen[h] {
			seen[h] = true
			hosts = append(hosts, h)
		}
	}
	sort.Strings(hosts)
	return live.NewGuard(live.Policy{AllowHosts: hosts, Rate: rate})
}

// Screen applies the production safety rules to every test before anything
// is sent: only GET and HEAD without a body, and an empty POST to
// RunSingleJob.php; with allowPost, any POST (with its body) to an allowed
// host as well; a User-Agent set by a test must carry contact
// information. Every refusal names the test's file:line:column.
func Screen(tests []*Test, g *live.Guard, allowPost bool) error {
	var errs []error
	for _, t := range tests {
		if err := admit(g, t, allowPost); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d:%d: %s %s: %w", t.File, t.Line, t.Column, t.Method, t.URL(), err))
		}
		if t.BaseURL.Scheme != "https" {
			errs = append(errs, fmt.Errorf("%s:%d:%d: %s: %w: production is reached over https only", t.File, t.Line, t.Column, t.URL(), live.ErrRefused))
		}
		for _, h := range t.RequestHeaders {
			if !httpguts.ValidHeaderFieldName(h.Name) || !httpguts.ValidHeaderFieldValue(h.Value) || strings.ContainsAny(h.Value, "\r\n") {
				errs = append(errs, fmt.Errorf("%s:%d:%d: request header %q: %w: invalid name or control characters in the value", t.File, t.Line, t.Column, h.Name, live.ErrRefused))
			}
			if strings.EqualFold(h.Name, "User-Agent") {
				if err := live.CheckUserAgent(h.Value); err != nil {
					errs = append(errs, fmt.Errorf("%s:%d:%d: %w", t.File, t.Line, t.Column, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// ErrUnsafe wraps Run's refusal of unsafe tests (nothing was sent).
var ErrUnsafe = errors.New("unsafe for production")

// Run sends every test (to every host of o.Hosts) and judges it, in file
// order. It returns an error, having sent nothing, when an option is bad
// (wrapping nothing) or a test is unsafe for production (wrapping
// ErrUnsafe). A test that got no answer, or a wrong one, is a failed
// verdict, not an error.
func Run(ctx context.Context, tests []*Test, o Options) ([]check.Verdict, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("run httpbb: %w", err)
	}
	g, err := Guard(tests, o.Rate)
	if err != nil {
		return nil, fmt.Errorf("run httpbb: %w", err)
	}
	if err := Screen(tests, g, o.AllowPost); err != nil {
		return nil, fmt.Errorf("run httpbb: %w:\n%w", ErrUnsafe, err)
	}
	tlsCfg, err := tlsca.ClientConfig(o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("run httpbb: %w", err)
	}
	if o.Preflight > 0 {
		if err := preflight(ctx, tests, o, g, tlsCfg, o.Preflight); err != nil {
			return nil, fmt.Errorf("run httpbb: %w", err)
		}
	}
	p := probe.New(probe.Options{Timeout: o.Timeout, UserAgent: o.UserAgent})
	defer p.Close()

	hosts := o.Hosts
	if len(hosts) == 0 {
		hosts = []string{""}
	}
	var out []check.Verdict
	for _, host := range hosts {
		for _, t := range tests {
			cs := t.Case(host, len(hosts) > 1)
			if ctx.Err() != nil {
				out = append(out, check.Verdict{Case: cs, Outcome: check.Inconclusive, Started: time.Now(),
					Reasons: []string{fmt.Sprintf("not run: the run was stopped: %v", context.Cause(ctx))}})
				continue
			}
			ep := target.Endpoint{
				Entry:     Entry,
				URL:       t.BaseURL,
				ConnectTo: connectAddress(t, host),
				Guard:     checkFor(g, t, o.AllowPost),
			}
			if t.BaseURL.Scheme == "https" {
				ep.TLS = tlsCfg
			}
			start := time.Now()
			r := p.Do(ctx, ep, cs.Request)
			r.Request.Attempt = 1
			outcome, reasons := Evaluate(t, r)
			switch {
			case ctx.Err() != nil && r.Status == 0:
				// Stopped (--timeout, Ctrl-C) before an answer: says nothing
				// about the test.
				outcome, reasons = check.Inconclusive, []string{fmt.Sprintf("stopped before an answer: the run was stopped: %v", context.Cause(ctx))}
			case r.Refused:
				outcome, reasons = check.NotApplicable, []string{"unsafe for production, never sent: " + r.Err}
			case r.NoSlot:
				outcome, reasons = check.Inconclusive, []string{"not sent: the rate cap left no slot before the request's deadline: " + r.Err}
			}
			out = append(out, check.Verdict{
				Case: cs, Outcome: outcome, Reasons: reasons, Evidence: r,
				Attempts: 1, PassedAttempts: btoi(outcome == check.Passed),
				Started: start, Elapsed: time.Since(start),
			})
		}
	}
	return out, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// connectAddress is where a test connects: the --hosts host (with the base
// URL's port unless it names one) or the base URL's own host:port.
func connectAddress(t *Test, host string) string {
	port := t.BaseURL.Port()
	if port == "" {
		port = "443"
		if t.BaseURL.Scheme == "http" {
			port = "80"
		}
	}
	if host == "" {
		return net.JoinHostPort(t.BaseURL.Hostname(), port)
	}
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(host, port)
}

// Case is the synthetic contract case a test is reported as: named
// "<file>:<line> <METHOD> <url>" (plus " @ host" when several --hosts),
// with the test's request and the expectations the report can show.
func (t *Test) Case(host string, suffix bool) *contract.Case {
	name := t.Name()
	if suffix {
		name += " @ " + host
	}
	cs := &contract.Case{
		Name:  name,
		Entry: Entry,
		Request: contract.Request{
			Method: t.Method,
			Host:   t.BaseURL.Host,
			Path:   t.Path,
		},
		Expect: contract.Expectation{
			Status:       t.AssertStatus,
			AnyStatus:    t.AssertStatus == 0,
			BodyContains: t.AssertBodyContains,
		},
		Pos: contract.Position{File: t.File, Line: t.Line, Column: t.Column},
	}
	typed := false
	for _, h := range t.RequestHeaders {
		cs.Request.Headers = append(cs.Request.Headers, contract.Header{Name: h.Name, Value: h.Value})
		typed = typed || strings.EqualFold(h.Name, "Content-Type")
	}
	if t.Body != "" || t.ContentType != "" {
		// As requests: the body's type unless the test sets its own.
		cs.Request.Body = t.Body
		if !typed && t.ContentType != "" {
			cs.Request.Headers = append(cs.Request.Headers, contract.Header{Name: "Content-Type", Value: t.ContentType})
		}
	}
	for _, h := range t.AssertHeaders {
		cs.Expect.Headers = append(cs.Expect.Headers, contract.HeaderExpectation{Name: h.Name, Equals: h.Value})
	}
	for _, h := range t.AssertHeadersRegex {
		cs.Expect.Headers = append(cs.Expect.Headers, contract.HeaderExpectation{Name: h.Name, Matches: h.Pattern.String()})
	}
	for _, h := range t.AssertHeadersAbsent {
		cs.Expect.Headers = append(cs.Expect.Headers, contract.HeaderExpectation{Name: h, Absent: true})
	}
	return cs
}

// Evaluate judges a response with httpbb's assertions, reporting every
// mismatch as "expected X, got Y". Unlike a contract case, a cached answer
// is judged like any other (httpbb semantics).
func Evaluate(t *Test, r probe.Result) (check.Outcome, []string) {
	if r.Err != "" {
		return check.Failed, []string{"request failed: " + r.Err}
	}
	var reasons []string
	if t.AssertStatus != 0 && r.Status != t.AssertStatus {
		reasons = append(reasons, fmt.Sprintf("expected status %d, got %d", t.AssertStatus, r.Status))
	}
	for _, h := range t.AssertHeaders {
		vs := r.Header(h.Name)
		switch got := strings.Join(vs, ", "); {
		case len(vs) == 0:
			reasons = append(reasons, fmt.Sprintf("expected header %q = %q, got no such header", h.Name, h.Value))
		case got != h.Value:
			reasons = append(reasons, fmt.Sprintf("expected header %q = %q, got %q", h.Name, h.Value, got))
		}
	}
	for _, h := range t.AssertHeadersRegex {
		vs := r.Header(h.Name)
		switch got := strings.Join(vs, ", "); {
		case len(vs) == 0:
			reasons = append(reasons, fmt.Sprintf("expected header %q to match %q, got no such header", h.Name, h.Pattern))
		case !h.Pattern.MatchString(got):
			reasons = append(reasons, fmt.Sprintf("expected header %q to match %q, got %q", h.Name, h.Pattern, got))
		}
	}
	for _, name := range t.AssertHeadersAbsent {
		if vs := r.Header(name); len(vs) > 0 {
			reasons = append(reasons, fmt.Sprintf("expected header %q absent, got %q", name, strings.Join(vs, ", ")))
		}
	}
	if t.AssertBodyContains != "" && !strings.Contains(string(r.Body), t.AssertBodyContains) {
		reasons = append(reasons, fmt.Sprintf("expected body to contain %q, got %q", t.AssertBodyContains, excerpt(r.Body)))
	}
	if t.AssertBodyRegex != nil && !t.AssertBodyRegex.Match(r.Body) {
		reasons = append(reasons, fmt.Sprintf("expected body to match %q, got %q", t.AssertBodyRegex, excerpt(r.Body)))
	}
	if len(reasons) > 0 {
		return check.Failed, reasons
	}
	return check.Passed, nil
}

func excerpt(b []byte) string {
	r := []rune(probe.Excerpt(b))
	if len(r) > 120 {
		return string(r[:120]) + "..."
	}
	return string(r)
}
