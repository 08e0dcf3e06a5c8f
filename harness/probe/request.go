package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/forward"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// Builder turns one contract request into the request that goes on the
// wire to one endpoint. Prober.Do sends what it builds once; a latency
// budget (harness/latency) sends it many times, so a budget's request is
// a case's. NewBuilder checks and prepares everything once; Next makes
// each request, with a new cache-busting nonce when the options ask for
// one.
type Builder struct {
	method   string
	host     string
	scheme   string // the endpoint's, or the in-pod URL's for a forward
	inPod    string // forward: scheme://host of the in-pod listener
	endpoint string // forward: the stub's forward endpoint
	full     string // the endpoint's path prefix, the case's path and query
	header   http.Header
	fwdHdr   []forward.Header // header as the forward protocol sends it
	body     string
	bust     bool
	ua       string
	timeout  time.Duration
	fixed    *Outgoing // every request, when there is no nonce
}

// Outgoing is one request as it goes on the wire.
type Outgoing struct {
	// Method, URL, Host, Header and Body are the case's request. URL is
	// the scheme (the endpoint's, the in-pod URL's for a forward), the case
	// host, and the path and query sent: the endpoint's path prefix, the
	// case's path and query, the nonce if any. Header is the case's
	// headers plus a User-Agent unless the case sets one. Callers must not
	// modify Header.
	Method string
	URL    string
	Host   string
	Header http.Header
	Body   string
	// Forward, for an endpoint reached through a stub's forward endpoint,
	// is the forward protocol request that has the stub send the case's
	// request from inside its pod (to the in-pod listener, same path).
	Forward *forward.Request
	// Wire is what the sender puts on its own connection: the case's
	// request for a direct endpoint, the POST of Forward to the forward
	// endpoint for a forward one.
	Wire Wire

	full string // the path and query sent
}

// Wire is an HTTP request as a sender puts it on its connection.
type Wire struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
}

// NewBuilder checks req against ep and prepares its requests. opts are a
// Prober's: UserAgent (sent unless the case sets one), BustCache (a nonce
// on GET and HEAD without X-Wikimedia-Debug) and Timeout (the in-pod
// timeout a forward asks for); zero values take the defaults.
func NewBuilder(ep target.Endpoint, req contract.Request, opts Options) (*Builder, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	b := &Builder{method: Method(req), host: req.Host, body: req.Body, ua: opts.UserAgent, timeout: opts.Timeout}
	var prefix string
	if ep.Forward != nil {
		in, err := url.Parse(ep.Forward.InPodURL)
		if err != nil || in.Host == "" {
			return nil, fmt.Errorf("probe entry %q: in-pod URL %q is not an absolute URL", ep.Entry, ep.Forward.InPodURL)
		}
		if _, err := url.Parse(ep.Forward.Endpoint); err != nil || ep.Forward.Endpoint == "" {
			return nil, fmt.Errorf("probe entry %q: forward endpoint %q is not a URL", ep.Entry, ep.Forward.Endpoint)
		}
		b.scheme, b.inPod, b.endpoint, prefix = in.Scheme, in.Scheme+"://"+in.Host, ep.Forward.Endpoint, in.Path
	} else {
		if ep.URL == nil {
			return nil, fmt.Errorf("probe entry %q: endpoint has no URL", ep.Entry)
		}
		b.scheme, prefix = ep.URL.Scheme, ep.URL.Path
	}
	if req.Host == "" {
		return nil, fmt.Errorf("probe entry %q: request has no host", ep.Entry)
	}
	path := req.Path
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("build request: path %q does not start with /", path)
	}
	b.full = strings.TrimSuffix(prefix, "/") + path
	if strings.HasPrefix(b.full, "//") {
		return nil, fmt.Errorf("build request: path %q starts with //", b.full)
	}
	b.header = http.Header{}
	for _, kv := range req.Headers {
		b.header.Add(kv.Name, kv.Value)
		b.fwdHdr = append(b.fwdHdr, forward.Header(kv))
	}
	if b.header.Get("User-Agent") == "" {
		b.header.Set("User-Agent", b.ua)
		b.fwdHdr = append(b.fwdHdr, forward.Header{Name: "User-Agent", Value: b.ua})
	}
	b.bust = opts.BustCache && (b.method == http.MethodGet || b.method == http.MethodHead) && !hasHeader(req.Headers, XWDHeader)
	if !b.bust {
		o, err := b.build(b.full)
		if err != nil {
			return nil, err
		}
		b.fixed = &o
	}
	return b, nil
}

