package probe

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/forward"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// forwardSlack is how much longer than the inner request the probe waits
// for the forward endpoint's answer.
const forwardSlack = 2 * time.Second

// readForward reads the answer of a stub's forward endpoint, which sent
// the request from inside its pod to ep.Forward.InPodURL: status, headers,
// body and latency are the pod's.
func (p *Prober) readForward(r *Result, resp *http.Response, start time.Time, ep target.Endpoint, o Outgoing, cfg doConfig) {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, forward.MaxAnswerBytes+1))
	r.Latency = time.Since(start)
	if err != nil {
		r.Err = fmt.Sprintf("read forward answer from %s: %v", ep.Forward.Endpoint, err)
		return
	}
	fa, err := forward.DecodeAnswer(resp.StatusCode, raw)
	if errors.Is(err, forward.ErrInPod) {
		r.Latency = fa.Latency()
	}
	if err != nil {
		r.Err = fmt.Sprintf("forward %s %s via %s: %v", o.Method, o.URL, ep.Forward.Endpoint, err)
		return
	}
	r.Latency = fa.Latency()
	r.Status = fa.Status
	p.fill(r, fa.Header(), []byte(fa.Body), cfg)
}
