package probe

import (
	"net/http"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
)

// SentRequest is the request as it went on the wire.
type SentRequest struct {
	Method      string      `json:"method"`
	URL         string      `json:"url"`  // scheme://<case host><path>
	Host        string      `json:"host"` // Host header (and SNI)
	Headers     http.Header `json:"headers,omitempty"`
	BodyBytes   int         `json:"bodyBytes,omitempty"`
	ConnectedTo string      `json:"connectedTo"`       // address dialled
	Via         string      `json:"via,omitempty"`     // forward endpoint, when relayed by a pod
	Entry       string      `json:"entry"`             // contract entry point
	Attempt     int         `json:"attempt,omitempty"` // 1-based
}

// Result is the evidence of one request: what was sent, what came back and
// who served it.
type Result struct {
	Request  SentRequest       `json:"request"`
	Status   int               `json:"status,omitempty"`
	ServedBy identity.Identity `json:"servedBy"`
	Latency  time.Duration     `json:"latency"`
	// Headers are the response headers that decide a verdict (Server,
	// identity, X-Cache-Status, x-wikimedia-debug-routing, Allow, Location,
	// Content-Type and any the case expects).
	Headers     http.Header `json:"headers,omitempty"`
	BodyExcerpt string      `json:"bodyExcerpt,omitempty"` // first 512 bytes
	// Body is the full body (bounded), kept for body expectations; not
	// serialised into reports.
	Body []byte `json:"-"`
	// CacheStatus is X-Cache-Status when present; a cached response
	// (anything but miss/pass) says nothing about who served THIS request.
	CacheStatus string `json:"cacheStatus,omitempty"`
	// AllHeaders are all the response headers, for expectations on headers
	// not kept in Headers; not serialised into reports. Nil in results
	// built by hand: Header then reads Headers.
	AllHeaders http.Header `json:"-"`
	// Err is set when no HTTP response came back (dial, TLS, timeout).
	Err string    `json:"error,omitempty"`
	At  time.Time `json:"at"`
}

// Cached reports whether the response came from a cache, so it cannot
// identify who served this request.
func (r Result) Cached() bool {
	switch r.CacheStatus {
	case "", "miss", "pass":
		return false
	}
	return true
}

// Header returns a response header's values: from AllHeaders when the
// probe kept them, else from Headers.
func (r Result) Header(name string) []string {
	if r.AllHeaders != nil {
		return r.AllHeaders.Values(name)
	}
	return r.Headers.Values(name)
}
