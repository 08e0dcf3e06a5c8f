// Package forward is the wire protocol of a stub's forward endpoint.
//
// A mesh entry point is only reachable from inside a pod: its listener is
// the pod's sidecar, on a loopback address. The probe therefore POSTs the
// request it wants sent, as a JSON Request, to the forward endpoint of a
// stub running in that pod (cmd/mwstub, see harness/stub); the stub sends
// it to the loopback listener named by Request.URL and answers with a JSON
// Response: the status, headers and body that came back, and how long the
// in-pod request took. This package is the format, its limits and its
// errors, for both sides:
//
//   - the sending side (harness/probe, harness/latency) builds a Request
//     with NewRequest, posts Encode's bytes and reads the answer with
//     DecodeAnswer;
//   - the serving side (harness/stub) reads a Request with DecodeRequest,
//     turns it into the in-pod request with Request.Upstream and answers
//     with EncodeResponse.
//
// The format is that of the stub images already deployed: change it only
// together with cmd/mwstub's image.
package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
)

// Protocol constants and limits.
const (
	// Path is the forward endpoint's path; it only answers POST.
	Path = "/forward"
	// ContentType is the type of the JSON posted to the endpoint.
	ContentType = "application/json"
	// DefaultTimeout bounds the in-pod request when Request.TimeoutMs is 0.
	DefaultTimeout = 5 * time.Second
	// MaxTimeout is the longest in-pod timeout a Request may ask for.
	MaxTimeout = 30 * time.Second
	// MaxBody is how much of the in-pod response body a Response reports.
	MaxBody = 64 << 10
	// MaxRequestBytes bounds the JSON of a Request.
	MaxRequestBytes = 1 << 20
	// MaxAnswerBytes bounds the JSON of a Response (its body is at most
	// MaxBody bytes, escaped).
	MaxAnswerBytes = 1 << 20
	// DefaultUserAgent is sent in the pod when a Request sets none.
	DefaultUserAgent = "pretrain-check-mwstub-forward"
)

// Errors, for errors.Is. Every error of this package wraps one of them and
// says what was wrong.
var (
	// ErrMalformed: a Request that is not valid JSON of the protocol, or
	// that asks for something the endpoint cannot send (bad URL, method,
	// header or timeout). The endpoint answers 400.
	ErrMalformed = errors.New("malformed forward request")
	// ErrTooLarge: a Request above MaxRequestBytes (answered 400), or an
	// answer above MaxAnswerBytes.
	ErrTooLarge = errors.New("too large")
	// ErrNotLoopback: a Request whose URL names no loopback listener of
	// the pod. The endpoint answers 403: it only forwards inside its pod.
	ErrNotLoopback = errors.New("destination not loopback")
	// ErrRefused: the endpoint answered other than 200, nothing was sent
	// in the pod.
	ErrRefused = errors.New("forward refused")
	// ErrBadAnswer: the endpoint's answer is not a Response.
	ErrBadAnswer = errors.New("decode forward answer")
	// ErrInPod: the forward was sent but the in-pod request failed (no
	// response, or its body could not be read).
	ErrInPod = errors.New("in-pod request failed")
)

// Header is one request header to send in the pod.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Request is the JSON body of POST /forward: what the stub sends from
// inside its pod (like Istio echo's "forward" command).
type Request struct {
	URL       string   `json:"url"`              // loopback only: 127.0.0.0/8, ::1, localhost
	Method    string   `json:"method,omitempty"` // default GET
	Host      string   `json:"host,omitempty"`   // Host header; default the URL's host
	Headers   []Header `json:"headers,omitempty"`
	Body      string   `json:"body,omitempty"`
	TimeoutMs int      `json:"timeoutMs,omitempty"` // default 5000, at most 30000
}

// Response is the JSON answer to POST /forward.
//
// The forward call itself is answered 200 whenever the request was sent,
// even when the in-pod request failed: Status is then 0 and Error says
// why, so the evidence (who forwarded, how long it took) is not hidden
// behind a 502. A forward refused before sending is answered 400 (bad
// request), 403 (destination not loopback), 404 or 405, with Error set.
type Response struct {
	Status        int                 `json:"status"` // in-pod status, 0 if none
	Headers       map[string][]string `json:"headers"`
	Body          string              `json:"body"` // at most MaxBody bytes
	BodyTruncated bool                `json:"bodyTruncated,omitempty"`
	LatencyMs     float64             `json:"latencyMs"` // from sending to the end of the (reported) body
	Error         string              `json:"error"`
	From          identity.Identity   `json:"from"` // the forwarding stub
}

// Error is a forward refused by its endpoint before anything was sent:
// Status is the HTTP status the endpoint answers with.
type Error struct {
	Status int
	Err    error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// StatusOf is the HTTP status a refusal err is answered with: its
// *Error's, else 400.
func StatusOf(err error) int {
	var fe *Error
	if errors.As(err, &fe) && fe.Status != 0 {
		return fe.Status
	}
	return http.StatusBadRequest
}

// malformed is a 400 refusal wrapping ErrMalformed.
func malformed(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Err: fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)}
}

// --- sending side ----------------------------------------------------------

// NewRequest is the Request that sends method to inPodURL (an absolute URL
// to one of the pod's loopback listeners, path and query included) with
// the Host header host. timeout bounds the in-pod request; it is capped at
// MaxTimeout (0 leaves the endpoint's default).
func NewRequest(method, inPodURL, host string, header []Header, body string, timeout time.Duration) Request {
	return Request{
		URL:       inPodURL,
		Method:    method,
		Host:      host,
		Headers:   header,
		Body:      body,
		TimeoutMs: int(min(timeout, MaxTimeout).Milliseconds()),
	}
}

