package stub

import (
	"errors"
	"flag"
	"fmt"
	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/identity"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Options is everything mwstub runs with: the handler's Config and where
// to listen.
type Options struct {
	Config Config
	// Listen is the MediaWiki listener address (default ":8080").
	Listen string
	// ForwardListen is the forward endpoint's address; empty means off.
	ForwardListen string
	// ShutdownTimeout bounds the graceful shutdown (default 10s).
	ShutdownTimeout time.Duration
}

// Option defaults.
const (
	DefaultListen          = ":8080"
	DefaultShutdownTimeout = 10 * time.Second
)

// setting is one option, settable by a flag and by environment variables;
// the first set (non-empty) variable wins over the flag, as in pods.
type setting struct {
	flag  string
	envs  []string
	usage string
	def   string // shown in usage and used when neither flag nor env is set
	bool  bool
	apply func(o *Options, v string) error
}

var settings = []setting{
	{flag: "namespace", envs: []string{"MWSTUB_NAMESPACE"}, usage: "Kubernetes `namespace` (e.g. mw-pretrain); default: from a production style pod name",
		apply: func(o *Options, v string) error { o.Config.Identity.Namespace = v; return nil }},
	{flag: "release", envs: []string{"MWSTUB_RELEASE"}, usage: "helmfile `release` (e.g. main, jobrunner); default: from a production style pod name",
		apply: func(o *Options, v string) error { o.Config.Identity.Release = v; return nil }},
	{flag: "dc", envs: []string{"MWSTUB_DC"}, usage: "data centre `name` (e.g. eqiad); default: from a production style pod name",
		apply: func(o *Options, v string) error { o.Config.Identity.DC = v; return nil }},
	{flag: "pod", envs: []string{"MWSTUB_POD", "POD_NAME"}, usage: "pod `name`, sent as the Server header (default: the hostname)",
		apply: func(o *Options, v string) error { o.Config.Identity.Pod = v; return nil }},
	{flag: "node", envs: []string{"MWSTUB_NODE", "NODE_NAME"}, usage: "node `name`",
		apply: func(o *Options, v string) error { o.Config.Identity.Node = v; return nil }},
	{flag: "role", envs: []string{"MWSTUB_ROLE"}, def: RoleWeb, usage: "MediaWiki `role`: web or jobrunner",
		apply: func(o *Options, v string) error {
			if v != RoleWeb && v != RoleJobrunner {
				return fmt.Errorf("want %q or %q", RoleWeb, RoleJobrunner)
			}
			o.Config.Identity.Role = v
			return nil
		}},
	{flag: "image-kind", envs: []string{"MWSTUB_IMAGE_KIND"}, usage: "image `kind` (build target, e.g. image, debug-image)",
		apply: func(o *Options, v string) error { o.Config.Identity.ImageKind = v; return nil }},
	{flag: "image-flavour", envs: []string{"MWSTUB_IMAGE_FLAVOUR"}, usage: "image `flavour` (e.g. publish-81)",
		apply: func(o *Options, v string) error { o.Config.Identity.ImageFlavour = v; return nil }},
	{flag: "listen", envs: []string{"MWSTUB_LISTEN"}, def: DefaultListen, usage: "MediaWiki listener `address`",
		apply: func(o *Options, v string) error { o.Listen = v; return checkAddr(v) }},
	{flag: "forward-listen", envs: []string{"MWSTUB_FORWARD_LISTEN"}, usage: "forward endpoint `address` (POST /forward); empty: off",
		apply: func(o *Options, v string) error { o.ForwardListen = v; return checkAddr(v) }},
	{flag: "latency", envs: []string{"MWSTUB_LATENCY"}, def: "0s", usage: "latency added to every response (Go `duration`)",
		apply: func(o *Options, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d > MaxLatency {
				return fmt.Errorf("want a Go duration within 0..%s", MaxLatency)
			}
			o.Config.Latency = d
			return nil
		}},
	{flag: "error-rate", envs: []string{"MWSTUB_ERROR_RATE"}, def: "0", usage: "share of responses answered 503, a `fraction` 0..1",
		apply: func(o *Options, v string) error {
			p, err := strconv.ParseFloat(v, 64)
			if err != nil || !(p >= 0 && p <= 1) {
				return errors.New("want a number within 0..1")
			}
			o.Config.ErrorRate = p
			return nil
		}},
	{flag: "status", envs: []string{"MWSTUB_STATUS"}, def: "0", usage: "when non-zero, the `status` of every response (200..599)",
		apply: func(o *Options, v string) error {
			s, err := strconv.Atoi(v)
			if err != nil || (s != 0 && !validStatus(s)) {
				return errors.New("want 0 or a status within 200..599")
			}
			o.Config.ForcedStatus = s
			return nil
		}},
	{flag: "header-faults", envs: []string{"MWSTUB_HEADER_FAULTS"}, def: "false", bool: true,
		usage: "honour the per-request fault headers " + HeaderFaultLatency + ", " + HeaderFaultStatus + ", " + HeaderFaultErrorRate,
		apply: func(o *Options, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("want true or false")
			}
			o.Config.HeaderFaults = b
			return nil
		}},
	{flag: "identity-header", envs: []string{"MWSTUB_IDENTITY_HEADER"}, def: "false", bool: true,
		usage: "also send the machine-readable " + identity.Header + " header (off: Server alone says who answered, as in production)",
		apply: func(o *Options, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("want true or false")
			}
			o.Config.IdentityHeader = b
			return nil
		}},
}

