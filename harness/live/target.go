package live

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/tlsca"
)

// Options choose a vantage point and tune the target. Zero values take the
// file's defaults.
type Options struct {
	// Vantage is a vantage point of the file ("external", "internal").
	Vantage string
	// ConnectTo, "host:port", sends every request of the vantage point to
	// this address (one edge or load balancer), like httpbb's --hosts: the
	// Host header and SNI stay the case's host.
	ConnectTo string
	// CAFile is a PEM bundle trusted in addition to the system roots (a
	// private CA). Verification is always on.
	CAFile string
	// UserAgent replaces the file's; it must carry contact information.
	UserAgent string
	// Rate in requests per second; at most the file's max_rate.
	Rate float64
}

// Target is a live target at one vantage point. It implements
// target.Target (Live() true) and target.Screener.
type Target struct {
	file      *File
	vantage   *Vantage
	guard     *Guard
	tls       *tls.Config
	connectTo string
	userAgent string
	rate      float64
}

var (
	_ target.Target          = (*Target)(nil)
	_ target.Screener        = (*Target)(nil)
	_ target.FeatureDeclarer = (*Target)(nil)
)

// Features are the rollout steps production has enabled: none of T427666's
// as of DC 2026-08-21 (only the X-Wikimedia-Debug route to Pretrain is
// live, and it is no feature). A run overrides it with --features once a
// step is enabled.
func (t *Target) Features() []string { return []string{} }

// Target builds the live target at the vantage point o.Vantage.
func (f *File) Target(o Options) (*Target, error) {
	vp, ok := f.Vantages[o.Vantage]
	if !ok {
		return nil, fmt.Errorf("open live target %q: unknown vantage point %q (want %s)",
			f.Name, o.Vantage, strings.Join(f.Names(), " or "))
	}
	t := &Target{file: f, vantage: vp, userAgent: f.UserAgent, rate: f.Rate}
	if o.UserAgent != "" {
		if err := CheckUserAgent(o.UserAgent); err != nil {
			return nil, fmt.Errorf("open live target %q: --user-agent: %w", f.Name, err)
		}
		t.userAgent = o.UserAgent
	}
	if o.Rate != 0 {
		if err := CheckRate(o.Rate, f.MaxRate); err != nil {
			return nil, fmt.Errorf("open live target %q: --rate: %w", f.Name, err)
		}
		t.rate = o.Rate
	}
	if o.ConnectTo != "" {
		if err := checkHostPort(o.ConnectTo); err != nil {
			return nil, fmt.Errorf("open live target %q: connect-to: %w", f.Name, err)
		}
		t.connectTo = o.ConnectTo
	}
	cfg, err := tlsca.ClientConfig(o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("open live target %q: %w", f.Name, err)
	}
	t.tls = cfg
	g, err := NewGuard(Policy{AllowHosts: vp.AllowHosts, Rate: t.rate})
	if err != nil {
		return nil, fmt.Errorf("open live target %q: %w", f.Name, err)
	}
	t.guard = g
	return t, nil
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", s, err)
	}
	if host == "" {
		return fmt.Errorf("%q: host is empty", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not 1-65535", s, port)
	}
	return nil
}

// Name is "live/<vantage point>".
func (t *Target) Name() string { return "live/" + t.vantage.Name }

// Live is true: probes bust caches, the guard caps the rate and refuses
// unsafe requests.
func (t *Target) Live() bool { return true }

// Vantage is the vantage point's name.
func (t *Target) Vantage() string { return t.vantage.Name }

// UserAgent is the User-Agent every request must carry (give it to the
// probe).
func (t *Target) UserAgent() string { return t.userAgent }

// Rate is the request rate cap in requests per second.
func (t *Target) Rate() float64 { return t.rate }

// Guard is the target's safety guard.
func (t *Target) Guard() *Guard { return t.guard }

// ConnectTo is the --connect-to address, "" when requests go to each
// entry's own address.
func (t *Target) ConnectTo() string { return t.connectTo }

// Endpoint resolves an entry point; one the vantage point does not list
// is not applicable.
func (t *Target) Endpoint(entry string) (target.Endpoint, error) {
	spec, ok := t.vantage.Entries[entry]
	if !ok {
		return target.Endpoint{}, fmt.Errorf("live vantage point %q does not reach entry %q: %w",
			t.vantage.Name, entry, target.ErrNotApplicable)
	}
	u := *spec.URL
	addr := t.connectTo
	if addr == "" {
		addr = withPort(spec.URL)
	}
	return target.Endpoint{
		Entry:     entry,
		URL:       &u,
		ConnectTo: addr,
		TLS:       t.tls,
		Guard:     t.guard.Check,
		Limiter:   t.guard,
	}, nil
}

func withPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "443")
}

// Screen decides, before anything is sent, whether a case may go to
// production from this vantage point. It returns an error wrapping
// target.ErrNotApplicable when:
//   - the request is unsafe for production (method, body, path: see
//     Guard), or names a host outside the vantage point's allow-list;
//   - the entry's address is shared with other gateways and the case's host
//     is not one of the entry's own (the request would test another
//     gateway).
func (t *Target) Screen(entry string, req contract.Request) error {
	spec, ok := t.vantage.Entries[entry]
	if !ok {
		return &notApplicable{msg: fmt.Sprintf("live vantage point %q does not reach entry %q", t.vantage.Name, entry)}
	}
	method := req.Method
	if method == "" {
		method = "GET"
	}
	if err := t.guard.Admit(method, req.Host, pathOf(req.Path), int64(len(req.Body))); err != nil {
		return &notApplicable{msg: fmt.Sprintf("unsafe for production, not sent from vantage point %q: %v", t.vantage.Name, err), cause: err}
	}
	if err := screenHeaders(req.Headers); err != nil {
		return &notApplicable{msg: fmt.Sprintf("unsafe for production, not sent from vantage point %q: %v", t.vantage.Name, err), cause: err}
	}
	if len(spec.Hosts) > 0 && !contains(spec.Hosts, normalHost(req.Host)) {
		return &notApplicable{msg: fmt.Sprintf(
			"entry %q shares its production address with other gateways and only takes Host %s: Host %q would be routed by another gateway, not sent",
			entry, strings.Join(spec.Hosts, ", "), req.Host)}
	}
	return nil
}

// screenHeaders applies the guard's header rules to a case's headers: a
// User-Agent the case sets must carry contact details, no value may carry
// control characters.
func screenHeaders(hs []contract.Header) error {
	h := http.Header{}
	for _, kv := range hs {
		h.Add(kv.Name, kv.Value)
		if strings.EqualFold(kv.Name, "User-Agent") {
			if err := CheckUserAgent(kv.Value); err != nil {
				return fmt.Errorf("%w: %v", ErrRefused, err)
			}
		}
	}
	return checkHeaders(h)
}

func pathOf(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// notApplicable is a Screen refusal: errors.Is(err, target.ErrNotApplicable)
// holds, and the message is the reason alone.
type notApplicable struct {
	msg   string
	cause error
}

func (e *notApplicable) Error() string     { return e.msg }
func (e *notApplicable) Unwrap() error     { return e.cause }
func (e *notApplicable) Is(err error) bool { return err == target.ErrNotApplicable }
