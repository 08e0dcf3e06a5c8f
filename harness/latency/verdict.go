package latency

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
)

// verdict judges a finished attack: failed when a ceiling, the success
// ratio or the backend is wrong; inconclusive when it otherwise passed but
// the attack could not hold its rate; passed otherwise.
func verdict(r *Result, b *contract.Budget) (check.Outcome, []string) {
	failures := judge(r, b)
	reasons := append([]string(nil), failures...)
	if r.RateShortfall {
		reasons = append(reasons, shortfallReason(r))
	}
	switch {
	case len(failures) > 0:
		return check.Failed, reasons
	case r.RateShortfall:
		return check.Inconclusive, reasons
	}
	return check.Passed, nil
}

func shortfallReason(r *Result) string {
	return fmt.Sprintf("expected rate >= %s req/s (%.0f%% of %s requested), achieved %s req/s (%s behind schedule): the attack could not hold its rate, the figures are not trustworthy",
		fmtRate(ShortfallRatio*r.RequestedRate), ShortfallRatio*100, fmtRate(r.RequestedRate), fmtRate(r.AchievedRate), roundLatency(r.Lag))
}

// judge lists the budget's failures, "expected X, got Y".
func judge(r *Result, b *contract.Budget) []string {
	if r.Requests == 0 {
		return []string{"expected at least one request, sent none"}
	}
	var reasons []string
	for _, c := range []struct {
		name       string
		limit, got time.Duration
	}{
		{"p50", b.P50, r.Latencies.P50},
		{"p95", b.P95, r.Latencies.P95},
		{"p99", b.P99, r.Latencies.P99},
		{"max", b.Max, r.Latencies.Max},
	} {
		if c.limit > 0 && c.got > c.limit {
			reasons = append(reasons, fmt.Sprintf("expected %s <= %s, got %s", c.name, c.limit, roundLatency(c.got)))
		}
	}
	// A ratio compared with a tolerance: 57/60 is 0.95 even in floating point.
	if float64(r.Successes) < b.MinSuccess*float64(r.Requests)-1e-9 {
		reasons = append(reasons, fmt.Sprintf("expected success >= %s (%s), got %s (%d of %d)",
			pct(b.MinSuccess), r.Expected, pct(r.SuccessRatio), r.Successes, r.Requests))
	}
	if r.WrongBackend > 0 {
		reasons = append(reasons, fmt.Sprintf("expected every response from %s, got %d of %d from %s: the budget was measured on the wrong backend",
			expectedBackend(r), r.WrongBackend, r.Requests, otherBackends(r)))
	}
	return reasons
}

func expectedBackend(r *Result) string {
	if r.Case != nil && r.Case.Expect.ServedBy != "" {
		return fmt.Sprintf("%q", r.Case.Expect.ServedBy)
	}
	return "nobody identifiable"
}

// otherBackends lists the wrong backends with counts: "\"mw-web/main\" (58)".
func otherBackends(r *Result) string {
	var parts []string
	for _, k := range sortedKeys(r.WrongBackends) {
		parts = append(parts, fmt.Sprintf("%q (%d)", k, r.WrongBackends[k]))
	}
	return strings.Join(parts, ", ")
}

func pct(f float64) string {
	v := f * 100
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f%%", v)
	}
	return fmt.Sprintf("%.1f%%", v)
}

