// Package target maps contract entry points to addresses: where a probe
// connects to reach "edge", "ingress", "mesh/mw-api-int" and so on, and how
// to connect (TLS, SNI, forward through a pod). Static targets come from a
// YAML file; kind and live targets build the same Endpoints.
package target

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
)

// ErrNotApplicable is returned (wrapped) by Endpoint for an entry point the
// target cannot reach: the case is reported "not applicable", never passed.
var ErrNotApplicable = errors.New("entry point not reachable from this target")

// ErrRefused is wrapped by every refusal of a safety guard (Endpoint.Guard):
// the request was not sent.
var ErrRefused = errors.New("refused by the production safety guard")

// ErrNoSlot is wrapped, with ErrRefused, by a guard's refusal for want of a
// rate slot before the request's deadline (or a cancelled wait): the
// request was not sent, but it was not unsafe either.
var ErrNoSlot = errors.New("no rate slot")

// Limiter is a target's one rate limiter: probes take their slots through
// Endpoint.Guard, anything else sent to the target (a latency attack)
// through Reserve, so the target's rate cap holds for all of it.
type Limiter interface {
	// Rate is the most requests per second.
	Rate() float64
	// Reserve takes the first slot at or after notBefore and returns it;
	// the caller sends no earlier.
	Reserve(notBefore time.Time) time.Time
}

// Target resolves entry points.
type Target interface {
	// Name is the target's name for reports ("static:FILE", "kind", "live/external").
	Name() string
	// Endpoint says how to reach an entry point.
	Endpoint(entry string) (Endpoint, error)
	// Live reports whether the target is production: probes then bust
	// caches, cap their rate and refuse unsafe methods.
	Live() bool
}

// Endpoint is how to reach one entry point.
type Endpoint struct {
	Entry string `json:"entry"`
	// URL is the scheme and authority the request is addressed to; its
	// path, if any, is a prefix. The case's Host header (and SNI) is
	// always the case's host, never URL.Host.
	URL *url.URL `json:"url"`
	// ConnectTo, when set, is the "host:port" actually dialled instead of
	// URL.Host (like curl --connect-to). No DNS lookup of the case host.
	ConnectTo string `json:"connectTo,omitempty"`
	// TLS settings for https URLs; ServerName is set per request to the
	// case host. Nil means defaults (verification on). The probe keeps one
	// connection pool per (address, TLS pointer): reuse one *tls.Config
	// for every Endpoint of a target rather than building one per call.
	TLS *tls.Config `json:"-"`
	// Forward, when set, sends the request from inside a pod: the probe
	// POSTs it to a stub's forward endpoint, which sends it to InPodURL.
	Forward *Forward `json:"forward,omitempty"`
	// Guard, when set, is called with every request the probe is about to
	// send for this endpoint (URL, Host and headers final); an error
	// refuses the request and nothing is sent. Live targets enforce
	// production safety here (methods, host allow-list, rate cap); it may
	// block until the request's context ends (the rate cap).
	Guard func(*http.Request) error `json:"-"`
	// Limiter, when set, is the rate limiter behind Guard: a sender that
	// does not call Guard for every request (a latency attack) paces
	// itself by it.
	Limiter Limiter `json:"-"`
}

// Screener is implemented by targets that refuse some requests before
// anything is sent (live targets: what production must not receive).
// check.Run calls Screen before a case's first request; an error wrapping
// ErrNotApplicable makes the case not applicable with the error as reason.
type Screener interface {
	Screen(entry string, req contract.Request) error
}

// Forward describes a request relayed by a stub's forward endpoint.
type Forward struct {
	// Endpoint is the stub's forward endpoint, e.g. http://127.0.0.1:30806/forward.
	Endpoint string `json:"endpoint"`
	// InPodURL is what the pod connects to, e.g. http://127.0.0.1:6501.
	InPodURL string `json:"inPodURL"`
}

// Address is what is dialled for this endpoint.
func (e Endpoint) Address() string {
	if e.ConnectTo != "" {
		return e.ConnectTo
	}
	if e.URL == nil {
		return ""
	}
	return e.URL.Host
}

func (e Endpoint) String() string {
	switch {
	case e.Forward != nil:
		return fmt.Sprintf("%s via forward %s -> %s", e.Entry, e.Forward.Endpoint, e.Forward.InPodURL)
	case e.URL == nil:
		return e.Entry
	case e.ConnectTo != "":
		return fmt.Sprintf("%s (connect to %s)", e.URL, e.ConnectTo)
	default:
		return e.URL.String()
	}
}

// FeatureDeclarer is implemented by a target that declares which
// features (the contract's rollout steps) it has enabled: the live target
// none (production today), the in-process replica those it was started
// with. A target that does not implement it (the config tier, the kind
// replica, a static file) has every feature on: its routing implements
// the planned steps.
type FeatureDeclarer interface {
	// Features are the names of the features on.
	Features() []string
}

// DeclaredFeatures are the features t has on, by its declaration, among
// the contract's: every one of them when t declares nothing.
func DeclaredFeatures(t Target, c *contract.Contract) []string {
	d, ok := t.(FeatureDeclarer)
	if !ok {
		return c.FeatureNames()
	}
	on := map[string]bool{}
	for _, n := range d.Features() {
		on[n] = true
	}
	out := []string{}
	for _, n := range c.FeatureNames() {
		if on[n] {
			out = append(out, n)
		}
	}
	return out
}
