package report

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/latency"
)

// SchemaVersion names the JSON report format. Fields are only ever added
// within a version; a rename or a change of meaning bumps it.
const SchemaVersion = "pretrain-check/report/v2"

// JSONReport is the document WriteJSON writes (report.json):
//
//	{
//	  "schema": "pretrain-check/report/v2",
//	  "summary": {"passed": 43, "failed": 1, "inconclusive": 2, "notApplicable": 3, "skipped": 0, "total": 49,
//	              "cases": 48, "budgets": 1},
//	  "cases": [ JSONCase, ... ],           // in the order given (contract order)
//	  "budgets": [ JSONBudget, ... ],       // the latency budgets run
//	  "shares": [ JSONShare, ... ],         // the canary share checks run
//	  "features": {"on": [...], "off": [...]}
//	}
//
// The summary counts cases and budgets alike (v2; v1 counted cases only).
// Durations are milliseconds (float), times RFC 3339 with nanoseconds.
// TestJSONFieldMeanings pins every field's name and meaning.
type JSONReport struct {
	Schema  string       `json:"schema"`
	Summary JSONSummary  `json:"summary"`
	Cases   []JSONCase   `json:"cases"`
	Budgets []JSONBudget `json:"budgets"`
	// Shares are the canary share checks run (absent when none ran).
	Shares []JSONShare `json:"shares,omitempty"`
	// RouteCoverage is set for config-driven targets.
	RouteCoverage *JSONCoverage `json:"routeCoverage,omitempty"`
	// Features are the run's features on and off (absent when the
	// contract declares none).
	Features *Features `json:"features,omitempty"`
	// Manifest says what the run was; absent when the front end gave none.
	Manifest *Manifest `json:"manifest,omitempty"`
}

// JSONSummary is Summary with its totals.
type JSONSummary struct {
	Summary
	// Total is every verdict counted, cases and budgets.
	Total int `json:"total"`
	// Cases, Budgets and Shares count each kind.
	Cases   int `json:"cases"`
	Budgets int `json:"budgets"`
	Shares  int `json:"shares"`
}

// JSONBudget is one latency budget's verdict and figures (the whole
// result, every sample included, is in Files.JSON when a report
// directory was written).
type JSONBudget struct {
	Name  string `json:"name"`
	Case  string `json:"case"`
	Entry string `json:"entry"`
	// Position is where the budget is written: "file:line:column".
	Position string   `json:"position,omitempty"`
	Outcome  string   `json:"outcome"`
	Reasons  []string `json:"reasons,omitempty"`
	// Expected describes a success: "2xx from mw-pretrain/main".
	Expected      string  `json:"expected"`
	RequestedRate float64 `json:"requestedRate"`
	AchievedRate  float64 `json:"achievedRate"`
	// RateCapped: the budget's rate was lowered to the target's rate cap.
	RateCapped   bool               `json:"rateCapped,omitempty"`
	Requests     int                `json:"requests"`
	Successes    int                `json:"successes"`
	SuccessRatio float64            `json:"successRatio"`
	LatencyMs    JSONLatencies      `json:"latencyMs"`
	Statuses     map[string]int     `json:"statuses,omitempty"`
	ServedBy     map[string]int     `json:"servedBy,omitempty"`
	Files        *latency.Files     `json:"files,omitempty"`
	ElapsedMs    float64            `json:"elapsedMs"`
	Ceilings     map[string]float64 `json:"ceilingsMs,omitempty"`
}

// JSONLatencies are a budget's percentiles in milliseconds.
type JSONLatencies struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// JSONCase is one case's verdict and evidence.
type JSONCase struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Entry       string   `json:"entry"`
	Labels      []string `json:"labels,omitempty"`
	// Position is where the case is written: "file:line:column".
	Position string `json:"position,omitempty"`
	// Outcome is passed, failed, inconclusive, not-applicable or skipped.
	Outcome string `json:"outcome"`
	// Verdict is the outcome in words, as every format says it: "passed
	// after 2 misses", "n/a".
	Verdict string `json:"verdict"`
	// Misses counts the attempts that missed (a passed case too).
	Misses int `json:"misses"`
	// Reasons are "expected X, got Y" lines; empty when passed.
	Reasons        []string     `json:"reasons,omitempty"`
	Attempts       int          `json:"attempts"`
	PassedAttempts int          `json:"passedAttempts"`
	ElapsedMs      float64      `json:"elapsedMs"`
	Expected       JSONExpected `json:"expected"`
	// Feature is the feature a feature case depends on and FeatureState
	// its state in the run ("on" or "off"): Expected is the expectation of
	// that state.
	Feature      string `json:"feature,omitempty"`
	FeatureState string `json:"featureState,omitempty"`
	// Request and Response are the deciding attempt (the last miss of a
	// failed case); Response is absent when nothing was sent.
	Request  JSONRequest   `json:"request"`
	Response *JSONResponse `json:"response,omitempty"`
	// History are earlier misses, oldest first (bounded).
	History []JSONAttempt `json:"history,omitempty"`
}

