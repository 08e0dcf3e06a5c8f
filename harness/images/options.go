package images

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ModulePath is the import path of the repository's main module.
const ModulePath = "gitlab.wikimedia.org/repos/sre/pretrain-check"

// Options configures Tags and Build. The zero value builds everything from
// the repository that contains the working directory.
type Options struct {
	RepoRoot     string    // repository root; default: found from the working directory
	CacheDir     string    // build cache; default <RepoRoot>/_output/images
	ManifestPath string    // default <RepoRoot>/_output/images.json
	Progress     io.Writer // one line per step and a summary; nil: discarded
	Repository   string    // repository part of the tags; default Repository ("pretrain-check")
	Docker       string    // docker client; default "docker"
	Go           string    // go command; default "go"
	DebianMirror string    // default Pinned.DebianMirror
	Steps        []string  // build only these steps (and what they need); default all
	SkipEngine   bool      // do not run ensure-docker.sh (an engine must answer)
	NoNice       bool      // do not lower the priority of CPU-heavy builds
	Nice         int       // nice level of CPU-heavy builds; default 5
	Jobs         int       // steps run at once; default 0: as many as are ready (Go builds always run one at a time)
}

func (o Options) resolve() (Options, error) {
	if o.RepoRoot == "" {
		root, err := FindRepoRoot("")
		if err != nil {
			return o, err
		}
		o.RepoRoot = root
	}
	root, err := filepath.Abs(o.RepoRoot)
	if err != nil {
		return o, fmt.Errorf("resolve repository root: %w", err)
	}
	o.RepoRoot = root
	if o.CacheDir == "" {
		o.CacheDir = filepath.Join(root, "_output", "images")
	}
	if o.ManifestPath == "" {
		o.ManifestPath = DefaultManifestPath(root)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Repository == "" {
		o.Repository = Repository
	}
	if o.Docker == "" {
		o.Docker = "docker"
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if o.DebianMirror == "" {
		o.DebianMirror = Pinned.DebianMirror
	}
	if o.Nice == 0 {
		o.Nice = 5
	}
	if o.NoNice {
		o.Nice = 0
	}
	if o.Jobs <= 0 {
		o.Jobs = 64
	}
	return o, nil
}

// DefaultManifestPath is where Build writes the manifest of a repository.
func DefaultManifestPath(repoRoot string) string {
	return filepath.Join(repoRoot, "_output", "images.json")
}

// FindRepoRoot walks up from dir (default: the working directory) to the
// directory whose go.mod declares ModulePath.
func FindRepoRoot(dir string) (string, error) {
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("find repository root: %w", err)
		}
		dir = wd
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if strings.TrimSpace(line) == "module "+ModulePath {
					return d, nil
				}
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("find repository root: no go.mod of %q above %q", ModulePath, dir)
		}
	}
}
