// Package stub is a small HTTP server that stands in for every MediaWiki
// pod: it answers like MediaWiki's web or jobrunner pods do for the routes
// pretrain-check probes, and says who it is on every response (the Server
// header with the pod name, as production does, and, only when asked, the
// machine-readable identity.Header). Faults (latency, error rate, forced status) can be
// injected from its configuration and, when enabled, per request.
//
// Routes (every response carries Server: <pod>, and identity.Header when
// Config.IdentityHeader asks for it):
//
//	both roles  /w/health-check.php                     200 echo
//	web         /, /wiki/*, /w/index.php, /w/rest.php/*  200 echo
//	web         /w/api.php                              200 echo, "servedby": <pod> when asked
//	web         anything else (incl. RunSingleJob.php)  404 echo
//	jobrunner   /rpc/RunSingleJob.php                   405 non-POST (Allow: POST), 422 empty body
//	                                                    ("No event received."), 400 invalid JSON,
//	                                                    500 no "database", 200 JobResult
//	jobrunner   anything else, whatever the Host        404 echo
//
// Injected faults apply first, on every route: latency, then a forced
// status or a 503 drawn at the error rate, answered with the echo and its
// "fault" field set.
//
// The handler is modelled on gateway-api's echo-basic server; the forward
// endpoint on Istio's echo "forward" command.
package stub

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
)

// Roles a stub can play.
const (
	RoleWeb       = "web"
	RoleJobrunner = "jobrunner"
)

// Per-request fault headers, honoured only when Config.HeaderFaults is set.
const (
	// HeaderFaultLatency is a Go duration added before answering ("500ms").
	HeaderFaultLatency = "X-Pretrain-Fault-Latency"
	// HeaderFaultStatus forces the response status ("503").
	HeaderFaultStatus = "X-Pretrain-Fault-Status"
	// HeaderFaultErrorRate answers 503 with this probability ("0.5").
	HeaderFaultErrorRate = "X-Pretrain-Fault-Error-Rate"
)

// MaxLatency bounds injected latency, from the configuration or a header.
const MaxLatency = 5 * time.Minute

// Config is what a stub pod is and which faults it injects.
type Config struct {
	Identity     identity.Identity // Identity.Role is "web" or "jobrunner"
	Latency      time.Duration     // added to every response
	ErrorRate    float64           // 0..1 share of responses answered 503
	ForcedStatus int               // when non-zero every response gets this status
	HeaderFaults bool              // allow per-request fault headers (off by default)
	// IdentityHeader adds identity.Header to every response. Off by
	// default: production offers only Server (the pod name), so every
	// replica run identifies pods the way a live run must.
	IdentityHeader bool
}

// Validate reports every problem with the configuration at once.
func (c Config) Validate() error {
	var errs []error
	id := c.Identity
	if id.Namespace == "" {
		errs = append(errs, errors.New("identity namespace is required"))
	}
	if id.Release == "" {
		errs = append(errs, errors.New("identity release is required"))
	}
	if id.Pod == "" {
		errs = append(errs, errors.New("identity pod is required (it is the Server header)"))
	}
	if id.Role != RoleWeb && id.Role != RoleJobrunner {
		errs = append(errs, fmt.Errorf("identity role %q is not %q or %q", id.Role, RoleWeb, RoleJobrunner))
	}
	for _, f := range []struct{ name, v string }{
		{"namespace", id.Namespace}, {"release", id.Release}, {"dc", id.DC}, {"pod", id.Pod},
		{"node", id.Node}, {"image kind", id.ImageKind}, {"image flavour", id.ImageFlavour},
	} {
		if strings.ContainsAny(f.v, ";= \t\r\n") || strings.ContainsFunc(f.v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			errs = append(errs, fmt.Errorf("identity %s %q must not contain ';', '=', spaces or control characters", f.name, f.v))
		}
	}
	// A pod named like production ("<ns>.<dc>.<release>-<rs>-<pod>") is read
	// by checks from the Server header alone: it must agree with the identity.
	if fromPod, ok := identity.FromServer(id.Pod); ok && id.Namespace != "" && id.Release != "" {
		if fromPod.Namespace != id.Namespace || fromPod.Release != id.Release || (id.DC != "" && fromPod.DC != id.DC) {
			errs = append(errs, fmt.Errorf("identity pod %q names %s (dc %q), not %s (dc %q)",
				id.Pod, fromPod.Backend(), fromPod.DC, id.Backend(), id.DC))
		}
	}
	if c.Latency < 0 || c.Latency > MaxLatency {
		errs = append(errs, fmt.Errorf("latency %s is not within 0..%s", c.Latency, MaxLatency))
	}
	if !(c.ErrorRate >= 0 && c.ErrorRate <= 1) { // also rejects NaN
		errs = append(errs, fmt.Errorf("error rate %v is not within 0..1", c.ErrorRate))
	}
	if c.ForcedStatus != 0 && !validStatus(c.ForcedStatus) {
		errs = append(errs, fmt.Errorf("forced status %d is not within 200..599", c.ForcedStatus))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("validate stub config: %w", err)
	}
	return nil
}

func validStatus(s int) bool { return s >= 200 && s <= 599 }

// IdentityFromPod fills the namespace, dc and release that a production
// style pod name carries ("<ns>.<dc>.<release>-<rs>-<pod>") where id has
// none; other fields are kept.
func IdentityFromPod(id identity.Identity) identity.Identity {
	fromPod, ok := identity.FromServer(id.Pod)
	if !ok {
		return id
	}
	if id.Namespace == "" {
		id.Namespace = fromPod.Namespace
	}
	if id.Release == "" {
		id.Release = fromPod.Release
	}
	if id.DC == "" {
		id.DC = fromPod.DC
	}
	return id
}
