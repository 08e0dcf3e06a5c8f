package routing

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"gopkg.in/yaml.v3"
	networking "istio.io/api/networking/v1alpha3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StdinName is the Source name of standard input.
const StdinName = "<stdin>"

// Option changes how Load reads.
type Option func(*options)

type options struct {
	namespace string
	maxBytes  int64
}

// WithMaxBytes bounds the size of each input (default DefaultMaxBytes).
func WithMaxBytes(n int64) Option { return func(o *options) { o.maxBytes = n } }

// Load reads the routing input from paths: each is a file, a directory
// (every *.yaml and *.yml in it, sorted by name, not recursive) or "-" for
// stdin. Each input is multi-document YAML as `helm template` prints it.
// On any problem Load returns nil and a *Problems listing every problem
// found in every input.
func Load(paths []string, stdin io.Reader, opts ...Option) (*Input, error) {
	if len(paths) == 0 {
		return nil, errors.New("load routing input: no input given (a file, a directory or - for stdin)")
	}
	o := newOptions(opts)
	l := newLoader(o)
	stdinRead := false
	for _, p := range paths {
		switch {
		case p == "-":
			if stdinRead {
				l.problems.Add(Position{File: StdinName}, "stdin given twice")
				continue
			}
			stdinRead = true
			if stdin == nil {
				l.problems.Add(Position{File: StdinName}, "no stdin to read")
				continue
			}
			data, err := readBounded(stdin, o.maxBytes)
			if err != nil {
				l.problems.Add(Position{File: StdinName}, "read: %v", err)
				continue
			}
			l.parse(StdinName, data)
		default:
			fi, err := os.Stat(p)
			if err != nil {
				l.problems.Add(Position{File: p}, "read: %v", unwrapPath(err))
				continue
			}
			if fi.IsDir() {
				entries, err := os.ReadDir(p)
				if err != nil {
					l.problems.Add(Position{File: p}, "read directory: %v", unwrapPath(err))
					continue
				}
				names := yamlNames(entries)
				if len(names) == 0 {
					l.problems.Add(Position{File: p}, "directory has no *.yaml or *.yml file")
				}
				for _, name := range names {
					l.readFile(filepath.Join(p, name), func(name string) (io.ReadCloser, error) { return os.Open(name) })
				}
				continue
			}
			l.readFile(p, func(name string) (io.ReadCloser, error) { return os.Open(name) })
		}
	}
	return l.finish()
}

// LoadFS is Load for paths in fsys (files or directories; no stdin), e.g.
// the embedded example input in package fixtures.
func LoadFS(fsys fs.FS, paths []string, opts ...Option) (*Input, error) {
	if len(paths) == 0 {
		return nil, errors.New("load routing input: no input given")
	}
	l := newLoader(newOptions(opts))
	for _, p := range paths {
		fi, err := fs.Stat(fsys, p)
		if err != nil {
			l.problems.Add(Position{File: p}, "read: %v", unwrapPath(err))
			continue
		}
		if !fi.IsDir() {
			l.readFile(p, func(name string) (io.ReadCloser, error) { return fsys.Open(name) })
			continue
		}
		entries, err := fs.ReadDir(fsys, p)
		if err != nil {
			l.problems.Add(Position{File: p}, "read directory: %v", unwrapPath(err))
			continue
		}
		names := yamlNames(entries)
		if len(names) == 0 {
			l.problems.Add(Position{File: p}, "directory has no *.yaml or *.yml file")
		}
		for _, name := range names {
			l.readFile(path.Join(p, name), func(name string) (io.ReadCloser, error) { return fsys.Open(name) })
		}
	}
	return l.finish()
}

// Parse reads one input already in memory; name is its display name.
func Parse(name string, data []byte, opts ...Option) (*Input, error) {
	o := newOptions(opts)
	l := newLoader(o)
	if int64(len(data)) > o.maxBytes {
		l.problems.Add(Position{File: name}, "input is larger than the limit of %s", sizeString(o.maxBytes))
	} else {
		l.parse(name, data)
	}
	return l.finish()
}

func newOptions(opts []Option) options {
	o := options{namespace: DefaultNamespace, maxBytes: DefaultMaxBytes}
	for _, f := range opts {
		f(&o)
	}
	return o
}

func yamlNames(entries []fs.DirEntry) []string {
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 {
			if strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml") {
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	return names
}

// unwrapPath drops the *fs.PathError wrapper (the path is already in the
// problem's position).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func sizeString(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

var errTooLarge = errors.New("too large")

func readBounded(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("input is larger than the limit of %s: %w", sizeString(max), errTooLarge)
	}
	return data, nil
}

