package contract

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/yamlpos"
)

// FormatVersion is the only contract format version this package reads
// (the top-level "version" key).
const FormatVersion = 1

// Load reads, parses and validates the contract at path. When the file is
// read but has problems, the error is a *Problems listing every one of
// them with its file:line:col.
func Load(path string) (*Contract, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load contract: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and validates a contract; name is the file name used in
// positions and as the contract's Source. On problems it returns a nil
// contract and a *Problems error listing all of them.
func Parse(name string, data []byte) (*Contract, error) {
	p := newParser(name)
	p.parse(data)
	if err := p.w.Err(); err != nil {
		return nil, err
	}
	return p.c, nil
}

// ref is a reference to a named thing, where it was written.
type ref struct {
	name string
	pos  Position
}

// parser reads one contract; w keeps the file name and every problem
// found.
type parser struct {
	w yamlpos.Walker
	c *Contract

	backendOrder []string
	members      map[string][]ref // group name -> its member references
	entryRefs    []ref            // case entries
	backendRefs  []ref            // case served_by
	casePos      map[string]Position
	budgetRefs   []budgetRef
	features     map[string]Position
	featureRefs  []ref // case features
	shareRefs    []shareRef
}

type budgetRef struct {
	b   *Budget
	ref ref
	// byEntry is set when the budget names an entry, not a case.
	byEntry bool
}

func newParser(file string) *parser {
	return &parser{
		w: yamlpos.Walker{File: file},
		c: &Contract{
			Source:   file,
			Backends: map[string]*Backend{},
			Entries:  map[string]*Entry{},
		},
		members:  map[string][]ref{},
		casePos:  map[string]Position{},
		features: map[string]Position{},
	}
}

func (p *parser) pos(n *yaml.Node) Position { return p.w.Pos(n) }

func (p *parser) errf(n *yaml.Node, format string, args ...any) { p.w.Errorf(n, format, args...) }

func (p *parser) errAt(pos Position, format string, args ...any) { p.w.Add(pos, format, args...) }

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a yaml.v3 syntax error into a problem. yaml.v3 reports
// a line but no column: the column is 1.
func (p *parser) yamlError(err error) {
	msg := err.Error()
	pos := Position{File: p.w.File, Line: 1, Column: 1}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		if l, cerr := strconv.Atoi(m[1]); cerr == nil {
			pos.Line = l
		}
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	p.errAt(pos, "invalid YAML: %s", msg)
}

func (p *parser) parse(data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errAt(Position{File: p.w.File, Line: 1, Column: 1}, "empty contract")
			return
		}
		p.yamlError(err)
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errf(&extra, "a contract is one YAML document; found another")
	} else if !errors.Is(err, io.EOF) {
		p.yamlError(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		p.errAt(Position{File: p.w.File, Line: 1, Column: 1}, "empty contract")
		return
	}
	root := yamlpos.Deref(doc.Content[0])
	m := p.mapping(root, "contract", "version", "features", "backends", "entries", "cases", "budgets", "shares")
	if m == nil {
		return
	}
	p.require(root, m, "contract", "version", "backends", "entries", "cases")
	if kv := m["version"]; kv != nil {
		if v, ok := p.integer(kv.val, "version"); ok && v != FormatVersion {
			p.errf(kv.val, "unsupported version %d: want %d", v, FormatVersion)
		}
	}
	if kv := m["features"]; kv != nil {
		p.parseFeatures(kv.val)
	}
	if kv := m["backends"]; kv != nil {
		p.parseBackends(kv.val)
	}
	if kv := m["entries"]; kv != nil {
		p.parseEntries(kv.val)
	}
	if kv := m["cases"]; kv != nil {
		p.parseCases(kv.val)
	}
	if kv := m["budgets"]; kv != nil {
		p.parseBudgets(kv.val)
	}
	if kv := m["shares"]; kv != nil {
		p.parseShares(kv.val)
	}
	p.checkGroups()
	p.checkRefs()
	p.checkShareRefs()
}

// ---- generic node helpers ----

