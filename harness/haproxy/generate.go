// Package haproxy translates the routing model (harness/istio) into an
// HAProxy 2.6 configuration, so the kind replica routes the same input as
// the config tier on a real proxy, with production's topology: one TLS
// listener, the Gateway server picked by SNI, the VirtualService by Host,
// then its HTTP routes in order, first match wins.
//
// The listener is two HAProxy frontends. The first reads the TLS
// ClientHello without terminating it and closes the connection when no
// Gateway server takes the SNI (Envoy has no filter chain for it), then
// hands the connection to the second over an abstract socket; the second
// terminates TLS and routes. A server host "*.example.org" takes any
// number of labels before ".example.org", as Envoy's server names do,
// which a crt-list SNI filter (one label) cannot express.
//
// Every rule and ACL carries a comment with the position (file:line:col)
// of the Istio field it comes from. What cannot be expressed faithfully is
// an error naming the construct and its position, never dropped.
package haproxy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/routing"
	networking "istio.io/api/networking/v1alpha3"
)

// RouteHeader is the response header naming the route taken
// ("mw-pretrain/mediawiki-main http[0] (debug)") or why there was none
// ("none: ..."), as on the config tier.
const RouteHeader = "X-Pretrain-Route"

// IdentityHeader is the stubs' identity header, removed from every
// response: pods are identified by Server alone, as in production.
const IdentityHeader = "X-Pretrain-Identity"

// MaxHeaderLines is how many lines of one matched request header the
// proxy joins (with ",", as Envoy does) before matching; a request sending
// more is refused with 431 and a RouteHeader saying so.
const MaxHeaderLines = 16

// File names in Options.Dir.
const (
	ConfigFile = "haproxy.cfg"
	CertFile   = "ingress.pem"
)

// Options says where the proxy listens and what stands behind it.
type Options struct {
	// Listen is the TLS listener's address, e.g. "127.0.0.1:18443" or
	// "0.0.0.0:30443".
	Listen string
	// Port is the Gateway server port the listener stands for (default
	// istio.DefaultPort).
	Port int
	// Dir is the absolute directory haproxy reads CertFile from (Config.Write
	// writes the configuration and the files there).
	Dir string
	// CertKeyPEM is the serving certificate (chain) and its private key,
	// PEM, for the Gateways' hosts (istio.Model.ServerNames) as SANs.
	CertKeyPEM []byte
	// Pods are the pod addresses (host:port) of each Deployment, by
	// "namespace/name". Every Deployment a route sends traffic to needs one.
	Pods map[string][]string
	// ResolveAtRuntime resolves the pod addresses' names through the
	// system's resolv.conf while running, not once at start: in a cluster
	// whose DNS comes up with the proxy, it starts and serves as soon as
	// the names resolve.
	ResolveAtRuntime bool
	// Socket is the abstract socket name between the two frontends
	// (default: derived from Dir and Listen, so instances do not collide).
	Socket string
}

// Config is a generated configuration.
type Config struct {
	Dir   string
	Text  string            // haproxy.cfg
	Files map[string][]byte // other files, by name within Dir
	// Notes lists what the listener does not serve, e.g. Gateway servers on
	// other ports.
	Notes []string
	// JoinedHeaders are the request headers a route matches on a value of
	// (lowercase): the proxy joins at most MaxHeaderLines lines of each.
	JoinedHeaders []string
}

// Write writes haproxy.cfg and the files into Dir (the key readable by the
// owner only).
func (c Config) Write() error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("write haproxy config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, ConfigFile), []byte(c.Text), 0o644); err != nil {
		return fmt.Errorf("write haproxy config: %w", err)
	}
	for name, data := range c.Files {
		if err := os.WriteFile(filepath.Join(c.Dir, name), data, 0o600); err != nil {
			return fmt.Errorf("write haproxy config file %q: %w", name, err)
		}
	}
	return nil
}

// Path is haproxy.cfg's path.
func (c Config) Path() string { return filepath.Join(c.Dir, ConfigFile) }

// NoVirtualService is the RouteHeader of the 404 for a Host no
// VirtualService bound to the Gateway takes.
func NoVirtualService(gateway string) string {
	return "none: Host matches no VirtualService bound to " + gateway
}

// NoRoute is the RouteHeader of the 404 for a request no route of the
// VirtualService matches.
func NoRoute(virtualService string) string {
	return "none: no route of VirtualService " + virtualService + " matches"
}

