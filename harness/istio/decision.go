package istio

import (
	"fmt"
	"net/http"
	"strings"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/routing"
)

// Request is what the model routes: the TLS server name and port the
// client connects with, and the HTTP request it sends.
type Request struct {
	SNI    string      `json:"sni"`
	Port   int         `json:"port"` // the Gateway server port; 0 means DefaultPort
	Host   string      `json:"host"` // the Host header (:authority), port allowed
	Method string      `json:"method"`
	Path   string      `json:"path"` // with the query string
	Header http.Header `json:"header,omitempty"`
}

// Outcome is how a request ends at the ingress gateway.
type Outcome int

const (
	// Routed: a route matched and its destinations have pods.
	Routed Outcome = iota + 1
	// NoRoute: the gateway answers 404 (no VirtualService host matches the
	// Host, or none of its routes matches).
	NoRoute
	// NoBackend: a route matched but no destination has a pod (Envoy
	// answers 503).
	NoBackend
	// TLSFailure: no Gateway server takes the SNI on that port; the TLS
	// handshake fails (no filter chain).
	TLSFailure
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case Routed:
		return "routed"
	case NoRoute:
		return "no route (404)"
	case NoBackend:
		return "no backend (503)"
	case TLSFailure:
		return "TLS handshake failure"
	}
	return "unknown"
}

// MarshalText makes the outcome readable in JSON.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// ServerRef identifies the Gateway server a request reached.
type ServerRef struct {
	Gateway  string           `json:"gateway"` // namespace/name
	Index    int              `json:"index"`
	Name     string           `json:"name,omitempty"`
	Port     int              `json:"port"`
	Protocol string           `json:"protocol"`
	Hosts    []string         `json:"hosts"` // as written
	Pos      routing.Position `json:"pos"`
	// GatewayPos is where the Gateway object starts.
	GatewayPos routing.Position `json:"gatewayPos"`
}

// String renders the server as "mw-pretrain/mediawiki-main servers[0] (port 443 HTTPS)".
func (s ServerRef) String() string {
	return fmt.Sprintf("%s servers[%d] (port %d %s)", s.Gateway, s.Index, s.Port, s.Protocol)
}

// Destination is one destination of the chosen route, resolved.
type Destination struct {
	Host    string           `json:"host"`
	Port    uint32           `json:"port,omitempty"`
	Weight  int32            `json:"weight"` // as written (0 with a single destination means all)
	Share   float64          `json:"share"`  // of the route's traffic, 0..1
	Service *ServiceRef      `json:"service,omitempty"`
	Error   string           `json:"error,omitempty"` // why it has no backends
	Pos     routing.Position `json:"pos"`
}

// RouteMiss says why a route did not take the request: for each of its
// match blocks, every condition that failed.
type RouteMiss struct {
	Route  RouteRef    `json:"route"`
	Blocks []BlockMiss `json:"blocks"`
}

// BlockMiss is one match block that did not match.
type BlockMiss struct {
	Index   int              `json:"index"`
	Name    string           `json:"name,omitempty"`
	Pos     routing.Position `json:"pos"`
	Reasons []string         `json:"reasons"`
}

// Decision is where the model sends a request, and why.
type Decision struct {
	Request Request `json:"request"`
	Outcome Outcome `json:"outcome"`
	// Status is the status the gateway itself answers with (404, 503), or
	// 0 when the request reaches a backend or the handshake fails.
	Status int    `json:"status,omitempty"`
	Reason string `json:"reason"` // one sentence
	// Path is the path routed on, after the gateway's normalisation.
	Path string `json:"path"`

	Server            *ServerRef       `json:"server,omitempty"`
	VirtualService    string           `json:"virtualService,omitempty"` // namespace/name
	VirtualServicePos routing.Position `json:"virtualServicePos,omitzero"`
	// Domain is the virtual host domain the Host matched (the more specific
	// of the VirtualService host and the server host).
	Domain string    `json:"domain,omitempty"`
	Route  *RouteRef `json:"route,omitempty"`
	// MatchBlock is the index of the match block that matched, or -1 when
	// the route has no match list (it matches everything).
	MatchBlock   int           `json:"matchBlock"`
	Destinations []Destination `json:"destinations,omitempty"`
	// Backends is every Deployment that can serve the request, with its
	// share of the route's traffic (the shares add up to 1 when every
	// destination resolves).
	Backends []Backend `json:"backends,omitempty"`
	// Skipped is every route tried before the chosen one (or every route,
	// when none matched), with why; plus the earlier match blocks of the
	// chosen route.
	Skipped []RouteMiss `json:"skipped,omitempty"`
	// Considered lists the candidates rejected before route matching: the
	// servers whose hosts did not take the SNI, the VirtualServices whose
	// hosts did not take the Host.
	Considered []string `json:"considered,omitempty"`
}

