package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
)

// exampleStream is the example input as one stream, as `helm template`
// prints several releases.
func exampleStream(t *testing.T) []byte {
	t.Helper()
	files, err := configtarget.ExampleFiles()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, f := range files {
		b.WriteString("---\n")
		b.Write(f.Data)
		b.WriteString("\n")
	}
	return b.Bytes()
}

// executeWithStdin is execute with a standard input.
func executeWithStdin(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := newRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(bytes.NewReader(stdin))
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		errOut.WriteString("ERROR: " + err.Error() + "\n")
	}
	return exitCodeQuiet(err), out.String(), errOut.String()
}

func TestRoutesReadsHelmTemplateOutputFromStdin(t *testing.T) {
	code, out, errOut := executeWithStdin(t, exampleStream(t), "routes", "--routes", "-")
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s", code, errOut)
	}
	for _, want := range []string{
		"input <stdin>:",
		"read 2 Gateways, 2 VirtualServices, 3 Services, 5 Deployments",
		"ignored 5 objects: 3 DestinationRule, 1 ConfigMap, 1 NetworkPolicy",
		"route mw-pretrain/mediawiki-main http[0] (debug)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRoutesBadInputNamesEveryProblem(t *testing.T) {
	bad := writeFile(t, "bad.yaml", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs}
spec:
  hosts: [a.example]
  http:
  - mirror: {host: elsewhere}
    route: [{destination: {host: svc}}]
  - bogus: 1
`)
	code, _, errOut := execute(t, "routes", "--routes", bad)
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, errOut)
	}
	for _, want := range []string{bad + ":7:5", "not modelled", bad + ":9:5", "bogus"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error lacks %q:\n%s", want, errOut)
		}
	}
}

func TestRoutesExplain(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"debug route", []string{"--host", "test.wikipedia.org", "--sni", "mw-pretrain.discovery.wmnet", "--header", "X-Wikimedia-Debug: backend=k8s-mw-pretrain"}, 0,
			[]string{"routed: mw-pretrain/mediawiki-main http[0] (debug) matched", "backend: mw-pretrain/mw-pretrain.eqiad.debug"}},
		{"earlier route explained", []string{"--host", "test.wikipedia.org", "--header", "X-Wikimedia-Debug: profile; backend=k8s-mw-pretrain"}, 0,
			[]string{"http[0] (debug) match[0] did not match (fixtures/routes/main.yaml:", "does not match regex", "route: mw-pretrain/mediawiki-main http[1] (main)"}},
		{"jobrunner gateway, testwiki Host", []string{"--host", "test.wikipedia.org", "--sni", "mw-pretrain-jobrunner.discovery.wmnet", "--method", "POST", "--path", "/rpc/RunSingleJob.php"}, 0,
			[]string{"no route (404)", "mediawiki-jobrunner"}},
		{"unlisted SNI", []string{"--host", "en.wikipedia.org"}, 0, []string{"TLS handshake failure"}},
		{"HEAD on the health check", []string{"--host", "mw-pretrain-jobrunner.discovery.wmnet", "--method", "HEAD", "--path", "/w/health-check.php"}, 0,
			[]string{"no route (404)", "method"}},
		{"no host", []string{"--path", "/"}, 2, []string{"--host is required"}},
		{"bad header", []string{"--host", "a", "--header", "novalue"}, 2, []string{"want NAME:VALUE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := execute(t, append([]string{"routes", "explain"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, want := range tc.want {
				if !strings.Contains(out+errOut, want) {
					t.Errorf("output lacks %q:\n%s%s", want, out, errOut)
				}
			}
		})
	}
}
