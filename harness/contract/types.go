// Package contract reads and validates the routing contract: the one
// declarative file (fixtures/contract/pretrain.yaml) that says where every
// request must land. Every front end (go test, pretrain-check run, latency
// budgets, live mode) reads it through this package.
package contract

import "time"

// Contract is a parsed and validated routing contract.
type Contract struct {
	Source   string              `json:"source"`
	Backends map[string]*Backend `json:"backends"` // by name, e.g. "mw-pretrain/main"
	Entries  map[string]*Entry   `json:"entries"`  // by name, e.g. "edge", "mesh/mw-api-int"
	Cases    []*Case             `json:"cases"`    // in file order
	Budgets  []*Budget           `json:"budgets"`  // in file order
	// Shares are the canary share checks, in file order.
	Shares []*Share `json:"shares,omitempty"`
	// Features are the rollout steps a target may have enabled, in file
	// order; a case that depends on one names it and says what happens
	// in both states.
	Features []*Feature `json:"features,omitempty"`
	// FeaturesOn is set by ForFeatures: the features on in this copy
	// (every feature case's Expect is then the one of its feature's
	// state). Nil in a contract as parsed.
	FeaturesOn []string `json:"featuresOn,omitempty"`
	resolved   bool
}

// Feature is a rollout step (as the Gateway API conformance suite has
// "supported features"): a target either has it on or off, and each case
// that depends on it expects one thing when it is on and another when it
// is off.
type Feature struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Source is the planned step the feature enables ("planned: T427666
	// step 1"); a planned case naming the feature cites the same step.
	Source Source   `json:"source"`
	Pos    Position `json:"pos"`
}

// The features of the default contract: the three steps of T427666.
const (
	// FeatureEdgeDiversion (step 1): plain testwiki traffic at the edge
	// goes to the Pretrain ingress.
	FeatureEdgeDiversion = "edge-diversion"
	// FeatureRESTDiversion (step 2): the REST gateway diverts Host
	// test.wikipedia.org to the Pretrain ingress.
	FeatureRESTDiversion = "rest-diversion"
	// FeatureMeshSplit (step 3): the mesh listeners split testwiki-bound
	// internal traffic to Pretrain.
	FeatureMeshSplit = "mesh-split"
)

// Backend is a named identity ("<namespace>/<release>") or a group of them
// ("served by main or its canary").
type Backend struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Members     []string `json:"members,omitempty"` // set for a group: backend names
	Pos         Position `json:"pos"`
}

// IsGroup reports whether the backend is a group of other backends.
func (b *Backend) IsGroup() bool { return len(b.Members) > 0 }

// Entry is where a request enters the routing under test.
type Entry struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Pos         Position `json:"pos"`
}

// Well-known entry point names. A contract may only use declared entries;
// these are the ones the default contract and the targets know.
const (
	EntryEdge             = "edge"
	EntryIngress          = "ingress"
	EntryJobrunnerGateway = "jobrunner-gateway"
	EntryRESTGateway      = "rest-gateway"
	EntryMeshAPIInt       = "mesh/mw-api-int"
	EntryMeshJobrunner    = "mesh/mw-jobrunner"
	// EntryJobrunner is the jobrunner's own web server, behind its gateway
	// (the 405/422 answers of RunSingleJob.php come from there).
	EntryJobrunner = "jobrunner"
)

// Case is one request and what must happen to it.
type Case struct {
	Name string `json:"name"`
	// Description says, for humans, why the case exists (optional).
	Description string  `json:"description,omitempty"`
	Entry       string  `json:"entry"`
	Request     Request `json:"request"`
	// Expect is what must happen. For a feature case as parsed it is the
	// expectation with the feature on; in a contract returned by
	// ForFeatures it is the one of the feature's state in the run.
	Expect Expectation `json:"expect"`
	// Feature names the feature (rollout step) the case depends on; ""
	// for a case that holds whatever the target has enabled.
	Feature string `json:"feature,omitempty"`
	// ExpectOn and ExpectOff are a feature case's expectations with the
	// feature on and off (ExpectOn is the case's `expect:`).
	ExpectOn  *Expectation `json:"expectOn,omitempty"`
	ExpectOff *Expectation `json:"expectOff,omitempty"`
	// FeatureOn is set by ForFeatures: whether Feature is on in the run.
	FeatureOn bool `json:"featureOn,omitempty"`
	resolved  bool
	Labels    []string `json:"labels,omitempty"`
	// Source is the production file (or planned step) the case encodes.
	Source Source   `json:"source"`
	Pos    Position `json:"pos"`
}

