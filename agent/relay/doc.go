// Package relay carries a node's Prometheus metrics to another agent over
// the mesh's RPC, so that a central Prometheus that reaches one gateway of
// a site scrapes every node behind it, NAT or not.
//
// # What travels
//
// Every agent serves MethodMetrics (Serve): a server-streaming call whose
// request names nothing but the caller, and whose answer is this node's
// metrics in the Prometheus text format, in chunks of ChunkSize. The
// request has no path or method to choose, so a caller reaches the
// metrics and nothing else of the node. Who may call is what the RPC
// server's interceptors admit: current members of the mesh.
//
// Relay.Fetch is the other side. It looks the node up among the live
// members, calls it with a timeout (DefaultTimeout, 5 s), and buffers the
// answer up to MaxBytes (DefaultMaxBytes, 16 MiB): a peer that sends more
// is cut off, and the fetch fails with ErrTooLarge and is counted. A
// relayed answer is all or nothing, never a truncated exposition. At most
// MaxInFlight (DefaultMaxInFlight, 4) fetches run at once, so relays hold
// at most MaxInFlight × MaxBytes; past it Fetch fails at once with
// ErrBusy. A fetch of the node itself reads its metrics directly.
//
// The text is passed on as the peer sent it: Prometheus labels the
// series with the target it scraped, so a peer cannot pass its series
// off as another target's unless the scrape job honours their labels.
//
// Stats counts fetches by result; package telemetry reports them as
// edgeplane_metrics_relayed_total.
package relay
