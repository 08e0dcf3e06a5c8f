package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/coverage"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/report"
)

// routesFlags name the routing input: rendered Istio objects (helm
// template output), or the project's example when none is given.
type routesFlags struct {
	paths []string
}

func (r *routesFlags) register(fl *pflag.FlagSet) {
	fl.StringArrayVar(&r.paths, "routes", nil,
		`routing input: a file, a directory (every *.yaml, *.yml) or - for stdin, as "helm template" prints it; repeatable (default: the example in fixtures/routes)`)
}

// model reads the input and builds the Istio model; every problem of the
// input is a usage error (exit 2) listing each with file:line:col.
func (r routesFlags) model(stdin io.Reader) (*istio.Model, error) {
	in, err := configtarget.Input{Paths: r.paths, Stdin: stdin}.Read()
	if err != nil {
		return nil, usageError(err)
	}
	m, err := istio.New(in)
	if err != nil {
		return nil, usageError(err)
	}
	return m, nil
}

func newRoutesCommand() *cobra.Command {
	var rf routesFlags
	cmd := &cobra.Command{
		Use:   "routes",
		Short: "Read a routing input and print its Gateways, VirtualServices and routes",
		Long: `Read the routing input (--routes, default: the project's example) strictly,
as "run --target config" does, and print what the model makes of it: each
Gateway server, each VirtualService route in order with the backends behind
it, the objects ignored and the fields accepted but not evaluated.

In a deployment-charts CI job:

  helm template ... | pretrain-check routes --routes -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := rf.model(cmd.InOrStdin())
			if err != nil {
				return err
			}
			writeRoutes(cmd.OutOrStdout(), m)
			return nil
		},
	}
	rf.register(cmd.PersistentFlags())
	cmd.AddCommand(newRoutesExplainCommand(&rf))
	return cmd
}

func writeRoutes(w io.Writer, m *istio.Model) {
	in := m.Input()
	for _, s := range in.Sources {
		fmt.Fprintf(w, "input %s: %d bytes, sha256 %s\n", s.Name, s.Size, s.SHA256)
	}
	fmt.Fprintf(w, "read %d Gateways, %d VirtualServices, %d Services, %d Deployments\n",
		len(in.Gateways), len(in.VirtualServices), len(in.Services), len(in.Deployments))
	if s := in.IgnoredSummary(); s != "" {
		fmt.Fprintf(w, "ignored %s\n", s)
	}
	for _, n := range in.Notices {
		fmt.Fprintln(w, n)
	}
	for _, n := range m.Notices() {
		fmt.Fprintln(w, n)
	}
	for _, r := range m.Routes() {
		fmt.Fprintf(w, "route %s on %s (%s)\n", r, strings.Join(r.Gateways, ", "), r.Pos)
	}
}

// explainFlags describe one request.
type explainFlags struct {
	host, sni, method, path, output string
	port                            int
	headers                         []string
}

func newRoutesExplainCommand(rf *routesFlags) *cobra.Command {
	var f explainFlags
	cmd := &cobra.Command{
		Use:   "explain --host HOST [--sni SNI] [--method M] [--path P] [--header NAME:VALUE]...",
		Short: "Print the Gateway, VirtualService and route a request takes, and why each earlier route did not match",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := f.request()
			if err != nil {
				return usageError(err)
			}
			m, err := rf.model(cmd.InOrStdin())
			if err != nil {
				return err
			}
			d := m.Explain(req)
			if f.output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(d)
			}
			for _, l := range d.Lines() {
				fmt.Fprintln(cmd.OutOrStdout(), l)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.host, "host", "", "Host header (:authority) (required)")
	fl.StringVar(&f.sni, "sni", "", "TLS server name (default: the Host without its port)")
	fl.StringVar(&f.method, "method", http.MethodGet, "request method")
	fl.StringVar(&f.path, "path", "/", "path and query")
	fl.IntVar(&f.port, "port", istio.DefaultPort, "Gateway server port")
	fl.StringArrayVar(&f.headers, "header", nil, "request header NAME:VALUE (repeatable)")
	fl.StringVarP(&f.output, "output", "o", "text", "text or json")
	return cmd
}

func (f explainFlags) request() (istio.Request, error) {
	if f.host == "" {
		return istio.Request{}, fmt.Errorf("--host is required")
	}
	if f.output != "text" && f.output != "json" {
		return istio.Request{}, fmt.Errorf("--output %q: want text or json", f.output)
	}
	if !strings.HasPrefix(f.path, "/") {
		return istio.Request{}, fmt.Errorf("--path %q: must start with /", f.path)
	}
	if f.port < 1 || f.port > 65535 {
		return istio.Request{}, fmt.Errorf("--port %d: not a port", f.port)
	}
	req := istio.Request{SNI: f.sni, Port: f.port, Host: f.host, Method: strings.ToUpper(f.method), Path: f.path, Header: http.Header{}}
	if req.SNI == "" {
		req.SNI = f.host
		if h, _, ok := strings.Cut(f.host, ":"); ok {
			req.SNI = h
		}
	}
	for _, h := range f.headers {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") || strings.ContainsAny(value, "\r\n") {
			return istio.Request{}, fmt.Errorf("--header %q: want NAME:VALUE, no line breaks", h)
		}
		req.Header.Add(name, strings.TrimSpace(value))
	}
	return req, nil
}

// configTier is a running config tier for `run --target config`.
type configTier struct {
	tier *configtarget.Tier
}

// openConfigTier starts the config tier on the routing input.
func openConfigTier(ctx context.Context, rf routesFlags, stdin io.Reader) (*configTier, error) {
	m, err := rf.model(stdin)
	if err != nil {
		return nil, err
	}
	t, err := configtarget.Start(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("start the config tier: %w", err)
	}
	return &configTier{tier: t}, nil
}

// coverage is which routes the run's cases took, held to min percent.
func (c *configTier) coverage(verdicts []check.Verdict, min float64) *report.RouteCoverage {
	return &report.RouteCoverage{Report: coverage.Compute(c.tier.Model().Routes(), verdicts), Min: min}
}

// inputLine says what the tier was built from, for the run's log:
// "routing input: 5 files (...), 2 Gateways, ...; ignored 5 objects: ...".
func (c *configTier) inputLine() string {
	in := c.tier.Model().Input()
	names := make([]string, len(in.Sources))
	for i, s := range in.Sources {
		names[i] = s.Name
	}
	line := fmt.Sprintf("routing input: %s: %d Gateways, %d VirtualServices, %d Services, %d Deployments",
		strings.Join(names, ", "), len(in.Gateways), len(in.VirtualServices), len(in.Services), len(in.Deployments))
	if s := in.IgnoredSummary(); s != "" {
		line += "; ignored " + s
	}
	if n := len(in.Notices); n > 0 {
		line += fmt.Sprintf("; %d fields accepted but not evaluated (pretrain-check routes lists them)", n)
	}
	return line
}
