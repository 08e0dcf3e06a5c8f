// Package tlsca makes a throwaway certificate authority and one serving
// certificate it signed: the config tier's ingress listener and the
// imitations of production in tests present it, and clients trust only
// that CA, so TLS is verified as against production, never skipped.
package tlsca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CA is a throwaway certificate authority and one server certificate it
// signed for the given names.
type CA struct {
	// CertPEM is the CA certificate (what --ca-file trusts).
	CertPEM []byte
	// Pool holds the CA certificate alone.
	Pool *x509.CertPool
	// Server is the leaf certificate and key for the names.
	Server tls.Certificate

	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

// New makes a CA and a server certificate for names (DNS names or IPs),
// valid for a day.
func New(names ...string) (*CA, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pretrain-check throwaway CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}

	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	ca := &CA{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		Pool:    pool,
		key:     caKey,
		cert:    caCert,
	}
	if ca.Server, err = ca.Issue(names...); err != nil {
		return nil, err
	}
	return ca, nil
}

// Issue signs another server certificate, for names (DNS names, wildcards
// or IPs), valid as long as the CA.
func (ca *CA) Issue(names ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate server key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("draw a serial number: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(2)),
		Subject:      pkix.Name{CommonName: "pretrain-check server"},
		NotBefore:    ca.cert.NotBefore,
		NotAfter:     ca.cert.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// ForServerNames is a CA and a serving certificate for the hosts Istio
// Gateway servers list (istio.Model.ServerNames): the probe verifies TLS
// as it does against production, against a root it is handed, never
// skipping it. A host such as "*.wikipedia.org" becomes a wildcard SAN; "*"
// (any host) and "namespace/host" forms cannot be SANs, so they are left
// out and such a host fails verification, as the TLS error it is.
func ForServerNames(names []string) (*CA, error) {
	var sans []string
	for _, n := range names {
		if n != "*" && !strings.Contains(n, "/") {
			sans = append(sans, n)
		}
	}
	return New(sans...)
}

// WriteCAFile writes the CA certificate to dir/ca.pem and returns its path.
func (ca *CA) WriteCAFile(dir string) (string, error) {
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, ca.CertPEM, 0o644); err != nil {
		return "", fmt.Errorf("write CA file: %w", err)
	}
	return p, nil
}

// ServerPEM is the server certificate followed by its key, PEM-encoded,
// as a proxy such as HAProxy reads them from one file.
func (ca *CA) ServerPEM() ([]byte, error) { return CertKeyPEM(ca.Server) }

// CertKeyPEM is a certificate (chain) followed by its ECDSA key,
// PEM-encoded.
func CertKeyPEM(c tls.Certificate) ([]byte, error) {
	key, ok := c.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("encode server key: %T is not an ECDSA key", c.PrivateKey)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode server key: %w", err)
	}
	var out []byte
	for _, der := range c.Certificate {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})...), nil
}

// ClientConfig is the TLS configuration of a client that talks to a live
// host: TLS 1.2 at least, verified against the system roots plus caFile's
// certificates when caFile is not empty (--ca-file: an imitation of
// production, or an internal CA).
func ClientConfig(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("read CA file %q: no PEM certificate in it", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}
