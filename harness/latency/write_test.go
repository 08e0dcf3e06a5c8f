package latency

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
)

func plotResult() Result {
	b := ceilingBudget()
	b.Name = "ingress-<main>&page"
	r := goodResult()
	r.Budget = b
	r.Case = &contract.Case{Name: "main-page", Entry: "ingress", Request: contract.Request{Method: "GET", Host: "test.wikipedia.org", Path: "/wiki/Main_Page?a=1&b=2"}}
	r.Method, r.Host, r.Outcome = "GET", "test.wikipedia.org", check.Failed
	r.Plan = Plan{Rate: 5, Requests: 60, Duration: 12 * time.Second}
	for i := 0; i < 60; i++ {
		s := Sample{Seq: i, Offset: time.Duration(i) * 200 * time.Millisecond, Latency: time.Duration(20+i*10) * time.Millisecond,
			Status: 200, ServedBy: "mw-pretrain/main", Success: i%7 != 0}
		if i == 59 {
			s.Status, s.Error, s.ServedBy = 0, `dial tcp: "refused" <now>`, NoResponse
		}
		r.Samples = append(r.Samples, s)
	}
	return r
}

// wellFormed parses an SVG document and counts elements by name.
func wellFormed(t *testing.T, data []byte) map[string]int {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	counts := map[string]int{}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, data)
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
		}
	}
	if counts["svg"] != 1 {
		t.Fatalf("expected one svg root, got %v", counts)
	}
	return counts
}

func TestPlots(t *testing.T) {
	r := plotResult()
	var hist, line bytes.Buffer
	if err := r.WriteHistogram(&hist); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteTimeline(&line); err != nil {
		t.Fatal(err)
	}
	h := wellFormed(t, hist.Bytes())
	if h["rect"] < 2 {
		t.Errorf("expected histogram bars, got %v", h)
	}
	for _, want := range []string{"p95 ceiling 300ms", "p95 measured 300ms", "ingress-&lt;main&gt;&amp;page", "latency histogram (failed)"} {
		if !strings.Contains(hist.String(), want) {
			t.Errorf("histogram lacks %q", want)
		}
	}
	l := wellFormed(t, line.Bytes())
	if l["circle"] != 59+2 || l["path"] != 1+1 { // plus the legend's two dots and cross
		t.Errorf("expected 59 points and one cross (no response), got %v", l)
	}
	if !strings.Contains(line.String(), "max ceiling 1s") || !strings.Contains(line.String(), "time since the first request") {
		t.Errorf("timeline lacks ceiling or axis title")
	}
}

func TestPlotsOfAnEmptyResult(t *testing.T) {
	r := Result{Outcome: check.NotApplicable}
	var hist, line bytes.Buffer
	if err := r.WriteHistogram(&hist); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteTimeline(&line); err != nil {
		t.Fatal(err)
	}
	wellFormed(t, hist.Bytes())
	wellFormed(t, line.Bytes())
}

func TestWriteFilesAndIndex(t *testing.T) {
	dir := t.TempDir()
	r := plotResult()
	r.Budget.Name = "ingress-first-case"
	if err := WriteFiles(dir, &r); err != nil {
		t.Fatal(err)
	}
	want := Files{JSON: "latency/ingress-first-case.json", Histogram: "latency/ingress-first-case.histogram.svg", Timeline: "latency/ingress-first-case.timeline.svg"}
	if r.Files == nil || *r.Files != want {
		t.Fatalf("expected files %+v, got %+v", want, r.Files)
	}
	for _, f := range []string{want.Histogram, want.Timeline} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		wellFormed(t, data)
	}
	data, err := os.ReadFile(filepath.Join(dir, want.JSON))
	if err != nil {
		t.Fatal(err)
	}
	var back Result
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("decode %s: %v", want.JSON, err)
	}
	if back.Budget.Name != "ingress-first-case" || len(back.Samples) != 60 || back.Files == nil || back.Latencies.P95 != r.Latencies.P95 {
		t.Errorf("JSON round trip lost data: %+v", back)
	}

	idx, err := WriteIndex(dir, []Result{r})
	if err != nil {
		t.Fatal(err)
	}
	summary, err := os.ReadFile(filepath.Join(dir, idx.Summary))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(summary), "ingress-first-case") || !strings.Contains(string(summary), want.Histogram) {
		t.Errorf("summary does not link the plots:\n%s", summary)
	}
	page, err := os.ReadFile(filepath.Join(dir, idx.HTML))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), `<img src="ingress-first-case.histogram.svg"`) || !strings.Contains(string(page), `ingress-first-case.timeline.svg`) {
		t.Errorf("index.html does not show the plots:\n%s", page)
	}
}

func TestWriteFilesRefusesPathNames(t *testing.T) {
	r := plotResult()
	r.Budget.Name = "../escape"
	if err := WriteFiles(t.TempDir(), &r); err == nil {
		t.Error("expected a budget name with a slash refused")
	}
}

func TestExplainCarriesTheEvidence(t *testing.T) {
	r := plotResult()
	r.Statuses = map[int]int{200: 59, 0: 1}
	r.ServedBy = map[string]int{"mw-pretrain/main": 59, NoResponse: 1}
	r.Errors = []ErrorCount{{Error: "dial tcp: refused", Count: 1}}
	r.FirstFailure = &r.Samples[0]
	r.Reasons = []string{"expected p95 <= 300ms, got 612ms"}
	out := r.Explain()
	for _, want := range []string{
		`budget "ingress-<main>&page": failed`,
		"case:       main-page (entry ingress)",
		"rate:       requested 5 req/s, achieved 5 req/s",
		"p95 300ms",
		"statuses:   none x1, 200 x59",
		"served by:  mw-pretrain/main x59, no response x1",
		"errors:     dial tcp: refused (x1)",
		"first miss: #0",
		"- expected p95 <= 300ms, got 612ms",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explanation lacks %q:\n%s", want, out)
		}
	}
}
