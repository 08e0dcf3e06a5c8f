package routing

import (
	"sort"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Treatment is what the loader does with an Istio field it finds set.
type Treatment int

const (
	// NotModelled fields change which destination a request reaches (or
	// whether it reaches one) and the model does not implement them: the
	// loader reports each as a problem. It is the treatment of every field
	// not listed in the policy table.
	NotModelled Treatment = iota
	// Modelled fields are evaluated by the model (harness/istio).
	Modelled
	// Accepted fields do not change which destination is chosen: the loader
	// keeps them and records a Notice; the model does not evaluate them.
	Accepted
)

// String names the treatment.
func (t Treatment) String() string {
	switch t {
	case Modelled:
		return "modelled"
	case Accepted:
		return "accepted, not evaluated"
	}
	return "not modelled"
}

// FieldPolicy is the treatment of one field of an Istio message.
type FieldPolicy struct {
	Message   string    `json:"message"` // Istio message, e.g. "HTTPRoute"
	Field     string    `json:"field"`   // camelCase field name, e.g. "timeout"
	Treatment Treatment `json:"treatment"`
	Reason    string    `json:"reason,omitempty"`
}

// The Istio API reference (istio.io/latest/docs/reference/config/networking/)
// names these messages; the model's semantics are in harness/istio.
const (
	whyTLSParams   = "certificate and TLS parameters do not choose the server or the route (a client that cannot negotiate them fails the handshake: not modelled)"
	whySelector    = "every Gateway is taken to select the one shared ingress gateway"
	whyName        = "a name only labels the object in stats and logs"
	whyTimeout     = "a timeout bounds the wait, it does not choose the destination"
	whyRetries     = "retries re-send to the same destination"
	whyHeaders     = "header manipulation happens after the destination is chosen"
	whyCors        = "CORS only adds response headers, and answers a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method) at the gateway: preflights are not modelled"
	whyRouteAction = "the route's action is not a destination"
)

// policies is the explicit table. Anything not listed is NotModelled.
var policies = map[string]map[string]FieldPolicy{}

func init() {
	add := func(msg, field string, t Treatment, reason string) {
		if policies[msg] == nil {
			policies[msg] = map[string]FieldPolicy{}
		}
		policies[msg][field] = FieldPolicy{Message: msg, Field: field, Treatment: t, Reason: reason}
	}
	m := func(msg string, fields ...string) {
		for _, f := range fields {
			add(msg, f, Modelled, "")
		}
	}
	a := func(msg, reason string, fields ...string) {
		for _, f := range fields {
			add(msg, f, Accepted, reason)
		}
	}
	n := func(msg, reason string, fields ...string) {
		for _, f := range fields {
			add(msg, f, NotModelled, reason)
		}
	}

	// Gateway (networking.istio.io Gateway).
	m("Gateway", "servers")
	a("Gateway", whySelector, "selector")
	m("Server", "port", "hosts", "tls")
	a("Server", whyName, "name")
	n("Server", "binds the listener to one address", "bind")
	n("Server", "only for sidecars", "defaultEndpoint")
	m("Port", "number", "protocol")
	a("Port", whyName, "name")
	a("Port", "deprecated, the gateway listens on number", "targetPort")
	m("ServerTLSSettings", "mode", "httpsRedirect")
	a("ServerTLSSettings", whyTLSParams, "serverCertificate", "privateKey",
		"caCertificates", "caCrl", "credentialName", "credentialNames", "caCertCredentialName",
		"tlsCertificates", "subjectAltNames", "verifyCertificateSpki", "verifyCertificateHash",
		"minProtocolVersion", "maxProtocolVersion", "cipherSuites", "ecdhCurves", "alpnProtocols",
		"insecureSkipVerify")

	// VirtualService (networking.istio.io VirtualService).
	m("VirtualService", "hosts", "gateways", "http", "exportTo")
	n("VirtualService", "TLS passthrough routes are not modelled", "tls")
	n("VirtualService", "TCP routes are not modelled", "tcp")
	m("HTTPRoute", "name", "match", "route")
	a("HTTPRoute", whyTimeout, "timeout")
	a("HTTPRoute", whyRetries, "retries")
	a("HTTPRoute", whyHeaders, "headers")
	a("HTTPRoute", whyCors, "corsPolicy")
	n("HTTPRoute", whyRouteAction+": a redirect answers at the gateway", "redirect")
	n("HTTPRoute", whyRouteAction+": a direct response answers at the gateway", "directResponse")
	n("HTTPRoute", "routes delegated to another VirtualService", "delegate")
	n("HTTPRoute", "changes the path or Host the backend sees", "rewrite")
	n("HTTPRoute", "aborts or delays requests at the gateway", "fault")
	n("HTTPRoute", "sends a copy of the request to another destination", "mirror", "mirrors", "mirrorPercent", "mirrorPercentage")
	m("HTTPMatchRequest", "name", "uri", "scheme", "method", "authority", "headers", "port",
		"queryParams", "ignoreUriCase", "withoutHeaders", "gateways")
	a("HTTPMatchRequest", whyName, "statPrefix")
	n("HTTPMatchRequest", "the source of a request at the ingress gateway is the gateway itself", "sourceLabels", "sourceNamespace")
	m("StringMatch", "exact", "prefix", "regex")
	m("HTTPRouteDestination", "destination", "weight")
	a("HTTPRouteDestination", whyHeaders, "headers")
	m("Destination", "host", "port")
	n("Destination", "subsets come from DestinationRules, which are not read", "subset")
	m("PortSelector", "number")
}

// Policy returns the treatment of an Istio message's field ("HTTPRoute",
// "timeout"); fields not in the table are NotModelled.
func Policy(message, field string) FieldPolicy {
	if p, ok := policies[message][field]; ok {
		return p
	}
	return FieldPolicy{Message: message, Field: field, Treatment: NotModelled, Reason: "not implemented by the routing model"}
}

// Policies lists the table, by message then field: every Modelled and
// Accepted field, and the NotModelled ones with a specific reason.
func Policies() []FieldPolicy {
	var out []FieldPolicy
	for _, fs := range policies {
		for _, p := range fs {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Message != out[j].Message {
			return out[i].Message < out[j].Message
		}
		return out[i].Field < out[j].Field
	})
	return out
}

// AcceptedFields lists the Accepted entries of the table ("HTTPRoute.timeout").
func AcceptedFields() []string {
	var out []string
	for _, p := range Policies() {
		if p.Treatment == Accepted {
			out = append(out, p.Message+"."+p.Field)
		}
	}
	return out
}

func policyFor(md protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor) FieldPolicy {
	return Policy(string(md.Name()), fd.JSONName())
}
