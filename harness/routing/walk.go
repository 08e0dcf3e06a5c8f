package routing

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
	"gopkg.in/yaml.v3"
)

// walker checks one object's YAML against its schema (an Istio protobuf
// message or a Kubernetes Go type), records the position of every field,
// and collects problems and notices.
type walker struct {
	file     string
	offset   int // lines before the document in the file
	ref      string
	fields   map[string]Position
	problems *Problems
	notices  []Notice
	bad      bool // a problem was found in this object
}

func (w *walker) pos(n *yaml.Node) Position {
	return Position{File: w.file, Line: n.Line + w.offset, Column: n.Column}
}

func (w *walker) problem(n *yaml.Node, path, format string, args ...any) {
	w.bad = true
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	w.problems.Add(w.pos(n), "%s: %s", w.ref, msg)
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("the string %q", n.Value)
	}
	return "nothing"
}

// pairs iterates over a mapping's key/value pairs, reporting non-string and
// duplicate keys (YAML merge keys are refused: helm does not print them).
func (w *walker) pairs(n *yaml.Node, path string, f func(key string, k, v *yaml.Node)) {
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			w.problem(k, path, "unsupported mapping key %s", describe(k))
			continue
		}
		if first, ok := seen[k.Value]; ok {
			w.problem(k, join(path, k.Value), "duplicate key (first at %s)", w.pos(first))
			continue
		}
		seen[k.Value] = k
		f(k.Value, k, v)
	}
}

// scalar checks that n is a scalar of the wanted JSON type.
func (w *walker) scalar(n *yaml.Node, path, want string) {
	if n.Kind != yaml.ScalarNode {
		w.problem(n, path, "wrong type: want %s, got %s", want, describe(n))
		return
	}
	tag := n.ShortTag()
	if tag == "!!null" {
		return
	}
	ok := false
	switch want {
	case "a string":
		ok = tag == "!!str" || tag == "!!timestamp" || tag == "!!binary"
	case "a boolean":
		ok = tag == "!!bool"
	case "an integer":
		ok = tag == "!!int"
	case "a number":
		ok = tag == "!!int" || tag == "!!float"
	}
	if !ok {
		w.problem(n, path, "wrong type: want %s, got %s", want, describe(n))
	}
}

// --- Istio messages (protobuf descriptors) ---

// protoMsg checks n against the message md. With policy set, each field
// present is looked up in the policy table (see policy.go).
func (w *walker) protoMsg(n *yaml.Node, md protoreflect.MessageDescriptor, path string, policy bool) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	switch md.FullName() {
	case "google.protobuf.Duration", "google.protobuf.Timestamp", "google.protobuf.FieldMask":
		w.scalar(n, path, "a string")
		return
	case "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue", "google.protobuf.Any":
		return
	case "google.protobuf.BoolValue":
		w.scalar(n, path, "a boolean")
		return
	case "google.protobuf.StringValue", "google.protobuf.BytesValue":
		w.scalar(n, path, "a string")
		return
	case "google.protobuf.Int32Value", "google.protobuf.Int64Value", "google.protobuf.UInt32Value", "google.protobuf.UInt64Value":
		w.protoInt(n, path, md.Fields().ByName("value").Kind())
		return
	case "google.protobuf.FloatValue", "google.protobuf.DoubleValue":
		w.scalar(n, path, "a number")
		return
	}
	if n.Kind != yaml.MappingNode {
		w.problem(n, path, "wrong type: want a mapping, got %s", describe(n))
		return
	}
	fds := md.Fields()
	oneofs := map[protoreflect.FullName]string{}
	seen := map[protoreflect.Name]string{}
	w.pairs(n, path, func(key string, k, v *yaml.Node) {
		fd := fds.ByJSONName(key)
		if fd == nil {
			fd = fds.ByTextName(key)
		}
		if fd == nil {
			w.problem(k, join(path, key), "unknown field")
			return
		}
		name := fd.JSONName()
		fpath := join(path, name)
		if other, ok := seen[fd.Name()]; ok {
			w.problem(k, fpath, "set twice (as %q and %q)", other, key)
			return
		}
		seen[fd.Name()] = key
		w.fields[fpath] = w.pos(k)
		if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() && !isNull(v) {
			if other, ok := oneofs[od.FullName()]; ok {
				w.problem(k, fpath, "conflicts with %s: set only one of %s", other, oneofNames(od))
				return
			}
			oneofs[od.FullName()] = name
		}
		sub := policy
		if policy {
			p := policyFor(md, fd)
			switch p.Treatment {
			case NotModelled:
				if !isNull(v) {
					w.problem(k, fpath, "not modelled: %s", p.Reason)
				}
				return
			case Accepted:
				if !isNull(v) {
					w.notices = append(w.notices, Notice{Pos: w.pos(k), Object: w.ref, Field: fpath, Reason: p.Reason})
				}
				sub = false
			}
		}
		w.protoField(v, fd, fpath, sub)
	})
}

