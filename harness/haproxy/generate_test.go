package haproxy

import (
	"regexp"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/routing"
)

// header is a Gateway and the Services and Deployments every test input
// shares; tests add VirtualServices.
const header = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: web}
spec:
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [site.example, "*.wild.example", "*.b.wild.example"]
    tls: {mode: SIMPLE}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: any, namespace: web}
spec:
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE}
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: v1
kind: Service
metadata: {name: main-svc, namespace: web}
spec:
  selector: {routed_via: main}
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
`

var testPods = map[string][]string{
	"web/web.eqiad.main":   {"127.0.0.1:1001", "127.0.0.1:1002"},
	"web/web.eqiad.canary": {"127.0.0.1:1003"},
}

func model(t *testing.T, vs string) *istio.Model {
	t.Helper()
	in, err := routing.Parse("input.yaml", []byte(header+vs))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	m, err := istio.New(in)
	if err != nil {
		t.Fatalf("model: %v", err)
	}
	return m
}

func opts() Options {
	return Options{Listen: "127.0.0.1:18443", Dir: "/etc/haproxy/pretrain", CertKeyPEM: []byte("pem"), Pods: testPods}
}

func generate(t *testing.T, vs string) Config {
	t.Helper()
	c, err := Generate(model(t, vs), opts())
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	return c
}

// rules returns the config lines that contain substr, without comments.
func rules(c Config, substr string) []string {
	var out []string
	for _, l := range strings.Split(c.Text, "\n") {
		code, _, _ := strings.Cut(l, "  # ")
		if strings.Contains(code, substr) && !strings.HasPrefix(strings.TrimSpace(code), "#") {
			out = append(out, strings.TrimSpace(code))
		}
	}
	return out
}

const twoRoutes = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: web}
spec:
  gateways: [gw]
  hosts: [site.example, "*.wild.example"]
  http:
  - name: debug
    match:
    - headers:
        x-wikimedia-debug: {regex: "(backend=)?k8s-mw-pretrain.*"}
    - uri: {exact: /debug}
      method: {prefix: PO}
    route:
    - destination: {host: main-svc}
  - name: main
    match:
    - uri: {prefix: /}
    route:
    - destination: {host: main-svc}
`

