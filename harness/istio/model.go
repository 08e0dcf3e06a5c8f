// Package istio is the model of Istio's ingress routing that pretrain-check
// evaluates the rendered routing input with: a request (SNI, port, Host,
// method, path, headers) goes to a Gateway server chosen by SNI, to the
// VirtualService bound to that Gateway whose hosts match the Host, to its
// first HTTP route that matches, and to the Services and Deployments behind
// the route's destinations. Every decision says why each earlier candidate
// did not match, for `pretrain-check routes explain`.
//
// The semantics follow the Istio API reference
// (istio.io/latest/docs/reference/config/networking/), cited at each rule,
// and Envoy's behaviour where Istio delegates to it (regexes are RE2 and
// fully anchored). Fields the model does not implement never reach it: the
// loader (harness/routing) refuses them.
package istio

import (
	"fmt"
	"strings"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/routing"
	networking "istio.io/api/networking/v1alpha3"
)

// ClusterDomain is the Kubernetes cluster domain of destination hosts
// ("<service>.<namespace>.svc.cluster.local").
const ClusterDomain = "cluster.local"

// DefaultPort is the port of a Request that names none: the ingress
// gateway's HTTPS port (reached in production through node port 30443).
const DefaultPort = 443

// Model is the routing input, checked and indexed for evaluation. It is
// immutable and safe for concurrent use.
type Model struct {
	in       *routing.Input
	gateways map[string]*gateway // namespace/name
	gwOrder  []*gateway
	vss      []*virtualService
	services map[string]*routing.Service // namespace/name
	deploys  []*routing.Deployment
	notices  []string
}

type gateway struct {
	obj     *routing.Gateway
	key     string
	servers []*server
}

type server struct {
	gw       *gateway
	index    int
	port     int
	protocol string // "HTTPS" or "HTTP"
	hosts    []serverHost
	name     string
	pos      routing.Position
}

type virtualService struct {
	obj      *routing.VirtualService
	key      string
	hosts    []string
	gateways []string // resolved namespace/name (mesh dropped)
	exportTo []string
	routes   []*route
}

type route struct {
	vs       *virtualService
	index    int
	name     string
	pos      routing.Position
	blocks   []*matchBlock // empty: matches every request
	blockPos []routing.Position
	dests    []*destination
}

type destination struct {
	host   string
	port   uint32
	weight int32
	pos    routing.Position
}

