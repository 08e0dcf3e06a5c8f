package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
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

// WriteTable writes the routing matrix, one row per verdict in the order
// given (the CLI passes contract order, so a reader finds a case where the
// contract has it):
//
//	CASE  REQUEST  EXPECTED  SERVED BY  STATUS  LATENCY  VERDICT
//
// Failures stand out by their upper-case FAIL (red with colour) and are
// listed again under the table with their first reason. color adds ANSI
// colours to the verdict column only; the CLI asks for it on a terminal.
func WriteTable(w io.Writer, vs []check.Verdict, color bool) error {
	header := []string{"CASE", "REQUEST", "EXPECTED", "SERVED BY", "STATUS", "LATENCY", "VERDICT"}
	rows := make([][]string, 0, len(vs))
	for _, v := range vs {
		rows = append(rows, tableRow(v))
	}
	widths := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, cell := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	bw := bufio.NewWriter(w)
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
		writeRow(r, vs[i].Outcome, color)
	}
	var failed []check.Verdict
	for _, v := range vs {
		if v.Outcome == check.Failed {
			failed = append(failed, v)
		}
	}
	if len(failed) > 0 {
		bw.WriteString("\nFAILED:\n")
		for _, v := range failed {
			reason := ""
			if len(v.Reasons) > 0 {
				reason = ": " + v.Reasons[0]
			}
			fmt.Fprintf(bw, "  %s%s\n", caseName(v), reason)
		}
	}
	return bw.Flush()
}

func tableRow(v check.Verdict) []string {
	label, ok := verdictLabel[v.Outcome]
	if !ok {
		label = strings.ToUpper(string(v.Outcome))
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
