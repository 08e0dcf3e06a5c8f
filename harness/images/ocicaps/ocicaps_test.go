package ocicaps

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// withoutSysResource is the bounding set of the CI machines: all but bit 24.
const withoutSysResource = Set(0x000001fffeffffff)

func TestParseStatus(t *testing.T) {
	s, err := ParseStatus(strings.NewReader("Name:\tx\nCapBnd:\t000001fffeffffff\nCapAmb:\t0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s != withoutSysResource {
		t.Fatalf("expected %x, got %x", withoutSysResource, s)
	}
	if got := s.Missing(); !reflect.DeepEqual(got, []string{"CAP_SYS_RESOURCE"}) {
		t.Fatalf("expected only CAP_SYS_RESOURCE missing, got %v", got)
	}
	for _, bad := range []string{"Name:\tx\n", "CapBnd:\tzz\n"} {
		if _, err := ParseStatus(strings.NewReader(bad)); err == nil {
			t.Errorf("expected an error for %q", bad)
		}
	}
}

func TestFilterSpec(t *testing.T) {
	doc := []byte(`{"ociVersion":"1.0.2","process":{"args":["sh"],"capabilities":{` +
		`"bounding":["CAP_CHOWN","CAP_SYS_RESOURCE"],"effective":["CAP_SYS_RESOURCE"],` +
		`"permitted":["CAP_CHOWN","CAP_SYS_RESOURCE","CAP_FUTURE_THING"]}},"root":{"path":"rootfs"}}`)
	out, changed, err := FilterSpec(doc, withoutSysResource)
	if err != nil || !changed {
		t.Fatalf("expected a change, got changed=%v err=%v", changed, err)
	}
	var spec struct {
		OCIVersion string `json:"ociVersion"`
		Process    struct {
			Args []string            `json:"args"`
			Caps map[string][]string `json:"capabilities"`
		} `json:"process"`
		Root map[string]string `json:"root"`
	}
	if err := json.Unmarshal(out, &spec); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"bounding":  {"CAP_CHOWN"},
		"effective": {},
		"permitted": {"CAP_CHOWN", "CAP_FUTURE_THING"}, // unknown names are kept
	}
	if !reflect.DeepEqual(spec.Process.Caps, want) {
		t.Fatalf("expected %v, got %v", want, spec.Process.Caps)
	}
	if spec.OCIVersion != "1.0.2" || spec.Root["path"] != "rootfs" || spec.Process.Args[0] != "sh" {
		t.Fatalf("unrelated fields changed: %s", out)
	}
}

func TestFilterSpecUnchanged(t *testing.T) {
	doc := []byte(`{"process":{"capabilities":{"bounding":["CAP_CHOWN"]}}}`)
	out, changed, err := FilterSpec(doc, withoutSysResource)
	if err != nil || changed || string(out) != string(doc) {
		t.Fatalf("expected the document untouched, got changed=%v err=%v out=%s", changed, err, out)
	}
	if _, _, err := FilterSpec([]byte(`{"process":`), withoutSysResource); err == nil {
		t.Fatal("expected an error for a truncated document")
	}
	if _, _, err := FilterProcess([]byte(`{"capabilities":{"bounding":"CAP_CHOWN"}}`), withoutSysResource); err == nil {
		t.Fatal("expected an error for a capability list that is not a list")
	}
}

func TestTargetOf(t *testing.T) {
	cases := []struct {
		args []string
		want Target
		ok   bool
	}{
		{[]string{"--root", "/r", "--log", "/l", "--log-format", "json", "create", "--bundle", "/b/", "--pid-file", "p", "id"}, Target{"/b/config.json", true}, true},
		{[]string{"--systemd-cgroup", "run", "-b=/x", "id"}, Target{"/x/config.json", true}, true},
		{[]string{"create", "id"}, Target{"/cwd/config.json", true}, true},
		{[]string{"--root", "/r", "exec", "--process", "/tmp/p.json", "--detach", "id"}, Target{"/tmp/p.json", false}, true},
		{[]string{"exec", "id", "sh"}, Target{}, false},
		{[]string{"--root", "/r", "start", "id"}, Target{}, false},
		{[]string{"--version"}, Target{}, false},
	}
	for _, c := range cases {
		got, ok := TargetOf(c.args, "/cwd")
		if ok != c.ok || got != c.want {
			t.Errorf("TargetOf(%q): expected %v %v, got %v %v", c.args, c.want, c.ok, got, ok)
		}
	}
}

func TestFilterFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(p, []byte(`{"capabilities":{"ambient":["CAP_SYS_RESOURCE","CAP_KILL"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := FilterFile(p, false, withoutSysResource); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if strings.Contains(string(b), "SYS_RESOURCE") || !strings.Contains(string(b), "CAP_KILL") {
		t.Fatalf("expected CAP_SYS_RESOURCE removed and CAP_KILL kept, got %s", b)
	}
	if err := FilterFile(filepath.Join(t.TempDir(), "missing.json"), true, withoutSysResource); err == nil {
		t.Fatal("expected an error for a missing file")
	}
}
