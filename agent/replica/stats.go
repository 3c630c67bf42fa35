package replica

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/edgeplane/edgeplane/agent/api"
	"github.com/edgeplane/edgeplane/store"
)

// LocalStats are this node's replication figures, as /v1/agent/self
// reports them under Stats["replication"].
func (s *Service) LocalStats() map[string]string {
	st := s.Stats()
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	queued, pruned := s.cfg.Mesh.BroadcastQueue()
	return map[string]string{
		"broadcast_queue": strconv.Itoa(queued), "broadcast_pruned": u(pruned),
		"applied": u(st.Applied), "duplicate": u(st.Duplicate), "rejected": u(st.Rejected),
		"malformed": u(st.Malformed), "syncs": u(st.Syncs), "sync_failures": u(st.SyncFailures),
		"sync_refused": u(st.SyncRefused), "sync_deferred": u(st.SyncDeferred),
		"tombstone_horizon": stampOr(s.cfg.Store.Horizon(), "none"), "sync_mark": stampOr(s.SyncMark(), "never"),
		"sync_bytes_sent": u(st.SyncBytesSent), "sync_bytes_received": u(st.SyncBytesRecv),
		"pushed": u(st.Pushed), "push_calls": u(st.PushCalls), "push_failures": u(st.PushFailures),
		"push_left": u(st.PushLeft), "gossip_dropped": u(st.GossipDropped),
		"digest_root":         strconv.FormatUint(s.cfg.Store.DigestRoot(), 16),
		"last_bootstrap":      lastBootstrap(s.Replica),
		"tombstones_held_for": holdback(s.Replica),
	}
}

// holdback says which remembered member holds tombstone collection back,
// and since when it is covered: "none" when collection runs at
// tombstone_ttl.
func holdback(r *Replica) string {
	m, covered, ok := r.Holdback()
	if !ok {
		return "none"
	}
	return m + " (covered up to " + stampOr(covered, "nothing yet") + ")"
}

// State returns the state of replication on this node, the answer of
// /v1/edgeplane/replication.
func (s *Service) State() api.Replication {
	b := s.BootstrapProgress()
	st := api.Replication{Local: s.LocalStats(), Peers: []api.ReplicationPeer{}, Quarantine: s.Quarantine(),
		Bootstrap: api.BootstrapProgress{Running: b.Running, Peer: b.Peer, Records: b.Records}}
	for _, p := range s.PeerStats() {
		st.Peers = append(st.Peers, api.ReplicationPeer{Node: p.Node, Addr: p.Addr, LastSync: p.LastSync,
			LastResult: p.LastResult, DigestRoot: p.DigestRoot, Received: p.Received, Sent: p.Sent,
			BytesSent: p.BytesSent, BytesReceived: p.BytesReceived, Breaker: s.cfg.Agents.BreakerState(p.Addr).String()})
	}
	return st
}

// Quarantine lists the records the store keeps in quarantine; see the
// function Quarantine.
func (s *Service) Quarantine() []api.QuarantinedRecord { return Quarantine(s.cfg.Store, s.cfg.Log) }

// Quarantine lists the records st keeps in quarantine (kept in the data
// file, never served or replicated), keys escaped. A failed read is logged
// and lists none.
func Quarantine(st *store.Store, log *slog.Logger) []api.QuarantinedRecord {
	q, err := st.Quarantined()
	if err != nil {
		log.Error("reading the quarantine", "err", err)
	}
	out := make([]api.QuarantinedRecord, len(q))
	for i, e := range q {
		out[i] = api.QuarantinedRecord{Key: strconv.Quote(e.Key), Value: e.Value, Flags: e.Flags,
			Deleted: e.Deleted, Version: e.Version.String(), Origin: e.Origin}
	}
	return out
}

func lastBootstrap(r *Replica) string {
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
