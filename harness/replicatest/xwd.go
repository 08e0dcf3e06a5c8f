package replicatest

import (
	"net/http"
	"regexp"
	"strings"
)

// xwdHeader is the X-Wikimedia-Debug request header.
const xwdHeader = "X-Wikimedia-Debug"

// xwd is a parsed X-Wikimedia-Debug header: ";"-separated tokens, each
// "key=value" or a bare flag. A bare token that is not a known flag is
// taken as the backend (the header may be just "k8s-mw-pretrain").
type xwd struct {
	present    bool   // the header was sent
	raw        string // the values as sent, joined with ";"
	hasBackend bool   // a backend= (possibly empty) or bare backend token was given
	backend    string
}

// xwdFlags are the bare tokens that are not backends.
var xwdFlags = map[string]bool{
	"profile":      true,
	"forceprofile": true,
	"readonly":     true,
	"log":          true,
	"shorttimeout": true,
	"expire":       true,
}

func parseXWD(h http.Header) xwd {
	values := h.Values(xwdHeader)
	if len(values) == 0 {
		return xwd{}
	}
	x := xwd{present: true, raw: strings.Join(values, ";")}
	for _, tok := range strings.Split(x.raw, ";") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		key, value, isKV := strings.Cut(tok, "=")
		key = strings.TrimSpace(key)
		switch {
		case isKV && key == "backend":
			if !x.hasBackend {
				x.hasBackend, x.backend = true, strings.TrimSpace(value)
			}
		case isKV, xwdFlags[key]:
			// another key=value or a known flag: not routing
		case !x.hasBackend:
			x.hasBackend, x.backend = true, key
		}
	}
	return x
}

// ingressXWDRegex is the main gateway's header match, fully anchored like every
// Istio regex.
var ingressXWDRegex = regexp.MustCompile(`^(?:(backend=)?k8s-mw-pretrain.*)$`)

// XWD backends by edge scope. Scope "pretrain" is test.wikipedia.org only;
// scope "default" is every other wiki.
var (
	pretrainScopeBackend = regexp.MustCompile(`^k8s-mw-pretrain(-eqiad|-codfw)?$`)
	mwdebugBackend       = regexp.MustCompile(`^k8s-mwdebug(-next)?$`)
	unstubbedBackend     = regexp.MustCompile(`^k8s-mw-(experimental|parsoid)-(eqiad|codfw)$`)
)

// debugRoutingHeader is the edge's answer to a backend unknown in scope.
const debugRoutingHeader = "X-Wikimedia-Debug-Routing"

func debugRoutingMessage(scope string) string {
	return "no match found for the backend specified in X-Wikimedia-Debug (scope: " + scope + ")"
}
