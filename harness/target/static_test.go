package target

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..", rel)
}

func TestLoadStaticExample(t *testing.T) {
	s, err := LoadStatic(repoFile(t, "fixtures/targets/static-example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "static:local-replica" || s.Live() {
		t.Errorf("name %q live %v", s.Name(), s.Live())
	}
	edge, err := s.Endpoint("edge")
	if err != nil {
		t.Fatal(err)
	}
	if edge.Entry != "edge" || edge.URL.String() != "http://127.0.0.1:8080" || edge.Address() != "127.0.0.1:8080" || edge.TLS != nil {
		t.Errorf("edge %+v", edge)
	}
	ing, err := s.Endpoint("ingress")
	if err != nil {
		t.Fatal(err)
	}
	if ing.Address() != "127.0.0.1:30443" || ing.URL.Scheme != "https" || ing.TLS == nil || !ing.TLS.InsecureSkipVerify {
		t.Errorf("ingress %+v", ing)
	}
	mesh, err := s.Endpoint("mesh/mw-api-int")
	if err != nil {
		t.Fatal(err)
	}
	if mesh.Forward == nil || mesh.Forward.Endpoint != "http://127.0.0.1:30806/forward" || mesh.Forward.InPodURL != "http://127.0.0.1:6501" {
		t.Errorf("mesh %+v", mesh)
	}
	if _, err := s.Endpoint("jobrunner"); !errors.Is(err, ErrNotApplicable) {
		t.Errorf("unlisted entry: err %v, want ErrNotApplicable", err)
	}
	if got := strings.Join(s.Entries(), ","); got != "edge,ingress,jobrunner-gateway,mesh/mw-api-int,mesh/mw-jobrunner,rest-gateway" {
		t.Errorf("entries %s", got)
	}
}

func TestParseStaticDefaults(t *testing.T) {
	s, err := ParseStatic("dir/kind.yaml", []byte("entries:\n  edge:\n    url: http://127.0.0.1:1/prefix\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "static:kind" || s.Live() {
		t.Errorf("name %q live %v", s.Name(), s.Live())
	}
}

func TestParseStaticCAFile(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty.pem"), []byte("nothing"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "t.yaml")
	doc := "entries:\n  ingress:\n    url: https://ingress:30443\n    tls:\n      ca_file: ca.pem\n      server_name: ingress.svc\n"
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadStatic(file)
	if err != nil {
		t.Fatal(err)
	}
	ep, _ := s.Endpoint("ingress")
	if ep.TLS == nil || ep.TLS.RootCAs == nil || ep.TLS.ServerName != "ingress.svc" || ep.TLS.InsecureSkipVerify {
		t.Errorf("tls %+v", ep.TLS)
	}
	if _, err := ParseStatic(file, []byte(strings.Replace(doc, "ca.pem", "empty.pem", 1))); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("empty CA file: %v", err)
	}
	if _, err := ParseStatic(file, []byte(strings.Replace(doc, "ca.pem", "missing.pem", 1))); err == nil || !strings.Contains(err.Error(), "t.yaml:5:16: entry \"ingress\": read ca_file") {
		t.Errorf("missing CA file: %v", err)
	}
}

func TestParseStaticErrors(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"unknown top key":    {"nmae: x\nentries:\n  edge:\n    url: http://a:1\n", `t.yaml:1:1: unknown key "nmae"`},
		"unknown entry key":  {"entries:\n  edge:\n    url: http://a:1\n    conect_to: b:2\n", `t.yaml:4:5: entry "edge": unknown key "conect_to"`},
		"unknown tls key":    {"entries:\n  edge:\n    url: https://a:1\n    tls:\n      verify: false\n", `t.yaml:5:7: entry "edge": tls: unknown key "verify"`},
		"unknown fwd key":    {"entries:\n  m:\n    forward:\n      endpoint: http://a:1/forward\n      url: x\n", `t.yaml:5:7: entry "m": forward: unknown key "url"`},
		"duplicate entry":    {"entries:\n  edge:\n    url: http://a:1\n  edge:\n    url: http://a:2\n", `t.yaml:4:3: duplicate key "edge"`},
		"no entries":         {"name: x\n", "no entries"},
		"empty entries":      {"entries: {}\n", "no entries"},
		"not a mapping":      {"- a\n", "a static target is a mapping"},
		"empty file":         {"", "t.yaml:1:1: parse static target: the file is empty"},
		"comments only":      {"# nothing\n", "t.yaml:1:1: parse static target: the file is empty"},
		"bad yaml":           {"entries: [\n", "t.yaml:1:1: parse static target: did not find expected node content"},
		"bad yaml line 2":    {"name: x\n entries: y\n", "t.yaml:2:1: parse static target: mapping values are not allowed in this context"},
		"tab indentation":    {"entries:\n\tedge: {}\n", "t.yaml:2:1: parse static target: found character that cannot start any token"},
		"no url":             {"entries:\n  edge:\n    connect_to: a:1\n", `t.yaml:3:5: entry "edge": url or forward is required`},
		"bad scheme":         {"entries:\n  edge:\n    url: ftp://a:1\n", `t.yaml:3:10: entry "edge": url "ftp://a:1": scheme must be http or https`},
		"relative url":       {"entries:\n  edge:\n    url: /x\n", "scheme must be http or https"},
		"url with query":     {"entries:\n  edge:\n    url: http://a:1/?x=1\n", "no query"},
		"bad connect_to":     {"entries:\n  edge:\n    url: http://a:1\n    connect_to: nowhere\n", `t.yaml:4:17: entry "edge": connect_to: "nowhere" is not host:port`},
		"bad port":           {"entries:\n  edge:\n    url: http://a:1\n    connect_to: a:99999\n", "not 1-65535"},
		"tls on http":        {"entries:\n  edge:\n    url: http://a:1\n    tls:\n      insecure_skip_verify: true\n", "tls is for https urls"},
		"tls bool typo":      {"entries:\n  edge:\n    url: https://a:1\n    tls:\n      insecure_skip_verify: yes\n", `t.yaml:5:29: expected true or false`},
		"live as string":     {"live: \"true\"\nentries:\n  edge:\n    url: http://a:1\n", "t.yaml:1:1: a static target cannot be live: use a live target file (kind: live"},
		"live true":          {"name: x\nlive: true\nentries:\n  edge:\n    url: http://a:1\n", "t.yaml:2:1: a static target cannot be live: use a live target file (kind: live"},
		"url as number":      {"entries:\n  edge:\n    url: 8080\n", "t.yaml:3:10: expected a string"},
		"forward and url":    {"entries:\n  m:\n    url: http://a:1\n    forward:\n      endpoint: http://a:1/forward\n      in_pod_url: http://127.0.0.1:6501\n", "forward excludes url"},
		"forward incomplete": {"entries:\n  m:\n    forward:\n      endpoint: http://a:1/forward\n", "forward needs endpoint and in_pod_url"},
		"forward bad url":    {"entries:\n  m:\n    forward:\n      endpoint: a:1/forward\n      in_pod_url: http://127.0.0.1:6501\n", "is not an http(s) URL"},
		"entry not mapping":  {"entries:\n  edge: http://a:1\n", "t.yaml:2:9: expected a mapping"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseStatic("t.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// An explicit "live: false" is tolerated (it asks for nothing); the
// target is never live.
func TestParseStaticLiveFalse(t *testing.T) {
	s, err := ParseStatic("t.yaml", []byte("live: false\nentries:\n  edge: {url: http://a:1}\n"))
	if err != nil || s.Live() {
		t.Fatalf("live: false: %v, live %v", err, s)
	}
}

// Entries the contract does not declare are errors at their position.
func TestCheckEntries(t *testing.T) {
	s, err := ParseStatic("t.yaml", []byte("entries:\n  edge: {url: http://a:1}\n  ingres: {url: http://a:2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CheckEntries([]string{"edge", "ingress"}); err == nil || !strings.Contains(err.Error(), `t.yaml:3:3: entry "ingres" is not an entry point of the contract (want one of edge, ingress)`) {
		t.Fatalf("undeclared entry: %v", err)
	}
	if err := s.CheckEntries([]string{"edge", "ingres"}); err != nil {
		t.Fatalf("declared entries: %v", err)
	}
}

func TestNewStatic(t *testing.T) {
	s := NewStatic("replica", map[string]Endpoint{"edge": {Entry: "wrong"}}, true)
	ep, err := s.Endpoint("edge")
	if err != nil || ep.Entry != "edge" {
		t.Errorf("endpoint %+v err %v", ep, err)
	}
	if !s.Live() || s.Name() != "static:replica" {
		t.Errorf("live %v name %q", s.Live(), s.Name())
	}
	_, err = s.Endpoint("ingress")
	if !errors.Is(err, ErrNotApplicable) || !strings.Contains(err.Error(), `"ingress"`) {
		t.Errorf("err %v", err)
	}
}

// Every problem of a static target file is reported at once, each with its
// file:line:col, in file order: not only the first.
func TestParseStaticReportsEveryProblem(t *testing.T) {
	doc := "nmae: x\n" +
		"entries:\n" +
		"  edge:\n" +
		"    url: ftp://a:1\n" +
		"  ingress:\n" +
		"    url: https://b:1\n" +
		"    conect_to: b:2\n" +
		"    tls:\n" +
		"      insecure_skip_verify: yes\n" +
		"  edge:\n" +
		"    url: http://c:1\n"
	_, err := ParseStatic("t.yaml", []byte(doc))
	want := strings.Join([]string{
		`t.yaml:1:1: unknown key "nmae" (want name, entries)`,
		`t.yaml:4:10: entry "edge": url "ftp://a:1": scheme must be http or https`,
		`t.yaml:7:5: entry "ingress": unknown key "conect_to" (want url, connect_to, tls, forward)`,
		`t.yaml:9:29: expected true or false`,
		`t.yaml:10:3: duplicate key "edge"`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
}
