package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/gossip/quicnet"
	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/transport/tlsmesh"
)

// Revocation cuts a lost or stolen device off the fleet: an entry in the
// replicated table tableRevoked, keyed by the certificate's fingerprint.
// Every node refuses that certificate at the handshake, for gossip and
// RPC (meshTrust), and closes the gossip connections it already has with
// it when the entry arrives. The entry spreads as any write does, and
// reaches nodes that were offline through anti-entropy.

// revocation is the value of an entry: the node the certificate named
// when it was revoked, for people reading the list.
type revocation struct {
	Node string `json:",omitempty"`
}

// revocations enforces the entries as they arrive and writes new ones.
// It runs from Start to Close.
type revocations struct {
	st   *store.Store
	mesh *gossip.Mesh
	net  *quicnet.Transport
	self func() []byte // this node's certificate fingerprint, in effect
	log  *slog.Logger

	sub  *store.Subscription
	stop context.CancelFunc
	wg   sync.WaitGroup
}

func newRevocations(st *store.Store, m *membership, id *rpcIdentity, log *slog.Logger) *revocations {
	return &revocations{st: st, mesh: m.Mesh, net: m.net, self: func() []byte { return tlsmesh.Fingerprint(id.live.Certificate().Leaf.Raw) },
		log: log.With("component", "revocation")}
}

// Start follows the store's writes and cuts off each certificate revoked.
func (r *revocations) Start(context.Context) error {
	r.sub = r.st.Subscribe("revocations", 64)
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	r.wg.Go(func() { r.follow(ctx) })
	return nil
}

// Close stops following the store.
func (r *revocations) Close() error {
	if r.stop != nil {
		r.stop()
		r.sub.Close()
		r.wg.Wait()
	}
	return nil
}

func (r *revocations) follow(ctx context.Context) {
	for {
		changes, resync, err := r.sub.Next(ctx)
		if err != nil {
			return
		}
		if resync {
			list, err := r.Revoked()
			if err != nil {
				r.log.Error("reading revocations", "err", err)
			}
			for _, rv := range list {
				r.cut(rv.Fingerprint, rv.Node)
			}
		}
		for _, c := range changes {
			if c.Table != tableRevoked || c.Deleted || c.Removed() {
				continue
			}
			var v revocation
			_ = json.Unmarshal(c.Value, &v) // the node name is informative
			r.cut(c.Key, v.Node)
		}
	}
}

// cut closes the gossip connections of a revoked certificate.
func (r *revocations) cut(fingerprint, node string) {
	fp, err := tlsmesh.ParseFingerprint(fingerprint)
	if err != nil {
		r.log.Warn("malformed revocation entry", "key", fingerprint, "err", err)
		return
	}
	n := r.net.CloseFingerprint(fp)
	r.log.Warn("certificate revoked: refusing it", "node", node, "fingerprint", fingerprint, "connections_closed", n)
}

// Errors of Revoke.
var (
	errRevokeSelf    = errors.New("this node's own certificate cannot be revoked here; revoke it from another node")
	errRevokeUnknown = fmt.Errorf("%w: no member by that name announced a certificate; revoke by fingerprint (edgeplane members -format json shows them, as the tag fp)", httpapi.ErrUnknownNode)
)

// Revoke revokes the certificate target names: a fingerprint, or the node
// name of a member, whose announced certificate is revoked.
func (r *revocations) Revoke(target string) (api.Revocation, error) {
	fp, err := tlsmesh.ParseFingerprint(target)
	node := ""
	if err != nil {
		mem, ok := r.mesh.Member(target)
		if !ok {
			return api.Revocation{}, errRevokeUnknown
		}
		if fp, err = tlsmesh.ParseFingerprint(mem.Tags[gossip.MetaFingerprint]); err != nil {
			return api.Revocation{}, errRevokeUnknown
		}
		node = target
	} else {
		node = r.nodeOf(fp)
	}
	if bytes.Equal(fp, r.self()) {
		return api.Revocation{}, errRevokeSelf
	}
	value, _ := json.Marshal(revocation{Node: node})
	rv := api.Revocation{Fingerprint: tlsmesh.FormatFingerprint(fp), Node: node}
	if err := r.st.Update(func(tx *store.Tx) error {
		_, err := tx.Put(tableRevoked, rv.Fingerprint, value, 0)
		return err
	}); err != nil {
		return api.Revocation{}, fmt.Errorf("revoke: %w", err)
	}
	return rv, nil
}

// nodeOf returns the member that announced fp, or "".
func (r *revocations) nodeOf(fp []byte) string {
	want := tlsmesh.FormatFingerprint(fp)
	for _, m := range r.mesh.Members() {
		if m.Tags[gossip.MetaFingerprint] == want {
			return m.Name
		}
	}
	return ""
}

// Revoked lists the revoked certificates, by fingerprint.
func (r *revocations) Revoked() ([]api.Revocation, error) {
	out := []api.Revocation{}
	err := r.st.View(func(tx *store.Tx) error {
		return tx.Scan(tableRevoked, "", func(e *store.Entry) error {
			if !e.Deleted {
				var v revocation
				_ = json.Unmarshal(e.Value, &v)
				out = append(out, api.Revocation{Fingerprint: e.Key, Node: v.Node})
			}
			return nil
		})
	})
	return out, err
}
