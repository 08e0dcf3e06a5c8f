package routing

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBrokenInputReportsEverything loads a file with problems in most of
// its documents and expects every one, in file order, with line:col.
func TestBrokenInputReportsEverything(t *testing.T) {
	in, err := Load([]string{"testdata/broken.yaml"}, nil)
	if in != nil {
		t.Error("Load returned an input along with problems")
	}
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load error is %T (%v), want *Problems", err, err)
	}
	want := []string{
		`testdata/broken.yaml:12:5: VirtualService mw-pretrain/vs-a: spec.http[0].mirrorz: unknown field`,
		`testdata/broken.yaml:13:5: VirtualService mw-pretrain/vs-a: spec.http[0].mirror: not modelled: sends a copy of the request to another destination`,
		`testdata/broken.yaml:18:24: VirtualService mw-pretrain/vs-a: spec.http[0].route[0].destination.port.number: invalid integer "many" for a uint32 field`,
		`testdata/broken.yaml:22:1: Gateway (no name): metadata.name: missing`,
		`testdata/broken.yaml:27:12: Gateway (no name): spec.servers[0].hosts: wrong type: want a list, got the string "example.org"`,
		`testdata/broken.yaml:28:1: invalid YAML: did not find expected ',' or ']'`,
		`testdata/broken.yaml:36:3: Service mw-pretrain/svc: spec.selectr: unknown field`,
		`testdata/broken.yaml:38:11: Service mw-pretrain/svc: spec.ports[0].port: wrong type: want an integer, got the string "4457"`,
		`testdata/broken.yaml:40:1: VirtualService mw-pretrain/vs-a: duplicate VirtualService (first at testdata/broken.yaml:3:1)`,
		`testdata/broken.yaml:47:1: VirtualService mw-pretrain/vs-a: duplicate VirtualService (first at testdata/broken.yaml:3:1)`,
		`testdata/broken.yaml:54:13: Gateway: apiVersion: unsupported version "networking.istio.io/v2" (want networking.istio.io/v1alpha3, v1beta1 or v1)`,
		`testdata/broken.yaml:64:13: Deployment mw-pretrain/d: spec.replicas: wrong type: want an integer, got the string "two"`,
	}
	got := make([]string, len(ps.List))
	for i, p := range ps.List {
		got[i] = p.String()
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
	if strings.Count(err.Error(), "\n") != len(want)-1 {
		t.Errorf("Error() does not list one problem per line:\n%s", err)
	}
}

func TestProblemsInOneObject(t *testing.T) {
	src := `apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: vs
  namespace: ns
  labels: {a: 1}
spec:
  hosts: [h]
  gateways: [gw]
  http:
  - match:
    - uri: {exact: /a, prefix: /b}
      sourceLabels: {app: x}
      ignoreUriCase: "yes"
    route:
    - destination: {host: svc, subset: v1}
    rewrite: {uri: /x}
  tls: []
`
	_, err := Parse("p.yaml", []byte(src))
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Parse error is %v, want *Problems", err)
	}
	want := []string{
		`p.yaml:6:15: VirtualService ns/vs: metadata.labels[a]: wrong type: want a string, got an integer`,
		`p.yaml:12:24: VirtualService ns/vs: spec.http[0].match[0].uri.prefix: conflicts with exact: set only one of exact, prefix, regex`,
		`p.yaml:13:7: VirtualService ns/vs: spec.http[0].match[0].sourceLabels: not modelled: the source of a request at the ingress gateway is the gateway itself`,
		`p.yaml:14:22: VirtualService ns/vs: spec.http[0].match[0].ignoreUriCase: wrong type: want a boolean, got the string "yes"`,
		`p.yaml:16:32: VirtualService ns/vs: spec.http[0].route[0].destination.subset: not modelled: subsets come from DestinationRules, which are not read`,
		`p.yaml:17:5: VirtualService ns/vs: spec.http[0].rewrite: not modelled: changes the path or Host the backend sees`,
		`p.yaml:18:3: VirtualService ns/vs: spec.tls: not modelled: TLS passthrough routes are not modelled`,
	}
	got := make([]string, len(ps.List))
	for i, p := range ps.List {
		got[i] = p.String()
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}

const smallInput = `# Source: chart/templates/a.yaml
---
---
# only a comment
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    tls: {mode: SIMPLE, credentialName: cert, minProtocolVersion: TLSV1_2}
    hosts: [a.example.org]
---
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: {name: vs, namespace: other}
spec:
  hosts: [a.example.org]
  gateways: [mw-pretrain/gw]
  http:
  - match:
    - ignore_uri_case: true
      uri: {prefix: /w/}
    timeout: 10s
    retries: {attempts: 2}
    route:
    - destination: {host: svc}
      headers: {request: {set: {x-a: b}}}
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: dr}
spec: {host: svc}
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: knative}
`

