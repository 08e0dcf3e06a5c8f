// Package live is the live target: production's entry points as seen from
// a vantage point (outside, or a deployment host inside), with the safety
// guard that keeps a production check from hurting production.
//
// A live target file (fixtures/targets/live.yaml) names, per vantage point,
// the entry points it reaches, their addresses and the hosts requests may
// name. Entries a vantage point does not list (mesh listeners, the
// jobrunner's own web server, the REST gateway in the shipped file) are not
// applicable: reported n/a, never passed.
//
// Safety lives in one place, the Guard: the target hands it to the probe
// (target.Endpoint.Guard, called before every request) and screens every
// case before anything is sent (Screen): a case production must not
// receive is not applicable with the reason "unsafe for production".
package live

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/fixtures"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/target"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/yamlpos"
)

// Kind is the value of a live target file's "kind" key.
const Kind = "live"

// File is a parsed live target file.
type File struct {
	Path string
	Name string
	// UserAgent is the default User-Agent (Wikimedia's policy: descriptive,
	// with contact information).
	UserAgent string
	// Rate is the default request rate (requests/s); MaxRate the most a
	// flag may ask for (never above the package's MaxRate).
	Rate    float64
	MaxRate float64
	// Vantages by name ("external", "internal").
	Vantages map[string]*Vantage
}

// Vantage is one vantage point: what it reaches and which hosts it may
// name.
type Vantage struct {
	Name        string
	Description string
	// AllowHosts are the hosts a request may name from here.
	AllowHosts []string
	// Entries are the entry points reachable from here, by contract entry
	// name.
	Entries map[string]*EntrySpec
	Line    int
}

// EntrySpec is how a vantage point reaches one entry point.
type EntrySpec struct {
	Name string
	// URL is https://host[:port]: where requests connect (unless
	// --connect-to), never their Host header (the case's host is).
	URL *url.URL
	// Hosts, when set, are the only case hosts this entry takes: the
	// address is shared with other gateways (production's shared ingress),
	// so another Host would test another gateway.
	Hosts []string
	Line  int
}

