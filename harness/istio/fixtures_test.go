package istio

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/fixtures"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/routing"
)

// TestExampleInput checks the key routings of Pretrain's ingress against the
// example input in fixtures/routes (the shapes `helm template` renders).
func TestExampleInput(t *testing.T) {
	in, err := routing.LoadFS(fixtures.Routes, []string{fixtures.RoutesFSDir})
	if err != nil {
		t.Fatalf("load example: %v", err)
	}
	if got, want := in.IgnoredSummary(), "5 objects: 3 DestinationRule, 1 ConfigMap, 1 NetworkPolicy"; got != want {
		t.Errorf("ignored %q, want %q", got, want)
	}
	m, err := New(in)
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	const main, jobrunner = "test.wikipedia.org", "mw-pretrain-jobrunner.discovery.wmnet"
	req := func(sni, host, method, path string, hdr ...string) Request {
		h := http.Header{}
		for i := 0; i+1 < len(hdr); i += 2 {
			h.Add(hdr[i], hdr[i+1])
		}
		return Request{SNI: sni, Host: host, Method: method, Path: path, Header: h}
	}
	cases := []struct {
		name string
		req  Request
		want string // outcome, route name, backends as release:pods:share
	}{
		{"XWD pretrain -> debug", req(main, main, "GET", "/wiki/Main_Page", "X-Wikimedia-Debug", "backend=k8s-mw-pretrain; profile"),
			"routed debug debug:2:1.00"},
		{"XWD pretrain-codfw -> debug", req("mw-pretrain.svc.codfw.wmnet", main, "GET", "/", "X-Wikimedia-Debug", "k8s-mw-pretrain-codfw"),
			"routed debug debug:2:1.00"},
		{"XWD mwdebug stays on main", req(main, main, "GET", "/", "X-Wikimedia-Debug", "backend=k8s-mwdebug"),
			"routed main canary:1:0.33 main:2:0.67"},
		{"plain -> main 2 + canary 1", req(main, main, "GET", "/wiki/Main_Page"),
			"routed main canary:1:0.33 main:2:0.67"},
		{"discovery name -> main", req("mw-pretrain.discovery.wmnet", "mw-pretrain.discovery.wmnet", "GET", "/w/api.php"),
			"routed main canary:1:0.33 main:2:0.67"},
		{"jobrunner health check GET", req(jobrunner, jobrunner, "GET", "/w/health-check.php"),
			"routed health-check jobrunner-canary:1:0.33 jobrunner:2:0.67"},
		{"jobrunner RunSingleJob POST", req("mw-pretrain-jobrunner.svc.eqiad.wmnet", "mw-pretrain-jobrunner.svc.eqiad.wmnet", "POST", "/rpc/RunSingleJob.php"),
			"routed run-single-job jobrunner-canary:1:0.33 jobrunner:2:0.67"},
		{"jobrunner HEAD health check -> 404", req(jobrunner, jobrunner, "HEAD", "/w/health-check.php"), "no route (404)"},
		{"jobrunner GET RunSingleJob -> 404", req(jobrunner, jobrunner, "GET", "/rpc/RunSingleJob.php"), "no route (404)"},
		{"jobrunner longer path -> 404", req(jobrunner, jobrunner, "GET", "/w/health-check.phpx"), "no route (404)"},
		{"testwiki Host on the jobrunner gateway -> 404", req(jobrunner, main, "POST", "/rpc/RunSingleJob.php"), "no route (404)"},
		{"jobrunner Host on the main gateway -> 404", req(main, jobrunner, "POST", "/rpc/RunSingleJob.php"), "no route (404)"},
		{"unlisted SNI -> TLS failure", req("en.wikipedia.org", "en.wikipedia.org", "GET", "/"), "TLS handshake failure"},
		{"the jobrunner's old mesh name -> TLS failure", req("mw-jobrunner.discovery.wmnet", jobrunner, "POST", "/rpc/RunSingleJob.php"), "TLS handshake failure"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := m.Route(c.req)
			got := d.Outcome.String()
			if d.Route != nil {
				got += " " + d.Route.Name
				var bs []string
				for _, b := range d.Backends {
					bs = append(bs, fmt.Sprintf("%s:%d:%.2f", b.Release, b.Replicas, b.Share))
				}
				sort.Strings(bs)
				got += " " + strings.Join(bs, " ")
			}
			if got != c.want {
				t.Errorf("got %q, want %q\n%s", got, c.want, strings.Join(d.Lines(), "\n"))
			}
		})
	}

	// The explanation of a HEAD health check names both failed routes.
	d := m.Explain(req(jobrunner, jobrunner, "HEAD", "/w/health-check.php"))
	text := strings.Join(d.Lines(), "\n")
	for _, want := range []string{
		`health-check) match[0] did not match (routes/jobrunner.yaml:`,
		`method: HEAD does not match exact "GET"`,
		`uri: "/w/health-check.php" does not match exact "/rpc/RunSingleJob.php"; method: HEAD does not match exact "POST"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("explanation lacks %q:\n%s", want, text)
		}
	}

	// Coverage and certificate names.
	var routes []string
	for _, r := range m.Routes() {
		routes = append(routes, r.String())
	}
	if got, want := strings.Join(routes, "; "), "mw-pretrain/mediawiki-jobrunner http[0] (health-check); mw-pretrain/mediawiki-jobrunner http[1] (run-single-job); mw-pretrain/mediawiki-main http[0] (debug); mw-pretrain/mediawiki-main http[1] (main)"; got != want {
		t.Errorf("routes:\n got %s\nwant %s", got, want)
	}
	if got := len(m.ServerNames()); got != 7 {
		t.Errorf("%d server names, want 7: %v", got, m.ServerNames())
	}
}

// TestExampleInputFromDisk reads the same files by path, as the CLI does.
func TestExampleInputFromDisk(t *testing.T) {
	in, err := routing.Load([]string{"../../" + fixtures.RoutesDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Sources) != 5 || len(in.Gateways) != 2 || len(in.VirtualServices) != 2 || len(in.Services) != 3 || len(in.Deployments) != 5 {
		t.Errorf("read %d sources, %d gateways, %d virtual services, %d services, %d deployments",
			len(in.Sources), len(in.Gateways), len(in.VirtualServices), len(in.Services), len(in.Deployments))
	}
}
