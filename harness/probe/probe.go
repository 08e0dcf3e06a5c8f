// Package probe sends one contract case's request to an entry point and
// records the evidence: what went on the wire, what came back and who
// served it.
//
// A request is addressed to the case's host (Host header, TLS SNI, the URL
// in the evidence) but connected to the entry point's address, like
// `curl --connect-to`: the case host is never looked up in DNS. Redirects
// are results, never followed. Entry points reached from inside a pod
// (target.Endpoint.Forward) are relayed through a stub's forward endpoint.
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// Defaults used when an Options field is zero.
const (
	DefaultTimeout   = 10 * time.Second
	DefaultMaxBody   = 1 << 20 // 1 MiB
	DefaultUserAgent = "pretrain-check/0 (https://gitlab.wikimedia.org/repos/sre/pretrain-check; sre)"
	// ExcerptBytes is how much of the body goes into Result.BodyExcerpt.
	ExcerptBytes = 512
	// NonceParam is the query parameter added to bust caches.
	NonceParam = "pretrain_check_nonce"
	// XWDHeader is the X-Wikimedia-Debug request header: requests carrying
	// it bypass the caches already and are never given a nonce.
	XWDHeader = "X-Wikimedia-Debug"
	// CacheStatusHeader is the edge's cache verdict header.
	CacheStatusHeader = "X-Cache-Status"
)

// DecidingHeaders are the response headers always kept in Result.Headers.
var DecidingHeaders = []string{
	"Server",
	identity.Header,
	"X-Cache",
	CacheStatusHeader,
	"X-Wikimedia-Debug-Routing",
	"Allow",
	"Location",
	"Content-Type",
	RouteHeader,
}

// RouteHeader names the route a config-driven target took (the config
// tier sets it): the evidence says which route matched, and route coverage
// counts it.
const RouteHeader = "X-Pretrain-Route"

// Options configure a Prober. Zero values take the defaults above.
type Options struct {
	// Timeout bounds one request, from dial to the end of the body.
	Timeout time.Duration
	// UserAgent is sent unless the case sets its own User-Agent.
	UserAgent string
	// MaxBody bounds how much of a body is read and kept in Result.Body.
	MaxBody int64
	// BustCache adds a unique NonceParam to GET and HEAD requests that do
	// not send X-Wikimedia-Debug (live targets: a cached answer says
	// nothing about who serves the request now).
	BustCache bool
	// MinInterval, when set, is the minimum time between the starts of two
	// requests from this Prober (a rate cap for live targets).
	MinInterval time.Duration
	// FreshConnections opens a new connection for every request: an answer
	// then says where new connections go now (after a rollout, a kept
	// connection may still reach the old pod, or the new one while new
	// connections do not yet).
	FreshConnections bool
}

// Prober sends requests. It is safe for concurrent use; Close releases its
// idle connections.
type Prober struct {
	opts Options

	mu         sync.Mutex
	transports map[transportKey]*http.Transport
	closed     bool

	rate sync.Mutex // serialises MinInterval slots
	next time.Time
}

// transportKey identifies one endpoint's connection setup: what is dialled
// and with which TLS configuration.
type transportKey struct {
	address string
	tls     *tls.Config
	forward bool
}

// New builds a Prober.
func New(opts Options) *Prober {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	return &Prober{opts: opts, transports: map[transportKey]*http.Transport{}}
}

// Close closes idle connections. The Prober must not be used afterwards.
func (p *Prober) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.transports {
		t.CloseIdleConnections()
	}
	p.transports = map[transportKey]*http.Transport{}
	p.closed = true
}

// DoOption tunes one Do call.
type DoOption func(*doConfig)

type doConfig struct {
	capture []string
}

// WithCapture keeps the named response headers in Result.Headers in
// addition to DecidingHeaders (the headers a case's expectation names).
func WithCapture(names ...string) DoOption {
	return func(c *doConfig) { c.capture = append(c.capture, names...) }
}

// CaptureFor is WithCapture for the headers a case's expectation names.
func CaptureFor(cs *contract.Case) DoOption {
	var names []string
	for _, h := range cs.Expect.Headers {
		names = append(names, h.Name)
	}
	return WithCapture(names...)
}

// Do sends req to the entry point ep and returns the evidence. It never
// returns an error: when no HTTP response came back, Result.Err says why.
func (p *Prober) Do(ctx context.Context, ep target.Endpoint, req contract.Request, opts ...DoOption) Result {
	var cfg doConfig
	for _, o := range opts {
		o(&cfg)
	}
	if err := p.wait(ctx); err != nil {
		r := Result{At: time.Now(), Request: SentRequest{Method: Method(req), Host: req.Host, Entry: ep.Entry}}
		r.Err = fmt.Sprintf("wait for rate limit: %v", err)
		return r
	}
	return p.do(ctx, ep, req, cfg)
}

