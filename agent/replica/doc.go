// Package replica spreads the store's writes between agents and makes
// replicas converge.
//
// Every local write is stamped by the store (hybrid logical clock, node
// id) and handed to the replica after commit. A write whose encoded delta
// fits MaxGossipDelta (1,024 bytes) is queued on memberlist's broadcast
// queue under its key's name, so a newer write to the key replaces a
// queued older one; larger ones are pushed over RPC to a few random peers.
// memberlist does not forward user broadcasts, so a node that receives a
// delta that is new to it queues it again for its own peers.
//
// Anti-entropy repairs whatever pushes missed: every SyncInterval (and at
// once when a member joins or comes back) a replica syncs with a random
// live peer through the store's digest (see store.DigestBuckets): equal
// roots cost a few bytes; otherwise the peers exchange bucket hashes, then
// the (key, hash) entries of the differing buckets, then only the records
// that differ. The cost of a round grows with the difference, not with
// the store. A failing peer is skipped and the next one tried; the RPC
// policy's breaker keeps a dead peer from being retried at every round.
//
// Received records are merged by last-writer-wins (store.Merge), so any
// order and any repetition of deliveries converge. A record stamped more
// than MaxClockDrift ahead of this node's clock is rejected and counted,
// neither applied nor forwarded, so one device with a wrong clock cannot
// pin a key forever.
package replica
