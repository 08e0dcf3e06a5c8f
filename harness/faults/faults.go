// Package faults reads the catalogue of wrong-routing faults
// (fixtures/faults.yaml): for each fault, its name, what goes wrong, the
// targets that make it, and exactly the contract cases and share checks
// that must fail while it is on. The in-process proof
// (suites/proof_test.go, harness/replicatest) and the kind proof
// (harness/cluster, suites/e2e) both read it; how each target makes a fault
// stays with the target, looked up by name (see Implemented).
package faults

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/fixtures"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/yamlpos"
)

// The targets that make faults.
const (
	// InProcess is the in-process replica, harness/replicatest.
	InProcess = "in-process"
	// Kind is the kind replica, harness/cluster.
	Kind = "kind"
)

// Targets lists the known targets.
var Targets = []string{InProcess, Kind}

// SharePrefix prefixes a share check's name among the failures, as the
// proofs name failed share checks ("share main-canary-share").
const SharePrefix = "share "

// Fault is one entry of the catalogue.
type Fault struct {
	Name string
	// Description says what goes wrong, whatever the target.
	Description string
	// Targets are the targets that make the fault (InProcess, Kind).
	Targets []string
	// Fails are the contract cases that must fail while the fault is on,
	// and only those, sorted.
	Fails []string
	// Shares are the share checks that must fail, sorted.
	Shares []string
	// Pos is where the fault is written in the catalogue.
	Pos yamlpos.Position

	// failPos and sharePos are where each of Fails and Shares is written.
	failPos, sharePos []yamlpos.Position
}

// On reports whether target makes the fault.
func (f Fault) On(target string) bool { return slices.Contains(f.Targets, target) }

// Failures are the cases and share checks ("share NAME") that must fail,
// sorted: what the proofs compare with the failed ones of a run.
func (f Fault) Failures() []string {
	out := slices.Clone(f.Fails)
	for _, s := range f.Shares {
		out = append(out, SharePrefix+s)
	}
	sort.Strings(out)
	return out
}

// Catalogue is the parsed catalogue, faults in file order.
type Catalogue struct {
	File   string
	Faults []Fault
}

// Fault returns the fault called name.
func (c *Catalogue) Fault(name string) (Fault, bool) {
	for _, f := range c.Faults {
		if f.Name == name {
			return f, true
		}
	}
	return Fault{}, false
}

// For lists the faults target makes, in file order.
func (c *Catalogue) For(target string) []Fault {
	var out []Fault
	for _, f := range c.Faults {
		if f.On(target) {
			out = append(out, f)
		}
	}
	return out
}

// Names lists the faults' names, in file order.
func Names(fs []Fault) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

