package httpbb

import (
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func fixture(name string) string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "fixtures", "httpbb", name)
}

func TestShippedSuitesParse(t *testing.T) {
	for _, name := range []string{"testwiki.yaml", "testwiki-edge.yaml", "jobrunner.yaml"} {
		tests, _, err := Load(fixture(name))
		if err != nil {
			t.Fatal(err)
		}
		if len(tests) < 3 {
			t.Errorf("%s: %d tests", name, len(tests))
		}
		g, err := Guard(tests, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := Screen(tests, g, false); err != nil {
			t.Errorf("%s is not safe for production: %v", name, err)
		}
	}
}

func TestParse(t *testing.T) {
	doc := `https://Test.Wikipedia.org:
- path: /wiki/Main_Page
  assert_status: 200
- path: /w/api.php
  method: post
  request_headers:
    X-Wikimedia-Debug: backend=k8s-mw-pretrain
    Accept: application/json
  assert_headers:
    Content-Type: application/json
  assert_headers_regex:
    Server: ^mw-pretrain\.
  assert_headers_absent: [X-Powered-By]
  assert_body_contains: query
  assert_body_regex: '"servername":"[a-z.]+"'
http://en.wikipedia.org:8080:
- path: /
  assert_status: 301
`
	tests, _, err := Parse("s.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) != 3 {
		t.Fatalf("%d tests", len(tests))
	}
	a, b, c := tests[0], tests[1], tests[2]
	if a.Name() != "s.yaml:2 GET https://test.wikipedia.org/wiki/Main_Page" || a.AssertStatus != 200 {
		t.Errorf("first test: %s status %d", a.Name(), a.AssertStatus)
	}
	if b.Method != "POST" || b.Line != 4 || len(b.RequestHeaders) != 2 || b.RequestHeaders[0].Name != "X-Wikimedia-Debug" ||
		b.AssertStatus != 0 || len(b.AssertHeaders) != 1 || len(b.AssertHeadersRegex) != 1 ||
		len(b.AssertHeadersAbsent) != 1 || b.AssertBodyContains != "query" || b.AssertBodyRegex == nil {
		t.Errorf("second test: %+v", b)
	}
	if c.URL() != "http://en.wikipedia.org:8080/" || c.AssertStatus != 301 {
		t.Errorf("third test: %s %d", c.URL(), c.AssertStatus)
	}
	cs := b.Case("", false)
	if cs.Request.Host != "test.wikipedia.org" || !cs.Expect.AnyStatus || len(cs.Expect.Headers) != 3 || cs.Pos.Line != 4 {
		t.Errorf("case: %+v", cs)
	}
}

// Malformed files are refused with file:line:column, every problem at once.
func TestParseErrors(t *testing.T) {
	cases := []struct{ name, doc, want string }{
		{"not a mapping", "- path: /\n", "s.yaml:1:1: an httpbb file maps base URLs"},
		{"base URL with path", "https://a.org/w:\n- {path: /, assert_status: 200}\n", `s.yaml:1:1: base URL "https://a.org/w": want http:// or https://`},
		{"base URL no scheme", "a.org:\n- {path: /, assert_status: 200}\n", `base URL "a.org"`},
		{"tests not a list", "https://a.org:\n  path: /\n", `s.yaml:2:3: base URL "https://a.org": expected a list of tests`},
		{"no path", "https://a.org:\n- assert_status: 200\n", "s.yaml:2:3: a test needs a path"},
		{"relative path", "https://a.org:\n- {path: wiki, assert_status: 200}\n", `s.yaml:2:10: path "wiki" must start with /`},
		{"no assertion", "https://a.org:\n- path: /\n", "s.yaml:2:3: the test asserts nothing"},
		{"unknown key", "https://a.org:\n- path: /\n  assert_stauts: 200\n", `s.yaml:3:3: unknown key "assert_stauts"`},
		{"status not int", "https://a.org:\n- path: /\n  assert_status: ok\n", "s.yaml:3:18: assert_status: expected an integer"},
		{"status out of range", "https://a.org:\n- path: /\n  assert_status: 999\n", `assert_status: "999" is not an HTTP status`},
		{"unknown method", "https://a.org:\n- path: /\n  method: FETCH\n  assert_status: 200\n", `s.yaml:3:11: unknown method "FETCH"`},
		{"bad regex", "https://a.org:\n- path: /\n  assert_body_regex: '(?<=x)y'\n", "s.yaml:3:22: assert_body_regex: error parsing regexp"},
		{"bad header regex", "https://a.org:\n- path: /\n  assert_headers_regex: {Server: '(unclosed'}\n", `assert_headers_regex "Server"`},
		{"header value not a string", "https://a.org:\n- path: /\n  request_headers: {X-N: 1}\n  assert_status: 200\n", "s.yaml:3:26: expected a string (quote it)"},
		{"bad header name", "https://a.org:\n- path: /\n  request_headers: {'Bad Name': x}\n  assert_status: 200\n", `"Bad Name" is not a header name`},
		{"host header", "https://a.org:\n- path: /\n  request_headers: {Host: b.org}\n  assert_status: 200\n", "Host comes from the base URL"},
		{"absent not a list", "https://a.org:\n- path: /\n  assert_headers_absent: X-A\n", "assert_headers_absent: expected a list"},
		{"status a YAML 1.1 boolean", "https://a.org:\n- path: /\n  assert_status: yes\n", "s.yaml:3:18: assert_status: expected an integer"},
		{"body contains a YAML 1.1 boolean", "https://a.org:\n- path: /\n  assert_body_contains: on\n", "s.yaml:3:25: expected a string (quote it)"},
		{"json and form body", "https://a.org:\n- path: /\n  method: POST\n  json_body: {a: 1}\n  form_body: {a: 1}\n  assert_status: 200\n", "s.yaml:5:14: json_body and form_body together"},
		{"json body NaN", "https://a.org:\n- path: /\n  method: POST\n  json_body: {a: .nan}\n  assert_status: 200\n", `s.yaml:4:18: json_body: ".nan" is not a finite number`},
		{"json body date", "https://a.org:\n- path: /\n  method: POST\n  json_body: [2024-01-02]\n  assert_status: 200\n", `s.yaml:4:15: json_body: "2024-01-02" is a timestamp to PyYAML`},
		{"json body merge key", "https://a.org:\n- path: /\n  method: POST\n  json_body: {<<: {a: 1}}\n  assert_status: 200\n", "merge keys (<<) are not supported"},
		{"form body not a mapping", "https://a.org:\n- path: /\n  method: POST\n  form_body: [a]\n  assert_status: 200\n", "s.yaml:4:14: form_body: expected a mapping"},
		{"form body nested", "https://a.org:\n- path: /\n  method: POST\n  form_body: {a: {b: c}}\n  assert_status: 200\n", "s.yaml:4:18: form_body: expected a string or a number"},
		{"bad yaml", "https://a.org:\n- path: [\n", "s.yaml:2:1: parse httpbb file: did not find expected node content"},
		{"bad yaml line 3", "https://a.org:\n- path: /\n   assert_status: [\n", "s.yaml:3:1: parse httpbb file: mapping values are not allowed in this context"},
		{"empty file", "", "s.yaml:1:1: parse httpbb file: the file is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Parse("s.yaml", []byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	// Every problem of every file, at once.
	_, _, err := Parse("s.yaml", []byte("https://a.org:\n- path: x\n  assert_status: 1\n- method: PUT\n"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"s.yaml:2:9:", "s.yaml:3:18:", "s.yaml:4:3: a test needs a path", "s.yaml:4:3: the test asserts nothing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, _, err := Load("does-not-exist.yaml"); err == nil || !strings.Contains(err.Error(), "load httpbb file") {
		t.Errorf("missing file: %v", err)
	}
}
