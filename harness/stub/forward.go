package stub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
)

// Forward protocol limits and defaults.
const (
	ForwardPath           = "/forward"
	DefaultForwardTimeout = 5 * time.Second
	MaxForwardTimeout     = 30 * time.Second
	// MaxForwardBody is how much of the upstream body a forward reports.
	MaxForwardBody = 64 << 10
	// maxForwardRequest bounds the JSON a forward call may post.
	maxForwardRequest = 1 << 20
	forwardUserAgent  = "pretrain-check-mwstub-forward"
)

// ForwardHeader is one request header a forward sends.
type ForwardHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ForwardRequest is the JSON body of POST /forward: what the stub sends
// from inside its pod (like Istio echo's "forward" command).
type ForwardRequest struct {
	URL       string          `json:"url"`              // loopback only: 127.0.0.0/8, ::1, localhost
	Method    string          `json:"method,omitempty"` // default GET
	Host      string          `json:"host,omitempty"`   // Host header; default the URL's host
	Headers   []ForwardHeader `json:"headers,omitempty"`
	Body      string          `json:"body,omitempty"`
	TimeoutMs int             `json:"timeoutMs,omitempty"` // default 5000, at most 30000
}

// ForwardResponse is the JSON answer to POST /forward.
//
// The forward call itself is answered 200 whenever the request was sent,
// even when the upstream failed: Status is then 0 and Error says why, so
// the evidence (who forwarded, how long it took) is not hidden behind a
// 502. A forward refused before sending is answered 400 (bad request),
// 403 (destination not loopback), 404 or 405, with Error set.
type ForwardResponse struct {
	Status        int                 `json:"status"` // upstream status, 0 if none
	Headers       map[string][]string `json:"headers"`
	Body          string              `json:"body"` // at most MaxForwardBody bytes
	BodyTruncated bool                `json:"bodyTruncated,omitempty"`
	LatencyMs     float64             `json:"latencyMs"` // from sending to the end of the (reported) body
	Error         string              `json:"error"`
	From          identity.Identity   `json:"from"` // the forwarding stub
}

type forwardHandler struct {
	from        identity.Identity
	serverHdr   []string
	identityHdr []string
	client      *http.Client
}

// NewForwardHandler serves POST /forward for the stub identified by from.
// With a nil client it uses one that dials loopback addresses only, with
// no proxy and no transparent decompression; a given client is copied and
// never follows redirects. Destinations are checked to be loopback in
// both cases.
func NewForwardHandler(from identity.Identity, client *http.Client) http.Handler {
	from.Source = ""
	var c http.Client
	if client != nil {
		c = *client
	} else {
		c = http.Client{Transport: loopbackTransport()}
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	h := &forwardHandler{from: from, client: &c}
	if from.Pod != "" {
		h.serverHdr = []string{from.Pod}
	}
	if from.Known() {
		h.identityHdr = []string{from.HeaderValue()}
	}
	return h
}

func loopbackTransport() *http.Transport {
	d := &net.Dialer{
		Timeout:   MaxForwardTimeout,
		KeepAlive: 30 * time.Second,
		// Checked after name resolution: "localhost" must resolve to loopback too.
		ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dial %q: %w", address, err)
			}
			if !ap.Addr().Unmap().IsLoopback() {
				return fmt.Errorf("dial %q: not a loopback address", address)
			}
			return nil
		},
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		DisableCompression:    true, // report headers and body as the upstream sent them
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// IsLoopbackHost reports whether a URL host (without port) names a
// loopback destination: localhost, 127.0.0.0/8 or ::1.
func IsLoopbackHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(h)
	return err == nil && addr.Unmap().IsLoopback()
}