// RouteHeaderFor is the RouteHeader the generated proxy sends for the
// model's decision ("" for a TLS failure, no answer, or a 503 without a
// route).
func RouteHeaderFor(d istio.Decision) string {
	switch {
	case d.Route != nil:
		return d.Route.String()
	case d.Outcome == istio.NoRoute && d.VirtualService != "":
		return NoRoute(d.VirtualService)
	case d.Outcome == istio.NoRoute && d.Server != nil:
		return NoVirtualService(d.Server.Gateway)
	}
	return ""
}

// TooManyLines is the RouteHeader of the 431 for more than MaxHeaderLines
// lines of a matched header.
func TooManyLines(header string) string {
	return fmt.Sprintf("refused: more than %d %s header lines", MaxHeaderLines, header)
}

// Generate translates the model into an HAProxy 2.6 configuration. Every
// construct it cannot express faithfully is reported, all together.
func Generate(m *istio.Model, opts Options) (Config, error) {
	g := &gen{m: m, opts: opts, headerVar: map[string]int{}}
	if g.opts.Port == 0 {
		g.opts.Port = istio.DefaultPort
	}
	g.checkOptions()
	g.collect()
	if len(g.errs) > 0 {
		return Config{}, fmt.Errorf("generate haproxy config: %w", errors.Join(g.errs...))
	}
	text := g.render()
	for _, m := range regPatternRE.FindAllStringSubmatch(text, -1) {
		if !safePattern(m[1]) {
			g.errs = append(g.errs, fmt.Errorf("check pattern %q: holds a character that is not safe in a quoted haproxy.cfg word", m[1]))
		}
	}
	if len(g.errs) > 0 {
		return Config{}, fmt.Errorf("generate haproxy config: %w", errors.Join(g.errs...))
	}
	return Config{Dir: g.opts.Dir, Text: text, Files: map[string][]byte{CertFile: opts.CertKeyPEM}, Notes: g.notes, JoinedHeaders: g.headerNames}, nil
}

type gen struct {
	m    *istio.Model
	opts Options
	errs []error

	notes   []string
	servers []*srv
	vss     []*vs
	routes  []*rt
	// headerVar numbers every header a value matcher reads (lowercase name).
	headerVar   map[string]int
	headerNames []string
}

type srv struct {
	id    int
	gw    *routing.Gateway
	index int
	hosts []srvHost
}

type srvHost struct {
	ns, host string // ns "" means any namespace
	pos      routing.Position
	field    string
}

type vs struct {
	id    int
	obj   *routing.VirtualService
	hosts []string
	gws   []string
	// domains per server id: the patterns the Host must match, most
	// specific first.
	routes []*rt
}

type rt struct {
	id     int
	ref    istio.RouteRef
	vs     *vs
	blocks []block // none: every request
	// backends: weighted pod addresses; empty: no destination has a pod.
	servers []podServer
	dests   []string // for the comment
}

type block struct {
	pos   routing.Position
	field string
	conds []cond
	never bool // a condition is statically false
	// gateways restricts the block to these server ids (nil: any).
	servers []int
}

// cond is one ACL term of a block: a fetch, a match method and a pattern,
// or a negated term.
type cond struct {
	text string // e.g. `{ method -m str GET }` or `!{ ... }`
}

type podServer struct {
	addr       string
	weight     int
	deployment string
	pos        routing.Position
}

func (g *gen) fail(pos routing.Position, format string, args ...any) {
	g.errs = append(g.errs, fmt.Errorf("%s: %s", pos, fmt.Sprintf(format, args...)))
}

