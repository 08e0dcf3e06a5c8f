package contract

import (
	"fmt"
	"math"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"
)

// MaxShareFailure is the most a share check's band may fail a correct
// canary (one at exactly its replica share), per check and run: the
// two-sided binomial tail outside the band. At 1e-6, 1,000 runs of both
// checks fail a correct replica with probability below 0.2 %.
const MaxShareFailure = 1e-6

// MaxShareRequests bounds a share check's requests.
const MaxShareRequests = 100000

// BinomialOutside is P(X < lo) + P(X > hi) for X ~ Binomial(n, p): the
// probability that a canary answering each request with probability p
// lands outside the band [lo, hi] over n requests. Exact sums of the
// probability mass (computed in log space), 0 <= lo <= hi <= n.
func BinomialOutside(n, lo, hi int, p float64) float64 {
	if p <= 0 || p >= 1 {
		k := 0
		if p >= 1 {
			k = n
		}
		if k < lo || k > hi {
			return 1
		}
		return 0
	}
	lgn, _ := math.Lgamma(float64(n + 1))
	lp, lq := math.Log(p), math.Log1p(-p)
	pmf := func(k int) float64 {
		a, _ := math.Lgamma(float64(k + 1))
		b, _ := math.Lgamma(float64(n - k + 1))
		return math.Exp(lgn - a - b + float64(k)*lp + float64(n-k)*lq)
	}
	sum := 0.0
	for k := 0; k < lo && k <= n; k++ {
		sum += pmf(k)
	}
	for k := hi + 1; k <= n; k++ {
		sum += pmf(k)
	}
	return math.Min(sum, 1)
}

var shareFraction = regexp.MustCompile(`^([1-9][0-9]*)/([1-9][0-9]*)$`)

func (p *parser) parseShares(n *yaml.Node) {
	first := map[string]Position{}
	for i, item := range p.seq(n, "shares") {
		what := fmt.Sprintf("share #%d", i+1)
		m := p.mapping(item, what, "name", "source", "case", "backend", "share", "requests", "band", "labels")
		if m == nil {
			continue
		}
		p.require(item, m, what, "name", "case", "backend", "share", "requests", "band")
		s := &Share{Pos: p.pos(item)}
		if kv := m["name"]; kv != nil {
			if name, ok := p.name(kv.val, what+" name"); ok {
				s.Name = name
				what = fmt.Sprintf("share %q", name)
				if !caseName.MatchString(name) {
					p.errf(kv.val, "invalid share name %q: want lowercase letters, digits, \".\", \"_\" and \"-\"", name)
				}
				if prev, dup := first[name]; dup {
					p.errf(kv.val, "duplicate share name %q (first defined at %s)", name, prev)
				} else {
					first[name] = p.pos(kv.val)
				}
			}
		}
		if kv := m["source"]; kv != nil {
			s.Source = p.source(kv.val, what+" source")
		}
		if kv := m["labels"]; kv != nil {
			s.Labels = p.labels(kv.val, what)
		}
		var caseRef, backendRef *ref
		if kv := m["case"]; kv != nil {
			if v, ok := p.name(kv.val, what+" case"); ok {
				s.Case = v
				caseRef = &ref{name: v, pos: p.pos(kv.val)}
			}
		}
		if kv := m["backend"]; kv != nil {
			if v, ok := p.name(kv.val, what+" backend"); ok {
				s.Backend = v
				backendRef = &ref{name: v, pos: p.pos(kv.val)}
			}
		}
		shareOK := false
		if kv := m["share"]; kv != nil {
			if v, ok := p.str(kv.val, what+" share"); ok {
				f := shareFraction.FindStringSubmatch(v)
				if f != nil {
					s.Num, _ = strconv.Atoi(f[1])
					s.Den, _ = strconv.Atoi(f[2])
				}
				if f == nil || s.Num >= s.Den || s.Den > MaxShareRequests {
					p.errf(kv.val, "%s share: want a fraction \"<replicas>/<replicas of the Service>\" strictly between 0 and 1, e.g. \"1/3\", got %q", what, v)
				} else {
					shareOK = true
				}
			}
		}
		if kv := m["requests"]; kv != nil {
			if v, ok := p.integer(kv.val, what+" requests"); ok {
				if v < 2 || v > MaxShareRequests {
					p.errf(kv.val, "%s requests: want 2..%d, got %d", what, MaxShareRequests, v)
					shareOK = false
				}
				s.Requests = v
			} else {
				shareOK = false
			}
		}
		if kv := m["band"]; kv != nil {
			list := p.seq(kv.val, what+" band")
			if list != nil && len(list) != 2 {
				p.errf(kv.val, "%s band: want [min, max], the canary's answers allowed out of requests", what)
				shareOK = false
			}
			if len(list) == 2 {
				lo, ok1 := p.integer(list[0], what+" band min")
				hi, ok2 := p.integer(list[1], what+" band max")
				s.Min, s.Max = lo, hi
				switch {
				case !ok1 || !ok2:
					shareOK = false
				case lo < 1 || hi > s.Requests-1 || lo > hi:
					p.errf(kv.val, "%s band [%d, %d]: want 1 <= min <= max <= requests-1 (%d), so that a canary with none or all of the traffic fails", what, lo, hi, s.Requests-1)
					shareOK = false
				}
			}
		}
		if shareOK {
			p.checkShareBand(m["band"].val, what, s)
		}
		p.shareRefs = append(p.shareRefs, shareRef{s: s, caseRef: caseRef, backendRef: backendRef})
		p.c.Shares = append(p.c.Shares, s)
	}
}

