package contract

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestBrokenContractReportsEverything loads a contract with a dozen
// problems across every section and expects all of them, in file order.
func TestBrokenContractReportsEverything(t *testing.T) {
	c, err := Load("testdata/broken.yaml")
	if c != nil {
		t.Error("Load returned a contract along with problems")
	}
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load error is %T (%v), want *Problems", err, err)
	}
	want := []string{
		`testdata/broken.yaml:6:33: group "mw-pretrain/main+canary": unknown member "mw-pretrain/canary"`,
		`testdata/broken.yaml:8:5: backend #3: unknown key "descripton" (want one of: name, description, members)`,
		`testdata/broken.yaml:17:15: case "testwiki" request: invalid method "FETCH" (want one of: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)`,
		`testdata/broken.yaml:22:11: duplicate case name "testwiki" (first defined at testdata/broken.yaml:13:11)`,
		`testdata/broken.yaml:23:12: unknown entry "mesh/mw-api-int"`,
		`testdata/broken.yaml:29:18: unknown backend "mw-api-int/main"`,
		`testdata/broken.yaml:32:19: case "xwd-scope": unknown label "negativ" (want one of: host, path, xwd, mesh, rest, jobrunner, edge, negative)`,
		`testdata/broken.yaml:41:15: case "xwd-scope" expect status: invalid status 4000: want 100..599`,
		`testdata/broken.yaml:43:54: case "xwd-scope" expect header "x-wikimedia-debug-routing" matches: invalid regex "scope: (pretrain": error parsing regexp: missing closing ): ` + "`scope: (pretrain`",
		`testdata/broken.yaml:47:11: budget "edge": rate must be positive (requests per second), got -1`,
		`testdata/broken.yaml:50:10: budget "edge": max (500ms) is below p99 (1s)`,
		`testdata/broken.yaml:51:18: budget "edge": min_success must be a ratio in (0, 1], got 0`,
	}
	got := make([]string, len(ps.List))
	for i, p := range ps.List {
		got[i] = p.String()
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
	if !strings.Contains(err.Error(), "\n") || strings.Count(err.Error(), "\n") != len(want)-1 {
		t.Errorf("Error() does not list one problem per line:\n%s", err)
	}
}

func TestLintFindsProblems(t *testing.T) {
	src := `version: 1
backends:
  - name: ns/a
  - name: ns/unused
  - name: ns/g
    members: [ns/a]
entries:
  - name: edge
  - name: mesh/x
  - name: idle
cases:
  - name: nolabels
    entry: edge
    request: {method: GET, host: h, path: /, headers: [{name: X-Wikimedia-Debug, value: k8s-mw-pretrain}]}
    expect: {served_by: ns/g}
  - name: mislabelled
    entry: mesh/x
    labels: [edge, xwd]
    request: {method: GET, host: h, path: /w/rest.php}
    expect: {no_backend: true, status: 404}
budgets:
  - {name: b, case: mislabelled, rate: 1, requests: 1, max: 1s, min_success: 1}
`
	c, err := Parse("l.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := []string{
		`l.yaml:4:5: backend "ns/unused" is expected by no case and belongs to no group`,
		`l.yaml:5:5: group "ns/g" has a single member`,
		`l.yaml:10:5: entry "idle" is used by no case`,
		`l.yaml:12:5: case "nolabels" has no labels`,
		`l.yaml:12:5: case "nolabels" should carry label "edge"`,
		`l.yaml:12:5: case "nolabels" should carry label "xwd"`,
		`l.yaml:16:5: case "mislabelled" should carry label "mesh"`,
		`l.yaml:16:5: case "mislabelled" should carry label "rest"`,
		`l.yaml:16:5: case "mislabelled" is labelled "edge" but enters at "mesh/x"`,
		`l.yaml:16:5: case "mislabelled" is labelled "xwd" but sends no X-Wikimedia-Debug header`,
		`l.yaml:22:5: budget "b" loads case "mislabelled", which expects no backend`,
	}
	ps := Lint(c)
	got := make([]string, len(ps))
	for i, p := range ps {
		got[i] = p.String()
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lint:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

// Anchors and aliases are followed: a header list can be shared.
func TestAliases(t *testing.T) {
	src := head + `  - name: a
    entry: e
    request:
      method: GET
      host: h.example
      path: /
      headers: &xwd [{name: X-Wikimedia-Debug, value: k8s-mw-pretrain}]
    expect: {served_by: ns/a}
  - name: b
    entry: e
    request: {method: GET, host: h.example, path: /, headers: *xwd}
    expect: {served_by: ns/ab}
`
	c, err := Parse("a.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if h := c.Case("b").Request.Headers; len(h) != 1 || h[0].Value != "k8s-mw-pretrain" {
		t.Errorf("aliased headers = %+v", h)
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"../../fixtures/contract/pretrain.yaml", "testdata/broken.yaml"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(head + okCase))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("version: 1\nbackends: [{name: n/g, members: [n/g]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tm := time.AfterFunc(3*time.Second, func() { panic(fmt.Sprintf("Parse hangs on %q", data)) })
		defer tm.Stop()
		c, err := Parse("f.yaml", data)
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse returned contract %v and error %v: want exactly one", c != nil, err)
		}
		if err != nil {
			var ps *Problems
			if !errors.As(err, &ps) || len(ps.List) == 0 {
				t.Fatalf("Parse error %T without problems: %v", err, err)
			}
			for _, p := range ps.List {
				if p.Pos.File != "f.yaml" || p.Pos.Line < 1 || p.Pos.Column < 1 {
					t.Fatalf("problem without a position: %v", p)
				}
			}
			return
		}
		_ = Lint(c)
		for _, cs := range c.Cases {
			c.Resolve(cs.Expect.ServedBy)
			_ = Area(cs)
		}
	})
}
