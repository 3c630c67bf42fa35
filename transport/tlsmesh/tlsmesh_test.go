package tlsmesh

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(t time.Time) func() time.Time { return func() time.Time { return t } }

func state(certs ...*tls.Certificate) tls.ConnectionState {
	var cs tls.ConnectionState
	for _, c := range certs {
		cs.PeerCertificates = append(cs.PeerCertificates, c.Leaf)
	}
	return cs
}

func mustCA(t *testing.T) *CA {
	t.Helper()
	ca, err := NewCA(CAOptions{Now: at(t0)})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustIssue(t *testing.T, ca *CA, node string, opts CertOptions) *tls.Certificate {
	t.Helper()
	if opts.Now == nil {
		opts.Now = at(t0)
	}
	c, err := ca.IssueTLS(node, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// certWithNames signs a certificate with arbitrary DNS names, for the
// cases Issue refuses to make.
func certWithNames(t *testing.T, ca *CA, names []string) *tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "x"}, DNSNames: names,
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func TestVerifyFleet(t *testing.T) {
	ca, other := mustCA(t), mustCA(t)
	good := mustIssue(t, ca, "gw-01", CertOptions{Site: "plant-a"})
	short := mustIssue(t, ca, "gw-02", CertOptions{Validity: 24 * time.Hour})
	foreign := mustIssue(t, other, "gw-01", CertOptions{})
	tests := []struct {
		name     string
		cs       tls.ConnectionState
		now      time.Time
		wantNode string
		wantErr  error
	}{
		{"valid", state(good), t0, "gw-01", nil},
		{"valid near the end", state(short), t0.Add(23 * time.Hour), "gw-02", nil},
		{"another CA", state(foreign), t0, "", ErrUntrusted},
		{"expired", state(short), t0.Add(25 * time.Hour), "", ErrUntrusted},
		{"not yet valid", state(good), t0.Add(-48 * time.Hour), "", ErrUntrusted},
		{"no certificate", tls.ConnectionState{}, t0, "", ErrNoCertificate},
		{"two names", state(certWithNames(t, ca, []string{"gw-01", "gw-02"})), t0, "", ErrNodeName},
		{"no name", state(certWithNames(t, ca, nil)), t0, "", ErrNodeName},
		{"invalid name", state(certWithNames(t, ca, []string{"gw 01"})), t0, "", ErrNodeName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node, err := VerifyFleet(ca.Pool(), at(tt.now))(tt.cs)
			if !errors.Is(err, tt.wantErr) || node != tt.wantNode {
				t.Fatalf("got (%q, %v), want (%q, %v)", node, err, tt.wantNode, tt.wantErr)
			}
		})
	}
}

// TestVerifyFleetClockFloor shows the Now a node should pass: the later of
// the wall clock and the highest time it has seen. A device whose wall
// clock reads 1970 after a reboot then still refuses an expired
// certificate instead of taking it as "not yet expired".
func TestVerifyFleetClockFloor(t *testing.T) {
	ca := mustCA(t)
	expiredCert := mustIssue(t, ca, "gw-03", CertOptions{Validity: time.Hour})
	wall := time.Unix(0, 0)                  // the clock after a bad boot
	highWater := t0.Add(30 * 24 * time.Hour) // persisted HLC high-water mark
	now := func() time.Time {
		if wall.After(highWater) {
			return wall
		}
		return highWater
	}
	_, err := VerifyFleet(ca.Pool(), now)(state(expiredCert))
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Fatalf("got %v, want an expired-certificate error", err)
	}
}

func TestVerifyPinned(t *testing.T) {
	a, err := SelfSigned("node-a", at(t0))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := SelfSigned("node-b", at(t0))
	impostor, _ := SelfSigned("node-a", at(t0)) // same name, other key
	announced := map[string][]byte{
		"node-a": Fingerprint(a.Leaf.Raw),
		"node-b": Fingerprint(b.Leaf.Raw),
	}
	verify := VerifyPinned(func(n string) ([]byte, bool) { fp, ok := announced[n]; return fp, ok })
	ghost, _ := SelfSigned("ghost", at(t0))
	tests := []struct {
		name     string
		cs       tls.ConnectionState
		wantNode string
		wantErr  error
	}{
		{"matches", state(a), "node-a", nil},
		{"other node matches", state(b), "node-b", nil},
		{"mismatched fingerprint", state(impostor), "", ErrFingerprintMismatch},
		{"not announced", state(ghost), "", ErrNotAnnounced},
		{"no certificate", tls.ConnectionState{}, "", ErrNoCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node, err := verify(tt.cs)
			if !errors.Is(err, tt.wantErr) || node != tt.wantNode {
				t.Fatalf("got (%q, %v), want (%q, %v)", node, err, tt.wantNode, tt.wantErr)
			}
		})
	}
}

func TestCAFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	ca, err := CreateCA(dir, CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, CAKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi.Mode())
	}
	if _, err := CreateCA(dir, CAOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second CreateCA: %v, want fs.ErrExist", err)
	}
	loaded, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Cert.Equal(ca.Cert) || !loaded.Key.Equal(ca.Key) {
		t.Fatal("loaded CA differs")
	}
	if loaded.Cert.PublicKeyAlgorithm != x509.ECDSA || loaded.Key.Curve != elliptic.P256() {
		t.Fatal("CA key is not ECDSA P-256")
	}

	certDir := t.TempDir()
	certFile, keyFile, err := loaded.WriteNodeCert(certDir, "gw-07", CertOptions{Site: "dock"})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(certFile) != "gw-07.pem" || filepath.Base(keyFile) != "gw-07-key.pem" {
		t.Fatalf("files %s %s", certFile, keyFile)
	}
	if _, _, err := loaded.WriteNodeCert(certDir, "gw-07", CertOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrite: %v", err)
	}
	cert, err := LoadCertificate(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Leaf.Subject.OrganizationalUnit[0] != "dock" || cert.Leaf.NotAfter.Sub(cert.Leaf.NotBefore) < DefaultNodeValidity {
		t.Fatalf("certificate fields: %+v", cert.Leaf.Subject)
	}
	pool, err := LoadPool(filepath.Join(dir, CAFile))
	if err != nil {
		t.Fatal(err)
	}
	if node, err := VerifyFleet(pool, time.Now)(state(cert)); err != nil || node != "gw-07" {
		t.Fatalf("verify written cert: %q %v", node, err)
	}
	if _, _, err := loaded.Issue("bad name", CertOptions{}); !errors.Is(err, ErrNodeName) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := LoadPool(keyFile); err == nil {
		t.Fatal("a key file loaded as a CA pool")
	}
}

func TestLoadOrCreateSelfSigned(t *testing.T) {
	dir := t.TempDir()
	first, err := LoadOrCreateSelfSigned(dir, "gw-09", nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateSelfSigned(dir, "gw-09", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(Fingerprint(first.Leaf.Raw), Fingerprint(again.Leaf.Raw)) {
		t.Fatal("fingerprint changed across loads")
	}
	renamed, err := LoadOrCreateSelfSigned(dir, "gw-10", nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := NodeName(renamed.Leaf); n != "gw-10" {
		t.Fatalf("renamed node kept certificate for %q", n)
	}
	if fi, _ := os.Stat(filepath.Join(dir, SelfSignedKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode())
	}
	os.WriteFile(filepath.Join(dir, SelfSignedFile), []byte("garbage"), 0o644)
	if _, err := LoadOrCreateSelfSigned(dir, "gw-10", nil); err == nil {
		t.Fatal("corrupt certificate silently replaced")
	}
}

func TestFingerprintFormat(t *testing.T) {
	fp := Fingerprint([]byte("der"))
	s := FormatFingerprint(fp)
	back, err := ParseFingerprint(s)
	if err != nil || !bytes.Equal(back, fp) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := ParseFingerprint("abcd"); err == nil {
		t.Fatal("short fingerprint accepted")
	}
	if _, err := ParseFingerprint("zz"); err == nil {
		t.Fatal("non-hex accepted")
	}
}

func TestModeWarning(t *testing.T) {
	if FleetCA.Warning() != "" || PinnedEncrypted.Warning() != "" || PinnedPlain.Warning() == "" {
		t.Fatal("only the plain pinned mode warns")
	}
	for _, m := range []Mode{FleetCA, PinnedEncrypted, PinnedPlain} {
		if m.String() == "unknown" {
			t.Fatal(m)
		}
	}
}