// checkShareBand requires the band to pass a correct canary but with
// probability MaxShareFailure and to fail one at twice its share.
func (p *parser) checkShareBand(n *yaml.Node, what string, s *Share) {
	if out := BinomialOutside(s.Requests, s.Min, s.Max, s.Expected()); out > MaxShareFailure {
		p.errf(n, "%s band [%d, %d] of %d: a canary at its share %d/%d falls outside it with probability %.3g per run, above %g: widen the band or send more requests",
			what, s.Min, s.Max, s.Requests, s.Num, s.Den, out, MaxShareFailure)
	}
	if twice := 2 * s.Expected(); twice < 1 && twice*float64(s.Requests) <= float64(s.Max) {
		p.errf(n, "%s band [%d, %d] of %d: a canary at twice its share (%d/%d, %.0f answers) would pass: narrow the band or send more requests",
			what, s.Min, s.Max, s.Requests, 2*s.Num, s.Den, twice*float64(s.Requests))
	}
}

type shareRef struct {
	s                   *Share
	caseRef, backendRef *ref
}

// checkShareRefs: the case exists and expects a group without a feature;
// the backend is a plain backend of that group.
func (p *parser) checkShareRefs() {
	for _, r := range p.shareRefs {
		var cs *Case
		if r.caseRef != nil {
			if cs = p.c.Case(r.caseRef.name); cs == nil {
				p.errAt(r.caseRef.pos, "share %q: unknown case %q", r.s.Name, r.caseRef.name)
			} else if cs.Feature != "" {
				p.errAt(r.caseRef.pos, "share %q: case %q depends on feature %q: a share repeats a case whose routing every target has", r.s.Name, cs.Name, cs.Feature)
				cs = nil
			}
		}
		if r.backendRef == nil {
			continue
		}
		b, ok := p.c.Backends[r.backendRef.name]
		switch {
		case !ok:
			p.errAt(r.backendRef.pos, "share %q: unknown backend %q", r.s.Name, r.backendRef.name)
		case b.IsGroup():
			p.errAt(r.backendRef.pos, "share %q: backend %q is a group: name the canary release", r.s.Name, b.Name)
		case cs != nil && (cs.Expect.ServedBy == b.Name || !p.c.Allows(cs.Expect.ServedBy, b.Name)):
			p.errAt(r.backendRef.pos, "share %q: backend %q is not one of the releases case %q expects (%q): a share splits a group's traffic",
				r.s.Name, b.Name, cs.Name, cs.Expect.ServedBy)
		}
	}
}
