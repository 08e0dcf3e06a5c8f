// Package differential proves a proxy routes as the Istio routing model
// does: it sends the contract's ingress and jobrunner-gateway cases,
// directed requests and a few hundred generated ones (hosts, SNIs, paths,
// methods, X-Wikimedia-Debug values, adversarial ones among them) raw over
// TLS to the proxy, and compares the outcome (TLS failure, 404, 503,
// routed), the route (haproxy.RouteHeader) and the serving pod's Deployment
// (from Server) with the model's Decision. Any proxy generated from the
// model can be proved so: a local haproxy in a host test, the kind
// replica's in-cluster gateway.
package differential

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/haproxy"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
)

// DefaultGenerated is how many random requests Run draws unless told.
const DefaultGenerated = 420

// DefaultTimeout bounds each request unless told.
const DefaultTimeout = 10 * time.Second

// Options say what to compare and where the proxy is.
type Options struct {
	Model *istio.Model
	// Contract supplies the contract cases; nil sends none (an input the
	// contract is not about).
	Contract *contract.Contract
	// Addr is host:port of the proxy's TLS listener.
	Addr string
	// Roots verify the proxy's serving chain (nil: the system's). The name
	// is not verified: a request without SNI names none.
	Roots *x509.CertPool
	// JoinedHeaders are the header names the proxy joins, lowercase
	// (haproxy.Config.JoinedHeaders); more than haproxy.MaxHeaderLines
	// lines of one must be refused.
	JoinedHeaders []string
	// Seed and Stream make the generated requests reproducible.
	Seed, Stream uint64
	// Generated is how many random requests to draw: 0 means
	// DefaultGenerated, a negative number none.
	Generated int
	Extra     Extras
	// Deployment names the Deployment ("namespace/name") of the pod a
	// Server header names; false when it is no pod of the model's.
	Deployment func(server string) (string, bool)
	// Timeout bounds each request (default DefaultTimeout).
	Timeout time.Duration
}

// Report is what Run compared and where the proxy disagreed.
type Report struct {
	// Compared counts the requests compared: contract cases, directed and
	// generated ones.
	Compared int
	// Generated counts the random requests drawn, GeneratedCompared those
	// of them compared.
	Generated, GeneratedCompared int
	// Excluded counts the requests not compared, by class (Class*); the
	// proxy's own refusal of ClassTooMany and ClassInvalidTarget is
	// asserted instead.
	Excluded map[string]int
	// Outcomes counts the model's outcomes of the compared requests.
	Outcomes map[istio.Outcome]int
	// Routes is how many routes the model has; Untaken those no compared
	// request took (the proof says nothing about them).
	Routes  int
	Untaken []string
	// Disagreements are the requests the proxy did not route as the model
	// does, or did not refuse as it must.
	Disagreements []Disagreement
}

// Disagreement is one request the proxy and the model differ on.
type Disagreement struct {
	Request Request
	// Text says what differed, then the request, what the model decided
	// and why, and what the proxy answered.
	Text string
}

func (d Disagreement) String() string { return d.Text }

// ExcludedCount is how many requests were not compared.
func (r Report) ExcludedCount() int {
	n := 0
	for _, v := range r.Excluded {
		n += v
	}
	return n
}