type loader struct {
	o        options
	in       *Input
	problems Problems
	seen     map[string]Position // kind/namespace/name -> first position
}

func newLoader(o options) *loader {
	return &loader{o: o, in: &Input{Ignored: map[string]int{}}, seen: map[string]Position{}}
}

func (l *loader) readFile(name string, open func(string) (io.ReadCloser, error)) {
	f, err := open(name)
	if err != nil {
		l.problems.Add(Position{File: name}, "read: %v", unwrapPath(err))
		return
	}
	defer f.Close()
	data, err := readBounded(f, l.o.maxBytes)
	if err != nil {
		l.problems.Add(Position{File: name}, "read: %v", err)
		return
	}
	l.parse(name, data)
}

func (l *loader) finish() (*Input, error) {
	if err := l.problems.Err(); err != nil {
		return nil, err
	}
	return l.in, nil
}

// document is one YAML document of a stream, with the number of lines
// before it.
type document struct {
	offset int
	data   []byte
}

// splitDocuments cuts a stream at its "---" lines (and drops "..." lines).
// Parsing each document on its own lets one bad document not hide the
// problems of the next ones, and keeps positions exact: a "---" at
// column 1 is always a document marker (block scalars are indented).
func splitDocuments(data []byte) []document {
	var docs []document
	lines := bytes.SplitAfter(data, []byte("\n"))
	start := 0
	var cur []byte
	flush := func(next int) {
		docs = append(docs, document{offset: start, data: cur})
		cur = nil
		start = next
	}
	for i, line := range lines {
		t := bytes.TrimRight(line, "\r\n")
		switch {
		case bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- ")) || bytes.HasPrefix(t, []byte("---\t")):
			flush(i)
			// Keep the line (blanked marker) so what follows it on the
			// line, if anything, keeps its column.
			cur = append(cur, append([]byte("   "), line[3:]...)...)
		case bytes.Equal(t, []byte("...")):
			cur = append(cur, '\n')
		default:
			cur = append(cur, line...)
		}
	}
	flush(len(lines))
	return docs
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (l *loader) parse(name string, data []byte) {
	sum := sha256.Sum256(data)
	l.in.Sources = append(l.in.Sources, Source{Name: name, SHA256: hex.EncodeToString(sum[:]), Size: len(data)})
	for _, d := range splitDocuments(data) {
		var root yaml.Node
		if err := yaml.Unmarshal(d.data, &root); err != nil {
			pos := Position{File: name, Line: d.offset + 1, Column: 1}
			msg := err.Error()
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				n, _ := strconv.Atoi(m[1])
				pos.Line = d.offset + n
				msg = m[2]
			} else {
				msg = strings.TrimPrefix(msg, "yaml: ")
			}
			l.problems.Add(pos, "invalid YAML: %s", msg)
			continue
		}
		if root.Kind == 0 || len(root.Content) == 0 {
			continue // empty document (only comments)
		}
		n := resolve(root.Content[0])
		if isNull(n) {
			continue
		}
		l.object(name, d.offset, n)
	}
}

func scalarField(n *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], resolve(n.Content[i+1])
		}
	}
	return nil, nil
}

