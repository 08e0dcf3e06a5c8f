package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/share"
)

// sampleShare is the default contract's main canary share, with a count.
func sampleShare(t *testing.T, o check.Outcome) share.Result {
	t.Helper()
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	s := c.Shares[0]
	r := share.Result{Share: s, Case: c.Case(s.Case), Outcome: o, Sent: 240, InGroup: 240, Canary: 80,
		ServedBy: map[string]int{"mw-pretrain/main": 160, "mw-pretrain/canary": 80}, Elapsed: 120 * time.Millisecond}
	if o == check.Failed {
		r.Canary = 0
		r.ServedBy = map[string]int{"mw-pretrain/main": 240}
		r.Reasons = []string{`expected "mw-pretrain/canary" to serve 46..117 of 240 (19.2%..48.8%) around 1/3, got 0 (0.0%)`}
	}
	return r
}

// A share check counts and shows wherever a case does: the summary, the
// table (and its FAILED list), JSON, JUnit, the evidence files.
func TestSharesInEveryFormat(t *testing.T) {
	rep := Report{Shares: []share.Result{sampleShare(t, check.Passed), sampleShare(t, check.Failed)}}
	rep.Shares[1].Share = &contract.Share{Name: "jobrunner-canary-share", Case: "c", Backend: "ns/canary", Num: 1, Den: 3, Requests: 240, Min: 46, Max: 117}
	if s := rep.Summary(); s.Passed != 1 || s.Failed != 1 {
		t.Errorf("summary %+v", s)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"share main-canary-share", "GET test.wikipedia.org /wiki/Main_Page x240", "mw-pretrain/canary 46..117 of 240",
		"canary 80 of 240 (33.3%)", "FAILED:\n  share jobrunner-canary-share: expected"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc JSONReport
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Summary.Shares != 2 || len(doc.Shares) != 2 || doc.Shares[0].Band != [2]int{46, 117} || doc.Shares[0].Expected != "1/3" ||
		doc.Shares[0].Observed < 0.33 || doc.Shares[1].Outcome != "failed" {
		t.Errorf("json:\n%s", js.String())
	}
	var junit bytes.Buffer
	if err := rep.WriteJUnit(&junit, "s"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(junit.String(), `<testcase name="share jobrunner-canary-share" classname="s.share"`) ||
		!strings.Contains(junit.String(), `failures="1"`) {
		t.Errorf("junit:\n%s", junit.String())
	}
	dir := t.TempDir()
	if err := rep.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	ev, err := os.ReadFile(filepath.Join(dir, EvidenceDir, "002-share-jobrunner-canary-share.txt"))
	if err != nil || !strings.Contains(string(ev), "canary:       ns/canary, expected 46..117 of 240") {
		t.Errorf("evidence: %v\n%s", err, ev)
	}
}