// Default parses the embedded catalogue (fixtures/faults.yaml) and checks
// it against the default contract.
func Default() (*Catalogue, error) {
	c, err := Parse(fixtures.FaultsFile, fixtures.Faults)
	if err != nil {
		return nil, err
	}
	ct, err := contract.Default()
	if err != nil {
		return nil, err
	}
	if err := c.Validate(ct); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse reads a catalogue: a YAML list of faults, each with a unique name,
// a description, one or more known targets, and the cases (fails) and share
// checks (shares) it must fail, at least one, none twice. Every problem is
// reported at once, each as file:line:col (a *yamlpos.Problems). The names
// of cases and shares are checked against a contract by Validate.
func Parse(file string, data []byte) (*Catalogue, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("parse fault catalogue %s: %w", file, err)
	}
	w := &yamlpos.Walker{File: file}
	if len(root.Content) != 1 || root.Content[0].Kind != yaml.SequenceNode || len(root.Content[0].Content) == 0 {
		w.Add(yamlpos.Position{File: file}, "expected a list of faults")
		return nil, w.Err()
	}
	c := &Catalogue{File: file}
	seen := map[string]yamlpos.Position{}
	for _, item := range root.Content[0].Content {
		f := Fault{Pos: w.Pos(item)}
		var targets, fails, shares []*yaml.Node
		w.Mapping(yamlpos.Deref(item), func(key string, k, v *yaml.Node) {
			switch key {
			case "name":
				w.Str(v, &f.Name)
			case "description":
				w.Str(v, &f.Description)
			case "targets":
				targets = list(w, v)
			case "fails":
				fails = list(w, v)
			case "shares":
				shares = list(w, v)
			default:
				w.Errorf(k, "unknown field %q (known: name, description, targets, fails, shares)", key)
			}
		})
		at := func(n *yaml.Node, format string, a ...any) {
			w.Errorf(n, "fault %q: %s", f.Name, fmt.Sprintf(format, a...))
		}
		f.Description = strings.TrimSpace(f.Description)
		if f.Name == "" {
			at(item, "name is required")
		} else if prev, ok := seen[f.Name]; ok {
			at(item, "duplicate name (first at line %d)", prev.Line)
		} else {
			seen[f.Name] = f.Pos
		}
		if f.Description == "" {
			at(item, "description is required: say what goes wrong")
		}
		names := func(what string, ns []*yaml.Node) (vals []string, ps []yamlpos.Position) {
			first := map[string]int{}
			for _, n := range ns {
				var v string
				if !w.Str(n, &v) {
					continue
				}
				if prev, ok := first[v]; ok {
					at(n, "%s: %q listed twice (first at line %d)", what, v, prev)
					continue
				}
				first[v] = n.Line
				vals = append(vals, v)
				ps = append(ps, w.Pos(n))
			}
			return vals, ps
		}
		var tps []yamlpos.Position
		f.Targets, tps = names("targets", targets)
		if len(targets) == 0 {
			at(item, "targets is empty: name the targets that make it (%s)", strings.Join(Targets, ", "))
		}
		for i, t := range f.Targets {
			if !slices.Contains(Targets, t) {
				w.Add(tps[i], "fault %q: unknown target %q (known: %s)", f.Name, t, strings.Join(Targets, ", "))
			}
		}
		f.Fails, f.failPos = names("fails", fails)
		f.Shares, f.sharePos = names("shares", shares)
		if len(fails)+len(shares) == 0 {
			at(item, "fails and shares are empty: a fault that fails nothing proves nothing")
		}
		sortWith(f.Fails, f.failPos)
		sortWith(f.Shares, f.sharePos)
		c.Faults = append(c.Faults, f)
	}
	if err := w.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// list reads a sequence's items (a problem when n is not a sequence).
func list(w *yamlpos.Walker, n *yaml.Node) []*yaml.Node {
	n = yamlpos.Deref(n)
	if n.Kind != yaml.SequenceNode {
		w.Errorf(n, "expected a list")
		return nil
	}
	return n.Content
}

// sortWith sorts names, keeping each position with its name.
func sortWith(names []string, ps []yamlpos.Position) {
	idx := make([]int, len(names))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return names[idx[a]] < names[idx[b]] })
	ns, pp := slices.Clone(names), slices.Clone(ps)
	for i, j := range idx {
		names[i], ps[i] = ns[j], pp[j]
	}
}

// Validate checks the catalogue against a contract: every listed case is
// one of its cases, every listed share one of its share checks. Every
// problem is reported at once, each as file:line:col of the offending name
// (a *yamlpos.Problems).
func (c *Catalogue) Validate(ct *contract.Contract) error {
	shares := map[string]bool{}
	for _, s := range ct.Shares {
		shares[s.Name] = true
	}
	var ps yamlpos.Problems
	for _, f := range c.Faults {
		for i, name := range f.Fails {
			if ct.Case(name) == nil {
				ps.Add(posAt(f.failPos, i, f.Pos), "fault %q: case %q is not in the contract %s", f.Name, name, ct.Source)
			}
		}
		for i, name := range f.Shares {
			if !shares[name] {
				ps.Add(posAt(f.sharePos, i, f.Pos), "fault %q: share check %q is not in the contract %s", f.Name, name, ct.Source)
			}
		}
	}
	return ps.Err()
}

// posAt is ps[i], or def when ps has no i (a Fault not made by Parse).
func posAt(ps []yamlpos.Position, i int, def yamlpos.Position) yamlpos.Position {
	if i < len(ps) {
		return ps[i]
	}
	return def
}

// Implemented checks that target implements exactly the catalogue's faults
// for it: every fault listed for target is in implemented, and every name
// in implemented is a fault of the catalogue listed for target. Both ways
// are reported at once.
func (c *Catalogue) Implemented(target string, implemented []string) error {
	have := map[string]bool{}
	for _, n := range implemented {
		have[n] = true
	}
	var errs []error
	for _, f := range c.For(target) {
		if !have[f.Name] {
			errs = append(errs, fmt.Errorf("%s: fault %q is listed for %s but %s does not make it", f.Pos, f.Name, target, target))
		}
	}
	for _, n := range implemented {
		f, ok := c.Fault(n)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s makes fault %q, which %s does not list", target, n, c.File))
		case !f.On(target):
			errs = append(errs, fmt.Errorf("%s: %s makes fault %q, but its targets do not name %s", f.Pos, target, n, target))
		}
	}
	return errors.Join(errs...)
}