// object reads one top-level object (or a v1 List's items).
func (l *loader) object(file string, offset int, n *yaml.Node) {
	w := &walker{file: file, offset: offset, fields: map[string]Position{}, problems: &l.problems}
	if n.Kind != yaml.MappingNode {
		w.ref = "document"
		w.problem(n, "", "want a Kubernetes object (a mapping), got %s", describe(n))
		return
	}
	_, kindN := scalarField(n, "kind")
	_, avN := scalarField(n, "apiVersion")
	kind, apiVersion := "", ""
	if kindN != nil && kindN.Kind == yaml.ScalarNode {
		kind = kindN.Value
	}
	if avN != nil && avN.Kind == yaml.ScalarNode {
		apiVersion = avN.Value
	}
	w.ref = "object"
	if kind != "" {
		w.ref = kind
	}
	if kind == "" || apiVersion == "" {
		if kind == "" {
			w.problem(n, "", "missing kind")
		}
		if apiVersion == "" {
			w.problem(n, "", "missing apiVersion")
		}
		return
	}
	group, version := "", apiVersion
	if g, v, ok := strings.Cut(apiVersion, "/"); ok {
		group, version = g, v
	}

	var read bool
	switch {
	case kind == "List" && apiVersion == "v1":
		_, items := scalarField(n, "items")
		if items != nil && items.Kind == yaml.SequenceNode {
			for _, it := range items.Content {
				l.object(file, offset, resolve(it))
			}
		}
		return
	case (kind == KindGateway || kind == KindVirtualService) && group == "networking.istio.io":
		if version != "v1alpha3" && version != "v1beta1" && version != "v1" {
			w.problem(avN, "apiVersion", "unsupported version %q (want networking.istio.io/v1alpha3, v1beta1 or v1)", apiVersion)
			return
		}
		read = true
	case kind == KindService && apiVersion == "v1":
		read = true
	case kind == KindDeployment && group == "apps":
		if apiVersion != "apps/v1" {
			w.problem(avN, "apiVersion", "unsupported version %q (want apps/v1)", apiVersion)
			return
		}
		read = true
	}
	if !read {
		key := kind
		if kind == KindGateway || kind == KindVirtualService || kind == KindService || kind == KindDeployment {
			key = kind + " (" + apiVersion + ")"
		}
		l.in.Ignored[key]++
		return
	}

	// Identity first, so every problem can name the object.
	metaK, metaN := scalarField(n, "metadata")
	obj := Object{APIVersion: apiVersion, Kind: kind, Pos: w.pos(n), fields: w.fields}
	if metaN != nil && metaN.Kind == yaml.MappingNode {
		if _, v := scalarField(metaN, "name"); v != nil && v.Kind == yaml.ScalarNode && !isNull(v) {
			obj.Name = v.Value
		}
		if _, v := scalarField(metaN, "namespace"); v != nil && v.Kind == yaml.ScalarNode && !isNull(v) {
			obj.Namespace = v.Value
		}
	}
	if obj.Namespace == "" {
		obj.Namespace, obj.NamespaceDefaulted = l.o.namespace, true
	}
	w.ref = kind + " " + obj.Namespace + "/" + obj.Name
	if obj.Name == "" {
		w.ref = kind + " (no name)"
		at := n
		if metaK != nil {
			at = metaK
		}
		w.problem(at, "metadata.name", "missing")
	}

	var typed reflect.Type
	var spec proto.Message
	switch kind {
	case KindService:
		typed = reflect.TypeFor[corev1.Service]()
	case KindDeployment:
		typed = reflect.TypeFor[appsv1.Deployment]()
	case KindGateway:
		spec = &networking.Gateway{}
	case KindVirtualService:
		spec = &networking.VirtualService{}
	}
	var specN *yaml.Node
	if typed != nil {
		w.kube(n, typed, "")
	} else {
		w.pairs(n, "", func(key string, k, v *yaml.Node) {
			w.fields[key] = w.pos(k)
			switch key {
			case "apiVersion", "kind":
				w.scalar(v, key, "a string")
			case "metadata":
				w.kube(v, reflect.TypeFor[metav1.ObjectMeta](), key)
			case "spec":
				specN = v
				w.protoMsg(v, spec.ProtoReflect().Descriptor(), key, true)
			case "status":
				// written by Istio, not read
			default:
				w.problem(k, key, "unknown field")
			}
		})
		if specN == nil || isNull(specN) {
			w.problem(n, "spec", "missing")
		}
	}
	if obj.Name != "" {
		if first, ok := l.seen[kind+"/"+obj.Key()]; ok {
			w.problem(n, "", "duplicate %s (first at %s)", kind, first)
			return
		}
		l.seen[kind+"/"+obj.Key()] = obj.Pos
	}
	if w.bad {
		return
	}

	// Decode the checked YAML into the API types.
	var err error
	switch kind {
	case KindService:
		s := &corev1.Service{}
		if err = decodeJSON(n, s); err == nil {
			l.in.Services = append(l.in.Services, &Service{Object: obj, Service: s})
		}
	case KindDeployment:
		d := &appsv1.Deployment{}
		if err = decodeJSON(n, d); err == nil {
			l.in.Deployments = append(l.in.Deployments, &Deployment{Object: obj, Deployment: d})
		}
	default:
		var data []byte
		if data, err = toJSON(specN); err == nil {
			err = protojson.UnmarshalOptions{}.Unmarshal(data, spec)
		}
		if err == nil {
			switch s := spec.(type) {
			case *networking.Gateway:
				l.in.Gateways = append(l.in.Gateways, &Gateway{Object: obj, Spec: s})
			case *networking.VirtualService:
				l.in.VirtualServices = append(l.in.VirtualServices, &VirtualService{Object: obj, Spec: s})
			}
		}
	}
	if err != nil {
		w.problem(n, "", "decode: %v", err)
		return
	}
	l.in.Notices = append(l.in.Notices, w.notices...)
}

func decodeJSON(n *yaml.Node, into any) error {
	data, err := toJSON(n)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(into)
}
