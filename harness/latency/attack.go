package latency

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/forward"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/probe"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// Defaults used when an Options field is zero.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultMaxWorkers = 256
	// excerptBytes of a direct response's body are kept for evidence.
	excerptBytes = 512
)

// Options tune an attack. Zero values take the defaults.
type Options struct {
	// RateScale multiplies every budget's rate (0 means 1); see PlanFor.
	RateScale float64
	// MaxDuration, when set, shortens every plan to at most this long
	// (in-process test runs).
	MaxDuration time.Duration
	// Live says the target is production: GET and HEAD requests get a
	// cache-busting nonce (unless they send X-Wikimedia-Debug) and rates
	// above LiveRateLimit are refused unless AllowProduction is set.
	Live            bool
	AllowProduction bool
	// Timeout bounds one request (DefaultTimeout).
	Timeout time.Duration
	// MaxWorkers bounds vegeta's workers, so the concurrent requests
	// (DefaultMaxWorkers). vegeta adds workers up to it to hold the rate.
	MaxWorkers uint64
	// UserAgent is sent unless the case sets one (probe.DefaultUserAgent).
	UserAgent string
	// TargetName names the target in the result.
	TargetName string
	// MaxRate, when set, caps every plan's rate (requests/s); Attack sets
	// it from the endpoint's rate limiter.
	MaxRate float64
}

