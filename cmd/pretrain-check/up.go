package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/cluster"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/images"
)

// replicaFlags locate the kind replica; up, down and run --target kind
// share them. Paths default to the repository layout.
type replicaFlags struct {
	name       string
	config     string
	fixtures   string
	manifest   string
	profile    string
	reportDir  string
	keep       bool
	timeout    time.Duration
	ingress    string
	routes     routesFlags
	edgeLua    string
	kubeconfig string
}

func (f *replicaFlags) register(fl *pflag.FlagSet, withUp bool) {
	fl.StringVar(&f.name, "cluster-name", cluster.DefaultName, "name of the kind cluster")
	fl.StringVar(&f.config, "kind-config", cluster.DefaultConfigFile, "kind cluster config FILE (the entry points' host ports)")
	fl.StringVar(&f.fixtures, "fixtures", cluster.DefaultFixtures, "DIR of the replica's manifests")
	fl.StringVar(&f.manifest, "images", filepath.Join("_output", "images.json"), "image manifest FILE written by \"make images\"")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "",
		"put the replica on the existing cluster this kubeconfig FILE's current context names, not on a kind cluster (down then removes exactly what up created there); --kind-config still says which 127.0.0.1 port reaches each NodePort")
	if !withUp {
		return
	}
	fl.StringVar(&f.profile, "profile", "", "airgap (images built here) or upstream (kindest/node, ingress-nginx); default: $PRETRAIN_PROFILE, else airgap")
	fl.StringVar(&f.reportDir, "report-dir", filepath.Join("_output", "up"), "write diagnostics here when bring-up fails")
	fl.BoolVar(&f.keep, "keep-on-failure", false, "keep the cluster when bring-up fails or is interrupted (for debugging); a successful up always keeps it")
	fl.BoolVar(&f.keep, "keep", false, "")
	_ = fl.MarkDeprecated("keep", "use --keep-on-failure")
	fl.DurationVar(&f.timeout, "timeout", 15*time.Minute, "give up on bring-up after this long")
	fl.StringVar(&f.ingress, "ingress", cluster.IngressGateway,
		`what serves the ingress and jobrunner-gateway entries: gateway (generated from --routes: one TLS listener on NodePort 30443, by SNI and Host) or objects (the Ingress objects of --fixtures on the ingress controllers; the edge, REST gateway and mesh still reach the gateway)`)
	f.routes.register(fl)
	fl.StringVar(&f.edgeLua, "edge-lua", "",
		"the edge's X-Wikimedia-Debug routing script FILE, run unchanged in place of the project's own: a copy of production's x-wikimedia-debug-routing.lua (operations-puppet)")
}

// options are the cluster options the flags give; the image manifest must
// exist (the replica's manifests name the images).
func (f *replicaFlags) options() ([]cluster.Option, error) {
	m, err := images.ReadManifest(f.manifest)
	if err != nil {
		return nil, fmt.Errorf("%w (build the images first: make images)", err)
	}
	opts := []cluster.Option{
		cluster.WithName(f.name), cluster.WithConfigFile(f.config), cluster.WithFixtures(f.fixtures),
		cluster.WithImages(m.Images), cluster.WithKeep(f.keep),
	}
	if f.reportDir != "" {
		opts = append(opts, cluster.WithReportDir(f.reportDir))
	}
	if f.kubeconfig != "" {
		opts = append(opts, cluster.WithKubeconfig(f.kubeconfig))
	}
	if profile := profileFor(f.profile, os.Getenv); profile != "" {
		opts = append(opts, cluster.WithProfile(profile))
	}
	if f.ingress != "" {
		opts = append(opts, cluster.WithIngress(f.ingress))
	}
	return opts, nil
}

// upOptions adds the routing input (--routes, read strictly: every
// problem with file:line:col, before anything is created).
func (f *replicaFlags) upOptions(stdin io.Reader) ([]cluster.Option, error) {
	opts, err := f.options()
	if err != nil {
		return nil, err
	}
	if len(f.routes.paths) > 0 {
		in, err := configtarget.Input{Paths: f.routes.paths, Stdin: stdin}.Read()
		if err != nil {
			return nil, err
		}
		opts = append(opts, cluster.WithRoutes(in))
	}
	if f.edgeLua != "" {
		data, err := os.ReadFile(f.edgeLua)
		if err != nil {
			return nil, fmt.Errorf("--edge-lua: %w", err)
		}
		opts = append(opts, cluster.WithEdgeLua(f.edgeLua, data))
	}
	return opts, nil
}

// profileFor is --profile, else $PRETRAIN_PROFILE, else "" (the default,
// airgap).
func profileFor(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	return getenv("PRETRAIN_PROFILE")
}

func newUpCommand() *cobra.Command {
	var f replicaFlags
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Bring up the kind replica of Pretrain and leave it running",
		Long: `Create (or reuse) the kind cluster, load the images built by "make images",
apply fixtures/kind and the ingress gateway generated from the routing input
(--routes: "helm template" output of the mw-pretrain releases; default: the
project's example), with the edge running the X-Wikimedia-Debug script
--edge-lua names (default: the project's own), wait for every Deployment and probe every entry point
until it converges. One line per step. On failure or Ctrl-C: the failing step,
diagnostics, and the cluster deleted unless --keep-on-failure. Then: run --target kind,
and down.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := f.upOptions(cmd.InOrStdin())
			if err != nil {
				return usageError(err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			r, err := cluster.Up(ctx, append(opts, cluster.WithLogger(cmd.ErrOrStderr()))...)
			if errors.Is(err, cluster.ErrInput) {
				return usageError(err)
			}
			if err != nil {
				return environmentError(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "replica %q is up: pretrain-check run --target kind; pretrain-check down\n", r.Name())
			return nil
		},
	}
	f.register(cmd.Flags(), true)
	return cmd
}

func newDownCommand() *cobra.Command {
	var f replicaFlags
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Delete the kind replica, or remove what up created on an existing cluster (--kubeconfig); a missing one is not an error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := []cluster.Option{cluster.WithName(f.name), cluster.WithLogger(cmd.ErrOrStderr())}
			if f.kubeconfig != "" {
				opts = append(opts, cluster.WithKubeconfig(f.kubeconfig))
			}
			if err := cluster.Down(cmd.Context(), opts...); err != nil {
				return environmentError(err)
			}
			return nil
		},
	}
	f.register(cmd.Flags(), false)
	return cmd
}
