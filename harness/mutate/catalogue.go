package mutate

import (
	"errors"
	"fmt"

	yamlv3 "gopkg.in/yaml.v3"
	"sigs.k8s.io/yaml"
)

// ParseCatalogue reads a list of mutations (see fixtures/routes/mutations.yaml).
// Every problem is reported at once, each as file:line.
func ParseCatalogue(file string, data []byte) ([]Mutation, error) {
	var ms []Mutation
	if err := yaml.UnmarshalStrict(data, &ms); err != nil {
		return nil, fmt.Errorf("parse mutation catalogue %s: %w", file, err)
	}
	var root yamlv3.Node
	if err := yamlv3.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("parse mutation catalogue %s: %w", file, err)
	}
	if len(root.Content) == 1 && root.Content[0].Kind == yamlv3.SequenceNode {
		for i, n := range root.Content[0].Content {
			if i < len(ms) {
				ms[i].Line = n.Line
			}
		}
	}
	var errs []error
	seen := map[string]int{}
	for _, m := range ms {
		at := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: mutation %q: %s", file, m.Line, m.Name, fmt.Sprintf(format, a...)))
		}
		if m.Name == "" {
			at("name is required")
		}
		if prev, ok := seen[m.Name]; ok {
			at("duplicate name (first at line %d)", prev)
		}
		seen[m.Name] = m.Line
		if len(m.Patches) == 0 {
			at("no patches")
		}
		if len(m.Fails) == 0 {
			at("fails is empty: a mutation that fails no case proves nothing")
		}
		for i, p := range m.Patches {
			if _, _, _, err := parseObjectRef(p.Object); err != nil {
				at("patch %d: %v", i+1, err)
			}
			if len(p.Ops) == 0 {
				at("patch %d: no ops", i+1)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("validate mutation catalogue: %w", err)
	}
	return ms, nil
}
