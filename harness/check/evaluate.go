package check

import (
	"fmt"
	"regexp"
	"strings"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
)

// Evaluate judges one probe result against a case. It returns Passed with
// no reasons, or Failed/Inconclusive with every reason found, each in the
// form "expected X, got Y":
//
//   - r.Err (no HTTP response) is Failed with the error;
//   - a cached response (r.Cached()) is Inconclusive: it keeps the identity
//     of whoever first produced it, so it says nothing about this request;
//   - otherwise served-by, status, headers and body are all compared and
//     every mismatch is reported, not only the first.
//
// c resolves backend groups (c.Allows); it may be nil for contracts without
// groups, in which case the expected backend must match exactly.
func Evaluate(c *contract.Contract, cs *contract.Case, r probe.Result) (Outcome, []string) {
	if r.Err != "" {
		return Failed, []string{"request failed: " + r.Err}
	}
	if r.Cached() {
		return Inconclusive, []string{fmt.Sprintf(
			"response came from a cache (X-Cache-Status %q): it does not say who served this request; bust the cache or send X-Wikimedia-Debug",
			r.CacheStatus)}
	}
	var reasons []string
	reasons = append(reasons, compareServedBy(c, cs.Expect, r)...)
	reasons = append(reasons, compareStatus(cs.Expect, r.Status)...)
	for _, h := range cs.Expect.Headers {
		reasons = append(reasons, compareHeader(h, r)...)
	}
	reasons = append(reasons, compareBody(cs.Expect.BodyContains, r)...)
	if len(reasons) > 0 {
		return Failed, reasons
	}
	return Passed, nil
}

func compareServedBy(c *contract.Contract, exp contract.Expectation, r probe.Result) []string {
	got := r.ServedBy
	if exp.NoBackend {
		if got.Known() {
			return []string{fmt.Sprintf("expected no backend to answer, got %q%s", got.Backend(), podSuffix(got.Pod))}
		}
		return nil
	}
	if exp.ServedBy == "" {
		return nil
	}
	if got.Known() && allows(c, exp.ServedBy, got.Backend()) {
		return nil
	}
	want := fmt.Sprintf("%q", exp.ServedBy)
	if members := groupMembers(c, exp.ServedBy); len(members) > 0 {
		want += " (" + strings.Join(members, " or ") + ")"
	}
	if !got.Known() {
		return []string{fmt.Sprintf("expected served by %s, got %s", want, got.String())}
	}
	return []string{fmt.Sprintf("expected served by %s, got %q%s", want, got.Backend(), podSuffix(got.Pod))}
}

func podSuffix(pod string) string {
	if pod == "" {
		return ""
	}
	return " (pod " + pod + ")"
}

func compareStatus(exp contract.Expectation, got int) []string {
	if exp.StatusOK(got) {
		return nil
	}
	return []string{fmt.Sprintf("expected status %s, got %d", exp.WantStatus(), got)}
}

func compareHeader(h contract.HeaderExpectation, r probe.Result) []string {
	vs := r.Header(h.Name)
	present := len(vs) > 0
	val := strings.Join(vs, ", ")
	switch {
	case h.Absent:
		if present {
			return []string{fmt.Sprintf("expected header %q absent, got %q", h.Name, val)}
		}
	case h.Matches != "":
		re, err := regexp.Compile(h.Matches)
		if err != nil {
			return []string{fmt.Sprintf("expected header %q to match %q, but the pattern is invalid: %v", h.Name, h.Matches, err)}
		}
		if !present {
			return []string{fmt.Sprintf("expected header %q to match %q, got no such header", h.Name, h.Matches)}
		}
		if !re.MatchString(val) {
			return []string{fmt.Sprintf("expected header %q to match %q, got %q", h.Name, h.Matches, val)}
		}
	default:
		if !present {
			return []string{fmt.Sprintf("expected header %q = %q, got no such header", h.Name, h.Equals)}
		}
		if val != h.Equals {
			return []string{fmt.Sprintf("expected header %q = %q, got %q", h.Name, h.Equals, val)}
		}
	}
	return nil
}

func compareBody(want string, r probe.Result) []string {
	if want == "" {
		return nil
	}
	body := r.Body
	if body == nil && r.BodyExcerpt != "" {
		body = []byte(r.BodyExcerpt)
	}
	if strings.Contains(string(body), want) {
		return nil
	}
	ex := []rune(probe.Excerpt(body))
	if len(ex) > 120 {
		ex = append(ex[:120], []rune("...")...)
	}
	return []string{fmt.Sprintf("expected body to contain %q, got %q", want, string(ex))}
}
