package tlsmesh

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// File names and validity defaults.
const (
	CAFile    = "ca.pem"
	CAKeyFile = "ca-key.pem"
	// SelfSignedFile and SelfSignedKeyFile hold a node's self-signed
	// certificate in its data directory.
	SelfSignedFile    = "rpc-selfsigned.pem"
	SelfSignedKeyFile = "rpc-selfsigned-key.pem"

	DefaultCAValidity         = 10 * 365 * 24 * time.Hour
	DefaultNodeValidity       = 2 * 365 * 24 * time.Hour
	DefaultSelfSignedValidity = 20 * 365 * 24 * time.Hour
	// backdate lets a certificate be used at once by peers whose clocks
	// run a little behind the issuer's.
	backdate = time.Hour
)

// CA is a fleet certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// CAOptions tunes NewCA; zero fields take defaults.
type CAOptions struct {
	// Name is the CA's common name. Default "edgeplane fleet CA".
	Name string
	// Validity is how long the CA is valid. Default 10 years.
	Validity time.Duration
	// Now is the issuing time. Default time.Now.
	Now func() time.Time
}

// CertOptions tunes CA.Issue; zero fields take defaults.
type CertOptions struct {
	// Site, if set, is recorded as the certificate's organizational unit.
	Site string
	// Validity is how long the certificate is valid. Default 2 years.
	Validity time.Duration
	// Now is the issuing time. Default time.Now.
	Now func() time.Time
}

