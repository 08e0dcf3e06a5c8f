package check

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
)

// Explain renders the verdict's evidence for a failure message, one fact
// per line:
//
//	case "xwd-debug-goes-to-debug" (fixtures/contract/pretrain.yaml:42:5): failed after 150 attempts in 30s
//	  entry:        ingress
//	  request:      GET http://test.wikipedia.org/wiki/Main_Page
//	  host:         test.wikipedia.org
//	  sent:         X-Wikimedia-Debug: backend=k8s-mw-pretrain
//	  connected to: 127.0.0.1:30443
//	  status:       200
//	  served by:    mw-pretrain/main (pod mw-pretrain.eqiad.main-abc-def)
//	  latency:      1.2ms
//	  response:     Server: mw-pretrain.eqiad.main-abc-def
//	  body:         "..."
//	  reasons:
//	    - expected served by "mw-pretrain/debug", got "mw-pretrain/main" (pod ...)
//	  history (last 2 misses, oldest first):
//	    +0.01s #1 200 mw-pretrain/main (pod ...): expected served by ...
func (v Verdict) Explain() string {
	var b strings.Builder
	name, pos := "(no case)", ""
	if v.Case != nil {
		name = v.Case.Name
		if v.Case.Pos.File != "" {
			pos = fmt.Sprintf(" (%s:%d:%d)", v.Case.Pos.File, v.Case.Pos.Line, v.Case.Pos.Column)
		}
	}
	fmt.Fprintf(&b, "case %q%s: %s", name, pos, v.Outcome)
	if v.Attempts > 0 {
		fmt.Fprintf(&b, " after %d attempt%s in %s", v.Attempts, plural(v.Attempts), roundDuration(v.Elapsed))
	}
	b.WriteByte('\n')
	if v.Case != nil && v.Case.Description != "" {
		line(&b, "why", v.Case.Description)
	}
	e := v.Evidence
	sent := e.Request
	line(&b, "entry", sent.Entry)
	reqURL := sent.URL
	if v.Case != nil && reqURL == "" {
		reqURL = v.Case.Request.Host + v.Case.Request.Path + " (not sent)"
	}
	line(&b, "request", strings.TrimSpace(sent.Method+" "+reqURL))
	line(&b, "host", sent.Host)
	switch {
	case sent.Headers != nil:
		lines(&b, "sent", headerLines(sent.Headers))
	case v.Case != nil && len(v.Case.Request.Headers) > 0:
		var hs []string
		for _, h := range v.Case.Request.Headers {
			hs = append(hs, h.Name+": "+h.Value)
		}
		lines(&b, "sent", hs)
	}
	if sent.BodyBytes > 0 {
		line(&b, "request body", fmt.Sprintf("%d bytes", sent.BodyBytes))
	}
	if sent.ConnectedTo != "" {
		line(&b, "connected to", sent.ConnectedTo)
	}
	if sent.Via != "" {
		line(&b, "via", sent.Via)
	}
	if e.Err != "" {
		line(&b, "error", e.Err)
	}
	if e.Status != 0 {
		line(&b, "status", fmt.Sprint(e.Status))
		line(&b, "served by", e.ServedBy.String())
	}
	if e.Latency > 0 {
		line(&b, "latency", roundDuration(e.Latency))
	}
	if len(e.Headers) > 0 {
		lines(&b, "response", headerLines(e.Headers))
	}
	if e.BodyExcerpt != "" {
		ex := []rune(e.BodyExcerpt)
		if len(ex) > 200 {
			ex = append(ex[:200], '.', '.', '.')
		}
		line(&b, "body", fmt.Sprintf("%q", string(ex)))
	}
	if len(v.Reasons) > 0 {
		b.WriteString("  reasons:\n")
		for _, r := range v.Reasons {
			fmt.Fprintf(&b, "    - %s\n", r)
		}
	}
	if len(v.History) > 0 {
		fmt.Fprintf(&b, "  history (last %d miss%s before the evidence, oldest first):\n", len(v.History), pluralES(len(v.History)))
		for i, h := range v.History {
			var reasons []string
			if i < len(v.HistoryReasons) {
				reasons = v.HistoryReasons[i]
			}
			fmt.Fprintf(&b, "    %s\n", HistoryLine(v.Started, h, reasons))
		}
	}
	return b.String()
}

// HistoryLine is one attempt on one line: elapsed time since start, attempt
// number, status (or error), who served (the backend; the reasons name the
// pod), and why it missed.
func HistoryLine(start time.Time, r probe.Result, reasons []string) string {
	var b strings.Builder
	if !start.IsZero() && !r.At.IsZero() {
		fmt.Fprintf(&b, "+%s ", roundDuration(r.At.Sub(start)))
	}
	if r.Request.Attempt > 0 {
		fmt.Fprintf(&b, "#%d ", r.Request.Attempt)
	}
	if r.Err != "" {
		b.WriteString("error")
	} else {
		who := r.ServedBy.Backend()
		if who == "" {
			who = r.ServedBy.String()
		}
		fmt.Fprintf(&b, "%d %s", r.Status, who)
		if r.CacheStatus != "" {
			fmt.Fprintf(&b, " [X-Cache-Status %s]", r.CacheStatus)
		}
	}
	if len(reasons) > 0 {
		b.WriteString(": " + strings.Join(reasons, "; "))
	}
	return b.String()
}

// RequestLine summarises a case's request for tables: "GET host path",
// plus the X-Wikimedia-Debug value when the case sends one.
func RequestLine(req contract.Request) string {
	m := req.Method
	if m == "" {
		m = http.MethodGet
	}
	s := fmt.Sprintf("%s %s %s", m, req.Host, req.Path)
	for _, h := range req.Headers {
		if strings.EqualFold(h.Name, probe.XWDHeader) {
			s += " [XWD " + h.Value + "]"
		}
	}
	return s
}

func line(b *strings.Builder, label, value string) {
	if value == "" {
		return
	}
	fmt.Fprintf(b, "  %-13s %s\n", label+":", value)
}

func lines(b *strings.Builder, label string, values []string) {
	for i, v := range values {
		if i == 0 {
			line(b, label, v)
			continue
		}
		fmt.Fprintf(b, "  %-13s %s\n", "", v)
	}
}

func headerLines(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		for _, v := range h[k] {
			out = append(out, k+": "+v)
		}
	}
	return out
}

func roundDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(10 * time.Millisecond).String()
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func pluralES(n int) string {
	if n == 1 {
		return ""
	}
	return "es"
}