type keyValue struct {
	key, val *yaml.Node
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

// mapping checks n is a mapping with only the allowed keys (each once) and
// returns its values by key; nil when n is not a mapping.
func (p *parser) mapping(n *yaml.Node, what string, allowed ...string) map[string]*keyValue {
	if n.Kind != yaml.MappingNode {
		p.errf(n, "%s: want a mapping, got %s", what, describe(n))
		return nil
	}
	out := map[string]*keyValue{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlpos.Deref(n.Content[i]), yamlpos.Deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.errf(k, "%s: want a string key, got %s", what, describe(k))
			continue
		}
		if !contains(allowed, k.Value) {
			p.errf(k, "%s: unknown key %q (want one of: %s)", what, k.Value, strings.Join(allowed, ", "))
			continue
		}
		if prev, dup := out[k.Value]; dup {
			p.errf(k, "%s: duplicate key %q (first at %s)", what, k.Value, p.pos(prev.key))
			continue
		}
		out[k.Value] = &keyValue{key: k, val: v}
	}
	return out
}

func (p *parser) require(n *yaml.Node, m map[string]*keyValue, what string, keys ...string) {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			p.errf(n, "%s: missing required key %q", what, k)
		}
	}
}

func (p *parser) seq(n *yaml.Node, what string) []*yaml.Node {
	if n.Kind != yaml.SequenceNode {
		p.errf(n, "%s: want a list, got %s", what, describe(n))
		return nil
	}
	out := make([]*yaml.Node, len(n.Content))
	for i, c := range n.Content {
		out[i] = yamlpos.Deref(c)
	}
	return out
}

// str reads any non-null scalar as a string.
func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errf(n, "%s: want a string, got %s", what, describe(n))
		return "", false
	}
	return n.Value, true
}

// name reads a non-empty string.
func (p *parser) name(n *yaml.Node, what string) (string, bool) {
	s, ok := p.str(n, what)
	if ok && strings.TrimSpace(s) == "" {
		p.errf(n, "%s: must not be empty", what)
		return "", false
	}
	return s, ok
}

func (p *parser) integer(n *yaml.Node, what string) (int, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		var v int
		if err := n.Decode(&v); err == nil {
			return v, true
		}
	}
	p.errf(n, "%s: want an integer, got %s", what, describe(n))
	return 0, false
}

func (p *parser) number(n *yaml.Node, what string) (float64, bool) {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!float") {
		var v float64
		if err := n.Decode(&v); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			return v, true
		}
	}
	p.errf(n, "%s: want a number, got %s", what, describe(n))
	return 0, false
}

func (p *parser) boolean(n *yaml.Node, what string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		var v bool
		if err := n.Decode(&v); err == nil {
			return v, true
		}
	}
	p.errf(n, "%s: want true or false, got %s", what, describe(n))
	return false, false
}

// duration reads a positive Go duration string ("1.5s", "300ms").
func (p *parser) duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, ok := p.str(n, what)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.errf(n, "%s: invalid duration %q: want a Go duration such as \"500ms\" or \"2s\"", what, s)
		return 0, false
	}
	if d <= 0 {
		p.errf(n, "%s: duration %q must be positive", what, s)
		return 0, false
	}
	return d, true
}

func (p *parser) status(n *yaml.Node, what string) (int, bool) {
	v, ok := p.integer(n, what)
	if !ok {
		return 0, false
	}
	if v < 100 || v > 599 {
		p.errf(n, "%s: invalid status %d: want 100..599", what, v)
		return 0, false
	}
	return v, true
}

