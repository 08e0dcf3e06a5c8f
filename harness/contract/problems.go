package contract

import (
	"fmt"
	"sort"
	"strings"
)

// String renders the position as "file:line:col".
func (p Position) String() string {
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Problem is one thing wrong with a contract, where it was written.
type Problem struct {
	Pos Position `json:"pos"`
	Msg string   `json:"msg"`
}

// String renders the problem as "file:line:col: msg".
func (p Problem) String() string { return p.Pos.String() + ": " + p.Msg }

// Problems is every problem found in a contract. Load and Parse return it
// (as *Problems) so callers can list all problems at once; Error lists them
// one per line, in file order.
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

// sortProblems orders problems by position (stable: same position keeps
// the order found).
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i].Pos, ps[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}
