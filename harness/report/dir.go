package report

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/check"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/latency"
)

// File names WriteDir writes.
const (
	FileJSON     = "report.json"
	FileJUnit    = "junit.xml"
	FileSummary  = "summary.txt"
	EvidenceDir  = "evidence"
	JUnitSuiteID = "pretrain-check"
)

// evidenceFile matches the evidence files WriteDir owns.
var evidenceFile = regexp.MustCompile(`^[0-9]{3,}-[A-Za-z0-9._-]*\.txt$`)

// WriteDir is Report{Cases: vs}.WriteDir(dir).
func WriteDir(dir string, vs []check.Verdict) error { return Report{Cases: vs}.WriteDir(dir) }

// WriteDir writes a run's reports into dir (created if needed):
//
//	report.json            WriteJSON: cases and budgets
//	junit.xml              WriteJUnit, suite "pretrain-check"
//	summary.txt            the summary line (cases and budgets), then the table without colour
//	evidence/NNN-<case>.txt  the evidence of each failed or inconclusive case,
//	                         then budget, then share check, NNN its 1-based
//	                         position (cases first)
//	latency/index.html, latency/summary.txt  every budget (when any ran);
//	                         each budget's plots are written as it ends
//	                         (latency.WriteFiles)
//
// Evidence files left by an earlier run in dir/evidence are removed first
// (only files named like ours). Every file is attempted; the errors are
// joined.
func (rep Report) WriteDir(dir string) error {
	evDir := filepath.Join(dir, EvidenceDir)
	if err := os.MkdirAll(evDir, 0o755); err != nil {
		return fmt.Errorf("write report directory %q: %w", dir, err)
	}
	var errs []error
	if old, err := os.ReadDir(evDir); err == nil {
		for _, e := range old {
			if !e.IsDir() && evidenceFile.MatchString(e.Name()) {
				if err := os.Remove(filepath.Join(evDir, e.Name())); err != nil {
					errs = append(errs, fmt.Errorf("remove stale evidence: %w", err))
				}
			}
		}
	}

	write := func(name string, build func(*bytes.Buffer) error) {
		var buf bytes.Buffer
		if err := build(&buf); err != nil {
			errs = append(errs, err)
			return
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("write report file: %w", err))
		}
	}
	write(FileJSON, func(b *bytes.Buffer) error { return rep.WriteJSON(b) })
	write(FileJUnit, func(b *bytes.Buffer) error { return rep.WriteJUnit(b, JUnitSuiteID) })
	write(FileSummary, func(b *bytes.Buffer) error {
		b.WriteString(rep.Summary().Line() + "\n\n")
		if rep.Manifest != nil {
			b.WriteString(strings.Join(rep.Manifest.Lines(), "\n") + "\n\n")
		}
		return rep.WriteTable(b, false)
	})
	for i, v := range rep.Cases {
		if v.Outcome != check.Failed && v.Outcome != check.Inconclusive {
			continue
		}
		name := filepath.Join(EvidenceDir, EvidenceFileName(i, v))
		write(name, func(b *bytes.Buffer) error {
			b.WriteString(v.Explain())
			return nil
		})
	}
	for i, r := range rep.Budgets {
		if r.Outcome != check.Failed && r.Outcome != check.Inconclusive {
			continue
		}
		name := filepath.Join(EvidenceDir, evidenceName(len(rep.Cases)+i, "budget-"+budgetName(r)))
		write(name, func(b *bytes.Buffer) error {
			b.WriteString(r.Explain() + "\n")
			return nil
		})
	}
	for i, r := range rep.Shares {
		if r.Outcome != check.Failed && r.Outcome != check.Inconclusive {
			continue
		}
		name := filepath.Join(EvidenceDir, evidenceName(len(rep.Cases)+len(rep.Budgets)+i, "share-"+shareName(r)))
		write(name, func(b *bytes.Buffer) error {
			b.WriteString(r.Explain())
			return nil
		})
	}
	if len(rep.Budgets) > 0 {
		if _, err := latency.WriteIndex(dir, rep.Budgets); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// EvidenceFileName is the evidence file of the i-th (0-based) verdict:
// "007-xwd-debug-goes-to-debug.txt".
func EvidenceFileName(i int, v check.Verdict) string { return evidenceName(i, caseName(v)) }

func evidenceName(i int, name string) string {
	slug := strings.Trim(unsafeChars.ReplaceAllString(name, "-"), "-.")
	if len(slug) > 80 {
		slug = slug[:80]
	}
	return fmt.Sprintf("%03d-%s.txt", i+1, slug)
}