func TestParseReadsAndCounts(t *testing.T) {
	in, err := Parse("small.yaml", []byte(smallInput))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Gateways) != 1 || len(in.VirtualServices) != 1 {
		t.Fatalf("read %d gateways, %d virtual services; want 1, 1", len(in.Gateways), len(in.VirtualServices))
	}
	gw, vs := in.Gateways[0], in.VirtualServices[0]
	if gw.Namespace != DefaultNamespace || !gw.NamespaceDefaulted {
		t.Errorf("gateway namespace %q (defaulted %v), want %q defaulted", gw.Namespace, gw.NamespaceDefaulted, DefaultNamespace)
	}
	if vs.Namespace != "other" || vs.NamespaceDefaulted {
		t.Errorf("virtual service namespace %q (defaulted %v), want other", vs.Namespace, vs.NamespaceDefaulted)
	}
	if !vs.Spec.GetHttp()[0].GetMatch()[0].GetIgnoreUriCase() {
		t.Error("ignore_uri_case (proto name) was not decoded")
	}
	for path, want := range map[string]string{
		"spec.http[0].match[0].ignoreUriCase": "small.yaml:23:7",
		"spec.http[0].match[0].uri":           "small.yaml:24:7",
		"spec.http[0].match[0].uri.prefix":    "small.yaml:24:13",
		"spec.http[0].route[0].destination":   "small.yaml:28:7",
		"spec.http[0].route[0].weight":        "small.yaml:28:7", // not written: nearest ancestor
		"spec.http[0]":                        "small.yaml:22:5",
	} {
		if got := vs.FieldPos(path).String(); got != want {
			t.Errorf("FieldPos(%q) = %s, want %s", path, got, want)
		}
	}
	if got := gw.FieldPos("spec.servers[0].hosts[0]").String(); got != "small.yaml:13:13" {
		t.Errorf("gateway host position %s, want small.yaml:13:13", got)
	}
	if got, want := in.IgnoredSummary(), "2 objects: 1 DestinationRule, 1 Service (serving.knative.dev/v1)"; got != want {
		t.Errorf("IgnoredSummary() = %q, want %q", got, want)
	}
	var notices []string
	for _, n := range in.Notices {
		notices = append(notices, n.Pos.String()+" "+n.Field)
	}
	want := []string{
		"small.yaml:11:25 spec.servers[0].port.name",
		"small.yaml:12:25 spec.servers[0].tls.credentialName",
		"small.yaml:12:47 spec.servers[0].tls.minProtocolVersion",
		"small.yaml:25:5 spec.http[0].timeout",
		"small.yaml:26:5 spec.http[0].retries",
		"small.yaml:29:7 spec.http[0].route[0].headers",
	}
	if strings.Join(notices, "\n") != strings.Join(want, "\n") {
		t.Errorf("notices:\n got: %s\nwant: %s", strings.Join(notices, "\n      "), strings.Join(want, "\n      "))
	}
	sum := sha256.Sum256([]byte(smallInput))
	if len(in.Sources) != 1 || in.Sources[0].SHA256 != hex.EncodeToString(sum[:]) || in.Sources[0].Size != len(smallInput) {
		t.Errorf("sources = %+v", in.Sources)
	}
}

func TestLoadStdinAndDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.yml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n")
	write("a.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {selector: {app: a}, ports: [{port: 80}]}\n")
	write("notes.txt", "not: [yaml")
	stdin := strings.NewReader("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    metadata:\n      labels: {app: a}\n")
	in, err := Load([]string{dir, "-"}, stdin)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range in.Sources {
		names = append(names, filepath.Base(s.Name))
	}
	if got := strings.Join(names, " "); got != "a.yaml b.yml "+StdinName {
		t.Errorf("sources %q, want a.yaml b.yml %s", got, StdinName)
	}
	if len(in.Services) != 1 || len(in.Deployments) != 1 || in.Ignored["ConfigMap"] != 1 {
		t.Fatalf("read %d services, %d deployments, ignored %v", len(in.Services), len(in.Deployments), in.Ignored)
	}
	if r := in.Deployments[0].Replicas(); r != 1 {
		t.Errorf("replicas default %d, want 1", r)
	}
	if got := in.Deployments[0].Pos.String(); got != StdinName+":1:1" {
		t.Errorf("deployment position %s, want %s:1:1", got, StdinName)
	}
}

func TestLoadLimitsAndMissing(t *testing.T) {
	_, err := Load([]string{"-", "testdata/absent.yaml", "-"}, strings.NewReader(smallInput), WithMaxBytes(64))
	var ps *Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Load error is %v, want *Problems", err)
	}
	want := []string{
		StdinName + ": read: input is larger than the limit of 64 bytes: too large",
		StdinName + ": stdin given twice",
		"testdata/absent.yaml: read: no such file or directory",
	}
	got := make([]string, len(ps.List))
	for i, p := range ps.List {
		got[i] = p.String()
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
	if _, err := Load(nil, nil); err == nil || errors.As(err, &ps) {
		t.Errorf("Load(nil) = %v, want a plain error", err)
	}
}

func TestPoliciesAreExplicit(t *testing.T) {
	for _, f := range []string{"HTTPRoute.timeout", "HTTPRoute.retries", "HTTPRoute.headers", "HTTPRoute.corsPolicy", "ServerTLSSettings.credentialName"} {
		found := false
		for _, a := range AcceptedFields() {
			found = found || a == f
		}
		if !found {
			t.Errorf("%s is not in AcceptedFields()", f)
		}
	}
	if p := Policy("HTTPRoute", "someFutureField"); p.Treatment != NotModelled {
		t.Errorf("an unlisted field is %s, want not modelled", p.Treatment)
	}
}
