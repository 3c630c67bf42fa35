package replica

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"

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
		"digest_root":    strconv.FormatUint(s.cfg.Store.DigestRoot(), 16),
		"last_bootstrap": lastBootstrap(s.Replica),
	}
}

// State is the answer of /v1/edgeplane/replication.
type State struct {
	Local     map[string]string
	Bootstrap BootstrapProgress
	Peers     []PeerState
	// Quarantine lists the records whose keys are not valid UTF-8, which
	// this node keeps but never replicates.
	Quarantine []QuarantinedRecord
}

// PeerState is what this node knows of one peer: its anti-entropy and the
// state of its circuit breaker.
type PeerState struct {
	PeerStats
	Breaker string
}

// State returns the state of replication on this node.
func (s *Service) State() State {
	st := State{Local: s.LocalStats(), Bootstrap: s.BootstrapProgress(), Peers: []PeerState{},
		Quarantine: s.Quarantine()}
	for _, p := range s.PeerStats() {
		st.Peers = append(st.Peers, PeerState{PeerStats: p, Breaker: s.cfg.Agents.BreakerState(p.Addr).String()})
	}
	return st
}

// QuarantinedRecord is a record of the store's quarantine as
// /v1/edgeplane/replication lists it. Its key is not valid UTF-8, so it is
// shown escaped, as a Go string literal ("poison/\xff\xfe"); its value is
// kept, so that it can be written again under a valid key.
type QuarantinedRecord struct {
	Key     string
	Value   []byte
	Flags   uint64
	Deleted bool
	Version string
	Origin  string
}

// Quarantine lists the records the store keeps in quarantine; see the
// function Quarantine.
func (s *Service) Quarantine() []QuarantinedRecord { return Quarantine(s.cfg.Store, s.cfg.Log) }

// Quarantine lists the records st keeps in quarantine: kept in the data
// file, never served or replicated. A failed read is logged and lists
// none.
func Quarantine(st *store.Store, log *slog.Logger) []QuarantinedRecord {
	q, err := st.Quarantined()
	if err != nil {
		log.Error("reading the quarantine", "err", err)
	}
	out := make([]QuarantinedRecord, len(q))
	for i, e := range q {
		out[i] = QuarantinedRecord{Key: strconv.Quote(e.Key), Value: e.Value, Flags: e.Flags,
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
