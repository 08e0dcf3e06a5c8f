package live_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain lets more parallel tests run at once than go test's default
// (GOMAXPROCS): they wait on the live rate cap (10/s), not on the CPUs.
// An explicit -test.parallel still wins.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "4")
	}
	os.Exit(m.Run())
}
