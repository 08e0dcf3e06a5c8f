package configtarget

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// authority is the tier's own CA and one serving certificate whose SANs
// are every host the Gateways list: the probe verifies TLS as it does
// against production, against a root it is handed, never skipping it.
type authority struct {
	pool *x509.CertPool
	leaf tls.Certificate
}

// newAuthority makes a CA valid for a day and a leaf for names. A Gateway
// host such as "*.wikipedia.org" becomes a wildcard SAN; "*" (any host)
// cannot be a SAN, so it is left out and such a host fails verification,
// which the probe reports as the TLS error it is.
func newAuthority(names []string) (*authority, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pretrain-check config tier CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate serving key: %w", err)
	}
	var sans []string
	for _, n := range names {
		if n != "*" && !strings.Contains(n, "/") {
			sans = append(sans, n)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "pretrain-check config tier"},
		DNSNames:     sans,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("create serving certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &authority{pool: pool, leaf: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}, nil
}
