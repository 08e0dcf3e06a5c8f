// Command pretrain-images builds the air-gapped image set of the kind replica
// (see package harness/images): `pretrain-images` builds everything that is
// not built yet and writes _output/images.json; `pretrain-images tags` prints
// the tags without building; `pretrain-images profile` prints the images of
// the selected profile (PRETRAIN_PROFILE=airgap|upstream).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/images"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: %v\n", err)
		os.Exit(1)
	}
}

type buildFlags struct {
	steps      []string
	skipEngine bool
	cacheDir   string
	manifest   string
	mirror     string
	jobs       int
	noNice     bool
	repo       string
	repository string
}

func (f *buildFlags) options() images.Options {
	return images.Options{
		RepoRoot: f.repo, Repository: f.repository, CacheDir: f.cacheDir, ManifestPath: f.manifest, Progress: os.Stdout,
		DebianMirror: f.mirror, Steps: f.steps, SkipEngine: f.skipEngine, NoNice: f.noNice, Jobs: f.jobs,
	}
}

func newRoot() *cobra.Command {
	f := &buildFlags{}
	root := &cobra.Command{
		Use:   "pretrain-images",
		Short: "Build the kind replica's images without any registry",
		Long: `Builds, in the local Docker engine and without any registry, every image the
air-gapped kind replica runs, each tagged pretrain-check/<name>:<content hash>.
Images whose inputs did not change are not rebuilt. Prints one line per step
and a summary, and writes the manifest (_output/images.json) the harness reads.`,
		SilenceUsage: true, SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := images.Build(cmd.Context(), f.options())
			return err
		},
	}
	fl := root.PersistentFlags()
	fl.StringVar(&f.repo, "repo", "", "repository root (default: found from the working directory)")
	fl.StringVar(&f.repository, "repository", "", "repository part of the tags (default "+images.Repository+")")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "build cache (default <repo>/_output/images)")
	fl.StringVar(&f.manifest, "manifest", "", "manifest path (default <repo>/_output/images.json)")
	fl.StringVar(&f.mirror, "debian-mirror", "", "Debian mirror for debootstrap and apt (default "+images.Pinned.DebianMirror+")")
	root.Flags().StringSliceVar(&f.steps, "steps", nil, "build only these steps and what they need (comma-separated)")
	root.Flags().BoolVar(&f.skipEngine, "skip-engine", false, "do not run ensure-docker.sh; an engine must answer")
	root.Flags().IntVar(&f.jobs, "jobs", 0, "steps run at once (default: all that are ready; Go builds always one at a time)")
	root.Flags().BoolVar(&f.noNice, "no-nice", false, "do not lower the priority of Go builds")
	root.AddCommand(newTags(f), newProfile(f), newPrune(f), newEngineConfig())
	return root
}

func newTags(f *buildFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "tags",
		Short: "Print the tag of every image as JSON, without building",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tags, err := images.Tags(cmd.Context(), f.options())
			if err != nil {
				return err
			}
			return printJSON(tags)
		},
	}
}

func newPrune(f *buildFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "prune",
		Short: "Remove cached binaries, layers and images of inputs that changed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			removed, err := images.Prune(cmd.Context(), f.options())
			for _, r := range removed {
				fmt.Println("removed", r)
			}
			return err
		},
	}
}

func newProfile(f *buildFlags) *cobra.Command {
	var profile string
	c := &cobra.Command{
		Use:   "profile",
		Short: "Print the selected profile and its images as JSON",
		Long: `Selects the profile: --profile, else $` + images.ProfileEnv + `, else auto. Auto is
upstream when kindest/node and the ingress-nginx controller are already in the
local engine, airgap otherwise. Airgap images come from the manifest.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, why, err := images.SelectProfile(cmd.Context(), profile, os.LookupEnv, images.LocalImagesCheck("docker"))
			if err != nil {
				return err
			}
			o := f.options()
			if o.RepoRoot == "" {
				if o.RepoRoot, err = images.FindRepoRoot(""); err != nil {
					return err
				}
			}
			if o.ManifestPath == "" {
				o.ManifestPath = images.DefaultManifestPath(o.RepoRoot)
			}
			m, err := images.ReadManifest(o.ManifestPath)
			if err != nil {
				return err
			}
			imgs, err := images.ImagesFor(p, m, o.RepoRoot)
			if err != nil {
				return err
			}
			return printJSON(struct {
				images.ProfileImages
				Reason string
			}{imgs, why})
		},
	}
	c.Flags().StringVar(&profile, "profile", "", "airgap, upstream or auto (default $"+images.ProfileEnv+", else auto)")
	return c
}

func newEngineConfig() *cobra.Command {
	var daemonJSON, name, path string
	c := &cobra.Command{
		Use:    "engine-config",
		Short:  "Make a runtime the default one in dockerd's daemon.json (used by ensure-docker.sh)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			changed, err := images.ConfigureRuntime(daemonJSON, name, path)
			if err != nil {
				return err
			}
			if changed {
				fmt.Printf("%s: default-runtime %s (%s)\n", daemonJSON, name, path)
			}
			return nil
		},
	}
	c.Flags().StringVar(&daemonJSON, "daemon-json", "/etc/docker/daemon.json", "dockerd configuration file")
	c.Flags().StringVar(&name, "runtime-name", "pretrain-runc", "runtime name")
	c.Flags().StringVar(&path, "runtime-path", "", "runtime executable")
	_ = c.MarkFlagRequired("runtime-path")
	return c
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
