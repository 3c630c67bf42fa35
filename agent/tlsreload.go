package agent

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"slices"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// ReloadRejection is an option whose new value a reload refused: its old
// value stays in effect.
type ReloadRejection = api.ReloadRejection

// meshTLS reloads the TLS material of the fleet CA mode: the node's
// certificate and key and the CA bundle. New material is checked before
// it is used (tlsmesh.Material.Check at the certificates' clock, and not
// revoked), then swapped into rpcIdentity.live: gossip's and RPC's next
// handshakes present the new certificate and check peers against the new
// CA bundle, while the connections already open keep running. The new
// fingerprint is announced in the node's gossip metadata. Material that
// fails a check is refused whole, and the old stays in effect.
//
// Rotating the fleet CA therefore takes three reloads on every node:
// a bundle of the old and new CA, then certificates of the new CA, then
// the new CA alone.
type meshTLS struct {
	node  string
	id    *rpcIdentity
	trust meshTrust
	mesh  *gossip.Mesh
	log   *slog.Logger
}

// tlsKeys are the options meshTLS applies, in the configuration's order.
var tlsKeys = []string{"tls.ca_file", "tls.cert_file", "tls.key_file"}

// reloadTLS applies the tls section of next. changed lists its options
// whose file names changed; a file rewritten in place under the same name
// counts too. A change of trust mode (tls set or unset) needs a restart.
func (s *supervisor) reloadTLS(running *config.Config, next config.Config, changed []string, res *ReloadResult) {
	t := s.tls
	if t == nil || running.TLS.Enabled() != next.TLS.Enabled() {
		res.RestartRequired = append(res.RestartRequired, changed...)
		return
	}
	if !next.TLS.Enabled() {
		return
	}
	cur := t.id.live.Load()
	keys := changedTLSFiles(cur, next.TLS, changed)
	if len(keys) == 0 {
		return
	}
	m, err := t.check(next.TLS)
	if err != nil {
		for _, k := range keys {
			res.Rejected = append(res.Rejected, ReloadRejection{Key: k, Reason: err.Error()})
		}
		t.log.Warn("new TLS material rejected; the certificate and CA in effect stay", "keys", keys, "err", err)
		return
	}
	running.TLS = next.TLS
	res.Applied = append(res.Applied, keys...)
	if m.Same(cur) { // the same files under other names
		return
	}
	t.id.live.Store(m)
	leaf := m.Cert.Leaf
	t.log.Info("new TLS material in effect for the next handshakes; open connections keep theirs",
		"serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter, "fingerprint", t.id.fingerprint())
	if err := t.mesh.SetTag(gossip.MetaFingerprint, t.id.fingerprint()); err != nil {
		t.log.Error("announcing the new certificate's fingerprint", "err", err)
	}
}

// check loads the files of c and checks them as this node's material.
func (t *meshTLS) check(c config.TLSConfig) (*tlsmesh.Material, error) {
	m, err := tlsmesh.LoadMaterial(c.CertFile, c.KeyFile, c.CAFile)
	if err != nil {
		return nil, err
	}
	if err := m.Check(t.node, t.id.now()); err != nil {
		return nil, err
	}
	if fp := tlsmesh.Fingerprint(m.Cert.Leaf.Raw); t.trust.revoked(fp) {
		return nil, fmt.Errorf("%w: %s", errRevoked, tlsmesh.FormatFingerprint(fp))
	}
	return m, nil
}

// changedTLSFiles returns the tls options whose file name is in changed,
// or whose file's content differs from cur's (an unreadable file
// differs), in the configuration's order.
func changedTLSFiles(cur *tlsmesh.Material, c config.TLSConfig, changed []string) []string {
	var keys []string
	for _, f := range []struct {
		key, path string
		had       []byte
	}{{"tls.ca_file", c.CAFile, cur.CAPEM}, {"tls.cert_file", c.CertFile, cur.CertPEM}, {"tls.key_file", c.KeyFile, cur.KeyPEM}} {
		named := slices.Contains(changed, f.key)
		if !named {
			b, err := os.ReadFile(f.path)
			named = err != nil || !bytes.Equal(b, f.had)
		}
		if named {
			keys = append(keys, f.key)
		}
	}
	return keys
}
