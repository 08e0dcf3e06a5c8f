package cluster

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Layout of the fixtures directory (fixtures/kind).
const (
	// manifestsDir holds the air-gapped profile's manifests, applied in
	// lexical file order; each is a text/template with the functions
	// `image "<logical name>"`, `configHash "<namespace>/<name>"` and
	// `ingressObjects` (true with --ingress objects).
	manifestsDir = "manifests"
	// upstreamDir holds the upstream profile's replacements: a file there
	// named like one in manifestsDir replaces it.
	upstreamDir = "upstream"
	// configMapsDir holds ConfigMaps as files: <namespace>/<name>/<key>.
	configMapsDir = "configmaps"
)

// configHashAnnotation is the pod-template annotation of a Deployment that
// mounts a ConfigMap (and the ConfigMap's own annotation): the hash of the
// ConfigMap's content.
const configHashAnnotation = "pretrain-check/config-hash"

// object is one rendered manifest document.
type object struct {
	u      *unstructured.Unstructured
	json   []byte // as written (after templating), for server-side apply
	source string // "<file>#<document index>" or the ConfigMap's directory
}

func (o object) String() string {
	ref := o.u.GetKind() + " " + o.u.GetName()
	if ns := o.u.GetNamespace(); ns != "" {
		ref = o.u.GetKind() + " " + ns + "/" + o.u.GetName()
	}
	return ref + " (" + o.source + ")"
}

// bundle is everything a profile applies, in order, and what it needs.
type bundle struct {
	objects []object
	// images are the logical image names the manifests use, sorted.
	images []string
}

// deployments are the bundle's Deployments, in apply order.
func (b bundle) deployments() []object {
	var out []object
	for _, o := range b.objects {
		if o.u.GetKind() == "Deployment" {
			out = append(out, o)
		}
	}
	return out
}

// manifestFiles lists the profile's manifest files in apply order.
func manifestFiles(fixtures, profile string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(fixtures, manifestsDir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("list manifests: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("list manifests: no *.yaml in %q", filepath.Join(fixtures, manifestsDir))
	}
	sort.Strings(files)
	if profile != ProfileUpstream {
		return files, nil
	}
	up, err := filepath.Glob(filepath.Join(fixtures, upstreamDir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("list upstream manifests: %w", err)
	}
	replaced := 0
	for _, u := range up {
		for i, f := range files {
			if filepath.Base(f) == filepath.Base(u) {
				files[i] = u
				replaced++
			}
		}
	}
	if replaced == 0 {
		return nil, fmt.Errorf("list upstream manifests: nothing in %q replaces a manifest", filepath.Join(fixtures, upstreamDir))
	}
	return files, nil
}

// configMap is a ConfigMap built from a directory of files.
type configMap struct {
	namespace, name, dir string
	data                 map[string]string
	hash                 string
}

// configFile replaces one ConfigMap key's file: a user's input in place of
// the fixture (up --edge-lua).
type configFile struct {
	path string // "<namespace>/<name>/<key>", the key's file under configmaps/
	data []byte
}

// readConfigMaps reads <fixtures>/configmaps/<namespace>/<name>/<key>,
// each override in place of its file (which must exist).
func readConfigMaps(fixtures string, overrides ...configFile) (map[string]*configMap, error) {
	replaced := map[string][]byte{}
	for _, o := range overrides {
		replaced[filepath.Join(fixtures, configMapsDir, filepath.FromSlash(o.path))] = o.data
	}
	root := filepath.Join(fixtures, configMapsDir)
	dirs, err := filepath.Glob(filepath.Join(root, "*", "*"))
	if err != nil {
		return nil, fmt.Errorf("list configmaps: %w", err)
	}
	out := map[string]*configMap{}
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("read configmap %q: %w", dir, err)
		}
		if !st.IsDir() {
			continue
		}
		cm := &configMap{namespace: filepath.Base(filepath.Dir(dir)), name: filepath.Base(dir), dir: dir, data: map[string]string{}}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("read configmap %q: %w", dir, err)
		}
		h := sha256.New()
		for _, e := range entries { // sorted by name
			if e.IsDir() {
				return nil, fmt.Errorf("read configmap %q: %q is a directory (keys are files)", dir, e.Name())
			}
			path := filepath.Join(dir, e.Name())
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("read configmap %q: %w", dir, err)
			}
			if data, ok := replaced[path]; ok {
				b = data
				delete(replaced, path)
			}
			cm.data[e.Name()] = string(b)
			fmt.Fprintf(h, "%s\x00%d\x00", e.Name(), len(b))
			h.Write(b)
		}
		if len(cm.data) == 0 {
			return nil, fmt.Errorf("read configmap %q: no files", dir)
		}
		cm.hash = hex.EncodeToString(h.Sum(nil))[:16]
		out[cm.namespace+"/"+cm.name] = cm
	}
	for path := range replaced {
		return nil, fmt.Errorf("replace %q: no such ConfigMap key in the fixtures", path)
	}
	return out, nil
}

