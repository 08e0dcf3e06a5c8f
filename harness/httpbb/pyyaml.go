package httpbb

import (
	"fmt"
	"math"
	"math/big"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/yamlpos"
)

// httpbb reads its files with Python's YAML loader (PyYAML, YAML 1.1) and
// sends bodies with the requests library. yaml.v3 resolves plain scalars
// by YAML 1.2, where "yes" is a string and "1e5" a float; PyYAML reads
// them as True and "1e5". This file reproduces PyYAML's implicit
// resolution (its Resolver's patterns) and the encodings requests applies
// to a body (json.dumps with its default separators and ensure_ascii, and
// urlencode), so a test sends the bytes httpbb would.

// pyKind is the Python type PyYAML's safe loader gives a scalar.
type pyKind int

const (
	pyStr pyKind = iota
	pyNull
	pyBool
	pyInt
	pyFloat
	pyTimestamp // a date or datetime: not JSON-serialisable
	pyOther     // another tag ("=", !!binary, ...): not usable here
)

func (k pyKind) String() string {
	return [...]string{"a string", "null", "a boolean", "an integer", "a float", "a timestamp", "an unsupported value"}[k]
}

// PyYAML's implicit resolvers (yaml/resolver.py), applied to plain
// scalars only.
var (
	pyBoolRE  = regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`)
	pyFloatRE = regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`)
	pyIntRE   = regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`)
	pyNullRE  = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
	pyTimeRE  = regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`)
)

// pyResolve is the type PyYAML gives scalar node n (aliases followed).
func pyResolve(n *yaml.Node) pyKind {
	n = yamlpos.Deref(n)
	if n.Style&yaml.TaggedStyle != 0 {
		switch n.Tag {
		case "!!str":
			return pyStr
		case "!!null":
			return pyNull
		case "!!bool":
			return pyBool
		case "!!int":
			return pyInt
		case "!!float":
			return pyFloat
		case "!!timestamp":
			return pyTimestamp
		}
		return pyOther
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return pyStr
	}
	v := n.Value
	switch {
	case pyNullRE.MatchString(v):
		return pyNull
	case pyBoolRE.MatchString(v):
		return pyBool
	case pyIntRE.MatchString(v):
		return pyInt
	case pyFloatRE.MatchString(v):
		return pyFloat
	case pyTimeRE.MatchString(v):
		return pyTimestamp
	case v == "=" || v == "<<":
		return pyOther
	}
	return pyStr
}

// pyInt is PyYAML's int constructor: underscores dropped, 0b, 0x, a
// leading 0 for octal, base-60 "1:30", arbitrary precision.
func pyIntValue(s string) (*big.Int, error) {
	s = strings.ReplaceAll(s, "_", "")
	sign := ""
	if s != "" && (s[0] == '-' || s[0] == '+') {
		if s[0] == '-' {
			sign = "-"
		}
		s = s[1:]
	}
	z := new(big.Int)
	var ok bool
	switch {
	case s == "0":
		return z, nil
	case strings.HasPrefix(s, "0b"):
		_, ok = z.SetString(sign+s[2:], 2)
	case strings.HasPrefix(s, "0x"):
		_, ok = z.SetString(sign+s[2:], 16)
	case strings.HasPrefix(s, "0"):
		_, ok = z.SetString(sign+s[1:], 8)
	case strings.Contains(s, ":"):
		ok = true
		for _, d := range strings.Split(s, ":") {
			n, err := strconv.Atoi(d)
			if err != nil {
				return nil, fmt.Errorf("read integer %q: %w", s, err)
			}
			z.Mul(z, big.NewInt(60)).Add(z, big.NewInt(int64(n)))
		}
		if sign == "-" {
			z.Neg(z)
		}
	default:
		_, ok = z.SetString(sign+s, 10)
	}
	if !ok {
		return nil, fmt.Errorf("read integer %q: not a number", s)
	}
	return z, nil
}

// pyFloatValue is PyYAML's float constructor.
func pyFloatValue(s string) (float64, error) {
	s = strings.ToLower(strings.ReplaceAll(s, "_", ""))
	sign := 1.0
	if s != "" && (s[0] == '-' || s[0] == '+') {
		if s[0] == '-' {
			sign = -1
		}
		s = s[1:]
	}
	switch {
	case s == ".inf":
		return sign * math.Inf(1), nil
	case s == ".nan":
		return math.NaN(), nil
	case strings.Contains(s, ":"):
		v := 0.0
		for _, d := range strings.Split(s, ":") {
			f, err := strconv.ParseFloat(d, 64)
			if err != nil {
				return 0, fmt.Errorf("read float %q: %w", s, err)
			}
			v = v*60 + f
		}
		return sign * v, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("read float %q: %w", s, err)
	}
	return sign * f, nil
}

