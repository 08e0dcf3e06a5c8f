package tlsca

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClientConfig(t *testing.T) {
	dir := t.TempDir()
	cfg, err := ClientConfig("")
	if err != nil || cfg.RootCAs != nil || cfg.MinVersion == 0 {
		t.Fatalf("no CA file: want system roots and a minimum version, got %+v, %v", cfg, err)
	}
	if _, err := ClientConfig(filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "read CA file") {
		t.Errorf("missing file: %v", err)
	}
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ClientConfig(junk); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("no PEM in the file: %v", err)
	}
	ca, err := New("test.wikipedia.org")
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(good, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = ClientConfig(good)
	if err != nil || cfg.RootCAs == nil {
		t.Fatalf("a CA file: want it in the roots, got %v", err)
	}
}

// A second certificate from the same CA verifies against its pool for its
// names, and only for them.
func TestIssue(t *testing.T) {
	ca, err := New("gateway.example")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.Issue("*.wikipedia.org")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool, DNSName: "en.wikipedia.org"}); err != nil {
		t.Errorf("en.wikipedia.org: %v", err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool, DNSName: "gateway.example"}); err == nil {
		t.Error("the issued certificate verified for a name it was not issued for")
	}
	other, err := New("x.example")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: other.Pool, DNSName: "en.wikipedia.org"}); err == nil {
		t.Error("the issued certificate verified against another CA")
	}
	if pemBytes, err := CertKeyPEM(c); err != nil || !strings.Contains(string(pemBytes), "EC PRIVATE KEY") {
		t.Errorf("CertKeyPEM: %v", err)
	}
}
