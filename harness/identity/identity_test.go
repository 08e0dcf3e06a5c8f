package identity

import (
	"strings"
	"testing"
)

func TestFromServer(t *testing.T) {
	tests := []struct {
		server string
		ok     bool
		want   string // Backend()
		dc     string
	}{
		{"mw-pretrain.eqiad.main-7d9f8c6b5-x2v4q", true, "mw-pretrain/main", "eqiad"},
		{"mw-pretrain.codfw.jobrunner-canary-5b8c9-abcde", true, "mw-pretrain/jobrunner-canary", "codfw"},
		{"mw-web.eqiad.main-6f7d8-zz9qq", true, "mw-web/main", "eqiad"},
		// Not pod names: never identified.
		{"main-tls", false, "", ""},                         // the mesh proxy itself
		{"mw-pretrain.eqiad.main-7d9f8c6b5", false, "", ""}, // one segment short
		{"mw-pretrain.eqiad.main", false, "", ""},
		{"mw-pretrain.eqiad.-a-b", false, "", ""}, // empty release
		{"mw-pretrain.eqiad.main-a-", false, "", ""},
		{"ATS/9.2.5", false, "", ""},
		{"envoy", false, "", ""},
		{"", false, "", ""},
		{".eqiad.main-a-b", false, "", ""},
	}
	for _, tc := range tests {
		id, ok := FromServer(tc.server)
		if ok != tc.ok {
			t.Errorf("FromServer(%q): ok = %v, want %v (%+v)", tc.server, ok, tc.ok, id)
			continue
		}
		if got := id.Backend(); got != tc.want {
			t.Errorf("FromServer(%q).Backend() = %q, want %q", tc.server, got, tc.want)
		}
		if ok && (id.DC != tc.dc || id.Pod != tc.server || id.Source != "server-header") {
			t.Errorf("FromServer(%q) = %+v: want dc %q, pod = server, source server-header", tc.server, id, tc.dc)
		}
		if !ok && id.Known() {
			t.Errorf("FromServer(%q): not a pod name, yet Known: %+v", tc.server, id)
		}
	}
	if id, _ := FromServer("jobrunner-tls"); id.Release != "jobrunner" || id.Known() {
		t.Errorf(`FromServer("jobrunner-tls") = %+v: want release jobrunner, not Known`, id)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	in := Identity{Namespace: "mw-pretrain", Release: "debug", DC: "eqiad",
		Pod: PodName("mw-pretrain", "eqiad", "debug", "7d9f8c6b5", "x2v4q"), Node: "kind-control-plane",
		Role: "web", ImageKind: "debug-image", ImageFlavour: "publish-81"}
	out, err := ParseHeader(in.HeaderValue())
	if err != nil {
		t.Fatal(err)
	}
	in.Source = "identity-header"
	if out != in {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
	if out.Pod != "mw-pretrain.eqiad.debug-7d9f8c6b5-x2v4q" {
		t.Errorf("PodName = %q", out.Pod)
	}
}

func TestParseHeaderRejects(t *testing.T) {
	tests := map[string]string{
		"release=main":                           "namespace and release are required",
		"namespace=mw-pretrain":                  "namespace and release are required",
		"namespace=mw-pretrain; release":         `token "release" is not key=value`,
		"namespace=a; release=b; colour=blue":    "unknown keys colour",
		"":                                       "namespace and release are required",
		"namespace=a; release=b; x=1; colour=2 ": "unknown keys colour, x",
	}
	for in, want := range tests {
		_, err := ParseHeader(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseHeader(%q) error = %v, want one containing %q", in, err, want)
		}
	}
}

func TestString(t *testing.T) {
	if got := (Identity{}).String(); got != "nobody identifiable" {
		t.Errorf("zero identity: %q", got)
	}
	if got := (Identity{Pod: "ATS"}).String(); got != `unidentified (Server "ATS")` {
		t.Errorf("unknown server: %q", got)
	}
	if got := (Identity{Namespace: "mw-web", Release: "main", Pod: "p"}).String(); got != "mw-web/main (pod p)" {
		t.Errorf("pod: %q", got)
	}
}
