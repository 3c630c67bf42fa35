package tlsmesh

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors a verifier wraps, for callers that branch on the reason.
var (
	// ErrNoCertificate: the peer presented no certificate.
	ErrNoCertificate = errors.New("tlsmesh: peer presented no certificate")
	// ErrUntrusted: the certificate does not chain to the fleet CA, or is
	// not valid at the verifier's time. The x509 error is wrapped too.
	ErrUntrusted = errors.New("tlsmesh: certificate not trusted")
	// ErrNodeName: the certificate does not name exactly one valid node.
	ErrNodeName = errors.New("tlsmesh: certificate must name exactly one node")
	// ErrNotAnnounced: no fingerprint is known for the node the
	// certificate names.
	ErrNotAnnounced = errors.New("tlsmesh: node announced no certificate fingerprint")
	// ErrFingerprintMismatch: the certificate is not the one the node
	// announced.
	ErrFingerprintMismatch = errors.New("tlsmesh: certificate fingerprint does not match the one announced")
)

// VerifyFunc checks a peer's certificate and returns the node it names.
// It has the shape the transport's TLS configuration takes.
type VerifyFunc = func(cs tls.ConnectionState) (node string, err error)

// Mode is one of the three ways a mesh trusts its peers.
type Mode uint8

// The trust modes; see the package documentation.
const (
	FleetCA Mode = iota
	PinnedEncrypted
	PinnedPlain
)

// String returns the mode's name.
func (m Mode) String() string {
	switch m {
	case FleetCA:
		return "fleet-ca"
	case PinnedEncrypted:
		return "pinned"
	case PinnedPlain:
		return "pinned-unauthenticated"
	}
	return "unknown"
}

// Warning returns what an operator must be told at start in this mode, or
// "" when peers are authenticated.
func (m Mode) Warning() string {
	if m == PinnedPlain {
		return "RPC peers are not authenticated: self-signed certificate fingerprints travel in unencrypted gossip, so anyone who can reach the gossip port can impersonate a node; set a gossip encryption key or a fleet CA"
	}
	return ""
}

// ValidNodeName reports whether name can stand in a certificate as a node
// identity: 1 to 253 characters of letters, digits, '-', '_' and '.'.
func ValidNodeName(name string) error {
	if name == "" || len(name) > 253 {
		return fmt.Errorf("%w: node name must be 1 to 253 characters, got %d", ErrNodeName, len(name))
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return fmt.Errorf("%w: node name %q has character %q (want letters, digits, '-', '_', '.')", ErrNodeName, name, r)
		}
	}
	return nil
}

// NodeName returns the node a certificate names: its only DNS subject
// alternative name.
func NodeName(cert *x509.Certificate) (string, error) {
	if len(cert.DNSNames) != 1 {
		return "", fmt.Errorf("%w: found %d DNS names %v", ErrNodeName, len(cert.DNSNames), cert.DNSNames)
	}
	name := cert.DNSNames[0]
	if err := ValidNodeName(name); err != nil {
		return "", err
	}
	return name, nil
}

// Fingerprint returns the SHA-256 of a certificate's DER encoding.
func Fingerprint(der []byte) []byte {
	sum := sha256.Sum256(der)
	return sum[:]
}

// FormatFingerprint renders a fingerprint as lowercase hex, the form
// nodes announce.
func FormatFingerprint(fp []byte) string { return hex.EncodeToString(fp) }

// ParseFingerprint reads a fingerprint written by FormatFingerprint
// (colons between bytes are accepted too).
func ParseFingerprint(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil {
		return nil, fmt.Errorf("tlsmesh: fingerprint: %w", err)
	}
	if len(b) != sha256.Size {
		return nil, fmt.Errorf("tlsmesh: fingerprint has %d bytes, want %d", len(b), sha256.Size)
	}
	return b, nil
}

// VerifyFleet returns a verifier for the fleet CA mode: the peer's
// certificate must chain to roots and be valid at now(). now must not be
// nil; see the package documentation for what it should read.
func VerifyFleet(roots *x509.CertPool, now func() time.Time) VerifyFunc {
	return VerifyFleetFrom(func() *x509.CertPool { return roots }, now)
}

// VerifyFleetFrom is VerifyFleet with the CA pool read at each handshake
// from roots (Live.Roots), so that a reloaded CA file takes effect at the
// next handshake.
func VerifyFleetFrom(roots func() *x509.CertPool, now func() time.Time) VerifyFunc {
	return func(cs tls.ConnectionState) (string, error) {
		if len(cs.PeerCertificates) == 0 {
			return "", ErrNoCertificate
		}
		leaf := cs.PeerCertificates[0]
		var inter *x509.CertPool
		if len(cs.PeerCertificates) > 1 {
			inter = x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots:         roots(),
			Intermediates: inter,
			CurrentTime:   now(),
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrUntrusted, err)
		}
		return NodeName(leaf)
	}
}

// VerifyPinned returns a verifier for the pinned modes: the SHA-256 of the
// peer's certificate must equal the fingerprint that announced returns for
// the node the certificate names.
func VerifyPinned(announced func(node string) (fingerprint []byte, ok bool)) VerifyFunc {
	return func(cs tls.ConnectionState) (string, error) {
		if len(cs.PeerCertificates) == 0 {
			return "", ErrNoCertificate
		}
		leaf := cs.PeerCertificates[0]
		node, err := NodeName(leaf)
		if err != nil {
			return "", err
		}
		want, ok := announced(node)
		if !ok || len(want) == 0 {
			return "", fmt.Errorf("%w: node %q", ErrNotAnnounced, node)
		}
		got := Fingerprint(leaf.Raw)
		if subtle.ConstantTimeCompare(got, want) != 1 {
			return "", fmt.Errorf("%w: node %q presented %s, announced %s", ErrFingerprintMismatch,
				node, FormatFingerprint(got), FormatFingerprint(want))
		}
		return node, nil
	}
}

// DeriveKey derives a 32-byte secret for purpose from cert's private key:
// the same certificate gives the same key across restarts, which is what
// a QUIC stateless reset key needs (a restarted node can then tell its
// peers that their connections to its earlier run are gone). It reports
// false when the key cannot be encoded.
func DeriveKey(cert *tls.Certificate, purpose string) ([32]byte, bool) {
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return [32]byte{}, false
	}
	h := sha256.New()
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write(der)
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k, true
}
