package report

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/latency"
)

// maxCell bounds a table cell; longer values end in "...".
const maxCell = 72

// ANSI colours for the verdict column.
const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[1;31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiGrey   = "\x1b[90m"
)

// Verdict column labels: a failure is the only upper-case word.
var verdictLabel = map[check.Outcome]string{
	check.Passed:        "ok",
	check.Failed:        "FAIL",
	check.Inconclusive:  "inconclusive",
	check.NotApplicable: "n/a",
	check.Skipped:       "skipped",
}

var verdictColour = map[check.Outcome]string{
	check.Passed:        ansiGreen,
	check.Failed:        ansiRed,
	check.Inconclusive:  ansiYellow,
	check.NotApplicable: ansiGrey,
	check.Skipped:       ansiGrey,
}

// WriteTable writes Report{Cases: vs}'s table.
func WriteTable(w io.Writer, vs []check.Verdict, color bool) error {
	return Report{Cases: vs}.WriteTable(w, color)
}

// WriteTable writes the routing matrix, one row per case in the order
// given (the CLI passes contract order, so a reader finds a case where the
// contract has it), then one row per latency budget:
//
//	CASE  REQUEST  EXPECTED  SERVED BY  STATUS  LATENCY  VERDICT
//
// A line naming the run's features comes first when it has any, and a
// feature case's EXPECTED cell names its feature's state
// ("mw-web/* 2xx (edge-diversion off)"). A case that passed after misses says so ("ok (after 2 misses)"). A
// budget's row is "budget <name>", its request, what counts as a success,
// who served most, its statuses, its p95 and its verdict; a share check's
// "share <name>", its request and N, the canary's band, its count. Failures stand
// out by their upper-case FAIL (red with colour) and are listed again
// under the table with their first reason. color adds ANSI colours to the
// verdict column only; the CLI asks for it on a terminal.
func (rep Report) WriteTable(w io.Writer, color bool) error {
	vs := rep.Cases
	header := []string{"CASE", "REQUEST", "EXPECTED", "SERVED BY", "STATUS", "LATENCY", "VERDICT"}
	rows := make([][]string, 0, len(vs)+len(rep.Budgets))
	outcomes := make([]check.Outcome, 0, cap(rows))
	for _, v := range vs {
		rows = append(rows, tableRow(v))
		outcomes = append(outcomes, v.Outcome)
	}
	for _, b := range rep.Budgets {
		rows = append(rows, budgetRow(b))
		outcomes = append(outcomes, b.Outcome)
	}
	for _, sh := range rep.Shares {
		rows = append(rows, shareRow(sh))
		outcomes = append(outcomes, sh.Outcome)
	}
	widths := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, cell := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	bw := bufio.NewWriter(w)
	if rep.Features != nil {
		bw.WriteString(rep.Features.Line() + "\n")
	}
	writeRow := func(cells []string, o check.Outcome, colourise bool) {
		for i, cell := range cells {
			last := i == len(cells)-1
			if last && colourise {
				cell = verdictColour[o] + cell + ansiReset
			}
			bw.WriteString(cell)
			if !last {
				bw.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cells[i])+2))
			}
		}
		bw.WriteByte('\n')
	}
	writeRow(header, "", false)
	for i, r := range rows {
		writeRow(r, outcomes[i], color)
	}
	var failed []string
	for _, v := range vs {
		if v.Outcome == check.Failed {
			reason := ""
			if len(v.Reasons) > 0 {
				reason = ": " + v.Reasons[0]
			}
			failed = append(failed, caseName(v)+reason)
		}
	}
	for _, b := range rep.Budgets {
		if b.Outcome == check.Failed {
			reason := ""
			if len(b.Reasons) > 0 {
				reason = ": " + b.Reasons[0]
			}
			failed = append(failed, "budget "+budgetName(b)+reason)
		}
	}
	for _, sh := range rep.Shares {
		if sh.Outcome == check.Failed {
			reason := ""
			if len(sh.Reasons) > 0 {
				reason = ": " + sh.Reasons[0]
			}
			failed = append(failed, "share "+shareName(sh)+reason)
		}
	}
	if rep.Coverage != nil {
		for _, l := range rep.Coverage.tableLines() {
			bw.WriteString(l + "\n")
		}
	}
	if len(failed) > 0 {
		bw.WriteString("\nFAILED:\n")
		for _, f := range failed {
			fmt.Fprintf(bw, "  %s\n", f)
		}
	}
	return bw.Flush()
}

