package replicatest

import "fmt"

// Fault is one deliberate routing mistake the replica can be started with.
// Each fault flips exactly the rule it names and nothing else, so a check
// that fails under it points at that rule.
type Fault string

const (
	// NoFault is correct routing.
	NoFault Fault = ""

	// XWDIgnored: the ingress ignores X-Wikimedia-Debug, so the debug
	// release is never reached (everything goes to the main Service).
	XWDIgnored Fault = "xwd-ignored"
	// XWDPatternTooBroad: on the ingress any X-Wikimedia-Debug value (e.g.
	// backend=k8s-mwdebug) goes to the debug release.
	XWDPatternTooBroad Fault = "xwd-pattern-too-broad"
	// TestwikiNotDiverted: the edge sends testwiki's plain (non-REST,
	// non-XWD) traffic to mw-web like every other wiki's.
	TestwikiNotDiverted Fault = "testwiki-not-diverted"
	// OtherWikiDiverted: the edge sends other wikis' plain traffic
	// (en.wikipedia.org etc.) to the Pretrain ingress.
	OtherWikiDiverted Fault = "other-wiki-diverted"
	// JobrunnerOpenOnIngress: the main gateway routes /rpc/RunSingleJob.php
	// (any method) to the jobrunner Service.
	JobrunnerOpenOnIngress Fault = "jobrunner-open-on-ingress"
	// GetRunSingleJobRouted: the jobrunner gateway routes
	// /rpc/RunSingleJob.php whatever the method, so a GET reaches the
	// jobrunner (405) instead of being 404 no route.
	GetRunSingleJobRouted Fault = "get-runsinglejob-routed"
	// MeshSplitMissing: the mesh listeners 6501 and 6506 have no testwiki
	// split; testwiki goes to the default service.
	MeshSplitMissing Fault = "mesh-split-missing"
	// MeshSplitAllHosts: the split's host regex matches every host.
	MeshSplitAllHosts Fault = "mesh-split-all-hosts"
	// MeshSplitUnanchored: the split's host regex is matched as a
	// substring, so test.wikipedia.org.evil and xtest.wikipedia.org are
	// diverted too.
	MeshSplitUnanchored Fault = "mesh-split-unanchored"
	// RESTPrefersXWD: the REST gateway checks the XWD backend before the
	// Host diversion, so testwiki REST traffic with backend=k8s-mwdebug
	// goes to mw-debug.
	RESTPrefersXWD Fault = "rest-prefers-xwd"
	// JobrunnerGatewayOpen: the jobrunner gateway routes every path and
	// method (prefix /) to the jobrunner Service; its Host binding stays.
	JobrunnerGatewayOpen Fault = "jobrunner-gateway-open"
	// XWDScopeIgnored: the edge accepts a backend known in any scope
	// whatever the Host (k8s-mwdebug on testwiki goes to mw-debug,
	// k8s-mw-pretrain on enwiki to the Pretrain ingress) instead of
	// answering 400. A backend known in no scope is still 400.
	XWDScopeIgnored Fault = "xwd-scope-ignored"
	// CanaryTakesAll: main's and the jobrunner's Services send every
	// request to their canary (no case can tell: the share checks can).
	CanaryTakesAll Fault = "canary-takes-all"
	// CanaryGetsNone: the Services never send a request to their canary.
	CanaryGetsNone Fault = "canary-gets-none"
)

// AllFaults lists every fault, in declaration order.
func AllFaults() []Fault {
	return []Fault{
		XWDIgnored,
		XWDPatternTooBroad,
		TestwikiNotDiverted,
		OtherWikiDiverted,
		JobrunnerOpenOnIngress,
		GetRunSingleJobRouted,
		MeshSplitMissing,
		MeshSplitAllHosts,
		MeshSplitUnanchored,
		RESTPrefersXWD,
		JobrunnerGatewayOpen,
		XWDScopeIgnored,
		CanaryTakesAll,
		CanaryGetsNone,
	}
}

// faultSet is the faults a replica runs with.
type faultSet map[Fault]bool

func newFaultSet(faults []Fault) (faultSet, error) {
	known := make(map[Fault]bool)
	for _, f := range AllFaults() {
		known[f] = true
	}
	set := make(faultSet)
	for _, f := range faults {
		switch {
		case f == NoFault:
			continue
		case !known[f]:
			return nil, fmt.Errorf("enable fault %q: unknown fault", string(f))
		}
		set[f] = true
	}
	return set, nil
}

func (s faultSet) has(f Fault) bool { return s[f] }

// list returns the enabled faults in declaration order.
func (s faultSet) list() []Fault {
	var out []Fault
	for _, f := range AllFaults() {
		if s[f] {
			out = append(out, f)
		}
	}
	return out
}
