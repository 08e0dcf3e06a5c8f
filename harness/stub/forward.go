package stub

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/forward"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
)

// The forward protocol is harness/forward's; these names are kept for the
// stub's callers.
const (
	ForwardPath           = forward.Path
	DefaultForwardTimeout = forward.DefaultTimeout
	MaxForwardTimeout     = forward.MaxTimeout
	MaxForwardBody        = forward.MaxBody
)

type (
	ForwardHeader   = forward.Header
	ForwardRequest  = forward.Request
	ForwardResponse = forward.Response
)

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
		Timeout:   forward.MaxTimeout,
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

func (h *forwardHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.serverHdr != nil {
		w.Header()["Server"] = h.serverHdr
	}
	if h.identityHdr != nil {
		w.Header()[identity.Header] = h.identityHdr
	}
	if r.URL.Path != forward.Path {
		h.refuse(w, &forward.Error{Status: http.StatusNotFound, Err: fmt.Errorf("no such endpoint %q: POST %s", r.URL.Path, forward.Path)})
		return
	}
	if r.Method != http.MethodPost {
		w.Header()["Allow"] = allowPost
		h.refuse(w, &forward.Error{Status: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %q not allowed: POST %s", r.Method, forward.Path)})
		return
	}
	fr, err := forward.DecodeRequest(http.MaxBytesReader(w, r.Body, forward.MaxRequestBytes))
	if err != nil {
		h.refuse(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), fr.Timeout())
	defer cancel()
	req, err := fr.Upstream(ctx)
	if err != nil {
		h.refuse(w, err)
		return
	}
	h.respond(w, http.StatusOK, h.send(req))
}

func (h *forwardHandler) send(req *http.Request) forward.Response {
	out := forward.Response{From: h.from}
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
	body, err := io.ReadAll(io.LimitReader(resp.Body, forward.MaxBody+1))
	out.LatencyMs = ms(time.Since(start))
	if len(body) > forward.MaxBody {
		body, out.BodyTruncated = body[:forward.MaxBody], true
	}
	out.Body = string(body)
	if err != nil {
		out.Error = fmt.Sprintf("read forward response body from %s: %v", req.URL, err)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// refuse answers a forward refused before sending, with err's status.
func (h *forwardHandler) refuse(w http.ResponseWriter, err error) {
	h.respond(w, forward.StatusOf(err), forward.Response{Error: err.Error(), From: h.from})
}

func (h *forwardHandler) respond(w http.ResponseWriter, status int, a forward.Response) {
	b, err := forward.EncodeResponse(a)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
