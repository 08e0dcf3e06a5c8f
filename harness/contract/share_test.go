package contract

import (
	"math"
	"strings"
	"testing"
)

func TestBinomialOutside(t *testing.T) {
	for _, tc := range []struct {
		n, lo, hi int
		p, want   float64
	}{
		{240, 46, 117, 1.0 / 3, 6.63e-7},     // the default contract's band
		{240, 46, 117, 2.0 / 3, 1 - 8.12e-9}, // a canary at twice its share
		{1, 0, 0, 0.5, 0.5},
		{10, 0, 10, 0.3, 0},
		{4, 1, 3, 0.5, 2.0 / 16},
	} {
		got := BinomialOutside(tc.n, tc.lo, tc.hi, tc.p)
		if math.Abs(got-tc.want) > 1e-2*tc.want+1e-12 {
			t.Errorf("BinomialOutside(%d, %d, %d, %g) = %.4g, want %.4g", tc.n, tc.lo, tc.hi, tc.p, got, tc.want)
		}
	}
	if BinomialOutside(240, 46, 117, 0) != 1 || BinomialOutside(240, 46, 117, 1) != 1 {
		t.Errorf("a canary with none or all of the traffic must fall outside")
	}
}

func TestDefaultContractShares(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Shares) != 2 {
		t.Fatalf("%d shares, want main's and the jobrunner's", len(c.Shares))
	}
	for _, s := range c.Shares {
		cs := c.Case(s.Case)
		if s.Num != 1 || s.Den != 3 || cs.Entry == EntryEdge || cs.Request.Method != "GET" {
			t.Errorf("share %q: %d/%d over %s %s", s.Name, s.Num, s.Den, cs.Entry, cs.Request.Method)
		}
		for _, k := range []int{0, s.Requests, 2 * s.Requests / 3} {
			if k >= s.Min && k <= s.Max {
				t.Errorf("share %q: %d of %d answers would pass", s.Name, k, s.Requests)
			}
		}
	}
}

func TestShareValidation(t *testing.T) {
	head := `version: 1
features: [{name: f, source: "planned: T1 step 1"}]
backends:
  - {name: ns/main}
  - {name: ns/canary}
  - {name: ns/other}
  - {name: ns/main+canary, members: [ns/main, ns/canary]}
entries: [{name: e}]
cases:
  - {name: c, entry: e, request: {method: GET, host: h.example, path: /}, expect: {served_by: ns/main+canary}}
  - {name: fc, feature: f, entry: e, request: {method: GET, host: h.example, path: /}, expect: {served_by: ns/main+canary}, expect_off: {served_by: ns/other}}
shares:
`
	for _, tc := range []struct{ name, share, want string }{
		{"ok", `{name: s, case: c, backend: ns/canary, share: 1/3, requests: 240, band: [46, 117]}`, ""},
		{"band too narrow", `{name: s, case: c, backend: ns/canary, share: 1/3, requests: 240, band: [60, 100]}`,
			`t.yaml:13:77: share "s" band [60, 100] of 240: a canary at its share 1/3 falls outside it with probability 0.00491 per run, above 1e-06`},
		{"twice the share passes", `{name: s, case: c, backend: ns/canary, share: 1/3, requests: 60, band: [2, 45]}`,
			`t.yaml:13:76: share "s" band [2, 45] of 60: a canary at twice its share (2/3, 40 answers) would pass`},
		{"zero passes", `{name: s, case: c, backend: ns/canary, share: 1/3, requests: 240, band: [0, 117]}`,
			`t.yaml:13:77: share "s" band [0, 117]: want 1 <= min <= max <= requests-1 (239), so that a canary with none or all of the traffic fails`},
		{"bad fraction", `{name: s, case: c, backend: ns/canary, share: 3/3, requests: 240, band: [46, 117]}`,
			`t.yaml:13:51: share "s" share: want a fraction "<replicas>/<replicas of the Service>" strictly between 0 and 1, e.g. "1/3", got "3/3"`},
		{"backend outside the group", `{name: s, case: c, backend: ns/other, share: 1/3, requests: 240, band: [46, 117]}`,
			`t.yaml:13:33: share "s": backend "ns/other" is not one of the releases case "c" expects ("ns/main+canary")`},
		{"group backend", `{name: s, case: c, backend: ns/main+canary, share: 1/3, requests: 240, band: [46, 117]}`,
			`t.yaml:13:33: share "s": backend "ns/main+canary" is a group`},
		{"feature case", `{name: s, case: fc, backend: ns/canary, share: 1/3, requests: 240, band: [46, 117]}`,
			`t.yaml:13:21: share "s": case "fc" depends on feature "f"`},
		{"unknown case", `{name: s, case: nope, backend: ns/canary, share: 1/3, requests: 240, band: [46, 117]}`,
			`t.yaml:13:21: share "s": unknown case "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(head+"  - "+tc.share+"\n"))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected problems: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("problems: %v\nwant: %s", err, tc.want)
			}
		})
	}
}
