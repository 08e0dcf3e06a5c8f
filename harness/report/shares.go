package report

import (
	"fmt"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/share"
)

// JSONShare is one canary share check's verdict and counts.
type JSONShare struct {
	Name    string `json:"name"`
	Case    string `json:"case"`
	Entry   string `json:"entry"`
	Backend string `json:"backend"`
	// Position is where the share is written: "file:line:column".
	Position string   `json:"position,omitempty"`
	Outcome  string   `json:"outcome"`
	Reasons  []string `json:"reasons,omitempty"`
	// Expected is the replica share, "1/3"; Band the canary's answers
	// allowed, inclusive, out of Requests.
	Expected string `json:"expected"`
	Band     [2]int `json:"band"`
	Requests int    `json:"requests"`
	Sent     int    `json:"sent"`
	Canary   int    `json:"canary"`
	InGroup  int    `json:"inGroup"`
	// Observed is Canary / InGroup.
	Observed  float64        `json:"observed"`
	ServedBy  map[string]int `json:"servedBy,omitempty"`
	ElapsedMs float64        `json:"elapsedMs"`
}

func shareName(r share.Result) string {
	if r.Share == nil {
		return "(no share)"
	}
	return r.Share.Name
}

func jsonShare(r share.Result) JSONShare {
	js := JSONShare{Name: shareName(r), Outcome: string(r.Outcome), Reasons: r.Reasons, Sent: r.Sent, Canary: r.Canary,
		InGroup: r.InGroup, Observed: r.Observed(), ElapsedMs: ms(r.Elapsed)}
	if len(r.ServedBy) > 0 {
		js.ServedBy = r.ServedBy
	}
	if s := r.Share; s != nil {
		js.Case, js.Backend, js.Requests = s.Case, s.Backend, s.Requests
		js.Expected = fmt.Sprintf("%d/%d", s.Num, s.Den)
		js.Band = [2]int{s.Min, s.Max}
		if s.Pos.File != "" {
			js.Position = s.Pos.String()
		}
	}
	if r.Case != nil {
		js.Entry = r.Case.Entry
	}
	return js
}

func shareRow(r share.Result) []string {
	label, ok := verdictLabel[r.Outcome]
	if !ok {
		label = string(r.Outcome)
	}
	req, expected, served, status := "-", "-", "-", "-"
	if r.Case != nil {
		req = check.RequestLine(r.Case.Request)
	}
	if s := r.Share; s != nil {
		req += fmt.Sprintf(" x%d", s.Requests)
		expected = fmt.Sprintf("%s %d..%d of %d", s.Backend, s.Min, s.Max, s.Requests)
	}
	if r.Sent > 0 {
		served = fmt.Sprintf("canary %d of %d (%.1f%%)", r.Canary, r.InGroup, 100*r.Observed())
		status = fmt.Sprintf("%d sent", r.Sent)
	}
	return []string{clip("share " + shareName(r)), clip(req), clip(expected), clip(served), status, "-", label}
}