// JSONExpected is what the contract asks of the case.
type JSONExpected struct {
	ServedBy  string `json:"servedBy,omitempty"`
	NoBackend bool   `json:"noBackend,omitempty"`
	// Status is "404", "2xx" or "any status".
	Status       string                       `json:"status"`
	Headers      []contract.HeaderExpectation `json:"headers,omitempty"`
	BodyContains string                       `json:"bodyContains,omitempty"`
}

// JSONRequest is the request as sent.
type JSONRequest struct {
	Method      string      `json:"method"`
	URL         string      `json:"url"`
	Host        string      `json:"host"`
	Headers     http.Header `json:"headers,omitempty"`
	BodyBytes   int         `json:"bodyBytes,omitempty"`
	ConnectedTo string      `json:"connectedTo,omitempty"`
	Via         string      `json:"via,omitempty"`
	Attempt     int         `json:"attempt,omitempty"`
}

// JSONResponse is what came back and who served it.
type JSONResponse struct {
	Status int `json:"status,omitempty"`
	// ServedBy is the identity read from the response; its "backend" is
	// "<namespace>/<release>" when known.
	ServedBy    JSONIdentity `json:"servedBy"`
	LatencyMs   float64      `json:"latencyMs"`
	Headers     http.Header  `json:"headers,omitempty"`
	BodyExcerpt string       `json:"bodyExcerpt,omitempty"`
	CacheStatus string       `json:"cacheStatus,omitempty"`
	Error       string       `json:"error,omitempty"`
	At          time.Time    `json:"at"`
}

// JSONIdentity is identity.Identity plus its backend name.
type JSONIdentity struct {
	Backend string `json:"backend,omitempty"`
	identity.Identity
}

// JSONAttempt is one earlier miss on one line.
type JSONAttempt struct {
	Attempt   int     `json:"attempt"`
	ElapsedMs float64 `json:"elapsedMs"`
	Status    int     `json:"status,omitempty"`
	ServedBy  string  `json:"servedBy"`
	// Pod is the answering pod (or raw Server value) when there was one.
	Pod         string   `json:"pod,omitempty"`
	CacheStatus string   `json:"cacheStatus,omitempty"`
	LatencyMs   float64  `json:"latencyMs"`
	Error       string   `json:"error,omitempty"`
	Reasons     []string `json:"reasons,omitempty"`
}

// BuildJSON builds the JSON report, cases and budgets in the order given.
func (r Report) BuildJSON() JSONReport {
	s := r.Summary()
	rep := JSONReport{
		Schema:  SchemaVersion,
		Summary: JSONSummary{Summary: s, Total: s.Total(), Cases: len(r.Cases), Budgets: len(r.Budgets), Shares: len(r.Shares)},
		Cases:   []JSONCase{},
		Budgets: []JSONBudget{},
	}
	for _, v := range r.Cases {
		rep.Cases = append(rep.Cases, jsonCase(v))
	}
	for _, b := range r.Budgets {
		rep.Budgets = append(rep.Budgets, jsonBudget(b))
	}
	for _, sh := range r.Shares {
		rep.Shares = append(rep.Shares, jsonShare(sh))
	}
	if r.Coverage != nil {
		rep.RouteCoverage = r.Coverage.json()
	}
	rep.Features = r.Features
	rep.Manifest = r.Manifest
	return rep
}

// WriteJSON writes r.BuildJSON(), indented, ending in a newline.
func WriteJSON(w io.Writer, vs []check.Verdict) error { return Report{Cases: vs}.WriteJSON(w) }

// WriteJSON writes BuildJSON, indented, ending in a newline.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r.BuildJSON()); err != nil {
		return fmt.Errorf("write json report: %w", err)
	}
	return nil
}

