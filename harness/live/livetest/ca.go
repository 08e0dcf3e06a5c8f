// Package livetest imitates production for tests of the live target: local
// TLS servers on 127.0.0.1 that answer like the CDN edge and the shared
// ingress (Server header with pod names, X-Cache-Status, the
// X-Wikimedia-Debug 400 with its routing header), signed by a throwaway CA.
// Nothing here reaches the network beyond loopback.
package livetest

import (
	"testing"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/tlsca"
)

// CA is a throwaway certificate authority (harness/tlsca).
type CA = tlsca.CA

// NewCA is tlsca.New: a CA and a server certificate for names (DNS names
// or IPs), valid for a day.
func NewCA(names ...string) (*CA, error) { return tlsca.New(names...) }

// NewTestCA is NewCA for every imitated host name, with its certificate
// written to a temporary file (a test's --ca-file); it fails the test on
// error.
func NewTestCA(t testing.TB) (*CA, string) {
	t.Helper()
	ca, err := NewCA(CertNames()...)
	if err != nil {
		t.Fatal(err)
	}
	caFile, err := ca.WriteCAFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ca, caFile
}
