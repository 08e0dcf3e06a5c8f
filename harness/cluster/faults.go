package cluster

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	fixturefiles "gitlab.wikimedia.org/repos/sre/pretrain-check/fixtures"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/faults"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/haproxy"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/mutate"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// Fault is one deliberate routing mistake made in the LIVE replica, so
// that the e2e tier can prove the suites fail, naming the right cases, when
// the real proxies route wrongly. Two catalogues list them:
//   - fixtures/faults.yaml (read by harness/faults, shared with the
//     in-process replica's proof): the edge, REST gateway and mesh faults,
//     each made here by an edit of a proxy's ConfigMap (kindFaults);
//   - fixtures/mutations/routes.yaml (shared with the config tier's
//     proof): edits of the routing input, from which the ingress gateway
//     is regenerated, as a chart change would change it.
//
// Each runs in a variant of its proxy (variant.go), and names exactly the
// cases it must fail.
type Fault struct {
	Name string
	// Description says what goes wrong (the catalogue's words).
	Description string
	// Breaks are the default contract's cases (and "share NAME" checks)
	// that must fail while the fault is on, and only those, sorted: the
	// catalogue's.
	Breaks []string

	kindFault
}

// kindFault is how the kind replica makes a fault.
type kindFault struct {
	// made says how, in words.
	made string
	// config, when set, is a text edit of a proxy's ConfigMap.
	config *configEdit
	// proxy is the Deployment whose variant (variant.go) runs the edited
	// ConfigMap.
	proxy deploymentRef
	// mutation, when set, is an edit of the routing input the ingress
	// gateway is generated from (fixtures/mutations/routes.yaml); its
	// variant is the gateway's.
	mutation *mutate.Mutation
}

// variant is the copy of a proxy the fault runs in.
func (f Fault) variant() variant {
	if f.mutation != nil {
		return variant{proxy: gatewayRef, config: configObject{secret: true, name: gatewaySecret}, fault: f.Name, pooled: true}
	}
	return variant{proxy: f.proxy, config: configObject{name: f.config.name}, fault: f.Name, pooled: f.proxy == restGateway}
}

// Proxies' configuration objects the faults edit.
var (
	edge        = deploymentRef{"pretrain-infra", "edge"}
	restGateway = deploymentRef{"pretrain-infra", "rest-gateway"}
	meshClient  = deploymentRef{"mw-pretrain", "mw-pretrain.eqiad.mesh-client"}
)

// kindFaults is how the kind replica makes each fault the catalogue
// (fixtures/faults.yaml) lists for kind, by the fault's name.
func kindFaults() map[string]kindFault {
	return map[string]kindFault{
		"testwiki-not-diverted": {
			made: "the edge sends testwiki's plain traffic to mw-web like any other wiki",
			config: configEditOf("pretrain-infra", "edge-config", "edge.lua",
				replace("  if host == TESTWIKI then\n    return proxy(UPSTREAM.ingress)",
					"  if host == TESTWIKI then\n    return proxy(UPSTREAM.web)")),
			proxy: edge,
		},
		"other-wiki-diverted": {
			made: "the edge sends every other wiki to the Pretrain ingress",
			config: configEditOf("pretrain-infra", "edge-config", "edge.lua",
				replace("  return proxy(UPSTREAM.web)\nend", "  return proxy(UPSTREAM.ingress)\nend")),
			proxy: edge,
		},
		"xwd-scope-ignored": {
			made: "the edge accepts an XWD backend whatever the Host's scope",
			config: configEditOf("pretrain-infra", "edge-config", "xwd.lua",
				replace("  local to = scope.backends[backend]\n",
					"  local to = scope.backends[backend] or SCOPES[1].backends[backend] or DEFAULT_SCOPE.backends[backend]\n")),
			proxy: edge,
		},
		"mesh-split-missing": {
			made: "the mesh listeners 6501 and 6506 lose their testwiki split",
			config: configEditOf("mw-pretrain", "mesh-proxy-config", "haproxy.cfg",
				replace("    use_backend pretrain-ingress if split_pretrain\n", ""),
				replace("    use_backend pretrain-jobrunner if split_pretrain\n", "")),
			proxy: meshClient,
		},
		"mesh-split-all-hosts": {
			made: "the mesh split's host regex matches every host",
			config: configEditOf("mw-pretrain", "mesh-proxy-config", "haproxy.cfg",
				replaceAll("-m reg ^(test[.]wikipedia[.]org)$", "-m reg .", 2)),
			proxy: meshClient,
		},
		"mesh-split-unanchored": {
			made: "the mesh split's host regex matches a substring, not the whole Host",
			config: configEditOf("mw-pretrain", "mesh-proxy-config", "haproxy.cfg",
				replaceAll("-m reg ^(test[.]wikipedia[.]org)$", "-m reg test[.]wikipedia[.]org", 2)),
			proxy: meshClient,
		},
		"rest-prefers-xwd": {
			made: "the REST gateway checks the XWD backend before the Host diversion",
			config: configEditOf("pretrain-infra", "rest-gateway-config", "haproxy.cfg",
				replace("    use_backend pretrain-ingress if host_testwiki\n    use_backend mw-debug if xwd_mwdebug\n",
					"    use_backend mw-debug if xwd_mwdebug\n    use_backend pretrain-ingress if host_testwiki\n")),
			proxy: restGateway,
		},
	}
}