func jsonBudget(r latency.Result) JSONBudget {
	jb := JSONBudget{
		Name: budgetName(r), Entry: budgetEntry(r), Outcome: string(r.Outcome), Reasons: r.Reasons,
		Expected: r.Expected, RequestedRate: r.RequestedRate, AchievedRate: r.AchievedRate, RateCapped: r.Plan.RateCapped,
		Requests: r.Requests, Successes: r.Successes, SuccessRatio: r.SuccessRatio,
		LatencyMs: JSONLatencies{P50: ms(r.Latencies.P50), P95: ms(r.Latencies.P95), P99: ms(r.Latencies.P99), Max: ms(r.Latencies.Max)},
		ServedBy:  r.ServedBy, Files: r.Files, ElapsedMs: ms(r.Elapsed),
	}
	if r.Case != nil {
		jb.Case = r.Case.Name
	}
	if b := r.Budget; b != nil {
		if b.Pos.File != "" {
			jb.Position = fmt.Sprintf("%s:%d:%d", b.Pos.File, b.Pos.Line, b.Pos.Column)
		}
		for name, d := range map[string]time.Duration{"p50": b.P50, "p95": b.P95, "p99": b.P99, "max": b.Max} {
			if d > 0 {
				if jb.Ceilings == nil {
					jb.Ceilings = map[string]float64{}
				}
				jb.Ceilings[name] = ms(d)
			}
		}
	}
	if len(r.Statuses) > 0 {
		jb.Statuses = map[string]int{}
		for code, n := range r.Statuses {
			jb.Statuses[strconv.Itoa(code)] = n
		}
	}
	return jb
}

func jsonCase(v check.Verdict) JSONCase {
	jc := JSONCase{
		Outcome:        string(v.Outcome),
		Verdict:        VerdictText(v),
		Misses:         Misses(v),
		Reasons:        v.Reasons,
		Attempts:       v.Attempts,
		PassedAttempts: v.PassedAttempts,
		ElapsedMs:      ms(v.Elapsed),
	}
	if cs := v.Case; cs != nil {
		jc.Name, jc.Description, jc.Entry, jc.Labels = cs.Name, cs.Description, cs.Entry, cs.Labels
		if cs.Pos.File != "" {
			jc.Position = fmt.Sprintf("%s:%d:%d", cs.Pos.File, cs.Pos.Line, cs.Pos.Column)
		}
		if st := cs.FeatureState(); st != "" {
			jc.Feature = cs.Feature
			jc.FeatureState = strings.TrimPrefix(st, cs.Feature+" ")
		}
		e := cs.Expect
		jc.Expected = JSONExpected{ServedBy: e.ServedBy, NoBackend: e.NoBackend, Status: e.WantStatus(),
			Headers: e.Headers, BodyContains: e.BodyContains}
	}
	r := v.Evidence
	jc.Request = JSONRequest{
		Method: r.Request.Method, URL: r.Request.URL, Host: r.Request.Host, Headers: r.Request.Headers,
		BodyBytes: r.Request.BodyBytes, ConnectedTo: r.Request.ConnectedTo, Via: r.Request.Via, Attempt: r.Request.Attempt,
	}
	if jc.Entry == "" {
		jc.Entry = r.Request.Entry
	}
	if r.Status != 0 || r.Err != "" {
		jc.Response = &JSONResponse{
			Status:      r.Status,
			ServedBy:    JSONIdentity{Backend: r.ServedBy.Backend(), Identity: r.ServedBy},
			LatencyMs:   ms(r.Latency),
			Headers:     r.Headers,
			BodyExcerpt: r.BodyExcerpt,
			CacheStatus: r.CacheStatus,
			Error:       r.Err,
			At:          r.At,
		}
	}
	for i, h := range v.History {
		a := JSONAttempt{
			Attempt:     h.Request.Attempt,
			Status:      h.Status,
			ServedBy:    h.ServedBy.Backend(),
			Pod:         h.ServedBy.Pod,
			CacheStatus: h.CacheStatus,
			LatencyMs:   ms(h.Latency),
			Error:       h.Err,
		}
		if !v.Started.IsZero() && !h.At.IsZero() {
			a.ElapsedMs = ms(h.At.Sub(v.Started))
		}
		if i < len(v.HistoryReasons) {
			a.Reasons = v.HistoryReasons[i]
		}
		jc.History = append(jc.History, a)
	}
	return jc
}

// ms is a duration in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
