// Package ocicaps removes from OCI runtime documents the capabilities that the
// kernel will not grant.
//
// Some sandboxes (CI virtual machines among them) remove a capability such as
// CAP_SYS_RESOURCE from every bounding set. Docker grants privileged
// containers every capability it knows, so runc fails with "unable to apply
// caps: operation not permitted". The runc wrapper in ../runcwrap uses this
// package to rewrite the bundle's config.json (create/run) and the process
// file (exec) before it hands over to runc.
package ocicaps

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Names maps capability names to their bit numbers (linux/capability.h).
var Names = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
	"CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
	"CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
	"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
	"CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
	"CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
	"CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
	"CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
	"CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
	"CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
	"CAP_CHECKPOINT_RESTORE": 40,
}

// Set is a capability bitmask, as in the CapBnd line of /proc/<pid>/status.
type Set uint64

// Has reports whether the named capability is in the set. Unknown names are
// reported as present: the wrapper only removes what it knows to be missing.
func (s Set) Has(name string) bool {
	bit, ok := Names[strings.ToUpper(name)]
	if !ok {
		return true
	}
	return s&(1<<bit) != 0
}

// Missing lists the known capabilities absent from the set, sorted by bit.
func (s Set) Missing() []string {
	var out []string
	for bit := uint(0); bit <= 40; bit++ {
		if s&(1<<bit) != 0 {
			continue
		}
		for name, b := range Names {
			if b == bit {
				out = append(out, name)
			}
		}
	}
	return out
}

// ParseStatus reads the CapBnd line of a /proc/<pid>/status document.
func ParseStatus(r io.Reader) (Set, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "CapBnd:") {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "CapBnd:")), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("parse CapBnd %q: %w", line, err)
		}
		return Set(v), nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read status: %w", err)
	}
	return 0, fmt.Errorf("read status: no CapBnd line")
}

// Bounding returns the bounding set of the calling process.
func Bounding() (Set, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("open status: %w", err)
	}
	defer f.Close()
	return ParseStatus(f)
}

var capKinds = []string{"bounding", "effective", "inheritable", "permitted", "ambient"}

// filterCaps removes from caps (the "capabilities" object of an OCI process)
// every capability missing from allowed. It reports whether anything changed.
func filterCaps(caps map[string]json.RawMessage, allowed Set) (bool, error) {
	changed := false
	for _, kind := range capKinds {
		raw, ok := caps[kind]
		if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue
		}
		var names []string
		if err := json.Unmarshal(raw, &names); err != nil {
			return false, fmt.Errorf("decode capabilities %q: %w", kind, err)
		}
		kept := make([]string, 0, len(names))
		for _, n := range names {
			if allowed.Has(n) {
				kept = append(kept, n)
			}
		}
		if len(kept) == len(names) {
			continue
		}
		out, err := json.Marshal(kept)
		if err != nil {
			return false, fmt.Errorf("encode capabilities %q: %w", kind, err)
		}
		caps[kind] = out
		changed = true
	}
	return changed, nil
}

// FilterProcess rewrites an OCI process document (runc exec --process).
// Fields it does not know are kept as they are.
func FilterProcess(doc []byte, allowed Set) ([]byte, bool, error) {
	var proc map[string]json.RawMessage
	if err := json.Unmarshal(doc, &proc); err != nil {
		return nil, false, fmt.Errorf("decode process: %w", err)
	}
	raw, ok := proc["capabilities"]
	if !ok {
		return doc, false, nil
	}
	var caps map[string]json.RawMessage
	if err := json.Unmarshal(raw, &caps); err != nil {
		return nil, false, fmt.Errorf("decode process capabilities: %w", err)
	}
	if caps == nil {
		return doc, false, nil
	}
	changed, err := filterCaps(caps, allowed)
	if err != nil || !changed {
		return doc, false, err
	}
	if proc["capabilities"], err = json.Marshal(caps); err != nil {
		return nil, false, fmt.Errorf("encode process capabilities: %w", err)
	}
	out, err := json.Marshal(proc)
	if err != nil {
		return nil, false, fmt.Errorf("encode process: %w", err)
	}
	return out, true, nil
}

// FilterSpec rewrites an OCI bundle config.json document.
func FilterSpec(doc []byte, allowed Set) ([]byte, bool, error) {
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(doc, &spec); err != nil {
		return nil, false, fmt.Errorf("decode spec: %w", err)
	}
	raw, ok := spec["process"]
	if !ok {
		return doc, false, nil
	}
	proc, changed, err := FilterProcess(raw, allowed)
	if err != nil || !changed {
		return doc, false, err
	}
	spec["process"] = proc
	out, err := json.Marshal(spec)
	if err != nil {
		return nil, false, fmt.Errorf("encode spec: %w", err)
	}
	return out, true, nil
}

// FilterFile rewrites a config.json (spec=true) or process file in place.
func FilterFile(path string, spec bool, allowed Set) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %q: %w", path, err)
	}
	filter := FilterProcess
	if spec {
		filter = FilterSpec
	}
	out, changed, err := filter(doc, allowed)
	if err != nil {
		return fmt.Errorf("filter %q: %w", path, err)
	}
	if !changed {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("stat %q: %w", path, err)
	}
	tmp := path + ".ocicaps"
	if err := os.WriteFile(tmp, out, st.Mode().Perm()); err != nil {
		return fmt.Errorf("write %q: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %q: %w", path, err)
	}
	return nil
}

// Target is the document a runc command line points at.
type Target struct {
	Path string
	Spec bool // config.json of a bundle, else a process file
}

// TargetOf finds the document to rewrite in a runc command line (arguments
// after the program name): `create`/`run` use <bundle>/config.json (the
// bundle defaults to the working directory), `exec` uses --process when
// given. ok is false for every other command.
func TargetOf(args []string, cwd string) (Target, bool) {
	// Global options that take a value (runc --help).
	globalsWithValue := map[string]bool{"--root": true, "--log": true, "--log-format": true, "--criu": true, "--rootless": true}
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		if globalsWithValue[args[i]] && !strings.Contains(args[i], "=") {
			i++
		}
		i++
	}
	if i >= len(args) {
		return Target{}, false
	}
	cmd, rest := args[i], args[i+1:]
	switch cmd {
	case "create", "run":
		bundle := cwd
		if v, ok := flagValue(rest, "--bundle", "-b"); ok {
			bundle = v
		}
		return Target{Path: strings.TrimRight(bundle, "/") + "/config.json", Spec: true}, true
	case "exec":
		if v, ok := flagValue(rest, "--process", "-p"); ok {
			return Target{Path: v}, true
		}
	}
	return Target{}, false
}

func flagValue(args []string, long, short string) (string, bool) {
	for i, a := range args {
		if a == "--" {
			return "", false
		}
		for _, name := range []string{long, short} {
			if a == name && i+1 < len(args) {
				return args[i+1], true
			}
			if strings.HasPrefix(a, name+"=") {
				return strings.TrimPrefix(a, name+"="), true
			}
		}
	}
	return "", false
}
