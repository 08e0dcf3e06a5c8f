package tlsca

import (
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
