package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// forwardSlack is how much longer than the inner request the probe waits
// for the forward endpoint's answer.
const forwardSlack = 2 * time.Second

// maxForwardTimeout is the longest inner timeout the forward protocol
// accepts.
const maxForwardTimeout = 30 * time.Second

// maxForwardAnswer bounds the forward endpoint's JSON answer (its body field
// is at most 64 KiB, escaped).
const maxForwardAnswer = 1 << 20

// doForward relays the request through a stub's forward endpoint: the stub
// sends it from inside its pod to ep.Forward.InPodURL and reports what came
// back. Status, headers, body and latency are the pod's.
func (p *Prober) doForward(ctx context.Context, ep target.Endpoint, req contract.Request, cfg doConfig) Result {
	r := Result{At: time.Now()}
	m := method(req)
	r.Request = SentRequest{
		Method:    m,
		Host:      req.Host,
		BodyBytes: len(req.Body),
		Via:       ep.Forward.Endpoint,
		Entry:     ep.Entry,
	}
	in, err := url.Parse(ep.Forward.InPodURL)
	if err != nil || in.Host == "" {
		r.Err = fmt.Sprintf("probe entry %q: in-pod URL %q is not an absolute URL", ep.Entry, ep.Forward.InPodURL)
		return r
	}
	r.Request.ConnectedTo = in.Host
	if req.Host == "" {
		r.Err = fmt.Sprintf("probe entry %q: request has no host", ep.Entry)
		return r
	}
	path, err := p.pathFor(req)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	full := strings.TrimSuffix(in.Path, "/") + path
	r.Request.URL = in.Scheme + "://" + req.Host + full
	r.Request.Headers = p.requestHeaders(req)

	fr := forwardRequest{
		URL:       in.Scheme + "://" + in.Host + full,
		Method:    m,
		Host:      req.Host,
		Body:      req.Body,
		TimeoutMs: min(p.opts.Timeout, maxForwardTimeout).Milliseconds(),
	}
	for _, h := range req.Headers {
		fr.Headers = append(fr.Headers, forwardHeader(h))
	}
	if !hasHeader(req.Headers, "User-Agent") {
		fr.Headers = append(fr.Headers, forwardHeader{Name: "User-Agent", Value: p.opts.UserAgent})
	}
	payload, err := json.Marshal(fr)
	if err != nil {
		r.Err = fmt.Sprintf("encode forward request: %v", err)
		return r
	}

	tr, err := p.transport(ep)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout+forwardSlack)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.Forward.Endpoint, bytes.NewReader(payload))
	if err != nil {
		r.Err = fmt.Sprintf("build forward request to %q: %v", ep.Forward.Endpoint, err)
		return r
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("User-Agent", p.opts.UserAgent)
	if ep.Guard != nil {
		if err := ep.Guard(hreq); err != nil {
			r.Err = fmt.Sprintf("refused forward of %s %s: %v", m, r.Request.URL, err)
			r.NoSlot = errors.Is(err, target.ErrNoSlot)
			r.Refused = !r.NoSlot
			return r
		}
	}
	start := time.Now()
	resp, err := tr.RoundTrip(hreq)
	if err != nil {
		r.Latency = time.Since(start)
		r.Err = fmt.Sprintf("forward %s %s via %s: %v", m, r.Request.URL, ep.Forward.Endpoint, err)
		return r
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxForwardAnswer))
	outer := time.Since(start)
	if err != nil {
		r.Latency = outer
		r.Err = fmt.Sprintf("read forward answer from %s: %v", ep.Forward.Endpoint, err)
		return r
	}
	var fa forwardResponse
	decodeErr := json.Unmarshal(raw, &fa)
	if resp.StatusCode != http.StatusOK {
		why := fa.Error
		if decodeErr != nil || why == "" {
			why = strings.TrimSpace(Excerpt(raw))
		}
		r.Latency = outer
		r.Err = fmt.Sprintf("forward %s %s via %s: forward refused with status %d: %s",
			m, r.Request.URL, ep.Forward.Endpoint, resp.StatusCode, why)
		return r
	}
	if err := decodeErr; err != nil {
		r.Latency = outer
		r.Err = fmt.Sprintf("decode forward answer from %s: %v", ep.Forward.Endpoint, err)
		return r
	}
	r.Latency = time.Duration(fa.LatencyMs * float64(time.Millisecond))
	if fa.Error != "" {
		r.Err = fmt.Sprintf("forward %s %s via %s: in-pod request failed: %s", m, r.Request.URL, ep.Forward.Endpoint, fa.Error)
		return r
	}
	r.Status = fa.Status
	h := http.Header{}
	for k, vs := range fa.Headers {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	p.fill(&r, h, []byte(fa.Body), cfg)
	return r
}
