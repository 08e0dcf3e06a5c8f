// Package faults reads the catalogue of wrong-routing faults
// (fixtures/faults.yaml): for each fault, its name, what goes wrong, the
// targets that make it, and exactly the contract cases and share checks
// that must fail while it is on. The in-process proof
// (suites/proof_test.go, harness/replicatest) and the kind proof
// (harness/cluster, suites/e2e) both read it; how each target makes a fault
// stays with the target, looked up by name (see Implemented).
package faults

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/fixtures"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
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
	// Line is the fault's line in the catalogue.
	Line int

	// failLines and shareLines are the lines of Fails and Shares.
	failLines, shareLines []int
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

type rawFault struct {
	Name        string      `yaml:"name"`
	Description string      `yaml:"description"`
	Targets     []yaml.Node `yaml:"targets"`
	Fails       []yaml.Node `yaml:"fails"`
	Shares      []yaml.Node `yaml:"shares"`
}

// Parse reads a catalogue: a YAML list of faults, each with a unique name,
// a description, one or more known targets, and the cases (fails) and share
// checks (shares) it must fail, at least one, none twice. Every problem is
// reported at once, each as file:line. The names of cases and shares are
// checked against a contract by Validate.
func Parse(file string, data []byte) (*Catalogue, error) {
	var raw []rawFault
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("parse fault catalogue %s: %w", file, err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("parse fault catalogue %s: %w", file, err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("parse fault catalogue %s: no faults", file)
	}
	var items []*yaml.Node
	if len(root.Content) == 1 && root.Content[0].Kind == yaml.SequenceNode {
		items = root.Content[0].Content
	}
	var errs []error
	seen := map[string]int{}
	var fs []Fault
	for i, r := range raw {
		e := Fault{Name: r.Name, Description: strings.TrimSpace(r.Description)}
		if i < len(items) {
			e.Line = items[i].Line
		}
		at := func(line int, format string, a ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: fault %q: %s", file, line, e.Name, fmt.Sprintf(format, a...)))
		}
		if e.Name == "" {
			at(e.Line, "name is required")
		} else if prev, ok := seen[e.Name]; ok {
			at(e.Line, "duplicate name (first at line %d)", prev)
		} else {
			seen[e.Name] = e.Line
		}
		if e.Description == "" {
			at(e.Line, "description is required: say what goes wrong")
		}
		names := func(what string, ns []yaml.Node) (vals []string, ls []int) {
			first := map[string]int{}
			for _, n := range ns {
				if n.Kind != yaml.ScalarNode || n.Value == "" {
					at(n.Line, "%s: expected a name", what)
					continue
				}
				if prev, ok := first[n.Value]; ok {
					at(n.Line, "%s: %q listed twice (first at line %d)", what, n.Value, prev)
					continue
				}
				first[n.Value] = n.Line
				vals = append(vals, n.Value)
				ls = append(ls, n.Line)
			}
			return vals, ls
		}
		var tls []int
		e.Targets, tls = names("targets", r.Targets)
		if len(r.Targets) == 0 {
			at(e.Line, "targets is empty: name the targets that make it (%s)", strings.Join(Targets, ", "))
		}
		for j, t := range e.Targets {
			if !slices.Contains(Targets, t) {
				at(tls[j], "unknown target %q (known: %s)", t, strings.Join(Targets, ", "))
			}
		}
		e.Fails, e.failLines = names("fails", r.Fails)
		e.Shares, e.shareLines = names("shares", r.Shares)
		if len(r.Fails)+len(r.Shares) == 0 {
			at(e.Line, "fails and shares are empty: a fault that fails nothing proves nothing")
		}
		sortWith(e.Fails, e.failLines)
		sortWith(e.Shares, e.shareLines)
		fs = append(fs, e)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("validate fault catalogue: %w", err)
	}
	return &Catalogue{File: file, Faults: fs}, nil
}

// sortWith sorts names, keeping each line with its name.
func sortWith(names []string, ls []int) {
	idx := make([]int, len(names))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return names[idx[a]] < names[idx[b]] })
	ns, ll := slices.Clone(names), slices.Clone(ls)
	for i, j := range idx {
		names[i], ls[i] = ns[j], ll[j]
	}
}

// Validate checks the catalogue against a contract: every listed case is
// one of its cases, every listed share one of its share checks. Every
// problem is reported at once, each as file:line of the offending name.
func (c *Catalogue) Validate(ct *contract.Contract) error {
	shares := map[string]bool{}
	for _, s := range ct.Shares {
		shares[s.Name] = true
	}
	var errs []error
	for _, f := range c.Faults {
		for i, name := range f.Fails {
			if ct.Case(name) == nil {
				errs = append(errs, fmt.Errorf("%s:%d: fault %q: case %q is not in the contract %s", c.File, line(f.failLines, i, f.Line), f.Name, name, ct.Source))
			}
		}
		for i, name := range f.Shares {
			if !shares[name] {
				errs = append(errs, fmt.Errorf("%s:%d: fault %q: share check %q is not in the contract %s", c.File, line(f.shareLines, i, f.Line), f.Name, name, ct.Source))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fault catalogue against the contract: %w", err)
	}
	return nil
}

func line(ls []int, i, def int) int {
	if i < len(ls) {
		return ls[i]
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
			errs = append(errs, fmt.Errorf("%s:%d: fault %q is listed for %s but %s does not make it", c.File, f.Line, f.Name, target, target))
		}
	}
	for _, n := range implemented {
		f, ok := c.Fault(n)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s makes fault %q, which %s does not list", target, n, c.File))
		case !f.On(target):
			errs = append(errs, fmt.Errorf("%s:%d: %s makes fault %q, but its targets do not name %s", c.File, f.Line, target, n, target))
		}
	}
	return errors.Join(errs...)
}
