package telemetry

import (
	"fmt"
	"strings"
)

// Kind is a metric's Prometheus type.
type Kind string

// The kinds of the catalogue's metrics.
const (
	Counter   Kind = "counter"   // only goes up while the agent runs; its name ends in _total
	Gauge     Kind = "gauge"     // goes up and down
	Histogram Kind = "histogram" // observations counted in cumulative buckets (le), with _sum and _count
)

// Desc describes one metric of the catalogue.
type Desc struct {
	Name   string
	Kind   Kind
	Labels []string // label names, in the order series carry them
	Help   string
}

// The catalogue's metric names.
const (
	BuildInfo = "edgeplane_build_info"

	GossipMembers          = "edgeplane_gossip_members"
	GossipConns            = "edgeplane_gossip_conns"
	GossipHandshakes       = "edgeplane_gossip_handshakes_total"
	GossipRefused          = "edgeplane_gossip_refused_handshakes_total"
	GossipFailedHandshakes = "edgeplane_gossip_failed_handshakes_total"
	GossipWrongNode        = "edgeplane_gossip_wrong_node_total"
	GossipDroppedPackets   = "edgeplane_gossip_dropped_packets_total"
	GossipDroppedSends     = "edgeplane_gossip_dropped_sends_total"
	GossipUndecryptable    = "edgeplane_gossip_undecryptable_total"
	GossipRefusedNames     = "edgeplane_gossip_refused_names_total"
	GossipBroadcastQueue   = "edgeplane_gossip_broadcast_queue"
	GossipBroadcastPruned  = "edgeplane_gossip_broadcast_pruned_total"

	ReplicationDeltas           = "edgeplane_replication_deltas_total"
	ReplicationSyncs            = "edgeplane_replication_syncs_total"
	ReplicationSyncFailures     = "edgeplane_replication_sync_failures_total"
	ReplicationSyncBytes        = "edgeplane_replication_sync_bytes_total"
	ReplicationPushed           = "edgeplane_replication_pushed_records_total"
	ReplicationPushCalls        = "edgeplane_replication_push_calls_total"
	ReplicationPushLeft         = "edgeplane_replication_push_left_records_total"
	ReplicationGossipDropped    = "edgeplane_replication_gossip_dropped_records_total"
	ReplicationSinceSync        = "edgeplane_replication_seconds_since_sync"
	ReplicationPeerFailing      = "edgeplane_replication_peer_failing"
	ReplicationPeerSinceAttempt = "edgeplane_replication_peer_seconds_since_attempt"
	ReplicationClockOffset      = "edgeplane_replication_clock_offset_seconds"
	ReplicationMaxClockDrift    = "edgeplane_replication_max_clock_drift_seconds"

	RPCCalls       = "edgeplane_rpc_calls_total"
	RPCErrors      = "edgeplane_rpc_errors_total"
	RPCDuration    = "edgeplane_rpc_duration_seconds"
	RPCBreakerOpen = "edgeplane_rpc_breaker_open"

	StoreFileSize        = "edgeplane_store_file_size_bytes"
	StoreIndex           = "edgeplane_store_index"
	StoreFreePages       = "edgeplane_store_free_pages"
	StoreCommit          = "edgeplane_store_commit_seconds"
	StoreWriteErrors     = "edgeplane_store_write_errors_total"
	StoreFilesystemAvail = "edgeplane_store_filesystem_avail_bytes"
	StoreFilesystemSize  = "edgeplane_store_filesystem_size_bytes"

	HTTPBlockingQueries    = "edgeplane_http_blocking_queries"
	HTTPMaxBlockingQueries = "edgeplane_http_max_blocking_queries"
	HTTPConns              = "edgeplane_http_conns"
	HTTPRefused            = "edgeplane_http_refused_total"
	HTTPBlockingWoken      = "edgeplane_http_blocking_woken_total"
	HTTPRequests           = "edgeplane_http_requests_total"

	CatalogLocalInstances = "edgeplane_catalog_local_instances"
	CatalogLocalChecks    = "edgeplane_catalog_local_checks"

	RenderFailures = "edgeplane_render_failures_total"

	MetricsRelayed     = "edgeplane_metrics_relayed_total"
	MetricsAddrRefused = "edgeplane_metrics_addr_refused_total"

	TracingExported = "edgeplane_tracing_exported_spans_total"
	TracingDropped  = "edgeplane_tracing_dropped_spans_total"
)

