// Package mutate applies named mutations to a routing input: the fault
// proofs of the config tier (and, reloaded, of the kind replica) are not
// hand-written wrong routers but small edits of the very objects a user
// renders (widen a regex, drop a method match, reorder routes), each with
// the contract cases it must fail.
//
// A mutation is a list of RFC 6902 JSON patches, each aimed at one object
// of the input by kind and name. Applying it rewrites only the documents it
// touches; every other document is kept byte for byte.
package mutate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"sigs.k8s.io/yaml"
)

// Mutation is one named edit of a routing input.
type Mutation struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Patches     []Patch `json:"patches"`
	// Fails lists the contract cases the mutated input must fail: no more,
	// no fewer.
	Fails []string `json:"fails"`
	// Line is where the mutation starts in its catalogue file.
	Line int `json:"-"`
}

// Patch aims JSON patch operations at one object.
type Patch struct {
	// Object is "Kind/name" or "Kind/namespace/name".
	Object string `json:"object"`
	// Ops are RFC 6902 operations on the object as JSON.
	Ops json.RawMessage `json:"ops"`
}

// File is one routing input as bytes: a name for errors and its YAML
// stream (one or more documents, as `helm template` prints them).
type File struct {
	Name string
	Data []byte
}

// docSeparator splits a YAML stream into documents: "---" alone on a line
// (optionally followed by a comment), the form helm and kubectl print.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// Apply returns files with m applied. Every patch must find exactly one
// object; an object that two files both define is an error, as is a patch
// that does not apply.
func Apply(files []File, m Mutation) ([]File, error) {
	out := make([]File, len(files))
	copy(out, files)
	var errs []error
	for i, p := range m.Patches {
		if err := applyPatch(out, p); err != nil {
			errs = append(errs, fmt.Errorf("patch %d (%s): %w", i+1, p.Object, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("apply mutation %q: %w", m.Name, err)
	}
	return out, nil
}

func applyPatch(files []File, p Patch) error {
	kind, ns, name, err := parseObjectRef(p.Object)
	if err != nil {
		return err
	}
	ops, err := jsonpatch.DecodePatch(p.Ops)
	if err != nil {
		return fmt.Errorf("decode ops: %w", err)
	}
	type hit struct{ file, doc int }
	var hits []hit
	var docsByFile [][]string
	for fi, f := range files {
		docs := splitDocuments(f.Data)
		docsByFile = append(docsByFile, docs)
		for di, d := range docs {
			var meta struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name      string `json:"name"`
					Namespace string `json:"namespace"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(d), &meta); err != nil {
				continue // the loader reports broken documents with their position
			}
			if meta.Kind == kind && meta.Metadata.Name == name && (ns == "" || meta.Metadata.Namespace == ns) {
				hits = append(hits, hit{fi, di})
			}
		}
	}
	switch len(hits) {
	case 0:
		return fmt.Errorf("no object %s in the input", p.Object)
	case 1:
	default:
		return fmt.Errorf("%d objects match %s: name the namespace (Kind/namespace/name)", len(hits), p.Object)
	}
	h := hits[0]
	doc := docsByFile[h.file][h.doc]
	js, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return fmt.Errorf("read %s: %w", files[h.file].Name, err)
	}
	patched, err := ops.Apply(js)
	if err != nil {
		return fmt.Errorf("apply ops: %w", err)
	}
	y, err := yaml.JSONToYAML(patched)
	if err != nil {
		return fmt.Errorf("write %s: %w", p.Object, err)
	}
	docsByFile[h.file][h.doc] = "\n" + string(y)
	files[h.file] = File{Name: files[h.file].Name, Data: joinDocuments(docsByFile[h.file])}
	return nil
}

func parseObjectRef(ref string) (kind, ns, name string, err error) {
	parts := strings.Split(ref, "/")
	for _, p := range parts {
		if p == "" {
			return "", "", "", fmt.Errorf("object %q: want Kind/name or Kind/namespace/name", ref)
		}
	}
	switch len(parts) {
	case 2:
		return parts[0], "", parts[1], nil
	case 3:
		return parts[0], parts[1], parts[2], nil
	}
	return "", "", "", fmt.Errorf("object %q: want Kind/name or Kind/namespace/name", ref)
}

func splitDocuments(data []byte) []string {
	return docSeparator.Split(string(data), -1)
}

func joinDocuments(docs []string) []byte {
	var b bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			b.WriteString("---")
			if !strings.HasPrefix(d, "\n") {
				b.WriteString("\n")
			}
		}
		b.WriteString(d)
	}
	return b.Bytes()
}
