package faults

import (
	"slices"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
)

func TestDefaultCatalogue(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	// The kind replica makes its gateway faults as routing input
	// mutations (fixtures/mutations/routes.yaml), not from this catalogue.
	if got := len(c.For(Kind)); got != 7 {
		t.Errorf("%d kind faults, want 7", got)
	}
	if got := len(c.For(InProcess)); got != 14 {
		t.Errorf("%d in-process faults, want 14", got)
	}
	f, ok := c.Fault("canary-takes-all")
	if !ok {
		t.Fatal("canary-takes-all not in the catalogue")
	}
	if want := []string{"share jobrunner-canary-share", "share main-canary-share"}; !slices.Equal(f.Failures(), want) {
		t.Errorf("canary-takes-all fails %q, want %q", f.Failures(), want)
	}
	for _, f := range c.Faults {
		if !slices.IsSorted(f.Failures()) || len(f.Failures()) == 0 {
			t.Errorf("fault %q: failures %q empty or unsorted", f.Name, f.Failures())
		}
	}
}

func TestCatalogueProblemsNameFileAndLine(t *testing.T) {
	ct, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"duplicate name", `
- name: a
  description: d
  targets: [kind]
  fails: [edge-testwiki-api]
- name: a
  description: d
  targets: [kind]
  fails: [edge-testwiki-api]
`, []string{`x.yaml:6:3: fault "a": duplicate name (first at line 2)`}},
		{"unknown target, nothing failed, no description", `
- name: a
  targets: [kind, staging]
`, []string{`x.yaml:3:19: fault "a": unknown target "staging"`, `x.yaml:2:3: fault "a": fails and shares are empty`,
			`x.yaml:2:3: fault "a": description is required`}},
		{"case twice", `
- name: a
  description: d
  targets: [kind]
  fails:
    - edge-testwiki-api
    - edge-testwiki-api
`, []string{`x.yaml:7:7: fault "a": fails: "edge-testwiki-api" listed twice (first at line 6)`}},
		{"unknown field", `
- name: a
  description: d
  targets: [kind]
  breaks: [edge-testwiki-api]
`, []string{`x.yaml:5:3: unknown field "breaks"`}},
		{"unknown case and share", `
- name: a
  description: d
  targets: [in-process]
  fails:
    - edge-testwiki-api
    - edge-no-such-case
  shares:
    - no-such-share
`, []string{`x.yaml:7:7: fault "a": case "edge-no-such-case" is not in the contract fixtures/contract/pretrain.yaml`,
			`x.yaml:9:7: fault "a": share check "no-such-share" is not in the contract`}},
		{"empty", ``, []string{"x.yaml: expected a list of faults"}},
		{"not a list", "name: a\n", []string{"x.yaml: expected a list of faults"}},
		{"bad yaml", "- name: [\n", []string{"parse fault catalogue x.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("x.yaml", []byte(tc.yaml))
			if err == nil {
				err = c.Validate(ct)
			}
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestImplemented(t *testing.T) {
	c, err := Parse("x.yaml", []byte(`
- name: both
  description: d
  targets: [in-process, kind]
  fails: [edge-testwiki-api]
- name: inproc
  description: d
  targets: [in-process]
  shares: [main-canary-share]
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Implemented(Kind, []string{"both"}); err != nil {
		t.Error(err)
	}
	if err := c.Implemented(InProcess, []string{"inproc", "both"}); err != nil {
		t.Error(err)
	}
	err = c.Implemented(Kind, []string{"inproc", "extra"})
	for _, w := range []string{
		`x.yaml:2:3: fault "both" is listed for kind but kind does not make it`,
		`x.yaml:6:3: kind makes fault "inproc", but its targets do not name kind`,
		`kind makes fault "extra", which x.yaml does not list`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
}