// Catalogue lists every edgeplane_ metric the agent exposes, in the order
// it writes them: the one place their names, types, labels and help are
// defined. The go_ and process_ series of the Go runtime and the process
// come after them (see Metrics.WritePrometheus).
var Catalogue = []Desc{
	{BuildInfo, Gauge, []string{"version", "commit"}, "Always 1; the labels name the agent's version and commit."},

	{GossipMembers, Gauge, []string{"state"}, "Members of the gossip mesh this node knows, itself included, by state: alive, suspect, failed, leaving, left."},
	{GossipConns, Gauge, nil, "QUIC connections open in the gossip carriage."},
	{GossipHandshakes, Counter, nil, "Gossip connections made, both directions."},
	{GossipRefused, Counter, nil, "Gossip handshakes refused for the peer's certificate (an outsider or a revoked node)."},
	{GossipFailedHandshakes, Counter, nil, "Incoming gossip connections whose handshake did not complete."},
	{GossipWrongNode, Counter, nil, "Gossip sends and dials refused because the certificate at the address is another node's."},
	{GossipDroppedPackets, Counter, nil, "UDP packets the gossip carriage dropped unread: not QUIC, not decryptable, for no connection."},
	{GossipDroppedSends, Counter, nil, "Gossip packets not sent: no connection could be made, too many queued, or too large."},
	{GossipUndecryptable, Counter, nil, "Gossip packets and state exchanges that no key of the keyring decrypts: sent with another key, or forged."},
	{GossipRefusedNames, Counter, nil, "Gossip announcements (alive messages, state merges) refused for naming a node whose name another certificate owns."},
	{GossipBroadcastQueue, Gauge, nil, "Broadcasts waiting to be gossiped (max_broadcast_queue caps them)."},
	{GossipBroadcastPruned, Counter, nil, "Broadcasts dropped from a full queue, left to anti-entropy."},

	{ReplicationDeltas, Counter, []string{"result"}, "Replicated records received from peers, by result: applied, duplicate (held already), rejected (refused, such as stamped too far ahead), malformed (records and gossip payloads that did not decode)."},
	{ReplicationSyncs, Counter, nil, "Anti-entropy rounds whose digest exchange with a peer completed."},
	{ReplicationSyncFailures, Counter, []string{"reason"}, "Anti-entropy rounds that failed, by reason: error, refused (over the tombstone horizon or a clock running fast), deferred (the peer was pulling a snapshot)."},
	{ReplicationSyncBytes, Counter, []string{"direction"}, "Bytes of anti-entropy (records and hashes, approximate), by direction: sent, received."},
	{ReplicationPushed, Counter, nil, "Records this node passed on by batched RPC pushes rather than gossip (larger values, and every write while the broadcast queue is backed up), each counted once however many peers it went to."},
	{ReplicationPushCalls, Counter, []string{"result"}, "Push calls to peers, by result: ok, failed (the batch went to a spare peer)."},
	{ReplicationPushLeft, Counter, nil, "Records the push path could not carry (its queue full, or no peer reached), left to anti-entropy, which starts a round at once."},
	{ReplicationGossipDropped, Counter, nil, "Records received by gossip dropped because 8,192 already waited to be merged into the store, left to anti-entropy, which starts a round at once."},
	{ReplicationSinceSync, Gauge, nil, "Seconds since this node's last complete anti-entropy sync (its sync mark, kept across restarts); -1 before the first."},
	{ReplicationPeerFailing, Gauge, []string{"peer"}, "1 when the last anti-entropy round with the peer failed, else 0; for peer=\"other\", the number of such peers among those not listed."},
	{ReplicationPeerSinceAttempt, Gauge, []string{"peer"}, "Seconds since the last anti-entropy round with the peer, whatever its result; for peer=\"other\", the largest among the peers not listed."},
	{ReplicationClockOffset, Gauge, nil, "Median offset of the peers' recent clock readings (the last 31, carried by RPC calls both ways) from this node's wall clock, in seconds: positive when the peers' clocks are ahead. Absent before the first reading."},
	{ReplicationMaxClockDrift, Gauge, nil, "The configured max_clock_drift, in seconds: records stamped further ahead are rejected, and past it the node stamps from its peers' median clock."},

	{RPCCalls, Counter, []string{"side", "method"}, "RPC calls by method: made by this node (side=client, each attempt) and served (side=server, counted when they end)."},
	{RPCErrors, Counter, []string{"side", "method", "code"}, "RPC calls that ended in an error, by side, method and status code (unavailable, deadline_exceeded, unauthenticated, ...)."},
	{RPCDuration, Histogram, []string{"side", "method"}, "Duration of RPC calls, by side and method: on the client from the send to the reply, on the server the handler's time."},
	{RPCBreakerOpen, Gauge, []string{"peer"}, "1 when this node's circuit breaker for the peer is open or half-open (its calls refused, or one probe at a time), 0 when closed; for peer=\"other\", the number of such peers among those not listed."},

	{StoreFileSize, Gauge, nil, "Size of the store's data file."},
	{StoreIndex, Gauge, nil, "The store's index: the local modify index of its latest change."},
	{StoreFreePages, Gauge, nil, "Pages of the store's data file free for reuse."},
	{StoreCommit, Histogram, nil, "Duration of the store's durable commits of writes: writing the pages and fsyncing, then the meta page and fsyncing again."},
	{StoreWriteErrors, Counter, nil, "Store commits that failed to write or sync the data file (a full disk, an I/O error); their writes were not made."},
	{StoreFilesystemAvail, Gauge, nil, "Bytes free to the agent on the file system of the data dir."},
	{StoreFilesystemSize, Gauge, nil, "Size of the file system of the data dir, in bytes."},

	{HTTPBlockingQueries, Gauge, nil, "Blocking queries of the HTTP API in flight."},
	{HTTPMaxBlockingQueries, Gauge, nil, "The cap on blocking queries in flight (http_max_blocking_queries); 0: none."},
	{HTTPConns, Gauge, nil, "Connections open to the HTTP API."},
	{HTTPBlockingWoken, Counter, nil, "Blocking queries answered because what they watch changed (not because their wait ran out): what writes woke."},
	{HTTPRequests, Counter, []string{"route", "code"}, "HTTP API requests answered, by route (its template such as /v1/kv/{key...}, never the path; unmatched for requests no route matches) and status class (2xx, 4xx, ...)."},
	{HTTPRefused, Counter, []string{"reason"}, "HTTP API requests and connections refused, by reason: blocking (a blocking query past http_max_blocking_queries), host (a Host the API does not answer), cross_site (a browser's cross-site write), conns (a connection past http_max_conns or http_max_conns_per_client)."},

	{CatalogLocalInstances, Gauge, []string{"status"}, "Service instances registered on this node, by aggregated health: the worst status of their checks and the node's (passing with none)."},
	{CatalogLocalChecks, Gauge, []string{"status"}, "Health checks registered on this node, by status: passing, warning, critical."},

	{RenderFailures, Counter, []string{"block", "stage"}, "Renders of a render block that failed, by block and stage: render (the template failed), write (a file could not be written, renamed or put back), check (the check refused the new file; the previous one stays), reload (the reload failed; the previous file was put back and reloaded)."},

	{MetricsRelayed, Counter, []string{"result"}, "Scrapes of nodes' metrics this node relayed (/v1/edgeplane/metrics/<node>, /metrics?node= on metrics_addr), by result: ok, unknown_node (no live member of the name), too_large (an answer past 16 MiB, cut off), busy (refused: 4 relays running), error (the call failed or took over 5 s)."},
	{MetricsAddrRefused, Counter, nil, "Requests to metrics_addr refused for a missing or wrong bearer token."},

	{TracingExported, Counter, nil, "Spans of proxied calls the OTLP collector (tracing.otlp_endpoint) took."},
	{TracingDropped, Counter, []string{"reason"}, "Sampled spans of proxied calls not exported, by reason: queue_full (2,048 spans waiting), export_failed (the collector unreachable or answering an error, or the agent stopping)."},
}

// describe returns the catalogue's entry for name; it panics for a name
// not in it, a programming error.
func describe(name string) Desc {
	for _, d := range Catalogue {
		if d.Name == name {
			return d
		}
	}
	panic("telemetry: " + name + " is not in the catalogue")
}

// Markdown returns the catalogue as a Markdown table (name, type, labels,
// help), the form the README shows between the lines
//
//	<!-- BEGIN metrics catalogue: go test ./agent/telemetry -run TestREADME -update -->
//	<!-- END metrics catalogue -->
//
// which TestREADME keeps equal to it.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| Name | Type | Labels | Help |\n|---|---|---|---|\n")
	for _, d := range Catalogue {
		labels := "—"
		if len(d.Labels) > 0 {
			labels = "`" + strings.Join(d.Labels, "`, `") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", d.Name, d.Kind, labels, strings.ReplaceAll(d.Help, "|", `\|`))
	}
	return b.String()
}