func (g *gen) checkOptions() {
	if _, _, err := net.SplitHostPort(g.opts.Listen); err != nil || !safeWord(g.opts.Listen) {
		g.errs = append(g.errs, fmt.Errorf("check listen address %q: want host:port", g.opts.Listen))
	}
	if !filepath.IsAbs(g.opts.Dir) || !safeWord(g.opts.Dir) {
		g.errs = append(g.errs, fmt.Errorf("check directory %q: want an absolute path of letters, digits and ._-/", g.opts.Dir))
	}
	if len(g.opts.CertKeyPEM) == 0 {
		g.errs = append(g.errs, errors.New("check certificate: no certificate and key PEM given"))
	}
	if g.opts.Socket == "" {
		sum := sha256.Sum256([]byte(g.opts.Dir + "\x00" + g.opts.Listen))
		g.opts.Socket = "pretrain-ingress-" + hex.EncodeToString(sum[:])[:12]
	}
	if !safeWord(g.opts.Socket) {
		g.errs = append(g.errs, fmt.Errorf("check socket name %q: want letters, digits and ._-", g.opts.Socket))
	}
	for key, addrs := range g.opts.Pods {
		for _, a := range addrs {
			if _, _, err := net.SplitHostPort(a); err != nil || !safeWord(a) {
				g.errs = append(g.errs, fmt.Errorf("check pod address %q of Deployment %q: want host:port", a, key))
			}
		}
	}
}

// safeWord reports whether s can be written unquoted in haproxy.cfg.
var safeWordRE = regexp.MustCompile(`^[A-Za-z0-9._/:\[\]-]+$`)

func safeWord(s string) bool { return safeWordRE.MatchString(s) }

// collect reads the model's input into servers, virtual services and
// routes, checking each construct.
func (g *gen) collect() {
	in := g.m.Input()
	for _, gw := range in.Gateways {
		for i, s := range gw.Spec.GetServers() {
			path := fmt.Sprintf("spec.servers[%d]", i)
			if int(s.GetPort().GetNumber()) != g.opts.Port {
				g.notes = append(g.notes, fmt.Sprintf("%s: %s %s: port %d is not the listener's port %d: not served", gw.FieldPos(path), gw.Ref(), path, s.GetPort().GetNumber(), g.opts.Port))
				continue
			}
			if p := strings.ToUpper(s.GetPort().GetProtocol()); p != "HTTPS" {
				g.fail(gw.FieldPos(path+".port.protocol"), "%s %s.port.protocol: %s on the TLS listener's port %d: only HTTPS servers are translated", gw.Ref(), path, p, g.opts.Port)
				continue
			}
			sv := &srv{id: len(g.servers), gw: gw, index: i}
			for j, h := range s.GetHosts() {
				field := fmt.Sprintf("%s.hosts[%d]", path, j)
				sh := srvHost{host: strings.ToLower(h), pos: gw.FieldPos(field), field: field}
				if ns, host, ok := strings.Cut(h, "/"); ok {
					sh.host = strings.ToLower(host)
					switch ns {
					case ".":
						sh.ns = gw.Namespace
					case "*":
					default:
						sh.ns = ns
					}
				}
				if err := checkHostPattern(sh.host); err != nil {
					g.fail(sh.pos, "%s %s: %v", gw.Ref(), field, err)
					continue
				}
				sv.hosts = append(sv.hosts, sh)
			}
			g.servers = append(g.servers, sv)
		}
	}
	if len(g.servers) == 0 {
		g.errs = append(g.errs, fmt.Errorf("find Gateway servers: none on port %d", g.opts.Port))
	}
	refs := map[string]istio.RouteRef{}
	for _, r := range g.m.Routes() {
		refs[fmt.Sprintf("%s/%d", r.VirtualService, r.Index)] = r
	}
	for _, v := range in.VirtualServices {
		x := &vs{id: len(g.vss), obj: v}
		for i, h := range v.Spec.GetHosts() {
			h = strings.ToLower(h)
			if err := checkHostPattern(h); err != nil {
				g.fail(v.FieldPos(fmt.Sprintf("spec.hosts[%d]", i)), "%s spec.hosts[%d]: %v", v.Ref(), i, err)
			}
			x.hosts = append(x.hosts, h)
		}
		for _, ref := range v.Spec.GetGateways() {
			if key := resolveGateway(ref, v.Namespace); key != "" {
				x.gws = append(x.gws, key)
			}
		}
		for i, h := range v.Spec.GetHttp() {
			ref, ok := refs[fmt.Sprintf("%s/%d", v.Key(), i)]
			if !ok {
				g.fail(v.FieldPos(fmt.Sprintf("spec.http[%d]", i)), "%s spec.http[%d]: not a route of the model", v.Ref(), i)
				continue
			}
			r := &rt{id: len(g.routes), ref: ref, vs: x}
			for j, mr := range h.GetMatch() {
				r.blocks = append(r.blocks, g.block(v, fmt.Sprintf("spec.http[%d].match[%d]", i, j), mr))
			}
			g.destinations(r, h)
			if strings.ContainsFunc(ref.String(), isCtl) {
				g.fail(ref.Pos, "%s spec.http[%d]: the route name %q holds a control character: it cannot be sent in %s", v.Ref(), i, ref.Name, RouteHeader)
			}
			x.routes = append(x.routes, r)
			g.routes = append(g.routes, r)
		}
		g.vss = append(g.vss, x)
	}
}

