package mutate

import (
	"strings"
	"testing"
)

const input = `# Source: a/templates/gw.yaml
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: vs-a
  namespace: ns
spec:
  hosts: [a.example]
  http:
  - match:
    - uri: {exact: /x}
    route:
    - destination: {host: svc-a}
---
# Source: a/templates/gw2.yaml
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: vs-b
  namespace: ns
spec:
  hosts: [b.example]
`

func TestApplyPatchesOnlyTheNamedObject(t *testing.T) {
	m := Mutation{Name: "widen", Patches: []Patch{{
		Object: "VirtualService/vs-a",
		Ops:    []byte(`[{"op":"replace","path":"/spec/http/0/match/0/uri","value":{"prefix":"/"}}]`),
	}}}
	out, err := Apply([]File{{Name: "in.yaml", Data: []byte(input)}}, m)
	if err != nil {
		t.Fatal(err)
	}
	got := string(out[0].Data)
	if !strings.Contains(got, "prefix: /") || strings.Contains(got, "exact: /x") {
		t.Errorf("vs-a not patched:\n%s", got)
	}
	if !strings.HasSuffix(got, input[strings.Index(input, "\n# Source: a/templates/gw2.yaml"):]) {
		t.Errorf("the untouched document changed:\n%s", got)
	}
}

func TestApplyErrors(t *testing.T) {
	for _, tc := range []struct {
		name, object, ops, want string
	}{
		{"missing object", "VirtualService/nope", `[{"op":"remove","path":"/spec"}]`, "no object VirtualService/nope"},
		{"bad ref", "VirtualService", `[{"op":"remove","path":"/spec"}]`, "want Kind/name"},
		{"op fails", "VirtualService/vs-a", `[{"op":"remove","path":"/spec/nothing"}]`, "apply ops"},
		{"wrong namespace", "VirtualService/other/vs-a", `[{"op":"remove","path":"/spec"}]`, "no object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Apply([]File{{Name: "in.yaml", Data: []byte(input)}},
				Mutation{Name: "m", Patches: []Patch{{Object: tc.object, Ops: []byte(tc.ops)}}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestApplyRefusesAmbiguousObjects(t *testing.T) {
	files := []File{{Name: "a.yaml", Data: []byte(input)}, {Name: "b.yaml", Data: []byte(input)}}
	_, err := Apply(files, Mutation{Name: "m", Patches: []Patch{{Object: "VirtualService/vs-a", Ops: []byte(`[]`)}}})
	if err == nil || !strings.Contains(err.Error(), "2 objects match") {
		t.Fatalf("error %v, want ambiguity", err)
	}
}

func TestParseCatalogueReportsEveryProblemWithItsLine(t *testing.T) {
	data := `- name: a
  description: fine
  patches: [{object: VirtualService/x, ops: [{op: remove, path: /spec}]}]
  fails: [c1]
- name: a
  patches: []
  fails: []
`
	_, err := ParseCatalogue("cat.yaml", []byte(data))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"cat.yaml:5: mutation \"a\": duplicate name (first at line 1)", "cat.yaml:5: mutation \"a\": no patches", "fails is empty"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := ParseCatalogue("cat.yaml", []byte("- name: a\n  bogus: 1\n")); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown key accepted: %v", err)
	}
}
