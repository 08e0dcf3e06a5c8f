// Package httpbb runs Wikimedia's httpbb ("HTTP black box") YAML suites
// with pretrain-check's probe, safety guard and reports.
//
// A suite file maps base URLs to lists of tests:
//
//	https://test.wikipedia.org:
//	- path: /wiki/Main_Page
//	  method: GET                      # optional, default GET (upper-cased)
//	  request_headers:                 # optional
//	    X-Wikimedia-Debug: backend=k8s-mw-pretrain
//	  json_body: {rev_id: 12345}       # optional: sent as JSON (Content-Type: application/json)
//	  form_body: {action: query}       # optional: sent urlencoded (application/x-www-form-urlencoded)
//	  assert_status: 200
//	  assert_headers:                  # exact value (repeated headers joined with ", ")
//	    Content-Type: text/html; charset=UTF-8
//	  assert_headers_regex:            # RE2, searched (unanchored) in the value
//	    Server: ^mw-pretrain\.
//	  assert_headers_absent: [X-Powered-By]
//	  assert_body_contains: Main Page
//	  assert_body_regex: 'wg[A-Z]'     # RE2, searched in the body
//
// As in httpbb, the base URL's host is the Host header (and SNI) of its
// tests, and --hosts says where to connect. httpbb reads its files with
// Python's YAML loader (PyYAML), so this parser resolves plain scalars as
// YAML 1.1 does ("yes" is a boolean, "1e5" a string), and a key repeated
// in a mapping keeps its first place and its last value, as a Python
// dict: a base URL written twice runs only its last block, with a warning
// naming each shadowed block. Bodies are encoded as the requests library
// encodes json= and data= (json.dumps with ", " and ": " separators and
// ASCII escapes; urlencoded pairs in the order written), and a
// Content-Type in request_headers wins over the body's.
//
// Judgement calls where httpbb's documentation is silent: a missing
// assert_status asserts no status, but a test must assert something;
// json_body and form_body together are refused (requests would silently
// drop the JSON); regexes are Go RE2 (a Python-only construct is a load
// error), searched like Python's re.search; redirects are never followed
// (a 301 is a result).
package httpbb

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
	"gopkg.in/yaml.v3"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/yamlpos"
)

// Test is one httpbb test case.
type Test struct {
	File   string
	Line   int
	Column int
	// BaseURL is the top-level key: scheme and host[:port].
	BaseURL *url.URL
	Method  string
	Path    string
	// RequestHeaders in the order written.
	RequestHeaders []Header
	// AssertStatus is 0 when the test asserts no status.
	AssertStatus        int
	AssertHeaders       []Header // exact values
	AssertHeadersRegex  []HeaderRegex
	AssertHeadersAbsent []string
	AssertBodyContains  string
	AssertBodyRegex     *regexp.Regexp
	// Body is the request body as httpbb sends it ("" for none), from
	// BodyKey (json_body or form_body), with ContentType unless
	// request_headers sets one.
	Body        string
	BodyKey     string
	ContentType string
}

// Warning is a problem that does not stop a file from loading but that a
// reader must know: a base URL block shadowed by a later one, a repeated
// key, a null body.
type Warning struct {
	File    string
	Line    int
	Column  int
	Message string
}

func (w Warning) String() string {
	return fmt.Sprintf("%s:%d:%d: warning: %s", w.File, w.Line, w.Column, w.Message)
}

// Header is a name and a value.
type Header struct {
	Name  string
	Value string
}

// HeaderRegex is a header name and a compiled pattern.
type HeaderRegex struct {
	Name    string
	Pattern *regexp.Regexp
}

// URL is the test's URL as written: base URL and path.
func (t *Test) URL() string { return t.BaseURL.String() + t.Path }

// Name is "<file>:<line> <METHOD> <url>".
func (t *Test) Name() string { return fmt.Sprintf("%s:%d %s %s", t.File, t.Line, t.Method, t.URL()) }

// Load parses httpbb files; every problem of every file is reported, each
// as file:line:column, and so is every warning (returned even with an
// error).
func Load(paths ...string) ([]*Test, []Warning, error) {
	var tests []*Test
	var warnings []Warning
	var errs []error
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("load httpbb file: %w", err))
			continue
		}
		ts, ws, err := Parse(p, data)
		warnings = append(warnings, ws...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tests = append(tests, ts...)
	}
	if len(errs) > 0 {
		return nil, warnings, errors.Join(errs...)
	}
	return tests, warnings, nil
}

