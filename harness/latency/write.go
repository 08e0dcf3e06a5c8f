package latency

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
)

// Dir is the report directory's subdirectory for latency files.
const Dir = "latency"

// WriteFiles writes a budget's files under <reportDir>/latency/:
// <budget>.histogram.svg, <budget>.timeline.svg and <budget>.json (the
// whole Result with every sample), and records their paths, relative to
// reportDir, in r.Files.
func WriteFiles(reportDir string, r *Result) error {
	if r.Budget == nil || r.Budget.Name == "" {
		return errors.New("write latency files: result has no budget name")
	}
	name := r.Budget.Name
	if strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
		return fmt.Errorf("write latency files: budget name %q is not a file name", name)
	}
	dir := filepath.Join(reportDir, Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write latency files: %w", err)
	}
	files := &Files{
		JSON:      filepath.ToSlash(filepath.Join(Dir, name+".json")),
		Histogram: filepath.ToSlash(filepath.Join(Dir, name+".histogram.svg")),
		Timeline:  filepath.ToSlash(filepath.Join(Dir, name+".timeline.svg")),
	}
	var errs []error
	var hist, line bytes.Buffer
	if err := r.WriteHistogram(&hist); err != nil {
		errs = append(errs, fmt.Errorf("draw histogram: %w", err))
	}
	if err := r.WriteTimeline(&line); err != nil {
		errs = append(errs, fmt.Errorf("draw timeline: %w", err))
	}
	errs = append(errs,
		writeFile(filepath.Join(reportDir, files.Histogram), hist.Bytes()),
		writeFile(filepath.Join(reportDir, files.Timeline), line.Bytes()))
	r.Files = files
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		errs = append(errs, fmt.Errorf("encode %s: %w", files.JSON, err))
	} else {
		errs = append(errs, writeFile(filepath.Join(reportDir, files.JSON), append(data, '\n')))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("write latency files of budget %q: %w", name, err)
	}
	return nil
}

func writeFile(path string, data []byte) error {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// IndexFiles are the run-level latency files, relative to the report
// directory: link them from the run summary.
type IndexFiles struct {
	Summary string `json:"summary"` // latency/summary.txt
	HTML    string `json:"html"`    // latency/index.html, every plot inline
}

// WriteIndex writes <reportDir>/latency/summary.txt (one SummaryLine per
// budget) and <reportDir>/latency/index.html (a table and every budget's
// plots), for results whose files WriteFiles wrote.
func WriteIndex(reportDir string, results []Result) (IndexFiles, error) {
	idx := IndexFiles{
		Summary: filepath.ToSlash(filepath.Join(Dir, "summary.txt")),
		HTML:    filepath.ToSlash(filepath.Join(Dir, "index.html")),
	}
	if err := os.MkdirAll(filepath.Join(reportDir, Dir), 0o755); err != nil {
		return idx, fmt.Errorf("write latency index: %w", err)
	}
	var txt, page bytes.Buffer
	page.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pretrain-check latency budgets</title>\n" +
		"<style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:left}pre{background:#f5f5f5;padding:8px}</style></head><body>\n" +
		"<h1>Latency budgets</h1>\n<table><tr><th>outcome</th><th>budget</th><th>rate (achieved/requested)</th><th>p50</th><th>p95</th><th>p99</th><th>max</th><th>success</th></tr>\n")
	for _, r := range results {
		fmt.Fprintln(&txt, r.SummaryLine())
		name := ""
		if r.Budget != nil {
			name = r.Budget.Name
		}
		fmt.Fprintf(&page, "<tr><td>%s</td><td><a href=\"#%s\">%s</a></td><td>%s/%s req/s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			html.EscapeString(string(r.Outcome)), html.EscapeString(name), html.EscapeString(name),
			fmtRate(r.AchievedRate), fmtRate(r.RequestedRate),
			roundLatency(r.Latencies.P50), roundLatency(r.Latencies.P95), roundLatency(r.Latencies.P99), roundLatency(r.Latencies.Max),
			pct(r.SuccessRatio))
	}
	page.WriteString("</table>\n")
	for _, r := range results {
		name := ""
		if r.Budget != nil {
			name = r.Budget.Name
		}
		fmt.Fprintf(&page, "<h2 id=\"%s\">%s: %s</h2>\n<pre>%s</pre>\n", html.EscapeString(name), html.EscapeString(name),
			html.EscapeString(string(r.Outcome)), html.EscapeString(r.Explain()))
		if r.Files != nil {
			// Paths in the page are relative to latency/.
			for _, f := range []string{r.Files.Histogram, r.Files.Timeline} {
				rel := strings.TrimPrefix(f, Dir+"/")
				fmt.Fprintf(&page, "<p><a href=\"%s\"><img src=\"%s\" alt=\"%s\"></a></p>\n",
					html.EscapeString(rel), html.EscapeString(rel), html.EscapeString(rel))
			}
			rel := strings.TrimPrefix(r.Files.JSON, Dir+"/")
			fmt.Fprintf(&page, "<p><a href=\"%s\">%s</a></p>\n", html.EscapeString(rel), html.EscapeString(rel))
		}
	}
	page.WriteString("</body></html>\n")
	err := errors.Join(
		writeFile(filepath.Join(reportDir, idx.Summary), txt.Bytes()),
		writeFile(filepath.Join(reportDir, idx.HTML), page.Bytes()))
	if err != nil {
		return idx, fmt.Errorf("write latency index: %w", err)
	}
	return idx, nil
}
