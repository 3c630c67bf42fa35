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
//	chk/<node>/<checkID>    a Check: ID, name, service ID, type ("ttl",
//	                        "http", "tcp", "script"), status (passing,
//	                        warning, critical), notes, output (at most
//	                        MaxOutput bytes); never the check's definition
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
// unknown fields, Kind, Proxy, Connect, namespaces, partitions and the
// check types this agent does not run (gRPC, H2PING, UDP, Docker, alias,
// OS service, TCP with TLS) are refused with an error wrapping
// ErrInvalid, never ignored. IDs are ASCII letters, digits, '-', '_', '.'
// and ':' (never '/': an ID is a segment of a key and of a URL). Like
// Consul's API, it takes the snake_case forms of a service's and a
// check's fields (tagged_addresses, script_args, tls_skip_verify,
// deregister_critical_service_after, success_before_passing,
// failures_before_critical, ...), and field names in any case.
//
// Script checks (Args, ScriptArgs) run a command as the agent's user, so
// ParseRegistration, which reads the HTTP API's registrations, refuses
// them: any local process may call the API, and a script check from it
// would be remote code execution (Consul refuses it too unless
// enable_script_checks). ParseRegistrationWith and
// ParseOptions.LocalScriptChecks read a registration from the agent's
// configuration files, which may hold them when enable_local_script_checks
// is on; the Catalog runs them only with Config.EnableLocalScriptChecks.
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
// # Checks the agent runs
//
// An HTTP check (HTTP, Method default GET, Header, Body, TLSSkipVerify,
// TLSServerName) is passing on a 2xx answer, warning on 429, critical on
// anything else or none; its output is Consul's, "HTTP GET <url>: 200 OK
// Output: <body>", of which at most MaxOutput bytes of the body are read.
// It sends Consul's User-Agent and Accept unless Header sets them, goes
// straight to the URL (no proxy from the environment) on a new connection
// each run. A TCP check (TCP "host:port") is passing when the connection
// is made, critical when not. A script check (Args) is passing on exit 0,
// warning on 1, critical otherwise; its output is its stdout and stderr
// together, the last MaxOutput bytes; past its timeout its whole process
// group is killed. Each runs every Interval (at least MinInterval, 1s,
// Consul's minimum, which a registration here must meet rather than being
// raised to it), each run within Timeout (DefaultTimeout, 10s, and
// DefaultScriptTimeout, 30s, for a script, as Consul's).
//
// A runner goroutine per check (runner.go), owned by the Catalog, runs it
// on the Catalog's Clock: the first run at a random phase within the
// interval, as Consul's, then Interval after the end of each run. Start
// starts the runners, Register starts, restarts (a changed definition) or
// stops them, Deregister stops them, Close stops them all and waits. A
// new check starts critical. Flapping is damped as Consul's StatusHandler
// does: a result of passing or warning changes the status only after
// SuccessBeforePassing such results in a row, a failure only after
// FailuresBeforeWarning (to warning) or FailuresBeforeCritical (to
// critical) failures in a row; the first result after a runner starts
// counts at once. A result then takes the write path of a TTL report:
// a new status is written at once, the same status with a new output at
// most every CheckUpdateInterval, so that a check that stays passing
// while its output changes every run costs one write of its record every
// 5 minutes, plus one when its runner starts. A TTL report
// (UpdateTTL) of a check the agent runs is refused.
//
// The local bucket keeps each check's definition, so a restart runs it
// again; Table's record holds only its type.
//
// # Deregistering critical services
//
// A check with DeregisterCriticalServiceAfter (at least
// MinDeregisterAfter, 1 minute, Consul's minimum, which a registration
// here must meet) has this node deregister its service, and the service's
// other checks, once the check has been critical that long. The TTL loop
// does it at that deadline, on the Clock (Consul's reaper looks every 30
// seconds). When a check turned critical is kept in memory only: after a
// restart, a critical check counts from the start.
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
