package contract

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Source says where the behaviour a case or budget checks comes from:
// either the production file that encodes it, pinned to a revision
// ("wikimedia/operations-puppet modules/.../x.lua@2a7e1c34d38"), or a
// planned step of a task when production has not enabled it yet
// ("planned: T427666 step 1").
type Source struct {
	// Repo, Path and Rev are set for a production file. Rev is a commit
	// (7 to 40 hex digits) or, for a version known only by its content,
	// "blob:" and the file's 40-hex git blob id.
	Repo string `json:"repo,omitempty"`
	Path string `json:"path,omitempty"`
	Rev  string `json:"rev,omitempty"`
	// Task and Step are set for planned behaviour.
	Task string `json:"task,omitempty"`
	Step int    `json:"step,omitempty"`
}

// Planned reports whether the source is a plan, not a production file.
func (s Source) Planned() bool { return s.Task != "" }

// IsZero reports whether no source was given.
func (s Source) IsZero() bool { return s == Source{} }

// String renders the source as written in the contract.
func (s Source) String() string {
	switch {
	case s.Planned():
		return fmt.Sprintf("planned: %s step %d", s.Task, s.Step)
	case s.IsZero():
		return ""
	}
	return s.Repo + " " + s.Path + "@" + s.Rev
}

var (
	sourceFile    = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*) ([^\s@]+)@([0-9a-f]{7,40}|blob:[0-9a-f]{40})$`)
	sourcePlanned = regexp.MustCompile(`^planned: ([A-Z][A-Za-z0-9_-]*[0-9]) step ([1-9][0-9]*)$`)
)

// ParseSource reads a source as the contract writes it: "<owner>/<repo>
// <path>@<commit>" (or "@blob:<id>"), or "planned: <task> step <n>".
func ParseSource(s string) (Source, error) {
	if m := sourcePlanned.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[2])
		if err != nil {
			return Source{}, fmt.Errorf("parse source %q: step: %w", s, err)
		}
		return Source{Task: m[1], Step: n}, nil
	}
	if m := sourceFile.FindStringSubmatch(s); m != nil {
		if strings.HasPrefix(m[2], "/") || strings.Contains(m[2], "..") {
			return Source{}, fmt.Errorf("parse source %q: want a path relative to the repository root", s)
		}
		return Source{Repo: m[1], Path: m[2], Rev: m[3]}, nil
	}
	return Source{}, fmt.Errorf(`parse source %q: want "<owner>/<repo> <path>@<commit>" or "planned: <task> step <n>"`, s)
}

// CheckSources reports every case and budget that names no source: the
// contract must say, for each check, which production file (or which
// planned step) it encodes. `contract lint` fails on these.
func CheckSources(c *Contract) []Problem {
	var ps []Problem
	for _, cs := range c.Cases {
		if cs.Source.IsZero() {
			ps = append(ps, Problem{Pos: cs.Pos, Msg: "case " + quote(cs.Name) + " has no source: name the production file it encodes (\"<owner>/<repo> <path>@<commit>\") or \"planned: <task> step <n>\""})
		}
	}
	for _, b := range c.Budgets {
		if b.Source.IsZero() {
			ps = append(ps, Problem{Pos: b.Pos, Msg: "budget " + quote(b.Name) + " has no source: name the production file it encodes or \"planned: <task> step <n>\""})
		}
	}
	for _, s := range c.Shares {
		if s.Source.IsZero() {
			ps = append(ps, Problem{Pos: s.Pos, Msg: "share " + quote(s.Name) + " has no source: name the production file that sets the replicas"})
		}
	}
	sortProblems(ps)
	return ps
}

// SourceUse is one source and the cases and budgets that cite it.
type SourceUse struct {
	Source  Source   `json:"source"`
	Cases   []string `json:"cases,omitempty"`
	Budgets []string `json:"budgets,omitempty"`
	Shares  []string `json:"shares,omitempty"`
}

// Sources lists every source the contract cites, production files first
// (by repository, path, revision), then plans (by task and step), each
// with the cases and budgets citing it in file order.
func Sources(c *Contract) []SourceUse {
	idx := map[Source]*SourceUse{}
	get := func(s Source) *SourceUse {
		u, ok := idx[s]
		if !ok {
			u = &SourceUse{Source: s}
			idx[s] = u
		}
		return u
	}
	for _, cs := range c.Cases {
		if !cs.Source.IsZero() {
			u := get(cs.Source)
			u.Cases = append(u.Cases, cs.Name)
		}
	}
	for _, b := range c.Budgets {
		if !b.Source.IsZero() {
			u := get(b.Source)
			u.Budgets = append(u.Budgets, b.Name)
		}
	}
	for _, sh := range c.Shares {
		if !sh.Source.IsZero() {
			u := get(sh.Source)
			u.Shares = append(u.Shares, sh.Name)
		}
	}
	out := make([]SourceUse, 0, len(idx))
	for _, u := range idx {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Source, out[j].Source
		if a.Planned() != b.Planned() {
			return !a.Planned()
		}
		if a.Planned() {
			if a.Task != b.Task {
				return a.Task < b.Task
			}
			return a.Step < b.Step
		}
		return a.String() < b.String()
	})
	return out
}