func (cm *configMap) object() (object, error) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":      cm.name,
			"namespace": cm.namespace,
			"labels":    map[string]any{"app.kubernetes.io/part-of": "pretrain-check"},
			"annotations": map[string]any{
				configHashAnnotation: cm.hash,
			},
		},
	}}
	data := map[string]any{}
	for k, v := range cm.data {
		data[k] = v
	}
	u.Object["data"] = data
	b, err := u.MarshalJSON()
	if err != nil {
		return object{}, fmt.Errorf("encode configmap %s/%s: %w", cm.namespace, cm.name, err)
	}
	return object{u: u, json: b, source: cm.dir}, nil
}

// loadBundle renders a profile's manifests with the given images and
// returns its objects in apply order: Namespaces, ConfigMaps from
// configmaps/, then every other object in file order. It reports every
// problem at once: unknown images or ConfigMaps, bad YAML, objects
// without kind or name.
func loadBundle(fixtures, profile, ingress string, images map[string]string, overrides ...configFile) (bundle, error) {
	files, err := manifestFiles(fixtures, profile)
	if err != nil {
		return bundle{}, err
	}
	cms, err := readConfigMaps(fixtures, overrides...)
	if err != nil {
		return bundle{}, err
	}
	used := map[string]bool{}
	var errs []error
	funcs := template.FuncMap{
		"image": func(name string) (string, error) {
			used[name] = true
			ref, ok := images[name]
			if !ok {
				return "", fmt.Errorf("no image %q given (known: %s)", name, strings.Join(sortedKeys(images), ", "))
			}
			return ref, nil
		},
		// ingressObjects: the Ingress controllers serve the ingress entry
		// points (IngressObjects).
		"ingressObjects": func() bool { return ingress == IngressObjects },
		"configHash": func(ref string) (string, error) {
			cm, ok := cms[ref]
			if !ok {
				return "", fmt.Errorf("no ConfigMap %q under %s", ref, filepath.Join(fixtures, configMapsDir))
			}
			return cm.hash, nil
		},
	}
	var namespaces, rest []object
	for _, f := range files {
		objs, err := renderFile(f, funcs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, o := range objs {
			if o.u.GetKind() == "Namespace" {
				namespaces = append(namespaces, o)
			} else {
				rest = append(rest, o)
			}
		}
	}
	var cmObjs []object
	for _, key := range sortedKeys(cms) {
		o, err := cms[key].object()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cmObjs = append(cmObjs, o)
	}
	if err := errors.Join(errs...); err != nil {
		return bundle{}, fmt.Errorf("render manifests: %w", err)
	}
	b := bundle{objects: append(append(namespaces, cmObjs...), rest...)}
	b.images = sortedKeys(used)
	return b, nil
}

func renderFile(path string, funcs template.FuncMap) ([]object, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	name := filepath.Base(path)
	tmpl, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(string(raw))
	if err != nil {
		return nil, fmt.Errorf("parse manifest template %q: %w", path, err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, nil); err != nil {
		return nil, fmt.Errorf("render manifest %q: %w", path, err)
	}
	return decodeDocuments(name, out.Bytes())
}

// decodeDocuments splits a YAML stream and decodes each non-empty
// document into an object.
func decodeDocuments(source string, data []byte) ([]object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []object
	var errs []error
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("split %q: %w", source, err)
		}
		where := fmt.Sprintf("%s#%d", source, i)
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			errs = append(errs, fmt.Errorf("decode %s: %w", where, err))
			continue
		}
		if s := strings.TrimSpace(string(js)); s == "null" || s == "" {
			continue // only comments
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			errs = append(errs, fmt.Errorf("decode %s: %w", where, err))
			continue
		}
		if u.GetName() == "" {
			errs = append(errs, fmt.Errorf("decode %s: %s has no metadata.name", where, u.GetKind()))
			continue
		}
		out = append(out, object{u: u, json: js, source: where})
	}
	return out, errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
