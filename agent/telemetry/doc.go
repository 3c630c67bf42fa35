// Package telemetry is the agent's metrics: one component that reads the
// typed snapshots the other parts of the agent keep (gossip's and its QUIC
// carriage's counters, replication's Stats, PeerStats and clock offset,
// the RPC endpoint's calls by method and circuit breakers, the store's
// index, Stats and file, the HTTP API's Limits and requests by route, the
// local catalog, the data dir's file system) and writes them for
// Prometheus and for Consul's clients. No package it reads imports a
// metrics library: where a hot path counts (an RPC call, a store commit,
// an HTTP request), it does so in a few atomics of its own package, and
// every figure is converted from a snapshot when it is scraped; nothing is
// kept here between scrapes.
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
//     Gauges, counters under Counters with their totals in Sum,
//     histograms under Samples with their count, sum and mean.
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
// units are spelled out (_seconds, _bytes), histograms have cumulative le
// buckets up to +Inf with _sum and _count, and labels take few values
// (a member state, a health status, a result; an RPC method the agent
// registers or calls; an HTTP route's template, never its path), so that a
// node's series stay a few hundred. The one label of unbounded values,
// peer, is capped: only the Config.PeerLimit (metrics_peer_limit, default
// 32) peers in the worst state (anti-entropy failing, a circuit breaker
// open) get series of their own; the others are summed up under
// peer="other".
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