func (o Options) withDefaults() Options {
	if o.RateScale == 0 {
		o.RateScale = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxWorkers == 0 {
		o.MaxWorkers = DefaultMaxWorkers
	}
	if o.UserAgent == "" {
		o.UserAgent = probe.DefaultUserAgent
	}
	return o
}

// Run resolves the budget's case and the target's endpoint for its entry,
// then attacks. An entry the target cannot reach gives a not-applicable
// result, never a pass.
func Run(ctx context.Context, tgt target.Target, b *contract.Budget, c *contract.Contract, opts Options) (Result, error) {
	if b == nil || c == nil || tgt == nil {
		return Result{}, errors.New("run budget: budget, contract and target are required")
	}
	cs, err := c.BudgetCase(b)
	if err != nil {
		return Result{}, fmt.Errorf("run budget %q: %w", b.Name, err)
	}
	opts.Live = opts.Live || tgt.Live()
	if opts.TargetName == "" {
		opts.TargetName = tgt.Name()
	}
	notApplicable := func(err error) Result {
		r := newResult(b, cs, opts)
		r.Endpoint = cs.Entry
		r.Outcome = check.NotApplicable
		r.Reasons = []string{err.Error()}
		return r
	}
	// A target that models the routing (the config tier) has no latency
	// of production's to measure.
	if m, ok := tgt.(interface{ MeasuresNoLatency() error }); ok {
		if err := m.MeasuresNoLatency(); err != nil {
			return notApplicable(err), nil
		}
	}
	ep, err := tgt.Endpoint(cs.Entry)
	if errors.Is(err, target.ErrNotApplicable) {
		return notApplicable(err), nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("run budget %q: resolve entry %q: %w", b.Name, cs.Entry, err)
	}
	if s, ok := tgt.(target.Screener); ok {
		if err := s.Screen(cs.Entry, cs.Request); errors.Is(err, target.ErrNotApplicable) {
			return notApplicable(err), nil
		} else if err != nil {
			return Result{}, fmt.Errorf("run budget %q: screen case %q: %w", b.Name, cs.Name, err)
		}
	}
	return Attack(ctx, ep, cs, b, c, opts)
}

func newResult(b *contract.Budget, cs *contract.Case, opts Options) Result {
	return Result{
		Budget:   b,
		Case:     cs,
		Target:   opts.TargetName,
		Host:     cs.Request.Host,
		Method:   probe.Method(cs.Request),
		Expected: expected(b, cs),
		Statuses: map[int]int{},
		ServedBy: map[string]int{},
		Started:  time.Now(),
	}
}

// Attack sends the budget's traffic (the case's request) to ep with one
// vegeta Attacker, drains every result, identifies who served each
// response and judges the budget. It returns an error only for unusable
// input (the budget, the case or the endpoint); everything that happened
// on the wire is in the Result.
func Attack(ctx context.Context, ep target.Endpoint, cs *contract.Case, b *contract.Budget, c *contract.Contract, opts Options) (Result, error) {
	if b == nil || cs == nil || c == nil {
		return Result{}, errors.New("attack: budget, case and contract are required")
	}
	opts = opts.withDefaults()
	if err := CheckRate(b, opts.RateScale, opts.Live, opts.AllowProduction); err != nil {
		return Result{}, fmt.Errorf("attack: %w", err)
	}
	if ep.Limiter != nil {
		// One rate limiter per target: the budget runs at most at the
		// target's cap, and takes its slots from the same limiter as the
		// probes.
		if r := ep.Limiter.Rate(); opts.MaxRate <= 0 || r < opts.MaxRate {
			opts.MaxRate = r
		}
	}
	plan, err := PlanFor(b, opts)
	if err != nil {
		return Result{}, fmt.Errorf("attack: %w", err)
	}
	a, err := newAttack(ep, cs, opts)
	if err != nil {
		return Result{}, fmt.Errorf("attack budget %q: %w", b.Name, err)
	}
	res := newResult(b, cs, opts)
	res.Endpoint = ep.String()
	res.URL = a.displayURL
	res.Plan = plan
	res.RequestedRate = plan.Rate

	// The endpoint's guard (live targets: methods, hosts, User-Agent) judges
	// the request once, before the attack: every request of the attack is
	// the same but for a cache-busting nonce and vegeta's sequence header.
	// Its rate cap is applied by the pacer (waiting inside a request would
	// be measured as latency): every request takes a slot of the
	// endpoint's limiter before vegeta starts it.
	if ep.Guard != nil {
		if err := a.admit(ctx, ep.Guard, opts.Timeout); err != nil {
			res.Outcome = check.NotApplicable
			res.Reasons = []string{fmt.Sprintf("refused before the attack, nothing sent: %v", err)}
			res.Elapsed = time.Since(res.Started)
			return res, nil
		}
	}

	col := newCollector(c, b, cs)
	a.run(ctx, b.Name, pacer{rate: plan.Rate, max: uint64(plan.Requests), limiter: ep.Limiter}, 0, col.add)
	col.finish(&res)
	res.Elapsed = time.Since(res.Started)
	if err := ctx.Err(); err != nil && res.Requests < plan.Requests {
		res.Outcome = check.Inconclusive
		res.Reasons = append([]string{fmt.Sprintf("attack interrupted after %d of %d requests: %v", res.Requests, plan.Requests, err)}, judge(&res, b)...)
		return res, nil
	}
	res.Outcome, res.Reasons = verdict(&res, b)
	return res, nil
}

// attack is one budget's request, ready to be sent many times.
type attack struct {
	client     *http.Client
	transport  *http.Transport
	targeter   vegeta.Targeter
	forward    bool
	maxBody    int64
	maxWorkers uint64
	displayURL string
	conns      *connSet // every open connection, closed when the attack is cancelled
}

// newAttack builds the client and the targeter. Direct entries: the URL
// names the case host, the dialer connects to the endpoint's address
// whatever the URL says (curl --connect-to, like vegeta's ConnectTo but
// safe for concurrent dials), TLS SNI is the case host. Forward entries:
// every request is a POST to the forward endpoint, which sends the case's
// request from inside its pod.
func newAttack(ep target.Endpoint, cs *contract.Case, opts Options) (*attack, error) {
	req := cs.Request
	// The request is built by the probe's builder: a budget sends what a
	// case sends (method, URL, Host, headers, body, User-Agent, and on a
	// live target the cache-busting nonce), the probe's forward protocol
	// included.
	build, err := probe.NewBuilder(ep, req, probe.Options{UserAgent: opts.UserAgent, BustCache: opts.Live, Timeout: opts.Timeout})
	if err != nil {
		return nil, fmt.Errorf("case %q: %w", cs.Name, err)
	}
	first, err := build.Next()
	if err != nil {
		return nil, fmt.Errorf("case %q: %w", cs.Name, err)
	}

	a := &attack{maxWorkers: opts.MaxWorkers, conns: &connSet{conns: map[net.Conn]struct{}{}}, displayURL: build.URL()}
	dialer := &net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}
	a.transport = &http.Transport{
		Proxy:                 nil, // never an environment proxy: we choose where to connect
		ForceAttemptHTTP2:     false,
		DisableCompression:    true,
		MaxIdleConnsPerHost:   int(min(opts.MaxWorkers, 10000)),
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
	}

	if build.Forwarded() {
		// Every request is a POST of the forward protocol to the stub's
		// forward endpoint, which sends the case's request in its pod.
		a.forward = true
		a.maxBody = forward.MaxAnswerBytes + 1 // one more: an oversized answer is told apart
		a.transport.DialContext = a.conns.dial(dialer.DialContext)
	} else {
		// vegeta parses the URL it is given: it must send the path and
		// query exactly as built, as the probe does.
		if u, err := url.Parse(first.URL); err != nil || u.Scheme+"://"+u.Host+u.RequestURI() != first.URL {
			return nil, fmt.Errorf("case %q: URL %q would not go on the wire unchanged (vegeta parses it)", cs.Name, first.URL)
		}
		scheme := ep.URL.Scheme
		want := net.JoinHostPort(hostOnly(req.Host), defaultPort(req.Host, scheme))
		connect := ep.Address()
		if _, _, err := net.SplitHostPort(connect); err != nil {
			connect = net.JoinHostPort(connect, defaultPort("", scheme))
		}
		a.transport.DialContext = a.conns.dial(func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr != want {
				return nil, fmt.Errorf("dial %q: a latency attack only connects for %q", addr, want)
			}
			return dialer.DialContext(ctx, network, connect)
		})
		if scheme == "https" {
			cfg := &tls.Config{MinVersion: tls.VersionTLS12}
			if ep.TLS != nil {
				cfg = ep.TLS.Clone()
			}
			if cfg.ServerName == "" {
				cfg.ServerName = hostOnly(req.Host)
			}
			a.transport.TLSClientConfig = cfg
		}
		a.maxBody = excerptBytes
	}
	a.targeter = func(t *vegeta.Target) error {
		if t == nil {
			return vegeta.ErrNilTarget
		}
		o, err := build.Next()
		if err != nil {
			return err
		}
		*t = vegetaTarget(o)
		return nil
	}
	a.client = &http.Client{
		Transport: a.transport,
		Timeout:   opts.Timeout,
		// A redirect is a result, never followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return a, nil
}

