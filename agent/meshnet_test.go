package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// newTrustForTest returns the fleet-CA trust of a store in a temp dir and
// the connection state of a member presenting a certificate of the CA.
func newTrustForTest(tb testing.TB) (meshTrust, tls.ConnectionState, *store.Store) {
	st, err := store.Open(tb.TempDir(), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	ca, err := tlsmesh.NewCA(tlsmesh.CAOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := ca.IssueTLS("gw-1", tlsmesh.CertOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	trust := meshTrust{mode: tlsmesh.FleetCA, fleet: tlsmesh.VerifyFleet(ca.Pool(), time.Now), st: st}
	return trust, tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}, st
}

// TestRevokedCertificateRefused: a certificate is refused once its
// fingerprint is in the revoked table, and again once it is not.
func TestRevokedCertificateRefused(t *testing.T) {
	trust, cs, st := newTrustForTest(t)
	if node, err := trust.verify(cs); err != nil || node != "gw-1" {
		t.Fatalf("verify = %q, %v", node, err)
	}
	fp := tlsmesh.FormatFingerprint(tlsmesh.Fingerprint(cs.PeerCertificates[0].Raw))
	if err := st.Update(func(tx *store.Tx) error { _, err := tx.Put(tableRevoked, fp, nil, 0); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := trust.verify(cs); !errors.Is(err, errRevoked) {
		t.Fatalf("verify of a revoked certificate: %v, want errRevoked", err)
	}
	if _, err := trust.refuseRevoked(trust.fleet)(cs); !errors.Is(err, errRevoked) {
		t.Fatalf("the RPC verifier accepts a revoked certificate: %v", err)
	}
	if _, err := trust.verify(tls.ConnectionState{}); !errors.Is(err, tlsmesh.ErrNoCertificate) {
		t.Fatalf("verify with no certificate: %v", err)
	}
}

// BenchmarkVerifyPeer measures what a handshake's certificate check costs
// with and without the revocation lookup (one read of the store).
func BenchmarkVerifyPeer(b *testing.B) {
	trust, cs, _ := newTrustForTest(b)
	b.Run("fleet-ca", func(b *testing.B) {
		for b.Loop() {
			if _, err := trust.fleet(cs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fleet-ca+revocation", func(b *testing.B) {
		for b.Loop() {
			if _, err := trust.verify(cs); err != nil {
				b.Fatal(err)
			}
		}
	})
}
