package live

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func repoFile(t *testing.T, rel string) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", rel)
}

func TestShippedFileParses(t *testing.T) {
	f, err := Load(repoFile(t, "fixtures/targets/live.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Names(), ","); got != "external,internal" {
		t.Fatalf("vantage points: got %q", got)
	}
	ext := f.Vantages["external"]
	if len(ext.Entries) != 1 || ext.Entries["edge"] == nil || ext.Entries["edge"].URL.String() != "https://test.wikipedia.org" {
		t.Fatalf("external entries: %+v", ext.Entries)
	}
	if got := strings.Join(ext.AllowHosts, ","); got != "test.wikipedia.org,en.wikipedia.org" {
		t.Fatalf("external allow_hosts: %q", got)
	}
	in := f.Vantages["internal"]
	if in.Entries["ingress"].URL.Host != "k8s-ingress-wikikube.discovery.wmnet:30443" {
		t.Fatalf("internal ingress: %v", in.Entries["ingress"].URL)
	}
	jr := in.Entries["jobrunner-gateway"]
	if jr.URL.Host != "mw-pretrain-jobrunner.discovery.wmnet:30443" || len(jr.Hosts) != 3 {
		t.Fatalf("internal jobrunner-gateway: %v %v", jr.URL, jr.Hosts)
	}
	if f.Rate != 2 || f.MaxRate != 10 {
		t.Fatalf("rate %g max %g", f.Rate, f.MaxRate)
	}
	// The built-in copy is the same file.
	d, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if d.UserAgent != f.UserAgent || len(d.Vantages) != len(f.Vantages) {
		t.Fatal("built-in live target differs from fixtures/targets/live.yaml")
	}
	data, _ := os.ReadFile(repoFile(t, "fixtures/targets/live.yaml"))
	if !IsLiveFile(data) {
		t.Fatal("IsLiveFile(live.yaml) is false")
	}
	static, _ := os.ReadFile(repoFile(t, "fixtures/targets/static-example.yaml"))
	if IsLiveFile(static) {
		t.Fatal("IsLiveFile(static-example.yaml) is true")
	}
	if IsLiveFile([]byte("{{{")) {
		t.Fatal("IsLiveFile(garbage) is true")
	}
}

const good = `kind: live
user_agent: "x/1 (https://example.org)"
vantage_points:
  external:
    allow_hosts: [test.wikipedia.org]
    entries:
      edge: {url: "https://test.wikipedia.org"}
`

func TestParseMinimal(t *testing.T) {
	f, err := Parse("t.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "live" || f.Rate != DefaultRate || f.MaxRate != MaxRate {
		t.Fatalf("defaults: %+v", f)
	}
}

// Every malformed file is refused with file:line:column of the problem.
func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"not a mapping", "- a\n", "t.yaml:1:1: a live target file is a mapping"},
		{"wrong kind", strings.Replace(good, "kind: live", "kind: static", 1), `kind must be "live", got "static"`},
		{"unknown top key", good + "extra: 1\n", `t.yaml:8:1: unknown key "extra"`},
		{"duplicate key", good + "kind: live\n", `t.yaml:8:1: duplicate key "kind"`},
		{"no user agent", strings.Replace(good, "user_agent: \"x/1 (https://example.org)\"\n", "", 1), "user_agent is required"},
		{"undescriptive user agent", strings.Replace(good, `"x/1 (https://example.org)"`, "curl/8", 1), "no contact URL or e-mail"},
		{"rate above max", good + "rate: 20\n", "t.yaml:8:7: rate: check rate: 20 requests/s is not a number within [0.01, 10]"},
		{"max rate above ceiling", good + "max_rate: 100\n", "t.yaml:8:11: max_rate: check rate: 100 requests/s is not a number within [0.01, 10]"},
		{"rate 1e-300", good + "rate: 1e-300\n", "t.yaml:8:7: rate: check rate: 1e-300 requests/s is not a number within [0.01, 10]"},
		{"rate 1e-10", good + "rate: 1e-10\n", "t.yaml:8:7: rate: check rate: 1e-10"},
		{"rate zero", good + "rate: 0\n", "t.yaml:8:7: rate: check rate: 0 requests/s"},
		{"rate subnormal", good + "rate: 5e-324\n", "t.yaml:8:7: rate: check rate: 5e-324"},
		{"rate negative", good + "rate: -2\n", "t.yaml:8:7: rate: check rate: -2"},
		{"rate NaN", good + "rate: .nan\n", "t.yaml:8:7: expected a number"},
		{"rate infinite", good + "rate: .inf\n", "t.yaml:8:7: expected a number"},
		{"max rate tiny", good + "max_rate: 1e-300\n", "t.yaml:8:11: max_rate: check rate: 1e-300"},
		{"rate above max_rate", good + "max_rate: 1\nrate: 2\n", "t.yaml:9:7: rate: check rate: 2 requests/s is not a number within [0.01, 1]"},
		{"empty file", "", "t.yaml:1:1: parse live target: the file is empty"},
		{"broken yaml", "kind: live\nname: x\n user_agent: y\n", "t.yaml:3:1: parse live target: mapping values are not allowed in this context"},
		{"rate not a number", good + "rate: fast\n", "t.yaml:8:7: expected a number"},
		{"http url", strings.Replace(good, "https://test", "http://test", 1), `t.yaml:7:13: vantage point "external": entry "edge": url "http://test.wikipedia.org": production is reached over https only`},
		{"url with path", strings.Replace(good, `wikipedia.org"}`, `wikipedia.org/w"}`, 1), "only scheme, host and port are allowed"},
		{"mesh entry", strings.Replace(good, "edge:", "mesh/mw-api-int:", 1), `t.yaml:7:7: vantage point "external": entry "mesh/mw-api-int" cannot be reached by a plain HTTPS request`},
		{"unknown entry key", strings.Replace(good, `{url:`, `{connect_to: "x:1", url:`, 1), `unknown key "connect_to" (want url, hosts)`},
		{"entry host off allow list", strings.Replace(good, `"https://test.wikipedia.org"}`, `"https://test.wikipedia.org", hosts: [en.wikipedia.org]}`, 1), `host "en.wikipedia.org" is not in the vantage point's allow_hosts`},
		{"host with port", strings.Replace(good, "[test.wikipedia.org]", "[test.wikipedia.org:443]", 1), `t.yaml:5:19: "test.wikipedia.org:443" is not a host name`},
		{"wildcard host", strings.Replace(good, "[test.wikipedia.org]", "[\"*.wikipedia.org\"]", 1), `is not a host name`},
		{"empty allow list", strings.Replace(good, "[test.wikipedia.org]", "[]", 1), `allow_hosts is required and not empty`},
		{"no vantage points", "kind: live\nuser_agent: \"a (a@b)\"\n", "no vantage_points"},
		{"unknown vantage key", strings.Replace(good, "    entries:", "    entrys: {}\n    entries:", 1), `unknown key "entrys"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(c.doc))
			if err == nil {
				t.Fatalf("no error for:\n%s", c.doc)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

// All problems are reported at once.
func TestParseReportsEveryProblem(t *testing.T) {
	doc := strings.Replace(good, "kind: live", "kind: x\nfoo: 1", 1) + "rate: 50\n"
	_, err := Parse("t.yaml", []byte(doc))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`t.yaml:2:1: unknown key "foo"`, `kind must be "live"`, "rate: check rate: 50"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
