package contract

import (
	"errors"
	"reflect"
	"testing"
)

func TestDefaultLoadsClean(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	if c.Source != "fixtures/contract/pretrain.yaml" {
		t.Errorf("Source = %q, want fixtures/contract/pretrain.yaml", c.Source)
	}
	if len(c.Cases) < 40 {
		t.Errorf("default contract has %d cases, want at least 40", len(c.Cases))
	}
	neg := 0
	for _, cs := range c.Cases {
		if cs.Negative() {
			neg++
		}
	}
	if 3*neg < len(c.Cases) {
		t.Errorf("default contract has %d negative cases of %d, want at least a third", neg, len(c.Cases))
	}
	if ps := Lint(c); len(ps) > 0 {
		t.Errorf("default contract has lint problems:\n%v", (&Problems{List: ps}).Error())
	}
	if ps := CheckSources(c); len(ps) > 0 {
		t.Errorf("default contract has checks without a source:\n%v", (&Problems{List: ps}).Error())
	}
	// Only the plan's three diversion steps are planned; everything else
	// cites a production file.
	for _, u := range Sources(c) {
		if u.Source.Planned() && (u.Source.Task != "T427666" || u.Source.Step < 1 || u.Source.Step > 3) {
			t.Errorf("unexpected planned source %q", u.Source)
		}
	}
	if n := len(c.Budgets); n < 3 || n > 5 {
		t.Errorf("default contract has %d budgets, want 3..5", n)
	}
	for _, b := range c.Budgets {
		if b.Rate > 5 {
			t.Errorf("budget %q: rate %v > 5 req/s is not live-safe", b.Name, b.Rate)
		}
		n := b.Requests
		if b.Duration > 0 {
			n = int(b.Rate * b.Duration.Seconds())
		}
		if n > 60 {
			t.Errorf("budget %q sends %d requests, want at most 60", b.Name, n)
		}
		cs, err := c.BudgetCase(b)
		if err != nil {
			t.Errorf("budget %q: %v", b.Name, err)
			continue
		}
		if cs.Expect.ServedBy == "" {
			t.Errorf("budget %q loads case %q, which expects no backend", b.Name, cs.Name)
		}
	}
	// Every entry, every label and every identity is exercised.
	entries := map[string]bool{}
	labels := map[string]bool{}
	for _, cs := range c.Cases {
		entries[cs.Entry] = true
		for _, l := range cs.Labels {
			labels[l] = true
		}
	}
	for _, e := range []string{EntryEdge, EntryIngress, EntryJobrunnerGateway, EntryRESTGateway, EntryMeshAPIInt, EntryMeshJobrunner, EntryJobrunner} {
		if !entries[e] {
			t.Errorf("no case enters at %q", e)
		}
	}
	for _, l := range Labels {
		if !labels[l] {
			t.Errorf("no case carries label %q", l)
		}
	}
	for _, b := range []string{
		"mw-pretrain/main", "mw-pretrain/canary", "mw-pretrain/debug", "mw-pretrain/jobrunner",
		"mw-pretrain/jobrunner-canary", "mw-web/main", "mw-api-ext/main", "mw-api-int/main",
		"mw-jobrunner/main", "mw-debug/pinkunicorn", "mw-debug/next", "mw-experimental/pinkllama",
		"mw-parsoid/pinkllama",
	} {
		if be, ok := c.Backends[b]; !ok || be.IsGroup() {
			t.Errorf("backend %q missing or a group", b)
		}
	}
}

// A negative case never expects a plain 2xx answer from Pretrain's main
// route unless it is about the jobrunner being unreachable.
func TestDefaultNegativesAreNegative(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	pretrain := c.Resolve("mw-pretrain/*")
	for _, cs := range c.Cases {
		if !cs.Negative() {
			continue
		}
		reachesPretrain := false
		for _, m := range c.Resolve(cs.Expect.ServedBy) {
			if contains(pretrain, m) {
				reachesPretrain = true
			}
		}
		refused := cs.Expect.NoBackend || cs.Expect.Status >= 400
		jobrunnerUnreachable := contains(cs.Labels, LabelJobrunner) && cs.Expect.ServedBy == "mw-pretrain/main+canary"
		if reachesPretrain && !refused && !jobrunnerUnreachable {
			t.Errorf("negative case %q expects Pretrain (%s) to serve it", cs.Name, cs.Expect.ServedBy)
		}
	}
}

