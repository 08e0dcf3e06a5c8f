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

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/yamlpos"
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
// errors and anchors relative ca_file paths. Every problem of the file is
// reported at once (a *yamlpos.Problems, one file:line:col a line).
func ParseStatic(file string, data []byte) (*Static, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, YAMLError(file, "static target", err)
	}
	p := &staticParser{Walker: yamlpos.Walker{File: file}, dir: filepath.Dir(file)}
	s := &Static{entries: map[string]Endpoint{}, positions: map[string]string{}}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		p.Errorf(&doc, "a static target is a mapping with name and entries")
		return nil, p.Err()
	}
	root := doc.Content[0]
	sawEntries, badEntries := false, false
	p.Mapping(root, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			p.StrOrNull(v, &s.name)
		case "live":
			// A production target needs the safety guard, which only live
			// target files build: one guard, no guard-less live mode. An
			// explicit "live: false" says nothing and is tolerated.
			if live, err := strconv.ParseBool(v.Value); v.Kind != yaml.ScalarNode || v.Tag != "!!bool" || err != nil || live {
				p.Errorf(k, "a static target cannot be live: use a live target file (kind: live, see fixtures/targets/live.yaml), whose safety guard every request passes")
			}
		case "entries":
			sawEntries = true
			before := p.Len()
			p.Mapping(v, func(name string, k, v *yaml.Node) {
				if strings.TrimSpace(name) == "" {
					p.Errorf(k, "entry name is empty")
					return
				}
				if ep, ok := p.endpoint(name, v); ok {
					s.entries[name] = ep
					s.positions[name] = p.Pos(k).String()
				}
			})
			badEntries = p.Len() > before
		default:
			p.Errorf(k, "unknown key %q (want name, entries)", key)
		}
	})
	// Entries that are all wrong were reported each; "no entries" is for a
	// file that lists none.
	if !sawEntries || len(s.entries) == 0 && !badEntries {
		p.Errorf(root, "no entries")
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	if s.name == "" {
		base := filepath.Base(file)
		s.name = strings.TrimSuffix(base, filepath.Ext(base))
	}
	return s, nil
}

// staticParser reads a static target file with yamlpos's walker (mapping,
// string and boolean readers), collecting every problem.
type staticParser struct {
	yamlpos.Walker
	dir string
}

// endpoint reads one entry; ok is false when it has a problem (reported).
func (p *staticParser) endpoint(name string, n *yaml.Node) (ep Endpoint, ok bool) {
	before := p.Len()
	ep = Endpoint{Entry: name}
	var rawURL, connectTo string
	var tlsNode, fwdNode *yaml.Node
	urlNode, connectNode := n, n
	urlRead := true
	isMapping := p.Mapping(n, func(key string, k, v *yaml.Node) {
		switch key {
		case "url":
			urlNode = v
			urlRead = p.StrOrNull(v, &rawURL)
		case "connect_to":
			connectNode = v
			p.StrOrNull(v, &connectTo)
		case "tls":
			tlsNode = v
		case "forward":
			fwdNode = v
		default:
			p.Errorf(k, "entry %q: unknown key %q (want url, connect_to, tls, forward)", name, key)
		}
	})
	switch {
	case !isMapping:
		return ep, false
	case fwdNode != nil && (rawURL != "" || connectTo != "" || tlsNode != nil):
		p.Errorf(n, "entry %q: forward excludes url, connect_to and tls", name)
		return ep, false
	case fwdNode != nil:
		ep.Forward = p.forward(name, fwdNode)
		return ep, p.Len() == before
	case !urlRead:
		// reported; nothing to check the rest against
		return ep, false
	case rawURL == "":
		p.Errorf(n, "entry %q: url or forward is required", name)
		return ep, false
	}
	u, err := parseBaseURL(rawURL)
	if err != nil {
		p.Errorf(urlNode, "entry %q: %v", name, err)
	}
	ep.URL = u
	if connectTo != "" {
		if err := checkHostPort(connectTo); err != nil {
			p.Errorf(connectNode, "entry %q: connect_to: %v", name, err)
		}
		ep.ConnectTo = connectTo
	}
	if tlsNode != nil {
		if u != nil && u.Scheme != "https" {
			p.Errorf(tlsNode, "entry %q: tls is for https urls, url is %q", name, rawURL)
		} else {
			ep.TLS = p.tls(name, tlsNode)
		}
	}
	return ep, p.Len() == before
}

// forward reads an entry's forward block; its problems are reported.
func (p *staticParser) forward(name string, n *yaml.Node) *Forward {
	before := p.Len()
	f := &Forward{}
	if !p.Mapping(n, func(key string, k, v *yaml.Node) {
		switch key {
		case "endpoint":
			p.StrOrNull(v, &f.Endpoint)
		case "in_pod_url":
			p.StrOrNull(v, &f.InPodURL)
		default:
			p.Errorf(k, "entry %q: forward: unknown key %q (want endpoint, in_pod_url)", name, key)
		}
	}) || p.Len() > before {
		return f
	}
	if f.Endpoint == "" || f.InPodURL == "" {
		p.Errorf(n, "entry %q: forward needs endpoint and in_pod_url", name)
		return f
	}
	if u, err := url.Parse(f.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Errorf(n, "entry %q: forward endpoint %q is not an http(s) URL", name, f.Endpoint)
	}
	if _, err := parseBaseURL(f.InPodURL); err != nil {
		p.Errorf(n, "entry %q: in_pod_url: %v", name, err)
	}
	return f
}

// tls reads an entry's tls block; its problems are reported.
func (p *staticParser) tls(name string, n *yaml.Node) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	var caFile string
	caNode := n
	p.Mapping(n, func(key string, k, v *yaml.Node) {
		switch key {
		case "ca_file":
			caNode = v
			p.StrOrNull(v, &caFile)
		case "insecure_skip_verify":
			p.Bool(v, &cfg.InsecureSkipVerify)
		case "server_name":
			p.StrOrNull(v, &cfg.ServerName)
		default:
			p.Errorf(k, "entry %q: tls: unknown key %q (want ca_file, insecure_skip_verify, server_name)", name, key)
		}
	})
	if caFile != "" {
		if !filepath.IsAbs(caFile) {
			caFile = filepath.Join(p.dir, caFile)
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			p.Errorf(caNode, "entry %q: read ca_file: %v", name, err)
			return cfg
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			p.Errorf(caNode, "entry %q: ca_file %q holds no PEM certificate", name, caFile)
			return cfg
		}
		cfg.RootCAs = pool
	}
	return cfg
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