// Planned reports whether the case checks behaviour production has not
// enabled yet (its source is a planned step).
func (c *Case) Planned() bool { return c.Source.Planned() }

// Negative reports whether the case asserts that something must NOT reach
// Pretrain or must be refused.
func (c *Case) Negative() bool {
	for _, l := range c.Labels {
		if l == LabelNegative {
			return true
		}
	}
	return false
}

// Labels used for filtering.
const (
	LabelHost      = "host"
	LabelPath      = "path"
	LabelXWD       = "xwd"
	LabelMesh      = "mesh"
	LabelREST      = "rest"
	LabelJobrunner = "jobrunner"
	LabelEdge      = "edge"
	LabelNegative  = "negative"
)

// Request is what the probe sends. Host is sent as the Host header (and
// SNI over TLS) whatever address the entry point connects to.
type Request struct {
	Method  string   `json:"method"`
	Host    string   `json:"host"`
	Path    string   `json:"path"` // path and query
	Headers []Header `json:"headers,omitempty"`
	Body    string   `json:"body,omitempty"`
}

// Header is one request header; order is kept as written.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Expectation is what must come back. Exactly one of ServedBy and NoBackend
// is set: either a backend (or group) answers, or nobody identifiable does
// (a proxy's 404 "no route", the edge's 400 XWD scope error).
type Expectation struct {
	ServedBy  string `json:"servedBy,omitempty"`
	NoBackend bool   `json:"noBackend,omitempty"`
	// Status is the exact status expected; 0 means any 2xx (unless
	// AnyStatus).
	Status int `json:"status,omitempty"`
	// AnyStatus accepts every status: only who answered matters (e.g.
	// "MediaWiki main answers, not the jobrunner", whatever it says).
	AnyStatus bool                `json:"anyStatus,omitempty"`
	Headers   []HeaderExpectation `json:"headers,omitempty"`
	// BodyContains, when set, must appear in the response body.
	BodyContains string `json:"bodyContains,omitempty"`
}

// HeaderExpectation checks one response header. Exactly one of Equals,
// Matches (RE2, unanchored as written) and Absent is set.
type HeaderExpectation struct {
	Name    string `json:"name"`
	Equals  string `json:"equals,omitempty"`
	Matches string `json:"matches,omitempty"`
	Absent  bool   `json:"absent,omitempty"`
}

// Budget is a latency budget: traffic at Rate for Duration (or Requests
// requests), with percentile ceilings and a minimum success ratio. It
// targets one case (its request and expected backend and status).
type Budget struct {
	Name     string        `json:"name"`
	Case     string        `json:"case,omitempty"`  // a case name, or
	Entry    string        `json:"entry,omitempty"` // an entry: its first case expecting a backend
	Rate     float64       `json:"rate"`            // requests per second
	Duration time.Duration `json:"duration,omitempty"`
	Requests int           `json:"requests,omitempty"`
	P50      time.Duration `json:"p50,omitempty"`
	P95      time.Duration `json:"p95,omitempty"`
	P99      time.Duration `json:"p99,omitempty"`
	Max      time.Duration `json:"max,omitempty"`
	// MinSuccess is the minimum ratio (0..1] of responses that have a
	// success status and come from the expected backend.
	MinSuccess float64 `json:"minSuccess"`
	// SuccessStatuses count as success; empty means the case's expected
	// status (any 2xx when the case expects none).
	SuccessStatuses []int    `json:"successStatuses,omitempty"`
	Labels          []string `json:"labels,omitempty"`
	// Source is the production file (or planned step) the budget's
	// routing encodes.
	Source Source   `json:"source"`
	Pos    Position `json:"pos"`
}

// Share is a canary share check: Requests repetitions of a case whose
// expected backend is a group (a release and its canary behind one
// Service); Backend (the canary) must answer between Min and Max of them
// inclusive. The band is chosen so that a canary at its replica share
// (Num/Den) falls outside it with probability at most MaxShareFailure
// (binomial tails), while a canary with none or all of the traffic, or
// twice its share, always does.
type Share struct {
	Name     string   `json:"name"`
	Case     string   `json:"case"`
	Backend  string   `json:"backend"`
	Num      int      `json:"num"` // expected share Num/Den, e.g. 1/3
	Den      int      `json:"den"`
	Requests int      `json:"requests"`
	Min      int      `json:"min"` // band, in answers from Backend, inclusive
	Max      int      `json:"max"`
	Labels   []string `json:"labels,omitempty"`
	Source   Source   `json:"source"`
	Pos      Position `json:"pos"`
}

// Expected is the share Backend should get: Num/Den.
func (s *Share) Expected() float64 { return float64(s.Num) / float64(s.Den) }