func oneofNames(od protoreflect.OneofDescriptor) string {
	var names []string
	for i := 0; i < od.Fields().Len(); i++ {
		names = append(names, od.Fields().Get(i).JSONName())
	}
	return strings.Join(names, ", ")
}

func (w *walker) protoField(v *yaml.Node, fd protoreflect.FieldDescriptor, path string, policy bool) {
	if isNull(v) {
		return
	}
	switch {
	case fd.IsMap():
		if v.Kind != yaml.MappingNode {
			w.problem(v, path, "wrong type: want a mapping, got %s", describe(v))
			return
		}
		w.pairs(v, path, func(key string, k, e *yaml.Node) {
			epath := path + "[" + key + "]"
			w.fields[epath] = w.pos(k)
			w.protoValue(e, fd.MapValue(), epath, policy)
		})
	case fd.IsList():
		if v.Kind != yaml.SequenceNode {
			w.problem(v, path, "wrong type: want a list, got %s", describe(v))
			return
		}
		for i, e := range v.Content {
			epath := fmt.Sprintf("%s[%d]", path, i)
			e = resolve(e)
			w.fields[epath] = w.pos(e)
			w.protoValue(e, fd, epath, policy)
		}
	default:
		w.protoValue(v, fd, path, policy)
	}
}

// protoValue checks a single value (a list element, a map value or a
// singular field) of fd's kind.
func (w *walker) protoValue(v *yaml.Node, fd protoreflect.FieldDescriptor, path string, policy bool) {
	v = resolve(v)
	if isNull(v) {
		return
	}
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		w.protoMsg(v, fd.Message(), path, policy)
	case protoreflect.EnumKind:
		if v.Kind != yaml.ScalarNode {
			w.problem(v, path, "wrong type: want one of %s, got %s", enumNames(fd.Enum()), describe(v))
			return
		}
		if fd.Enum().Values().ByName(protoreflect.Name(v.Value)) != nil {
			return
		}
		if i, err := strconv.ParseInt(v.Value, 10, 32); err == nil && fd.Enum().Values().ByNumber(protoreflect.EnumNumber(i)) != nil {
			return
		}
		w.problem(v, path, "invalid value %q: want one of %s", v.Value, enumNames(fd.Enum()))
	case protoreflect.BoolKind:
		w.scalar(v, path, "a boolean")
	case protoreflect.StringKind, protoreflect.BytesKind:
		w.scalar(v, path, "a string")
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		w.scalar(v, path, "a number")
	default:
		w.protoInt(v, path, fd.Kind())
	}
}

// protoInt checks an integer (protojson also takes one quoted).
func (w *walker) protoInt(v *yaml.Node, path string, kind protoreflect.Kind) {
	if v.Kind != yaml.ScalarNode || (v.ShortTag() != "!!int" && v.ShortTag() != "!!str") {
		w.problem(v, path, "wrong type: want an integer, got %s", describe(v))
		return
	}
	var err error
	switch kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		_, err = strconv.ParseInt(v.Value, 0, 32)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		_, err = strconv.ParseInt(v.Value, 0, 64)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		_, err = strconv.ParseUint(v.Value, 0, 32)
	default:
		_, err = strconv.ParseUint(v.Value, 0, 64)
	}
	if err != nil {
		w.problem(v, path, "invalid integer %q for a %s field", v.Value, kind)
	}
}

