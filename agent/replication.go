package agent

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/replica"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/transport"
)

// startReplica connects the store to the mesh: local writes are spread by
// gossip and RPC, received ones merged, and anti-entropy runs over RPC.
func (a *Agent) startReplica() {
	a.replica = replica.New(replica.Config{
		Store:         a.store,
		Feed:          a.store.Subscribe("replica", replica.FeedSize, replica.FeedSources...),
		Self:          a.cfg.NodeName,
		Broadcast:     a.mesh.Broadcast,
		Caller:        rpcCaller{target: a.rpc.agents, client: a.rpc.client},
		Peers:         a.replicaPeers,
		MaxClockDrift: a.cfg.MaxClockDrift.Duration,
		TombstoneTTL:  a.cfg.TombstoneTTL.Duration,
		Log:           a.log.With("component", "replica"),
	})
	r := a.replica
	a.rpc.srv.Handle(replica.MethodPush, transport.Unary(r.HandlePush))
	a.rpc.srv.Handle(replica.MethodDigest, transport.Unary(r.HandleDigest))
	a.rpc.srv.Handle(replica.MethodKeys, transport.Unary(r.HandleKeys))
	a.rpc.srv.HandleStream(replica.MethodBootstrap, transport.ServerStreaming(r.HandleBootstrap))
	a.replicaReady.Store(r)
}

// replicaPeers lists the live members other than this node that announce
// an RPC address.
func (a *Agent) replicaPeers() []replica.Peer {
	var out []replica.Peer
	for _, m := range a.mesh.Members() {
		if m.Name == a.cfg.NodeName || (m.Status != gossip.StatusAlive && m.Status != gossip.StatusSuspect) {
			continue
		}
		if addr := m.Tags[gossip.MetaRPC]; addr != "" {
			out = append(out, replica.Peer{Name: m.Name, Addr: addr})
		}
	}
	return out
}

// rpcCaller sends replication calls through the agents' policy (timeout,
// retries, breaker). Every replication call is idempotent: records merge
// by last-writer-wins.
type rpcCaller struct {
	target *transport.Target
	client *transport.Client
}

func (c rpcCaller) Call(ctx context.Context, p replica.Peer, method string, req, resp any) error {
	return c.target.Invoke(ctx, []transport.Peer{{Node: p.Name, Addr: p.Addr}}, method, req, resp, transport.Idempotent())
}

// Stream opens a bootstrap stream; a cut stream is resumed by the replica
// from another peer, so it needs no retry here.
func (c rpcCaller) Stream(ctx context.Context, p replica.Peer, method string, req any) (replica.Receiver, error) {
	return c.client.Stream(ctx, transport.Peer{Node: p.Name, Addr: p.Addr}, method, req, transport.Idempotent())
}

// onGossipMessage hands replication deltas from gossip to the replica.
func (a *Agent) onGossipMessage(payload []byte) {
	if r := a.replicaReady.Load(); r != nil {
		r.HandleGossip(payload)
	}
}

// localState is what this node adds to memberlist's push-pull: only the
// digest root, never the store.
func (a *Agent) localState(bool) []byte {
	return binary.BigEndian.AppendUint64(nil, a.store.DigestRoot())
}

// mergeRemoteState starts anti-entropy when a peer's root differs.
func (a *Agent) mergeRemoteState(buf []byte, _ bool) {
	if r := a.replicaReady.Load(); r != nil && len(buf) == 8 && binary.BigEndian.Uint64(buf) != a.store.DigestRoot() {
		r.SyncSoon()
	}
}

// watchMembers asks for an anti-entropy round at once when a member joins
// or comes back (a node whose store was empty at start bootstraps then),
// until ctx ends.
func (a *Agent) watchMembers(ctx context.Context) {
	sub := a.mesh.Subscribe(64)
	defer sub.Close()
	for {
		events, resync, err := sub.Next(ctx)
		if err != nil {
			return
		}
		for _, e := range events {
			if e.Type == gossip.EventJoin && e.Member.Name != a.cfg.NodeName {
				resync = true
			}
		}
		if resync {
			a.replica.SyncSoon()
		}
	}
}

func (a *Agent) replicationStats() map[string]string {
	s := a.replica.Stats()
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	queued, pruned := a.mesh.BroadcastQueue()
	return map[string]string{
		"broadcast_queue": strconv.Itoa(queued), "broadcast_pruned": u(pruned),
		"applied": u(s.Applied), "duplicate": u(s.Duplicate), "rejected": u(s.Rejected),
		"malformed": u(s.Malformed), "syncs": u(s.Syncs), "sync_failures": u(s.SyncFailures),
		"sync_refused": u(s.SyncRefused), "sync_deferred": u(s.SyncDeferred),
		"tombstone_horizon": stampOr(a.store.Horizon(), "none"), "sync_mark": stampOr(a.replica.SyncMark(), "never"),
		"sync_bytes_sent": u(s.SyncBytesSent), "sync_bytes_received": u(s.SyncBytesRecv),
		"digest_root":    strconv.FormatUint(a.store.DigestRoot(), 16),
		"last_bootstrap": lastBootstrap(a.replica),
	}
}

// restoreSnapshot merges a snapshot stream into the store by
// last-writer-wins, checking its records as records from a peer; the
// replica spreads what changed, from the store's feed, like any write.
// Records whose keys are not valid UTF-8 go to the store's quarantine
// instead.
func (a *Agent) restoreSnapshot(r io.Reader) (httpapi.RestoreResult, error) {
	res, err := a.store.RestoreWith(r, store.RestoreOptions{MaxAhead: a.cfg.MaxClockDrift.Duration})
	a.warnQuarantined(res.Quarantined)
	out := httpapi.RestoreResult{Changed: res.Changed, Quarantined: len(res.Quarantined)}
	if err != nil {
		return out, err
	}
	a.log.Info("snapshot restored", "changed", res.Changed, "quarantined", len(res.Quarantined),
		"malformed", res.Malformed, "rejected_clock_ahead", res.Rejected)
	return out, nil
}

// replicationState is the answer of /v1/edgeplane/replication.
func (a *Agent) replicationState() any {
	b := a.replica.BootstrapProgress()
	st := api.Replication{Local: a.replicationStats(), Peers: []api.ReplicationPeer{}, Quarantine: a.quarantine(),
		Bootstrap: api.BootstrapProgress{Running: b.Running, Peer: b.Peer, Records: b.Records}}
	for _, p := range a.replica.PeerStats() {
		st.Peers = append(st.Peers, apiPeer(p, a.rpc.agents.BreakerState(p.Addr).String()))
	}
	return st
}

// apiPeer is a peer's anti-entropy state as the API shows it.
func apiPeer(p replica.PeerStats, breaker string) api.ReplicationPeer {
	return api.ReplicationPeer{Node: p.Node, Addr: p.Addr, LastSync: p.LastSync, LastResult: p.LastResult,
		DigestRoot: p.DigestRoot, Received: p.Received, Sent: p.Sent, BytesSent: p.BytesSent,
		BytesReceived: p.BytesReceived, Breaker: breaker}
}

func lastBootstrap(r *replica.Replica) string {
	b, ok := r.LastBootstrap()
	if !ok {
		return "never"
	}
	return fmt.Sprintf("%d records from %v in %v (%s; %d dropped as collected deletes)",
		b.Records, b.Peers, b.Took.Round(time.Millisecond), b.Reason, b.Forgotten)
}

// stampOr formats a stamp, or says what zero means.
func stampOr(s store.Stamp, zero string) string {
	if s == 0 {
		return zero
	}
	return s.String()
}