func budgetRow(r latency.Result) []string {
	label, ok := verdictLabel[r.Outcome]
	if !ok {
		label = strings.ToUpper(string(r.Outcome))
	}
	req := strings.TrimSpace(r.Method + " " + r.URL)
	if r.Plan.Requests > 0 {
		req += fmt.Sprintf(" x%d @ %s/s", r.Plan.Requests, strconv.FormatFloat(r.Plan.Rate, 'g', 3, 64))
	}
	served, status, lat := "-", "-", "-"
	if r.Requests > 0 {
		served = mostCounted(r.ServedBy)
		var codes []string
		for code, n := range r.Statuses {
			codes = append(codes, fmt.Sprintf("%d x%d", code, n))
		}
		sort.Strings(codes)
		status = strings.Join(codes, ", ")
		lat = "p95 " + formatLatency(r.Latencies.P95)
	}
	return []string{
		clip("budget " + budgetName(r)),
		clip(req),
		clip(r.Expected),
		clip(served),
		clip(status),
		lat,
		label,
	}
}

// mostCounted is the key with the highest count (ties: the first in
// order), with its share when others exist.
func mostCounted(m map[string]int) string {
	keys := make([]string, 0, len(m))
	total := 0
	for k, n := range m {
		keys = append(keys, k)
		total += n
	}
	if len(keys) == 0 {
		return "-"
	}
	sort.Strings(keys)
	best := keys[0]
	for _, k := range keys[1:] {
		if m[k] > m[best] {
			best = k
		}
	}
	if len(keys) == 1 {
		return best
	}
	return fmt.Sprintf("%s (%d of %d)", best, m[best], total)
}

func tableRow(v check.Verdict) []string {
	label, ok := verdictLabel[v.Outcome]
	if !ok {
		label = strings.ToUpper(string(v.Outcome))
	}
	if k := Misses(v); v.Outcome == check.Passed && k > 0 {
		label = fmt.Sprintf("ok (after %d miss%s)", k, plural(k, "es"))
	}
	return []string{
		clip(caseName(v)),
		clip(requestCell(v)),
		clip(expectedCell(v)),
		clip(servedByCell(v)),
		statusCell(v),
		latencyCell(v),
		label,
	}
}

func caseName(v check.Verdict) string {
	if v.Case == nil {
		return "(no case)"
	}
	return v.Case.Name
}

func requestCell(v check.Verdict) string {
	if v.Case == nil {
		return "-"
	}
	return check.RequestLine(v.Case.Request)
}

func expectedCell(v check.Verdict) string {
	if v.Case == nil {
		return "-"
	}
	e := v.Case.Expect
	who := e.ServedBy
	if e.NoBackend {
		who = "no backend"
	}
	if who == "" {
		who = "anyone"
	}
	if st := v.Case.FeatureState(); st != "" {
		return who + " " + e.WantStatus() + " (" + st + ")"
	}
	return who + " " + e.WantStatus()
}

func servedByCell(v check.Verdict) string {
	e := v.Evidence
	switch {
	case v.Outcome == check.NotApplicable || v.Outcome == check.Skipped && e.Status == 0 && e.Err == "":
		return "-"
	case e.Err != "":
		return "error"
	case e.ServedBy.Known():
		return e.ServedBy.Backend()
	case e.ServedBy.Pod != "":
		return "unidentified (" + e.ServedBy.Pod + ")"
	case e.Status != 0:
		return "none"
	}
	return "-"
}

func statusCell(v check.Verdict) string {
	e := v.Evidence
	if e.Status == 0 {
		return "-"
	}
	if e.CacheStatus != "" && e.Cached() {
		return fmt.Sprintf("%d (%s)", e.Status, e.CacheStatus)
	}
	return fmt.Sprint(e.Status)
}

func latencyCell(v check.Verdict) string {
	if v.Evidence.Latency <= 0 {
		return "-"
	}
	return formatLatency(v.Evidence.Latency)
}

// formatLatency rounds for reading: "850µs", "12.3ms", "1.25s".
func formatLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(10 * time.Millisecond).String()
	}
}

func clip(s string) string {
	if utf8.RuneCountInString(s) <= maxCell {
		return s
	}
	r := []rune(s)
	return string(r[:maxCell-3]) + "..."
}