// Next is the next request: the same every time but for the nonce.
func (b *Builder) Next() (Outgoing, error) {
	if b.fixed != nil {
		return *b.fixed, nil
	}
	nonce, err := newNonce()
	if err != nil {
		return Outgoing{}, err
	}
	sep := "?"
	if strings.Contains(b.full, "?") {
		sep = "&"
	}
	return b.build(b.full + sep + NonceParam + "=" + nonce)
}

// Forwarded says whether the requests go through a stub's forward endpoint.
func (b *Builder) Forwarded() bool { return b.endpoint != "" }

// URL is the requests' URL without a nonce (for display).
func (b *Builder) URL() string { return b.scheme + "://" + b.host + b.full }

func (b *Builder) build(full string) (Outgoing, error) {
	o := Outgoing{Method: b.method, URL: b.scheme + "://" + b.host + full, Host: b.host, Header: b.header, Body: b.body, full: full}
	if b.endpoint == "" {
		o.Wire = Wire{Method: o.Method, URL: o.URL, Header: o.Header}
		if o.Body != "" {
			o.Wire.Body = []byte(o.Body)
		}
		return o, nil
	}
	fr := forward.NewRequest(b.method, b.inPod+full, b.host, b.fwdHdr, b.body, b.timeout)
	payload, err := fr.Encode()
	if err != nil {
		return Outgoing{}, err
	}
	o.Forward = &fr
	o.Wire = Wire{
		Method: http.MethodPost,
		URL:    b.endpoint,
		Header: http.Header{"Content-Type": {forward.ContentType}, "User-Agent": {b.ua}},
		Body:   payload,
	}
	return o, nil
}

// NewHTTPRequest is o.Wire as an *http.Request. A direct request's path
// and query go on the wire exactly as built (URL.Opaque), to the case host
// (URL.Host: connection key and TLS SNI).
func (o Outgoing) NewHTTPRequest(ctx context.Context) (*http.Request, error) {
	var body io.Reader
	if o.Wire.Body != nil {
		body = bytes.NewReader(o.Wire.Body)
	}
	if o.Forward != nil {
		req, err := http.NewRequestWithContext(ctx, o.Wire.Method, o.Wire.URL, body)
		if err != nil {
			return nil, fmt.Errorf("build forward request to %q: %w", o.Wire.URL, err)
		}
		req.Header = o.Wire.Header.Clone()
		return req, nil
	}
	scheme, _, _ := strings.Cut(o.URL, "://")
	u := &url.URL{Scheme: scheme, Host: o.Host}
	u.Opaque, u.RawQuery, _ = strings.Cut(o.full, "?")
	req, err := http.NewRequestWithContext(ctx, o.Method, scheme+"://"+o.Host+"/", body)
	if err != nil {
		return nil, fmt.Errorf("build request %s %s: %w", o.Method, o.URL, err)
	}
	req.URL = u
	req.Host = o.Host
	req.Header = o.Header.Clone()
	return req, nil
}

// Method is the request's method: upper case, GET when unset.
func Method(req contract.Request) string {
	if req.Method == "" {
		return http.MethodGet
	}
	return strings.ToUpper(req.Method)
}

func newNonce() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make cache-busting nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func hasHeader(hs []contract.Header, name string) bool {
	for _, h := range hs {
		if strings.EqualFold(h.Name, name) {
			return true
		}
	}
	return false
}