// vegetaTarget is what vegeta sends for o: o.Wire.
func vegetaTarget(o probe.Outgoing) vegeta.Target {
	return vegeta.Target{Method: o.Wire.Method, URL: o.Wire.URL, Header: o.Wire.Header, Body: o.Wire.Body}
}

// hostOnly strips a port from a Host value.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return host
}

// defaultPort is host's port, else the scheme's.
func defaultPort(host, scheme string) string {
	if _, p, err := net.SplitHostPort(host); err == nil && p != "" {
		return p
	}
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// admit builds the attack's first request as vegeta would send it and
// hands it to guard.
func (a *attack) admit(ctx context.Context, guard func(*http.Request) error, timeout time.Duration) error {
	var t vegeta.Target
	if err := a.targeter(&t); err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req, err := t.Request()
	if err != nil {
		return fmt.Errorf("build request %s %s: %w", t.Method, t.URL, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return guard(req.WithContext(ctx))
}

// run sends requests at rate (0: as fast as the workers allow) until max
// have been sent or du has passed (0: no limit; ctx ends the attack too),
// handing every result to add. It returns once every result has been
// drained. ctx stops the attack and fails the requests in flight by
// closing their connections (vegeta builds requests without a context;
// a connection is cheaper to track than every request).
func (a *attack) run(ctx context.Context, name string, p pacer, du time.Duration, add func(*vegeta.Result, bool)) {
	workers := min(uint64(vegeta.DefaultWorkers), a.maxWorkers)
	if p.max > 0 {
		workers = min(workers, p.max)
	}
	atk := vegeta.NewAttacker(
		vegeta.Client(a.client),
		vegeta.Workers(workers),
		vegeta.MaxWorkers(a.maxWorkers),
		vegeta.MaxBody(a.maxBody),
	)
	defer a.transport.CloseIdleConnections()
	stop := context.AfterFunc(ctx, func() {
		atk.Stop()
		a.conns.closeAll()
	})
	defer stop()
	for r := range atk.Attack(a.targeter, p, du, name) {
		add(r, a.forward)
	}
}

// connSet tracks an attack's open connections. Once closed, it closes
// every connection it holds and every new one.
type connSet struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (s *connSet) dial(next func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			c.Close()
			return nil, fmt.Errorf("dial %q: attack stopped", addr)
		}
		tc := &trackedConn{Conn: c, set: s}
		s.conns[tc] = struct{}{}
		return tc, nil
	}
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	conns := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	set  *connSet
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.set.mu.Lock()
		delete(c.set.conns, c)
		c.set.mu.Unlock()
	})
	return c.Conn.Close()
}

