//go:build proxies

package haproxy_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/haproxy"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/proctest"
)

// TestProxiesGatewayResolvesAtRuntime: in the kind replica the
// gateway may start before CoreDNS answers. With ResolveAtRuntime haproxy
// starts on names that do not resolve and answers 503 (no server address
// yet) instead of exiting; without it, haproxy refuses the configuration.
func TestProxiesGatewayResolvesAtRuntime(t *testing.T) {
	if _, err := os.Stat(haproxyBin); err != nil {
		t.Skip("SKIPPED: " + haproxyBin + " is missing (apt-get install haproxy): the run-time resolution test did NOT run")
	}
	in, err := configtarget.ExampleInput()
	if err != nil {
		t.Fatal(err)
	}
	m, err := istio.New(in)
	if err != nil {
		t.Fatal(err)
	}
	// Every Deployment behind a name that does not resolve: no stub needed.
	pods := map[string][]string{}
	for _, d := range in.Deployments {
		pods[d.Key()] = []string{"pods.unresolvable.invalid:8080"}
	}
	pemBytes, pool := testCert(t, m.ServerNames())
	addr := proctest.FreeAddr(t)
	generate := func(runtime bool) haproxy.Config {
		cfg, err := haproxy.Generate(m, haproxy.Options{Listen: addr, Dir: t.TempDir(), CertKeyPEM: pemBytes, Pods: pods, ResolveAtRuntime: runtime})
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Write(); err != nil {
			t.Fatal(err)
		}
		return cfg
	}

	atStart := generate(false)
	out, err := exec.Command(haproxyBin, "-c", "-f", atStart.Path()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "pods.unresolvable.invalid") {
		t.Fatalf("without ResolveAtRuntime haproxy should refuse the unresolvable name; err %v, output:\n%s", err, out)
	}

	cfg := generate(true)
	if out, err := exec.Command(haproxyBin, "-c", "-f", cfg.Path()).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c with ResolveAtRuntime: %v\n%s", err, out)
	}
	proctest.Start(t, nil, addr, haproxyBin, "-db", "-f", cfg.Path())
	host := "test.wikipedia.org"
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: host},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	resp, err := client.Get("https://" + host + "/wiki/Main_Page")
	if err != nil {
		t.Fatalf("the gateway should answer while its names do not resolve: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503 (a route whose servers have no address yet)", resp.StatusCode)
	}
}