func checkAddr(v string) error {
	if v == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return errors.New("want host:port, e.g. :8080 or 127.0.0.1:8080")
	}
	return nil
}

// stringValue is a flag.Value that remembers whether it was set.
type stringValue struct {
	v      string
	isBool bool
}

func (s *stringValue) String() string     { return s.v }
func (s *stringValue) Set(v string) error { s.v = v; return nil }
func (s *stringValue) IsBoolFlag() bool   { return s.isBool }

func newFlagSet() (*flag.FlagSet, map[string]*stringValue) {
	fs := flag.NewFlagSet("mwstub", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	vals := make(map[string]*stringValue, len(settings))
	for _, s := range settings {
		v := &stringValue{v: s.def, isBool: s.bool}
		vals[s.flag] = v
		fs.Var(v, s.flag, s.usage+" [env "+strings.Join(s.envs, ", ")+"]")
	}
	return fs, vals
}

// ParseOptions reads Options from command-line flags and environment
// variables; a set, non-empty environment variable wins over its flag.
// The pod name defaults to hostname(); namespace, dc and release default to
// what a production style pod name carries. Errors name the flag or
// variable at fault. It returns flag.ErrHelp for -h/--help.
func ParseOptions(args []string, lookupEnv func(string) (string, bool), hostname func() (string, error)) (Options, error) {
	fs, vals := newFlagSet()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Options{}, err
		}
		return Options{}, fmt.Errorf("parse flags: %w", err)
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("parse flags: unexpected arguments %q", fs.Args())
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	o := Options{ShutdownTimeout: DefaultShutdownTimeout}
	var errs []error
	source := map[string]string{} // flag name -> where its value came from
	for _, s := range settings {
		v, src := vals[s.flag].v, "--"+s.flag
		fromEnv := false
		for _, env := range s.envs {
			if ev, ok := lookupEnv(env); ok && ev != "" {
				v, src, fromEnv = ev, env, true
				break
			}
		}
		if !fromEnv && !given[s.flag] {
			src = "default of --" + s.flag
		}
		source[s.flag] = src
		if !fromEnv && !given[s.flag] && s.flag == "pod" && hostname != nil {
			h, err := hostname()
			if err != nil {
				errs = append(errs, fmt.Errorf("default --pod to the hostname: %w (set --pod or MWSTUB_POD)", err))
				continue
			}
			v, source["pod"] = h, "hostname"
		}
		if err := s.apply(&o, v); err != nil {
			errs = append(errs, fmt.Errorf("invalid %s %q: %w", src, v, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Options{}, err
	}
	o.Config.Identity = IdentityFromPod(o.Config.Identity)
	id := o.Config.Identity
	if id.Pod == "" {
		errs = append(errs, errors.New("pod name is empty: set --pod or MWSTUB_POD (or POD_NAME)"))
	}
	if id.Namespace == "" {
		errs = append(errs, fmt.Errorf("namespace is required: set --namespace or MWSTUB_NAMESPACE, or a pod name like %q", "mw-pretrain.eqiad.main-6d5f7c9b8-x2v4q"))
	}
	if id.Release == "" {
		errs = append(errs, errors.New("release is required: set --release or MWSTUB_RELEASE"))
	}
	if o.ForwardListen != "" && o.ForwardListen == o.Listen && !strings.HasSuffix(o.Listen, ":0") {
		errs = append(errs, fmt.Errorf("invalid %s %q: same address as %s", source["forward-listen"], o.ForwardListen, source["listen"]))
	}
	if err := errors.Join(errs...); err != nil {
		return Options{}, err
	}
	if err := o.Config.Validate(); err != nil {
		return Options{}, fmt.Errorf("check options (pod from %s): %w", source["pod"], err)
	}
	return o, nil
}

// PrintUsage writes the flags, their environment variables and defaults.
func PrintUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: mwstub [flags]\n\nA stand-in for a MediaWiki pod (web or jobrunner) for pretrain-check.\n"+
		"Environment variables win over flags.\n\nFlags:\n")
	fs, _ := newFlagSet()
	fs.SetOutput(w)
	fs.PrintDefaults()
}
