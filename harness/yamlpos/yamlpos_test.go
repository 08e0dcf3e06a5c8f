package yamlpos

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// root decodes doc and returns its top node.
func root(t *testing.T, doc string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
		t.Fatal(err)
	}
	return n.Content[0]
}

func TestPositionString(t *testing.T) {
	for _, tc := range []struct {
		pos  Position
		want string
	}{
		{Position{"a.yaml", 3, 7}, "a.yaml:3:7"},
		{Position{File: "a.yaml"}, "a.yaml"},
		{Position{}, ""},
	} {
		if got := tc.pos.String(); got != tc.want {
			t.Errorf("%#v: got %q, want %q", tc.pos, got, tc.want)
		}
	}
	if !(Position{}).IsZero() || (Position{File: "a"}).IsZero() {
		t.Error("IsZero")
	}
}

func TestProblemsSortedAndJSON(t *testing.T) {
	var ps Problems
	if ps.Err() != nil {
		t.Fatal("no problems: Err is not nil")
	}
	ps.Add(Position{"b.yaml", 2, 1}, "b second")
	ps.Add(Position{"a.yaml", 9, 1}, "a later")
	ps.Add(Position{"b.yaml", 1, 5}, "b first %d", 1)
	ps.Add(Position{"a.yaml", 1, 1}, "a first")
	ps.Add(Position{"a.yaml", 1, 1}, "a first again")
	ps.Add(Position{File: "b.yaml"}, "whole file")
	err := ps.Err()
	var got *Problems
	if !errors.As(err, &got) || got != &ps {
		t.Fatalf("Err %T, want *Problems", err)
	}
	// Files in the order first seen (b before a), then line and column,
	// same position in the order added.
	want := strings.Join([]string{
		"b.yaml: whole file",
		"b.yaml:1:5: b first 1",
		"b.yaml:2:1: b second",
		"a.yaml:1:1: a first",
		"a.yaml:1:1: a first again",
		"a.yaml:9:1: a later",
	}, "\n")
	if err.Error() != want {
		t.Fatalf("Error():\n%s\nwant:\n%s", err, want)
	}
	js, _ := json.Marshal(Problems{List: ps.List[:1]})
	if string(js) != `{"problems":[{"pos":{"file":"b.yaml","line":0,"column":0},"msg":"whole file"}]}` {
		t.Fatalf("JSON %s", js)
	}
}

func TestMappingWalksInOrder(t *testing.T) {
	w := &Walker{File: "t.yaml"}
	var keys []string
	ok := w.Mapping(root(t, "b: 1\na: 2\nc: 3\n"), func(key string, k, v *yaml.Node) {
		keys = append(keys, key+"="+v.Value+"@"+w.Pos(k).String())
	})
	if !ok || w.Err() != nil {
		t.Fatalf("ok %v err %v", ok, w.Err())
	}
	if got := strings.Join(keys, " "); got != "b=1@t.yaml:1:1 a=2@t.yaml:2:1 c=3@t.yaml:3:1" {
		t.Fatalf("walked %s", got)
	}
}

func TestMappingProblems(t *testing.T) {
	w := &Walker{File: "t.yaml"}
	if w.Mapping(root(t, "- a\n- b\n"), func(string, *yaml.Node, *yaml.Node) { t.Error("called for a list") }) {
		t.Error("a list is a mapping")
	}
	var keys []string
	w.Mapping(root(t, "a: 1\n[x]: 2\nb: 3\na: 4\n"), func(key string, _, v *yaml.Node) {
		keys = append(keys, key+"="+v.Value)
	})
	if got := strings.Join(keys, " "); got != "a=1 b=3" {
		t.Errorf("walked %s, want the first a and b", got)
	}
	want := "t.yaml:1:1: expected a mapping\n" +
		"t.yaml:2:1: expected a string key\n" +
		"t.yaml:4:1: duplicate key \"a\""
	if err := w.Err(); err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestScalarReaders(t *testing.T) {
	w := &Walker{File: "t.yaml"}
	m := root(t, "s: text\nnum: 1.5\nint: 3\nyes: true\nlist: [a]\nnull:\nhex: 0x10\ninf: .inf\nquoted: \"2\"\nword: maybe\n")
	v := map[string]*yaml.Node{}
	w.Mapping(m, func(key string, _, n *yaml.Node) { v[key] = n })

	var s string
	var f float64
	var b bool
	if !w.Str(v["s"], &s) || s != "text" {
		t.Errorf("Str: %q", s)
	}
	if !w.Number(v["num"], &f) || f != 1.5 {
		t.Errorf("Number: %v", f)
	}
	if !w.Number(v["int"], &f) || f != 3 {
		t.Errorf("Number(int): %v", f)
	}
	if !w.Bool(v["yes"], &b) || !b {
		t.Errorf("Bool: %v", b)
	}
	s = "kept"
	if !w.StrOrNull(v["null"], &s) || s != "" {
		t.Errorf("StrOrNull(null): %q", s)
	}
	if w.Err() != nil {
		t.Fatalf("good values: %v", w.Err())
	}

	s, f, b = "kept", 42, true
	if w.Str(v["int"], &s) || w.Str(v["null"], &s) || w.StrOrNull(v["list"], &s) || s != "kept" {
		t.Errorf("Str took a non-string: %q", s)
	}
	if w.Number(v["quoted"], &f) || w.Number(v["hex"], &f) || w.Number(v["inf"], &f) || f != 42 {
		t.Errorf("Number took a non-number: %v", f)
	}
	if w.Bool(v["word"], &b) || w.Bool(v["int"], &b) || !b {
		t.Errorf("Bool took a non-boolean: %v", b)
	}
	want := strings.Join([]string{
		`t.yaml:3:6: expected a string`,
		`t.yaml:3:6: expected true or false`,
		`t.yaml:5:7: expected a string`,
		`t.yaml:6:6: expected a string`,
		`t.yaml:7:6: expected a number, got "0x10"`,
		`t.yaml:8:6: expected a number, got ".inf"`,
		`t.yaml:9:9: expected a number`,
		`t.yaml:10:7: expected true or false`,
	}, "\n")
	if err := w.Err(); err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestDerefAndOf(t *testing.T) {
	m := root(t, "a: &x {k: v}\nb: *x\n")
	b := m.Content[3]
	if b.Kind != yaml.AliasNode || Deref(b).Kind != yaml.MappingNode {
		t.Fatalf("Deref(%v) = %v", b.Kind, Deref(b).Kind)
	}
	if got := Of("f.yaml", b).String(); got != "f.yaml:2:4" {
		t.Fatalf("Of: %s", got)
	}
	w := &Walker{File: "f.yaml"}
	if w.Mapping(b, func(string, *yaml.Node, *yaml.Node) {}) || !w.Mapping(Deref(b), func(string, *yaml.Node, *yaml.Node) {}) {
		t.Fatal("Mapping follows aliases only through Deref")
	}
}
