// Package catalog is this node's part of the service catalog: the service
// instances and health checks registered through its local API, kept in a
// local bucket and published to every node in the replicated table
// "catalog" (Table).
//
// # Records
//
// A node owns the records under its name:
//
//	svc/<node>/<serviceID>  an Instance: ID, name, tags, addresses, port,
//	                        meta, weights
//	chk/<node>/<checkID>    a Check: ID, name, service ID, type ("ttl"),
//	                        status (passing, warning, critical), notes,
//	                        output (at most MaxOutput bytes)
//
// Values are CBOR with integer keys, encoded canonically: a third or less
// of the size of the same record in JSON (a check's record is about 55
// bytes plus its output), which matters because a record crosses gossip, where a delta of up to 1,024 bytes is pushed directly, and
// because CBOR is the mesh's encoding already. Canonical bytes mean an
// unchanged record is recognised by its value and never rewritten.
// Records hold no time of a check's runs: a check whose status stays the
// same costs no write. Other nodes' records are decoded with
// DecodeInstance and DecodeCheck, which bound sizes and check every field.
//
// # Local state is authoritative
//
// What the API registered is kept in the local (unreplicated) bucket
// "services", written in the same store transaction as the records, one
// fsync for both. Start makes Table agree with it, so a restart keeps
// the registrations, and a record of this node that the bucket does not
// hold (a snapshot restored, an old copy) becomes a tombstone. While the
// agent runs, a record of this node that arrives changed from elsewhere
// (another node writing under this node's name) is written back, at most
// every 10 seconds so that two nodes given one name cannot flood the
// mesh. Re-registering an ID updates its records in place.
//
// # Registrations
//
// ParseRegistration reads Consul's AgentServiceRegistration JSON strictly:
// unknown fields, Kind, Proxy, Connect, namespaces, partitions and every
// check type but TTL are refused with an error wrapping ErrInvalid, never
// ignored. IDs are ASCII letters, digits, '-', '_', '.' and ':' (never '/':
// an ID is a segment of a key and of a URL).
//
// # TTL checks
//
// The application reports a TTL check's status (UpdateTTL); if it does not
// within the TTL, the check turns critical. The Catalog's TTL loop
// (loop.go; started by Start, stopped by Close, as is the watch of the
// change feed) sleeps until the next deadline on an injected Clock. Disk writes are economical, for SD cards: a status
// change is written at once; the same status with a new output, or a
// plain refresh of the TTL, at most every CheckUpdateInterval (5 minutes);
// Close writes what is owed. The deadline is kept in the local bucket, so
// a restart keeps an unexpired TTL check passing and finds an expired one
// critical; after a crash, the deadline on disk is at most
// CheckUpdateInterval old, and one further ahead than its TTL (a clock
// set back) is brought back to one TTL from now.
//
// # Reading every node's records
//
// Read (read.go) is the read side the discovery endpoints answer from:
// every node's instances and checks as this node's replica holds them,
// read in one store transaction, ordered by node name then ID.
// Tombstones are listed apart (Snapshot.Tombstones: node, ID and index;
// a tombstone names no service). Records that do not decode, break the
// rules of a registration, disagree with their key, or check a service
// their node has no instance of are skipped (counted in
// Snapshot.Malformed), so a record forged by a member never fails a
// reader. Which nodes are shown,
// and their health, is the caller's business: it comes from membership.
// A blocking Read waits on the store's change feed for any change of
// Table past the caller's index. Catalog.Read reads through a Reader,
// which keeps its last Snapshot while the store's index stands, so that
// the many blocking readers one change wakes scan Table once; its
// Snapshots are shared and read-only.
package catalog
