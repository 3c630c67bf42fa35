// Package replica spreads the store's writes between agents and makes
// replicas converge.
//
// Every local write is stamped by the store (hybrid logical clock, node
// id) and reaches the replica through the store's change feed
// (Config.Feed), which Run reads in a goroutine of its own; so do the
// records a restore brought. When the feed overflows, the writes it
// dropped are left to an anti-entropy round, which it asks for. A write
// whose encoded delta fits MaxGossipDelta (1,024 bytes) is queued on
// memberlist's broadcast queue under its key's name, so a newer write to
// the key replaces a queued older one. memberlist does not forward user
// broadcasts, so a node that receives a delta that is new to it queues it
// again for its own peers.
//
// # Pushes
//
// Gossip carries a few dozen new deltas a second per node (each is sent
// several times by every node that holds it); past that the broadcast
// queue grows, and a full queue drops its oldest. So while more than
// MaxGossipQueue broadcasts wait (the agent: 128, or a quarter of
// max_broadcast_queue), and for writes too large for gossip, records are
// pushed instead: they wait in a push queue, and a goroutine of Run's
// pushes all that waits in one batch (MethodPush) at once to PushFanout
// random live peers, then the next batch: the faster writes come, the
// larger the batches. A push names the nodes known to hold its records
// (Delta.Seen: the sender, the peers it pushed to, and those its own
// sender named); a receiver passes on what was new to it, by gossip when
// its queue has room and otherwise by a push to peers outside Seen. In a
// mesh of up to PushFanout + 2 nodes every write reaches every node in two
// hops; in larger ones the pushes spread as an epidemic, and anti-entropy
// repairs what they miss. A failed call is made to a spare peer. Nothing
// is dropped silently: records that do not fit the push queue (16 MiB)
// or whose batch reached no peer are counted (Stats.PushLeft) and left to
// an anti-entropy round, asked for at once. An idle node pushes nothing
// and keeps no timer for it.
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
// # Merging in shared commits
//
// Each commit of the store writes a record's leaf, the branch pages above
// it and the meta page, and syncs twice, however few records it holds. So
// the records that gossip deltas and pushes deliver wait in an inbox, and
// a goroutine of Run's merges everything waiting in one commit (group
// commit): a lone record goes at once; those that arrive while a commit
// is written join the next one, and while records keep coming a batch
// waits up to GossipLinger (10 ms) for more. Records are checked (clock,
// malformed) where they arrive; last-writer-wins decides, in arrival
// order, as the batch is merged, and what was new is passed on after its
// commit, by the rules above. HandleGossip returns at once; a push
// answers once its records are durable. The inbox holds 8,192 records:
// past that, the records of gossip deltas are dropped, counted
// (Stats.GossipDropped) and left to an anti-entropy round, asked for at
// once, and a push is merged by its own call. When Run ends, what waits is
// merged, and deliveries after it are merged by the call that brings
// them, as before Run starts.
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
// Deletes are tombstones. A node may collect one (CollectTombstones) once
// it is older than TombstoneTTL and every member the mesh remembers
// (Config.Members: live, suspect, failed or left, until reaped) has
// synced past it, and remembers its horizon: deletes stamped before it may
// be forgotten.
//
// Each node knows, of every member, how far it holds what that member
// held (its coverage of the member): after a complete anti-entropy round,
// or an equal digest, or a bootstrap, a node holds everything the peer
// held when the round began, so it takes on the peer's coverage of every
// member, entry by entry, the peer's own entry being the peer's clock.
// The least entry over the members it remembers is how far it holds
// every write made anywhere (its holds). Every round starts with both
// sides' lists (DigestRequest.Progress, DigestResponse.Progress; see
// NodeProgress): each member's coverage by the sender, and the latest
// holds and collection horizon each member reported, which spread from
// node to node like the rest. A node collects only below the least holds
// the members it remembers last reported (collectable), so a tombstone
// stays while any remembered member is away (Holdback names it). A member
// that is reaped no longer holds collection back.
//
// A node is behind a peer when, for a member of the peer's list, it held
// what that member held only as of a stamp before the horizon of that
// member's own collections: the member may have forgotten deletes this
// node never received, whether this node was away alone or with its whole
// site (whose syncs within the site kept its mark current). A node of an
// earlier release sends no list: then, as before, a node whose sync mark
// (the stamp at the start of its last complete round, saved at most every
// five minutes with its coverage) is older than the peer's horizon is
// behind. When each side is behind the other (both sides of a cut forgot
// each other and collected deletes), the side with the lower horizon is
// taken for the one behind, so that the mesh converges; the deletes that
// side collected during the cut can come back. A node behind its peer
// (stale) must not hand anyone its old records: the round exchanges
// nothing, and the node bootstraps. A bootstrap merges each chunk and
// drops, without a tombstone, the node's records in the chunk's key
// range that the sender lacks, keeping only its own writes stamped after
// it was cut off (the earlier of its mark and its coverage of the peer's
// members) and records stamped after the bootstrap began; it then takes
// on the sender's horizon and coverage and moves its mark to the start of
// the bootstrap. Nodes that sync take on the larger of their horizons
// too: what one receives from the other lacks the deletes the other has
// forgotten. A horizon later than TombstoneTTL before this node's wall
// clock plus MaxClockDrift comes from a clock that runs fast; that peer
// is not synced with, and such a collection horizon in a list counts for
// nothing. A stale node, or one pulling, refuses to be a sync partner or a
// bootstrap source. A caller counts a refusal by a pulling peer apart, as
// deferred (Stats.SyncDeferred): it says nothing about horizons or clocks,
// only that the peer is new.
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
