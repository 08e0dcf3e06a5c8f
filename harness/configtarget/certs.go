package configtarget

import (
	"strings"

	"gitlab.wikimedia.org/repos/sre/pretrain-check/harness/tlsca"
)

// newAuthority is the tier's own CA and one serving certificate whose
// SANs are every host the Gateways list: the probe verifies TLS as it does
// against production, against a root it is handed, never skipping it. A
// Gateway host such as "*.wikipedia.org" becomes a wildcard SAN; "*" (any
// host) cannot be a SAN, so it is left out and such a host fails
// verification, which the probe reports as the TLS error it is.
func newAuthority(names []string) (*tlsca.CA, error) {
	var sans []string
	for _, n := range names {
		if n != "*" && !strings.Contains(n, "/") {
			sans = append(sans, n)
		}
	}
	return tlsca.New(sans...)
}
