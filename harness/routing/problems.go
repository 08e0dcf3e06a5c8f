package routing

import (
	"fmt"
	"sort"
	"strings"
)

// Position is where something was written: file:line:column (1-based).
// The zero Position means "not known".
type Position struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

// String renders the position as "file:line:col" (or just the file when the
// line is not known).
func (p Position) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// IsZero reports whether the position is unknown.
func (p Position) IsZero() bool { return p == Position{} }

// Problem is one thing wrong with the input, where it was written.
type Problem struct {
	Pos Position `json:"pos"`
	Msg string   `json:"msg"`
}

// String renders the problem as "file:line:col: msg".
func (p Problem) String() string { return p.Pos.String() + ": " + p.Msg }

// Problems is every problem found in the input. Load (and the Istio model's
// New) return it as *Problems so a caller can list all problems at once;
// Error lists them one per line, in file order.
type Problems struct {
	List []Problem `json:"problems"`
}

// Error lists every problem, one per line, as "file:line:col: msg".
func (p *Problems) Error() string {
	lines := make([]string, len(p.List))
	for i, pr := range p.List {
		lines[i] = pr.String()
	}
	return strings.Join(lines, "\n")
}

// Add records a problem at pos.
func (p *Problems) Add(pos Position, format string, args ...any) {
	p.List = append(p.List, Problem{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// Err sorts the problems by position and returns them as an error, or nil
// when there are none.
func (p *Problems) Err() error {
	if len(p.List) == 0 {
		return nil
	}
	SortProblems(p.List)
	return p
}

// SortProblems orders problems by file (in the order each file first
// appears in the list, which is the order the inputs were read in), then
// line and column; problems at the same position keep their order.
func SortProblems(ps []Problem) {
	first := map[string]int{}
	for i, p := range ps {
		if _, ok := first[p.Pos.File]; !ok {
			first[p.Pos.File] = i
		}
	}
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].Pos, ps[j].Pos
		if a.File != b.File {
			return first[a.File] < first[b.File]
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}