// Parse parses one httpbb file already read.
func Parse(file string, data []byte) ([]*Test, []Warning, error) {
	p := &parser{Walker: yamlpos.Walker{File: file}}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, nil, target.YAMLError(file, "httpbb file", err) // file:line:col, an empty file too
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		p.errorf(&doc, "an httpbb file maps base URLs (https://host) to lists of tests")
		return nil, nil, p.Err()
	}
	var tests []*Test
	p.shadow = func(key string, k, v, last *yaml.Node) {
		n := 0
		if v = yamlpos.Deref(v); v.Kind == yaml.SequenceNode {
			n = len(v.Content)
		}
		p.warnf(k, "base URL %q is repeated at %s:%d:%d: httpbb keeps only the last block, so this block's %d %s never run",
			key, p.File, last.Line, last.Column, n, plural(n, "test is", "tests are"))
	}
	top := doc.Content[0]
	p.mapping(top, func(key string, k, v *yaml.Node) {
		base, err := parseBaseURL(key)
		if err != nil {
			p.errorf(k, "%v", err)
			return
		}
		if v = yamlpos.Deref(v); v.Kind != yaml.SequenceNode {
			p.errorf(v, "base URL %q: expected a list of tests", key)
			return
		}
		for _, item := range v.Content {
			if t := p.test(base, item); t != nil {
				tests = append(tests, t)
			}
		}
	})
	if err := p.Err(); err != nil {
		return nil, p.warnings, err
	}
	if len(tests) == 0 {
		return nil, p.warnings, fmt.Errorf("%s: no tests", file)
	}
	return tests, p.warnings, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func parseBaseURL(key string) (*url.URL, error) {
	u, err := url.Parse(key)
	if err != nil {
		return nil, fmt.Errorf("base URL %q: %v", key, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("base URL %q: want http:// or https:// followed by a host (and port), nothing else", key)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("base URL %q: port %q is not 1-65535", key, port)
		}
	}
	u.Path = ""
	u.Host = strings.ToLower(u.Host)
	return u, nil
}

var methods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodDelete: true, http.MethodPatch: true, http.MethodOptions: true,
}

// knownKeys are the test keys httpbb defines.
const knownKeys = "path, method, request_headers, json_body, form_body, assert_status, assert_headers, " +
	"assert_headers_regex, assert_headers_absent, assert_body_contains, assert_body_regex"

func (p *parser) test(base *url.URL, n *yaml.Node) *Test {
	n = yamlpos.Deref(n)
	t := &Test{File: p.File, Line: n.Line, Column: n.Column, BaseURL: base, Method: http.MethodGet}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "a test is a mapping with path and assertions")
		return nil
	}
	before := p.Len()
	sawPath, asserts := false, 0
	var jsonNode, formNode *yaml.Node
	p.mapping(n, func(key string, k, v *yaml.Node) {
		v = yamlpos.Deref(v)
		switch key {
		case "path":
			sawPath = true
			if p.str(v, &t.Path) && !strings.HasPrefix(t.Path, "/") {
				p.errorf(v, "path %q must start with /", t.Path)
			}
		case "method":
			var m string
			if p.str(v, &m) {
				t.Method = strings.ToUpper(m)
				if !methods[t.Method] {
					p.errorf(v, "unknown method %q", m)
				}
			}
		case "request_headers":
			t.RequestHeaders = p.headers(v, func(name string, kn *yaml.Node) {
				if strings.EqualFold(name, "Host") {
					p.errorf(kn, "request_headers: Host comes from the base URL")
				}
			})
		case "json_body":
			jsonNode = v
			if v.Kind == yaml.ScalarNode && pyResolve(v) == pyNull {
				p.warnf(v, "json_body is null: httpbb sends no body")
				return
			}
			body, ok := p.jsonBody(v, 0)
			if ok {
				t.Body, t.BodyKey, t.ContentType = body, key, "application/json"
			}
		case "form_body":
			formNode = v
			if v.Kind == yaml.ScalarNode && pyResolve(v) == pyNull || v.Kind == yaml.MappingNode && len(v.Content) == 0 {
				p.warnf(v, "form_body is empty: httpbb sends no body")
				return
			}
			body, ok := p.formBody(v)
			if ok {
				t.Body, t.BodyKey, t.ContentType = body, key, "application/x-www-form-urlencoded"
			}
		case "assert_status":
			asserts++
			if v.Kind != yaml.ScalarNode || pyResolve(v) != pyInt {
				p.errorf(v, "assert_status: expected an integer")
				return
			}
			z, err := pyIntValue(v.Value)
			if err != nil || !z.IsInt64() || z.Int64() < 100 || z.Int64() > 599 {
				p.errorf(v, "assert_status: %q is not an HTTP status (100-599)", v.Value)
				return
			}
			t.AssertStatus = int(z.Int64())
		case "assert_headers":
			asserts++
			t.AssertHeaders = p.headers(v, nil)
		case "assert_headers_regex":
			asserts++
			for _, h := range p.headers(v, nil) {
				re, err := regexp.Compile(h.Value)
				if err != nil {
					p.errorf(v, "assert_headers_regex %q: %v", h.Name, err)
					continue
				}
				t.AssertHeadersRegex = append(t.AssertHeadersRegex, HeaderRegex{Name: h.Name, Pattern: re})
			}
		case "assert_headers_absent":
			asserts++
			if v.Kind != yaml.SequenceNode {
				p.errorf(v, "assert_headers_absent: expected a list of header names")
				return
			}
			for _, item := range v.Content {
				var name string
				if p.str(item, &name) {
					if !httpguts.ValidHeaderFieldName(name) {
						p.errorf(item, "%q is not a header name", name)
						continue
					}
					t.AssertHeadersAbsent = append(t.AssertHeadersAbsent, name)
				}
			}
		case "assert_body_contains":
			asserts++
			p.str(v, &t.AssertBodyContains)
		case "assert_body_regex":
			asserts++
			var src string
			if p.str(v, &src) {
				re, err := regexp.Compile(src)
				if err != nil {
					p.errorf(v, "assert_body_regex: %v", err)
					return
				}
				t.AssertBodyRegex = re
			}
		default:
			p.errorf(k, "unknown key %q (want %s)", key, knownKeys)
		}
	})
	if jsonNode != nil && formNode != nil {
		p.errorf(formNode, "json_body and form_body together: httpbb would send the form and silently drop the JSON; keep one")
	}
	if !sawPath {
		p.errorf(n, "a test needs a path")
	}
	if asserts == 0 {
		p.errorf(n, "the test asserts nothing: add assert_status or another assert_* key")
	}
	if p.Len() > before {
		return nil
	}
	return t
}

