package agent

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/gossip/quicnet"
	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// tableRevoked holds the revoked certificates, keyed by fingerprint (hex);
// see revoke.go. It replicates like any table, so a revocation reaches
// the nodes that were offline through anti-entropy.
var tableRevoked = store.DeclareTable("revoked")

// errRevoked refuses a revoked certificate.
var errRevoked = errors.New("certificate revoked")

// meshTrust decides who may gossip and call this node: a peer presents a
// certificate the trust mode accepts (the fleet CA's, or in the pinned
// modes any that names a node), and not a revoked one.
type meshTrust struct {
	mode  tlsmesh.Mode
	fleet tlsmesh.VerifyFunc // FleetCA only
	st    *store.Store
}

func newMeshTrust(id *rpcIdentity, st *store.Store) meshTrust {
	t := meshTrust{mode: id.mode, st: st}
	if id.mode == tlsmesh.FleetCA {
		t.fleet = tlsmesh.VerifyFleetFrom(id.live.Roots, id.now)
	}
	return t
}

// revoked reports whether the certificate with fingerprint fp was revoked.
// A store that cannot be read refuses: better a peer kept out for a
// moment than a revoked one let in.
func (t meshTrust) revoked(fp []byte) bool {
	var out bool
	err := t.st.View(func(tx *store.Tx) error {
		e, found, err := tx.Get(tableRevoked, tlsmesh.FormatFingerprint(fp))
		out = found && !e.Deleted
		return err
	})
	return out || err != nil
}

// verify checks a gossip peer's certificate at the handshake and returns
// the node it names.
func (t meshTrust) verify(cs tls.ConnectionState) (string, error) {
	inner := t.fleet
	if inner == nil {
		inner = func(cs tls.ConnectionState) (string, error) { return tlsmesh.NodeName(cs.PeerCertificates[0]) }
	}
	return t.refuseRevoked(inner)(cs)
}

// refuseRevoked wraps a verifier so that it refuses revoked certificates
// first.
func (t meshTrust) refuseRevoked(verify tlsmesh.VerifyFunc) tlsmesh.VerifyFunc {
	return func(cs tls.ConnectionState) (string, error) {
		if len(cs.PeerCertificates) == 0 {
			return "", tlsmesh.ErrNoCertificate
		}
		if fp := tlsmesh.Fingerprint(cs.PeerCertificates[0].Raw); t.revoked(fp) {
			return "", fmt.Errorf("%w: %s", errRevoked, tlsmesh.FormatFingerprint(fp))
		}
		return verify(cs)
	}
}

// checkNode checks that the peer at a member's address is that member:
// its certificate names it and, in the pinned modes, when the member
// announced a fingerprint, is that certificate. A packet for a node goes
// nowhere else. In the FleetCA mode the CA vouches for the name, as the
// handshake checked: a node that reloads a renewed certificate announces
// its new fingerprint, and its peers' connections made with the old one
// keep carrying its gossip.
func (t meshTrust) checkNode(mesh func() *gossip.Mesh) func(node string, p quicnet.Peer) error {
	return func(node string, p quicnet.Peer) error {
		if p.Node != node {
			return fmt.Errorf("%w: certificate names %q", tlsmesh.ErrNodeName, p.Node)
		}
		if t.mode == tlsmesh.FleetCA {
			return nil
		}
		mem, ok := mesh().Member(node)
		if !ok {
			return nil
		}
		if want, err := tlsmesh.ParseFingerprint(mem.Tags[gossip.MetaFingerprint]); err == nil && !bytes.Equal(want, p.Fingerprint) {
			return tlsmesh.ErrFingerprintMismatch
		}
		return nil
	}
}

// newGossipTransport binds the gossip port (UDP) and carries gossip on it
// over QUIC, authenticated by trust, with the node's RPC certificate.
// mesh returns the mesh once it is built; it is called only once gossip
// runs.
func newGossipTransport(bind string, port int, id *rpcIdentity, trust meshTrust, mesh func() *gossip.Mesh, log *slog.Logger) (*quicnet.Transport, error) {
	addr := net.JoinHostPort(bind, strconv.Itoa(port))
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("agent: gossip: listen on %s: %w", addr, err)
	}
	return quicnet.New(quicnet.Config{
		PacketConn:     pc,
		Certificate:    id.cert,
		GetCertificate: id.live.Certificate,
		Verify:         trust.verify,
		CheckNode:      trust.checkNode(mesh),
		Logger:         log,
	})
}
