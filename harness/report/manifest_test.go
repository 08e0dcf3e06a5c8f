package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestManifestInSummaryAndDigests(t *testing.T) {
	in := NewInput("c.yaml", []byte("abc"))
	if in.SHA256 != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" || in.Size != 3 {
		t.Errorf("NewInput = %+v, want the sha256 of \"abc\"", in)
	}
	rep := Report{Cases: sampleVerdicts(), Manifest: &Manifest{Tool: "v9", Contract: in, Target: "config",
		Inputs: []Input{NewInput("<stdin>", []byte("x"))}, Started: time.Unix(0, 0), Ended: time.Unix(3, 0)}}
	dir := t.TempDir()
	if err := rep.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, FileSummary))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tool: pretrain-check v9", "contract: c.yaml sha256 ba7816bf", "input: <stdin> sha256 2d711642", "target: config", "(3s)"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("summary.txt lacks %q:\n%s", want, data)
		}
	}
}
