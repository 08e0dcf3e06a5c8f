package images

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ManifestSchema is the version of the manifest format.
const ManifestSchema = 1

// Manifest records what Build produced; the kind harness reads it (see
// ReadManifest) to learn the tags.
//
//	{
//	  "schema": 1,
//	  "images": {"node": "pretrain-check/node:0123456789ab", "traefik": ..., "mwstub": ...},
//	  "preloaded": {"registry.k8s.io/pause:3.10": "pause", ...},
//	  "kind": "/path/to/repo/bin/kind",
//	  "versions": {...},
//	  "steps": [{"name": "kube-binaries", "status": "cached", "seconds": 0.1,
//	             "buildSeconds": 372.4, "builtAt": "...", "hash": "...", "tags": [...]}, ...],
//	  "run": {"startedAt": "...", "seconds": 3.2, "built": 0, "cached": 13}
//	}
type Manifest struct {
	Schema    int               `json:"schema"`
	Images    map[string]string `json:"images"`    // image name (Image* constants) -> tag
	Preloaded map[string]string `json:"preloaded"` // reference inside the node's containerd -> image name
	Kind      string            `json:"kind,omitempty"`
	Versions  Versions          `json:"versions"`
	GoVersion string            `json:"goVersion"`
	Steps     []StepRecord      `json:"steps"`
	Run       RunRecord         `json:"run"`
}

// StepRecord is one step's outcome.
type StepRecord struct {
	Name         string   `json:"name"`
	Status       string   `json:"status"`
	Seconds      float64  `json:"seconds"`                // this run
	BuildSeconds float64  `json:"buildSeconds,omitempty"` // the last run that built these inputs (cold figure)
	BuiltAt      string   `json:"builtAt,omitempty"`
	Hash         string   `json:"hash,omitempty"`
	Tags         []string `json:"tags,omitempty"`
	Error        string   `json:"error,omitempty"`
	err          error
}

// RunRecord summarises one Build.
type RunRecord struct {
	StartedAt string  `json:"startedAt"`
	Seconds   float64 `json:"seconds"`
	Built     int     `json:"built"`
	Cached    int     `json:"cached"`
	Failed    int     `json:"failed"`
}

// Image returns the tag of a named image.
func (m *Manifest) Image(name string) (string, error) {
	if m == nil {
		return "", fmt.Errorf("look up image %q: no manifest", name)
	}
	t, ok := m.Images[name]
	if !ok {
		return "", fmt.Errorf("look up image %q: not in the manifest (have %s)", name, strings.Join(sortedKeys(m.Images), ", "))
	}
	return t, nil
}

func (m *Manifest) step(name string) *StepRecord {
	if m == nil {
		return nil
	}
	for i := range m.Steps {
		if m.Steps[i].Name == name {
			return &m.Steps[i]
		}
	}
	return nil
}

// ReadManifest reads a manifest written by Build.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read image manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode image manifest %q: %w", path, err)
	}
	if m.Schema != ManifestSchema {
		return nil, fmt.Errorf("decode image manifest %q: schema %d, expected %d", path, m.Schema, ManifestSchema)
	}
	return &m, nil
}

// Write stores the manifest atomically.
func (m *Manifest) Write(path string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode image manifest: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write image manifest: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write image manifest: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write image manifest: %w", err)
	}
	return nil
}

func (b *builder) manifest(start time.Time, previous *Manifest) *Manifest {
	m := &Manifest{
		Schema: ManifestSchema, Images: map[string]string{}, Preloaded: b.plan.Preloaded,
		Versions: Pinned, GoVersion: b.plan.GoVersion,
		Run: RunRecord{StartedAt: start.UTC().Format(time.RFC3339), Seconds: time.Since(start).Seconds()},
	}
	for _, s := range b.plan.Steps {
		r, ok := b.result(s.Name)
		if !ok {
			// not selected this run: keep what an earlier run recorded
			if prev := previous.step(s.Name); prev != nil && prev.Hash == s.Hash {
				m.Steps = append(m.Steps, *prev)
				for img, tag := range s.Images {
					m.Images[img] = tag
				}
			}
			continue
		}
		m.Steps = append(m.Steps, r)
		switch r.Status {
		case StatusBuilt:
			m.Run.Built++
		case StatusCached:
			m.Run.Cached++
		case StatusFailed:
			m.Run.Failed++
		}
		if r.Status == StatusBuilt || r.Status == StatusCached {
			for img, tag := range s.Images {
				m.Images[img] = tag
			}
			if s.Name == StepKindCLI {
				m.Kind = filepath.Join(b.opts.RepoRoot, kindBinary.out)
			}
		}
	}
	return m
}

// Summary is a one-paragraph account of the run: what was built or cached,
// this run's time, and the cold figure (the sum of the last build time of
// every step's current inputs).
func (m *Manifest) Summary() string {
	var cold float64
	var coldKnown = true
	var slow []string
	for _, s := range m.Steps {
		if s.BuildSeconds == 0 && s.Status != StatusReady {
			coldKnown = false
		}
		cold += s.BuildSeconds
		if s.Status == StatusBuilt && s.Seconds >= 30 {
			slow = append(slow, fmt.Sprintf("%s %s", s.Name, formatDuration(s.Seconds)))
		}
	}
	kind := "warm"
	if m.Run.Failed > 0 {
		kind = "failed"
	} else if m.Run.Built > 0 {
		kind = "partly cold"
		if m.Run.Cached == 0 {
			kind = "cold"
		}
	}
	out := fmt.Sprintf("[images] summary: %d built, %d cached, %d failed in %s (%s)",
		m.Run.Built, m.Run.Cached, m.Run.Failed, formatDuration(m.Run.Seconds), kind)
	if len(slow) > 0 {
		out += "; slowest: " + strings.Join(slow, ", ")
	}
	if coldKnown && m.Run.Failed == 0 {
		out += fmt.Sprintf("; last build of these inputs: %s (sum of step times)", formatDuration(cold))
	}
	return out
}
