package target

// Design note: every kind of target (static, kind, live) implements the
// Target interface and returns the same Endpoint values, so probes, checks
// and reports never know which one they run against. Static targets live
// here because they are plain data; the kind target (addresses discovered
// from a kind cluster's NodePorts) and the live target (production entry
// points, Live() true) are built in their own packages and only construct
// Endpoints.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Static is a target whose entry points are listed in a file (or built in
// code): entries not listed are not applicable.
type Static struct {
	name    string
	entries map[string]Endpoint
	live    bool
	// positions are the entries' "file:line:col" (files only).
	positions map[string]string
}

var _ Target = (*Static)(nil)

// NewStatic builds a static target from endpoints by entry name. Each
// endpoint's Entry is set to its key.
func NewStatic(name string, entries map[string]Endpoint, live bool) *Static {
	s := &Static{name: name, entries: make(map[string]Endpoint, len(entries)), live: live}
	for k, ep := range entries {
		ep.Entry = k
		s.entries[k] = ep
	}
	return s
}

// Name is "static:<name>".
func (s *Static) Name() string { return "static:" + s.name }

// Live reports whether the target was built live (NewStatic; a target file
// cannot ask for it: production needs a live target file and its guard).
func (s *Static) Live() bool { return s.live }

// Endpoint returns the listed endpoint, or an error wrapping
// ErrNotApplicable for an entry the target does not list.
func (s *Static) Endpoint(entry string) (Endpoint, error) {
	ep, ok := s.entries[entry]
	if !ok {
		return Endpoint{}, fmt.Errorf("target %q has no entry %q: %w", s.Name(), entry, ErrNotApplicable)
	}
	return ep, nil
}

// Entries lists the entry names the target reaches, sorted (callers warn
// about names the contract does not declare).
func (s *Static) Entries() []string {
	names := make([]string, 0, len(s.entries))
	for k := range s.entries {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// CheckEntries refuses entries the contract does not declare (a typo
// would otherwise leave the real entry n/a without a word): the error
// names each with its file:line:col.
func (s *Static) CheckEntries(declared []string) error {
	known := map[string]bool{}
	for _, e := range declared {
		known[e] = true
	}
	var errs []error
	for _, name := range s.Entries() {
		if known[name] {
			continue
		}
		pos := s.positions[name]
		if pos == "" {
			pos = s.Name()
		}
		errs = append(errs, fmt.Errorf("%s: entry %q is not an entry point of the contract (want one of %s)",
			pos, name, strings.Join(declared, ", ")))
	}
	return errors.Join(errs...)
}

// LoadStatic reads a static target file:
//
//	name: local-replica          # optional, defaults to the file name without extension
//	entries:
//	  edge:
//	    url: http://127.0.0.1:8080
//	  ingress:
//	    url: https://127.0.0.1:30443     # scheme and address (a path is a prefix)
//	    connect_to: 127.0.0.1:30443      # optional: dial this instead of url's host:port
//	    tls:                             # optional, https only
//	      ca_file: ca.pem                # PEM bundle, relative to this file
//	      insecure_skip_verify: false
//	      server_name: ""                # optional: fixed SNI instead of the case host
//	  mesh/mw-api-int:
//	    forward:                         # relayed by a stub's forward endpoint
//	      endpoint: http://127.0.0.1:30806/forward
//	      in_pod_url: http://127.0.0.1:6501
//
// Unknown keys, duplicate keys and bad values are errors naming
// file:line:col. An entry has either url or forward. There is no "live"
// key: production is reached through a live target file (harness/live),
// whose safety guard every request passes.
func LoadStatic(path string) (*Static, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load static target: %w", err)
	}
	return ParseStatic(path, data)
}

// ParseStatic is LoadStatic on bytes already read; file names positions in
// errors and anchors relative ca_file paths.
func ParseStatic(file string, data []byte) (*Static, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, YAMLError(file, "static target", err)
	}
	p := staticParser{file: file, dir: filepath.Dir(file)}
	s := &Static{entries: map[string]Endpoint{}, positions: map[string]string{}}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, p.errf(&doc, "a static target is a mapping with name and entries")
	}
	root := doc.Content[0]
	sawEntries := false
	err := p.mapping(root, func(key string, k, v *yaml.Node) error {
		switch key {
		case "name":
			return p.str(v, &s.name)
		case "live":
			// A production target needs the safety guard, which only live
			// target files build: one guard, no guard-less live mode. An
			// explicit "live: false" says nothing and is tolerated.
			var live bool
			if err := p.boolean(v, &live); err != nil || live {
				return p.errf(k, "a static target cannot be live: use a live target file (kind: live, see fixtures/targets/live.yaml), whose safety guard every request passes")
			}
			return nil
		case "entries":
			sawEntries = true
			return p.mapping(v, func(name string, k, v *yaml.Node) error {
				if strings.TrimSpace(name) == "" {
					return p.errf(k, "entry name is empty")
				}
				ep, err := p.endpoint(name, v)
				if err != nil {
					return err
				}
				s.entries[name] = ep
				s.positions[name] = fmt.Sprintf("%s:%d:%d", file, k.Line, k.Column)
				return nil
			})
		default:
			return p.errf(k, "unknown key %q (want name, entries)", key)
		}
	})
	if err != nil {
		return nil, err
	}
	if !sawEntries || len(s.entries) == 0 {
		return nil, p.errf(root, "no entries")
	}
	if s.name == "" {
		base := filepath.Base(file)
		s.name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	return s, nil
}

