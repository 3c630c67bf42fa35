package telemetry

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/transport"
	"github.com/edgeplane/edgeplane/transport/resilience"
)

// series is one series of a metric: its label values, in the order of
// its Desc's Labels, and its value.
type series struct {
	labels []string
	value  float64
	hist   *histogram // a histogram's series instead of value
}

// histogram is one histogram series: the upper bounds of its buckets,
// the count in each (one more, for the unbounded bucket), and the sum.
type histogram struct {
	bounds []float64
	counts []uint64
	sum    float64
}

// durations converts a histogram of durations to seconds.
func durations(bounds []time.Duration, counts []uint64, sum time.Duration) *histogram {
	h := &histogram{bounds: make([]float64, len(bounds)), counts: counts, sum: sum.Seconds()}
	for i, b := range bounds {
		h.bounds[i] = b.Seconds()
	}
	return h
}

func (h *histogram) count() uint64 {
	var n uint64
	for _, c := range h.counts {
		n += c
	}
	return n
}

// reading is one scrape's series, by metric name.
type reading map[string][]series

func (r reading) add(name string, value float64, labels ...string) {
	r[name] = append(r[name], series{labels: labels, value: value})
}

func (r reading) addHistogram(name string, h *histogram, labels ...string) {
	r[name] = append(r[name], series{labels: labels, hist: h})
}

// memberStates are the values of edgeplane_gossip_members' state label,
// each reported, 0 when no member is in it.
var memberStates = []gossip.Status{gossip.StatusAlive, gossip.StatusSuspect, gossip.StatusFailed,
	gossip.StatusLeaving, gossip.StatusLeft}

// checkStatuses are the statuses the catalog series report, best first.
var checkStatuses = []string{catalog.StatusPassing, catalog.StatusWarning, catalog.StatusCritical}

// read reads every source once.
func (m *Metrics) read() reading {
	r := reading{}
	r.add(BuildInfo, 1, m.cfg.Version, m.cfg.Commit)
	m.readGossip(r)
	m.readReplication(r)
	m.readRPC(r)
	m.readStore(r)
	m.readHTTP(r)
	m.readCatalog(r)
	m.readRenders(r)
	m.readRelay(r)
	m.readTracing(r)
	return r
}

func (m *Metrics) readTracing(r reading) {
	if m.cfg.Tracing == nil {
		return
	}
	s := m.cfg.Tracing()
	r.add(TracingExported, float64(s.Exported))
	r.add(TracingDropped, float64(s.DroppedQueueFull), "queue_full")
	r.add(TracingDropped, float64(s.DroppedExportFailed), "export_failed")
}

func (m *Metrics) readRenders(r reading) {
	if m.cfg.Renders == nil {
		return
	}
	for _, f := range m.cfg.Renders() {
		r.add(RenderFailures, float64(f.Count), f.Block, f.Stage)
	}
}

func (m *Metrics) readGossip(r reading) {
	if mesh := m.cfg.Mesh; mesh != nil {
		by := map[gossip.Status]int{}
		for _, mem := range mesh.Members() {
			by[mem.Status]++
		}
		for _, st := range memberStates {
			r.add(GossipMembers, float64(by[st]), st.String())
		}
		queued, pruned := mesh.BroadcastQueue()
		r.add(GossipBroadcastQueue, float64(queued))
		r.add(GossipBroadcastPruned, float64(pruned))
		r.add(GossipUndecryptable, float64(mesh.Undecryptable()))
		r.add(GossipRefusedNames, float64(mesh.Refused()))
	}
	if t := m.cfg.Transport; t != nil {
		s := t.Stats()
		r.add(GossipConns, float64(s.Conns))
		r.add(GossipHandshakes, float64(s.Handshakes))
		r.add(GossipRefused, float64(s.Refused))
		r.add(GossipFailedHandshakes, float64(s.FailedHandshakes))
		r.add(GossipWrongNode, float64(s.WrongNode))
		r.add(GossipDroppedPackets, float64(s.DroppedPackets))
		r.add(GossipDroppedSends, float64(s.DroppedSends))
	}
}