func isCtl(r rune) bool { return r < 0x20 || r == 0x7f }

// checkHostPattern refuses host patterns the Host and SNI rules cannot
// compare faithfully: the model lowercases with Unicode rules, HAProxy
// ASCII; a ":" or "[" would be cut by port stripping.
func checkHostPattern(h string) error {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c >= 0x80 || c < 0x21 || c == 0x7f || c == ':' || c == '[' || c == ']' {
			return fmt.Errorf("host %q: only printable ASCII without \":\", \"[\" or \"]\" is translated", h)
		}
	}
	return nil
}

// resolveGateway is the model's reading of a VirtualService's gateway
// reference ("mesh" is no Gateway).
func resolveGateway(ref, ns string) string {
	if ref == "mesh" {
		return ""
	}
	if _, _, ok := strings.Cut(ref, "/"); ok {
		return ref
	}
	return ns + "/" + ref
}

// headerVarFor numbers a header a value matcher reads.
func (g *gen) headerVarFor(name string) int {
	if n, ok := g.headerVar[name]; ok {
		return n
	}
	n := len(g.headerNames)
	g.headerVar[name] = n
	g.headerNames = append(g.headerNames, name)
	return n
}

var tokenRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// hopHeaders are consumed by the proxy (and by Envoy) before routing, or
// not in the header map the model reads: a match on them is refused.
var hopHeaders = map[string]bool{
	"host": true, "connection": true, "keep-alive": true, "proxy-connection": true,
	"transfer-encoding": true, "te": true, "upgrade": true, "trailer": true,
}

func (g *gen) block(v *routing.VirtualService, field string, mr *networking.HTTPMatchRequest) block {
	b := block{pos: v.FieldPos(field), field: field}
	bad := func(sub, format string, args ...any) {
		g.fail(v.FieldPos(field+"."+sub), "%s %s.%s: %s", v.Ref(), field, sub, fmt.Sprintf(format, args...))
	}
	add := func(c string, err error, sub string) {
		if err != nil {
			bad(sub, "%v", err)
			return
		}
		b.conds = append(b.conds, cond{text: c})
	}
	if u := mr.GetUri(); u != nil {
		// The model: exact and regex compare the path without the query,
		// prefix the whole request target (after dot-segment removal).
		fetch := "path"
		if _, ok := u.GetMatchType().(*networking.StringMatch_Prefix); ok {
			fetch = "pathq"
		}
		c, err := stringCond(fetch, u, mr.GetIgnoreUriCase(), "")
		add(c, err, "uri")
	}
	if s := mr.GetScheme(); s != nil {
		ok, err := staticMatch(s, "https")
		if err != nil {
			bad("scheme", "%v", err)
		}
		b.never = b.never || !ok
	}
	if mr.GetPort() != 0 && int(mr.GetPort()) != g.opts.Port {
		b.never = true
	}
	if s := mr.GetMethod(); s != nil {
		c, err := stringCond("method", s, false, "")
		add(c, err, "method")
	}
	if s := mr.GetAuthority(); s != nil {
		// The model compares the Host as sent (port and case kept).
		c, err := stringCond("req.fhdr(host)", s, false, "")
		add(c, err, "authority")
	}
	for _, k := range sortedKeys(mr.GetHeaders()) {
		c, err := g.headerCond(k, mr.GetHeaders()[k])
		add(c, err, "headers["+k+"]")
	}
	for _, k := range sortedKeys(mr.GetWithoutHeaders()) {
		c, err := g.headerCond(k, mr.GetWithoutHeaders()[k])
		if err == nil {
			c = "!" + c
		}
		add(c, err, "withoutHeaders["+k+"]")
	}
	for _, k := range sortedKeys(mr.GetQueryParams()) {
		c, err := queryCond(k, mr.GetQueryParams()[k])
		add(c, err, "queryParams["+k+"]")
	}
	if gws := mr.GetGateways(); len(gws) > 0 {
		b.servers = []int{}
		for _, ref := range gws {
			key := resolveGateway(ref, v.Namespace)
			for _, s := range g.servers {
				if s.gw.Key() == key {
					b.servers = append(b.servers, s.id)
				}
			}
		}
		if len(b.servers) == 0 {
			b.never = true
		}
	}
	return b
}