// labels reads a list of known labels, each once.
func (p *parser) labels(n *yaml.Node, what string) []string {
	var out []string
	for _, l := range p.seq(n, what+" labels") {
		s, ok := p.str(l, what+" label")
		if !ok {
			continue
		}
		if !ValidLabel(s) {
			p.errf(l, "%s: unknown label %q (want one of: %s)", what, s, strings.Join(Labels, ", "))
			continue
		}
		if contains(out, s) {
			p.errf(l, "%s: duplicate label %q", what, s)
			continue
		}
		out = append(out, s)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// MaxHeaderValueBytes bounds a request header value a case may send: a
// case carries routing headers, not payloads, and 8 KiB is far above any
// value the routing reads (a 10 MB value is a mistake, not a check).
const MaxHeaderValueBytes = 8 << 10

// source reads a case's or budget's source (see ParseSource).
func (p *parser) source(n *yaml.Node, what string) Source {
	s, ok := p.name(n, what)
	if !ok {
		return Source{}
	}
	src, err := ParseSource(s)
	if err != nil {
		p.errf(n, "%s: %v", what, err)
		return Source{}
	}
	return src
}

// ---- sections ----

var (
	backendName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*/[a-z0-9*][a-z0-9*+._-]*$`)
	entryName   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?$`)
	caseName    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	headerName  = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// Methods are the request methods a case may use.
var Methods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

func (p *parser) parseBackends(n *yaml.Node) {
	first := map[string]Position{}
	for i, item := range p.seq(n, "backends") {
		what := fmt.Sprintf("backend #%d", i+1)
		m := p.mapping(item, what, "name", "description", "members")
		if m == nil {
			continue
		}
		p.require(item, m, what, "name")
		kv := m["name"]
		if kv == nil {
			continue
		}
		name, ok := p.name(kv.val, what+" name")
		if !ok {
			continue
		}
		what = fmt.Sprintf("backend %q", name)
		if !backendName.MatchString(name) {
			p.errf(kv.val, "invalid backend name %q: want \"<namespace>/<release>\" in lowercase (a group may use \"+\" and \"*\")", name)
		}
		if prev, dup := first[name]; dup {
			p.errf(kv.val, "duplicate backend %q (first defined at %s)", name, prev)
			continue
		}
		first[name] = p.pos(kv.val)
		b := &Backend{Name: name, Pos: p.pos(item)}
		if d := m["description"]; d != nil {
			b.Description, _ = p.str(d.val, what+" description")
		}
		if mv := m["members"]; mv != nil {
			list := p.seq(mv.val, what+" members")
			if list != nil && len(list) == 0 {
				p.errf(mv.val, "group %q has no members", name)
			}
			for _, mn := range list {
				s, ok := p.name(mn, what+" member")
				if !ok {
					continue
				}
				if contains(b.Members, s) {
					p.errf(mn, "group %q lists member %q twice", name, s)
					continue
				}
				b.Members = append(b.Members, s)
				p.members[name] = append(p.members[name], ref{name: s, pos: p.pos(mn)})
			}
		}
		p.c.Backends[name] = b
		p.backendOrder = append(p.backendOrder, name)
	}
}

func (p *parser) parseEntries(n *yaml.Node) {
	for i, item := range p.seq(n, "entries") {
		what := fmt.Sprintf("entry #%d", i+1)
		m := p.mapping(item, what, "name", "description")
		if m == nil {
			continue
		}
		p.require(item, m, what, "name")
		kv := m["name"]
		if kv == nil {
			continue
		}
		name, ok := p.name(kv.val, what+" name")
		if !ok {
			continue
		}
		if !entryName.MatchString(name) {
			p.errf(kv.val, "invalid entry name %q: want lowercase letters, digits, \".\", \"_\", \"-\" and at most one \"/\"", name)
		}
		if prev, dup := p.c.Entries[name]; dup {
			p.errf(kv.val, "duplicate entry %q (first defined at %s)", name, prev.Pos)
			continue
		}
		e := &Entry{Name: name, Pos: p.pos(item)}
		if d := m["description"]; d != nil {
			e.Description, _ = p.str(d.val, fmt.Sprintf("entry %q description", name))
		}
		p.c.Entries[name] = e
	}
}

func (p *parser) parseCases(n *yaml.Node) {
	list := p.seq(n, "cases")
	if list != nil && len(list) == 0 {
		p.errf(n, "cases: the contract has no cases")
	}
	for i, item := range list {
		what := fmt.Sprintf("case #%d", i+1)
		m := p.mapping(item, what, "name", "description", "source", "feature", "entry", "labels", "request", "expect", "expect_off")
		if m == nil {
			continue
		}
		c := &Case{Pos: p.pos(item)}
		if kv := m["name"]; kv != nil {
			if name, ok := p.name(kv.val, what+" name"); ok {
				c.Name = name
				what = fmt.Sprintf("case %q", name)
				if !caseName.MatchString(name) {
					p.errf(kv.val, "invalid case name %q: want lowercase letters, digits, \".\", \"_\" and \"-\"", name)
				}
				if prev, dup := p.casePos[name]; dup {
					p.errf(kv.val, "duplicate case name %q (first defined at %s)", name, prev)
				} else {
					p.casePos[name] = p.pos(kv.val)
				}
			}
		}
		p.require(item, m, what, "name", "entry", "request", "expect")
		if kv := m["description"]; kv != nil {
			c.Description, _ = p.str(kv.val, what+" description")
		}
		if kv := m["source"]; kv != nil {
			c.Source = p.source(kv.val, what+" source")
		}
		if kv := m["entry"]; kv != nil {
			if e, ok := p.name(kv.val, what+" entry"); ok {
				c.Entry = e
				p.entryRefs = append(p.entryRefs, ref{name: e, pos: p.pos(kv.val)})
			}
		}
		if kv := m["labels"]; kv != nil {
			c.Labels = p.labels(kv.val, what)
		}
		if kv := m["request"]; kv != nil {
			p.parseRequest(kv.val, what+" request", &c.Request)
		}
		if kv := m["expect"]; kv != nil {
			p.parseExpect(kv.val, what+" expect", &c.Expect)
		}
		p.parseCaseFeature(item, m, what, c)
		p.c.Cases = append(p.c.Cases, c)
	}
}

var featureName = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

func (p *parser) parseFeatures(n *yaml.Node) {
	for i, item := range p.seq(n, "features") {
		what := fmt.Sprintf("feature #%d", i+1)
		m := p.mapping(item, what, "name", "description", "source")
		if m == nil {
			continue
		}
		p.require(item, m, what, "name", "source")
		f := &Feature{Pos: p.pos(item)}
		if kv := m["name"]; kv != nil {
			name, ok := p.name(kv.val, what+" name")
			if !ok {
				continue
			}
			if !featureName.MatchString(name) {
				p.errf(kv.val, "invalid feature name %q: want lowercase letters, digits and \"-\"", name)
			}
			if name == "none" || name == "all" {
				p.errf(kv.val, "invalid feature name %q: \"none\" and \"all\" are words of --features", name)
			}
			if prev, dup := p.features[name]; dup {
				p.errf(kv.val, "duplicate feature %q (first defined at %s)", name, prev)
				continue
			}
			p.features[name] = p.pos(kv.val)
			f.Name = name
			what = fmt.Sprintf("feature %q", name)
		}
		if kv := m["description"]; kv != nil {
			f.Description, _ = p.str(kv.val, what+" description")
		}
		if kv := m["source"]; kv != nil {
			f.Source = p.source(kv.val, what+" source")
			if !f.Source.IsZero() && !f.Source.Planned() {
				p.errf(kv.val, "%s source: want the planned step it enables (\"planned: <task> step <n>\")", what)
			}
		}
		if f.Name != "" {
			p.c.Features = append(p.c.Features, f)
		}
	}
}

// parseCaseFeature reads a case's feature and its expectation with the
// feature off: both or neither.
func (p *parser) parseCaseFeature(item *yaml.Node, m map[string]*keyValue, what string, c *Case) {
	fk, off := m["feature"], m["expect_off"]
	if fk != nil {
		if name, ok := p.name(fk.val, what+" feature"); ok {
			c.Feature = name
			p.featureRefs = append(p.featureRefs, ref{name: name, pos: p.pos(fk.val)})
		}
	}
	switch {
	case fk != nil && off == nil:
		p.errf(item, "%s: feature %q needs expect_off (what happens while the feature is off) besides expect (while it is on)", what, c.Feature)
	case fk == nil && off != nil:
		p.errf(off.key, "%s: expect_off needs a feature (the rollout step whose state it depends on)", what)
	}
	if off == nil {
		return
	}
	e := &Expectation{}
	p.parseExpect(off.val, what+" expect_off", e)
	c.ExpectOff = e
	on := c.Expect
	c.ExpectOn = &on
}

func (p *parser) parseRequest(n *yaml.Node, what string, r *Request) {
	m := p.mapping(n, what, "method", "host", "path", "headers", "body")
	if m == nil {
		return
	}
	p.require(n, m, what, "method", "host", "path")
	if kv := m["method"]; kv != nil {
		if s, ok := p.name(kv.val, what+" method"); ok {
			if !contains(Methods, s) {
				p.errf(kv.val, "%s: invalid method %q (want one of: %s)", what, s, strings.Join(Methods, ", "))
			}
			r.Method = s
		}
	}
	if kv := m["host"]; kv != nil {
		if s, ok := p.name(kv.val, what+" host"); ok {
			if strings.ContainsAny(s, " \t/\\@?#") || strings.Contains(s, "://") {
				p.errf(kv.val, "%s: invalid host %q: want a host name, optionally with \":port\"", what, s)
			}
			r.Host = s
		}
	}
	if kv := m["path"]; kv != nil {
		if s, ok := p.name(kv.val, what+" path"); ok {
			if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, " \t\r\n#") {
				p.errf(kv.val, "%s: invalid path %q: want an absolute path with optional query, no spaces or fragment", what, s)
			}
			r.Path = s
		}
	}
	if kv := m["headers"]; kv != nil {
		for i, h := range p.seq(kv.val, what+" headers") {
			hw := fmt.Sprintf("%s header #%d", what, i+1)
			hm := p.mapping(h, hw, "name", "value")
			if hm == nil {
				continue
			}
			p.require(h, hm, hw, "name", "value")
			var hd Header
			ok := true
			if nv := hm["name"]; nv != nil {
				hd.Name, ok = p.name(nv.val, hw+" name")
				if ok && !headerName.MatchString(hd.Name) {
					p.errf(nv.val, "%s: invalid header name %q", hw, hd.Name)
					ok = false
				}
				if ok && strings.EqualFold(hd.Name, "Host") {
					p.errf(nv.val, "%s: set the Host with request.host, not as a header", hw)
					ok = false
				}
			}
			if vv := hm["value"]; vv != nil {
				var vok bool
				hd.Value, vok = p.str(vv.val, hw+" value")
				if vok && strings.ContainsAny(hd.Value, "\r\n\x00") {
					p.errf(vv.val, "%s: header value must not contain CR, LF or NUL", hw)
				}
				if vok && len(hd.Value) > MaxHeaderValueBytes {
					p.errf(vv.val, "%s: header value is %d bytes, more than the limit of %d", hw, len(hd.Value), MaxHeaderValueBytes)
				}
			}
			if ok && hm["name"] != nil {
				r.Headers = append(r.Headers, hd)
			}
		}
	}
	if kv := m["body"]; kv != nil {
		r.Body, _ = p.str(kv.val, what+" body")
	}
}

func (p *parser) parseExpect(n *yaml.Node, what string, e *Expectation) {
	m := p.mapping(n, what, "served_by", "no_backend", "status", "any_status", "headers", "body_contains")
	if m == nil {
		return
	}
	sb, nb := m["served_by"], m["no_backend"]
	switch {
	case sb != nil && nb != nil:
		p.errf(nb.key, "%s: served_by and no_backend are mutually exclusive", what)
	case sb == nil && nb == nil:
		p.errf(n, "%s: want served_by (a backend or group) or no_backend: true", what)
	}
	if sb != nil {
		if s, ok := p.name(sb.val, what+" served_by"); ok {
			e.ServedBy = s
			p.backendRefs = append(p.backendRefs, ref{name: s, pos: p.pos(sb.val)})
		}
	}
	if nb != nil {
		if v, ok := p.boolean(nb.val, what+" no_backend"); ok {
			if !v {
				p.errf(nb.val, "%s: no_backend: false says nothing; use served_by or no_backend: true", what)
			}
			e.NoBackend = v
		}
	}
	st, anyst := m["status"], m["any_status"]
	if st != nil {
		e.Status, _ = p.status(st.val, what+" status")
	}
	if anyst != nil {
		if v, ok := p.boolean(anyst.val, what+" any_status"); ok {
			e.AnyStatus = v
			if v && st != nil {
				p.errf(anyst.key, "%s: status and any_status: true are mutually exclusive", what)
			}
		}
	}
	if nb != nil && st == nil {
		p.errf(nb.key, "%s: no_backend needs an exact status (e.g. 404 for no route)", what)
	}
	if kv := m["headers"]; kv != nil {
		for i, h := range p.seq(kv.val, what+" headers") {
			hw := fmt.Sprintf("%s header #%d", what, i+1)
			hm := p.mapping(h, hw, "name", "equals", "matches", "absent")
			if hm == nil {
				continue
			}
			p.require(h, hm, hw, "name")
			var he HeaderExpectation
			if nv := hm["name"]; nv != nil {
				if s, ok := p.name(nv.val, hw+" name"); ok {
					he.Name = s
					hw = fmt.Sprintf("%s header %q", what, s)
					if !headerName.MatchString(s) {
						p.errf(nv.val, "%s: invalid header name %q", what, s)
					}
				}
			}
			set := 0
			if v := hm["equals"]; v != nil {
				set++
				he.Equals, _ = p.str(v.val, hw+" equals")
			}
			if v := hm["matches"]; v != nil {
				set++
				if s, ok := p.name(v.val, hw+" matches"); ok {
					if _, err := regexp.Compile(s); err != nil {
						p.errf(v.val, "%s matches: invalid regex %q: %v", hw, s, err)
					}
					he.Matches = s
				}
			}
			if v := hm["absent"]; v != nil {
				set++
				if b, ok := p.boolean(v.val, hw+" absent"); ok {
					if !b {
						p.errf(v.val, "%s: absent: false says nothing; omit it or use absent: true", hw)
					}
					he.Absent = b
				}
			}
			if set != 1 {
				p.errf(h, "%s: want exactly one of equals, matches and absent", hw)
			}
			e.Headers = append(e.Headers, he)
		}
	}
	if kv := m["body_contains"]; kv != nil {
		e.BodyContains, _ = p.name(kv.val, what+" body_contains")
	}
}

func (p *parser) parseBudgets(n *yaml.Node) {
	first := map[string]Position{}
	for i, item := range p.seq(n, "budgets") {
		what := fmt.Sprintf("budget #%d", i+1)
		m := p.mapping(item, what, "name", "source", "case", "entry", "labels", "rate", "duration", "requests",
			"p50", "p95", "p99", "max", "min_success", "success_statuses")
		if m == nil {
			continue
		}
		b := &Budget{Pos: p.pos(item)}
		if kv := m["name"]; kv != nil {
			if s, ok := p.name(kv.val, what+" name"); ok {
				b.Name = s
				what = fmt.Sprintf("budget %q", s)
				if !caseName.MatchString(s) {
					p.errf(kv.val, "invalid budget name %q: want lowercase letters, digits, \".\", \"_\" and \"-\"", s)
				}
				if prev, dup := first[s]; dup {
					p.errf(kv.val, "duplicate budget name %q (first defined at %s)", s, prev)
				} else {
					first[s] = p.pos(kv.val)
				}
			}
		}
		p.require(item, m, what, "name", "rate", "min_success")
		if kv := m["source"]; kv != nil {
			b.Source = p.source(kv.val, what+" source")
		}
		cs, en := m["case"], m["entry"]
		switch {
		case cs != nil && en != nil:
			p.errf(en.key, "%s: case and entry are mutually exclusive", what)
		case cs == nil && en == nil:
			p.errf(item, "%s: want case (a case name) or entry (an entry name)", what)
		}
		if cs != nil {
			if s, ok := p.name(cs.val, what+" case"); ok {
				b.Case = s
				p.budgetRefs = append(p.budgetRefs, budgetRef{b: b, ref: ref{name: s, pos: p.pos(cs.val)}})
			}
		}
		if en != nil {
			if s, ok := p.name(en.val, what+" entry"); ok {
				b.Entry = s
				p.budgetRefs = append(p.budgetRefs, budgetRef{b: b, ref: ref{name: s, pos: p.pos(en.val)}, byEntry: true})
			}
		}
		if kv := m["labels"]; kv != nil {
			b.Labels = p.labels(kv.val, what)
		}
		if kv := m["rate"]; kv != nil {
			if v, ok := p.number(kv.val, what+" rate"); ok {
				if v <= 0 {
					p.errf(kv.val, "%s: rate must be positive (requests per second), got %v", what, v)
				}
				b.Rate = v
			}
		}
		du, rq := m["duration"], m["requests"]
		switch {
		case du != nil && rq != nil:
			p.errf(rq.key, "%s: duration and requests are mutually exclusive", what)
		case du == nil && rq == nil:
			p.errf(item, "%s: want duration (e.g. \"30s\") or requests (a count)", what)
		}
		if du != nil {
			b.Duration, _ = p.duration(du.val, what+" duration")
		}
		if rq != nil {
			if v, ok := p.integer(rq.val, what+" requests"); ok {
				if v <= 0 {
					p.errf(rq.val, "%s: requests must be positive, got %d", what, v)
				}
				b.Requests = v
			}
		}
		// Percentile ceilings: at least one, in order.
		type ceiling struct {
			key string
			dst *time.Duration
		}
		var prev *keyValue
		var prevD time.Duration
		var prevKey string
		nset := 0
		for _, cl := range []ceiling{{"p50", &b.P50}, {"p95", &b.P95}, {"p99", &b.P99}, {"max", &b.Max}} {
			kv := m[cl.key]
			if kv == nil {
				continue
			}
			nset++
			d, ok := p.duration(kv.val, what+" "+cl.key)
			if !ok {
				continue
			}
			*cl.dst = d
			if prev != nil && d < prevD {
				p.errf(kv.val, "%s: %s (%s) is below %s (%s)", what, cl.key, d, prevKey, prevD)
			}
			prev, prevD, prevKey = kv, d, cl.key
		}
		if nset == 0 {
			p.errf(item, "%s: want at least one latency ceiling (p50, p95, p99 or max)", what)
		}
		if kv := m["min_success"]; kv != nil {
			if v, ok := p.number(kv.val, what+" min_success"); ok {
				if v <= 0 || v > 1 {
					p.errf(kv.val, "%s: min_success must be a ratio in (0, 1], got %v", what, v)
				}
				b.MinSuccess = v
			}
		}
		if kv := m["success_statuses"]; kv != nil {
			list := p.seq(kv.val, what+" success_statuses")
			if list != nil && len(list) == 0 {
				p.errf(kv.val, "%s: success_statuses is empty; omit it to use the case's status", what)
			}
			for _, s := range list {
				if v, ok := p.status(s, what+" success_statuses"); ok {
					b.SuccessStatuses = append(b.SuccessStatuses, v)
				}
			}
		}
		p.c.Budgets = append(p.c.Budgets, b)
	}
}

// ---- cross references ----

// checkGroups reports unknown group members and cycles between groups.
func (p *parser) checkGroups() {
	for _, g := range p.backendOrder {
		for _, m := range p.members[g] {
			if _, ok := p.c.Backends[m.name]; !ok {
				p.errAt(m.pos, "group %q: unknown member %q", g, m.name)
			}
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(g string)
	visit = func(g string) {
		color[g] = grey
		stack = append(stack, g)
		for _, m := range p.members[g] {
			b, ok := p.c.Backends[m.name]
			if !ok || !b.IsGroup() {
				continue
			}
			switch color[m.name] {
			case grey:
				start := 0
				for i, s := range stack {
					if s == m.name {
						start = i
					}
				}
				cycle := append(append([]string{}, stack[start:]...), m.name)
				p.errAt(m.pos, "group cycle: %s", strings.Join(cycle, " -> "))
			case white:
				visit(m.name)
			}
		}
		stack = stack[:len(stack)-1]
		color[g] = black
	}
	for _, g := range p.backendOrder {
		if color[g] == white && p.c.Backends[g].IsGroup() {
			visit(g)
		}
	}
}

func (p *parser) checkRefs() {
	for _, r := range p.entryRefs {
		if _, ok := p.c.Entries[r.name]; !ok {
			p.errAt(r.pos, "unknown entry %q", r.name)
		}
	}
	for _, r := range p.featureRefs {
		if _, ok := p.features[r.name]; !ok {
			known := make([]string, 0, len(p.c.Features))
			for _, f := range p.c.Features {
				known = append(known, f.Name)
			}
			want := "the contract declares none under `features:`"
			if len(known) > 0 {
				want = "want one of: " + strings.Join(known, ", ")
			}
			p.errAt(r.pos, "unknown feature %q (%s)", r.name, want)
		}
	}
	for _, r := range p.backendRefs {
		if _, ok := p.c.Backends[r.name]; !ok {
			p.errAt(r.pos, "unknown backend %q", r.name)
		}
	}
	for _, br := range p.budgetRefs {
		if !br.byEntry {
			if _, ok := p.casePos[br.ref.name]; !ok {
				p.errAt(br.ref.pos, "budget %q: unknown case %q", br.b.Name, br.ref.name)
			}
			continue
		}
		if _, ok := p.c.Entries[br.ref.name]; !ok {
			p.errAt(br.ref.pos, "budget %q: unknown entry %q", br.b.Name, br.ref.name)
			continue
		}
		if _, err := p.c.BudgetCase(br.b); err != nil {
			p.errAt(br.ref.pos, "budget %q: entry %q has no case that expects a backend", br.b.Name, br.ref.name)
		}
	}
}
