// Package store is edgeplane's local replica: the mesh's records in one
// bbolt file, with the clock, indexes, watches and change feed that the
// agent's API and replication need, and the node's local, unreplicated
// state. It knows nothing of the network.
//
// # Records, tables and merge
//
// A Record is a table, a key, a value, flags, a hybrid logical clock
// Version, the id of the node that wrote it (Origin) and a Deleted mark (a
// tombstone). Its table is TableKV, the key/value store the
// Consul-compatible API serves, or one a package declares with
// DeclareTable; merge, the digest, tombstones and the horizon, snapshots,
// bootstrap and anti-entropy treat every table alike, so a declared table
// is replicated with no code beyond its declaration. The KV API (Put, Get,
// List, Watch and the rest) sees only TableKV; Update and View reach every
// table.
// Replicas merge by last-writer-wins on (Version, Origin): Merge returns the
// greater of two records under Compare, a total order, so merging is
// commutative, associative and idempotent and replicas that receive the
// same writes in any order converge. Two concurrent writes to one key: the
// later stamp wins everywhere, and the other is lost.
//
// # Keys and the quarantine
//
// A key is 1 to MaxKeyLen bytes of valid UTF-8 (CheckKey): every write
// path refuses others with an error wrapping ErrInvalidKey. Records whose
// keys are not valid UTF-8, in a file written before the rule or in a
// restored snapshot, are moved to a quarantine when the store opens (or
// as Restore meets them): kept in the file and listed by Quarantined, but
// out of every read, listing, snapshot and the digest, so they are never
// replicated.
//
// # Clock
//
// Clock issues Stamps: 48 bits of wall milliseconds and a 16-bit counter.
// Readings never go backwards and never read before the clock's floor (the
// binary's build time). The high-water mark is written in the same
// transaction as every write, and Open resumes from max(high-water mark,
// largest stamp stored, wall clock), so a device whose clock reads 1970
// after a reboot still stamps after everything it wrote before.
//
// # Local writes
//
// Put, CAS, Delete and DeleteTree stamp a write with the clock and this
// node's id, store it under the next local modify index and return once
// the transaction is fsynced. Concurrent writers share transactions (group
// commit): whoever holds the commit lock commits every queued write in one
// transaction and one fsync, so throughput grows with concurrency while a
// lone writer waits for no timer. If a shared transaction fails, each
// write in it is retried alone, so every write function is idempotent.
//
// Apply merges records written elsewhere. A record that loses, or equals
// what the store holds, changes nothing: it takes no index and wakes no
// watch. Records from elsewhere are checked once, where they are decoded
// (CheckRecord returns a Checked record), and ApplyChecked and MergeRange
// take them without checking again.
//
// # The change feed
//
// Subscribe returns a bounded queue of committed changes, of every table
// and every source (local writes, records merged from peers or restored
// from a snapshot, tombstones collected, records forgotten by a
// bootstrap), in commit order. A commit never waits for a subscriber: one
// that falls behind is told to resync instead of receiving what it missed.
// Replication reads the local writes and restores from it to spread them;
// other components derive their state from it.
//
// # Local state
//
// Local returns a bucket of state this node keeps but never replicates: it
// is out of the digest, snapshots, the feed and the modify index. Update
// writes local state and replicated records in one transaction, one fsync.
//
// # History and rollback
//
// With Options.HistoryVersions > 0 the store keeps the last versions of
// each kv key it held, bounded per key and in bytes, beside the key's
// record in the kv bucket (out of every read, list, snapshot and the
// digest), written in the transaction of the record: no fsync and, most
// often, no page of its own.
// Each record carries Prev, the version its writer replaced, so that a
// version last-writer-wins discarded for a concurrent write is marked
// lost the same way on every node that sees both (see the notes in
// history.go). Rollback writes versions from the history again as new
// local writes (PlanRollback, PlanPrefixRollback, Rollback).
//
// # Indexes and blocking queries
//
// The modify index is local to this node and persisted: it never goes
// backwards and is never 0. Get and List report the index a blocking query
// waits past: the key's own modify index, or the largest under a prefix,
// tombstones included. Collected tombstones raise a floor (the reap index)
// so these indexes never decrease. Watch and WaitIndex wake only for the
// key or prefix they cover.
//
// # Tombstones and snapshots
//
// Deletes are tombstones until CollectTombstones removes those older than
// a horizon. Snapshot streams every record of every table, tombstones
// included, in short read transactions; Restore merges a stream by
// last-writer-wins, so it never replaces a newer record with an older one,
// and reads streams written before tables existed as kv records. Every frame of the
// stream carries a checksum and the stream ends with a count, so damage and
// truncation are detected (see SnapshotReader).
//
// # Durability and the data file
//
// The file is opened with a one-second lock timeout: a second agent on the
// same data directory fails at once with ErrInUse. The freelist is not
// written on commit (NoFreelistSync, hashmap freelist), which saves writes
// on SD cards at the cost of a scan when the file is opened. The file
// grows 256 KiB at a time.
//
// Records in the file name their origin by a number the file interns
// (origins.go); snapshots and the wire carry the origin itself, and
// records written before interning are read as they are. A bootstrap
// (MergeRange) fills pages whole and writes the digest index once, in
// index order, when it reaches a table's end (keyindex.go). Compact
// rewrites the file without its free pages while the store stays open
// (compact.go).
package store
