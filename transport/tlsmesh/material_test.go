package tlsmesh

import (
	"crypto/ecdsa"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeMaterial writes a certificate, a key and CA certificates as PEM
// files into a new directory and returns their paths.
func writeMaterial(t *testing.T, cert *tls.Certificate, key *tls.Certificate, cas ...*CA) (certFile, keyFile, caFile string) {
	t.Helper()
	dir := t.TempDir()
	keyPEM, err := encodeKeyAny(key)
	if err != nil {
		t.Fatal(err)
	}
	var caPEM []byte
	for _, ca := range cas {
		caPEM = append(caPEM, encodeCert(ca.Cert.Raw)...)
	}
	certFile, keyFile, caFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	for f, b := range map[string][]byte{certFile: encodeCert(cert.Certificate[0]), keyFile: keyPEM, caFile: caPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile, caFile
}

func TestMaterial(t *testing.T) {
	ca, other := mustCA(t), mustCA(t)
	good := mustIssue(t, ca, "gw-01", CertOptions{})
	another := mustIssue(t, ca, "gw-01", CertOptions{})
	short := mustIssue(t, ca, "gw-01", CertOptions{Validity: 24 * time.Hour})
	elsewhere := mustIssue(t, ca, "gw-02", CertOptions{})
	foreign := mustIssue(t, other, "gw-01", CertOptions{})
	caFileOf := func(cas ...*CA) func(t *testing.T) (string, string, string) {
		return func(t *testing.T) (string, string, string) { return writeMaterial(t, good, good, cas...) }
	}
	tests := []struct {
		name     string
		files    func(t *testing.T) (string, string, string)
		now      time.Time
		loadErr  error
		checkErr error
	}{
		{"good", caFileOf(ca), t0, nil, nil},
		{"a bundle of two CAs", caFileOf(other, ca), t0, nil, nil},
		{"key of another certificate", func(t *testing.T) (string, string, string) { return writeMaterial(t, good, another, ca) }, t0, ErrKeyMismatch, nil},
		{"expired", func(t *testing.T) (string, string, string) { return writeMaterial(t, short, short, ca) }, t0.Add(48 * time.Hour), nil, ErrExpired},
		{"not yet valid", caFileOf(ca), t0.Add(-48 * time.Hour), nil, ErrNotYetValid},
		{"another node's", func(t *testing.T) (string, string, string) { return writeMaterial(t, elsewhere, elsewhere, ca) }, t0, nil, ErrNodeName},
		{"not signed by the CA file's CA", func(t *testing.T) (string, string, string) { return writeMaterial(t, foreign, foreign, ca) }, t0, nil, ErrUntrusted},
		{"CA file with no CA", func(t *testing.T) (string, string, string) { return writeMaterial(t, good, good) }, t0, ErrBadCA, nil},
		{"CA file holding a node certificate", func(t *testing.T) (string, string, string) {
			c, k, _ := writeMaterial(t, good, good)
			return c, k, c
		}, t0, ErrBadCA, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := LoadMaterial(tc.files(t))
			if !errors.Is(err, tc.loadErr) || (tc.loadErr == nil) != (err == nil) {
				t.Fatalf("LoadMaterial = %v, want %v", err, tc.loadErr)
			}
			if err != nil {
				return
			}
			err = m.Check("gw-01", tc.now)
			if !errors.Is(err, tc.checkErr) || (tc.checkErr == nil) != (err == nil) {
				t.Fatalf("Check = %v, want %v", err, tc.checkErr)
			}
		})
	}
	if _, err := LoadMaterial("/nonexistent/cert.pem", "k", "c"); err == nil {
		t.Fatal("LoadMaterial of missing files succeeded")
	}
}

// TestLiveSwap: Live hands out the stored material, and VerifyFleetFrom
// checks against the CA pool in effect at each call.
func TestLiveSwap(t *testing.T) {
	ca, next := mustCA(t), mustCA(t)
	peer := mustIssue(t, next, "gw-02", CertOptions{})
	m1, err := LoadMaterial(writeMaterial(t, mustIssue(t, ca, "gw-01", CertOptions{}), nil, ca))
	if err == nil || m1 != nil {
		t.Fatal("material with no key loaded")
	}
	own := mustIssue(t, ca, "gw-01", CertOptions{})
	m1, err = LoadMaterial(writeMaterial(t, own, own, ca))
	if err != nil {
		t.Fatal(err)
	}
	live := NewLive(m1)
	verify := VerifyFleetFrom(live.Roots, at(t0))
	if _, err := verify(state(peer)); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("peer of the next CA before the swap: %v", err)
	}
	m2, err := LoadMaterial(writeMaterial(t, own, own, ca, next))
	if err != nil {
		t.Fatal(err)
	}
	if m1.Same(m2) {
		t.Fatal("material of different CA files is the same")
	}
	live.Store(m2)
	if node, err := verify(state(peer)); err != nil || node != "gw-02" {
		t.Fatalf("peer of the next CA after the swap: %q %v", node, err)
	}
	if live.Certificate() != m2.Cert {
		t.Fatal("Certificate is not the stored one's")
	}
}

// encodeKeyAny encodes c's key as PEM; nil writes a file with no key.
func encodeKeyAny(c *tls.Certificate) ([]byte, error) {
	if c == nil {
		return []byte("no key here\n"), nil
	}
	return encodeKey(c.PrivateKey.(*ecdsa.PrivateKey))
}