// Run sends every request to the proxy, one at a time, and compares each
// answer with the model's decision. The error is for options that cannot
// work or a cancelled ctx; a proxy that answers wrongly, or not at all,
// makes disagreements.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Model == nil || o.Addr == "" || o.Deployment == nil {
		return Report{}, errors.New("differential: Model, Addr and Deployment are required")
	}
	if o.Generated == 0 {
		o.Generated = DefaultGenerated
	}
	o.Generated = max(o.Generated, 0)
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	var reqs []Request
	if o.Contract != nil {
		reqs = contractRequests(o.Contract)
	}
	reqs = append(reqs, o.Extra.Directed...)
	reqs = append(reqs, generate(mrand.New(mrand.NewPCG(o.Seed, o.Stream)), o.Model, o.Generated, o.Extra)...)

	s := sender{addr: o.Addr, roots: o.Roots, timeout: o.Timeout, deployment: o.Deployment}
	rep := Report{Generated: o.Generated, Excluded: map[string]int{}, Outcomes: map[istio.Outcome]int{}}
	taken := map[string]bool{}
	for _, r := range reqs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if class := excludedClass(r, o.JoinedHeaders); class != "" {
			rep.Excluded[class]++
			if class == ClassTooMany || class == ClassInvalidTarget {
				if msg := checkRefusal(ctx, s, o.Model, r, class); msg != "" {
					rep.Disagreements = append(rep.Disagreements, Disagreement{Request: r, Text: msg})
				}
			}
			continue
		}
		rep.Compared++
		if strings.HasPrefix(r.Origin, "generated") {
			rep.GeneratedCompared++
		}
		d := o.Model.Route(r.modelRequest())
		if msg := compare(d, s.send(ctx, r), r); msg != "" {
			rep.Disagreements = append(rep.Disagreements, Disagreement{Request: r, Text: msg})
		}
		if d.Route != nil {
			taken[d.Route.String()] = true
		}
		rep.Outcomes[d.Outcome]++
	}
	for _, rt := range o.Model.Routes() {
		rep.Routes++
		if !taken[rt.String()] {
			rep.Untaken = append(rep.Untaken, rt.String())
		}
	}
	return rep, ctx.Err()
}

// compare is "" when the proxy's answer a to r agrees with the model's
// decision d, else what differed, the request, and what each said.
func compare(d istio.Decision, a answer, r Request) string {
	var why []string
	if a.outcome != d.Outcome {
		why = append(why, fmt.Sprintf("outcome: model %s, proxy %s", d.Outcome, a.outcome))
	}
	if d.Outcome != istio.TLSFailure && a.outcome == d.Outcome {
		if want := haproxy.RouteHeaderFor(d); a.route != want {
			why = append(why, fmt.Sprintf("route: model %q, proxy %q", want, a.route))
		}
	}
	if d.Outcome == istio.Routed && a.outcome == istio.Routed {
		var want []string
		for _, b := range d.Backends {
			want = append(want, b.Namespace+"/"+b.Deployment)
		}
		if !slices.Contains(want, a.deployment) {
			why = append(why, fmt.Sprintf("pod: %s of Deployment %s, model expects one of %v", a.server, a.deployment, want))
		}
	}
	if len(why) == 0 {
		return ""
	}
	return fmt.Sprintf("disagreement: %s\n  request: %s\n  model:\n    %s\n  proxy: %s",
		strings.Join(why, "; "), r, strings.Join(d.Lines(), "\n    "), a)
}

// checkRefusal is "" when the proxy refuses an excluded request as it must:
// 431 for too many lines of a joined header, 400 for an invalid target
// (or no handshake, when the model fails it).
func checkRefusal(ctx context.Context, s sender, m *istio.Model, r Request, class string) string {
	s.deployment = nil
	a := s.send(ctx, r)
	if m.Route(r.modelRequest()).Outcome == istio.TLSFailure {
		if a.tlsErr == nil {
			return fmt.Sprintf("disagreement: the model fails the handshake, the proxy did not\n  request: %s\n  proxy: %s", r, a)
		}
		return ""
	}
	switch {
	case class == ClassTooMany && a.status == http.StatusRequestHeaderFieldsTooLarge && strings.HasPrefix(a.route, "refused: "):
	case class == ClassInvalidTarget && a.status == http.StatusBadRequest && a.route == "":
	case class == ClassInvalidTarget && a.closedMidWrite:
		// Refused while the request line was parsed, before the rest of
		// a large request arrived: the 400 was lost with the connection.
	default:
		return fmt.Sprintf("disagreement: want the proxy's refusal (%s)\n  request: %s\n  proxy: %s", class, r, a)
	}
	return ""
}

// PodDeployment reads the Deployment from a Server header naming a pod as
// production and the kind replica do ("<namespace>.<dc>.<release>-<rs>-<pod>",
// see identity.FromServer): the model's one Deployment in that namespace
// whose pods carry that release label.
func PodDeployment(m *istio.Model) func(server string) (string, bool) {
	return func(server string) (string, bool) {
		id, ok := identity.FromServer(server)
		if !ok {
			return "", false
		}
		var found []string
		for _, d := range m.Input().Deployments {
			if d.Namespace == id.Namespace && d.PodLabels()["release"] == id.Release {
				found = append(found, d.Key())
			}
		}
		if len(found) != 1 {
			return "", false
		}
		return found[0], true
	}
}
