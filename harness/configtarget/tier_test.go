package configtarget

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/routing"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

// A small input of our own: one Gateway, one VirtualService with a header
// route before a catch-all, a canary behind the main Service.
const input = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: web}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [site.example, alias.example]
    tls: {mode: SIMPLE, credentialName: c}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: web}
spec:
  gateways: [gw]
  hosts: [site.example, alias.example]
  http:
  - name: special
    match:
    - headers:
        x-pick: {exact: special}
    route:
    - destination: {host: special-svc}
  - name: default
    match:
    - uri: {prefix: /}
    route:
    - destination: {host: main-svc}
---
apiVersion: v1
kind: Service
metadata: {name: main-svc, namespace: web}
spec:
  selector: {routed_via: main}
  ports: [{port: 4457}]
---
apiVersion: v1
kind: Service
metadata: {name: special-svc, namespace: web}
spec:
  selector: {release: special}
  ports: [{port: 4457}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web.eqiad.main, namespace: web}
spec:
  replicas: 2
  selector: {matchLabels: {release: main}}
  template:
    metadata: {labels: {release: main, routed_via: main}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web.eqiad.canary, namespace: web}
spec:
  replicas: 1
  selector: {matchLabels: {release: canary}}
  template:
    metadata: {labels: {release: canary, routed_via: main}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web.eqiad.special, namespace: web}
spec:
  replicas: 1
  selector: {matchLabels: {release: special}}
  template:
    metadata: {labels: {release: special}}
`

func startTier(t *testing.T) *Tier {
	t.Helper()
	in, err := routing.Parse("input.yaml", []byte(input))
	if err != nil {
		t.Fatalf("parse input: %v", err)
	}
	m, err := istio.New(in)
	if err != nil {
		t.Fatalf("model: %v", err)
	}
	tier, err := Start(context.Background(), m)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := tier.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return tier
}

// get sends a request as the probe does: to the tier's address, with the
// case's host as Host and SNI, verifying TLS against the tier's CA.
func get(t *testing.T, tier *Tier, sni, host string, header http.Header) (*http.Response, error) {
	t.Helper()
	ep, err := tier.Target().Endpoint("ingress")
	if err != nil {
		t.Fatal(err)
	}
	tlsConf := ep.TLS.Clone()
	tlsConf.ServerName = sni
	tr := &http.Transport{
		TLSClientConfig: tlsConf,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, tier.Addr())
		},
	}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, "https://"+host+"/wiki/Main_Page", nil)
	req.Header = header
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

func TestTierRoutesByTheModelAndIdentifiesByServer(t *testing.T) {
	tier := startTier(t)
	for _, tc := range []struct {
		name, sni, host string
		header          http.Header
		want            []string // releases that may answer
		status          int
		route           string
	}{
		{"catch-all", "site.example", "site.example", nil, []string{"main", "canary"}, 200, "web/vs http[1] (default)"},
		{"header route first", "site.example", "site.example", http.Header{"X-Pick": {"special"}}, []string{"special"}, 200, "web/vs http[0] (special)"},
		{"header value anchored", "site.example", "site.example", http.Header{"X-Pick": {"special-not"}}, []string{"main", "canary"}, 200, "web/vs http[1] (default)"},
		{"other listed SNI, Host by VS", "alias.example", "alias.example", nil, []string{"main", "canary"}, 200, "web/vs http[1] (default)"},
		{"Host no VirtualService lists", "site.example", "other.example", nil, nil, 404, "none: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := get(t, tier, tc.sni, tc.host, tc.header)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get(RouteHeader); !strings.HasPrefix(got, tc.route) {
				t.Errorf("%s %q, want %q", RouteHeader, got, tc.route)
			}
			if resp.Header.Get(identity.Header) != "" {
				t.Errorf("identity header %q leaked: pods must be identified by Server alone", resp.Header.Get(identity.Header))
			}
			id, ok := identity.FromServer(resp.Header.Get("Server"))
			if tc.want == nil {
				if ok || resp.Header.Get("Server") != "istio-envoy" {
					t.Errorf("Server %q, want the gateway's own istio-envoy", resp.Header.Get("Server"))
				}
				return
			}
			if !ok || id.Namespace != "web" || !contains(tc.want, id.Release) {
				t.Errorf("served by %q, want one of releases %v", resp.Header.Get("Server"), tc.want)
			}
		})
	}
}

func TestTierRefusesAnUnlistedSNI(t *testing.T) {
	tier := startTier(t)
	_, err := get(t, tier, "unlisted.example", "site.example", nil)
	if err == nil {
		t.Fatal("handshake with an SNI no Gateway lists succeeded")
	}
	var alert tls.AlertError
	if !errors.As(err, &alert) && !strings.Contains(err.Error(), "tls") {
		t.Errorf("error %v, want a TLS handshake failure", err)
	}
}

func TestTierSpreadsMainTrafficByReplicas(t *testing.T) {
	tier := startTier(t)
	counts := map[string]int{}
	for range 90 {
		resp, err := get(t, tier, "site.example", "site.example", nil)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := identity.FromServer(resp.Header.Get("Server"))
		counts[id.Release]++
	}
	// canary has 1 of 3 pods: P(0 or 90 of 90 to canary) is negligible.
	if counts["canary"] == 0 || counts["main"] == 0 || counts["canary"]+counts["main"] != 90 {
		t.Errorf("answers by release %v: want both main and canary, nothing else", counts)
	}
}

func TestTargetEntries(t *testing.T) {
	tier := startTier(t)
	for _, e := range Entries {
		if _, err := tier.Target().Endpoint(e); err != nil {
			t.Errorf("entry %s: %v", e, err)
		}
	}
	_, err := tier.Target().Endpoint("edge")
	if !errors.Is(err, target.ErrNotApplicable) || !strings.Contains(err.Error(), "ingress gateway") {
		t.Errorf("edge: %v, want not applicable with the reason", err)
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
