package contract

import (
	"os"
	"strings"
	"testing"
)

// TestDocumentedExampleParses keeps the format example at the top of the
// default contract honest: it is cut out of the comment and parsed.
func TestDocumentedExampleParses(t *testing.T) {
	data, err := os.ReadFile("../../fixtures/contract/pretrain.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var example []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "# One case, every key shown"):
			in = true
		case in && strings.HasPrefix(line, "#   "):
			example = append(example, strings.TrimPrefix(line, "#"))
		case in && len(example) > 0 && line == "#":
			in = false
		}
	}
	if len(example) < 10 {
		t.Fatalf("found no format example in the default contract's header comment (%d lines)", len(example))
	}
	src := "version: 1\nbackends: [{name: ns/a}]\nentries: [{name: edge}]\ncases:\n" + strings.Join(example, "\n") + "\n"
	c, err := Parse("example.yaml", []byte(src))
	if err != nil {
		t.Fatalf("the documented example does not parse:\n%v\n--- source:\n%s", err, src)
	}
	cs := c.Cases[0]
	if cs.Description == "" || !cs.Expect.NoBackend || cs.Expect.Status != 400 || len(cs.Expect.Headers) != 1 ||
		cs.Expect.BodyContains == "" || len(cs.Request.Headers) != 1 || !cs.Negative() {
		t.Errorf("example parsed to %+v", cs)
	}
}
