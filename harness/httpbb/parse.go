// Package httpbb runs Wikimedia's httpbb ("HTTP black box") YAML suites
// with pretrain-check's probe, safety guard and reports.
//
// A suite file maps base URLs to lists of tests:
//
//	https://test.wikipedia.org:
//	- path: /wiki/Main_Page
//	  method: GET                      # optional, default GET
//	  request_headers:                 # optional
//	    X-Wikimedia-Debug: backend=k8s-mw-pretrain
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
// tests, and --hosts says where to connect. Judgement calls where httpbb's
// documentation is silent: a missing assert_status asserts no status, but
// a test must assert something; regexes are Go RE2 (a Python-only construct
// is a load error), searched like Python's re.search; redirects are never
// followed (a 301 is a result).
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
// as file:line:column.
func Load(paths ...string) ([]*Test, error) {
	var tests []*Test
	var errs []error
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("load httpbb file: %w", err))
			continue
		}
		ts, err := Parse(p, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tests = append(tests, ts...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return tests, nil
}

// Parse parses one httpbb file already read.
func Parse(file string, data []byte) ([]*Test, error) {
	p := &parser{file: file}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("parse httpbb file %s: %w", file, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		p.errorf(&doc, "an httpbb file maps base URLs (https://host) to lists of tests")
		return nil, p.err()
	}
	var tests []*Test
	p.mapping(doc.Content[0], func(key string, k, v *yaml.Node) {
		base, err := parseBaseURL(key)
		if err != nil {
			p.errorf(k, "%v", err)
			return
		}
		if v.Kind != yaml.SequenceNode {
			p.errorf(v, "base URL %q: expected a list of tests", key)
			return
		}
		for _, item := range v.Content {
			if t := p.test(base, item); t != nil {
				tests = append(tests, t)
			}
		}
	})
	if err := p.err(); err != nil {
		return nil, err
	}
	if len(tests) == 0 {
		return nil, fmt.Errorf("%s: no tests", file)
	}
	return tests, nil
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

func (p *parser) test(base *url.URL, n *yaml.Node) *Test {
	t := &Test{File: p.file, Line: n.Line, Column: n.Column, BaseURL: base, Method: http.MethodGet}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "a test is a mapping with path and assertions")
		return nil
	}
	before := len(p.problems)
	sawPath, asserts := false, 0
	p.mapping(n, func(key string, k, v *yaml.Node) {
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
		case "assert_status":
			asserts++
			if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
				p.errorf(v, "assert_status: expected an integer")
				return
			}
			s, err := strconv.Atoi(v.Value)
			if err != nil || s < 100 || s > 599 {
				p.errorf(v, "assert_status: %q is not an HTTP status (100-599)", v.Value)
				return
			}
			t.AssertStatus = s
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
			p.errorf(k, "unknown key %q (want path, method, request_headers, assert_status, assert_headers, "+
				"assert_headers_regex, assert_headers_absent, assert_body_contains, assert_body_regex)", key)
		}
	})
	if !sawPath {
		p.errorf(n, "a test needs a path")
	}
	if asserts == 0 {
		p.errorf(n, "the test asserts nothing: add assert_status or another assert_* key")
	}
	if len(p.problems) > before {
		return nil
	}
	return t
}

// headers reads a mapping of header names to string values, in order.
func (p *parser) headers(n *yaml.Node, check func(name string, k *yaml.Node)) []Header {
	var out []Header
	p.mapping(n, func(name string, k, v *yaml.Node) {
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

type parser struct {
	file     string
	problems []error
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.problems = append(p.problems, fmt.Errorf("%s:%d:%d: %s", p.file, n.Line, n.Column, fmt.Sprintf(format, args...)))
}

func (p *parser) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	return errors.Join(p.problems...)
}

func (p *parser) mapping(n *yaml.Node, each func(key string, k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "expected a mapping")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "expected a string key")
			continue
		}
		if seen[k.Value] {
			p.errorf(k, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		each(k.Value, k, v)
	}
}

// str reads a string scalar; false (and a problem) otherwise.
func (p *parser) str(n *yaml.Node, out *string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		p.errorf(n, "expected a string (quote it)")
		return false
	}
	*out = n.Value
	return true
}