type staticParser struct {
	file, dir string
}

func (p staticParser) errf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d:%d: %s", p.file, n.Line, n.Column, fmt.Sprintf(format, args...))
}

// mapping walks a mapping node in order, rejecting duplicate keys.
func (p staticParser) mapping(n *yaml.Node, each func(key string, k, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "expected a mapping")
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return p.errf(k, "expected a string key")
		}
		if seen[k.Value] {
			return p.errf(k, "duplicate key %q", k.Value)
		}
		seen[k.Value] = true
		if err := each(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func (p staticParser) str(n *yaml.Node, out *string) error {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!null") {
		return p.errf(n, "expected a string")
	}
	if n.Tag == "!!null" {
		*out = ""
		return nil
	}
	*out = n.Value
	return nil
}

func (p staticParser) boolean(n *yaml.Node, out *bool) error {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		return p.errf(n, "expected true or false")
	}
	b, err := strconv.ParseBool(n.Value)
	if err != nil {
		return p.errf(n, "expected true or false, got %q", n.Value)
	}
	*out = b
	return nil
}

func (p staticParser) endpoint(name string, n *yaml.Node) (Endpoint, error) {
	ep := Endpoint{Entry: name}
	var rawURL, connectTo string
	var tlsNode, fwdNode *yaml.Node
	urlNode, connectNode := n, n
	err := p.mapping(n, func(key string, k, v *yaml.Node) error {
		switch key {
		case "url":
			urlNode = v
			return p.str(v, &rawURL)
		case "connect_to":
			connectNode = v
			return p.str(v, &connectTo)
		case "tls":
			tlsNode = v
			return nil
		case "forward":
			fwdNode = v
			return nil
		default:
			return p.errf(k, "entry %q: unknown key %q (want url, connect_to, tls, forward)", name, key)
		}
	})
	if err != nil {
		return ep, err
	}
	switch {
	case fwdNode != nil && (rawURL != "" || connectTo != "" || tlsNode != nil):
		return ep, p.errf(n, "entry %q: forward excludes url, connect_to and tls", name)
	case fwdNode != nil:
		f, err := p.forward(name, fwdNode)
		if err != nil {
			return ep, err
		}
		ep.Forward = f
		return ep, nil
	case rawURL == "":
		return ep, p.errf(n, "entry %q: url or forward is required", name)
	}
	u, err := parseBaseURL(rawURL)
	if err != nil {
		return ep, p.errf(urlNode, "entry %q: %v", name, err)
	}
	ep.URL = u
	if connectTo != "" {
		if err := checkHostPort(connectTo); err != nil {
			return ep, p.errf(connectNode, "entry %q: connect_to: %v", name, err)
		}
		ep.ConnectTo = connectTo
	}
	if tlsNode != nil {
		if u.Scheme != "https" {
			return ep, p.errf(tlsNode, "entry %q: tls is for https urls, url is %q", name, rawURL)
		}
		cfg, err := p.tls(name, tlsNode)
		if err != nil {
			return ep, err
		}
		ep.TLS = cfg
	}
	return ep, nil
}

func (p staticParser) forward(name string, n *yaml.Node) (*Forward, error) {
	f := &Forward{}
	err := p.mapping(n, func(key string, k, v *yaml.Node) error {
		switch key {
		case "endpoint":
			return p.str(v, &f.Endpoint)
		case "in_pod_url":
			return p.str(v, &f.InPodURL)
		default:
			return p.errf(k, "entry %q: forward: unknown key %q (want endpoint, in_pod_url)", name, key)
		}
	})
	if err != nil {
		return nil, err
	}
	if f.Endpoint == "" || f.InPodURL == "" {
		return nil, p.errf(n, "entry %q: forward needs endpoint and in_pod_url", name)
	}
	if u, err := url.Parse(f.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, p.errf(n, "entry %q: forward endpoint %q is not an http(s) URL", name, f.Endpoint)
	}
	if _, err := parseBaseURL(f.InPodURL); err != nil {
		return nil, p.errf(n, "entry %q: in_pod_url: %v", name, err)
	}
	return f, nil
}

func (p staticParser) tls(name string, n *yaml.Node) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	var caFile string
	caNode := n
	err := p.mapping(n, func(key string, k, v *yaml.Node) error {
		switch key {
		case "ca_file":
			caNode = v
			return p.str(v, &caFile)
		case "insecure_skip_verify":
			return p.boolean(v, &cfg.InsecureSkipVerify)
		case "server_name":
			return p.str(v, &cfg.ServerName)
		default:
			return p.errf(k, "entry %q: tls: unknown key %q (want ca_file, insecure_skip_verify, server_name)", name, key)
		}
	})
	if err != nil {
		return nil, err
	}
	if caFile != "" {
		if !filepath.IsAbs(caFile) {
			caFile = filepath.Join(p.dir, caFile)
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, p.errf(caNode, "entry %q: read ca_file: %v", name, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, p.errf(caNode, "entry %q: ca_file %q holds no PEM certificate", name, caFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// parseBaseURL accepts an absolute http(s) URL with a host and no query.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("url %q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("url %q: no query, fragment or user info allowed", raw)
	}
	return u, nil
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", s, err)
	}
	if host == "" {
		return errors.New("host is empty")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not 1-65535", port)
	}
	return nil
}