func TestExampleInputEveryRuleHasItsPosition(t *testing.T) {
	in, err := configtarget.Input{}.Read()
	if err != nil {
		t.Fatal(err)
	}
	m, err := istio.New(in)
	if err != nil {
		t.Fatal(err)
	}
	pods := map[string][]string{}
	for _, d := range in.Deployments {
		pods[d.Key()] = []string{"127.0.0.1:1"}
	}
	o := opts()
	o.Pods = pods
	c, err := Generate(m, o)
	if err != nil {
		t.Fatal(err)
	}
	pos := regexp.MustCompile(`  # fixtures/routes/[a-z-]+\.yaml:\d+:\d+: `)
	n := 0
	for _, l := range strings.Split(c.Text, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "acl ") || strings.HasPrefix(l, "http-request set-var(txn.route)") ||
			strings.HasPrefix(l, "http-request set-var(txn.srv)") || strings.HasPrefix(l, "http-request set-var(txn.vs)") ||
			strings.HasPrefix(l, "use_backend") || strings.HasPrefix(l, "server p") {
			n++
			if !pos.MatchString(l) {
				t.Errorf("no source position: %s", l)
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d rules checked", n)
	}
	// The debug route is tried before main, and every route the model has
	// is in the config.
	debug := strings.Index(c.Text, "(debug) spec.http[0].match[0]")
	main := strings.Index(c.Text, "(main) spec.http[1].match[0]")
	if debug < 0 || main < 0 || debug > main {
		t.Errorf("debug route (at %d) must come before main (at %d)", debug, main)
	}
	for _, r := range m.Routes() {
		if !strings.Contains(c.Text, `set-header X-Pretrain-Route "`+r.String()+`"`) {
			t.Errorf("route %s has no %s", r, RouteHeader)
		}
	}
}

func TestRoutesInOrderBlocksOredConditionsAnded(t *testing.T) {
	c := generate(t, twoRoutes)
	got := rules(c, "set-var(txn.route)")
	want := []string{
		`http-request set-var(txn.route) int(0) if { var(txn.vs) -m int 0 } !{ var(txn.route) -m found } { var(txn.h0) -m reg '\A(?:(?:(?:(?:backend\x3D))?)(?:k8s\x2Dmw\x2Dpretrain)(?:[\x00-\x09\x0B-\x7F\x80-\xFF]*))\z' }`,
		`http-request set-var(txn.route) int(0) if { var(txn.vs) -m int 0 } !{ var(txn.route) -m found } { path -m str /debug } { method -m beg PO }`,
		`http-request set-var(txn.route) int(1) if { var(txn.vs) -m int 0 } !{ var(txn.route) -m found } { pathq -m beg / }`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("route rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// First match wins: every rule is guarded by "no route yet", and the
	// 404 for no route comes after them.
	if i, j := strings.Index(c.Text, "int(1) if { var(txn.vs) -m int 0 }"), strings.Index(c.Text, `"none: no route of VirtualService web/vs matches"`); i < 0 || j < i {
		t.Errorf("the no-route 404 must follow the routes")
	}
}

func TestSNIAndHostWildcards(t *testing.T) {
	c := generate(t, twoRoutes)
	// Exact names, then the longest wildcard, then "*" (which takes every
	// SNI, so the sni frontend rejects nothing but non-TLS).
	got := rules(c, "set-var(txn.srv)")
	want := []string{
		`http-request set-var(txn.srv) int(0) if !{ var(txn.srv) -m found } { ssl_fc_sni,lower -m str site.example }`,
		`http-request set-var(txn.srv) int(0) if !{ var(txn.srv) -m found } { ssl_fc_sni,lower -m reg '\A[\x00-\xFF]+\x2Eb\x2Ewild\x2Eexample\z' }`,
		`http-request set-var(txn.srv) int(0) if !{ var(txn.srv) -m found } { ssl_fc_sni,lower -m reg '\A[\x00-\xFF]+\x2Ewild\x2Eexample\z' }`,
		`http-request set-var(txn.srv) int(1) if !{ var(txn.srv) -m found }`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("server rules:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(rules(c, "reject unless sni_listed")) != 0 {
		t.Errorf(`a "*" server takes every SNI: nothing may be rejected by name`)
	}
	// Host: the VirtualService's "*.wild.example" on the server's
	// "*.b.wild.example" is the narrower domain.
	hosts := rules(c, "set-var(txn.vs)")
	want = []string{
		`http-request set-var(txn.vs) int(0) if { var(txn.srv) -m int 0 } !{ var(txn.vs) -m found } { var(txn.host) -m str site.example }`,
		`http-request set-var(txn.vs) int(0) if { var(txn.srv) -m int 0 } !{ var(txn.vs) -m found } { var(txn.host) -m reg '\A[\x00-\xFF]+\x2Eb\x2Ewild\x2Eexample\z' }`,
		`http-request set-var(txn.vs) int(0) if { var(txn.srv) -m int 0 } !{ var(txn.vs) -m found } { var(txn.host) -m reg '\A[\x00-\xFF]+\x2Ewild\x2Eexample\z' }`,
	}
	if strings.Join(hosts, "\n") != strings.Join(want, "\n") {
		t.Errorf("host rules:\n%s\nwant:\n%s", strings.Join(hosts, "\n"), strings.Join(want, "\n"))
	}
	if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "port 80 is not the listener's port 443") {
		t.Errorf("notes %q, want the port 80 server named", c.Notes)
	}
}

func TestSNIRejectsUnlistedNames(t *testing.T) {
	in, err := configtarget.Input{}.Read()
	if err != nil {
		t.Fatal(err)
	}
	m, err := istio.New(in)
	if err != nil {
		t.Fatal(err)
	}
	o := opts()
	o.Pods = map[string][]string{}
	for _, d := range in.Deployments {
		o.Pods[d.Key()] = []string{"127.0.0.1:1"}
	}
	c, err := Generate(m, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules(c, "tcp-request content reject unless sni_listed")) != 1 {
		t.Error("the sni frontend must reject SNIs no server lists")
	}
	if n := len(rules(c, "acl sni_listed")); n != len(m.ServerNames()) {
		t.Errorf("%d sni ACLs, want one per server name (%d)", n, len(m.ServerNames()))
	}
}

// A value from the input never reaches haproxy.cfg raw: exact and prefix
// values outside a plain alphabet, and every regex, become byte-escaped
// single-quoted patterns; route names in log-format strings are escaped.
func TestValuesCannotInjectConfig(t *testing.T) {
	const evil = `a" b#c\d'e%[src]${HOME}`
	yamlEvil := strings.ReplaceAll(evil, "'", "''")
	c := generate(t, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: web}
spec:
  gateways: [gw]
  hosts: [site.example]
  http:
  - name: 'n"a#m%e\$'
    match:
    - headers:
        x-a: {exact: '`+yamlEvil+`'}
        x-b: {prefix: '`+yamlEvil+`'}
        x-c: {regex: 'a b#c\\d''e"'}
      uri: {exact: "/a b"}
      queryParams:
        'q#': {exact: '`+yamlEvil+`'}
    route:
    - destination: {host: main-svc}
`)
	for _, l := range strings.Split(c.Text, "\n") {
		code, _, _ := strings.Cut(l, "  # ")
		if strings.HasPrefix(strings.TrimSpace(code), "#") {
			continue
		}
		for _, frag := range []string{"b#c", `'e`, "a b", "${HOME}", "%[src]"} {
			if strings.Contains(code, frag) {
				t.Errorf("raw input %q in: %s", frag, code)
			}
		}
		for _, m := range regexp.MustCompile(`-m reg '([^']*)'`).FindAllStringSubmatch(code, -1) {
			if !safePattern(m[1]) {
				t.Errorf("pattern %q holds a character outside the safe set", m[1])
			}
		}
	}
	want := `http-after-response set-header X-Pretrain-Route "web/vs http[0] (n\"a#m%%e\\\$)" if { var(txn.route) -m int 0 }`
	if got := rules(c, "set-header X-Pretrain-Route"); len(got) != 1 || got[0] != want {
		t.Errorf("route header rule %q, want %q", got, want)
	}
	if got := rules(c, "var(txn.h0) -m reg"); len(got) != 1 || !strings.Contains(got[0], `'\Aa\x22\x20b\x23c\x5Cd\x27e\x25\x5Bsrc\x5D\x24\x7BHOME\x7D\z'`) {
		t.Errorf("exact header rule %q: want the value byte-escaped and anchored", got)
	}
	if got := rules(c, "-m reg '\\Aa\\x22\\x20b\\x23c\\x5Cd\\x27e\\x25"); len(got) != 1 {
		t.Errorf("want one rule with the escaped value, got %q", got)
	}
}

func TestRegexTranslation(t *testing.T) {
	for _, tc := range []struct {
		re, want string
	}{
		{`abc`, `\A(?:abc)\z`},
		{`a|b`, `\A(?:(?:[\x61-\x62]))\z`},
		{`ab|cd`, `\A(?:(?:ab)|(?:cd))\z`},
		{`^a$`, `\A(?:(?:\A)(?:a)(?:\z))\z`},
		{`a.b`, `\A(?:(?:a)(?:(?:[\x00-\x09\x0B-\x7F]|` + validMB + `|` + invalidByte + `))(?:b))\z`},
		{`[a-c]+`, `\A(?:[\x61-\x63]+)\z`},
		{`[^/]*`, `\A(?:[\x00-\x2E\x30-\x7F\x80-\xFF]*)\z`},
		{`(?i)k`, `\A(?:(?:K|k|\xE2\x84\xAA))\z`},
		{`x{2,3}`, `\A(?:(?:x){2,3})\z`},
		{`\s`, `\A(?:(?:[\x09-\x0A\x0C-\x0D\x20]))\z`},
		{`é`, `\A(?:\xC3\xA9)\z`},
	} {
		got, err := translateRegex(tc.re, "")
		if err != nil {
			t.Errorf("%s: %v", tc.re, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.re, got, tc.want)
		}
		if !safePattern(got) {
			t.Errorf("%s: %q is not safe in a quoted word", tc.re, got)
		}
	}
	// A query value stops at "&": excluded from classes, refused as a literal.
	if got, _ := translateRegex(`.*`, "&"); got != `\A(?:[\x00-\x09\x0B-\x25\x27-\x7F\x80-\xFF]*)\z` {
		t.Errorf(".* without &: %s", got)
	}
	if got, _ := translateRegex(`a&b`, "&"); !strings.Contains(got, `(?!)`) {
		t.Errorf("a&b without &: %s, want a never-matching literal", got)
	}
}

func TestRegexRefusals(t *testing.T) {
	for _, tc := range []struct{ re, want string }{
		{`(?m)^a$`, "multi-line anchors"},
		{`\pL+`, "non-ASCII runes"},
		{`[^é]`, "non-ASCII runes"},
		{`(a+)+`, "nested unbounded repetition"},
		{`(a*b)*`, "nested unbounded repetition"},
		{`a(`, "compile regex"},
	} {
		_, err := translateRegex(tc.re, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.re, err, tc.want)
		}
	}
}