// pyFloatRepr is Python's repr(float): the shortest digits that read
// back, in exponent form below 1e-4 and from 1e16 on, else fixed with at
// least one decimal.
func pyFloatRepr(f float64) string {
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	x, _ := strconv.Atoi(exp)
	if x < -4 || x >= 16 {
		// Go writes at least two exponent digits with a sign, as Python.
		return mant + "e" + exp
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// jsonString is json.dumps' string encoding with ensure_ascii: every
// character outside space..tilde escaped, \uXXXX in lowercase hex,
// surrogate pairs above the BMP.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r >= ' ' && r <= '~':
				b.WriteRune(r)
			case r > 0xFFFF:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
			default:
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// jsonBody encodes a YAML value as requests' json= does: json.dumps with
// ", " and ": " separators, keys in the order written (a repeated key
// keeps its first place and its last value, as a Python dict), non-string
// keys turned into strings as json.dumps does. NaN and infinities are
// refused (requests passes allow_nan=False), and so are values JSON
// cannot hold (timestamps, binary, merge keys).
func (p *parser) jsonBody(n *yaml.Node, depth int) (string, bool) {
	n = yamlpos.Deref(n)
	if depth > 100 {
		p.errorf(n, "json_body: nested more than 100 levels")
		return "", false
	}
	switch n.Kind {
	case yaml.MappingNode:
		type entry struct{ key, val string }
		var entries []entry
		at := map[string]int{}
		ok := true
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := yamlpos.Deref(n.Content[i]), n.Content[i+1]
			key, kok := p.jsonKey(k)
			val, vok := p.jsonBody(v, depth+1)
			if !kok || !vok {
				ok = false
				continue
			}
			id := pyKeyIdentity(k, key)
			if j, seen := at[id]; seen {
				p.warnf(k, "json_body: key %s repeated: httpbb (a Python dict) keeps the first key and the last value", key)
				entries[j].val = val
				continue
			}
			at[id] = len(entries)
			entries = append(entries, entry{key, val})
		}
		parts := make([]string, len(entries))
		for i, e := range entries {
			parts[i] = e.key + ": " + e.val
		}
		return "{" + strings.Join(parts, ", ") + "}", ok
	case yaml.SequenceNode:
		parts := make([]string, 0, len(n.Content))
		ok := true
		for _, item := range n.Content {
			s, iok := p.jsonBody(item, depth+1)
			ok = ok && iok
			parts = append(parts, s)
		}
		return "[" + strings.Join(parts, ", ") + "]", ok
	case yaml.ScalarNode:
		return p.jsonScalar(n, false)
	}
	p.errorf(n, "json_body: unsupported YAML node")
	return "", false
}

// pyKeyIdentity is when two keys are the same Python dict key: equal
// numbers are (1, 1.0 and True), a number and a string never are.
func pyKeyIdentity(k *yaml.Node, jsonKey string) string {
	if k.Kind != yaml.ScalarNode {
		return "s" + jsonKey
	}
	switch pyResolve(k) {
	case pyBool:
		if jsonKey == `"true"` {
			return "n1"
		}
		return "n0"
	case pyInt:
		if z, err := pyIntValue(k.Value); err == nil {
			return "n" + z.String()
		}
	case pyFloat:
		if f, err := pyFloatValue(k.Value); err == nil {
			if f == math.Trunc(f) && !math.IsInf(f, 0) {
				z, _ := new(big.Float).SetFloat64(f).Int(nil)
				return "n" + z.String()
			}
			return "f" + pyFloatRepr(f)
		}
	case pyNull:
		return "null"
	}
	return "s" + jsonKey
}

// jsonKey is a mapping key as json.dumps writes it: strings as they are;
// None, booleans and numbers as "null", "true", "3", "1.5".
func (p *parser) jsonKey(k *yaml.Node) (string, bool) {
	if k.Kind != yaml.ScalarNode {
		p.errorf(k, "json_body: a key must be a string or a number, not a list or mapping")
		return "", false
	}
	if k.Tag == "!!merge" {
		p.errorf(k, "json_body: YAML merge keys (<<) are not supported: write the keys out")
		return "", false
	}
	s, ok := p.jsonScalar(k, true)
	if !ok || strings.HasPrefix(s, `"`) {
		return s, ok
	}
	return jsonString(s), true
}

func (p *parser) jsonScalar(n *yaml.Node, key bool) (string, bool) {
	switch kind := pyResolve(n); kind {
	case pyStr:
		return jsonString(n.Value), true
	case pyNull:
		return "null", true
	case pyBool:
		switch strings.ToLower(n.Value) {
		case "yes", "true", "on":
			return "true", true
		case "no", "false", "off":
			return "false", true
		}
		p.errorf(n, "json_body: %q is not a boolean", n.Value)
	case pyInt:
		z, err := pyIntValue(n.Value)
		if err != nil {
			p.errorf(n, "json_body: %v", err)
			return "", false
		}
		return z.String(), true
	case pyFloat:
		f, err := pyFloatValue(n.Value)
		if err != nil {
			p.errorf(n, "json_body: %v", err)
			return "", false
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			if key {
				// json.dumps writes such keys as NaN/Infinity even with
				// allow_nan=False; no real suite needs them.
				p.errorf(n, "json_body: key %q is not a finite number", n.Value)
			} else {
				p.errorf(n, "json_body: %q is not a finite number: JSON has no NaN or Infinity (httpbb would fail to send it)", n.Value)
			}
			return "", false
		}
		return pyFloatRepr(f), true
	default:
		p.errorf(n, "json_body: %q is %s to PyYAML, which JSON cannot hold: quote it", n.Value, kind)
	}
	return "", false
}

// formBody encodes a mapping as requests' data= does: urlencoded pairs
// in the order written, "+" for spaces, a list value as repeated pairs,
// null values left out, other scalars as Python's str() writes them.
func (p *parser) formBody(n *yaml.Node) (string, bool) {
	n = yamlpos.Deref(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "form_body: expected a mapping of field names to values")
		return "", false
	}
	type entry struct {
		key  string
		vals []string
	}
	var entries []entry
	at := map[string]int{}
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlpos.Deref(n.Content[i]), yamlpos.Deref(n.Content[i+1])
		key, kok := p.formScalar(k)
		if !kok {
			ok = false
			continue
		}
		var vals []string
		items := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			items = v.Content
		}
		for _, item := range items {
			item = yamlpos.Deref(item)
			if item.Kind == yaml.ScalarNode && pyResolve(item) == pyNull {
				continue
			}
			s, sok := p.formScalar(item)
			if !sok {
				ok = false
				continue
			}
			vals = append(vals, s)
		}
		if j, seen := at[key]; seen {
			p.warnf(k, "form_body: field %q repeated: httpbb (a Python dict) keeps the last value", key)
			entries[j].vals = vals
			continue
		}
		at[key] = len(entries)
		entries = append(entries, entry{key, vals})
	}
	var pairs []string
	for _, e := range entries {
		for _, v := range e.vals {
			pairs = append(pairs, url.QueryEscape(e.key)+"="+url.QueryEscape(v))
		}
	}
	return strings.Join(pairs, "&"), ok
}

// formScalar is str() of a scalar form field or value.
func (p *parser) formScalar(n *yaml.Node) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, "form_body: expected a string or a number")
		return "", false
	}
	switch kind := pyResolve(n); kind {
	case pyStr:
		if !utf8.ValidString(n.Value) {
			p.errorf(n, "form_body: invalid UTF-8")
			return "", false
		}
		return n.Value, true
	case pyBool:
		if s, _ := p.jsonScalar(n, false); s == "true" {
			return "True", true
		}
		return "False", true
	case pyInt:
		z, err := pyIntValue(n.Value)
		if err != nil {
			p.errorf(n, "form_body: %v", err)
			return "", false
		}
		return z.String(), true
	case pyFloat:
		f, err := pyFloatValue(n.Value)
		if err != nil {
			p.errorf(n, "form_body: %v", err)
			return "", false
		}
		switch {
		case math.IsNaN(f):
			return "nan", true
		case math.IsInf(f, 1):
			return "inf", true
		case math.IsInf(f, -1):
			return "-inf", true
		}
		return pyFloatRepr(f), true
	default:
		p.errorf(n, "form_body: %q is %s to PyYAML: quote it", n.Value, kind)
		return "", false
	}
}
