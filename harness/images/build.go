package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Step outcomes, as printed and recorded in the manifest.
const (
	StatusBuilt   = "built"
	StatusCached  = "cached"
	StatusReady   = "ready" // docker-engine
	StatusFailed  = "failed"
	StatusSkipped = "skipped" // a step it needs failed
)

// token is a one-slot semaphore that honours cancellation.
type token chan struct{}

func (t token) acquire(ctx context.Context) error {
	select {
	case t <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t token) release() { <-t }

type builder struct {
	opts Options
	plan *Plan
	cpu  token // Go builds run one at a time: each uses every core

	mu      sync.Mutex
	results map[string]StepRecord
}

// Build runs the plan: every step whose images (or binaries) do not exist yet
// is built, the others are reported as cached. It writes the manifest to
// Options.ManifestPath when every step succeeded and returns it. On failure
// the error names each failed step, the command that failed and the tail of
// its output; no image of a failed step is tagged.
func Build(ctx context.Context, opts Options) (*Manifest, error) {
	start := time.Now()
	plan, err := NewPlan(ctx, opts)
	if err != nil {
		return nil, err
	}
	opts = plan.opts
	b := &builder{opts: opts, plan: plan, cpu: make(token, 1), results: map[string]StepRecord{}}
	previous, _ := ReadManifest(opts.ManifestPath) // earlier build figures, if any
	selected, err := plan.selected(opts.Steps)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"logs", "bin", "ctx", "layers", "rootfs", "work"} {
		if err := os.MkdirAll(filepath.Join(opts.CacheDir, d), 0o755); err != nil {
			return nil, fmt.Errorf("create cache directory: %w", err)
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := map[string]chan struct{}{}
	for _, s := range plan.Steps {
		done[s.Name] = make(chan struct{})
	}
	jobs := make(chan struct{}, opts.Jobs)
	var wg sync.WaitGroup
	for _, s := range plan.Steps {
		if !selected[s.Name] {
			close(done[s.Name])
			continue
		}
		wg.Add(1)
		go func(s *Step) {
			defer wg.Done()
			defer close(done[s.Name])
			for _, d := range s.Deps {
				<-done[d]
				if r, ok := b.result(d); ok && (r.Status == StatusFailed || r.Status == StatusSkipped) {
					b.record(s, StatusSkipped, 0, fmt.Errorf("needs %q", d), previous)
					return
				}
			}
			select {
			case jobs <- struct{}{}:
			case <-ctx.Done():
				b.record(s, StatusSkipped, 0, ctx.Err(), previous)
				return
			}
			defer func() { <-jobs }()
			t0 := time.Now()
			status, waited, err := b.runStep(ctx, s)
			b.record(s, status, time.Since(t0)-waited, err, previous)
			if err != nil {
				cancel() // stop the other steps: the build failed
			}
		}(s)
	}
	wg.Wait()

	m := b.manifest(start, previous)
	fmt.Fprintln(opts.Progress, m.Summary())
	var errs []error
	for _, s := range plan.Steps {
		if r, ok := b.result(s.Name); ok && r.Status == StatusFailed {
			errs = append(errs, &StepError{Step: s.Name, Err: r.err})
		}
	}
	if len(errs) > 0 {
		return m, errors.Join(errs...)
	}
	if err := ctx.Err(); err != nil {
		return m, fmt.Errorf("build images: %w", err)
	}
	if err := m.Write(opts.ManifestPath); err != nil {
		return m, err
	}
	return m, nil
}

// selected returns the named steps and everything they need.
func (p *Plan) selected(names []string) (map[string]bool, error) {
	sel := map[string]bool{}
	if len(names) == 0 {
		for _, s := range p.Steps {
			sel[s.Name] = true
		}
		return sel, nil
	}
	var add func(string) error
	add = func(n string) error {
		s := p.Step(n)
		if s == nil {
			var known []string
			for _, s := range p.Steps {
				known = append(known, s.Name)
			}
			return fmt.Errorf("select step %q: no such step (known: %s)", n, strings.Join(known, ", "))
		}
		if sel[n] {
			return nil
		}
		sel[n] = true
		for _, d := range s.Deps {
			if err := add(d); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range names {
		if err := add(n); err != nil {
			return nil, err
		}
	}
	return sel, nil
}

// runStep runs one step; waited is the time it spent queued for the CPU
// token, which its duration does not count.
func (b *builder) runStep(ctx context.Context, s *Step) (status string, waited time.Duration, err error) {
	logPath := filepath.Join(b.opts.CacheDir, "logs", s.Name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return StatusFailed, 0, fmt.Errorf("create step log: %w", err)
	}
	defer f.Close()
	l := &stepLog{step: s.Name, out: &lockedWriter{w: f}}
	built, err := s.build(ctx, b, l, s)
	switch {
	case err != nil:
		fmt.Fprintf(l.out, "FAILED: %v\n", err)
		return StatusFailed, l.waited, fmt.Errorf("%w (log: %s)", err, logPath)
	case s.Name == StepEngine:
		return StatusReady, l.waited, nil
	case built:
		return StatusBuilt, l.waited, nil
	}
	return StatusCached, l.waited, nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  *os.File
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

func (b *builder) result(name string) (StepRecord, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.results[name]
	return r, ok
}

// record stores a step's outcome and prints its progress line.
func (b *builder) record(s *Step, status string, d time.Duration, err error, previous *Manifest) {
	r := StepRecord{Name: s.Name, Hash: s.Hash, Status: status, Seconds: d.Seconds(), err: err}
	for _, img := range sortedKeys(s.Images) {
		r.Tags = append(r.Tags, s.Images[img])
	}
	if status == StatusBuilt {
		r.BuildSeconds, r.BuiltAt = r.Seconds, time.Now().UTC().Format(time.RFC3339)
	} else if prev := previous.step(s.Name); prev != nil && prev.Hash == s.Hash {
		r.BuildSeconds, r.BuiltAt = prev.BuildSeconds, prev.BuiltAt
	}
	if err != nil {
		r.Error = err.Error()
	}
	b.mu.Lock()
	b.results[s.Name] = r
	b.mu.Unlock()
	fmt.Fprintln(b.opts.Progress, r.line())
}

func (r StepRecord) line() string {
	s := fmt.Sprintf("[images] %-14s %-7s %7s", r.Name, r.Status, formatDuration(r.Seconds))
	switch {
	case r.Status == StatusFailed || r.Status == StatusSkipped:
		first, _, _ := strings.Cut(r.Error, "\n")
		s += "  " + first
	case len(r.Tags) > 0:
		s += "  " + strings.Join(r.Tags, " ")
	}
	return s
}

func formatDuration(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}