// Route evaluates a request. It never fails: a request the input does not
// route has an outcome that says so.
func (m *Model) Route(req Request) Decision {
	d := Decision{Request: req, MatchBlock: -1}
	port := req.Port
	if port == 0 {
		port = DefaultPort
	}
	d.Path = normalizePath(req.Path)

	// 1. The listener and server. Istio API reference: Gateway "Server":
	// an HTTPS server terminates TLS for the SNI names in hosts (Envoy
	// filter chain match on server_names: exact name first, then the
	// longest wildcard suffix, then a server for "*"); HTTP servers on one
	// port share one route table.
	var servers []*server
	proto := ""
	for _, gw := range m.gwOrder {
		for _, s := range gw.servers {
			if s.port == port {
				servers = append(servers, s)
				proto = s.protocol
			}
		}
	}
	var chosen []*server
	switch {
	case len(servers) == 0:
		d.Outcome = TLSFailure
		d.Reason = fmt.Sprintf("no Gateway server listens on port %d", port)
		return d
	case proto == "HTTPS":
		sni := asciiLower(req.SNI)
		var best *server
		bestRank := -1
		for _, s := range servers {
			for _, h := range s.hosts {
				if h.host != "*" && (sni == "" || !HostMatches(h.host, sni)) {
					continue
				}
				if r := HostSpecificity(h.host); r > bestRank {
					best, bestRank = s, r
				}
			}
		}
		if best == nil {
			d.Outcome = TLSFailure
			for _, s := range servers {
				d.Considered = append(d.Considered, fmt.Sprintf("%s: hosts %s do not take SNI %q", s.ref(), strings.Join(s.rawHosts(), ", "), req.SNI))
			}
			if req.SNI == "" {
				d.Reason = fmt.Sprintf("no SNI sent, and no HTTPS server on port %d takes a connection without one", port)
			} else {
				d.Reason = fmt.Sprintf("SNI %q is not a host of any HTTPS server on port %d", req.SNI, port)
			}
			return d
		}
		chosen = []*server{best}
	default:
		chosen = servers
	}
	if len(chosen) == 1 {
		sref := chosen[0].ref()
		d.Server = &sref
	}
	scheme := "https"
	if proto == "HTTP" {
		scheme = "http"
	}

	// 2. The virtual host. Istio API reference: VirtualService "hosts" and
	// "gateways", Gateway "Server.hosts" (namespace/host): a VirtualService
	// bound to the Gateway, exported to its namespace, serves the hosts
	// that match both its hosts and the server's; the most specific domain
	// wins. The Host is compared without its port, case-insensitively.
	host := asciiLower(stripPort(req.Host))
	var vs *virtualService
	var via *server
	bestRank := -1
	for _, s := range chosen {
		for _, v := range m.vss {
			if !contains(v.gateways, s.gw.key) {
				continue
			}
			if !v.visibleTo(s.gw.obj.Namespace) {
				d.Considered = append(d.Considered, fmt.Sprintf("VirtualService %s: not exported to namespace %s", v.key, s.gw.obj.Namespace))
				continue
			}
			domain := ""
			for _, vh := range v.hosts {
				if !HostMatches(vh, host) {
					continue
				}
				for _, sh := range s.hosts {
					if sh.allows(v.obj.Namespace) && HostMatches(sh.host, host) {
						if dm := moreSpecific(vh, sh.host); domain == "" || HostSpecificity(dm) > HostSpecificity(domain) {
							domain = dm
						}
					}
				}
			}
			if domain == "" {
				d.Considered = append(d.Considered, fmt.Sprintf("VirtualService %s: hosts %s do not take Host %q on %s", v.key, strings.Join(v.hosts, ", "), host, s.ref()))
				continue
			}
			if r := HostSpecificity(domain); r > bestRank {
				vs, via, bestRank, d.Domain = v, s, r, domain
			}
		}
	}
	if vs == nil {
		d.Outcome, d.Status = NoRoute, http.StatusNotFound
		var gws []string
		for _, s := range chosen {
			if !contains(gws, s.gw.key) {
				gws = append(gws, s.gw.key)
			}
		}
		d.Reason = fmt.Sprintf("Host %q matches no VirtualService bound to %s", host, strings.Join(gws, " or "))
		return d
	}
	d.VirtualService = vs.key
	sref := via.ref()
	d.Server = &sref
	d.VirtualServicePos = vs.obj.Pos

	// 3. The route. Istio API reference: VirtualService "http": "an ordered
	// list of route rules"; the first rule that matches wins.
	rv := reqView{path: d.Path, scheme: scheme, method: req.Method, authority: req.Host, port: port, header: req.Header, gateway: via.gw.key}
	for _, r := range vs.routes {
		miss := RouteMiss{Route: r.ref()}
		matched := -1
		if len(r.blocks) == 0 {
			matched = -1
		} else {
			for i, b := range r.blocks {
				why := b.why(rv)
				if len(why) == 0 {
					matched = i
					break
				}
				miss.Blocks = append(miss.Blocks, BlockMiss{Index: i, Name: b.name, Pos: r.blockPos[i], Reasons: why})
			}
			if matched < 0 {
				d.Skipped = append(d.Skipped, miss)
				continue
			}
		}
		if len(miss.Blocks) > 0 {
			d.Skipped = append(d.Skipped, miss)
		}
		ref := r.ref()
		d.Route = &ref
		d.MatchBlock = matched
		m.destinations(&d, r)
		return d
	}
	d.Outcome, d.Status = NoRoute, http.StatusNotFound
	d.Reason = fmt.Sprintf("no route of VirtualService %s matches", vs.key)
	return d
}

