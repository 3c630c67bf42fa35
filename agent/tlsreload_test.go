package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	encodePEM "encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/gossip/quicnet"
	"github.com/edgeplane/edgeplane/transport"
	"github.com/edgeplane/edgeplane/transport/resilience"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// reloadable is an in-process agent whose reload source is a
// configuration the test changes.
type reloadable struct {
	*Agent
	mu   sync.Mutex
	next config.Config
}

// startReloadable starts an agent as startInProcess does, reloadable.
func startReloadable(t *testing.T, name, join string, adjust func(c *config.Config)) *reloadable {
	t.Helper()
	a := buildInProcess(t, name, join, adjust, buildOptions{})
	r := &reloadable{Agent: a, next: a.cfg}
	a.SetHooks(Hooks{Reload: func() (config.Config, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.next, nil
	}})
	runInProcess(t, a)
	return r
}

// reload changes the configuration the next reload reads, and reloads.
func (r *reloadable) reload(t *testing.T, change func(c *config.Config)) ReloadResult {
	t.Helper()
	r.mu.Lock()
	change(&r.next)
	r.mu.Unlock()
	res, err := r.Reload()
	if err != nil {
		t.Fatalf("Reload: %v", err)
	}
	return res
}

// fleet is a CA and a directory to write its certificates into.
type fleet struct {
	ca  *tlsmesh.CA
	dir string
	n   int
}

