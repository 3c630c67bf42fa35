package tlsmesh

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// Errors of LoadMaterial and Material.Check, for callers that branch on
// why new material was refused.
var (
	// ErrKeyMismatch: the private key is not the certificate's.
	ErrKeyMismatch = errors.New("tlsmesh: private key does not match the certificate")
	// ErrBadCA: the CA file holds no certificate, or one that does not
	// parse or is not a CA.
	ErrBadCA = errors.New("tlsmesh: unusable CA file")
	// ErrNotYetValid: the certificate's validity begins after now.
	ErrNotYetValid = errors.New("tlsmesh: certificate not yet valid")
	// ErrExpired: the certificate's validity ended before now.
	ErrExpired = errors.New("tlsmesh: certificate expired")
)

// Material is a node's TLS material in the fleet CA mode, as read from
// its files: the certificate it presents and the CA pool its peers'
// certificates must chain to. The raw file contents are kept so that a
// reload can tell whether a file changed.
type Material struct {
	Cert  *tls.Certificate
	Roots *x509.CertPool
	// CertPEM, KeyPEM and CAPEM are the files' contents.
	CertPEM, KeyPEM, CAPEM []byte
}

// LoadMaterial reads a certificate, its key and a CA bundle (one or more
// CA certificates, PEM) from files. It fails with ErrKeyMismatch when the
// key is not the certificate's and ErrBadCA when the bundle is unusable;
// it checks neither times nor chain: see Check.
func LoadMaterial(certFile, keyFile, caFile string) (*Material, error) {
	var m Material
	var err error
	for _, f := range []struct {
		path string
		dst  *[]byte
	}{{certFile, &m.CertPEM}, {keyFile, &m.KeyPEM}, {caFile, &m.CAPEM}} {
		if *f.dst, err = os.ReadFile(f.path); err != nil {
			return nil, fmt.Errorf("tlsmesh: %w", err)
		}
	}
	pair, err := tls.X509KeyPair(m.CertPEM, m.KeyPEM)
	if err != nil {
		// Both parse on their own: then they are not a pair.
		if _, cerr := firstCert(m.CertPEM); cerr == nil && parsesAsKey(m.KeyPEM) {
			return nil, fmt.Errorf("%w: %s and %s: %w", ErrKeyMismatch, certFile, keyFile, err)
		}
		return nil, fmt.Errorf("tlsmesh: %s and %s: %w", certFile, keyFile, err)
	}
	m.Cert = &pair
	if m.Roots, err = parseCAs(m.CAPEM); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadCA, caFile, err)
	}
	return &m, nil
}

// firstCert parses the first CERTIFICATE block of b.
func firstCert(b []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("no certificate")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// parsesAsKey reports whether b holds a private key in PEM.
func parsesAsKey(b []byte) bool {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return false
		}
		if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			return true
		}
		if _, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
			return true
		}
		if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
			return true
		}
	}
}

// parseCAs parses every CERTIFICATE block of b into a pool; each must be a
// CA certificate, and there must be at least one.
func parseCAs(b []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		if !c.IsCA {
			return nil, fmt.Errorf("certificate %d (%s) is not a CA certificate", n+1, c.Subject)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, errors.New("no certificate in it")
	}
	return pool, nil
}

// Check reports whether m may serve as node's identity at now: the
// certificate names node, is valid at now (ErrNotYetValid, ErrExpired)
// and chains to m's own CA pool (ErrUntrusted). Pass the verifier's Now,
// which never reads earlier than what the node has already seen.
func (m *Material) Check(node string, now time.Time) error {
	leaf := m.Cert.Leaf
	name, err := NodeName(leaf)
	if err != nil {
		return err
	}
	if name != node {
		return fmt.Errorf("%w: certificate names node %q, not this node %q", ErrNodeName, name, node)
	}
	if now.Before(leaf.NotBefore) {
		return fmt.Errorf("%w: valid from %s, now is %s", ErrNotYetValid, leaf.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return fmt.Errorf("%w: valid until %s, now is %s", ErrExpired, leaf.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	inter := x509.NewCertPool()
	for _, der := range m.Cert.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: m.Roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("%w: by the new CA file: %w", ErrUntrusted, err)
	}
	return nil
}

// Same reports whether m and o were read from identical files.
func (m *Material) Same(o *Material) bool {
	return bytes.Equal(m.CertPEM, o.CertPEM) && bytes.Equal(m.KeyPEM, o.KeyPEM) && bytes.Equal(m.CAPEM, o.CAPEM)
}

// Live holds the material in effect and swaps it whole: handshakes that
// begin after Store use the new certificate and CA pool, and connections
// already open are not touched. Its methods may be called concurrently.
type Live struct{ p atomic.Pointer[Material] }

// NewLive returns a Live holding m. m.Roots may be nil (the pinned modes).
func NewLive(m *Material) *Live {
	l := &Live{}
	l.p.Store(m)
	return l
}

// Load returns the material in effect.
func (l *Live) Load() *Material { return l.p.Load() }

// Store puts m in effect for the next handshakes.
func (l *Live) Store(m *Material) { l.p.Store(m) }

// Certificate returns the certificate in effect.
func (l *Live) Certificate() *tls.Certificate { return l.p.Load().Cert }

// Roots returns the CA pool in effect.
func (l *Live) Roots() *x509.CertPool { return l.p.Load().Roots }
