// Package httpapi serves the agent's local HTTP API: the key/value subset
// of Consul's HTTP API, shaped so that existing Consul clients work against
// it unchanged, plus /v1/agent/self and /v1/status/*, the membership
// endpoints, the agent's service endpoints (register, deregister, list
// services and checks, report TTL checks: services.go, over the Catalog
// role), Consul's maintenance mode for the node and its services
// (maint.go), the agent's metrics (GET /metrics and /v1/agent/metrics, in
// the Prometheus text format or Consul's JSON: metrics.go, over the
// Metrics role, which package telemetry plays; other members' through
// GET /v1/edgeplane/metrics/<node>, over the MetricsRelay role), and
// edgeplane's own under
// /v1/edgeplane/, among them layered reads (/v1/edgeplane/resolve/<key>:
// a key looked up through the node, site, environment and global layers,
// resolve.go, over the Layers role and package layers), the node's
// history of each key with rollbacks to it (/v1/edgeplane/history/<key>,
// /v1/edgeplane/rollback: history.go, over the History role), the store's
// compaction while the agent runs (PUT /v1/edgeplane/store/compact, over
// the Compactor role, with agent write), and, with
// Config.Debug (enable_debug), the Go runtime's profiles under
// /debug/pprof/ to loopback clients with agent write (pprof.go).
//
// A request with a valid W3C traceparent header is handled with its trace
// in its context: lines logged for it carry its trace_id (with a logger
// wrapped in transport.TraceLog, as the agent's is), and RPCs made for it
// continue its trace.
//
// A registration's checks are TTL, HTTP and TCP checks, which the agent
// runs (package catalog); /v1/agent/checks reports each with its Type
// ("ttl", "http", "tcp", "script") and Definition (URL, method, headers,
// body, TLS settings, TCP address, Interval, Timeout,
// DeregisterCriticalServiceAfter, TTL; never a script's command). A
// script check (Args, ScriptArgs) is refused with 400 whoever asks: it
// would run any command as the agent's user, so script checks come only
// from the agent's configuration files. A TTL report
// (/v1/agent/check/pass|warn|fail|update) of a check the agent runs is a
// 400 too.
//
// New takes everything the API serves from in one Config: the store, the
// agent's description, and the roles the agent plays for it, each a small
// interface declared in roles.go (Mesh, Snapshots, Replication, Pinger,
// Reloader, Catalog, Layers, History) or beside its endpoints (Metrics,
// MetricsRelay). A role left nil leaves its endpoints as an agent without that
// part answers them: not found, or for reload, 500 "reload is not
// available". The API never reaches into the agent past its roles.
//
// ScrapeHandler is the handler of the agent's other listener,
// metrics_addr: GET /metrics and /metrics?node=NAME only, behind an
// optional bearer token, for a central Prometheus (metrics.go).
//
// With Config.ACL set, requests carry Consul's tokens (?token=,
// X-Consul-Token, Authorization: Bearer) and are checked before they are
// routed (acl.go, rules in package acl): a KV request against its key,
// a service endpoint (a service's maintenance included) against the
// service (Consul's service rules), any
// other against the agent (read for its state, write for its
// controls and for any endpoint not classified). A refusal is Consul's
// 403 "Permission denied: ..."; a prefix read lists only the keys the
// token may read, as Consul's does.
//
// Every read is answered from the local store. Responses carry Consul's
// query headers: X-Consul-Index (the store's local modify index for the
// key, or the largest under a prefix, deletions included; never 0),
// X-Consul-KnownLeader: true and X-Consul-LastContact: 0.
//
// A GET with ?index=N is a blocking query: it waits until the key's (or
// prefix's) index passes N, up to ?wait (default 5 min, cap 10 min, plus up
// to wait/16 of jitter so that many clients do not return together). Only
// a change under the watched key or prefix wakes it; a write that changes
// nothing wakes nobody. Close ends every blocking query at once, which lets
// the agent shut down without waiting minutes for idle watchers.
//
// Before it is routed, every request passes the browser guard (guard.go):
// a Host that is not loopback, this node's or in Config.Hosts, and a write
// from another site's page (Origin, Sec-Fetch-Site), are refused with 403,
// so that DNS rebinding and cross-site forms cannot drive the agent.
// Blocking queries past Config.MaxBlockingQueries are answered 429 with
// Retry-After, and a ConnLimiter caps the connections per client address
// and in all at accept (limits.go); Stats reports the caps and what they
// refused, and Limits the same as typed figures, for the metrics.
//
// # Discovery
//
// Consul's catalog and health reads (discovery.go: /v1/catalog/services,
// service/<name>, node/<node>, node-services/<node>, nodes, datacenters;
// /v1/health/service, checks, node, state; /v1/agent/health/service/name
// and /id for this agent's own instances) are answered from this node's
// replica of every node's records (catalog.Read) and from membership, in
// Consul's JSON shapes (package api). A node's serfHealth is its member
// status.
//
// They take Consul's parameters where Consul does: tag, node-meta,
// passing, filter (Consul's expression language, hashicorp/go-bexpr, on
// the fields of the answer's elements as Consul names them: Node.*,
// Service.*, Checks for /v1/health/service; ServiceName, ServiceTags,
// ServiceMeta, NodeMeta... for /v1/catalog/service and services; a
// check's fields for the health checks; a node's for /v1/catalog/nodes;
// an instance's for the node's services) and near (_agent or a node
// name: that node first, then the nodes of its site, then the others by
// this agent's smoothed gossip round trip to them, unmeasured last, ties
// by name; an unknown node leaves the usual order, by node name then
// ID). A filter over 4 KiB, or whose parse takes too many steps, is
// refused 400, as is one that does not parse or names no field.
//
// A discovery answer's X-Consul-Index is its own: the largest local
// modify index of what it is made of (its instances' and checks'
// records, their nodes' membership state as MemberIndex numbers it, and
// the last removal of a record of its service or node, which removals
// keeps from the snapshots read), at least 1. A blocking discovery read
// re-reads at each change of the catalog table or of membership and
// answers once its own index passes the client's: a change of another
// service, or of a node it does not show, never answers it.
//
// Requests are parsed strictly (parseKVRequest, fuzzed): an unknown or
// malformed parameter is a 400 with a message, sessions (acquire, release)
// and namespaces (ns, partition) are refused with 400, and a PUT body over
// MaxValueSize is refused with 413 before it is stored.
package httpapi
