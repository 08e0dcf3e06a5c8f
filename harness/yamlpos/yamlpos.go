// Package yamlpos keeps the positions of YAML input (gopkg.in/yaml.v3
// nodes) and the problems found at them, so a parser can report every
// problem of a file at once, each as file:line:col.
//
// Position, Problem and Problems are the values parsers return (contract
// and routing alias them); Walker is the shared reading of nodes: a
// mapping walker that reports a non-mapping node, a non-string key and a
// repeated key, and string, number and boolean readers. A parser with its
// own wording keeps it by passing its own messages through Errorf.
package yamlpos

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Position is where something was written: file:line:column (1-based).
// A Position with no line stands for a whole file; the zero Position
// means "not known".
type Position struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

// String renders the position as "file:line:col" (or just the file when
// the line is not known).
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

// Problems is every problem found in the input. A parser returns it (as
// *Problems, from Err) so a caller can list all problems at once; Error
// lists them one per line, in file order.
type Problems struct {
	List []Problem `json:"problems"`
}

// Add records a problem at pos.
func (p *Problems) Add(pos Position, format string, args ...any) {
	p.List = append(p.List, Problem{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// Len is the number of problems recorded so far.
func (p *Problems) Len() int { return len(p.List) }

// Err sorts the problems by position (see Sort) and returns them as an
// error, or nil when there are none.
func (p *Problems) Err() error {
	if len(p.List) == 0 {
		return nil
	}
	Sort(p.List)
	return p
}

// Error lists every problem, one per line, as "file:line:col: msg".
func (p *Problems) Error() string {
	lines := make([]string, len(p.List))
	for i, pr := range p.List {
		lines[i] = pr.String()
	}
	return strings.Join(lines, "\n")
}

// Sort orders problems by file (in the order each file first appears in
// the list, which is the order the inputs were read in), then line and
// column; problems at the same position keep their order.
func Sort(ps []Problem) {
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

// Of is the position of node n in file.
func Of(file string, n *yaml.Node) Position {
	return Position{File: file, Line: n.Line, Column: n.Column}
}

// Deref follows an alias to its anchored node.
func Deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// Walker reads the nodes of one file, recording each problem at the
// position of the node it is about. The zero Walker (with File set) is
// ready to use; Err returns what it found.
type Walker struct {
	File string
	Problems
}

// Pos is the position of n in the walker's file.
func (w *Walker) Pos(n *yaml.Node) Position { return Of(w.File, n) }

// Errorf records a problem at n.
func (w *Walker) Errorf(n *yaml.Node, format string, args ...any) {
	w.Add(w.Pos(n), format, args...)
}

// Mapping calls each for every key of mapping n, in the order written.
// A node that is not a mapping ("expected a mapping"), a key that is not
// a scalar ("expected a string key") and a key written again ("duplicate
// key %q", the repeat skipped) are problems. Aliases are not followed:
// pass Deref(n) to accept them. Mapping reports whether n is a mapping.
func (w *Walker) Mapping(n *yaml.Node, each func(key string, k, v *yaml.Node)) bool {
	if n.Kind != yaml.MappingNode {
		w.Errorf(n, "expected a mapping")
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			w.Errorf(k, "expected a string key")
			continue
		}
		if seen[k.Value] {
			w.Errorf(k, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		each(k.Value, k, v)
	}
	return true
}

// Str reads a string scalar (tag !!str) into out; anything else is a
// problem ("expected a string") and leaves out alone.
func (w *Walker) Str(n *yaml.Node, out *string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		w.Errorf(n, "expected a string")
		return false
	}
	*out = n.Value
	return true
}

// StrOrNull is Str that also takes null (or an empty value) as "".
func (w *Walker) StrOrNull(n *yaml.Node, out *string) bool {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		*out = ""
		return true
	}
	return w.Str(n, out)
}

// Number reads an integer or float scalar into out; anything else is a
// problem ("expected a number", or "expected a number, got %q" for a
// number YAML reads but Go does not, such as 0x10 or .inf).
func (w *Walker) Number(n *yaml.Node, out *float64) bool {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		w.Errorf(n, "expected a number")
		return false
	}
	f, err := strconv.ParseFloat(n.Value, 64)
	if err != nil {
		w.Errorf(n, "expected a number, got %q", n.Value)
		return false
	}
	*out = f
	return true
}

// Bool reads a boolean scalar (true or false) into out; anything else is
// a problem ("expected true or false").
func (w *Walker) Bool(n *yaml.Node, out *bool) bool {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		w.Errorf(n, "expected true or false")
		return false
	}
	b, err := strconv.ParseBool(n.Value)
	if err != nil {
		w.Errorf(n, "expected true or false, got %q", n.Value)
		return false
	}
	*out = b
	return true
}
