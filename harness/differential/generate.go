package differential

import (
	"fmt"
	mrand "math/rand/v2"
	"strings"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/configtarget"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/contract"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/haproxy"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/istio"
)

// contractRequests are the contract's cases at the ingress and the
// jobrunner gateway, each connecting with its entry's name as production's
// clients do.
func contractRequests(c *contract.Contract) []Request {
	sni := map[string]string{
		contract.EntryIngress:          configtarget.IngressSNI,
		contract.EntryJobrunnerGateway: configtarget.JobrunnerGatewaySNI,
	}
	var out []Request
	for _, cs := range c.Cases {
		s, ok := sni[cs.Entry]
		if !ok {
			continue
		}
		host := cs.Request.Host
		r := Request{Origin: "contract case " + cs.Name, SNI: s, Method: cs.Request.Method, Target: cs.Request.Path, Host: &host, Body: cs.Request.Body}
		for _, h := range cs.Request.Headers {
			r.Headers = append(r.Headers, [2]string{h.Name, h.Value})
		}
		out = append(out, r)
	}
	return out
}

// generate draws n requests: the Gateways' hosts and lookalikes, SNIs
// listed and not, paths with dot segments, encodings and queries, odd
// methods, and X-Wikimedia-Debug values meant to trip an unanchored or
// badly quoted match.
func generate(rng *mrand.Rand, m *istio.Model, n int, extra Extras) []Request {
	names := m.ServerNames()
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	hostVariants := func(h string) []string {
		return []string{h, strings.ToUpper(h), h + ".", h + ":443", h + ":30443", h + ":", h + ":1:2", "x" + h, h + ".evil.example",
			strings.Replace(h, ".", "-", 1), "[" + h + "]", "[" + h, "a." + h, " " + h + " ", strings.ReplaceAll(h, "i", "\u0130"),
			strings.Replace(h, "k", "\u212a", 1), h + "\xff"}
	}
	extraHosts := []string{"en.wikipedia.org", "wikipedia.org", "", "127.0.0.1", "[::1]:443", "localhost", "test.wikipedia.org.evil", "TEST.WIKIPEDIA.ORG:443"}
	snis := append(append([]string{}, names...), "", "en.wikipedia.org", "evil.example", "127.0.0.1", "wikipedia.org", "xtest.wikipedia.org")
	for _, h := range names {
		snis = append(snis, strings.ToUpper(h), h+".", "a."+h)
	}
	paths := []string{"/", "/wiki/Main_Page", "/w/index.php", "/w/api.php?action=query&servedby", "/w/health-check.php", "/rpc/RunSingleJob.php",
		"/w/health-check.php/x", "/w/health-check.phpx", "/w/health-check.php?", "/w/health-check.php?x=1", "/rpc/RunSingleJob.php?x",
		"/w/../w/health-check.php", "/rpc/./RunSingleJob.php", "/x/../../rpc/RunSingleJob.php", "/w/health%2Dcheck.php", "/%2e%2e/w/health-check.php",
		"/w//health-check.php", "/W/Health-Check.php", "/RPC/RunSingleJob.php", "/wiki/A%20B?q=a&b=%41", "/w/rest.php/v1/page", "/a/b/c/../../../w/health-check.php",
		"/rpc/RunSingleJob.php/..", "/rpc/RunSingleJob.php/.", "/w/./health-check.php/.", "/..", "/.", "/./", "//", "/%2F", "/w/index.php?title=..%2F&action=raw",
		"/rpc/RunSingleJob.php%3F", "/rpc/RunSingleJob.php;x", "/w/health-check.php#frag", "/~user/..;/w/health-check.php"}
	segs := []string{"w", "..", ".", "wiki", "rpc", "RunSingleJob.php", "health-check.php", "%2e", "", "A%2FB", "%2E%2E", "index.php", "x;y", "@", "!$&'()*+,=:"}
	methods := []string{"GET", "GET", "GET", "POST", "POST", "HEAD", "PUT", "OPTIONS", "DELETE", "get", "Post", "PROPFIND", "M-SEARCH", "X_Y!", "GETX", "PATCH"}
	long := strings.Repeat("x", 4000)
	xwd := []string{"k8s-mw-pretrain", "backend=k8s-mw-pretrain", "backend=k8s-mw-pretrain; log", "xk8s-mw-pretrain", "backend=k8s-mw-pretrain\n",
		"k8s-mw-pretrain-eqiad", "K8S-MW-PRETRAIN", " k8s-mw-pretrain", "k8s-mw-pretrain\t", "backend=k8s-mwdebug", "profile; log", "", "backend=",
		"k8s-mw-pretrain" + long, long + "k8s-mw-pretrain", "backend=backend=k8s-mw-pretrain", "k8s-mw-pretrain\x00", "k8s-mw-pretrain\u00e9",
		"k8s-mw-pretrain\xff", "k8s-mw-pretrain\xe2\x82", "\u212a8s-mw-pretrain", "k8s_mw_pretrain", "k8s-mw-pretrai", "(backend=)?k8s-mw-pretrain.*",
		"k8s-mw-pretrain\r\nX-Injected: 1", "k8s-mw-pretrain, backend=x", `"k8s-mw-pretrain"`, "k8s-mw-pretrain#", "k8s-mw-pretrain\\"}
	xwdNames := []string{"X-Wikimedia-Debug", "x-wikimedia-debug", "X-WIKIMEDIA-DEBUG"}
	paths = append(paths, extra.Paths...)
	methods = append(methods, extra.Methods...)
	extraHosts = append(extraHosts, extra.Hosts...)

	out := make([]Request, 0, n)
	for i := range n {
		r := Request{Origin: fmt.Sprintf("generated #%d", i), Method: pick(methods)}
		base := pick(names)
		switch rng.IntN(4) {
		case 0:
			h := pick(extraHosts)
			r.Host = &h
		default:
			h := pick(hostVariants(base))
			r.Host = &h
		}
		if rng.IntN(20) == 0 {
			r.Host = nil
		}
		switch rng.IntN(5) {
		case 0:
			r.SNI = pick(snis)
		default:
			r.SNI = base
		}
		if rng.IntN(3) == 0 {
			k := 1 + rng.IntN(5)
			var parts []string
			for range k {
				parts = append(parts, pick(segs))
			}
			r.Target = "/" + strings.Join(parts, "/")
			if rng.IntN(3) == 0 {
				r.Target += "?" + pick([]string{"", "a=1", "a=1&b=..", "x=%2F&y", "q=k8s-mw-pretrain"})
			}
		} else {
			r.Target = pick(paths)
		}
		switch k := rng.IntN(10); {
		case k < 4:
		case k < 8:
			r.Headers = append(r.Headers, [2]string{pick(xwdNames), pick(xwd)})
		case k < 9:
			for range 2 + rng.IntN(3) {
				r.Headers = append(r.Headers, [2]string{pick(xwdNames), pick(xwd)})
			}
		default:
			if rng.IntN(3) == 0 {
				for range haproxy.MaxHeaderLines + 1 + rng.IntN(3) {
					r.Headers = append(r.Headers, [2]string{pick(xwdNames), pick(xwd)})
				}
			} else {
				r.Headers = append(r.Headers, [2]string{"X-Other", pick(xwd)}, [2]string{pick(xwdNames), pick(xwd)})
			}
		}
		if len(extra.Headers) > 0 && rng.IntN(2) == 0 {
			for range 1 + rng.IntN(2) {
				h := extra.Headers[rng.IntN(len(extra.Headers))]
				r.Headers = append(r.Headers, h)
			}
		}
		if r.Method == "POST" && rng.IntN(2) == 0 {
			r.Body = `{"database":"testwiki","type":"null"}`
		}
		out = append(out, r)
	}
	return out
}

// Extras aim requests at an input's own constructs: more paths, methods,
// hosts and headers for the generator to draw from, and directed requests
// sent as they are, whatever the seed.
type Extras struct {
	Paths, Methods, Hosts []string
	Headers               [][2]string
	Directed              []Request
}