// roundLatency keeps three significant figures-ish for messages.
func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Explain renders the result for a failure message, one fact per line:
//
//	budget "ingress-first-case" (fixtures/contract/pretrain.yaml:958:5): failed
//	  case:       ingress-main-page (entry ingress)
//	  request:    GET http://test.wikipedia.org/wiki/Main_Page
//	  sent to:    http://127.0.0.1:30080
//	  rate:       requested 5 req/s, achieved 4.99 req/s; 60 requests in 12.1s
//	  latency:    p50 510ms  p90 600ms  p95 612ms  p99 640ms  max 650ms
//	  ceilings:   p50 300ms  p95 1s  p99 2s
//	  statuses:   200 x60
//	  served by:  mw-pretrain/main x54, mw-pretrain/canary x6
//	  success:    60 of 60 (100%) status 2xx from mw-pretrain/main+canary; required >= 98%
//	  reasons:
//	    - expected p50 <= 300ms, got 510ms
func (r Result) Explain() string {
	var b strings.Builder
	name, pos := "(no budget)", ""
	if r.Budget != nil {
		name = r.Budget.Name
		if r.Budget.Pos.File != "" {
			pos = fmt.Sprintf(" (%s:%d:%d)", r.Budget.Pos.File, r.Budget.Pos.Line, r.Budget.Pos.Column)
		}
	}
	fmt.Fprintf(&b, "budget %q%s: %s\n", name, pos, r.Outcome)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "  %-11s %s\n", k+":", v)
		}
	}
	if r.Case != nil {
		line("case", fmt.Sprintf("%s (entry %s)", r.Case.Name, r.Case.Entry))
	}
	if r.URL != "" {
		line("request", r.Method+" "+r.URL)
	}
	line("sent to", r.Endpoint)
	line("target", r.Target)
	if r.Requests > 0 || r.Plan.Requests > 0 {
		s := fmt.Sprintf("requested %s req/s, achieved %s req/s; %d of %d requests in %s",
			fmtRate(r.RequestedRate), fmtRate(r.AchievedRate), r.Requests, r.Plan.Requests, roundLatency(r.Span))
		if r.Plan.Capped {
			s += " (plan shortened to " + r.Plan.Duration.Round(time.Millisecond).String() + ")"
		}
		if r.RateShortfall {
			s += " SHORTFALL"
		}
		line("rate", s)
	}
	if r.Requests > 0 {
		l := r.Latencies
		line("latency", fmt.Sprintf("p50 %s  p90 %s  p95 %s  p99 %s  max %s",
			roundLatency(l.P50), roundLatency(l.P90), roundLatency(l.P95), roundLatency(l.P99), roundLatency(l.Max)))
	}
	if r.Budget != nil {
		line("ceilings", ceilings(r.Budget))
	}
	if len(r.Statuses) > 0 {
		line("statuses", statusLine(r.Statuses))
	}
	if len(r.ServedBy) > 0 {
		line("served by", countLine(r.ServedBy))
	}
	if r.Cached > 0 {
		line("cached", fmt.Sprintf("%d responses came from a cache", r.Cached))
	}
	if r.Requests > 0 && r.Budget != nil {
		line("success", fmt.Sprintf("%d of %d (%s) %s; required >= %s",
			r.Successes, r.Requests, pct(r.SuccessRatio), r.Expected, pct(r.Budget.MinSuccess)))
	}
	if len(r.Errors) > 0 {
		var parts []string
		for _, e := range r.Errors {
			parts = append(parts, fmt.Sprintf("%s (x%d)", e.Error, e.Count))
		}
		if r.OtherErrors > 0 {
			parts = append(parts, fmt.Sprintf("%d more", r.OtherErrors))
		}
		line("errors", strings.Join(parts, "; "))
	}
	if f := r.FirstFailure; f != nil && r.Outcome != check.Passed {
		s := fmt.Sprintf("#%d at +%s: status %d from %s in %s", f.Seq, roundLatency(f.Offset), f.Status, f.ServedBy, roundLatency(f.Latency))
		if f.Error != "" {
			s += ": " + f.Error
		} else if f.Body != "" {
			s += fmt.Sprintf(": body %q", truncate(f.Body, 160))
		}
		line("first miss", s)
	}
	if r.Files != nil {
		line("plots", r.Files.Histogram+", "+r.Files.Timeline)
	}
	if len(r.Reasons) > 0 {
		b.WriteString("  reasons:\n")
		for _, reason := range r.Reasons {
			fmt.Fprintf(&b, "    - %s\n", reason)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// SummaryLine is one line per budget for a run summary:
// "failed  ingress-first-case  5/5 req/s  p95 612ms (<= 1s)  success 100%  latency/ingress-first-case.histogram.svg".
func (r Result) SummaryLine() string {
	name := ""
	if r.Budget != nil {
		name = r.Budget.Name
	}
	parts := []string{fmt.Sprintf("%-14s %s", r.Outcome, name)}
	if r.Requests > 0 {
		parts = append(parts,
			fmt.Sprintf("%s/%s req/s", fmtRate(r.AchievedRate), fmtRate(r.RequestedRate)),
			fmt.Sprintf("p50 %s p95 %s p99 %s max %s", roundLatency(r.Latencies.P50), roundLatency(r.Latencies.P95),
				roundLatency(r.Latencies.P99), roundLatency(r.Latencies.Max)),
			"success "+pct(r.SuccessRatio),
			"served by "+countLine(r.ServedBy))
	}
	if r.Files != nil {
		parts = append(parts, r.Files.Histogram, r.Files.Timeline)
	}
	if len(r.Reasons) > 0 {
		parts = append(parts, r.Reasons[0])
	}
	return strings.Join(parts, "  ")
}

func ceilings(b *contract.Budget) string {
	var parts []string
	for _, c := range []struct {
		n string
		d time.Duration
	}{{"p50", b.P50}, {"p95", b.P95}, {"p99", b.P99}, {"max", b.Max}} {
		if c.d > 0 {
			parts = append(parts, c.n+" "+c.d.String())
		}
	}
	return strings.Join(parts, "  ")
}

func statusLine(m map[int]int) string {
	codes := make([]int, 0, len(m))
	for k := range m {
		codes = append(codes, k)
	}
	sort.Ints(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		label := fmt.Sprint(c)
		if c == 0 {
			label = "none"
		}
		parts[i] = fmt.Sprintf("%s x%d", label, m[c])
	}
	return strings.Join(parts, ", ")
}

// countLine lists counts, largest first: "mw-pretrain/main x54, mw-pretrain/canary x6".
func countLine(m map[string]int) string {
	keys := sortedKeys(m)
	sort.SliceStable(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s x%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
