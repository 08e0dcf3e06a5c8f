package httpbb

import (
	"path/filepath"
	"strings"
	"testing"
)

// The corpus in testdata/corpus is written for these tests: each file
// exercises constructs the public httpbb suites use (see its comments),
// on made-up hosts, paths and texts.
func corpus(name string) string { return filepath.Join("testdata", "corpus", name) }

func TestCorpusLoads(t *testing.T) {
	want := map[string]int{"wikis.yaml": 8, "models.yaml": 4, "forms.yaml": 1, "shadowed.yaml": 2}
	for name, n := range want {
		tests, _, err := Load(corpus(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(tests) != n {
			t.Errorf("%s: %d tests, want %d", name, len(tests), n)
		}
	}
}

func TestCorpusWikis(t *testing.T) {
	tests, ws, err := Load(corpus("wikis.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 0 {
		t.Errorf("warnings: %v", ws)
	}
	byPath := map[string]*Test{}
	for _, tc := range tests {
		byPath[tc.BaseURL.Scheme+" "+tc.BaseURL.Host+" "+tc.Path] = tc
	}
	get := func(key string) *Test {
		t.Helper()
		tc := byPath[key]
		if tc == nil {
			t.Fatalf("no test %q", key)
		}
		return tc
	}
	if tc := get("https test.wikipedia.org /"); tc.AssertStatus != 301 || len(tc.AssertHeaders) != 1 ||
		tc.AssertHeaders[0] != (Header{"Location", "https://test.wikipedia.org/wiki/Main_Page"}) {
		t.Errorf("redirect: %+v", tc)
	}
	if tc := get("https test.wikipedia.org /w/index.php?title=Special:Search&search=pretrain%20probe&fulltext=1"); tc.URL() !=
		"https://test.wikipedia.org/w/index.php?title=Special:Search&search=pretrain%20probe&fulltext=1" {
		t.Errorf("query: %s", tc.URL())
	}
	if tc := get("https test.wikipedia.org /wiki/Spezial:Zufällige_Seite"); tc.AssertBodyContains != "Übersicht – Testwiki" {
		t.Errorf("non-ASCII: %q", tc.AssertBodyContains)
	}
	tc := get("https test.wikipedia.org /w/load.php?modules=startup&only=scripts")
	if len(tc.RequestHeaders) != 2 || tc.RequestHeaders[0] != (Header{"Accept-Encoding", "deflate, gzip"}) ||
		tc.RequestHeaders[1] != (Header{"X-Probe", "one two"}) {
		t.Errorf("flow headers: %+v", tc.RequestHeaders)
	}
	if len(tc.AssertHeadersRegex) != 1 || !tc.AssertHeadersRegex[0].Pattern.MatchString("text/javascript; charset=utf-8") ||
		strings.Join(tc.AssertHeadersAbsent, ",") != "Set-Cookie,X-Debug-Trace" {
		t.Errorf("header assertions: %+v %v", tc.AssertHeadersRegex, tc.AssertHeadersAbsent)
	}
	re := get("https test.wikipedia.org /.well-known/probe.json").AssertBodyRegex
	if re == nil || !re.MatchString("{\"probe\": {\n  \"ok\": true}}") || re.MatchString(`{"probe": {"ok": false}}`) {
		t.Errorf("folded regex: %v", re)
	}
	if tc := get("https test.wikipedia.org /w/api.php?action=query&meta=siteinfo&format=json"); tc.AssertBodyContains != `"generator":` {
		t.Errorf("quoted contains: %q", tc.AssertBodyContains)
	}
	if tc := get("http test.wikipedia.org /wiki/Main_Page"); tc.AssertStatus != 301 {
		t.Errorf("http block: %+v", tc)
	}
	if tc := get("https probe-api.discovery.wmnet:31443 /healthz"); tc.URL() != "https://probe-api.discovery.wmnet:31443/healthz" {
		t.Errorf("port: %s", tc.URL())
	}
	for _, tc := range tests {
		if tc.Body != "" || tc.Method != "GET" {
			t.Errorf("%s: a GET without body expected, got %s %q", tc.Name(), tc.Method, tc.Body)
		}
	}
}

// The bodies are the bytes httpbb sends: computed once with PyYAML's
// safe_load and json.dumps / urlencode (what requests' json= and data=
// call) on these files, and pinned here.
func TestCorpusBodies(t *testing.T) {
	tests, ws, err := Load(corpus("models.yaml"), corpus("forms.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 0 {
		t.Errorf("warnings: %v", ws)
	}
	want := []struct{ method, body, key, ctype string }{
		{"POST", `{"rev_id": 424242, "lang": "en"}`, "json_body", "application/json"},
		{"POST", `{"instances": [{"text": "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u03ba\u03cc\u03c3\u03bc\u03b5", "kind": "greeting", "empty": ""}, ` +
			`{"text": "caf\u00e9 \ud83d\ude00", "weights": [1, 2.5, -0.0]}], "debug": true, "threshold": 0.75, ` +
			`"big": 123456789012345678901234567890, "nothing": null, "true": "1e5"}`, "json_body", "application/json"},
		{"POST", `{"rev_id": 7}`, "json_body", "application/json"},
		{"GET", "", "", ""},
		{"POST", "action=query&titles=Main+Page+%26+more&maxlag=5&formatversion=2&continue=", "form_body", "application/x-www-form-urlencoded"},
	}
	if len(tests) != len(want) {
		t.Fatalf("%d tests", len(tests))
	}
	for i, w := range want {
		tc := tests[i]
		if tc.Method != w.method || tc.Body != w.body || tc.BodyKey != w.key || tc.ContentType != w.ctype {
			t.Errorf("test %d (%s):\n got %s %q %s %s\nwant %s %q %s %s", i, tc.Name(),
				tc.Method, tc.Body, tc.BodyKey, tc.ContentType, w.method, w.body, w.key, w.ctype)
		}
	}
}

// A base URL written three times: httpbb keeps the last block, at the
// first block's place; each shadowed block is a warning with its
// position. A repeated test key keeps its last value, with a warning.
func TestCorpusShadowedBlocks(t *testing.T) {
	tests, ws, err := Load(corpus("shadowed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tc := range tests {
		got = append(got, tc.URL())
	}
	if strings.Join(got, " ") != "https://tracker.example.org/third https://other.example.org/" {
		t.Errorf("tests run: %v", got)
	}
	if tests[0].AssertStatus != 200 || tests[0].Line != 18 {
		t.Errorf("repeated assert_status: %d at line %d, want the last (200) at line 18", tests[0].AssertStatus, tests[0].Line)
	}
	f := corpus("shadowed.yaml")
	want := []string{
		f + `:3:1: warning: base URL "https://tracker.example.org" is repeated at ` + f + `:17:1: httpbb keeps only the last block, so this block's 1 test is never run`,
		f + `:7:1: warning: base URL "https://tracker.example.org" is repeated at ` + f + `:17:1: httpbb keeps only the last block, so this block's 2 tests are never run`,
		f + `:19:3: warning: key "assert_status" is repeated at ` + f + `:20:3: httpbb keeps only the last value`,
	}
	if len(ws) != len(want) {
		t.Fatalf("warnings:\n%v", ws)
	}
	for i := range want {
		if ws[i].String() != want[i] {
			t.Errorf("warning %d:\n got %s\nwant %s", i, ws[i], want[i])
		}
	}
}
