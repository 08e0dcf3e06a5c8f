package differential

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/haproxy"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
)

// gatewayServer is the Server header of the gateway's own answers (its 404
// and 503), as Envoy sends it and the generated HAProxy imitates.
const gatewayServer = "istio-envoy"

// answer is what the proxy did with a request.
type answer struct {
	tlsErr error
	err    error
	// closedMidWrite: the proxy closed the connection before the request
	// was all written, and no response could be read.
	closedMidWrite bool
	status         int
	server         string
	route          string
	outcome        istio.Outcome
	deployment     string
}

func (a answer) String() string {
	switch {
	case a.tlsErr != nil:
		return "TLS handshake failed: " + a.tlsErr.Error()
	case a.err != nil:
		return "error: " + a.err.Error()
	}
	return fmt.Sprintf("%d, Server %q, %s %q -> %s", a.status, a.server, haproxy.RouteHeader, a.route, a.outcome)
}

// sender sends requests raw over TLS, one connection each: a client library
// would normalise or refuse the odd requests the proof is about.
type sender struct {
	addr    string
	roots   *x509.CertPool
	timeout time.Duration
	// deployment names the Deployment of the pod in a Server header; nil
	// leaves routed answers unclassified (a refusal needs no pod).
	deployment func(server string) (string, bool)
}

func (s sender) send(ctx context.Context, r Request) answer {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return answer{err: err}
	}
	defer raw.Close()
	deadline, _ := ctx.Deadline()
	_ = raw.SetDeadline(deadline)
	conf := &tls.Config{
		ServerName: r.SNI,
		NextProtos: []string{"http/1.1"},
		MinVersion: tls.VersionTLS12,
		// The chain is verified against the roots below; the name is
		// not, as a connection without SNI (or to a "*" server) names none.
		InsecureSkipVerify: true,
		// The request goes in as few records as it can (one up to 16 KiB):
		// HAProxy then parses it whole, not while the rest is in flight.
		DynamicRecordSizingDisabled: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: s.roots, Intermediates: intermediates(cs.PeerCertificates)})
			return err
		},
	}
	c := tls.Client(raw, conf)
	if err := c.HandshakeContext(ctx); err != nil {
		return answer{tlsErr: err, outcome: istio.TLSFailure}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", r.Method, r.Target)
	if r.Host != nil {
		fmt.Fprintf(&b, "Host: %s\r\n", *r.Host)
	}
	for _, h := range r.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h[0], h[1])
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(r.Body), r.Body)
	_, werr := io.WriteString(c, b.String())
	// A proxy that refuses a request line answers and closes while the
	// rest may still be in flight: read its answer before blaming the write.
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: r.Method})
	if err != nil {
		if werr != nil {
			return answer{err: fmt.Errorf("write request: %w (no response: %v)", werr, err), closedMidWrite: true}
		}
		return answer{err: fmt.Errorf("read response: %w", err)}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	a := answer{status: resp.StatusCode, server: resp.Header.Get("Server"), route: resp.Header.Get(haproxy.RouteHeader)}
	if v := resp.Header.Get(haproxy.IdentityHeader); v != "" {
		return answer{err: fmt.Errorf("%s %q leaked: pods must be identified by Server alone", haproxy.IdentityHeader, v)}
	}
	switch {
	case a.server == gatewayServer && a.status == http.StatusNotFound:
		a.outcome = istio.NoRoute
	case a.server == gatewayServer && a.status == http.StatusServiceUnavailable:
		a.outcome = istio.NoBackend
	case s.deployment != nil:
		if d, ok := s.deployment(a.server); ok {
			a.outcome, a.deployment = istio.Routed, d
		}
	}
	return a
}

// intermediates are the chain's certificates after the leaf, for a proxy
// that serves an intermediate CA.
func intermediates(chain []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range chain[1:] {
		p.AddCert(c)
	}
	return p
}