// LoadFaults lists every fault the catalogue (fixtures/faults.yaml) lists
// for kind, in its order, each with how the kind replica makes it. An
// error when the catalogue is invalid, a fault it lists for kind has no
// kindFaults entry, or a kindFaults entry is not in it for kind.
func LoadFaults() ([]Fault, error) {
	c, err := faults.Default()
	if err != nil {
		return nil, err
	}
	impls := kindFaults()
	if err := c.Implemented(faults.Kind, slices.Sorted(maps.Keys(impls))); err != nil {
		return nil, fmt.Errorf("the kind replica's faults (harness/cluster/faults.go): %w", err)
	}
	var fs []Fault
	names := map[string]bool{}
	for _, f := range c.For(faults.Kind) {
		fs = append(fs, Fault{Name: f.Name, Description: f.Description, Breaks: f.Failures(), kindFault: impls[f.Name]})
		names[f.Name] = true
	}
	ms, err := configtarget.Mutations()
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if names[m.Name] {
			return nil, fmt.Errorf("mutation %q (%s:%d) is named like a fault of %s", m.Name, fixturefiles.RouteMutationsFile, m.Line, fixturefiles.FaultsFile)
		}
		m := m
		fs = append(fs, Fault{Name: m.Name, Description: m.Description, Breaks: slices.Sorted(slices.Values(m.Fails)),
			kindFault: kindFault{made: "the routing input mutated: " + m.Description, mutation: &m}})
	}
	return fs, nil
}

// Faults lists every fault, in the catalogue's order. It panics when
// LoadFaults fails: the catalogue is embedded, and TestFaultCatalogue
// proves it loads.
func Faults() []Fault {
	fs, err := LoadFaults()
	if err != nil {
		panic(err)
	}
	return fs
}

// FaultByName finds a fault.
func FaultByName(name string) (Fault, error) {
	fs, err := LoadFaults()
	if err != nil {
		return Fault{}, err
	}
	var names []string
	for _, f := range fs {
		if f.Name == name {
			return f, nil
		}
		names = append(names, f.Name)
	}
	return Fault{}, fmt.Errorf("fault %q: unknown (known: %s)", name, strings.Join(names, ", "))
}

// edit is a text change of a config file; it fails when it no longer
// applies, so a fault never silently becomes a no-op when configs change.
type edit func(string) (string, error)

func replace(old, new string) edit { return replaceAll(old, new, 1) }

// replaceAll replaces old, which must occur exactly n times.
func replaceAll(old, new string, n int) edit {
	return func(s string) (string, error) {
		if got := strings.Count(s, old); got != n {
			return "", fmt.Errorf("expected %d occurrence(s) of %q, found %d", n, old, got)
		}
		return strings.ReplaceAll(s, old, new), nil
	}
}

func applyEdits(s string, edits []edit) (string, error) {
	for _, e := range edits {
		var err error
		if s, err = e(s); err != nil {
			return "", err
		}
	}
	return s, nil
}

// configEdit is a text edit of one key of a ConfigMap built from
// fixtures/kind/configmaps/<namespace>/<name>/<key>.
type configEdit struct {
	namespace, name, key string
	edits                []edit
}

func configEditOf(namespace, name, key string, edits ...edit) *configEdit {
	return &configEdit{namespace: namespace, name: name, key: key, edits: edits}
}

// path is the edited file, relative to the configmaps directory.
func (c *configEdit) path() string { return c.namespace + "/" + c.name + "/" + c.key }