// Every construct that cannot be expressed is refused, all at once, each
// naming the object, the field and its position.
func TestRefusalsNameTheConstructAndPosition(t *testing.T) {
	m := model(t, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: web}
spec:
  gateways: [gw]
  hosts: [site.example]
  http:
  - name: bad
    match:
    - headers:
        x-a: {regex: '(?m)^a$'}
        host: {exact: site.example}
      uri: {prefix: /É, }
      ignoreUriCase: true
    route:
    - destination: {host: main-svc}
`)
	o := opts()
	o.Pods = map[string][]string{"web/web.eqiad.main": {"127.0.0.1:1"}} // canary missing
	_, err := Generate(m, o)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`input.yaml:56:9: VirtualService web/vs spec.http[0].match[0].headers[x-a]: translate regex "(?m)^a$"`,
		`spec.http[0].match[0].headers[host]: header "host" is consumed by the proxy`,
		`spec.http[0].match[0].uri: prefix "/É" with ignoreUriCase is not ASCII`,
		`web/vs http[0] (bad): Deployment web/web.eqiad.canary gets 33.3% of the traffic and no pod address was given for it`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if !strings.HasPrefix(err.Error(), "generate haproxy config: ") {
		t.Errorf("error %q: want the verb object prefix", err)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	m := model(t, twoRoutes)
	for _, tc := range []struct {
		edit func(*Options)
		want string
	}{
		{func(o *Options) { o.Listen = "127.0.0.1:1 ssl" }, "check listen address"},
		{func(o *Options) { o.Dir = "relative" }, "check directory"},
		{func(o *Options) { o.Dir = "/tmp/a b" }, "check directory"},
		{func(o *Options) { o.CertKeyPEM = nil }, "check certificate"},
		{func(o *Options) { o.Pods = map[string][]string{"web/web.eqiad.main": {"127.0.0.1:1 backup"}} }, "check pod address"},
		{func(o *Options) { o.Port = 8443 }, "none on port 8443"},
	} {
		o := opts()
		tc.edit(&o)
		if _, err := Generate(m, o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestPodsWeightedByShare(t *testing.T) {
	c := generate(t, twoRoutes)
	// main has 2 replicas and canary 1 of the Service's 3: one third each
	// per pod, so equal weights.
	got := rules(c, "server p")
	want := []string{"server p0 127.0.0.1:1001 weight 256", "server p1 127.0.0.1:1002 weight 256", "server p2 127.0.0.1:1003 weight 256"}
	if strings.Join(got[:3], "\n") != strings.Join(want, "\n") {
		t.Errorf("servers %q, want %q", got[:3], want)
	}
	c = generate(t, `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: web}
spec:
  gateways: [gw]
  hosts: [site.example]
  http:
  - route:
    - destination: {host: main-svc}
      weight: 90
    - destination: {host: missing-svc}
      weight: 10
`)
	// The missing Service gets no server: its 10% goes to the others, as
	// the model's pick among resolved backends does.
	if got := rules(c, "server p"); len(got) != 3 {
		t.Errorf("servers %q, want the three pods of main-svc", got)
	}
}
