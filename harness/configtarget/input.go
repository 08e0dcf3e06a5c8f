package configtarget

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/fixtures"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/mutate"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/routing"
)

// Input names the routing input of a config tier.
type Input struct {
	// Paths are files, directories or "-" (Stdin); none means the
	// project's example (fixtures/routes).
	Paths []string
	Stdin io.Reader
	// Mutations are applied, in order, to the example (fault proofs);
	// they need the example's object names, so Paths must be empty.
	Mutations []mutate.Mutation
}

// Read reads and parses the input, applying its mutations.
func (in Input) Read() (*routing.Input, error) {
	if len(in.Paths) > 0 {
		if len(in.Mutations) > 0 {
			return nil, fmt.Errorf("read routing input: mutations apply to the example input only, not to %v", in.Paths)
		}
		return routing.Load(in.Paths, in.Stdin)
	}
	files, err := ExampleFiles()
	if err != nil {
		return nil, err
	}
	mfiles := make([]mutate.File, len(files))
	for i, f := range files {
		mfiles[i] = mutate.File{Name: f.Name, Data: f.Data}
	}
	for _, m := range in.Mutations {
		if mfiles, err = mutate.Apply(mfiles, m); err != nil {
			return nil, fmt.Errorf("read routing input: %w", err)
		}
		for i := range mfiles {
			mfiles[i].Name = files[i].Name + " (mutated: " + m.Name + ")"
		}
	}
	for i, f := range mfiles {
		files[i] = routing.File{Name: f.Name, Data: f.Data}
	}
	return routing.ParseFiles(files)
}

// ExampleInput is the project's example routing input, parsed.
func ExampleInput() (*routing.Input, error) { return Input{}.Read() }

// ExampleFiles are the example input's files, named by their path in the
// repository (fixtures/routes/main.yaml) so positions point at them.
func ExampleFiles() ([]routing.File, error) {
	entries, err := fs.ReadDir(fixtures.Routes, fixtures.RoutesFSDir)
	if err != nil {
		return nil, fmt.Errorf("read the example routing input: %w", err)
	}
	var files []routing.File
	for _, e := range entries {
		if e.IsDir() || (path.Ext(e.Name()) != ".yaml" && path.Ext(e.Name()) != ".yml") {
			continue
		}
		data, err := fs.ReadFile(fixtures.Routes, path.Join(fixtures.RoutesFSDir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read the example routing input: %w", err)
		}
		files = append(files, routing.File{Name: path.Join(fixtures.RoutesDir, e.Name()), Data: data})
	}
	return files, nil
}

// Mutations is the catalogue of the example's mutations
// (fixtures/mutations/routes.yaml).
func Mutations() ([]mutate.Mutation, error) {
	return mutate.ParseCatalogue(fixtures.RouteMutationsFile, fixtures.RouteMutations)
}

// Failures are the cases of m.Fails the tier runs (those at its Entries),
// sorted: a mutation's fails name every entry's, those that cross the
// ingress gateway on the kind replica included.
func Failures(m mutate.Mutation, c *contract.Contract) []string {
	var out []string
	for _, name := range m.Fails {
		if cs := c.Case(name); cs != nil && slices.Contains(Entries, cs.Entry) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Mutation finds one mutation of the catalogue by name.
func Mutation(name string) (mutate.Mutation, error) {
	ms, err := Mutations()
	if err != nil {
		return mutate.Mutation{}, err
	}
	var names []string
	for _, m := range ms {
		if m.Name == name {
			return m, nil
		}
		names = append(names, m.Name)
	}
	return mutate.Mutation{}, fmt.Errorf("no mutation %q in %s (have %v)", name, fixtures.RouteMutationsFile, names)
}
