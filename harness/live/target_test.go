package live

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
)

func shipped(t *testing.T) *File {
	t.Helper()
	f, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestEndpointsByVantage(t *testing.T) {
	f := shipped(t)
	ext, err := f.Target(Options{Vantage: "external"})
	if err != nil {
		t.Fatal(err)
	}
	if ext.Name() != "live/external" || !ext.Live() || ext.UserAgent() != f.UserAgent || ext.Rate() != 2 {
		t.Fatalf("external target: %s live=%v ua=%q rate=%g", ext.Name(), ext.Live(), ext.UserAgent(), ext.Rate())
	}
	ep, err := ext.Endpoint(contract.EntryEdge)
	if err != nil {
		t.Fatal(err)
	}
	if ep.URL.String() != "https://test.wikipedia.org" || ep.ConnectTo != "test.wikipedia.org:443" || ep.Guard == nil || ep.TLS == nil || ep.TLS.InsecureSkipVerify {
		t.Fatalf("external edge endpoint: %+v", ep)
	}
	for _, entry := range []string{contract.EntryIngress, contract.EntryJobrunnerGateway, contract.EntryRESTGateway,
		contract.EntryMeshAPIInt, contract.EntryMeshJobrunner, contract.EntryJobrunner} {
		if _, err := ext.Endpoint(entry); !errors.Is(err, target.ErrNotApplicable) {
			t.Errorf("external %s: error %v, want not applicable", entry, err)
		}
	}

	in, err := f.Target(Options{Vantage: "internal", ConnectTo: "10.2.2.1:30443", Rate: 1})
	if err != nil {
		t.Fatal(err)
	}
	for entry, url := range map[string]string{
		contract.EntryIngress:          "https://k8s-ingress-wikikube.discovery.wmnet:30443",
		contract.EntryJobrunnerGateway: "https://mw-pretrain-jobrunner.discovery.wmnet:30443",
	} {
		ep, err := in.Endpoint(entry)
		if err != nil {
			t.Fatal(err)
		}
		if ep.URL.String() != url || ep.ConnectTo != "10.2.2.1:30443" {
			t.Errorf("internal %s: url %s connect-to %s", entry, ep.URL, ep.ConnectTo)
		}
	}
	for _, entry := range []string{contract.EntryEdge, contract.EntryRESTGateway, contract.EntryMeshAPIInt, contract.EntryJobrunner} {
		if _, err := in.Endpoint(entry); !errors.Is(err, target.ErrNotApplicable) {
			t.Errorf("internal %s: error %v, want not applicable", entry, err)
		}
	}
	if in.Rate() != 1 || in.Guard().Interval().Seconds() != 1 {
		t.Fatalf("internal rate %g interval %s", in.Rate(), in.Guard().Interval())
	}
}

func TestTargetOptionErrors(t *testing.T) {
	f := shipped(t)
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	cases := map[string]struct {
		o    Options
		want string
	}{
		"no vantage":       {Options{}, `unknown vantage point "" (want external or internal)`},
		"unknown vantage":  {Options{Vantage: "moon"}, `unknown vantage point "moon"`},
		"rate above max":   {Options{Vantage: "external", Rate: 11}, "--rate: check rate: 11 requests/s is not a number within [0.01, 10]"},
		"negative rate":    {Options{Vantage: "external", Rate: -1}, "--rate: check rate: -1"},
		"NaN rate":         {Options{Vantage: "external", Rate: math.NaN()}, "--rate: check rate: NaN"},
		"tiny rate":        {Options{Vantage: "external", Rate: 1e-300}, "--rate: check rate: 1e-300"},
		"rate 1e-10":       {Options{Vantage: "external", Rate: 1e-10}, "--rate: check rate: 1e-10"},
		"infinite rate":    {Options{Vantage: "external", Rate: math.Inf(1)}, "--rate: check rate: +Inf"},
		"bad user agent":   {Options{Vantage: "external", UserAgent: "curl/8"}, "no contact URL"},
		"UA with newline":  {Options{Vantage: "external", UserAgent: "x/1 (https://example.org)\r\nX-Evil: 1"}, "--user-agent: User-Agent \"x/1 (https://example.org)\\r\\nX-Evil: 1\" has control characters"},
		"bad connect-to":   {Options{Vantage: "external", ConnectTo: "127.0.0.1"}, "is not host:port"},
		"bad connect port": {Options{Vantage: "external", ConnectTo: "127.0.0.1:0"}, "is not 1-65535"},
		"missing CA file":  {Options{Vantage: "external", CAFile: filepath.Join(dir, "nope.pem")}, "read CA file"},
		"CA file, no PEM":  {Options{Vantage: "external", CAFile: notPEM}, "no PEM certificate"},
	}
	for name, c := range cases {
		if _, err := f.Target(c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
}

// Screen refuses, before anything is sent, every case of the default
// contract production must not receive, with the reason; the rest pass.
func TestScreenDefaultContract(t *testing.T) {
	c, err := contract.Default()
	if err != nil {
		t.Fatal(err)
	}
	f := shipped(t)
	want := map[string]map[string]string{ // vantage -> case -> reason fragment ("" = screened in)
		"external": {
			"edge-testwiki-main-page":         "",
			"edge-enwiki-untouched":           "",
			"edge-runsinglejob-not-jobrunner": "",
			"edge-dewiki-untouched":           `Host "de.wikipedia.org" is not in the allow-list`,
			"edge-commons-untouched":          `Host "commons.wikimedia.org" is not in the allow-list`,
			"edge-xwd-pretrain-test2wiki":     `Host "test2.wikipedia.org" is not in the allow-list`,
			"ingress-testwiki-main-page":      `does not reach entry "ingress"`,
			"mesh-api-int-testwiki-post":      `does not reach entry "mesh/mw-api-int"`,
		},
		"internal": {
			"ingress-testwiki-main-page":               "",
			"ingress-enwiki-no-route":                  "",
			"ingress-runsinglejob-not-jobrunner":       "",
			"jobrunner-gateway-runsinglejob-post":      "",
			"jobrunner-gateway-health-check-svc-codfw": "",
			"ingress-lookalike-host-no-route":          `Host "xtest.wikipedia.org" is not in the allow-list`,
			"jobrunner-gateway-health-check-post":      `unsafe for production, not sent from vantage point "internal": refused by the production safety guard: POST to "/w/health-check.php"`,
			"jobrunner-gateway-runsinglejob-suffix":    `unsafe for production`,
			"jobrunner-gateway-testwiki-host":          `Host "test.wikipedia.org" would be routed by another gateway`,
			"jobrunner-runsinglejob-no-database-500":   `does not reach entry "jobrunner"`,
			"edge-testwiki-main-page":                  `does not reach entry "edge"`,
		},
	}
	for vantage, cases := range want {
		tgt, err := f.Target(Options{Vantage: vantage})
		if err != nil {
			t.Fatal(err)
		}
		for name, frag := range cases {
			cs := findCase(t, c, name)
			err := tgt.Screen(cs.Entry, cs.Request)
			switch {
			case frag == "" && err != nil:
				t.Errorf("%s %s: screened out: %v", vantage, name, err)
			case frag != "" && err == nil:
				t.Errorf("%s %s: screened in, want %q", vantage, name, frag)
			case frag != "" && (!errors.Is(err, target.ErrNotApplicable) || !strings.Contains(err.Error(), frag)):
				t.Errorf("%s %s: error %q, want not applicable containing %q", vantage, name, err, frag)
			}
		}
	}
	// Unsafe requests are refused whatever the contract says.
	ext, _ := f.Target(Options{Vantage: "external"})
	for _, req := range []contract.Request{
		{Method: "PUT", Host: "test.wikipedia.org", Path: "/wiki/X"},
		{Method: "POST", Host: "test.wikipedia.org", Path: "/rpc/RunSingleJob.php", Body: "{}"},
		{Method: "DELETE", Host: "test.wikipedia.org", Path: "/"},
	} {
		err := ext.Screen(contract.EntryEdge, req)
		if !errors.Is(err, target.ErrNotApplicable) || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "unsafe for production") {
			t.Errorf("%s %s: error %v, want an unsafe-for-production refusal", req.Method, req.Path, err)
		}
	}
}

func findCase(t *testing.T, c *contract.Contract, name string) *contract.Case {
	t.Helper()
	for _, cs := range c.Cases {
		if cs.Name == name {
			return cs
		}
	}
	t.Fatalf("no case %q in the default contract", name)
	return nil
}