// collector turns vegeta results into the Result's evidence.
type collector struct {
	c      *contract.Contract
	b      *contract.Budget
	cs     *contract.Case
	m      vegeta.Metrics // filled by finish
	res    Result
	begin  time.Time
	first  time.Time
	last   time.Time
	errIdx map[string]int
	ids    map[identityKey]served
}

func newCollector(c *contract.Contract, b *contract.Budget, cs *contract.Case) *collector {
	return &collector{c: c, b: b, cs: cs, errIdx: map[string]int{}, ids: map[identityKey]served{}, begin: time.Now(),
		res: Result{Statuses: map[int]int{}, ServedBy: map[string]int{}}}
}

// add records one vegeta result. For a forward, the status, headers and
// latency are the in-pod request's, read from the forward answer.
func (col *collector) add(r *vegeta.Result, forwarded bool) {
	s := Sample{Seq: int(r.Seq), Offset: r.Timestamp.Sub(col.begin), Latency: r.Latency, Status: int(r.Code)}
	var h http.Header
	var body []byte
	switch {
	case r.Code == 0:
		s.Error = r.Error
		if s.Error == "" {
			s.Error = "no response"
		}
	case forwarded:
		s.Status = 0
		fa, err := forward.DecodeAnswer(int(r.Code), r.Body)
		if errors.Is(err, forward.ErrInPod) {
			s.Latency = fa.Latency()
		}
		if err != nil {
			s.Error = err.Error()
			break
		}
		s.Status = fa.Status
		s.Latency = fa.Latency()
		h = fa.Header()
		body = []byte(fa.Body)
	default:
		h = r.Headers
		body = r.Body
	}

	if col.first.IsZero() || r.Timestamp.Before(col.first) {
		col.first = r.Timestamp
	}
	if r.Timestamp.After(col.last) {
		col.last = r.Timestamp
	}
	col.res.Requests++
	col.res.Statuses[s.Status]++
	if s.Error != "" {
		col.addError(s.Error)
	}
	ok := false
	if h != nil {
		id := col.identify(h)
		s.ServedBy = id.key
		cacheStatus := strings.TrimSpace(h.Get(probe.CacheStatusHeader))
		cached := cacheStatus != "" && cacheStatus != "miss" && cacheStatus != "pass"
		if cached {
			col.res.Cached++
		}
		backendOK := id.backendOK
		if id.known && !backendOK {
			col.res.WrongBackend++
			if col.res.WrongBackends == nil {
				col.res.WrongBackends = map[string]int{}
			}
			col.res.WrongBackends[s.ServedBy]++
		}
		ok = !cached && backendOK && col.statusOK(s.Status)
	} else {
		s.ServedBy = NoResponse
	}
	col.res.ServedBy[s.ServedBy]++
	s.Success = ok
	if ok {
		col.res.Successes++
	} else if col.res.FirstFailure == nil {
		f := s
		f.Body = strings.TrimSpace(probe.Excerpt(body))
		if len(f.Body) > excerptBytes {
			f.Body = f.Body[:excerptBytes]
		}
		col.res.FirstFailure = &f
	}
	col.res.Samples = append(col.res.Samples, s)
}

func (col *collector) addError(e string) {
	if i, ok := col.errIdx[e]; ok {
		col.res.Errors[i].Count++
		return
	}
	if len(col.res.Errors) >= MaxErrors {
		col.res.OtherErrors++
		return
	}
	col.errIdx[e] = len(col.res.Errors)
	col.res.Errors = append(col.res.Errors, ErrorCount{Error: e, Count: 1})
}

// served is who answered, as the collector judges it.
type served struct {
	key              string // ServedBy key
	known, backendOK bool
}

// identityKey is the headers that identify who answered.
type identityKey struct{ identity, server string }

// maxIdentities bounds the identification cache (an attack meets a handful
// of backends; a misbehaving one with a new pod per answer is not cached).
const maxIdentities = 64

