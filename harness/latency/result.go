package latency

import (
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
)

// Result is one budget's verdict with its evidence.
type Result struct {
	Budget *contract.Budget `json:"budget"`
	Case   *contract.Case   `json:"case"`
	Target string           `json:"target,omitempty"`
	// Endpoint is where the traffic went ("http://127.0.0.1:30080", "...
	// via forward ..."); Host is the case host sent as Host and SNI.
	Endpoint string `json:"endpoint"`
	Host     string `json:"host"`
	Method   string `json:"method"`
	URL      string `json:"url"` // scheme://<case host><path>, before any cache-busting nonce

	Outcome check.Outcome `json:"outcome"`
	// Reasons are "expected p95 <= 300ms, got 612ms" lines; empty when passed.
	Reasons []string `json:"reasons,omitempty"`

	Plan Plan `json:"plan"`
	// RequestedRate is the scaled rate asked for, AchievedRate the rate at
	// which requests were actually started (requests-1 over the time
	// between the first and the last start).
	RequestedRate float64 `json:"requestedRate"`
	AchievedRate  float64 `json:"achievedRate"`
	// RateShortfall is set when AchievedRate < ShortfallRatio x RequestedRate
	// and Lag > ShortfallSlack: the attacker could not hold the rate and the
	// figures are not trustworthy.
	RateShortfall bool `json:"rateShortfall,omitempty"`
	// Lag is how far behind its schedule (i/rate) the last request started.
	Lag      time.Duration `json:"lag"`
	Requests int           `json:"requests"` // sent
	// Span is the time from the first request's start to the last
	// response's end.
	Span time.Duration `json:"span"`

	Latencies Latencies `json:"latencies"`
	// Statuses counts responses by status; 0 counts requests that got no
	// HTTP response (see Errors).
	Statuses map[int]int `json:"statuses"`
	// ServedBy counts responses by who served them: a backend
	// ("mw-pretrain/main"), or "unidentified (Server ...)", "nobody
	// identifiable" and, for requests without a response, NoResponse.
	ServedBy map[string]int `json:"servedBy"`
	// Cached counts responses an edge cache answered (X-Cache-Status not
	// miss/pass): they say nothing about the backend and never succeed.
	Cached int `json:"cached,omitempty"`
	// Errors are the distinct transport errors (at most MaxErrors), each
	// with its count; OtherErrors counts the rest.
	Errors      []ErrorCount `json:"errors,omitempty"`
	OtherErrors int          `json:"otherErrors,omitempty"`

	// Expected describes a success: "status 405 from mw-pretrain/jobrunner".
	Expected string `json:"expected"`
	// Successes have a success status, come from the expected backend and
	// were not cached; WrongBackend counts responses identified as another
	// backend.
	Successes    int     `json:"successes"`
	SuccessRatio float64 `json:"successRatio"`
	WrongBackend int     `json:"wrongBackend,omitempty"`
	// WrongBackends counts the wrong backends' responses by backend.
	WrongBackends map[string]int `json:"wrongBackends,omitempty"`
	// FirstFailure is the first response that did not succeed.
	FirstFailure *Sample `json:"firstFailure,omitempty"`

	Started time.Time     `json:"started"`
	Elapsed time.Duration `json:"elapsed"`

	// Samples are every request's outcome in start order, for the plots.
	Samples []Sample `json:"samples,omitempty"`
	// Files are the report files written for this budget, relative to the
	// report directory (set by WriteFiles).
	Files *Files `json:"files,omitempty"`
}

// Latencies are the percentiles of every request's latency (requests that
// failed included, as vegeta reports them), in-pod latency for entries
// reached through a forward endpoint.
type Latencies struct {
	Min  time.Duration `json:"min"`
	Mean time.Duration `json:"mean"`
	P50  time.Duration `json:"p50"`
	P90  time.Duration `json:"p90"`
	P95  time.Duration `json:"p95"`
	P99  time.Duration `json:"p99"`
	Max  time.Duration `json:"max"`
}

// ErrorCount is one distinct error and how often it happened.
type ErrorCount struct {
	Error string `json:"error"`
	Count int    `json:"count"`
}

// MaxErrors bounds Result.Errors.
const MaxErrors = 10

// NoResponse is the ServedBy key of requests that got no HTTP response.
const NoResponse = "no response"

// Sample is one request.
type Sample struct {
	Seq int `json:"seq"`
	// Offset is when the request started, from the attack's start.
	Offset   time.Duration `json:"offset"`
	Latency  time.Duration `json:"latency"`
	Status   int           `json:"status,omitempty"`
	ServedBy string        `json:"servedBy,omitempty"`
	Success  bool          `json:"success"`
	Error    string        `json:"error,omitempty"`
	// Body is an excerpt of the response body; kept only in FirstFailure.
	Body string `json:"body,omitempty"`
}

// Files are a budget's report files, relative to the report directory.
type Files struct {
	JSON      string `json:"json"`
	Histogram string `json:"histogram"`
	Timeline  string `json:"timeline"`
}
