package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
)

// JUnit document types (the common Jenkins/GitLab subset).
type (
	JUnitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []JUnitSuite `xml:"testsuite"`
	}
	JUnitSuite struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Time     string `xml:"time,attr"`
		// Properties name the run's features (features.on, features.off:
		// comma-separated, "" for none).
		Properties *JUnitProperties `xml:"properties,omitempty"`
		Cases      []JUnitCase      `xml:"testcase"`
	}
	JUnitProperties struct {
		List []JUnitProperty `xml:"property"`
	}
	JUnitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	JUnitCase struct {
		Name      string        `xml:"name,attr"`
		Classname string        `xml:"classname,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *JUnitFailure `xml:"failure,omitempty"`
		Skipped   *JUnitSkipped `xml:"skipped,omitempty"`
		SystemOut *JUnitText    `xml:"system-out,omitempty"`
	}
	JUnitFailure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",cdata"`
	}
	// JUnitText is element text kept as CDATA, so evidence stays readable.
	JUnitText struct {
		Text string `xml:",cdata"`
	}
	JUnitSkipped struct {
		Message string `xml:"message,attr"`
	}
)

// BuildJUnit maps the report to one test suite: a testcase per case
// (classname "<suite>.<entry>") then per budget (name "budget <name>",
// classname "<suite>.latency"); failed ones carry a failure whose message
// is the first reason and whose text is the evidence; not-applicable,
// inconclusive and skipped ones are skipped with "<outcome>: <reasons>" as
// message, inconclusive ones with the evidence in system-out too; a case
// that passed after misses has "passed after k misses" and its evidence
// in system-out.
func (r Report) BuildJUnit(suiteName string) JUnitSuites {
	suite := JUnitSuite{Name: suiteName, Cases: []JUnitCase{}}
	var total float64
	add := func(tc JUnitCase, o check.Outcome, reasons []string, explain func() string, secs float64) {
		total += secs
		tc.Time = seconds(secs)
		switch o {
		case check.Passed:
		case check.NotApplicable, check.Inconclusive, check.Skipped:
			suite.Skipped++
			tc.Skipped = &JUnitSkipped{Message: oneLine(string(o) + ": " + strings.Join(reasons, "; "))}
			if o == check.Inconclusive {
				tc.SystemOut = &JUnitText{Text: xmlSafe(explain())}
			}
		default:
			suite.Failures++
			msg := string(o)
			if len(reasons) > 0 {
				msg = reasons[0]
			}
			tc.Failure = &JUnitFailure{Message: oneLine(msg), Type: string(check.Failed), Text: xmlSafe(explain())}
		}
		suite.Tests++
		suite.Cases = append(suite.Cases, tc)
	}
	for _, v := range r.Cases {
		entry := v.Evidence.Request.Entry
		if v.Case != nil {
			entry = v.Case.Entry
		}
		tc := JUnitCase{Name: caseName(v), Classname: suiteName + "." + entry}
		if v.Outcome == check.Passed && Misses(v) > 0 {
			tc.SystemOut = &JUnitText{Text: xmlSafe(VerdictText(v) + "\n" + v.Explain())}
		}
		add(tc, v.Outcome, v.Reasons, v.Explain, v.Elapsed.Seconds())
	}
	for _, b := range r.Budgets {
		tc := JUnitCase{Name: "budget " + budgetName(b), Classname: suiteName + ".latency"}
		add(tc, b.Outcome, b.Reasons, b.Explain, b.Elapsed.Seconds())
	}
	for _, sh := range r.Shares {
		tc := JUnitCase{Name: "share " + shareName(sh), Classname: suiteName + ".share"}
		add(tc, sh.Outcome, sh.Reasons, sh.Explain, sh.Elapsed.Seconds())
	}
	suite.Time = seconds(total)
	if f := r.Features; f != nil {
		suite.Properties = &JUnitProperties{List: []JUnitProperty{
			{Name: "features.on", Value: strings.Join(f.On, ",")},
			{Name: "features.off", Value: strings.Join(f.Off, ",")},
		}}
	}
	out := JUnitSuites{
		Name: suiteName, Tests: suite.Tests, Failures: suite.Failures, Skipped: suite.Skipped,
		Time: suite.Time, Suites: []JUnitSuite{suite},
	}
	if r.Coverage != nil {
		rs := r.Coverage.junitSuite(suiteName)
		out.Tests, out.Failures, out.Skipped = out.Tests+rs.Tests, out.Failures+rs.Failures, out.Skipped+rs.Skipped
		out.Suites = append(out.Suites, rs)
	}
	return out
}

// WriteJUnit writes Report{Cases: vs}'s JUnit document.
func WriteJUnit(w io.Writer, suiteName string, vs []check.Verdict) error {
	return Report{Cases: vs}.WriteJUnit(w, suiteName)
}

// WriteJUnit writes BuildJUnit as an XML document.
func (r Report) WriteJUnit(w io.Writer, suiteName string) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit report: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(r.BuildJUnit(suiteName)); err != nil {
		return fmt.Errorf("write junit report: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write junit report: %w", err)
	}
	return nil
}

func seconds(s float64) string { return fmt.Sprintf("%.3f", s) }

// oneLine keeps an attribute on one line.
func oneLine(s string) string {
	return xmlSafe(strings.Join(strings.Fields(s), " "))
}

// xmlSafe replaces the characters XML 1.0 cannot hold (CDATA has no
// escapes) with U+FFFD.
func xmlSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r',
			r >= 0x20 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= 0x10FFFF:
			return r
		}
		return '\uFFFD'
	}, s)
}
