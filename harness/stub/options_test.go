package stub

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
)

func envFrom(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func hostnameIs(h string) func() (string, error) { return func() (string, error) { return h, nil } }

func TestParseOptions(t *testing.T) {
	base := []string{"--namespace", "mw-pretrain", "--release", "main", "--dc", "eqiad", "--pod", webPod}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		hostname string
		check    func(t *testing.T, o Options)
	}{
		{name: "flags and defaults", args: base, check: func(t *testing.T, o Options) {
			want := Options{Config: Config{Identity: identity.Identity{Namespace: "mw-pretrain", Release: "main", DC: "eqiad",
				Pod: webPod, Role: RoleWeb}}, Listen: ":8080", ShutdownTimeout: DefaultShutdownTimeout}
			if o != want {
				t.Errorf("expected %+v, got %+v", want, o)
			}
		}},
		{name: "every flag", args: append(base, "--node", "n1", "--role", "jobrunner", "--image-kind", "debug-image",
			"--image-flavour", "publish-81", "--listen", "127.0.0.1:9000", "--forward-listen", "127.0.0.1:9001",
			"--latency", "250ms", "--error-rate", "0.25", "--status", "503", "--header-faults",
			"--release", "jobrunner", "--pod", jobrunnerPod),
			check: func(t *testing.T, o Options) {
				want := Options{Config: Config{
					Identity: identity.Identity{Namespace: "mw-pretrain", Release: "jobrunner", DC: "eqiad", Pod: jobrunnerPod,
						Node: "n1", Role: RoleJobrunner, ImageKind: "debug-image", ImageFlavour: "publish-81"},
					Latency: 250 * time.Millisecond, ErrorRate: 0.25, ForcedStatus: 503, HeaderFaults: true},
					Listen: "127.0.0.1:9000", ForwardListen: "127.0.0.1:9001", ShutdownTimeout: DefaultShutdownTimeout}
				if o != want {
					t.Errorf("expected %+v, got %+v", want, o)
				}
			}},
		{name: "env wins over flags", args: append(base, "--latency", "1s", "--role", "web", "--header-faults=false"),
			env: map[string]string{"MWSTUB_RELEASE": "jobrunner", "MWSTUB_POD": jobrunnerPod, "MWSTUB_LATENCY": "2s",
				"MWSTUB_ROLE": "jobrunner", "MWSTUB_HEADER_FAULTS": "true", "MWSTUB_ERROR_RATE": "1", "MWSTUB_STATUS": "500",
				"MWSTUB_LISTEN": "127.0.0.1:7000", "MWSTUB_FORWARD_LISTEN": "127.0.0.1:7001", "MWSTUB_NAMESPACE": "mw-pretrain",
				"MWSTUB_DC": "eqiad", "MWSTUB_NODE": "n2", "MWSTUB_IMAGE_KIND": "image", "MWSTUB_IMAGE_FLAVOUR": "f"},
			check: func(t *testing.T, o Options) {
				c := o.Config
				if c.Identity.Release != "jobrunner" || c.Identity.Pod != jobrunnerPod || c.Latency != 2*time.Second ||
					c.Identity.Role != RoleJobrunner || !c.HeaderFaults || c.ErrorRate != 1 || c.ForcedStatus != 500 ||
					o.Listen != "127.0.0.1:7000" || o.ForwardListen != "127.0.0.1:7001" || c.Identity.Node != "n2" ||
					c.Identity.ImageKind != "image" || c.Identity.ImageFlavour != "f" {
					t.Errorf("env should win: got %+v", o)
				}
			}},
		{name: "empty env does not override", args: base, env: map[string]string{"MWSTUB_RELEASE": "", "MWSTUB_POD": ""},
			check: func(t *testing.T, o Options) {
				if o.Config.Identity.Release != "main" || o.Config.Identity.Pod != webPod {
					t.Errorf("expected flags to stand, got %+v", o.Config.Identity)
				}
			}},
		{name: "downward API names", args: []string{"--namespace", "mw-pretrain", "--release", "main"},
			env: map[string]string{"POD_NAME": "main-abc-def", "NODE_NAME": "kind-worker2"},
			check: func(t *testing.T, o Options) {
				if o.Config.Identity.Pod != "main-abc-def" || o.Config.Identity.Node != "kind-worker2" {
					t.Errorf("expected POD_NAME and NODE_NAME, got %+v", o.Config.Identity)
				}
			}},
		{name: "MWSTUB_POD wins over POD_NAME", args: base,
			env: map[string]string{"POD_NAME": "main-abc-def", "MWSTUB_POD": "main-xyz-uvw", "NODE_NAME": "n", "MWSTUB_NODE": "m"},
			check: func(t *testing.T, o Options) {
				if o.Config.Identity.Pod != "main-xyz-uvw" || o.Config.Identity.Node != "m" {
					t.Errorf("expected MWSTUB_POD and MWSTUB_NODE, got %+v", o.Config.Identity)
				}
			}},
		{name: "pod defaults to hostname, identity from a production pod name", hostname: webPod,
			check: func(t *testing.T, o Options) {
				want := identity.Identity{Namespace: "mw-pretrain", Release: "main", DC: "eqiad", Pod: webPod, Role: RoleWeb}
				if o.Config.Identity != want {
					t.Errorf("expected %+v, got %+v", want, o.Config.Identity)
				}
			}},
		{name: "single-dash flags work too", args: []string{"-namespace=ns", "-release=r", "-pod=p"},
			check: func(t *testing.T, o Options) {
				if o.Config.Identity.Namespace != "ns" || o.Config.Identity.Release != "r" {
					t.Errorf("got %+v", o.Config.Identity)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.hostname
			if h == "" {
				h = "some-host"
			}
			o, err := ParseOptions(tc.args, envFrom(tc.env), hostnameIs(h))
			if err != nil {
				t.Fatalf("ParseOptions: %v", err)
			}
			tc.check(t, o)
		})
	}
}

func TestParseOptionsErrors(t *testing.T) {
	base := []string{"--namespace", "mw-pretrain", "--release", "main", "--pod", "p"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // every one must appear in the error
	}{
		{name: "bad latency flag", args: append(base, "--latency", "soon"), want: []string{`invalid --latency "soon"`, "Go duration"}},
		{name: "bad latency env", args: base, env: map[string]string{"MWSTUB_LATENCY": "-1s"}, want: []string{`invalid MWSTUB_LATENCY "-1s"`}},
		{name: "bad error rate", args: append(base, "--error-rate", "2"), want: []string{`invalid --error-rate "2"`, "0..1"}},
		{name: "bad error rate env", args: base, env: map[string]string{"MWSTUB_ERROR_RATE": "half"}, want: []string{`invalid MWSTUB_ERROR_RATE "half"`}},
		{name: "bad status", args: append(base, "--status", "700"), want: []string{`invalid --status "700"`}},
		{name: "bad status env", args: base, env: map[string]string{"MWSTUB_STATUS": "x"}, want: []string{`invalid MWSTUB_STATUS "x"`}},
		{name: "bad role", args: append(base, "--role", "api"), want: []string{`invalid --role "api"`}},
		{name: "bad role env", args: base, env: map[string]string{"MWSTUB_ROLE": "Web"}, want: []string{`invalid MWSTUB_ROLE "Web"`}},
		{name: "bad header-faults env", args: base, env: map[string]string{"MWSTUB_HEADER_FAULTS": "maybe"}, want: []string{`invalid MWSTUB_HEADER_FAULTS "maybe"`}},
		{name: "bad listen", args: append(base, "--listen", "8080"), want: []string{`invalid --listen "8080"`, "host:port"}},
		{name: "bad forward-listen env", args: base, env: map[string]string{"MWSTUB_FORWARD_LISTEN": "nope"}, want: []string{`invalid MWSTUB_FORWARD_LISTEN "nope"`}},
		{name: "several errors at once", args: append(base, "--latency", "x", "--status", "y"), want: []string{"--latency", "--status"}},
		{name: "same listen addresses", args: append(base, "--listen", "127.0.0.1:1", "--forward-listen", "127.0.0.1:1"), want: []string{"--forward-listen", "same address as --listen"}},
		{name: "no namespace", args: []string{"--release", "main", "--pod", "p"}, want: []string{"namespace is required", "--namespace", "MWSTUB_NAMESPACE"}},
		{name: "no release", args: []string{"--namespace", "ns", "--pod", "p"}, want: []string{"release is required", "--release"}},
		{name: "pod disagrees with release", args: []string{"--namespace", "mw-pretrain", "--release", "debug", "--pod", webPod}, want: []string{"pod from --pod", "names mw-pretrain/main"}},
		{name: "separator in identity", args: append(base, "--node", "a;b"), want: []string{`node "a;b"`}},
		{name: "unknown flag", args: append(base, "--colour"), want: []string{"parse flags", "colour"}},
		{name: "positional argument", args: append(base, "extra"), want: []string{"unexpected arguments", "extra"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseOptions(tc.args, envFrom(tc.env), hostnameIs("h"))
			if err == nil {
				t.Fatalf("expected an error containing %q, got none", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("expected the error to contain %q, got %v", w, err)
				}
			}
		})
	}
}

func TestParseOptionsHostnameError(t *testing.T) {
	_, err := ParseOptions([]string{"--namespace", "ns", "--release", "r"}, envFrom(nil),
		func() (string, error) { return "", errors.New("no uts") })
	if err == nil || !strings.Contains(err.Error(), "set --pod or MWSTUB_POD") {
		t.Errorf("expected a hostname error naming --pod, got %v", err)
	}
}

func TestParseOptionsHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		if _, err := ParseOptions([]string{arg}, envFrom(nil), hostnameIs("h")); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: expected flag.ErrHelp, got %v", arg, err)
		}
	}
	var buf bytes.Buffer
	PrintUsage(&buf)
	for _, want := range []string{"-forward-listen", "MWSTUB_FORWARD_LISTEN", "POD_NAME", "NODE_NAME", HeaderFaultLatency, "-listen address", "(default :8080)"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("usage should mention %q:\n%s", want, buf.String())
		}
	}
}