func (m *Metrics) readReplication(r reading) {
	rep := m.cfg.Replication
	if rep == nil {
		return
	}
	s := rep.Stats()
	r.add(ReplicationDeltas, float64(s.Applied), "applied")
	r.add(ReplicationDeltas, float64(s.Duplicate), "duplicate")
	r.add(ReplicationDeltas, float64(s.Rejected), "rejected")
	r.add(ReplicationDeltas, float64(s.Malformed), "malformed")
	r.add(ReplicationSyncs, float64(s.Syncs))
	r.add(ReplicationSyncFailures, float64(s.SyncFailures), "error")
	r.add(ReplicationSyncFailures, float64(s.SyncRefused), "refused")
	r.add(ReplicationSyncFailures, float64(s.SyncDeferred), "deferred")
	r.add(ReplicationSyncBytes, float64(s.SyncBytesSent), "sent")
	r.add(ReplicationSyncBytes, float64(s.SyncBytesRecv), "received")
	r.add(ReplicationPushed, float64(s.Pushed))
	r.add(ReplicationPushCalls, float64(s.PushCalls-min(s.PushFailures, s.PushCalls)), "ok")
	r.add(ReplicationPushCalls, float64(s.PushFailures), "failed")
	r.add(ReplicationPushLeft, float64(s.PushLeft))
	r.add(ReplicationGossipDropped, float64(s.GossipDropped))

	since := -1.0
	if mark := rep.SyncMark(); mark != 0 && m.cfg.Store != nil {
		wall := m.cfg.Store.Clock().Wall()
		since = max(0, float64(int64(wall.Millis())-int64(mark.Millis()))/1000)
	}
	r.add(ReplicationSinceSync, since)
	if off, n := rep.ClockOffset(); n > 0 {
		r.add(ReplicationClockOffset, off.Seconds())
	}
	r.add(ReplicationMaxClockDrift, rep.MaxClockDrift().Seconds())

	now := m.cfg.Now()
	peers := make([]peerState, 0, 8)
	for _, p := range rep.PeerStats() {
		peers = append(peers, peerState{node: p.Node, failing: p.LastResult != "equal" && p.LastResult != "repaired",
			since: max(0, now.Sub(p.LastSync).Seconds())})
	}
	listed, other, others := splitPeers(peers, int(m.peerLimit.Load()))
	for _, p := range listed {
		r.add(ReplicationPeerFailing, b2f(p.failing), p.node)
		r.add(ReplicationPeerSinceAttempt, p.since, p.node)
	}
	if others > 0 {
		r.add(ReplicationPeerFailing, float64(other.failingCount), OtherPeers)
		r.add(ReplicationPeerSinceAttempt, other.since, OtherPeers)
	}
}

func (m *Metrics) readRPC(r reading) {
	if m.cfg.RPC == nil {
		return
	}
	served, made := m.cfg.RPC.Calls()
	for _, side := range []struct {
		name    string
		methods map[string]transport.MethodStats
	}{{"client", made}, {"server", served}} {
		for _, method := range slices.Sorted(maps.Keys(side.methods)) {
			s := side.methods[method]
			r.add(RPCCalls, float64(s.Calls()), side.name, method)
			for _, code := range slices.Sorted(maps.Keys(s.Codes)) {
				if code != transport.OK {
					r.add(RPCErrors, float64(s.Codes[code]), side.name, method, code.String())
				}
			}
			l := s.Latency
			r.addHistogram(RPCDuration, durations(l.Bounds, l.Counts, l.Sum), side.name, method)
		}
	}
	var peers []peerState
	for _, b := range m.cfg.RPC.Breakers() {
		name := b.Node
		if name == "" {
			name = b.Addr
		}
		peers = append(peers, peerState{node: name, failing: b.State != resilience.Closed})
	}
	listed, other, others := splitPeers(peers, m.cfg.PeerLimit)
	for _, p := range listed {
		r.add(RPCBreakerOpen, b2f(p.failing), p.node)
	}
	if others > 0 {
		r.add(RPCBreakerOpen, float64(other.failingCount), OtherPeers)
	}
}

func (m *Metrics) readStore(r reading) {
	if st := m.cfg.Store; st != nil {
		r.add(StoreIndex, float64(st.Index()))
		s := st.Stats()
		r.add(StoreFreePages, float64(s.FreePages))
		c := s.Commits
		r.addHistogram(StoreCommit, durations(c.Bounds, c.Counts, c.Sum))
		r.add(StoreWriteErrors, float64(s.WriteErrors))
	}
	if m.cfg.StoreFile != "" {
		if size, ok := storeFileSize(m.cfg.StoreFile); ok {
			r.add(StoreFileSize, float64(size))
		}
	}
	if m.cfg.DataDir != "" {
		if avail, size, ok := filesystem(m.cfg.DataDir); ok {
			r.add(StoreFilesystemAvail, float64(avail))
			r.add(StoreFilesystemSize, float64(size))
		}
	}
}

