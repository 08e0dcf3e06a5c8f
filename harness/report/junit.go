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
		Name     string      `xml:"name,attr"`
		Tests    int         `xml:"tests,attr"`
		Failures int         `xml:"failures,attr"`
		Errors   int         `xml:"errors,attr"`
		Skipped  int         `xml:"skipped,attr"`
		Time     string      `xml:"time,attr"`
		Cases    []JUnitCase `xml:"testcase"`
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

// BuildJUnit maps verdicts to one test suite: a testcase per verdict
// (classname "<suite>.<entry>"); failed cases carry a failure whose message
// is the first reason and whose text is Explain(); not-applicable,
// inconclusive and skipped cases are skipped with "<outcome>: <reasons>"
// as message, inconclusive ones with Explain() in system-out too.
func BuildJUnit(suiteName string, vs []check.Verdict) JUnitSuites {
	suite := JUnitSuite{Name: suiteName, Cases: []JUnitCase{}}
	var total float64
	for _, v := range vs {
		secs := v.Elapsed.Seconds()
		total += secs
		entry := v.Evidence.Request.Entry
		if v.Case != nil {
			entry = v.Case.Entry
		}
		tc := JUnitCase{Name: caseName(v), Classname: suiteName + "." + entry, Time: seconds(secs)}
		switch v.Outcome {
		case check.Passed:
		case check.NotApplicable, check.Inconclusive, check.Skipped:
			suite.Skipped++
			tc.Skipped = &JUnitSkipped{Message: oneLine(string(v.Outcome) + ": " + strings.Join(v.Reasons, "; "))}
			if v.Outcome == check.Inconclusive {
				tc.SystemOut = &JUnitText{Text: xmlSafe(v.Explain())}
			}
		default:
			suite.Failures++
			msg := string(v.Outcome)
			if len(v.Reasons) > 0 {
				msg = v.Reasons[0]
			}
			tc.Failure = &JUnitFailure{Message: oneLine(msg), Type: string(check.Failed), Text: xmlSafe(v.Explain())}
		}
		suite.Tests++
		suite.Cases = append(suite.Cases, tc)
	}
	suite.Time = seconds(total)
	return JUnitSuites{
		Name: suiteName, Tests: suite.Tests, Failures: suite.Failures, Skipped: suite.Skipped,
		Time: suite.Time, Suites: []JUnitSuite{suite},
	}
}

// WriteJUnit writes BuildJUnit as an XML document.
func WriteJUnit(w io.Writer, suiteName string, vs []check.Verdict) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit report: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(BuildJUnit(suiteName, vs)); err != nil {
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
