// Package telemetry is the agent's metrics: one component that reads the
// typed snapshots the other parts of the agent already keep (gossip's
// and its QUIC carriage's counters, replication's Stats and PeerStats, the
// store's index and file, the HTTP API's Limits, the local catalog) and
// writes them for Prometheus and for Consul's clients. Nothing is
// instrumented on a hot path, and no package it reads imports a metrics
// library: every figure is computed from a snapshot when it is scraped, and
// nothing is kept between scrapes.
//
// # Endpoints
//
// The local HTTP API serves the metrics (package httpapi):
//
//   - GET /metrics and GET /v1/agent/metrics?format=prometheus: the
//     Prometheus text format, version 0.0.4 (Content-Type
//     "text/plain; version=0.0.4; charset=utf-8"), every family with its
//     HELP and TYPE lines.
//   - GET /v1/agent/metrics: Consul's JSON shape (api.MetricsInfo), which
//     the Consul Go client's Agent().Metrics() decodes: gauges under
//     Gauges, counters under Counters with their totals in Sum.
//
// With ACLs on, both need agent:read, as Consul's /v1/agent/metrics does.
// GET /v1/edgeplane/metrics/<node> answers another member's, fetched over
// RPC (package relay), with the same ACL. metrics_addr, when set, serves
// /metrics and /metrics?node=<node> alone on a listener of its own, for
// a central Prometheus (httpapi.ScrapeHandler).
//
// # The catalogue
//
// Catalogue is the one list of the edgeplane_ metrics: name, type, labels
// and help. Names follow Prometheus' conventions: counters end in _total,
// units are spelled out (_seconds, _bytes), and labels take few values
// (a member state, a health status, a result), so that a node's series stay
// a few hundred. The one label of unbounded values, peer, is capped: only
// the Config.PeerLimit (metrics_peer_limit, default 32) peers whose
// anti-entropy is in the worst state get series of their own; the others
// are summed up under peer="other".
//
// After the catalogue come the go_ and process_ series that
// github.com/VictoriaMetrics/metrics reads from the Go runtime and /proc
// (resident memory, CPU seconds, open file descriptors, start time, heap,
// garbage collection, goroutines), given HELP and TYPE lines here.
//
// # Cost
//
// The package holds a Metrics per agent, whose metrics.Set is its own
// (never the library's global one), so several agents in one process do
// not mix. A scrape reads every source once and writes about 20 KB; it
// allocates as much again and retains nothing.
package telemetry