// headers reads a mapping of header names to string values, in order.
func (p *parser) headers(n *yaml.Node, check func(name string, k *yaml.Node)) []Header {
	var out []Header
	p.mapping(n, func(name string, k, v *yaml.Node) {
		if pyResolve(k) != pyStr {
			p.errorf(k, "header name %q is %s to PyYAML: quote it", name, pyResolve(k))
			return
		}
		if !httpguts.ValidHeaderFieldName(name) {
			p.errorf(k, "%q is not a header name", name)
			return
		}
		if check != nil {
			check(name, k)
		}
		var val string
		if !p.str(v, &val) {
			return
		}
		if !httpguts.ValidHeaderFieldValue(val) {
			p.errorf(v, "header %q: invalid value %q", name, val)
			return
		}
		out = append(out, Header{Name: name, Value: val})
	})
	return out
}

// parser collects every problem (yamlpos.Walker: positions and problems)
// and every warning of one file.
type parser struct {
	yamlpos.Walker
	warnings []Warning
	// shadow, when set, reports a mapping entry shadowed by a later one
	// with the same key (last); nil: a generic warning.
	shadow func(key string, k, v, last *yaml.Node)
}

func (p *parser) warnf(n *yaml.Node, format string, args ...any) {
	p.warnings = append(p.warnings, Warning{File: p.File, Line: n.Line, Column: n.Column, Message: fmt.Sprintf(format, args...)})
}

// errorf records a problem at n (pyyaml.go's readers use it too).
func (p *parser) errorf(n *yaml.Node, format string, args ...any) { p.Errorf(n, format, args...) }

// mapping calls each for every key of n in the order first written, with
// the last value written for it: a Python dict's behaviour, which httpbb's
// YAML loader has for repeated keys. Each shadowed entry is a warning.
func (p *parser) mapping(n *yaml.Node, each func(key string, k, v *yaml.Node)) {
	n = yamlpos.Deref(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "expected a mapping")
		return
	}
	shadow := p.shadow
	p.shadow = nil // only for this mapping, not the ones nested in it
	type entry struct{ k, v *yaml.Node }
	var order []string
	last := map[string]entry{}
	var shadowed []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlpos.Deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "expected a string key")
			continue
		}
		if k.Tag == "!!merge" || k.Value == "<<" && k.Style == 0 {
			p.errorf(k, "YAML merge keys (<<) are not supported: write the keys out")
			continue
		}
		if prev, ok := last[k.Value]; ok {
			shadowed = append(shadowed, prev)
		} else {
			order = append(order, k.Value)
		}
		last[k.Value] = entry{k, v}
	}
	for _, s := range shadowed {
		winner := last[s.k.Value].k
		if shadow != nil {
			shadow(s.k.Value, s.k, s.v, winner)
			continue
		}
		p.warnf(s.k, "key %q is repeated at %s:%d:%d: httpbb keeps only the last value", s.k.Value, p.File, winner.Line, winner.Column)
	}
	for _, key := range order {
		e := last[key]
		each(key, e.k, e.v)
	}
}

// str reads a string scalar; false (and a problem) otherwise.
func (p *parser) str(n *yaml.Node, out *string) bool {
	n = yamlpos.Deref(n)
	if n.Kind != yaml.ScalarNode || pyResolve(n) != pyStr {
		p.errorf(n, "expected a string (quote it)")
		return false
	}
	*out = n.Value
	return true
}
