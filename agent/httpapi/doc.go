// Package httpapi serves the agent's local HTTP API: the key/value subset
// of Consul's HTTP API, shaped so that existing Consul clients work against
// it unchanged, plus /v1/agent/self and /v1/status/*, the membership
// endpoints, the agent's service endpoints (register, deregister, list
// services and checks, report TTL checks: services.go, over the Catalog
// role), the agent's metrics (GET /metrics and /v1/agent/metrics, in the
// Prometheus text format or Consul's JSON: metrics.go, over the Metrics
// role, which package telemetry plays), and edgeplane's own under
// /v1/edgeplane/.
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
// Reloader, Catalog) or beside its endpoints (Metrics). A role left nil leaves its endpoints as an agent without that
// part answers them: not found, or for reload, 500 "reload is not
// available". The API never reaches into the agent past its roles.
//
// With Config.ACL set, requests carry Consul's tokens (?token=,
// X-Consul-Token, Authorization: Bearer) and are checked before they are
// routed (acl.go, rules in package acl): a KV request against its key,
// a service endpoint against the service (Consul's service rules), any
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
// Requests are parsed strictly (parseKVRequest, fuzzed): an unknown or
// malformed parameter is a 400 with a message, sessions (acquire, release)
// and namespaces (ns, partition) are refused with 400, and a PUT body over
// MaxValueSize is refused with 413 before it is stored.
package httpapi
