package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/cluster"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/live"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// targetOption tunes openTarget.
type targetOption func(*targetOptions)

type targetOptions struct {
	live     liveFlags
	replica  replicaFlags
	routes   routesFlags
	stdin    io.Reader
	config   **configTier
	diagnose *func(ctx context.Context, dir string) error
}

// withRoutes passes the routing input (--target config) and the stdin
// "--routes -" reads; config is set to the running tier, for route coverage.
func withRoutes(r routesFlags, stdin io.Reader, config **configTier) targetOption {
	return func(o *targetOptions) { o.routes, o.stdin, o.config = r, stdin, config }
}

// withDiagnostics asks openTarget for a way to collect the environment's
// diagnostics (events, pod statuses, proxy logs) after a failed run; it
// stays nil for targets that have none.
func withDiagnostics(d *func(ctx context.Context, dir string) error) targetOption {
	return func(o *targetOptions) { o.diagnose = d }
}

// withReplica passes the kind replica's flags (--target kind).
func withReplica(r replicaFlags) targetOption { return func(o *targetOptions) { o.replica = r } }

// withLive passes the live target flags.
func withLive(l liveFlags) targetOption { return func(o *targetOptions) { o.live = l } }

// openTarget turns --target into a Target. The returned func releases it.
// "live" is the built-in live target file (fixtures/targets/live.yaml); a
// FILE is a live target file when it says "kind: live", else a static one.
func openTarget(ctx context.Context, spec string, opts ...targetOption) (target.Target, func(), error) {
	var o targetOptions
	for _, opt := range opts {
		opt(&o)
	}
	switch spec {
	case "kind":
		// Attach checks that the cluster exists and answers: a replica that
		// is not up is an environment problem (exit 3), said at once.
		copts, err := o.replica.options()
		if err != nil {
			return nil, nil, usageError(fmt.Errorf("--target kind: %w", err))
		}
		r, err := cluster.Attach(ctx, copts...)
		if err != nil {
			return nil, nil, environmentError(err)
		}
		if o.diagnose != nil {
			*o.diagnose = r.CollectDiagnostics
		}
		return r.Target(), func() {}, nil
	case "config":
		// The config tier: production's rendered routing, in-process.
		ct, err := openConfigTier(ctx, o.routes, o.stdin)
		if err != nil {
			return nil, nil, err
		}
		if o.config != nil {
			*o.config = ct
		}
		return ct.tier.Target(), func() { _ = ct.tier.Close() }, nil
	case "live":
		f, err := live.Default()
		if err != nil {
			return nil, nil, fmt.Errorf("read the built-in live target: %w", err)
		}
		return openLive(f, o.live)
	}
	data, err := os.ReadFile(spec)
	if err != nil {
		return nil, nil, usageError(fmt.Errorf("--target %q: not \"kind\", \"config\", \"live\" or a readable target file: %w", spec, err))
	}
	if live.IsLiveFile(data) {
		f, err := live.Parse(spec, data)
		if err != nil {
			return nil, nil, usageError(err)
		}
		return openLive(f, o.live)
	}
	if used := o.live.used(); len(used) > 0 {
		return nil, nil, usageError(fmt.Errorf("%s: only for live targets, and %q is a static target file", strings.Join(used, ", "), spec))
	}
	t, err := target.ParseStatic(spec, data)
	if err != nil {
		return nil, nil, usageError(err)
	}
	return t, func() {}, nil
}

func openLive(f *live.File, l liveFlags) (target.Target, func(), error) {
	vantage := l.vantage
	if vantage == "" {
		vantage = "external"
	}
	t, err := f.Target(live.Options{
		Vantage:   vantage,
		ConnectTo: l.connectTo,
		CAFile:    l.caFile,
		UserAgent: l.userAgent,
		Rate:      l.rate,
	})
	if err != nil {
		return nil, nil, usageError(err)
	}
	return t, func() {}, nil
}

// userAgentFor is the User-Agent probes send to tgt: the live target's
// (Wikimedia's policy), else the probe's default.
func userAgentFor(tgt target.Target) string {
	if lt, ok := tgt.(interface{ UserAgent() string }); ok {
		return lt.UserAgent()
	}
	return ""
}

// liveFlags are the flags of a live target.
type liveFlags struct {
	vantage   string
	connectTo string
	caFile    string
	userAgent string
	rate      float64
}

func (l *liveFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&l.vantage, "vantage", "",
		`live target: vantage point, "external" (the edge, from outside) or "internal" (the shared ingress, from a deployment host) (default "external")`)
	fl.StringVar(&l.connectTo, "connect-to", "",
		"live target: send every request of the vantage point to ADDR:PORT (one edge or load balancer), keeping Host and SNI")
	fl.StringVar(&l.caFile, "ca-file", "", "live target: also trust the CA certificates of this PEM FILE (verification stays on)")
	fl.StringVar(&l.userAgent, "user-agent", "",
		"live target: User-Agent with contact information, Wikimedia's User-Agent policy (default: the target file's)")
	fl.Var((*rateValue)(&l.rate), "rate",
		fmt.Sprintf("live target: at most this many requests per second, %g to %g (default: the target file's)", live.MinRate, live.MaxRate))
}

// rateValue is a --rate flag: a finite number within [live.MinRate,
// live.MaxRate], refused when parsed (exit 2 naming the flag), so no
// input can switch the rate cap off.
type rateValue float64

func (r *rateValue) String() string {
	if *r == 0 {
		return ""
	}
	return strconv.FormatFloat(float64(*r), 'g', -1, 64)
}

func (r *rateValue) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return fmt.Errorf("parse rate %q: %w", s, err)
	}
	if err := live.CheckRate(f, live.MaxRate); err != nil {
		return err
	}
	*r = rateValue(f)
	return nil
}

func (r *rateValue) Type() string { return "float" }

// checkUserAgentFlag refuses a --user-agent with control characters or
// without contact details before anything else happens.
func checkUserAgentFlag(ua string) error {
	if ua == "" {
		return nil
	}
	if err := live.CheckUserAgent(ua); err != nil {
		return usageError(fmt.Errorf("--user-agent: %w", err))
	}
	return nil
}

// used lists the live flags given.
func (l liveFlags) used() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"--vantage", l.vantage != ""},
		{"--connect-to", l.connectTo != ""},
		{"--ca-file", l.caFile != ""},
		{"--user-agent", l.userAgent != ""},
		{"--rate", l.rate != 0},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}