// headerCond is "header present and its joined value matches" as one
// braced ACL term.
func (g *gen) headerCond(name string, sm *networking.StringMatch) (string, error) {
	lname := strings.ToLower(name)
	if !tokenRE.MatchString(name) {
		return "", fmt.Errorf("header name %q is not an HTTP token", name)
	}
	if hopHeaders[lname] {
		return "", fmt.Errorf("header %q is consumed by the proxy before routing (or is not in the header map the model reads): not translated", lname)
	}
	if sm.GetMatchType() == nil {
		return fmt.Sprintf("{ req.fhdr_cnt(%s) gt 0 }", lname), nil
	}
	n := g.headerVarFor(lname)
	return stringCond(fmt.Sprintf("var(txn.h%d)", n), sm, false, "")
}

// queryCond matches the first parameter named name (undecoded, as the
// model reads it) against sm, on the raw query string.
func queryCond(name string, sm *networking.StringMatch) (string, error) {
	if name == "" {
		return "", errors.New("empty parameter name")
	}
	var value string
	var acceptsEmpty bool
	switch t := sm.GetMatchType().(type) {
	case nil:
		value, acceptsEmpty = notAmp+`*`, true
	case *networking.StringMatch_Exact:
		if strings.Contains(t.Exact, "&") {
			value = `(?!)`
		} else {
			value = literalBytes(t.Exact)
		}
		acceptsEmpty = t.Exact == ""
	case *networking.StringMatch_Prefix:
		if strings.Contains(t.Prefix, "&") {
			value = `(?!)`
		} else {
			value = literalBytes(t.Prefix) + notAmp + `*`
		}
		acceptsEmpty = t.Prefix == ""
	case *networking.StringMatch_Regex:
		re, err := translateRegex(t.Regex, "&")
		if err != nil {
			return "", err
		}
		value = strings.TrimSuffix(strings.TrimPrefix(re, `\A`), `\z`)
		acceptsEmpty = regexp.MustCompile(`^(?:` + t.Regex + `)$`).MatchString("")
	default:
		return "", fmt.Errorf("query parameter match %T is not translated", t)
	}
	lit := literalBytes(name)
	// Skip the parameters before the first one named name; that one's
	// value (after "=", or "" without "=") must match.
	skip := `(?:(?!` + lit + `(?:=|\x26|\z))` + notAmp + `*\x26)*`
	val := `=(?:` + value + `)`
	if acceptsEmpty {
		val = `(?:` + val + `)?`
	}
	return regTerm("query", `\A`+skip+lit+val+`(?:\x26|\z)`), nil
}

// notAmp is any byte but "&".
const notAmp = `[\x00-\x25\x27-\xFF]`

// staticMatch evaluates a StringMatch on a value known when generating
// (the scheme).
func staticMatch(sm *networking.StringMatch, v string) (bool, error) {
	switch t := sm.GetMatchType().(type) {
	case nil:
		return true, nil
	case *networking.StringMatch_Exact:
		return v == t.Exact, nil
	case *networking.StringMatch_Prefix:
		return strings.HasPrefix(v, t.Prefix), nil
	case *networking.StringMatch_Regex:
		re, err := regexp.Compile(`^(?:` + t.Regex + `)$`)
		if err != nil {
			return false, fmt.Errorf("compile regex %q: %w", t.Regex, err)
		}
		return re.MatchString(v), nil
	}
	return false, fmt.Errorf("string match %T is not translated", sm.GetMatchType())
}

// regPatternRE finds the patterns of -m reg terms.
var regPatternRE = regexp.MustCompile(`-m reg '([^']*)'`)

// plainRE is a value written as is after -m str / -m beg: it cannot be
// read as a flag, and needs no quoting.
var plainRE = regexp.MustCompile(`^[A-Za-z0-9/.][A-Za-z0-9._~/:=@+-]*$`)

