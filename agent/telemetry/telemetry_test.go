package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/internal/promtext"
	"github.com/edgeplane/edgeplane/agent/relay"
	"github.com/edgeplane/edgeplane/agent/render"
	"github.com/edgeplane/edgeplane/agent/replica"
	"github.com/edgeplane/edgeplane/agent/tracing"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/gossip/quicnet"
	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/transport"
	"github.com/edgeplane/edgeplane/transport/resilience"
)

// now is the fake wall clock of the tests.
var now = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

type fakeMesh struct{ members []gossip.Member }

func (m fakeMesh) Members() []gossip.Member { return m.members }
func (fakeMesh) Undecryptable() uint64      { return 3 }
func (fakeMesh) Refused() uint64            { return 4 }
func (fakeMesh) BroadcastQueue() (int, uint64) {
	return 5, 6
}

type fakeTransport struct{ s quicnet.Stats }

func (t fakeTransport) Stats() quicnet.Stats { return t.s }

type fakeReplication struct {
	s        replica.Stats
	peers    []replica.PeerStats
	mark     store.Stamp
	offset   time.Duration
	readings int
}

// rpcMethods are the methods the agent registers and calls.
var rpcMethods = []string{transport.MethodPing, replica.MethodPush, replica.MethodDigest, replica.MethodKeys,
	replica.MethodBuckets, replica.MethodEntries, replica.MethodResolve, replica.MethodBootstrap}

func (r fakeReplication) Stats() replica.Stats           { return r.s }
func (r fakeReplication) PeerStats() []replica.PeerStats { return r.peers }
func (r fakeReplication) SyncMark() store.Stamp          { return r.mark }
func (r fakeReplication) ClockOffset() (time.Duration, int) {
	return r.offset, r.readings
}
func (fakeReplication) MaxClockDrift() time.Duration { return 5 * time.Minute }

// fakeRPC has called and served every method of methods, once in two
// with a failure, and called every breaker of breakers.
type fakeRPC struct {
	methods  []string
	breakers []transport.BreakerStat
}

func (r fakeRPC) Calls() (served, made map[string]transport.MethodStats) {
	served, made = map[string]transport.MethodStats{}, map[string]transport.MethodStats{}
	for i, method := range r.methods {
		// Calls of 1ms, 20ms and 3s (past the last bound).
		lat := transport.Histogram{Bounds: transport.LatencyBounds, Counts: make([]uint64, len(transport.LatencyBounds)+1),
			Count: 3, Sum: 3021 * time.Millisecond}
		lat.Counts[slices.Index(transport.LatencyBounds, time.Millisecond)]++
		lat.Counts[slices.Index(transport.LatencyBounds, 25*time.Millisecond)]++
		lat.Counts[slices.Index(transport.LatencyBounds, 5*time.Second)]++
		s := transport.MethodStats{Codes: map[transport.Code]uint64{transport.OK: 3}, Latency: lat}
		if i%2 == 1 {
			s.Codes = map[transport.Code]uint64{transport.OK: 1, transport.Unavailable: 1, transport.DeadlineExceeded: 1}
		}
		served[method], made[method] = s, s
	}
	return served, made
}

func (r fakeRPC) Breakers() []transport.BreakerStat { return r.breakers }

type fakeStore struct{ clock *store.Clock }

func (fakeStore) Index() uint64         { return 42 }
func (s fakeStore) Clock() *store.Clock { return s.clock }
func (fakeStore) Stats() store.Stats {
	counts := make([]uint64, len(store.CommitBounds)+1)
	counts[0], counts[len(counts)-1] = 2, 1 // two commits of 1ms or less, one past the last bound
	return store.Stats{FreePages: 9, PageSize: 4096, WriteErrors: 2,
		Commits: store.Histogram{Bounds: store.CommitBounds, Counts: counts, Count: 3, Sum: 20 * time.Second}}
}

type fakeCatalog struct {
	services []catalog.Instance
	checks   []catalog.CheckState
}

func (c fakeCatalog) Services() []catalog.Instance { return c.services }
func (c fakeCatalog) Checks() []catalog.CheckState { return c.checks }