// edit returns data with the edited key.
func (c *configEdit) edit(data map[string]string) (map[string]string, error) {
	in, ok := data[c.key]
	if !ok {
		return nil, fmt.Errorf("no key %q", c.key)
	}
	out, err := applyEdits(in, c.edits)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", c.key, err)
	}
	data[c.key] = out
	return data, nil
}

// breaksPass waits until every case the fault broke passes again
// RequiredConsecutive times in a row: the proof that the revert took.
func (r *Replica) breaksPass(ctx context.Context, f Fault) error {
	c, err := contract.Default()
	if err != nil {
		return err
	}
	var cases []*contract.Case
	for _, name := range f.Breaks {
		cs := c.Case(name)
		if cs == nil {
			return fmt.Errorf("fault %q breaks case %q, which the default contract does not have", f.Name, name)
		}
		cases = append(cases, cs)
	}
	p := probe.New(probe.Options{Timeout: attemptTimeout(r.opts.timeouts), FreshConnections: true})
	defer p.Close()
	vs := check.RunAll(ctx, c, cases, r.target, p, check.PollConfig{
		Timeout: r.opts.timeouts.Converge, Interval: r.opts.timeouts.ConvergeInterval,
		RequiredConsecutive: r.opts.timeouts.RequiredConsecutive, MaxHistory: 3,
	}, len(cases))
	var errs []error
	for _, v := range vs {
		if v.Outcome != check.Passed {
			errs = append(errs, fmt.Errorf("case %q still %s: %s", v.Case.Name, v.Outcome, strings.Join(v.Reasons, "; ")))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fault %q not reverted: %w", f.Name, err)
	}
	return nil
}

//go:embed faults.yaml
var faultsYAML []byte

func faultWitnesses() (*contract.Contract, error) {
	c, err := contract.Parse("harness/cluster/faults.yaml", faultsYAML)
	if err != nil {
		return nil, fmt.Errorf("parse fault witnesses: %w", err)
	}
	return c, nil
}

// Inject makes the fault in the live replica: it starts the fault's
// variant of a proxy (variant.go) and points the proxy's Services at it,
// then waits until the fault's witness request gets the wrong answer
// RequiredConsecutive times in a row, each on a new connection (a kept one
// may reach a pod a new connection no longer does): from then on the
// suites see the fault. Prints "[fault] <name> 4.2s".
func (r *Replica) Inject(ctx context.Context, f Fault) error {
	err := runStep(ctx, r.opts.logger, "fault", step{name: f.Name, timeout: r.opts.timeouts.Ready + r.opts.timeouts.Converge, run: func(ctx context.Context) (string, error) {
		// A variant left by an interrupted run goes first.
		if err := f.variant().stop(ctx, r); err != nil {
			return "", err
		}
		if f.mutation != nil {
			return r.injectMutation(ctx, f)
		}
		return r.injectConfigEdit(ctx, f)
	}})
	if err != nil {
		return fmt.Errorf("inject fault %q: %w", f.Name, err)
	}
	return nil
}

// injectConfigEdit runs the proxy's variant with the edited ConfigMap and
// waits for the fault's witness (harness/cluster/faults.yaml).
func (r *Replica) injectConfigEdit(ctx context.Context, f Fault) (string, error) {
	w, err := faultWitnesses()
	if err != nil {
		return "", err
	}
	witness := w.Case(f.Name)
	if witness == nil {
		return "", fmt.Errorf("no witness in faults.yaml")
	}
	if f.config == nil || f.config.namespace != f.proxy.namespace {
		return "", fmt.Errorf("the fault edits no ConfigMap of %s", f.proxy)
	}
	pointed, err := f.variant().start(ctx, r, f.config.edit)
	if err != nil {
		return "", err
	}
	p := probe.New(probe.Options{Timeout: attemptTimeout(r.opts.timeouts), FreshConnections: true})
	defer p.Close()
	v := check.Run(ctx, w, witness, r.target, p, check.PollConfig{
		Timeout: r.opts.timeouts.Converge, Interval: r.opts.timeouts.ConvergeInterval,
		RequiredConsecutive: r.opts.timeouts.RequiredConsecutive, MaxHistory: 3,
	})
	if v.Outcome != check.Passed {
		return "", fmt.Errorf("witness %s %s%s on %s never showed the fault: %s", witness.Request.Method, witness.Request.Host,
			witness.Request.Path, witness.Entry, strings.Join(v.Reasons, "; "))
	}
	return fmt.Sprintf("live: %s (Services %s)", f.made, strings.Join(pointed, ", ")), nil
}

// Revert undoes a fault, even one whose injection failed half-way: it
// points the proxy's Services back at the proxy's own pods (which kept
// running) and deletes the variant, then reconverges and checks that the
// cases the fault broke pass again.
func (r *Replica) Revert(ctx context.Context, f Fault) error {
	err := runStep(ctx, r.opts.logger, "revert", step{name: f.Name, timeout: r.opts.timeouts.Ready + r.opts.timeouts.Converge, run: func(ctx context.Context) (string, error) {
		if err := f.variant().stop(ctx, r); err != nil {
			return "", err
		}
		// Both only probe: at the same time.
		var (
			res                   convergeResult
			convergeErr, brokeErr error
			wg                    sync.WaitGroup
		)
		wg.Go(func() { res, convergeErr = converge(ctx, r.target, r.opts.timeouts) })
		wg.Go(func() { brokeErr = r.breaksPass(ctx, f) })
		wg.Wait()
		if err := errors.Join(convergeErr, brokeErr); err != nil {
			return "", err
		}
		return fmt.Sprintf("reconverged: %d probes and the %d cases it broke", res.probes, len(f.Breaks)), nil
	}})
	if err != nil {
		return fmt.Errorf("revert fault %q: %w", f.Name, err)
	}
	return nil
}

// injectMutation runs the gateway's variant generated from the example
// routing input with the fault's mutation and waits until the gateway answers the first
// case the mutation breaks at a gateway entry with the route the mutated
// model predicts, RequiredConsecutive times in a row: from then on every
// request meets the mutated routing.
func (r *Replica) injectMutation(ctx context.Context, f Fault) (string, error) {
	if r.opts.ingress != IngressGateway || r.opts.routes != nil {
		return "", errors.New("a routing input mutation needs the ingress entry points on the gateway generated from the example input (no --routes, no --ingress objects)")
	}
	in, err := configtarget.Input{Mutations: []mutate.Mutation{*f.mutation}}.Read()
	if err != nil {
		return "", err
	}
	m, err := istio.New(in)
	if err != nil {
		return "", fmt.Errorf("model the mutated input: %w", err)
	}
	c, err := contract.Default()
	if err != nil {
		return "", err
	}
	var witness *contract.Case
	var ep target.Endpoint
	for _, name := range f.Breaks {
		cs := c.Case(name)
		if cs == nil {
			continue
		}
		if e, err := r.target.Endpoint(cs.Entry); err == nil && e.TLS != nil && e.URL.Scheme == "https" {
			witness, ep = cs, e
			break
		}
	}
	if witness == nil {
		return "", fmt.Errorf("none of the cases it breaks (%v) is at the gateway's entries: no witness", f.Breaks)
	}
	req := istio.Request{SNI: ep.TLS.ServerName, Host: witness.Request.Host, Method: witness.Request.Method, Path: witness.Request.Path, Header: http.Header{}}
	for _, h := range witness.Request.Headers {
		req.Header.Add(h.Name, h.Value)
	}
	want := haproxy.RouteHeaderFor(m.Route(req))
	running, err := configtarget.ExampleInput()
	if err != nil {
		return "", err
	}
	config, err := r.gatewayConfigFor(ctx, in, running)
	if err != nil {
		return "", err
	}
	pointed, err := f.variant().start(ctx, r, func(map[string]string) (map[string]string, error) { return config, nil })
	if err != nil {
		return "", err
	}
	p := probe.New(probe.Options{Timeout: attemptTimeout(r.opts.timeouts), FreshConnections: true})
	defer p.Close()
	inARow, last := 0, ""
	for inARow < r.opts.timeouts.RequiredConsecutive {
		res := p.Do(ctx, ep, witness.Request)
		if last = strings.Join(res.Header(haproxy.RouteHeader), ","); last == want && res.Err == "" {
			inARow++
			continue
		}
		inARow = 0
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("witness %s never took the mutated route %q (last: %q): %w", witness.Name, want, last, ctx.Err())
		case <-time.After(r.opts.timeouts.ConvergeInterval):
		}
	}
	return fmt.Sprintf("live: %s (witness %s takes %q; Services %s)", f.made, witness.Name, want, strings.Join(pointed, ", ")), nil
}

// attemptTimeout bounds one request of a witness, converge or revert check:
// a new connection that stalls (its SYN sent to a pod just replaced, before
// kube-proxy has caught up) is given up after a second and retried within
// the check's budget, not waited on for the whole request timeout.
func attemptTimeout(t Timeouts) time.Duration { return min(t.Request, time.Second) }