// Encode is the JSON to POST to the forward endpoint.
func (r Request) Encode() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode forward request to %s: %w", r.URL, err)
	}
	if len(b) > MaxRequestBytes {
		return nil, fmt.Errorf("encode forward request to %s: %w: %d bytes, at most %d", r.URL, ErrTooLarge, len(b), MaxRequestBytes)
	}
	return b, nil
}

// DecodeAnswer reads the endpoint's answer to a forward: status is the
// HTTP status of the POST, raw its body. The error wraps ErrRefused when
// the endpoint refused the forward (any status but 200; the message
// carries its Error, else an excerpt of raw), ErrBadAnswer or ErrTooLarge
// when raw is not a Response, and ErrInPod when the in-pod request failed:
// the Response (its LatencyMs, From) is then returned too.
func DecodeAnswer(status int, raw []byte) (Response, error) {
	var a Response
	if len(raw) > MaxAnswerBytes {
		if status != http.StatusOK {
			return a, fmt.Errorf("%w with status %d: %s", ErrRefused, status, excerpt(raw))
		}
		return a, fmt.Errorf("%w: %w: more than %d bytes", ErrBadAnswer, ErrTooLarge, MaxAnswerBytes)
	}
	decodeErr := json.Unmarshal(raw, &a)
	if status != http.StatusOK {
		why := a.Error
		if decodeErr != nil || why == "" {
			why = excerpt(raw)
		}
		return a, fmt.Errorf("%w with status %d: %s", ErrRefused, status, why)
	}
	if decodeErr != nil {
		return Response{}, fmt.Errorf("%w: %v", ErrBadAnswer, decodeErr)
	}
	if a.Error != "" {
		return a, fmt.Errorf("%w: %s", ErrInPod, a.Error)
	}
	return a, nil
}

// Header is the in-pod response's header.
func (a Response) Header() http.Header {
	h := make(http.Header, len(a.Headers))
	for k, vs := range a.Headers {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	return h
}

// Latency is the in-pod request's latency.
func (a Response) Latency() time.Duration {
	return time.Duration(a.LatencyMs * float64(time.Millisecond))
}

// excerpt is the start of a refusal's body as one line of text.
func excerpt(raw []byte) string {
	if len(raw) > 512 {
		raw = raw[:512]
	}
	return strings.TrimSpace(strings.ToValidUTF8(string(raw), "\uFFFD"))
}

// --- serving side ----------------------------------------------------------

// DecodeRequest reads a Request of at most MaxRequestBytes from body
// (unknown fields refused). Its error wraps ErrMalformed or ErrTooLarge.
func DecodeRequest(body io.Reader) (Request, error) {
	var r Request
	raw, err := io.ReadAll(io.LimitReader(body, MaxRequestBytes+1))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) || len(raw) > MaxRequestBytes {
		return r, malformed("%w: more than %d bytes", ErrTooLarge, MaxRequestBytes)
	}
	if err != nil {
		return r, malformed("read: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Request{}, malformed("%v", err)
	}
	return r, nil
}

// Timeout is the in-pod request's timeout: TimeoutMs, else DefaultTimeout.
func (r Request) Timeout() time.Duration {
	if r.TimeoutMs > 0 {
		return time.Duration(r.TimeoutMs) * time.Millisecond
	}
	return DefaultTimeout
}

// Upstream validates r and builds the in-pod request it asks for. Its
// error is an *Error, with the status to refuse the forward with (400 and
// ErrMalformed, or 403 and ErrNotLoopback).
func (r Request) Upstream(ctx context.Context) (*http.Request, error) {
	if r.TimeoutMs < 0 || time.Duration(r.TimeoutMs)*time.Millisecond > MaxTimeout {
		return nil, malformed("timeoutMs %d: want 0 (default %s) up to %d",
			r.TimeoutMs, DefaultTimeout, MaxTimeout.Milliseconds())
	}
	u, err := url.Parse(r.URL)
	if err != nil {
		return nil, malformed("parse url %q: %v", r.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, malformed("url %q: scheme must be http or https", r.URL)
	}
	if u.Host == "" {
		return nil, malformed("url %q: no host", r.URL)
	}
	if !IsLoopbackHost(u.Hostname()) {
		return nil, &Error{Status: http.StatusForbidden, Err: fmt.Errorf(
			"forward url %q: %w: %q is not 127.0.0.0/8, ::1 or localhost, and the stub only forwards inside its pod",
			r.URL, ErrNotLoopback, u.Hostname())}
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if r.Body != "" {
		body = strings.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, malformed("%v", err)
	}
	for _, hd := range r.Headers {
		if hd.Name == "" {
			return nil, malformed("a header has no name")
		}
		if strings.EqualFold(hd.Name, "Host") {
			req.Host = hd.Value
			continue
		}
		req.Header.Add(hd.Name, hd.Value)
	}
	if r.Host != "" {
		req.Host = r.Host
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", DefaultUserAgent)
	}
	return req, nil
}

// EncodeResponse is the JSON of an answer (HTML characters unescaped, a
// nil Headers as {}).
func EncodeResponse(a Response) ([]byte, error) {
	if a.Headers == nil {
		a.Headers = map[string][]string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(a); err != nil {
		return nil, fmt.Errorf("encode forward response: %w", err)
	}
	return buf.Bytes(), nil
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
