package stub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
)

// Paths MediaWiki serves that the stub knows about.
const (
	PathHealthCheck  = "/w/health-check.php"
	PathRunSingleJob = "/rpc/RunSingleJob.php"
	PathAPI          = "/w/api.php"
	PathIndex        = "/w/index.php"
	PathLoad         = "/w/load.php"
	PathRESTPrefix   = "/w/rest.php/"
	PathWikiPrefix   = "/wiki/"
)

// MaxBodyBytes bounds the request body a stub reads; larger bodies get 413.
const MaxBodyBytes = 16 << 20

// NoEventBody is MediaWiki's RunSingleJob.php answer to an empty POST (422).
const NoEventBody = "No event received."

// JobResult is the body of a 200 from the jobrunner's RunSingleJob.php.
type JobResult struct {
	Status    string `json:"status"` // "ok"
	Job       string `json:"job"`    // the event's "type"
	Database  string `json:"database"`
	RequestID string `json:"requestId,omitempty"`
	ServedBy  string `json:"servedBy"` // pod name
}

var (
	contentTypeJSON = []string{"application/json; charset=utf-8"}
	contentTypeText = []string{"text/plain; charset=utf-8"}
	allowPost       = []string{http.MethodPost}
)

type handler struct {
	cfg          Config
	jobrunner    bool
	serverHdr    []string // precomputed so the hot path only assigns map entries
	identityHdr  []string
	identityJSON []byte
	bufs         sync.Pool
}

// NewHandler returns the MediaWiki stand-in for cfg, after validating cfg.
func NewHandler(cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("create stub handler: %w", err)
	}
	id := cfg.Identity
	id.Source = ""
	idJSON, err := json.Marshal(id)
	if err != nil {
		return nil, fmt.Errorf("create stub handler: encode identity: %w", err)
	}
	h := &handler{
		cfg:          cfg,
		jobrunner:    cfg.Identity.Role == RoleJobrunner,
		serverHdr:    []string{cfg.Identity.Pod},
		identityHdr:  []string{cfg.Identity.HeaderValue()},
		identityJSON: idJSON,
	}
	h.bufs.New = func() any { b := make([]byte, 0, 2048); return &b }
	return h, nil
}

// faults is what to inject into one response.
type faults struct {
	latency   time.Duration
	status    int
	errorRate float64
}

func (h *handler) faultsFor(r *http.Request) (faults, error) {
	f := faults{latency: h.cfg.Latency, status: h.cfg.ForcedStatus, errorRate: h.cfg.ErrorRate}
	if !h.cfg.HeaderFaults {
		return f, nil
	}
	if v := r.Header.Get(HeaderFaultLatency); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > MaxLatency {
			return f, fmt.Errorf("parse %s %q: want a Go duration within 0..%s", HeaderFaultLatency, v, MaxLatency)
		}
		f.latency = d
	}
	if v := r.Header.Get(HeaderFaultStatus); v != "" {
		s, err := strconv.Atoi(v)
		if err != nil || !validStatus(s) {
			return f, fmt.Errorf("parse %s %q: want a status within 200..599", HeaderFaultStatus, v)
		}
		f.status = s
	}
	if v := r.Header.Get(HeaderFaultErrorRate); v != "" {
		p, err := strconv.ParseFloat(v, 64)
		if err != nil || !(p >= 0 && p <= 1) {
			return f, fmt.Errorf("parse %s %q: want a number within 0..1", HeaderFaultErrorRate, v)
		}
		f.errorRate = p
	}
	return f, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr["Server"] = h.serverHdr
	if h.cfg.IdentityHeader {
		hdr[identity.Header] = h.identityHdr
	}

	f, err := h.faultsFor(r)
	if err != nil {
		h.writeText(w, http.StatusBadRequest, err.Error()+"\n")
		return
	}
	if f.latency > 0 && !sleepCtx(r.Context(), f.latency) {
		return // the client went away: nobody to answer
	}
	switch {
	case f.status != 0:
		h.echo(w, r, f.status, "", "status "+strconv.Itoa(f.status))
		return
	case f.errorRate > 0 && rand.Float64() < f.errorRate:
		h.echo(w, r, http.StatusServiceUnavailable, "", "error-rate")
		return
	}

	path := r.URL.Path
	switch {
	case path == PathHealthCheck:
		h.echo(w, r, http.StatusOK, "", "")
	case h.jobrunner:
		// MediaWiki's jobrunner pods serve only these two paths, whatever the Host.
		if path == PathRunSingleJob {
			h.runSingleJob(w, r)
			return
		}
		h.echo(w, r, http.StatusNotFound, "", "")
	case path == PathAPI:
		h.api(w, r)
	case path == "/", path == PathIndex, path == PathLoad,
		strings.HasPrefix(path, PathWikiPrefix), strings.HasPrefix(path, PathRESTPrefix):
		h.echo(w, r, http.StatusOK, "", "")
	default:
		// Includes RunSingleJob.php: web pods do not serve the rpc path.
		h.echo(w, r, http.StatusNotFound, "", "")
	}
}