// identify reads who answered from the response headers, caching by their
// values: thousands of answers come from the same few pods.
func (col *collector) identify(h http.Header) served {
	k := identityKey{h.Get(identity.Header), h.Get("Server")}
	if v, ok := col.ids[k]; ok {
		return v
	}
	id := probe.Identify(h)
	v := served{key: servedByKey(id), known: id.Known(), backendOK: col.backendOK(id)}
	if len(col.ids) < maxIdentities {
		col.ids[k] = v
	}
	return v
}

// statusOK: one of the budget's success statuses, else what the case expects.
func (col *collector) statusOK(status int) bool {
	return statusOK(col.b, col.cs, status)
}

func statusOK(b *contract.Budget, cs *contract.Case, status int) bool {
	if status == 0 {
		return false
	}
	if len(b.SuccessStatuses) > 0 {
		for _, s := range b.SuccessStatuses {
			if s == status {
				return true
			}
		}
		return false
	}
	return cs.Expect.StatusOK(status)
}

// backendOK: the case's backend (or a member of its group); for a case
// that expects no backend, nobody identifiable.
func (col *collector) backendOK(id identity.Identity) bool {
	if col.cs.Expect.ServedBy == "" {
		return !id.Known()
	}
	return col.c.Allows(col.cs.Expect.ServedBy, id.Backend())
}

func servedByKey(id identity.Identity) string {
	if id.Known() {
		return id.Backend()
	}
	return id.String() // "unidentified (Server \"ATS\")" or "nobody identifiable"
}

// expected describes a success for messages.
func expected(b *contract.Budget, cs *contract.Case) string {
	var status string
	if len(b.SuccessStatuses) > 0 {
		parts := make([]string, len(b.SuccessStatuses))
		for i, s := range b.SuccessStatuses {
			parts[i] = fmt.Sprint(s)
		}
		status = "status " + strings.Join(parts, " or ")
	} else if w := cs.Expect.WantStatus(); w == "any status" {
		status = w
	} else {
		status = "status " + w
	}
	who := "nobody identifiable"
	if cs.Expect.ServedBy != "" {
		who = cs.Expect.ServedBy
	}
	return status + " from " + who
}

// finish computes the summary figures into res.
func (col *collector) finish(res *Result) {
	got := col.res
	res.Requests = got.Requests
	res.Statuses = got.Statuses
	res.ServedBy = got.ServedBy
	res.Cached = got.Cached
	res.Errors = got.Errors
	res.OtherErrors = got.OtherErrors
	res.Successes = got.Successes
	res.WrongBackend = got.WrongBackend
	res.WrongBackends = got.WrongBackends
	res.FirstFailure = got.FirstFailure
	sort.Slice(got.Samples, func(i, j int) bool { return got.Samples[i].Seq < got.Samples[j].Seq })
	// vegeta's own figures (percentiles by its t-digest), on the latency
	// this package judges, computed after the attack so the result loop
	// stays light.
	for _, s := range got.Samples {
		col.m.Add(&vegeta.Result{Code: uint16(s.Status), Timestamp: col.begin.Add(s.Offset), Latency: s.Latency})
	}
	col.m.Close()
	shift := col.first.Sub(col.begin)
	for i := range got.Samples {
		got.Samples[i].Offset -= shift
	}
	res.Samples = got.Samples
	if got.Requests == 0 {
		return
	}
	res.SuccessRatio = float64(got.Successes) / float64(got.Requests)
	l := col.m.Latencies
	res.Latencies = Latencies{Min: l.Min, Mean: l.Mean, P50: l.P50, P90: l.P90, P95: l.P95, P99: l.P99, Max: l.Max}
	res.Span = col.m.End.Sub(col.m.Earliest)
	res.AchievedRate = res.RequestedRate
	if got.Requests > 1 && res.RequestedRate > 0 {
		span := col.last.Sub(col.first)
		if span > 0 {
			res.AchievedRate = float64(got.Requests-1) / span.Seconds()
		}
		res.Lag = span - time.Duration(float64(got.Requests-1)/res.RequestedRate*float64(time.Second))
	}
	if res.AchievedRate < ShortfallRatio*res.RequestedRate && res.Lag > ShortfallSlack {
		res.RateShortfall = true
	}
}