func newFleet(t *testing.T) *fleet {
	ca, err := tlsmesh.NewCA(tlsmesh.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &fleet{ca: ca, dir: t.TempDir()}
}

// caFile writes a bundle of the CAs of fleets and returns its path.
func caFile(t *testing.T, fleets ...*fleet) string {
	var pem []byte
	for _, f := range fleets {
		pem = append(pem, encodePEM.EncodeToMemory(&encodePEM.Block{Type: "CERTIFICATE", Bytes: f.ca.Cert.Raw})...)
	}
	f, err := os.CreateTemp(t.TempDir(), "ca-*.pem")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(pem); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// issue writes a new certificate for node and its key, and returns their
// paths and the certificate.
func (f *fleet) issue(t *testing.T, node string, opts tlsmesh.CertOptions) (certFile, keyFile string, cert *tls.Certificate) {
	t.Helper()
	certPEM, keyPEM, err := f.ca.Issue(node, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.n++
	certFile = filepath.Join(f.dir, fmt.Sprintf("%s-%d.pem", node, f.n))
	keyFile = filepath.Join(f.dir, fmt.Sprintf("%s-%d-key.pem", node, f.n))
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, &pair
}

// member returns a configuration change that gives node a certificate of
// f, trusting the CAs of trusted.
func (f *fleet) member(t *testing.T, node string, trusted ...*fleet) func(c *config.Config) {
	certFile, keyFile, _ := f.issue(t, node, tlsmesh.CertOptions{})
	ca := caFile(t, trusted...)
	return func(c *config.Config) { c.TLS = config.TLSConfig{CAFile: ca, CertFile: certFile, KeyFile: keyFile} }
}

func serialOf(c *tls.Certificate) string { return c.Leaf.SerialNumber.String() }

// serialOfFile returns the serial of the certificate of c's files.
func serialOfFile(t *testing.T, c config.TLSConfig) string {
	pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return serialOf(&pair)
}

// presented opens a QUIC connection to addr with ALPN alpn, presenting
// cert, and returns the serial of the certificate the node presented.
func presented(t *testing.T, addr, alpn string, cert *tls.Certificate) (string, error) {
	t.Helper()
	serial := make(chan string, 1)
	conf := &tls.Config{
		Certificates:       []tls.Certificate{*cert},
		InsecureSkipVerify: true, // the node's certificate is what is looked at
		NextProtos:         []string{alpn},
		MinVersion:         tls.VersionTLS13,
		VerifyConnection: func(cs tls.ConnectionState) error {
			serial <- cs.PeerCertificates[0].SerialNumber.String()
			return nil
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, addr, conf, &quic.Config{EnableDatagrams: alpn == quicnet.ALPN})
	if err != nil {
		return "", err
	}
	conn.CloseWithError(0, "")
	return <-serial, nil
}

// refusedOverRPC reports whether the RPC server at addr refuses cert: the
// server checks a client's certificate after the client has finished its
// handshake, so a stream is opened and the server's answer to a
// malformed call awaited.
func refusedOverRPC(t *testing.T, addr string, cert *tls.Certificate) bool {
	t.Helper()
	conf := &tls.Config{Certificates: []tls.Certificate{*cert}, InsecureSkipVerify: true,
		NextProtos: []string{transport.ALPN}, MinVersion: tls.VersionTLS13}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, addr, conf, nil)
	if err != nil {
		return true
	}
	defer conn.CloseWithError(0, "")
	str, err := conn.OpenStreamSync(ctx)
	if err == nil {
		str.Write([]byte{0xff})
		str.Close()
		_, err = io.ReadAll(str)
	}
	var te *quic.TransportError
	return errors.As(err, &te)
}

// rpcAddr and gossipAddr are where a's RPC and gossip answer.
func rpcAddr(a *Agent) string    { return a.mesh.LocalMember().Tags[gossip.MetaRPC] }
func gossipAddr(a *Agent) string { return a.mesh.LocalMember().Address() }

// seenSerials records the serials of the servers' certificates a client
// checked, one per handshake.
type seenSerials struct {
	mu   sync.Mutex
	list []string
}

func (s *seenSerials) verify(pool *x509.CertPool) tlsmesh.VerifyFunc {
	v := tlsmesh.VerifyFleet(pool, time.Now)
	return func(cs tls.ConnectionState) (string, error) {
		s.mu.Lock()
		s.list = append(s.list, cs.PeerCertificates[0].SerialNumber.String())
		s.mu.Unlock()
		return v(cs)
	}
}

func (s *seenSerials) get() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.list)
}

// pinger calls MethodPing on agents as node, presenting cert.
func pinger(t *testing.T, node string, cert *tls.Certificate, pool *x509.CertPool, seen *seenSerials) func(to *Agent) error {
	c, err := transport.NewClient(transport.ClientConfig{TLS: transport.TLSConfig{Certificate: cert, VerifyPeer: seen.verify(pool)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	target, err := c.Target("test", resilience.Policy{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return func(to *Agent) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := target.Ping(ctx, transport.Peer{Node: to.cfg.NodeName, Addr: rpcAddr(to)}, node)
		return err
	}
}

// TestTLSReloadServesNextHandshakes: a reloaded certificate is presented
// by the next handshakes, over RPC and gossip, while an RPC connection
// opened before keeps serving calls; the new fingerprint reaches the
// peers, and the mesh keeps working. A certificate rewritten in place
// under the same file names is picked up too.
func TestTLSReloadServesNextHandshakes(t *testing.T) {
	f := newFleet(t)
	a := startReloadable(t, "a", "", f.member(t, "a", f))
	b := startReloadable(t, "b", gossipAddr(a.Agent), f.member(t, "b", f))
	waitMembers(t, []*Agent{a.Agent, b.Agent}, 2)

	// A connection to a, as b.
	bCert, err := tls.LoadX509KeyPair(b.cfg.TLS.CertFile, b.cfg.TLS.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	var seen seenSerials
	ping := pinger(t, "b", &bCert, f.ca.Pool(), &seen)
	if err := ping(a.Agent); err != nil {
		t.Fatal(err)
	}
	oldSerial := serialOfFile(t, a.cfg.TLS)
	_, probe := f.probe(t)

	certFile, keyFile, next := f.issue(t, "a", tlsmesh.CertOptions{})
	res := a.reload(t, func(c *config.Config) { c.TLS.CertFile, c.TLS.KeyFile = certFile, keyFile })
	if !slices.Equal(res.Applied, []string{"tls.cert_file", "tls.key_file"}) || len(res.Rejected)+len(res.RestartRequired) != 0 {
		t.Fatalf("Reload = %+v", res)
	}

	// The open connection keeps serving: no new handshake.
	if err := ping(a.Agent); err != nil {
		t.Fatalf("call on the connection opened before the reload: %v", err)
	}
	if got := seen.get(); !slices.Equal(got, []string{oldSerial}) {
		t.Fatalf("handshakes seen: %v, want only the first, with %s", got, oldSerial)
	}
	// New connections see the new certificate, over RPC and gossip.
	for _, p := range []struct{ addr, alpn string }{{rpcAddr(a.Agent), transport.ALPN}, {gossipAddr(a.Agent), quicnet.ALPN}} {
		if got, err := presented(t, p.addr, p.alpn, probe); err != nil || got != serialOf(next) {
			t.Fatalf("%s presented %s (%v), want the new %s", p.alpn, got, err, serialOf(next))
		}
	}
	fresh := pinger(t, "b", &bCert, f.ca.Pool(), &seen)
	if err := fresh(a.Agent); err != nil {
		t.Fatal(err)
	}
	if got := seen.get(); len(got) != 2 || got[1] != serialOf(next) {
		t.Fatalf("handshakes seen: %v, want the new %s second", got, serialOf(next))
	}

	// b learns the new fingerprint; the mesh still carries writes both
	// ways, and b's own RPC reaches a on a new connection.
	fp := tlsmesh.FormatFingerprint(tlsmesh.Fingerprint(next.Leaf.Raw))
	testutil.Eventually(t, 30*time.Second, func() error {
		if m, ok := b.mesh.Member("a"); !ok || m.Tags[gossip.MetaFingerprint] != fp {
			return fmt.Errorf("b sees a with fingerprint %q, want %s", m.Tags[gossip.MetaFingerprint], fp)
		}
		return nil
	})
	settle(t, a.Agent, []*Agent{a.Agent, b.Agent}, "after-reload/a")
	settle(t, b.Agent, []*Agent{a.Agent, b.Agent}, "after-reload/b")
	// b's gossip connection to a, made with the old certificate, still
	// carries gossip to a: nothing was dropped as sent to the wrong node.
	if n := b.mesh.net.Stats().WrongNode; n != 0 {
		t.Fatalf("b dropped %d gossip packets for a as sent to another node", n)
	}
	b.rpc.client.ClosePeer(rpcAddr(a.Agent))
	if _, _, err := b.rpc.Ping(context.Background(), "a"); err != nil {
		t.Fatalf("b pings a after the reload: %v", err)
	}

	// A renewal written over the same files is picked up by the next
	// reload; a reload of unchanged files changes nothing.
	renewed, renewedKey, cert := f.issue(t, "a", tlsmesh.CertOptions{})
	copyFile(t, renewedKey, keyFile)
	copyFile(t, renewed, certFile)
	if res := a.reload(t, func(*config.Config) {}); !slices.Equal(res.Applied, []string{"tls.cert_file", "tls.key_file"}) {
		t.Fatalf("Reload after the files were rewritten = %+v", res)
	}
	if got, err := presented(t, rpcAddr(a.Agent), transport.ALPN, probe); err != nil || got != serialOf(cert) {
		t.Fatalf("presented %s (%v), want the renewed %s", got, err, serialOf(cert))
	}
	if res := a.reload(t, func(*config.Config) {}); len(res.Applied)+len(res.Rejected)+len(res.RestartRequired) != 0 {
		t.Fatalf("Reload of unchanged files = %+v", res)
	}
}

// probe returns a certificate of f for a node named "probe", which only
// looks at what the agents present.
func (f *fleet) probe(t *testing.T) (string, *tls.Certificate) {
	_, _, c := f.issue(t, "probe", tlsmesh.CertOptions{})
	return "probe", c
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitMembers waits until each of agents sees n alive members.
func waitMembers(t *testing.T, agents []*Agent, n int) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, a := range agents {
			if alive := a.mesh.NumAlive(); alive < n {
				return fmt.Errorf("%s sees %d of %d members", a.cfg.NodeName, alive, n)
			}
		}
		return nil
	})
}

// TestTLSReloadRejectsBadMaterial: a certificate with another's key, an
// expired one, one of another node, one of a CA the CA file does not hold,
// a revoked one and an unreadable file are each rejected with the reason,
// and the certificate in effect stays: the next handshake still presents
// it.
func TestTLSReloadRejectsBadMaterial(t *testing.T) {
	f, other := newFleet(t), newFleet(t)
	a := startReloadable(t, "a", "", f.member(t, "a", f))
	_, probe := f.probe(t)
	current := serialOfFile(t, a.cfg.TLS)

	certOf := func(node string, opts tlsmesh.CertOptions) (string, string) {
		c, k, _ := f.issue(t, node, opts)
		return c, k
	}
	mismatched, _ := certOf("a", tlsmesh.CertOptions{})
	_, otherKey := certOf("a", tlsmesh.CertOptions{})
	expired, expiredKey := certOf("a", tlsmesh.CertOptions{Now: func() time.Time { return time.Now().Add(-48 * time.Hour) }, Validity: time.Hour})
	future, futureKey := certOf("a", tlsmesh.CertOptions{Now: func() time.Time { return time.Now().Add(48 * time.Hour) }})
	elsewhere, elsewhereKey := certOf("b", tlsmesh.CertOptions{})
	foreign, foreignKey, _ := other.issue(t, "a", tlsmesh.CertOptions{})
	revoked, revokedKey, revokedCert := f.issue(t, "a", tlsmesh.CertOptions{})
	if _, err := a.revoked.Revoke(tlsmesh.FormatFingerprint(tlsmesh.Fingerprint(revokedCert.Leaf.Raw))); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		cert, key string
		ca        string
		want      error
		reason    string
	}{
		{"key of another certificate", mismatched, otherKey, "", tlsmesh.ErrKeyMismatch, "does not match"},
		{"expired", expired, expiredKey, "", tlsmesh.ErrExpired, "expired"},
		{"not yet valid", future, futureKey, "", tlsmesh.ErrNotYetValid, "not yet valid"},
		{"another node's", elsewhere, elsewhereKey, "", tlsmesh.ErrNodeName, `names node "b"`},
		{"of a CA not in the CA file", foreign, foreignKey, "", tlsmesh.ErrUntrusted, "not trusted"},
		{"CA file of another CA", "", "", caFile(t, other), tlsmesh.ErrUntrusted, "not trusted"},
		{"revoked", revoked, revokedKey, "", errRevoked, "revoked"},
		{"missing file", filepath.Join(t.TempDir(), "gone.pem"), otherKey, "", nil, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var keys []string
			running := a.cfg.TLS
			res := a.reload(t, func(c *config.Config) {
				c.TLS = running
				if tc.cert != "" {
					c.TLS.CertFile, c.TLS.KeyFile = tc.cert, tc.key
					keys = []string{"tls.cert_file", "tls.key_file"}
				}
				if tc.ca != "" {
					c.TLS.CAFile = tc.ca
					keys = []string{"tls.ca_file"}
				}
			})
			var got []string
			for _, r := range res.Rejected {
				got = append(got, r.Key)
				if !strings.Contains(r.Reason, tc.reason) {
					t.Errorf("rejected %s because %q, want %q in it", r.Key, r.Reason, tc.reason)
				}
			}
			if !slices.Equal(got, keys) || len(res.Applied) != 0 {
				t.Fatalf("Reload = %+v, want %v rejected", res, keys)
			}
			if tc.want != nil {
				if _, err := a.sup.tls.check(a.sup.current().TLS); err != nil {
					t.Fatalf("the running files fail their check: %v", err)
				}
				next := a.cfg.TLS
				if tc.cert != "" {
					next.CertFile, next.KeyFile = tc.cert, tc.key
				}
				if tc.ca != "" {
					next.CAFile = tc.ca
				}
				if _, err := a.sup.tls.check(next); !errors.Is(err, tc.want) {
					t.Fatalf("check = %v, want %v", err, tc.want)
				}
			}
			if s, err := presented(t, rpcAddr(a.Agent), transport.ALPN, probe); err != nil || s != current {
				t.Fatalf("after the rejection the node presents %s (%v), want the old %s", s, err, current)
			}
		})
	}

	// The HTTP answer carries the rejections (the last files, missing,
	// are still configured).
	req, _ := http.NewRequest(http.MethodPut, "http://"+a.HTTPAddr().String()+"/v1/agent/reload", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep api.ReloadReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil || resp.StatusCode != 200 || len(rep.Rejected) != 2 ||
		rep.Rejected[0].Key != "tls.cert_file" || !strings.Contains(rep.Rejected[0].Reason, "no such file") {
		t.Fatalf("PUT /v1/agent/reload = %d %+v %v", resp.StatusCode, rep, err)
	}
}

// TestTLSReloadRotatesTheCA: the fleet moves to a new CA with three
// reloads on each node (a bundle of both CAs, certificates of the new
// one, the new CA alone); the nodes reach each other over new connections
// at every step, and at the end a certificate of the old CA is refused.
func TestTLSReloadRotatesTheCA(t *testing.T) {
	oldCA, newCA := newFleet(t), newFleet(t)
	a := startReloadable(t, "a", "", oldCA.member(t, "a", oldCA))
	b := startReloadable(t, "b", gossipAddr(a.Agent), oldCA.member(t, "b", oldCA))
	agents := []*reloadable{a, b}
	waitMembers(t, []*Agent{a.Agent, b.Agent}, 2)
	reach := func(step string) {
		t.Helper()
		for _, from := range agents {
			for _, to := range agents {
				if from == to {
					continue
				}
				from.rpc.client.ClosePeer(rpcAddr(to.Agent))
				if _, _, err := from.rpc.Ping(context.Background(), to.cfg.NodeName); err != nil {
					t.Fatalf("%s: %s pings %s on a new connection: %v", step, from.cfg.NodeName, to.cfg.NodeName, err)
				}
			}
		}
		settle(t, a.Agent, []*Agent{a.Agent, b.Agent}, "rotation/"+step)
	}

	both := caFile(t, oldCA, newCA)
	for _, r := range agents {
		if res := r.reload(t, func(c *config.Config) { c.TLS.CAFile = both }); !slices.Equal(res.Applied, []string{"tls.ca_file"}) {
			t.Fatalf("%s: Reload of the bundle = %+v", r.cfg.NodeName, res)
		}
	}
	reach("bundle")
	for _, r := range agents {
		certFile, keyFile, _ := newCA.issue(t, r.cfg.NodeName, tlsmesh.CertOptions{})
		if res := r.reload(t, func(c *config.Config) { c.TLS.CertFile, c.TLS.KeyFile = certFile, keyFile }); len(res.Applied) != 2 {
			t.Fatalf("%s: Reload of the new certificate = %+v", r.cfg.NodeName, res)
		}
		reach("certificate of " + r.cfg.NodeName)
	}
	only := caFile(t, newCA)
	for _, r := range agents {
		if res := r.reload(t, func(c *config.Config) { c.TLS.CAFile = only }); !slices.Equal(res.Applied, []string{"tls.ca_file"}) {
			t.Fatalf("%s: Reload of the new CA = %+v", r.cfg.NodeName, res)
		}
	}
	reach("new CA")
	_, oldProbe := oldCA.probe(t)
	if !refusedOverRPC(t, rpcAddr(a.Agent), oldProbe) {
		t.Fatal("a certificate of the old CA is accepted after the rotation")
	}
	_, newProbe := newCA.probe(t)
	if refusedOverRPC(t, rpcAddr(a.Agent), newProbe) {
		t.Fatal("a certificate of the new CA is refused")
	}
}
