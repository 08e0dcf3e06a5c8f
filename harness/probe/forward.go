package probe

import (
	"bytes"
	"context"
	"errors"
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

// forwardSlack is how much longer than the inner request the probe waits
// for the forward endpoint's answer.
const forwardSlack = 2 * time.Second

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

	var headers []forward.Header
	for _, h := range req.Headers {
		headers = append(headers, forward.Header(h))
	}
	if !hasHeader(req.Headers, "User-Agent") {
		headers = append(headers, forward.Header{Name: "User-Agent", Value: p.opts.UserAgent})
	}
	payload, err := forward.NewRequest(m, in.Scheme+"://"+in.Host+full, req.Host, headers, req.Body, p.opts.Timeout).Encode()
	if err != nil {
		r.Err = err.Error()
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
	hreq.Header.Set("Content-Type", forward.ContentType)
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
	raw, err := io.ReadAll(io.LimitReader(resp.Body, forward.MaxAnswerBytes+1))
	r.Latency = time.Since(start)
	if err != nil {
		r.Err = fmt.Sprintf("read forward answer from %s: %v", ep.Forward.Endpoint, err)
		return r
	}
	fa, err := forward.DecodeAnswer(resp.StatusCode, raw)
	if errors.Is(err, forward.ErrInPod) {
		r.Latency = fa.Latency()
	}
	if err != nil {
		r.Err = fmt.Sprintf("forward %s %s via %s: %v", m, r.Request.URL, ep.Forward.Endpoint, err)
		return r
	}
	r.Latency = fa.Latency()
	r.Status = fa.Status
	p.fill(&r, fa.Header(), []byte(fa.Body), cfg)
	return r
}