func (m *Metrics) readHTTP(r reading) {
	if m.cfg.HTTP == nil {
		return
	}
	l := m.cfg.HTTP()
	r.add(HTTPBlockingQueries, float64(l.BlockingQueries))
	r.add(HTTPMaxBlockingQueries, float64(l.MaxBlockingQueries))
	r.add(HTTPConns, float64(l.Conns))
	r.add(HTTPBlockingWoken, float64(l.BlockingWoken))
	r.add(HTTPRefused, float64(l.RefusedBlocking), "blocking")
	r.add(HTTPRefused, float64(l.RefusedHost), "host")
	r.add(HTTPRefused, float64(l.RefusedCrossSite), "cross_site")
	r.add(HTTPRefused, float64(l.RefusedConns), "conns")
	if m.cfg.HTTPRequests != nil {
		for _, rr := range m.cfg.HTTPRequests() {
			for i, n := range rr.Classes {
				if n > 0 {
					r.add(HTTPRequests, float64(n), rr.Route, codeClasses[i])
				}
			}
		}
	}
}

// codeClasses are the values of the code label of HTTPRequests.
var codeClasses = [len(httpapi.RouteRequests{}.Classes)]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

func (m *Metrics) readCatalog(r reading) {
	c := m.cfg.Catalog
	if c == nil {
		return
	}
	checks := c.Checks()
	instances, byCheck := localHealth(c.Services(), checks)
	for _, st := range checkStatuses {
		r.add(CatalogLocalInstances, float64(instances[st]), st)
	}
	for _, st := range checkStatuses {
		r.add(CatalogLocalChecks, float64(byCheck[st]), st)
	}
}

func (m *Metrics) readRelay(r reading) {
	if m.cfg.Relay != nil {
		s := m.cfg.Relay()
		r.add(MetricsRelayed, float64(s.OK), "ok")
		r.add(MetricsRelayed, float64(s.UnknownNode), "unknown_node")
		r.add(MetricsRelayed, float64(s.TooLarge), "too_large")
		r.add(MetricsRelayed, float64(s.Busy), "busy")
		r.add(MetricsRelayed, float64(s.Failed), "error")
	}
	if m.cfg.ScrapeRefused != nil {
		r.add(MetricsAddrRefused, float64(m.cfg.ScrapeRefused()))
	}
}

// localHealth counts this node's instances by aggregated status (the
// worst of their own checks and the node's; passing with none) and its
// checks by status. A status other than the three known ones counts as
// critical.
func localHealth(services []catalog.Instance, checks []catalog.CheckState) (instances, byCheck map[string]int) {
	instances, byCheck = map[string]int{}, map[string]int{}
	worst := map[string]int{} // service ID ("" for the node) -> index in checkStatuses
	for _, c := range checks {
		i := statusRank(c.Status)
		byCheck[checkStatuses[i]]++
		worst[c.ServiceID] = max(worst[c.ServiceID], i)
	}
	for _, in := range services {
		instances[checkStatuses[max(worst[in.ID], worst[""])]]++
	}
	return instances, byCheck
}

func statusRank(status string) int {
	if i := slices.Index(checkStatuses, status); i >= 0 {
		return i
	}
	return len(checkStatuses) - 1
}

// OtherPeers is the peer label of the series that sum up the peers past
// Config.PeerLimit.
const OtherPeers = "other"

// peerState is what the per-peer series say of one peer.
type peerState struct {
	node    string
	failing bool    // the last round failed
	since   float64 // seconds since the last round
}

// otherPeers sums up the peers not listed.
type otherPeers struct {
	failingCount int     // how many of them failed their last round
	since        float64 // the largest since
}

// splitPeers returns the limit peers in the worst state (failing first,
// then the longest since their last round, then by name) and sums up the
// others. A peer named as OtherPeers is always summed up, so that its name
// cannot stand for two series.
func splitPeers(peers []peerState, limit int) (listed []peerState, other otherPeers, others int) {
	peers = slices.Clone(peers)
	slices.SortFunc(peers, func(a, b peerState) int {
		if a.failing != b.failing {
			if a.failing {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(b.since, a.since), cmp.Compare(a.node, b.node))
	})
	for _, p := range peers {
		if len(listed) < limit && p.node != OtherPeers {
			listed = append(listed, p)
			continue
		}
		others++
		if p.failing {
			other.failingCount++
		}
		other.since = max(other.since, p.since)
	}
	return listed, other, others
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