func check(id, serviceID, status string) catalog.CheckState {
	return catalog.CheckState{Check: catalog.Check{ID: id, ServiceID: serviceID, Status: status}}
}

// fullConfig is a configuration with every source set, and peers peers,
// each synced a second apart, the odd ones failing.
func fullConfig(t testing.TB, peers int) Config {
	t.Helper()
	file := filepath.Join(t.TempDir(), "data.db")
	if err := os.WriteFile(file, make([]byte, 1234), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := fakeReplication{
		s:      replica.Stats{Applied: 10, Duplicate: 11, Rejected: 12, Malformed: 13, Syncs: 14, SyncFailures: 15, SyncRefused: 16, SyncDeferred: 17, SyncBytesSent: 18, SyncBytesRecv: 19},
		mark:   store.MakeStamp(uint64(now.Add(-90*time.Second).UnixMilli()), 3),
		offset: -1500 * time.Millisecond, readings: 31,
	}
	rpc := fakeRPC{methods: rpcMethods}
	for i := range peers {
		state := resilience.Closed
		if i%2 == 1 {
			state = resilience.Open
		}
		rpc.breakers = append(rpc.breakers, transport.BreakerStat{Node: fmt.Sprintf("peer-%03d", i),
			Addr: fmt.Sprintf("10.0.%d.%d:7947", i/250, i%250), State: state})
	}
	for i := range peers {
		result := "equal"
		if i%2 == 1 {
			result = "digest: no answer"
		}
		rep.peers = append(rep.peers, replica.PeerStats{Node: fmt.Sprintf("peer-%03d", i), LastResult: result,
			LastSync: now.Add(-time.Duration(i) * time.Second)})
	}
	return Config{
		Mesh: fakeMesh{members: []gossip.Member{
			{Name: "a", Status: gossip.StatusAlive}, {Name: "b", Status: gossip.StatusAlive}, {Name: "c", Status: gossip.StatusFailed},
		}},
		Transport:   fakeTransport{quicnet.Stats{Conns: 2, Handshakes: 20, Refused: 21, FailedHandshakes: 22, WrongNode: 23, DroppedPackets: 24, DroppedSends: 25}},
		Replication: rep,
		Store:       fakeStore{clock: store.NewClock(func() time.Time { return now }, time.Time{}, 0)},
		StoreFile:   file,
		DataDir:     filepath.Dir(file),
		RPC:         rpc,
		HTTPRequests: func() []httpapi.RouteRequests {
			return []httpapi.RouteRequests{{Route: httpapi.RouteKV, Classes: [5]uint64{0, 40, 0, 2, 1}},
				{Route: "/v1/agent/self", Classes: [5]uint64{0, 3, 0, 0, 0}}}
		},
		HTTP: func() httpapi.Limits {
			return httpapi.Limits{MaxBlockingQueries: 1024, BlockingQueries: 7, RefusedBlocking: 30, RefusedHost: 31, RefusedCrossSite: 32, Conns: 8, RefusedConns: 33}
		},
		Catalog: fakeCatalog{
			services: []catalog.Instance{{ID: "web"}, {ID: "db"}, {ID: "cache"}},
			checks:   []catalog.CheckState{check("web-1", "web", "passing"), check("db-1", "db", "warning"), check("db-2", "db", "passing")},
		},
		Relay:         func() relay.Stats { return relay.Stats{OK: 40, UnknownNode: 41, TooLarge: 42, Busy: 43, Failed: 44} },
		Renders:       func() []render.Failure { return []render.Failure{{Block: "nginx", Stage: "check", Count: 2}} },
		ScrapeRefused: func() uint64 { return 45 },
		Tracing: func() tracing.Stats {
			return tracing.Stats{Exported: 46, DroppedQueueFull: 47, DroppedExportFailed: 48}
		},
		PeerLimit: DefaultPeerLimit,
		Version:   "1.2.3", Commit: `abc"def`,
		Now: func() time.Time { return now },
	}
}

func scrape(t *testing.T, m *Metrics) map[string]*promtext.Family {
	t.Helper()
	var b bytes.Buffer
	m.WritePrometheus(&b)
	fams, err := promtext.Parse(b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	return fams
}

// value returns the value of name's series whose labels include labels.
func value(t *testing.T, fams map[string]*promtext.Family, name string, labels ...string) float64 {
	t.Helper()
	v, ok := promtext.Value(fams, name, labels...)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return v
}

func mustNew(t *testing.T, cfg Config) *Metrics {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestExposition: with every source set, every metric of the catalogue
// appears, with its type, help and labels, and carries its source's
// figure; the go_ and process_ series follow, among them resident
// memory, CPU seconds, open file descriptors and start time on Linux.
func TestExposition(t *testing.T) {
	fams := scrape(t, mustNew(t, fullConfig(t, 2)))
	for _, d := range Catalogue {
		f := fams[d.Name]
		if f == nil && runtime.GOOS != "linux" && (d.Name == StoreFilesystemAvail || d.Name == StoreFilesystemSize) {
			continue // the file system is read on Linux only
		}
		if f == nil {
			t.Errorf("%s is missing", d.Name)
			continue
		}
		if f.Kind != string(d.Kind) || f.Help != d.Help {
			t.Errorf("%s: type %s, help %q; want %s, %q", d.Name, f.Kind, f.Help, d.Kind, d.Help)
		}
		for _, s := range f.Series {
			want := len(d.Labels)
			if s.Name == d.Name+"_bucket" {
				want++ // le
			}
			if len(s.Labels) != want {
				t.Errorf("%s has labels %v, want %v", s.Name, s.Labels, d.Labels)
			}
		}
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{BuildInfo, []string{"version", "1.2.3", "commit", `abc"def`}, 1},
		{GossipMembers, []string{"state", "alive"}, 2},
		{GossipMembers, []string{"state", "failed"}, 1},
		{GossipMembers, []string{"state", "left"}, 0},
		{GossipConns, nil, 2},
		{GossipHandshakes, nil, 20},
		{GossipRefused, nil, 21},
		{GossipFailedHandshakes, nil, 22},
		{GossipWrongNode, nil, 23},
		{GossipDroppedPackets, nil, 24},
		{GossipDroppedSends, nil, 25},
		{GossipUndecryptable, nil, 3},
		{GossipRefusedNames, nil, 4},
		{GossipBroadcastQueue, nil, 5},
		{GossipBroadcastPruned, nil, 6},
		{ReplicationDeltas, []string{"result", "applied"}, 10},
		{ReplicationDeltas, []string{"result", "malformed"}, 13},
		{ReplicationSyncs, nil, 14},
		{ReplicationSyncFailures, []string{"reason", "deferred"}, 17},
		{ReplicationSyncBytes, []string{"direction", "received"}, 19},
		{ReplicationSinceSync, nil, 90},
		{ReplicationPeerFailing, []string{"peer", "peer-001"}, 1},
		{ReplicationPeerFailing, []string{"peer", "peer-000"}, 0},
		{ReplicationPeerSinceAttempt, []string{"peer", "peer-001"}, 1},
		{ReplicationClockOffset, nil, -1.5},
		{ReplicationMaxClockDrift, nil, 300},
		{RPCCalls, []string{"side", "client", "method", replica.MethodPush}, 3},
		{RPCCalls, []string{"side", "server", "method", replica.MethodDigest}, 3},
		{RPCErrors, []string{"side", "server", "method", replica.MethodPush, "code", "unavailable"}, 1},
		{RPCErrors, []string{"side", "client", "method", replica.MethodPush, "code", "deadline_exceeded"}, 1},
		{RPCBreakerOpen, []string{"peer", "peer-001"}, 1},
		{RPCBreakerOpen, []string{"peer", "peer-000"}, 0},
		{StoreFileSize, nil, 1234},
		{StoreIndex, nil, 42},
		{StoreFreePages, nil, 9},
		{StoreWriteErrors, nil, 2},
		{HTTPRequests, []string{"route", "/v1/kv/{key...}", "code", "2xx"}, 40},
		{HTTPRequests, []string{"route", "/v1/kv/{key...}", "code", "5xx"}, 1},
		{HTTPBlockingQueries, nil, 7},
		{HTTPMaxBlockingQueries, nil, 1024},
		{HTTPConns, nil, 8},
		{HTTPRefused, []string{"reason", "cross_site"}, 32},
		{HTTPRefused, []string{"reason", "conns"}, 33},
		{CatalogLocalInstances, []string{"status", "passing"}, 2}, // web, cache (no checks)
		{CatalogLocalInstances, []string{"status", "warning"}, 1}, // db
		{CatalogLocalChecks, []string{"status", "passing"}, 2},
		{MetricsRelayed, []string{"result", "ok"}, 40},
		{MetricsRelayed, []string{"result", "unknown_node"}, 41},
		{MetricsRelayed, []string{"result", "too_large"}, 42},
		{MetricsRelayed, []string{"result", "busy"}, 43},
		{MetricsRelayed, []string{"result", "error"}, 44},
		{MetricsAddrRefused, nil, 45},
		{TracingExported, nil, 46},
		{TracingDropped, []string{"reason", "queue_full"}, 47},
		{TracingDropped, []string{"reason", "export_failed"}, 48},
		{CatalogLocalChecks, []string{"status", "critical"}, 0},
	} {
		if got := value(t, fams, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if runtime.GOOS == "linux" {
		for _, name := range []string{"process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds",
			"process_max_fds", "process_start_time_seconds", "go_goroutines", "go_memstats_heap_inuse_bytes"} {
			if f := fams[name]; f == nil || len(f.Series) != 1 {
				t.Errorf("%s is missing", name)
			}
		}
		if v := value(t, fams, "process_open_fds"); v < 1 {
			t.Errorf("process_open_fds = %v", v)
		}
	}
}

// TestSourcesLeftOut: a Metrics without sources writes its build info
// and the process series only, and the time since a sync is -1 before the
// first.
func TestSourcesLeftOut(t *testing.T) {
	fams := scrape(t, mustNew(t, Config{}))
	for name := range fams {
		if strings.HasPrefix(name, "edgeplane_") && name != BuildInfo {
			t.Errorf("%s written without a source", name)
		}
	}
	cfg := fullConfig(t, 0)
	cfg.Replication = fakeReplication{}
	fams = scrape(t, mustNew(t, cfg))
	if v := value(t, fams, ReplicationSinceSync); v != -1 {
		t.Errorf("%s before a sync = %v, want -1", ReplicationSinceSync, v)
	}
	if fams[ReplicationPeerFailing] != nil {
		t.Errorf("per-peer series without peers")
	}
}

// TestPeerSeriesCapped: of 100 peers, the PeerLimit worst have series of
// their own and the rest are summed up under peer="other", for
// anti-entropy and for the circuit breakers.
func TestPeerSeriesCapped(t *testing.T) {
	cfg := fullConfig(t, 100)
	cfg.PeerLimit = 3
	fams := scrape(t, mustNew(t, cfg))
	for _, tc := range []struct {
		name  string
		peers []string // failing (or open) first
		other float64  // failing (or open) among the others
	}{
		// The longest since their round first.
		{ReplicationPeerFailing, []string{"peer-099", "peer-097", "peer-095", "other"}, 47},
		// Then by name.
		{RPCBreakerOpen, []string{"peer-001", "peer-003", "peer-005", "other"}, 47},
	} {
		var peers []string
		for _, s := range fams[tc.name].Series {
			peers = append(peers, s.Labels["peer"])
		}
		if !slices.Equal(peers, tc.peers) {
			t.Errorf("%s: peers %v, want %v", tc.name, peers, tc.peers)
		}
		if v := value(t, fams, tc.name, "peer", "other"); v != tc.other {
			t.Errorf("%s of the others = %v, want %v", tc.name, v, tc.other)
		}
	}
	if v := value(t, fams, ReplicationPeerSinceAttempt, "peer", "other"); v != 98 {
		t.Errorf("since of the others = %v, want 98 (the largest)", v)
	}
}

// TestPeerLimitChangesLive: SetPeerLimit (a reloaded metrics_peer_limit)
// applies from the next scrape.
func TestPeerLimitChangesLive(t *testing.T) {
	cfg := fullConfig(t, 10)
	cfg.PeerLimit = 3
	m := mustNew(t, cfg)
	count := func() int { return len(scrape(t, m)[ReplicationPeerFailing].Series) }
	if n := count(); n != 4 {
		t.Fatalf("%d series with limit 3, want 3 peers and other", n)
	}
	m.SetPeerLimit(5)
	if n := count(); n != 6 {
		t.Fatalf("%d series after SetPeerLimit(5), want 5 peers and other", n)
	}
	m.SetPeerLimit(-1)
	if n := count(); n != 1 {
		t.Fatalf("%d series after SetPeerLimit(-1), want other only", n)
	}
}

func TestSplitPeers(t *testing.T) {
	p := func(node string, failing bool, since float64) peerState {
		return peerState{node: node, failing: failing, since: since}
	}
	for _, tc := range []struct {
		name   string
		peers  []peerState
		limit  int
		listed []string
		other  otherPeers
		others int
	}{
		{"none", nil, 3, nil, otherPeers{}, 0},
		{"under the limit", []peerState{p("b", false, 1), p("a", false, 1)}, 3, []string{"a", "b"}, otherPeers{}, 0},
		{"failing first", []peerState{p("a", false, 100), p("b", true, 1)}, 1, []string{"b"}, otherPeers{since: 100}, 1},
		{"oldest first", []peerState{p("a", false, 1), p("b", false, 5), p("c", true, 2)}, 2, []string{"c", "b"}, otherPeers{since: 1}, 1},
		{"limit 0", []peerState{p("a", true, 1), p("b", false, 3)}, 0, nil, otherPeers{failingCount: 1, since: 3}, 2},
		{"a peer named other", []peerState{p(OtherPeers, true, 9), p("a", false, 1)}, 5, []string{"a"}, otherPeers{failingCount: 1, since: 9}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listed, other, others := splitPeers(tc.peers, tc.limit)
			var names []string
			for _, l := range listed {
				names = append(names, l.node)
			}
			if !slices.Equal(names, tc.listed) || other != tc.other || others != tc.others {
				t.Errorf("splitPeers = %v, %+v, %d; want %v, %+v, %d", names, other, others, tc.listed, tc.other, tc.others)
			}
		})
	}
}

func TestLocalHealth(t *testing.T) {
	svc := func(ids ...string) (out []catalog.Instance) {
		for _, id := range ids {
			out = append(out, catalog.Instance{ID: id})
		}
		return out
	}
	for _, tc := range []struct {
		name               string
		services           []catalog.Instance
		checks             []catalog.CheckState
		instances, byCheck map[string]int
	}{
		{"no checks", svc("a", "b"), nil, map[string]int{"passing": 2}, map[string]int{}},
		{"worst check wins", svc("a"), []catalog.CheckState{check("1", "a", "passing"), check("2", "a", "critical"), check("3", "a", "warning")},
			map[string]int{"critical": 1}, map[string]int{"passing": 1, "warning": 1, "critical": 1}},
		{"node check applies to all", svc("a", "b"), []catalog.CheckState{check("n", "", "warning"), check("1", "a", "critical")},
			map[string]int{"critical": 1, "warning": 1}, map[string]int{"warning": 1, "critical": 1}},
		{"unknown status is critical", svc("a"), []catalog.CheckState{check("1", "a", "maintenance?")},
			map[string]int{"critical": 1}, map[string]int{"critical": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			instances, byCheck := localHealth(tc.services, tc.checks)
			if fmt.Sprint(instances) != fmt.Sprint(tc.instances) || fmt.Sprint(byCheck) != fmt.Sprint(tc.byCheck) {
				t.Errorf("localHealth = %v, %v; want %v, %v", instances, byCheck, tc.instances, tc.byCheck)
			}
		})
	}
}

// TestSummaryDecodes: the JSON form decodes into the Consul client's
// MetricsInfo, gauges under Gauges and counters under Counters with their
// totals, every series of the catalogue once.
func TestSummaryDecodes(t *testing.T) {
	m := mustNew(t, fullConfig(t, 2))
	b, err := json.Marshal(m.Summary())
	if err != nil {
		t.Fatal(err)
	}
	var info consul.MetricsInfo
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	if info.Timestamp != "2026-03-04 05:06:07 +0000 UTC" {
		t.Errorf("Timestamp %q", info.Timestamp)
	}
	found := map[string]bool{}
	for _, g := range info.Gauges {
		found[g.Name] = true
		if g.Name == GossipMembers && g.Labels["state"] == "alive" && g.Value != 2 {
			t.Errorf("alive members %v", g.Value)
		}
	}
	for _, h := range info.Samples {
		found[h.Name] = true
		if h.Name == StoreCommit && (h.Count != 3 || h.Sum != 20 || math.Abs(h.Mean-20.0/3) > 1e-9) {
			t.Errorf("commit times %+v", h)
		}
	}
	for _, c := range info.Counters {
		found[c.Name] = true
		if !strings.HasSuffix(c.Name, "_total") {
			t.Errorf("counter %s", c.Name)
		}
		if c.Name == ReplicationDeltas && c.Labels["result"] == "applied" && (c.Sum != 10 || c.Count != 1 || c.Max != 10) {
			t.Errorf("applied deltas %+v", c)
		}
	}
	for _, d := range Catalogue {
		if !found[d.Name] {
			t.Errorf("%s missing from the JSON form", d.Name)
		}
	}
}

// TestAgentsApart: two Metrics in one process write their own sources'
// figures; neither registers in the library's global set.
func TestAgentsApart(t *testing.T) {
	a, b := fullConfig(t, 0), fullConfig(t, 0)
	b.HTTP = func() httpapi.Limits { return httpapi.Limits{BlockingQueries: 99} }
	ma, mb := mustNew(t, a), mustNew(t, b)
	if v := value(t, scrape(t, ma), HTTPBlockingQueries); v != 7 {
		t.Errorf("first agent's blocking queries %v", v)
	}
	if v := value(t, scrape(t, mb), HTTPBlockingQueries); v != 99 {
		t.Errorf("second agent's blocking queries %v", v)
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := New(Config{PeerLimit: -1}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "metrics_peer_limit") {
		t.Errorf("New with PeerLimit -1: %v", err)
	}
}

// TestLabelEscapes: label values with quotes, backslashes and line feeds
// come back as they were.
func TestLabelEscapes(t *testing.T) {
	cfg := fullConfig(t, 0)
	cfg.Version = "a\\b\"c\nd"
	if got := scrape(t, mustNew(t, cfg))[BuildInfo].Series[0].Labels["version"]; got != cfg.Version {
		t.Errorf("version label %q, want %q", got, cfg.Version)
	}
}

// TestAnnotate: the library's series get HELP and TYPE lines by their
// shape, and the parser accepts the result.
func TestAnnotate(t *testing.T) {
	src := "go_x_total 1\ngo_gauge 2\ngo_sum_seconds{quantile=\"0.5\"} 1\ngo_sum_seconds_sum 3\ngo_sum_seconds_count 4\n" +
		"go_h_seconds_bucket{le=\"1\"} 1\ngo_h_seconds_bucket{le=\"+Inf\"} 2\ngo_cpu_count 2\n"
	var b bytes.Buffer
	annotate(&b, []byte(src))
	fams, err := promtext.Parse(b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	kinds := map[string]string{}
	for name, f := range fams {
		kinds[name] = f.Kind
	}
	want := map[string]string{"go_x_total": "counter", "go_gauge": "gauge", "go_sum_seconds": "summary", "go_h_seconds": "histogram"}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
}

// TestCatalogueNames: names are unique, edgeplane_ prefixed, and follow
// the conventions: counters end in _total, nothing else does; help is
// one line.
func TestCatalogueNames(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range Catalogue {
		if seen[d.Name] || !strings.HasPrefix(d.Name, "edgeplane_") || !promtext.MetricName.MatchString(d.Name) {
			t.Errorf("%s: duplicate or badly named", d.Name)
		}
		seen[d.Name] = true
		if (d.Kind == Counter) != strings.HasSuffix(d.Name, "_total") {
			t.Errorf("%s: a %s", d.Name, d.Kind)
		}
		if d.Help == "" || strings.Contains(d.Help, "\n") {
			t.Errorf("%s: help %q", d.Name, d.Help)
		}
	}
}