func nowOr(f func() time.Time) time.Time {
	if f == nil {
		return time.Now()
	}
	return f()
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// NewCA makes a CA in memory with a fresh ECDSA P-256 key.
func NewCA(opts CAOptions) (*CA, error) {
	if opts.Name == "" {
		opts.Name = "edgeplane fleet CA"
	}
	if opts.Validity <= 0 {
		opts.Validity = DefaultCAValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := nowOr(opts.Now)
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: opts.Name, Organization: []string{"edgeplane"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(opts.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// CreateCA makes a CA and writes ca.pem and ca-key.pem (mode 0600) into
// dir, creating dir if needed. It refuses to overwrite an existing CA: the
// error then wraps fs.ErrExist.
func CreateCA(dir string, opts CAOptions) (*CA, error) {
	for _, f := range []string{CAFile, CAKeyFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return nil, fmt.Errorf("tlsmesh: %s: %w", filepath.Join(dir, f), fs.ErrExist)
		}
	}
	ca, err := NewCA(opts)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(ca.Key)
	if err != nil {
		return nil, err
	}
	if err := writePair(dir, CAFile, encodeCert(ca.Cert.Raw), CAKeyFile, keyPEM); err != nil {
		return nil, err
	}
	return ca, nil
}

// LoadCA reads ca.pem and ca-key.pem from dir.
func LoadCA(dir string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("tlsmesh: load CA: %w", err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("tlsmesh: load CA: key is %T, want ECDSA", pair.PrivateKey)
	}
	if !pair.Leaf.IsCA {
		return nil, fmt.Errorf("tlsmesh: load CA: %s is not a CA certificate", filepath.Join(dir, CAFile))
	}
	return &CA{Cert: pair.Leaf, Key: key}, nil
}

// Issue makes a certificate for node, signed by the CA, usable as both
// server and client certificate, with node as its only DNS name. It
// returns the certificate and its private key in PEM.
func (ca *CA) Issue(node string, opts CertOptions) (certPEM, keyPEM []byte, err error) {
	if err := ValidNodeName(node); err != nil {
		return nil, nil, err
	}
	if opts.Validity <= 0 {
		opts.Validity = DefaultNodeValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	now := nowOr(opts.Now)
	subject := pkix.Name{CommonName: node, Organization: []string{"edgeplane"}}
	if opts.Site != "" {
		subject.OrganizationalUnit = []string{opts.Site}
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      subject,
		DNSNames:     []string{node},
		NotBefore:    now.Add(-backdate),
		NotAfter:     now.Add(opts.Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	return signPEM(tmpl, ca.Cert, ca.Key, key)
}

// signPEM signs tmpl for key with parent and signer (tmpl and key for a
// self-signed certificate) and returns the certificate and key as PEM.
func signPEM(tmpl, parent *x509.Certificate, signer, key *ecdsa.PrivateKey) (certPEM, keyPEM []byte, err error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// IssueTLS is Issue returning a ready tls.Certificate.
func (ca *CA) IssueTLS(node string, opts CertOptions) (*tls.Certificate, error) {
	certPEM, keyPEM, err := ca.Issue(node, opts)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &pair, nil
}

// WriteNodeCert issues a certificate for node and writes NAME.pem and
// NAME-key.pem (mode 0600) into dir. It refuses to overwrite existing
// files: the error then wraps fs.ErrExist.
func (ca *CA) WriteNodeCert(dir, node string, opts CertOptions) (certFile, keyFile string, err error) {
	if err := ValidNodeName(node); err != nil {
		return "", "", err
	}
	certName, keyName := node+".pem", node+"-key.pem"
	for _, f := range []string{certName, keyName} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return "", "", fmt.Errorf("tlsmesh: %s: %w", filepath.Join(dir, f), fs.ErrExist)
		}
	}
	certPEM, keyPEM, err := ca.Issue(node, opts)
	if err != nil {
		return "", "", err
	}
	if err := writePair(dir, certName, certPEM, keyName, keyPEM); err != nil {
		return "", "", err
	}
	return filepath.Join(dir, certName), filepath.Join(dir, keyName), nil
}

// LoadCertificate reads a certificate and its key from PEM files.
func LoadCertificate(certFile, keyFile string) (*tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsmesh: load certificate: %w", err)
	}
	return &pair, nil
}

// LoadPool reads the CA certificates of a PEM file into a pool.
func LoadPool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tlsmesh: load CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tlsmesh: load CA: no certificate in %s", caFile)
	}
	return pool, nil
}

// Pool returns a pool holding just the CA's certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// SelfSigned makes a self-signed certificate naming node, in memory.
func SelfSigned(node string, now func() time.Time) (*tls.Certificate, error) {
	certPEM, keyPEM, err := selfSignedPEM(node, nowOr(now))
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &pair, nil
}

func selfSignedPEM(node string, now time.Time) (certPEM, keyPEM []byte, err error) {
	if err := ValidNodeName(node); err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: node, Organization: []string{"edgeplane"}},
		DNSNames:              []string{node},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(DefaultSelfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	return signPEM(tmpl, tmpl, key, key)
}

// LoadOrCreateSelfSigned returns the node's self-signed certificate kept
// in dir, making and writing one on first use. A kept certificate that
// names another node (the node was renamed) is replaced. Announce
// Fingerprint(cert.Leaf.Raw) in gossip.
func LoadOrCreateSelfSigned(dir, node string, now func() time.Time) (*tls.Certificate, error) {
	if err := ValidNodeName(node); err != nil {
		return nil, err
	}
	certPath, keyPath := filepath.Join(dir, SelfSignedFile), filepath.Join(dir, SelfSignedKeyFile)
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	switch {
	case err == nil:
		if name, nerr := NodeName(pair.Leaf); nerr == nil && name == node {
			return &pair, nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("tlsmesh: load self-signed certificate: %w", err)
	}
	certPEM, keyPEM, err := selfSignedPEM(node, nowOr(now))
	if err != nil {
		return nil, err
	}
	if err := writePair(dir, SelfSignedFile, certPEM, SelfSignedKeyFile, keyPEM); err != nil {
		return nil, err
	}
	pair, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &pair, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writePair writes the key first, then the certificate, each through a
// temporary file and a rename, so a crash leaves no half-written file.
func writePair(dir, certName string, certPEM []byte, keyName string, keyPEM []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tlsmesh: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, keyName), keyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, certName), certPEM, 0o644)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("tlsmesh: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("tlsmesh: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("tlsmesh: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("tlsmesh: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("tlsmesh: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("tlsmesh: %w", err)
	}
	return nil
}
