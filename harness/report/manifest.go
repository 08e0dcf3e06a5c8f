package report

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Manifest says what a run was: the tool, every input by digest, the
// target, the selection and when it ran, so a report can be matched to
// exactly what produced it.
type Manifest struct {
	Tool     string  `json:"tool"`             // pretrain-check's version
	Contract Input   `json:"contract"`         // the routing contract
	Inputs   []Input `json:"inputs,omitempty"` // routing input files (config-driven targets)
	Target   string  `json:"target"`
	// LabelFilter and Focus are the selection as given.
	LabelFilter string    `json:"labelFilter,omitempty"`
	Focus       []string  `json:"focus,omitempty"`
	Started     time.Time `json:"started"`
	Ended       time.Time `json:"ended"`
}

// Input is one file a run read.
type Input struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
}

// NewInput digests data read from name.
func NewInput(name string, data []byte) Input {
	sum := sha256.Sum256(data)
	return Input{Name: name, SHA256: hex.EncodeToString(sum[:]), Size: len(data)}
}

// Lines render the manifest for summary.txt.
func (m Manifest) Lines() []string {
	lines := []string{
		"tool: pretrain-check " + m.Tool,
		fmt.Sprintf("contract: %s sha256 %s", m.Contract.Name, m.Contract.SHA256),
	}
	for _, in := range m.Inputs {
		lines = append(lines, fmt.Sprintf("input: %s sha256 %s", in.Name, in.SHA256))
	}
	lines = append(lines, "target: "+m.Target)
	if m.LabelFilter != "" || len(m.Focus) > 0 {
		lines = append(lines, fmt.Sprintf("selection: --label-filter %q --focus %q", m.LabelFilter, strings.Join(m.Focus, ",")))
	}
	return append(lines, fmt.Sprintf("ran: %s to %s (%s)", m.Started.UTC().Format(time.RFC3339), m.Ended.UTC().Format(time.RFC3339),
		m.Ended.Sub(m.Started).Round(time.Millisecond)))
}