func TestResolveAndAllows(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Resolve("mw-pretrain/main+canary"), []string{"mw-pretrain/main", "mw-pretrain/canary"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Resolve(main+canary) = %q, want %q", got, want)
	}
	wantAll := []string{"mw-pretrain/main", "mw-pretrain/canary", "mw-pretrain/debug", "mw-pretrain/jobrunner", "mw-pretrain/jobrunner-canary"}
	if got := c.Resolve("mw-pretrain/*"); !reflect.DeepEqual(got, wantAll) {
		t.Errorf("Resolve(mw-pretrain/*) = %q, want %q", got, wantAll)
	}
	if got := c.Resolve("mw-web/main"); !reflect.DeepEqual(got, []string{"mw-web/main"}) {
		t.Errorf("Resolve(mw-web/main) = %q", got)
	}
	if got := c.Resolve("nope/x"); got != nil {
		t.Errorf("Resolve(unknown) = %q, want nil", got)
	}
	for _, tc := range []struct {
		expected, got string
		want          bool
	}{
		{"mw-pretrain/main+canary", "mw-pretrain/main", true},
		{"mw-pretrain/main+canary", "mw-pretrain/canary", true},
		{"mw-pretrain/*", "mw-pretrain/jobrunner-canary", true},
		{"mw-web/main", "mw-web/main", true},
		// negatives
		{"mw-pretrain/main+canary", "mw-pretrain/debug", false},
		{"mw-pretrain/main+canary", "mw-pretrain/jobrunner", false},
		{"mw-pretrain/main+canary", "mw-web/main", false},
		{"mw-pretrain/jobrunner+jobrunner-canary", "mw-jobrunner/main", false},
		{"mw-pretrain/main", "mw-pretrain/canary", false},
		{"mw-web/main", "mw-pretrain/main", false},
		{"mw-api-int/main", "mw-api-int/main-x", false},
		{"mw-pretrain/*", "mw-web/main", false},
		{"mw-pretrain/main+canary", "", false},
		{"nope/x", "nope/x", false},
		{"", "", false},
	} {
		if got := c.Allows(tc.expected, tc.got); got != tc.want {
			t.Errorf("Allows(%q, %q) = %v, want %v", tc.expected, tc.got, got, tc.want)
		}
	}
}

func TestResolveSurvivesCycles(t *testing.T) {
	// A contract built by hand (not validated) must not hang Resolve.
	c := &Contract{Backends: map[string]*Backend{
		"n/a":  {Name: "n/a"},
		"n/g1": {Name: "n/g1", Members: []string{"n/g2", "n/a"}},
		"n/g2": {Name: "n/g2", Members: []string{"n/g1"}},
	}}
	if got := c.Resolve("n/g1"); !reflect.DeepEqual(got, []string{"n/a"}) {
		t.Errorf("Resolve(n/g1) = %q, want [n/a]", got)
	}
}

func TestCaseBudgetCaseArea(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if c.Case("edge-testwiki-main-page") == nil {
		t.Error(`Case("edge-testwiki-main-page") = nil`)
	}
	if c.Case("no-such-case") != nil {
		t.Error(`Case("no-such-case") != nil`)
	}
	// Entry budget: the entry's first case that expects a backend.
	cs, err := c.BudgetCase(&Budget{Name: "b", Entry: EntryJobrunnerGateway})
	if err != nil || cs.Name != "jobrunner-gateway-health-check" {
		t.Errorf("BudgetCase(entry jobrunner-gateway) = %v, %v", cs, err)
	}
	if _, err := c.BudgetCase(&Budget{Name: "b", Case: "no-such-case"}); err == nil ||
		err.Error() != `resolve budget "b": unknown case "no-such-case"` {
		t.Errorf("BudgetCase(unknown case) error = %v", err)
	}
	if _, err := c.BudgetCase(&Budget{Name: "b", Entry: "nowhere"}); err == nil ||
		err.Error() != `resolve budget "b": entry "nowhere" has no case that expects a backend` {
		t.Errorf("BudgetCase(unknown entry) error = %v", err)
	}
	for entry, want := range map[string]string{
		EntryEdge: "edge", EntryIngress: "routing", EntryJobrunnerGateway: "jobrunner",
		EntryJobrunner: "jobrunner", EntryRESTGateway: "rest", EntryMeshAPIInt: "mesh",
		EntryMeshJobrunner: "mesh", "mesh/other": "mesh", "custom": "custom",
	} {
		if got := Area(&Case{Entry: entry}); got != want {
			t.Errorf("Area(entry %q) = %q, want %q", entry, got, want)
		}
	}
}

func TestStatusOK(t *testing.T) {
	for _, tc := range []struct {
		e      Expectation
		status int
		want   bool
	}{
		{Expectation{}, 200, true},
		{Expectation{}, 204, true},
		{Expectation{}, 301, false},
		{Expectation{}, 404, false},
		{Expectation{}, 199, false},
		{Expectation{Status: 404}, 404, true},
		{Expectation{Status: 404}, 200, false},
		{Expectation{AnyStatus: true}, 500, true},
		{Expectation{AnyStatus: true}, 0, false},
	} {
		if got := tc.e.StatusOK(tc.status); got != tc.want {
			t.Errorf("%+v.StatusOK(%d) = %v, want %v", tc.e, tc.status, got, tc.want)
		}
	}
	if got := (Expectation{}).WantStatus(); got != "2xx" {
		t.Errorf("WantStatus = %q", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	var ps *Problems
	if err == nil || errors.As(err, &ps) {
		t.Fatalf("Load(missing) = %v, want a plain read error", err)
	}
}