// Names lists the vantage points, sorted.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Vantages))
	for n := range f.Vantages {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// reachable are the entry points a live vantage point may list: the ones
// reached by a plain HTTPS request. Mesh listeners and the jobrunner's own
// web server are only reachable from inside a pod.
var reachable = map[string]bool{
	contract.EntryEdge:             true,
	contract.EntryIngress:          true,
	contract.EntryJobrunnerGateway: true,
	contract.EntryRESTGateway:      true,
}

// IsLiveFile reports whether data is a live target file (top-level
// "kind: live"), so --target FILE can tell it from a static target file.
func IsLiveFile(data []byte) bool {
	var doc struct {
		Kind string `yaml:"kind"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return false
	}
	return doc.Kind == Kind
}

// Load reads and validates a live target file.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load live target: %w", err)
	}
	return Parse(path, data)
}

// Parse validates a live target file already read; file names positions in
// errors. Every problem is reported as file:line:column, all at once.
//
//	kind: live
//	name: production
//	user_agent: "pretrain-check/1 (https://...; contact)"
//	rate: 2            # requests/s by default
//	max_rate: 10       # the most --rate may ask (at most 10)
//	vantage_points:
//	  external:
//	    description: ...
//	    allow_hosts: [test.wikipedia.org, en.wikipedia.org]
//	    entries:
//	      edge: {url: "https://test.wikipedia.org"}
//	  internal:
//	    allow_hosts: [...]
//	    entries:
//	      ingress: {url: "https://k8s-ingress-wikikube.discovery.wmnet:30443"}
//	      jobrunner-gateway:
//	        url: https://mw-pretrain-jobrunner.discovery.wmnet:30443
//	        hosts: [mw-pretrain-jobrunner.discovery.wmnet]
func Parse(file string, data []byte) (*File, error) {
	p := &parser{yamlpos.Walker{File: file}}
	f := &File{Path: file, Vantages: map[string]*Vantage{}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, target.YAMLError(file, "live target", err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		p.Errorf(&doc, "a live target file is a mapping with kind, name, user_agent, rate, max_rate and vantage_points")
		return nil, p.Err() // alone: nothing else to read
	}
	root := doc.Content[0]
	var kind string
	var sawVantages bool
	rateNode, maxRateNode := root, root
	p.Mapping(root, func(key string, k, v *yaml.Node) {
		switch key {
		case "kind":
			p.Str(v, &kind)
		case "name":
			p.Str(v, &f.Name)
		case "user_agent":
			p.Str(v, &f.UserAgent)
		case "rate":
			rateNode = v
			p.Number(v, &f.Rate)
		case "max_rate":
			maxRateNode = v
			p.Number(v, &f.MaxRate)
		case "vantage_points":
			sawVantages = true
			p.Mapping(v, func(name string, k, v *yaml.Node) {
				if vp := p.vantage(name, k, v); vp != nil {
					f.Vantages[name] = vp
				}
			})
		default:
			p.Errorf(k, "unknown key %q (want kind, name, user_agent, rate, max_rate, vantage_points)", key)
		}
	})
	if kind != Kind {
		p.Errorf(root, "kind must be %q, got %q", Kind, kind)
	}
	if f.Name == "" {
		f.Name = "live"
	}
	if f.UserAgent == "" {
		p.Errorf(root, "user_agent is required (Wikimedia's User-Agent policy)")
	} else if err := CheckUserAgent(f.UserAgent); err != nil {
		p.Errorf(root, "user_agent: %v", err)
	}
	// A key left out takes its default; a value given, zero included, must
	// be a rate within [MinRate, MaxRate] (and rate within max_rate).
	if maxRateNode == root {
		f.MaxRate = MaxRate
	} else if err := CheckRate(f.MaxRate, MaxRate); err != nil {
		p.Errorf(maxRateNode, "max_rate: %v", err)
		f.MaxRate = MaxRate
	}
	if rateNode == root {
		f.Rate = min(DefaultRate, f.MaxRate)
	} else if err := CheckRate(f.Rate, f.MaxRate); err != nil {
		p.Errorf(rateNode, "rate: %v (max_rate %g)", err, f.MaxRate)
	}
	if !sawVantages || len(f.Vantages) == 0 {
		p.Errorf(root, "no vantage_points")
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return f, nil
}

func (p *parser) vantage(name string, k, n *yaml.Node) *Vantage {
	if strings.TrimSpace(name) == "" {
		p.Errorf(k, "vantage point name is empty")
		return nil
	}
	vp := &Vantage{Name: name, Entries: map[string]*EntrySpec{}, Line: k.Line}
	var entriesNode *yaml.Node
	p.Mapping(n, func(key string, k, v *yaml.Node) {
		switch key {
		case "description":
			p.Str(v, &vp.Description)
		case "allow_hosts":
			vp.AllowHosts = p.hosts(v)
		case "entries":
			entriesNode = v
		default:
			p.Errorf(k, "vantage point %q: unknown key %q (want description, allow_hosts, entries)", name, key)
		}
	})
	if len(vp.AllowHosts) == 0 {
		p.Errorf(n, "vantage point %q: allow_hosts is required and not empty", name)
	}
	allowed := map[string]bool{}
	for _, h := range vp.AllowHosts {
		allowed[h] = true
	}
	if entriesNode == nil {
		p.Errorf(n, "vantage point %q: entries is required", name)
		return vp
	}
	p.Mapping(entriesNode, func(entry string, k, v *yaml.Node) {
		if !reachable[entry] {
			p.Errorf(k, "vantage point %q: entry %q cannot be reached by a plain HTTPS request (want edge, ingress, jobrunner-gateway or rest-gateway)", name, entry)
			return
		}
		spec := &EntrySpec{Name: entry, Line: k.Line}
		var raw string
		p.Mapping(v, func(key string, k, v *yaml.Node) {
			switch key {
			case "url":
				p.Str(v, &raw)
			case "hosts":
				spec.Hosts = p.hosts(v)
				for _, h := range spec.Hosts {
					if !allowed[h] {
						p.Errorf(v, "vantage point %q: entry %q: host %q is not in the vantage point's allow_hosts", name, entry, h)
					}
				}
			default:
				p.Errorf(k, "vantage point %q: entry %q: unknown key %q (want url, hosts)", name, entry, key)
			}
		})
		u, err := parseEntryURL(raw)
		if err != nil {
			p.Errorf(v, "vantage point %q: entry %q: %v", name, entry, err)
			return
		}
		spec.URL = u
		vp.Entries[entry] = spec
	})
	if len(vp.Entries) == 0 {
		p.Errorf(entriesNode, "vantage point %q: no entries", name)
	}
	return vp
}

// parseEntryURL accepts https://host[:port] with nothing else.
func parseEntryURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("url is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse url %q: %w", raw, err)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("url %q: production is reached over https only", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("url %q has no host", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("url %q: only scheme, host and port are allowed", raw)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("url %q: port %q is not 1-65535", raw, port)
		}
	}
	u.Path = ""
	u.Host = strings.ToLower(u.Host)
	return u, nil
}

// parser collects problems with their positions (yamlpos.Walker: the
// mapping walker and the string and number readers).
type parser struct {
	yamlpos.Walker
}

// err is every problem found, under one line naming the file.
func (p *parser) err() error {
	if p.Len() == 0 {
		return nil
	}
	return fmt.Errorf("invalid live target %s:\n%w", p.File, p.Err())
}

// hosts reads a list of host names (lowercased, no port, no duplicates).
func (p *parser) hosts(n *yaml.Node) []string {
	if n.Kind != yaml.SequenceNode {
		p.Errorf(n, "expected a list of host names")
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, item := range n.Content {
		var h string
		p.Str(item, &h)
		if h == "" {
			continue
		}
		norm := normalHost(h)
		if norm == "" || norm != strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), ".")) {
			p.Errorf(item, "%q is not a host name (no port, path or wildcard)", h)
			continue
		}
		if seen[norm] {
			p.Errorf(item, "duplicate host %q", h)
			continue
		}
		seen[norm] = true
		out = append(out, norm)
	}
	return out
}

// Default parses the live target file built into the binary
// (fixtures/targets/live.yaml).
func Default() (*File, error) {
	return Parse(fixtures.LiveTargetPath, fixtures.LiveTarget)
}