// stringCond is a braced ACL term matching fetch against a StringMatch.
func stringCond(fetch string, sm *networking.StringMatch, fold bool, exclude string) (string, error) {
	switch t := sm.GetMatchType().(type) {
	case nil:
		return fmt.Sprintf("{ %s -m found }", fetch), nil
	case *networking.StringMatch_Exact:
		switch {
		case fold && strings.ContainsRune(t.Exact, utf8RuneError):
			return "", fmt.Errorf("exact %q with ignoreUriCase holds U+FFFD, which case-insensitive comparison matches to any invalid byte: not translated", t.Exact)
		case fold:
			return regTerm(fetch, `\A`+foldUnicode(t.Exact)+`\z`), nil
		case plainRE.MatchString(t.Exact):
			return fmt.Sprintf("{ %s -m str %s }", fetch, t.Exact), nil
		}
		return regTerm(fetch, `\A`+literalBytes(t.Exact)+`\z`), nil
	case *networking.StringMatch_Prefix:
		switch {
		case fold && !isASCII(t.Prefix):
			return "", fmt.Errorf("prefix %q with ignoreUriCase is not ASCII: the model compares a byte-length prefix case-insensitively, not translated", t.Prefix)
		case fold:
			return regTerm(fetch, `\A`+foldASCII(t.Prefix)), nil
		case plainRE.MatchString(t.Prefix):
			return fmt.Sprintf("{ %s -m beg %s }", fetch, t.Prefix), nil
		}
		return regTerm(fetch, `\A`+literalBytes(t.Prefix)), nil
	case *networking.StringMatch_Regex:
		// ignoreUriCase does not apply to a regex (Envoy, and the model).
		re, err := translateRegex(t.Regex, exclude)
		if err != nil {
			return "", err
		}
		return regTerm(fetch, re), nil
	}
	return "", fmt.Errorf("string match %T is not translated", sm.GetMatchType())
}

const utf8RuneError = '\uFFFD'

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// regTerm is a braced regex ACL term; the pattern is single-quoted, and
// holds only characters that cannot end the quote.
func regTerm(fetch, pattern string) string {
	return fmt.Sprintf("{ %s -m reg '%s' }", fetch, pattern)
}

// destinations resolves a route's destinations to weighted pods, with the
// model's shares.
func (g *gen) destinations(r *rt, h *networking.HTTPRoute) {
	v := r.vs.obj
	var total int64
	for _, d := range h.GetRoute() {
		total += int64(d.GetWeight())
	}
	type share struct {
		key   string
		share float64
		pos   routing.Position
	}
	var shares []share
	for j, d := range h.GetRoute() {
		s := 0.0
		switch {
		case len(h.GetRoute()) == 1:
			s = 1
		case total > 0:
			s = float64(d.GetWeight()) / float64(total)
		}
		r.dests = append(r.dests, fmt.Sprintf("%s %.0f%%", d.GetDestination().GetHost(), s*100))
		_, backends, err := g.m.Resolve(v.Namespace, d.GetDestination().GetHost(), d.GetDestination().GetPort().GetNumber())
		if err != nil {
			r.dests[len(r.dests)-1] += " (no pods: " + oneLine(err.Error()) + ")"
		}
		for _, b := range backends {
			if b.Share*s <= 0 {
				continue
			}
			key := b.Namespace + "/" + b.Deployment
			if len(g.opts.Pods[key]) == 0 {
				g.fail(v.FieldPos(fmt.Sprintf("spec.http[%d].route[%d]", r.ref.Index, j)), "%s: Deployment %s gets %.1f%% of the traffic and no pod address was given for it", r.ref, key, b.Share*s*100)
				continue
			}
			shares = append(shares, share{key: key, share: b.Share * s, pos: b.Pos})
		}
	}
	// One server per pod, weighted by its share (HAProxy weights are
	// integers 1..256: the largest pod share becomes 256).
	var maxPod float64
	for _, s := range shares {
		maxPod = math.Max(maxPod, s.share/float64(len(g.opts.Pods[s.key])))
	}
	for _, s := range shares {
		pods := g.opts.Pods[s.key]
		per := s.share / float64(len(pods))
		w := max(1, int(math.Round(per/maxPod*256)))
		for _, a := range pods {
			r.servers = append(r.servers, podServer{addr: a, weight: w, deployment: s.key, pos: s.pos})
		}
	}
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if isCtl(r) {
			return ' '
		}
		return r
	}, s)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
