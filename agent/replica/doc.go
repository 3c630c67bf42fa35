// Package replica spreads the store's writes between agents and makes
// replicas converge.
//
// Every local write is stamped by the store (hybrid logical clock, node
// id) and reaches the replica through the store's change feed
// (Config.Feed), which Run reads in a goroutine of its own; so do the
// records a restore brought. When the feed overflows, the writes it
// dropped are left to an anti-entropy round, which it asks for. A write
// whose encoded delta
// fits MaxGossipDelta (1,024 bytes) is queued on memberlist's broadcast
// queue under its key's name, so a newer write to the key replaces a
// queued older one; larger ones are pushed over RPC to a few random peers.
// memberlist does not forward user broadcasts, so a node that receives a
// delta that is new to it queues it again for its own peers.
//
// Anti-entropy repairs whatever pushes missed: every SyncInterval (and at
// once when a member joins or comes back) a replica syncs with a random
// live peer through the store's digest (see store.DigestBuckets): equal
// roots cost a few bytes; otherwise the peers descend the digest as a
// tree, group hashes, then the bucket hashes of the differing groups, then
// 4-byte short hashes of the differing buckets' entries, and resolve each
// differing key by the versions the digest index keeps: only the newer
// side's record crosses (see tree.go). The cost of a round grows with the
// difference, not with the store. A peer of a release before group hashes
// answers the digest with its bucket hashes, and the round goes on with
// the exchange it knows (MethodKeys: the (key, hash) entries of the
// differing buckets, then both versions of each differing key), so a mesh
// upgrades one node at a time. A failing peer is skipped and the next one
// tried; the RPC policy's breaker keeps a dead peer from being retried at
// every round.
//
// Every table of the store (store.Tables) replicates alike: records carry
// their table on the wire, digests cover all tables, and a bootstrap
// streams them in order, kv first. A record of another table than kv
// carries its key where a node that knows only kv does not look, so such a
// node drops it as malformed rather than taking it for a kv record.
//
// A received record is checked once, where it is decoded
// (Record.UnmarshalCBOR, with store.CheckRecord); merging takes the
// verdict. Received records are merged by last-writer-wins (store.Merge),
// so any order and any repetition of deliveries converge. A record stamped more
// than MaxClockDrift ahead of this node's wall clock (store.Clock.Wall) is
// rejected and counted, neither applied nor forwarded, so one device with a
// wrong clock cannot pin a key forever. The bound ignores the hybrid clock,
// which accepted stamps advance: stamps each just inside it cannot walk the
// clock forward.
//
// # Lost writes
//
// With history on (store.Options.HistoryVersions), a node's store marks
// the writes last-writer-wins discarded for a concurrent one, such as the
// two sides of a partition writing one key (see store.History). The mesh
// converges on the winner, so a node of the winning side may never
// receive the losing write: each node that marks a write lost for the
// first time passes it on once, by gossip under a name of its own (or a
// push when it is large). Nodes that marked it already pass nothing on,
// so the spreading ends, and every node's history shows the write.
//
// # Bootstrap
//
// A node whose store is empty at start pulls a snapshot (MethodBootstrap)
// instead of its first anti-entropy round: table by table, key-ordered
// chunks, each a complete key range of the sender read in its own short
// read transaction, merged by last-writer-wins; a cut stream resumes after
// the last key received, in its table, from another peer.
//
// # Tombstones and the horizon
//
// Deletes are tombstones, collected tombstone_ttl after their stamp
// (CollectTombstones). The store remembers its horizon: deletes stamped
// before it may be forgotten. Each node also keeps a sync mark: the stamp
// at the start of its last complete anti-entropy round, or of an equal
// digest, saved at most every five minutes. The digest request and response
// carry both. When a node's mark is older than a peer's horizon, the peer
// may have forgotten deletes the node never received, so the node's old
// records must not reach anyone: the round exchanges nothing, and the node
// (stale) bootstraps. A bootstrap merges each chunk and drops, without a
// tombstone, the node's records in the chunk's key range that the sender
// lacks, keeping only its own writes stamped after its mark and records
// stamped after the bootstrap began; it then takes on the sender's horizon
// and moves its mark to the start of the bootstrap. Nodes that sync take
// on the larger of their horizons too: what one receives from the other
// lacks the deletes the other has forgotten. A horizon later than
// TombstoneTTL before this node's wall clock plus MaxClockDrift comes from a
// clock that runs fast; that peer is not synced with. A stale node, or one
// pulling, refuses to be a sync partner or a bootstrap source. A caller
// counts a refusal by a pulling peer apart, as deferred (Stats.SyncDeferred):
// it says nothing about horizons or clocks, only that the peer is new.
//
// # Inside an agent
//
// A Replica is transport-agnostic: it calls peers through a Caller and
// broadcasts through a function. Service runs one inside an agent: it
// serves MethodPush, MethodDigest, MethodKeys, MethodBuckets,
// MethodEntries, MethodResolve and MethodBootstrap on the
// agent's RPC server, calls peers through the agents' RPC policy, picks
// them among the live members that announce an RPC address, takes the
// deltas and push-pull digest roots gossip delivers (HandleGossip,
// MergeGossipState; GossipState is what this node sends), asks for a sync
// when a member joins, and collects tombstones. Start and Close bound its
// loops. LocalStats and State are what /v1/agent/self and
// /v1/edgeplane/replication report of it.
package replica