func enumNames(ed protoreflect.EnumDescriptor) string {
	var names []string
	for i := 0; i < ed.Values().Len(); i++ {
		names = append(names, string(ed.Values().Get(i).Name()))
	}
	return strings.Join(names, ", ")
}

// --- Kubernetes objects (Go types with json tags) ---

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	structFields    sync.Map // reflect.Type -> map[string]reflect.Type
)

// kube checks n against the Go type t as encoding/json would decode it,
// strictly (unknown fields are problems). Types with their own JSON
// decoding (quantities, int-or-string, times) take any scalar.
func (w *walker) kube(n *yaml.Node, t reflect.Type, path string) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return // its own decoding checks it (when the object is decoded)
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.problem(n, path, "wrong type: want a mapping, got %s", describe(n))
			return
		}
		fields := jsonFields(t)
		w.pairs(n, path, func(key string, k, v *yaml.Node) {
			ft, ok := fields[key]
			fpath := join(path, key)
			if !ok {
				w.problem(k, fpath, "unknown field")
				return
			}
			w.fields[fpath] = w.pos(k)
			w.kube(v, ft, fpath)
		})
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.problem(n, path, "wrong type: want a mapping, got %s", describe(n))
			return
		}
		w.pairs(n, path, func(key string, k, v *yaml.Node) {
			epath := path + "[" + key + "]"
			w.fields[epath] = w.pos(k)
			w.kube(v, t.Elem(), epath)
		})
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			w.scalar(n, path, "a string")
			return
		}
		if n.Kind != yaml.SequenceNode {
			w.problem(n, path, "wrong type: want a list, got %s", describe(n))
			return
		}
		for i, e := range n.Content {
			epath := fmt.Sprintf("%s[%d]", path, i)
			w.fields[epath] = w.pos(resolve(e))
			w.kube(e, t.Elem(), epath)
		}
	case reflect.String:
		w.scalar(n, path, "a string")
	case reflect.Bool:
		w.scalar(n, path, "a boolean")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		w.scalar(n, path, "an integer")
	case reflect.Float32, reflect.Float64:
		w.scalar(n, path, "a number")
	case reflect.Interface:
		// any value
	}
}

// jsonFields maps the JSON names of a struct's fields (inline and embedded
// structs flattened) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := structFields.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		inline := strings.Contains(","+opts+",", ",inline,") || (f.Anonymous && name == "")
		if inline {
			et := f.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for k, v := range jsonFields(et) {
					out[k] = v
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	structFields.Store(t, out)
	return out
}

// --- YAML to JSON ---

// toJSON converts a checked YAML node to JSON.
func toJSON(n *yaml.Node) ([]byte, error) {
	v, err := jsonValue(n)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func jsonValue(n *yaml.Node) (any, error) {
	n = resolve(n)
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return jsonValue(n.Content[0])
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, err := jsonValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[n.Content[i].Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, e := range n.Content {
			v, err := jsonValue(e)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			err := n.Decode(&b)
			return b, err
		case "!!int":
			var i int64
			if err := n.Decode(&i); err == nil {
				return json.Number(strconv.FormatInt(i, 10)), nil
			}
			var u uint64
			if err := n.Decode(&u); err != nil {
				return nil, err
			}
			return json.Number(strconv.FormatUint(u, 10)), nil
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil {
				return nil, err
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, fmt.Errorf("convert %q: not a finite number", n.Value)
			}
			return f, nil
		}
		return n.Value, nil
	}
	return nil, fmt.Errorf("convert YAML node of kind %d: unsupported", n.Kind)
}