func (h *forwardHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.serverHdr != nil {
		w.Header()["Server"] = h.serverHdr
	}
	if h.identityHdr != nil {
		w.Header()[identity.Header] = h.identityHdr
	}
	if r.URL.Path != ForwardPath {
		h.refuse(w, http.StatusNotFound, fmt.Errorf("no such endpoint %q: POST %s", r.URL.Path, ForwardPath))
		return
	}
	if r.Method != http.MethodPost {
		w.Header()["Allow"] = allowPost
		h.refuse(w, http.StatusMethodNotAllowed, fmt.Errorf("method %q not allowed: POST %s", r.Method, ForwardPath))
		return
	}
	var fr ForwardRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxForwardRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fr); err != nil {
		h.refuse(w, http.StatusBadRequest, fmt.Errorf("decode forward request: %w", err))
		return
	}
	req, status, err := h.upstreamRequest(r.Context(), &fr)
	if err != nil {
		h.refuse(w, status, err)
		return
	}
	timeout := DefaultForwardTimeout
	if fr.TimeoutMs > 0 {
		timeout = time.Duration(fr.TimeoutMs) * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	h.respond(w, http.StatusOK, h.send(req.WithContext(ctx)))
}

// upstreamRequest validates fr and builds the request to send; on error
// it returns the status to refuse the forward with.
func (h *forwardHandler) upstreamRequest(ctx context.Context, fr *ForwardRequest) (*http.Request, int, error) {
	if fr.TimeoutMs < 0 || time.Duration(fr.TimeoutMs)*time.Millisecond > MaxForwardTimeout {
		return nil, http.StatusBadRequest, fmt.Errorf("forward timeoutMs %d: want 0 (default %s) up to %d",
			fr.TimeoutMs, DefaultForwardTimeout, MaxForwardTimeout.Milliseconds())
	}
	u, err := url.Parse(fr.URL)
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("parse forward url %q: %w", fr.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, http.StatusBadRequest, fmt.Errorf("forward url %q: scheme must be http or https", fr.URL)
	}
	if u.Host == "" {
		return nil, http.StatusBadRequest, fmt.Errorf("forward url %q: no host", fr.URL)
	}
	if !IsLoopbackHost(u.Hostname()) {
		return nil, http.StatusForbidden, fmt.Errorf("forward url %q: destination %q is not loopback (127.0.0.0/8, ::1, localhost): the stub only forwards inside its pod",
			fr.URL, u.Hostname())
	}
	method := fr.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if fr.Body != "" {
		body = strings.NewReader(fr.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("build forward request: %w", err)
	}
	for _, hd := range fr.Headers {
		if hd.Name == "" {
			return nil, http.StatusBadRequest, errors.New("build forward request: a header has no name")
		}
		if strings.EqualFold(hd.Name, "Host") {
			req.Host = hd.Value
			continue
		}
		req.Header.Add(hd.Name, hd.Value)
	}
	if fr.Host != "" {
		req.Host = fr.Host
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", forwardUserAgent)
	}
	return req, 0, nil
}

func (h *forwardHandler) send(req *http.Request) ForwardResponse {
	out := ForwardResponse{From: h.from}
	start := time.Now()
	resp, err := h.client.Do(req)
	if err != nil {
		out.LatencyMs = ms(time.Since(start))
		out.Error = fmt.Sprintf("forward %s %s (Host %q): %v", req.Method, req.URL, req.Host, err)
		return out
	}
	defer resp.Body.Close()
	out.Status = resp.StatusCode
	out.Headers = resp.Header
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxForwardBody+1))
	out.LatencyMs = ms(time.Since(start))
	if len(body) > MaxForwardBody {
		body, out.BodyTruncated = body[:MaxForwardBody], true
	}
	out.Body = string(body)
	if err != nil {
		out.Error = fmt.Sprintf("read forward response body from %s: %v", req.URL, err)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (h *forwardHandler) refuse(w http.ResponseWriter, status int, err error) {
	h.respond(w, status, ForwardResponse{Error: err.Error(), From: h.from})
}

func (h *forwardHandler) respond(w http.ResponseWriter, status int, fr ForwardResponse) {
	if fr.Headers == nil {
		fr.Headers = map[string][]string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fr); err != nil {
		http.Error(w, "encode forward response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