// destinations resolves the chosen route's destinations. Istio API
// reference: VirtualService "HTTPRouteDestination.weight": "the relative
// proportion of traffic to be forwarded to the destination ... If there is
// only one destination in a rule, it will receive all traffic."
func (m *Model) destinations(d *Decision, r *route) {
	var total int64
	for _, dst := range r.dests {
		total += int64(dst.weight)
	}
	for _, dst := range r.dests {
		out := Destination{Host: dst.host, Port: dst.port, Weight: dst.weight, Pos: dst.pos}
		switch {
		case len(r.dests) == 1:
			out.Share = 1
		case total > 0:
			out.Share = float64(dst.weight) / float64(total)
		}
		svc, backends, err := m.Resolve(r.vs.obj.Namespace, dst.host, dst.port)
		out.Service = svc
		if err != nil {
			out.Error = err.Error()
		}
		for _, b := range backends {
			b.Share *= out.Share
			if b.Share > 0 {
				d.Backends = append(d.Backends, b)
			}
		}
		d.Destinations = append(d.Destinations, out)
	}
	if len(d.Backends) == 0 {
		d.Outcome, d.Status = NoBackend, http.StatusServiceUnavailable
		d.Reason = fmt.Sprintf("%s matched, but no destination has a pod", d.Route)
		return
	}
	d.Outcome = Routed
	d.Reason = fmt.Sprintf("%s matched", d.Route)
}

func (s *server) ref() ServerRef {
	return ServerRef{Gateway: s.gw.key, Index: s.index, Name: s.name, Port: s.port, Protocol: s.protocol, Hosts: s.rawHosts(), Pos: s.pos, GatewayPos: s.gw.obj.Pos}
}

func (s *server) rawHosts() []string {
	out := make([]string, len(s.hosts))
	for i, h := range s.hosts {
		out[i] = h.raw
	}
	return out
}

// Explain is Route, for `pretrain-check routes explain`: the decision
// carries the explanation; Lines renders it.
func (m *Model) Explain(req Request) Decision { return m.Route(req) }

// Lines renders the decision as human-readable lines, first the outcome,
// then each step with its position and every candidate it passed over.
func (d Decision) Lines() []string {
	r := d.Request
	out := []string{fmt.Sprintf("%s %s (Host %q, SNI %q, port %d): %s: %s", r.Method, r.Path, r.Host, r.SNI, portOr(r.Port), d.Outcome, d.Reason)}
	if d.Path != r.Path {
		out = append(out, fmt.Sprintf("  path normalised to %s", d.Path))
	}
	for _, c := range d.Considered {
		out = append(out, "  passed over: "+c)
	}
	if d.Server != nil {
		out = append(out, fmt.Sprintf("  server: %s hosts %s (%s)", d.Server, strings.Join(d.Server.Hosts, ", "), d.Server.Pos))
	}
	if d.VirtualService != "" {
		out = append(out, fmt.Sprintf("  virtual service: %s, domain %s (%s)", d.VirtualService, d.Domain, d.VirtualServicePos))
	}
	for _, s := range d.Skipped {
		for _, b := range s.Blocks {
			label := fmt.Sprintf("match[%d]", b.Index)
			if b.Name != "" {
				label += " (" + b.Name + ")"
			}
			out = append(out, fmt.Sprintf("  %s %s did not match (%s): %s", s.Route, label, b.Pos, strings.Join(b.Reasons, "; ")))
		}
	}
	if d.Route != nil {
		which := "every request (no match list)"
		if d.MatchBlock >= 0 {
			which = fmt.Sprintf("match[%d]", d.MatchBlock)
		}
		out = append(out, fmt.Sprintf("  route: %s took it with %s (%s)", d.Route, which, d.Route.Pos))
	}
	for _, dst := range d.Destinations {
		line := fmt.Sprintf("  destination: %s", dst.Host)
		if dst.Port != 0 {
			line += fmt.Sprintf(":%d", dst.Port)
		}
		line += fmt.Sprintf(" %.0f%%", dst.Share*100)
		if dst.Service != nil {
			line += fmt.Sprintf(" -> Service %s/%s port %d", dst.Service.Namespace, dst.Service.Name, dst.Service.Port)
		}
		if dst.Error != "" {
			line += ": " + dst.Error
		}
		out = append(out, line+fmt.Sprintf(" (%s)", dst.Pos))
	}
	for _, b := range d.Backends {
		out = append(out, fmt.Sprintf("  backend: %s/%s release %s, %d replicas, %.1f%% (%s)", b.Namespace, b.Deployment, b.Release, b.Replicas, b.Share*100, b.Pos))
	}
	return out
}

func portOr(p int) int {
	if p == 0 {
		return DefaultPort
	}
	return p
}