// sleepCtx waits for d or until ctx is done; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// api answers /w/api.php like the echo, adding "servedby" when asked for
// in the query or a form body. MediaWiki's boolean API parameters are true
// whenever present, whatever their value.
func (h *handler) api(w http.ResponseWriter, r *http.Request) {
	servedBy := false
	if strings.Contains(r.URL.RawQuery, "servedby") {
		if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && q.Has("servedby") {
			servedBy = true
		}
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		body, err := readBody(r.Body)
		if err != nil {
			h.bodyError(w, err)
			return
		}
		if !servedBy && strings.Contains(string(body), "servedby") {
			if q, err := url.ParseQuery(string(body)); err == nil && q.Has("servedby") {
				servedBy = true
			}
		}
		h.echoWithLength(w, r, http.StatusOK, int64(len(body)), h.servedBy(servedBy), "")
		return
	}
	h.echo(w, r, http.StatusOK, h.servedBy(servedBy), "")
}

func (h *handler) servedBy(asked bool) string {
	if asked {
		return h.cfg.Identity.Pod
	}
	return ""
}

// runSingleJob answers like MediaWiki's rpc/RunSingleJob.php on a jobrunner.
func (h *handler) runSingleJob(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header()["Allow"] = allowPost
		h.writeText(w, http.StatusMethodNotAllowed, "Request must be POSTed.")
		return
	}
	body, err := readBody(r.Body)
	if err != nil {
		h.bodyError(w, err)
		return
	}
	if len(body) == 0 {
		h.writeText(w, http.StatusUnprocessableEntity, NoEventBody)
		return
	}
	// MediaWiki decodes the body without checking the decoding: a body that
	// is not JSON, or not an object, is an event without a database, and
	// the script fails with a 500 like for any other such event.
	var event any
	_ = json.Unmarshal(body, &event)
	obj, _ := event.(map[string]any)
	db, _ := obj["database"].(string)
	if db == "" {
		h.writeText(w, http.StatusInternalServerError, "Internal error: the event has no database")
		return
	}
	job, _ := obj["type"].(string)
	res, err := json.Marshal(JobResult{
		Status:    "ok",
		Job:       job,
		Database:  db,
		RequestID: r.Header.Get("X-Request-Id"),
		ServedBy:  h.cfg.Identity.Pod,
	})
	if err != nil { // cannot happen with strings only
		h.writeText(w, http.StatusInternalServerError, "encode job result: "+err.Error())
		return
	}
	h.write(w, http.StatusOK, contentTypeJSON, append(res, '\n'))
}

func readBody(body io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, MaxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if len(b) > MaxBodyBytes {
		return nil, errBodyTooLarge
	}
	return b, nil
}

var errBodyTooLarge = fmt.Errorf("read request body: larger than %d bytes", MaxBodyBytes)

func (h *handler) bodyError(w http.ResponseWriter, err error) {
	if errors.Is(err, errBodyTooLarge) {
		h.writeText(w, http.StatusRequestEntityTooLarge, err.Error()+"\n")
		return
	}
	h.writeText(w, http.StatusBadRequest, err.Error()+"\n")
}

// echo answers with the identity and request echo, reading (and counting)
// the request body.
func (h *handler) echo(w http.ResponseWriter, r *http.Request, status int, servedBy, fault string) {
	var n int64
	var err error
	if r.Body != nil && r.Body != http.NoBody { // the server's NoBody: nothing to count
		n, err = io.Copy(io.Discard, io.LimitReader(r.Body, MaxBodyBytes+1))
	}
	if err != nil {
		h.bodyError(w, fmt.Errorf("read request body: %w", err))
		return
	}
	if n > MaxBodyBytes {
		h.bodyError(w, errBodyTooLarge)
		return
	}
	h.echoWithLength(w, r, status, n, servedBy, fault)
}

func (h *handler) echoWithLength(w http.ResponseWriter, r *http.Request, status int, bodyLen int64, servedBy, fault string) {
	uri := r.RequestURI
	if uri == "" { // a request built in-process rather than read from the wire
		uri = r.URL.RequestURI()
	}
	bp := h.bufs.Get().(*[]byte)
	b := appendEcho((*bp)[:0], h.identityJSON, &echoFields{
		status:     status,
		method:     r.Method,
		host:       r.Host,
		uri:        uri,
		headers:    r.Header,
		bodyLength: bodyLen,
		remoteAddr: r.RemoteAddr,
		servedBy:   servedBy,
		fault:      fault,
	})
	h.write(w, status, contentTypeJSON, b)
	if cap(b) <= 64<<10 {
		*bp = b
		h.bufs.Put(bp)
	}
}

func (h *handler) writeText(w http.ResponseWriter, status int, body string) {
	h.write(w, status, contentTypeText, []byte(body))
}

func (h *handler) write(w http.ResponseWriter, status int, contentType []string, body []byte) {
	hdr := w.Header()
	hdr["Content-Type"] = contentType
	if len(body) >= 2048 {
		// net/http sets Content-Length itself (without allocating) for
		// bodies under its 2048-byte chunking buffer; beyond it would chunk.
		hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	}
	w.WriteHeader(status)
	_, _ = w.Write(body) // a write error means the client went away
}
