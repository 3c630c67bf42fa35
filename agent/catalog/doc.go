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
// What the API and the configuration registered is kept in the local
// (unreplicated) bucket "services", written in the same store transaction as the records, one
// fsync for both. Start makes Table agree with it, so a restart keeps
// the registrations, and a record of this node that the bucket does not
// hold (a snapshot restored, an old copy) becomes a tombstone. While the
// agent runs, a record of this node that arrives changed from elsewhere
// (another node writing under this node's name) is written back, at most
// every 10 seconds so that two nodes given one name cannot flood the
// mesh. Re-registering an ID updates its records in place.
//
// # Anti-entropy
//
// Besides the repair of changes seen on the change feed, the catalog
// makes Table agree with the local bucket every SyncInterval (Consul's
// catalog sync, default a minute; sync.go), and when the agent calls
// Sync (on reload): a record that went missing or changed without the
// feed telling (a lost resync, a restore) is rewritten, a record of this
// node the bucket lacks becomes a tombstone. Records are written as the
// bucket holds them, as last written, so an output CheckUpdateInterval
// holds back stays held back and a sync that finds nothing lost writes
// nothing. When the node comes back to
// the mesh the agent calls Restamp, which writes every record again with
// a fresh version: the others may have reaped this node meanwhile and
// written tombstones of its records (RemoveNode, which the agent calls
// on every node that sees a failed member reaped), or even collected
// those tombstones. A local write is stamped after the version this
// replica holds, so the re-stamp beats a tombstone it has seen; one it
// has not seen yet is stamped earlier in wall time, and should it still
// win somewhere it arrives here as a change of this node's records and
// is written back within repairEvery. A node that left keeps its
// records; readers hide them.
//
// # Configured services
//
// The agent's configuration file may define services (package config,
// key services). They are parsed by the same parser as the API's, from
// the same JSON (ParseRegistrationWith, Source SourceConfig), registered
// by Start (Config.Services) and again on every reload
// (SetConfigServices): new and changed ones are registered, their checks
// replaced, and removed ones deregistered. The local bucket marks the
// services that came from the configuration (src/<serviceID>), so a
// reload after a restart still knows them. As with Consul, a configured
// service may be deregistered through the API; the next reload brings
// it back. An API registration of a configured ID takes it over.
//
// # Maintenance
//
// EnableNodeMaintenance and EnableServiceMaintenance add Consul's
// maintenance checks (maint.go): critical checks of type "maintenance",
// _node_maintenance (of no service: its record's ServiceID is empty) and
// _service_maintenance:<id>, named "Node Maintenance Mode" and "Service
// Maintenance Mode", whose notes are the reason or Consul's default
// text. They are kept in the local bucket as any check, so maintenance
// survives a restart; they never expire, cannot be reported, and a
// re-registration replacing its checks keeps its service's.
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
// Tombstones are skipped; so are records that do not decode, break the
// rules of a registration, disagree with their key, or check a service
// their node has no instance of (counted in Snapshot.Malformed), so a
// record forged by a member never fails a reader. Which nodes are shown,
// and their health, is the caller's business: it comes from membership.
// A blocking Read waits on the store's change feed for any change of
// Table past the caller's index.
package catalog