// New checks the input for what Istio would refuse or treat ambiguously and
// builds the model. Problems are returned together as *routing.Problems.
func New(in *routing.Input) (*Model, error) {
	m := &Model{in: in, gateways: map[string]*gateway{}, services: map[string]*routing.Service{}}
	var ps routing.Problems
	for _, g := range in.Gateways {
		m.addGateway(g, &ps)
	}
	m.checkServerConflicts(&ps)
	for _, v := range in.VirtualServices {
		m.addVirtualService(v, &ps)
	}
	m.checkHostConflicts(&ps)
	for _, s := range in.Services {
		m.services[s.Key()] = s
	}
	m.deploys = in.Deployments
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

// Input is the routing input the model was built from.
func (m *Model) Input() *routing.Input { return m.in }

// Notices lists what the model noticed but does not refuse, e.g. a
// VirtualService bound to a Gateway that is not in the input.
func (m *Model) Notices() []string { return m.notices }

func (m *Model) addGateway(g *routing.Gateway, ps *routing.Problems) {
	gw := &gateway{obj: g, key: g.Key()}
	m.gateways[gw.key] = gw
	m.gwOrder = append(m.gwOrder, gw)
	for i, s := range g.Spec.GetServers() {
		path := fmt.Sprintf("spec.servers[%d]", i)
		srv := &server{gw: gw, index: i, name: s.GetName(), pos: g.FieldPos(path), port: int(s.GetPort().GetNumber())}
		bad := func(field, format string, args ...any) {
			ps.Add(g.FieldPos(path+"."+field), "%s: %s.%s: %s", g.Ref(), path, field, fmt.Sprintf(format, args...))
		}
		if s.GetPort() == nil || s.GetPort().GetNumber() == 0 {
			bad("port.number", "missing")
			continue
		}
		// Istio API reference: Gateway "Port.protocol": HTTP|HTTPS|GRPC|GRPC-WEB|HTTP2|MONGO|TCP|TLS.
		switch proto := strings.ToUpper(s.GetPort().GetProtocol()); proto {
		case "HTTPS":
			srv.protocol = "HTTPS"
			if s.GetTls() == nil {
				bad("tls", "missing: an HTTPS server needs TLS settings")
				continue
			}
			// Istio API reference: Gateway "ServerTLSSettings.TLSmode"
			// (PASSTHROUGH when not set).
			switch s.GetTls().GetMode() {
			case networking.ServerTLSSettings_SIMPLE:
			case networking.ServerTLSSettings_MUTUAL, networking.ServerTLSSettings_OPTIONAL_MUTUAL:
				bad("tls.mode", "not modelled: %s needs a client certificate", s.GetTls().GetMode())
				continue
			default:
				bad("tls.mode", "not modelled: %s (only SIMPLE TLS termination is)", s.GetTls().GetMode())
				continue
			}
		case "HTTP", "HTTP2":
			srv.protocol = "HTTP"
			if s.GetTls().GetHttpsRedirect() {
				bad("tls.httpsRedirect", "not modelled: the gateway answers every request with a redirect to HTTPS")
				continue
			}
		default:
			bad("port.protocol", "not modelled: %q (only HTTPS and HTTP servers are)", s.GetPort().GetProtocol())
			continue
		}
		if len(s.GetHosts()) == 0 {
			bad("hosts", "missing: a server needs at least one host")
			continue
		}
		for j, h := range s.GetHosts() {
			sh := parseServerHost(h, g.Namespace)
			if sh.host == "" || strings.Contains(sh.host[min(1, len(sh.host)):], "*") {
				bad(fmt.Sprintf("hosts[%d]", j), "invalid host %q", h)
				continue
			}
			srv.hosts = append(srv.hosts, sh)
		}
		gw.servers = append(gw.servers, srv)
	}
}

// checkServerConflicts refuses two servers on one port with different
// protocols, and two HTTPS servers listing the same host: Istio keeps only
// one of them (the oldest Gateway), which rendered output cannot tell.
func (m *Model) checkServerConflicts(ps *routing.Problems) {
	type first struct {
		srv  *server
		host string
	}
	protos := map[int]*server{}
	hosts := map[string]first{}
	for _, gw := range m.gwOrder {
		for _, s := range gw.servers {
			if p, ok := protos[s.port]; ok && p.protocol != s.protocol {
				ps.Add(s.pos, "%s: spec.servers[%d]: port %d is %s here and %s in %s server %d (%s): Istio cannot serve both",
					gw.obj.Ref(), s.index, s.port, s.protocol, p.protocol, p.gw.key, p.index, p.pos)
				continue
			}
			protos[s.port] = s
			if s.protocol != "HTTPS" {
				continue
			}
			for _, h := range s.hosts {
				k := fmt.Sprintf("%d/%s", s.port, h.host)
				if f, ok := hosts[k]; ok && f.srv != s {
					ps.Add(s.pos, "%s: spec.servers[%d]: host %q on port %d is also a host of %s server %d (%s): Istio keeps only the oldest",
						gw.obj.Ref(), s.index, h.host, s.port, f.srv.gw.key, f.srv.index, f.srv.pos)
					continue
				}
				hosts[k] = first{srv: s, host: h.host}
			}
		}
	}
}

// resolveGateway turns a VirtualService's gateway reference into
// namespace/name. Istio API reference: VirtualService "gateways": "<gateway
// namespace>/<gateway name>; a gateway without a namespace qualifier is
// inferred to be in the same namespace as the VirtualService"; "mesh" is
// every sidecar.
func resolveGateway(ref, vsNamespace string) (string, error) {
	if ref == "mesh" {
		return "", nil
	}
	if ns, name, ok := strings.Cut(ref, "/"); ok {
		return ns + "/" + name, nil
	}
	if strings.Contains(ref, ".") {
		return "", fmt.Errorf("not modelled: the legacy %q form (write namespace/name)", ref)
	}
	return vsNamespace + "/" + ref, nil
}

func (m *Model) addVirtualService(v *routing.VirtualService, ps *routing.Problems) {
	vs := &virtualService{obj: v, key: v.Key(), exportTo: v.Spec.GetExportTo()}
	bad := func(path, format string, args ...any) {
		ps.Add(v.FieldPos(path), "%s: %s: %s", v.Ref(), path, fmt.Sprintf(format, args...))
	}
	for i, h := range v.Spec.GetHosts() {
		if h == "" || strings.Contains(h[min(1, len(h)):], "*") || strings.Contains(h, "/") {
			bad(fmt.Sprintf("spec.hosts[%d]", i), "invalid host %q", h)
			continue
		}
		vs.hosts = append(vs.hosts, asciiLower(h))
	}
	if len(v.Spec.GetHosts()) == 0 {
		bad("spec.hosts", "missing: a VirtualService needs at least one host")
	}
	for i, g := range v.Spec.GetGateways() {
		key, err := resolveGateway(g, v.Namespace)
		if err != nil {
			bad(fmt.Sprintf("spec.gateways[%d]", i), "%v", err)
			continue
		}
		if key == "" {
			continue
		}
		vs.gateways = append(vs.gateways, key)
		if _, ok := m.gateways[key]; !ok {
			m.notices = append(m.notices, fmt.Sprintf("%s: %s: spec.gateways[%d]: Gateway %s is not in the input: its routes are not reachable here",
				v.FieldPos(fmt.Sprintf("spec.gateways[%d]", i)), v.Ref(), i, key))
		}
	}
	for i, h := range v.Spec.GetHttp() {
		path := fmt.Sprintf("spec.http[%d]", i)
		r := &route{vs: vs, index: i, name: h.GetName(), pos: v.FieldPos(path)}
		for j, mr := range h.GetMatch() {
			bpath := fmt.Sprintf("%s.match[%d]", path, j)
			b, errs := compileBlock(mr, v.Namespace)
			for _, e := range errs {
				bad(bpath+"."+e.field, "%v", e.err)
			}
			r.blocks = append(r.blocks, b)
			r.blockPos = append(r.blockPos, v.FieldPos(bpath))
		}
		if len(h.GetRoute()) == 0 {
			bad(path, "no route: an HTTP route needs a destination (redirect and direct responses are not modelled)")
		}
		var total int64
		for j, d := range h.GetRoute() {
			dpath := fmt.Sprintf("%s.route[%d]", path, j)
			host := d.GetDestination().GetHost()
			if host == "" {
				bad(dpath+".destination.host", "missing")
				continue
			}
			if strings.Contains(host, "*") {
				bad(dpath+".destination.host", "invalid host %q: a destination names one host", host)
				continue
			}
			if d.GetWeight() < 0 {
				bad(dpath+".weight", "negative weight %d", d.GetWeight())
				continue
			}
			total += int64(d.GetWeight())
			r.dests = append(r.dests, &destination{host: host, port: d.GetDestination().GetPort().GetNumber(), weight: d.GetWeight(), pos: v.FieldPos(dpath)})
		}
		if len(h.GetRoute()) > 1 && total == 0 {
			bad(path+".route", "every destination has weight 0: no traffic can be routed")
		}
		vs.routes = append(vs.routes, r)
	}
	m.vss = append(m.vss, vs)
}

type fieldErr struct {
	field string
	err   error
}

func compileBlock(mr *networking.HTTPMatchRequest, vsNamespace string) (*matchBlock, []fieldErr) {
	var errs []fieldErr
	b := &matchBlock{name: mr.GetName(), port: mr.GetPort()}
	one := func(field string, sm *networking.StringMatch) *stringMatch {
		if sm == nil {
			return nil
		}
		c, err := compileStringMatch(sm)
		if err != nil {
			errs = append(errs, fieldErr{field + ".regex", err})
		}
		return &c
	}
	b.uri = one("uri", mr.GetUri())
	if b.uri != nil && mr.GetIgnoreUriCase() && b.uri.kind != "regex" {
		// Istio API reference: HTTPMatchRequest "ignoreUriCase": "Flag to
		// specify whether the URI matching should be case-insensitive";
		// Envoy ignores it for regexes.
		b.uri.fold = true
	}
	b.scheme = one("scheme", mr.GetScheme())
	b.method = one("method", mr.GetMethod())
	b.authority = one("authority", mr.GetAuthority())
	for _, k := range sortedKeys(mr.GetHeaders()) {
		if c := one("headers["+k+"]", mr.GetHeaders()[k]); c != nil {
			b.headers = append(b.headers, headerMatch{name: strings.ToLower(k), m: *c})
		}
	}
	for _, k := range sortedKeys(mr.GetWithoutHeaders()) {
		if c := one("withoutHeaders["+k+"]", mr.GetWithoutHeaders()[k]); c != nil {
			b.withoutHeaders = append(b.withoutHeaders, headerMatch{name: strings.ToLower(k), m: *c})
		}
	}
	for _, k := range sortedKeys(mr.GetQueryParams()) {
		// Istio API reference: HTTPMatchRequest "queryParams": exact ("?key"
		// is exact ""), prefix or regex, on the parameter's value.
		if c := one("queryParams["+k+"]", mr.GetQueryParams()[k]); c != nil {
			b.queryParams = append(b.queryParams, queryMatch{name: k, m: *c})
		}
	}
	for i, g := range mr.GetGateways() {
		key, err := resolveGateway(g, vsNamespace)
		if err != nil {
			errs = append(errs, fieldErr{fmt.Sprintf("gateways[%d]", i), err})
			continue
		}
		if key == "" {
			key = "mesh"
		}
		b.gateways = append(b.gateways, key)
	}
	return b, errs
}

// checkHostConflicts refuses two VirtualServices bound to one Gateway with
// the same host: Istio merges their routes in creation order, which
// rendered output cannot tell.
func (m *Model) checkHostConflicts(ps *routing.Problems) {
	seen := map[string]*virtualService{}
	for _, vs := range m.vss {
		for _, g := range vs.gateways {
			gw := m.gateways[g]
			for i, h := range vs.hosts {
				if gw == nil || !gw.takes(vs.obj.Namespace, h) {
					continue
				}
				k := g + " " + h
				if f, ok := seen[k]; ok && f != vs {
					ps.Add(vs.obj.FieldPos(fmt.Sprintf("spec.hosts[%d]", i)), "%s: spec.hosts[%d]: host %q on Gateway %s is also a host of %s (%s): the order Istio merges them in is not in the input",
						vs.obj.Ref(), i, h, g, f.obj.Ref(), f.obj.Pos)
					continue
				}
				seen[k] = vs
			}
		}
	}
}

// takes reports whether a server of the Gateway lets a VirtualService in
// namespace ns serve host h (their host patterns overlap).
func (gw *gateway) takes(ns, h string) bool {
	for _, s := range gw.servers {
		for _, sh := range s.hosts {
			if sh.allows(ns) && (HostMatches(sh.host, h) || HostMatches(h, sh.host)) {
				return true
			}
		}
	}
	return false
}

// visibleTo reports whether the VirtualService is exported to a namespace.
// Istio API reference: VirtualService "exportTo": "." is the
// VirtualService's namespace, "*" every namespace; no value means every
// namespace.
func (vs *virtualService) visibleTo(ns string) bool {
	if len(vs.exportTo) == 0 {
		return true
	}
	for _, e := range vs.exportTo {
		if e == "*" || e == ns || (e == "." && ns == vs.obj.Namespace) {
			return true
		}
	}
	return false
}

// RouteRef identifies one HTTP route of a VirtualService.
type RouteRef struct {
	Gateways       []string         `json:"gateways"`       // namespace/name of each Gateway the VirtualService binds to
	VirtualService string           `json:"virtualService"` // namespace/name
	Index          int              `json:"index"`
	Name           string           `json:"name,omitempty"`
	Pos            routing.Position `json:"pos"`
}

// String renders the route as "mw-pretrain/mediawiki-main http[1] (main)".
func (r RouteRef) String() string {
	s := fmt.Sprintf("%s http[%d]", r.VirtualService, r.Index)
	if r.Name != "" {
		s += " (" + r.Name + ")"
	}
	return s
}

func (r *route) ref() RouteRef {
	return RouteRef{Gateways: append([]string(nil), r.vs.gateways...), VirtualService: r.vs.key, Index: r.index, Name: r.name, Pos: r.pos}
}

// Routes lists every HTTP route of every VirtualService, in input order,
// for route coverage.
func (m *Model) Routes() []RouteRef {
	var out []RouteRef
	for _, vs := range m.vss {
		for _, r := range vs.routes {
			out = append(out, r.ref())
		}
	}
	return out
}

// ServerNames lists every Gateway server host (without its namespace
// part), sorted and without duplicates: the names a certificate for the
// ingress gateway must carry.
func (m *Model) ServerNames() []string {
	set := map[string]bool{}
	for _, gw := range m.gwOrder {
		for _, s := range gw.servers {
			for _, h := range s.hosts {
				set[h.host] = true
			}
		}
	}
	return sortedKeys(set)
}

// Backend is one Deployment behind a destination.
type Backend struct {
	Namespace  string           `json:"namespace"`
	Deployment string           `json:"deployment"` // pods are named "<deployment>-<replicaset>-<pod>"
	Release    string           `json:"release"`    // the pod template's "release" label
	Replicas   int32            `json:"replicas"`
	Share      float64          `json:"share"` // of the traffic this resolution is for, 0..1
	Pos        routing.Position `json:"pos"`
}

// ServiceRef is the Service a destination host resolves to.
type ServiceRef struct {
	Namespace string           `json:"namespace"`
	Name      string           `json:"name"`
	Port      int32            `json:"port"`
	Pos       routing.Position `json:"pos"`
}

// Resolve finds the Service a destination host names, seen from a
// VirtualService in namespace ns, and the Deployments whose pods its
// selector picks, each with its share of the Service's traffic (replicas
// over all the selected replicas: kube-proxy and Envoy spread requests
// evenly over ready endpoints). port 0 means the Service's only port.
//
// Istio API reference: VirtualService "Destination.host": "short names ...
// interpreted ... based on the namespace of the rule"; a Kubernetes
// Service's FQDN is <name>.<namespace>.svc.cluster.local.
func (m *Model) Resolve(ns, host string, port uint32) (*ServiceRef, []Backend, error) {
	key := ""
	switch {
	case !strings.Contains(host, "."):
		key = ns + "/" + host
	case strings.HasSuffix(host, ".svc."+ClusterDomain):
		parts := strings.Split(strings.TrimSuffix(host, ".svc."+ClusterDomain), ".")
		if len(parts) == 2 {
			key = parts[1] + "/" + parts[0]
		}
	}
	if key == "" {
		return nil, nil, fmt.Errorf("resolve %q: not a Kubernetes Service name (<name> or <name>.<namespace>.svc.%s)", host, ClusterDomain)
	}
	svc, ok := m.services[key]
	if !ok {
		return nil, nil, fmt.Errorf("resolve %q: no Service %s in the input", host, key)
	}
	ref := &ServiceRef{Namespace: svc.Namespace, Name: svc.Name, Pos: svc.Pos}
	ports := svc.Service.Spec.Ports
	switch {
	case port == 0 && len(ports) == 1:
		ref.Port = ports[0].Port
	case port == 0:
		return ref, nil, fmt.Errorf("resolve %q: Service %s has %d ports and the destination names none", host, key, len(ports))
	default:
		for _, p := range ports {
			if uint32(p.Port) == port {
				ref.Port = p.Port
			}
		}
		if ref.Port == 0 {
			return ref, nil, fmt.Errorf("resolve %q: Service %s has no port %d", host, key, port)
		}
	}
	sel := svc.Service.Spec.Selector
	if len(sel) == 0 {
		return ref, nil, fmt.Errorf("resolve %q: Service %s has no selector (its endpoints are not in the input)", host, key)
	}
	var out []Backend
	var total int32
	for _, d := range m.deploys {
		if d.Namespace != svc.Namespace || !selects(sel, d.PodLabels()) {
			continue
		}
		out = append(out, Backend{Namespace: d.Namespace, Deployment: d.Name, Release: d.PodLabels()["release"], Replicas: d.Replicas(), Pos: d.Pos})
		total += d.Replicas()
	}
	if total == 0 {
		return ref, out, fmt.Errorf("resolve %q: Service %s selects no pods (selector %s)", host, key, selectorString(sel))
	}
	for i := range out {
		out[i].Share = float64(out[i].Replicas) / float64(total)
	}
	return ref, out, nil
}

func selects(sel, labels map[string]string) bool {
	for k, v := range sel {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

func selectorString(sel map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(sel) {
		parts = append(parts, k+"="+sel[k])
	}
	return strings.Join(parts, ",")
}