// wait holds the caller until its MinInterval slot.
func (p *Prober) wait(ctx context.Context) error {
	if p.opts.MinInterval <= 0 {
		return ctx.Err()
	}
	p.rate.Lock()
	now := time.Now()
	slot := p.next
	if slot.Before(now) {
		slot = now
	}
	p.next = slot.Add(p.opts.MinInterval)
	p.rate.Unlock()
	d := time.Until(slot)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// evidence is what the request will be said to be before it is built:
// enough to report a request that could not be.
func evidence(ep target.Endpoint, req contract.Request) SentRequest {
	s := SentRequest{Method: Method(req), Host: req.Host, BodyBytes: len(req.Body), Entry: ep.Entry}
	if ep.Forward == nil {
		s.ConnectedTo = ep.Address()
		return s
	}
	s.Via = ep.Forward.Endpoint
	if in, err := url.Parse(ep.Forward.InPodURL); err == nil {
		s.ConnectedTo = in.Host
	}
	return s
}

// build is the request Do sends, and its evidence. ok is false when it
// cannot be built: r.Err says why.
func (p *Prober) build(r *Result, ep target.Endpoint, req contract.Request) (Outgoing, bool) {
	r.Request = evidence(ep, req)
	b, err := NewBuilder(ep, req, p.opts)
	if err != nil {
		r.Err = err.Error()
		return Outgoing{}, false
	}
	o, err := b.Next()
	if err != nil {
		r.Err = err.Error()
		return Outgoing{}, false
	}
	r.Request.URL = o.URL
	r.Request.Headers = o.Header.Clone()
	return o, true
}

// do builds the request, has the endpoint's guard admit it, sends it and
// records the answer: the entry point's, or for a forward the in-pod
// request's (see readForward).
func (p *Prober) do(ctx context.Context, ep target.Endpoint, req contract.Request, cfg doConfig) Result {
	r := Result{At: time.Now()}
	o, ok := p.build(&r, ep, req)
	if !ok {
		return r
	}
	tr, err := p.transport(ep)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	timeout, refused := p.opts.Timeout, "refused"
	if o.Forward != nil {
		timeout, refused = timeout+forwardSlack, "refused forward of"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hreq, err := o.NewHTTPRequest(ctx)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	if ep.Guard != nil {
		if err := ep.Guard(hreq); err != nil {
			r.Err = fmt.Sprintf("%s %s %s: %v", refused, o.Method, o.URL, err)
			r.NoSlot = errors.Is(err, target.ErrNoSlot)
			r.Refused = !r.NoSlot
			return r
		}
	}
	start := time.Now()
	resp, err := tr.RoundTrip(hreq)
	if err != nil {
		r.Latency = time.Since(start)
		if o.Forward != nil {
			r.Err = fmt.Sprintf("forward %s %s via %s: %v", o.Method, o.URL, ep.Forward.Endpoint, err)
		} else {
			r.Err = fmt.Sprintf("send %s %s to %s: %v", o.Method, o.URL, ep.Address(), err)
		}
		return r
	}
	defer resp.Body.Close()
	if o.Forward != nil {
		p.readForward(&r, resp, start, ep, o, cfg)
		return r
	}
	b, readErr := io.ReadAll(io.LimitReader(resp.Body, p.opts.MaxBody))
	r.Latency = time.Since(start)
	r.Status = resp.StatusCode
	p.fill(&r, resp.Header, b, cfg)
	if readErr != nil {
		r.Err = fmt.Sprintf("read body of %s %s: %v", o.Method, o.URL, readErr)
	}
	return r
}

// fill records the response headers, body and identity.
func (p *Prober) fill(r *Result, h http.Header, body []byte, cfg doConfig) {
	r.AllHeaders = h.Clone()
	r.Headers = http.Header{}
	for _, name := range append(append([]string(nil), DecidingHeaders...), cfg.capture...) {
		if vs := h.Values(name); len(vs) > 0 {
			r.Headers[http.CanonicalHeaderKey(name)] = append([]string(nil), vs...)
		}
	}
	if len(r.Headers) == 0 {
		r.Headers = nil
	}
	if int64(len(body)) > p.opts.MaxBody {
		body = body[:p.opts.MaxBody]
	}
	r.Body = body
	r.BodyExcerpt = Excerpt(body)
	r.CacheStatus = strings.TrimSpace(h.Get(CacheStatusHeader))
	r.ServedBy = Identify(h)
}

// Excerpt returns the first ExcerptBytes of body as text.
func Excerpt(body []byte) string {
	if len(body) > ExcerptBytes {
		body = body[:ExcerptBytes]
	}
	return strings.ToValidUTF8(string(body), "\uFFFD")
}

// Identify says who served a response: the X-Pretrain-Identity header when
// it parses, else the Server header (production pod names). An unparseable
// Server value is kept in Pod so reports can show it, with Known() false.
func Identify(h http.Header) identity.Identity {
	if v := h.Get(identity.Header); v != "" {
		if id, err := identity.ParseHeader(v); err == nil {
			return id
		}
	}
	if s := h.Get("Server"); s != "" {
		id, _ := identity.FromServer(s)
		return id
	}
	return identity.Identity{}
}

// transport returns the cached transport for an endpoint: it dials the
// endpoint's address whatever host the URL names, and verifies TLS against
// the URL host (the case host) unless the endpoint's TLS config names a
// ServerName of its own.
func (p *Prober) transport(ep target.Endpoint) (*http.Transport, error) {
	key := transportKey{address: ep.Address(), tls: ep.TLS, forward: ep.Forward != nil}
	if ep.Forward != nil {
		key.address = ep.Forward.Endpoint
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("probe: prober is closed")
	}
	if t, ok := p.transports[key]; ok {
		return t, nil
	}
	dialer := &net.Dialer{Timeout: p.opts.Timeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 nil, // never an environment proxy: we choose where to connect
		ForceAttemptHTTP2:     false,
		DisableCompression:    true, // what is recorded is what was sent
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   p.opts.Timeout,
		ResponseHeaderTimeout: p.opts.Timeout,
		DisableKeepAlives:     p.opts.FreshConnections,
	}
	if ep.Forward == nil {
		addr := ep.Address()
		t.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		}
		if ep.TLS != nil {
			t.TLSClientConfig = ep.TLS.Clone()
		}
	} else {
		t.DialContext = dialer.DialContext
	}
	p.transports[key] = t
	return t, nil
}
