package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/internal/promtext"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/telemetry"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/transport"
)

// scrape reads a's /metrics and parses it.
func scrape(t *testing.T, a *Agent) (map[string]*promtext.Family, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+a.HTTPAddr().String()+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != httpapi.PrometheusContentType {
		return nil, fmt.Errorf("GET /metrics: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	return promtext.Parse(string(b))
}

// metricIs returns nil once a's series name{labels} has a value ok
// accepts.
func metricIs(t *testing.T, a *Agent, ok func(float64) bool, name string, labels ...string) error {
	fams, err := scrape(t, a)
	if err != nil {
		return err
	}
	v, found := promtext.Value(fams, name, labels...)
	if !found || !ok(v) {
		return fmt.Errorf("%s: %s%v = %v (found %v)", a.cfg.NodeName, name, labels, v, found)
	}
	return nil
}

// TestMetricsOfAMesh runs three agents in one process: each writes every
// metric of the catalogue, in a few hundred series; a KV write moves the
// store and replication series, a blocking query the HTTP API's gauge;
// the Consul client decodes the JSON form. a has a render block, so that
// its failure counter has series.
func TestMetricsOfAMesh(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "rendered")
	agents := startMeshOfAgents(t, 3, func(i int, c *config.Config) {
		if i == 0 {
			c.Render = []config.RenderDef{{Name: "m", Template: `{{keyOrDefault "metrics/k" ""}}`, Destination: dest}}
		}
	})
	a, b := agents[0], agents[1]
	for _, ag := range agents {
		testutil.Eventually(t, time.Minute, func() error {
			return metricIs(t, ag, func(v float64) bool { return v == 3 }, telemetry.GossipMembers, "state", "alive")
		})
	}

	// A write on a: its index rises, and b applies the delta.
	before, err := scrape(t, b)
	if err != nil {
		t.Fatal(err)
	}
	applied, _ := promtext.Value(before, telemetry.ReplicationDeltas, "result", "applied")
	if _, err := a.store.Put("metrics/k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	// Other writes (the agent's own checks, replicated records) may raise
	// the index past the put's by the scrape: at least the put's.
	idx := float64(a.store.Index())
	if err := metricIs(t, a, func(v float64) bool { return v >= idx }, telemetry.StoreIndex); err != nil {
		t.Error(err)
	}
	testutil.Eventually(t, time.Minute, func() error {
		return metricIs(t, b, func(v float64) bool { return v > applied }, telemetry.ReplicationDeltas, "result", "applied")
	})

	// A blocking query on a holds the gauge at 1 until it ends.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		u := fmt.Sprintf("http://%s/v1/kv/metrics/k?index=%d&wait=1m", a.HTTPAddr(), a.store.Index())
		if req, err := http.NewRequestWithContext(ctx, "GET", u, nil); err == nil {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}()
	testutil.Eventually(t, 30*time.Second, func() error {
		return metricIs(t, a, func(v float64) bool { return v == 1 }, telemetry.HTTPBlockingQueries)
	})
	cancel()
	<-done
	testutil.Eventually(t, 30*time.Second, func() error {
		return metricIs(t, a, func(v float64) bool { return v == 0 }, telemetry.HTTPBlockingQueries)
	})

	// The RPC, store and HTTP series move with their subsystems' work.
	testSubsystemsMoveTheirSeries(t, a, b)

	// After a round of anti-entropy, every metric of the catalogue is
	// there, and the series stay few.
	testutil.Eventually(t, time.Minute, func() error {
		if !a.replica.SyncRandom(t.Context()) {
			return fmt.Errorf("no sync completed")
		}
		fams, err := scrape(t, a)
		if err != nil {
			return err
		}
		for _, d := range telemetry.Catalogue {
			if fams[d.Name] == nil {
				return fmt.Errorf("%s is missing", d.Name)
			}
		}
		if v, _ := promtext.Value(fams, telemetry.ReplicationSinceSync); v < 0 {
			return fmt.Errorf("%s = %v after a sync", telemetry.ReplicationSinceSync, v)
		}
		n := promtext.Count(fams)
		if n >= 2000 {
			t.Fatalf("%d series", n)
		}
		t.Logf("%d series", n)
		return nil
	})

	c, err := consul.NewClient(&consul.Config{Address: a.HTTPAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Agent().Metrics()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range info.Gauges {
		// At least a itself: on a loaded machine a peer may be suspect
		// by now.
		found = found || g.Name == telemetry.GossipMembers && g.Labels["state"] == "alive" && g.Value >= 1
	}
	if !found || len(info.Counters) == 0 {
		t.Errorf("the Consul client decoded %+v", info)
	}
}

// mustScrape scrapes each of agents.
func mustScrape(t *testing.T, agents ...*Agent) []map[string]*promtext.Family {
	t.Helper()
	out := make([]map[string]*promtext.Family, len(agents))
	for i, a := range agents {
		fams, err := scrape(t, a)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = fams
	}
	return out
}

// countOf returns the _count of family's histogram series whose labels
// include labels; 0 when there is none.
func countOf(fams map[string]*promtext.Family, family string, labels ...string) float64 {
	f := fams[family]
	if f == nil {
		return 0
	}
	for _, s := range f.Series {
		ok := s.Name == family+"_count"
		for i := 0; i+1 < len(labels); i += 2 {
			ok = ok && s.Labels[labels[i]] == labels[i+1]
		}
		if ok {
			return s.Value
		}
	}
	return 0
}

// testSubsystemsMoveTheirSeries: a ping from a to b counts a call made on
// a and one served on b, in their counters and histograms; a call of a
// method b does not serve counts an error on a and no series on b; a
// store write adds a commit; an HTTP request to /v1/kv/foo is counted
// under the KV route's template, never its path.
func testSubsystemsMoveTheirSeries(t *testing.T, a, b *Agent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	before := mustScrape(t, a, b)
	beforeA, beforeB := before[0], before[1]
	client := []string{"side", "client", "method", transport.MethodPing}
	server := []string{"side", "server", "method", transport.MethodPing}
	made, _ := promtext.Value(beforeA, telemetry.RPCCalls, client...)
	served, _ := promtext.Value(beforeB, telemetry.RPCCalls, server...)
	if _, _, err := a.rpc.Ping(ctx, b.cfg.NodeName); err != nil {
		t.Fatal(err)
	}
	mem, ok := a.rpc.members.live(b.cfg.NodeName)
	if !ok {
		t.Fatalf("%s is not a live member", b.cfg.NodeName)
	}
	peer := transport.Peer{Node: b.cfg.NodeName, Addr: mem.Tags[gossip.MetaRPC]}
	if err := a.rpc.client.Call(ctx, peer, "no.such.method", struct{}{}, nil); transport.CodeOf(err) != transport.Unimplemented {
		t.Fatalf("a call of a method not served: %v", err)
	}
	if _, err := a.store.Put("metrics/commit", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	u := fmt.Sprintf("http://%s/v1/kv/foo", a.HTTPAddr())
	req, err := http.NewRequestWithContext(ctx, "PUT", u, strings.NewReader("v"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	after := mustScrape(t, a, b)
	afterA, afterB := after[0], after[1]
	if v, _ := promtext.Value(afterA, telemetry.RPCCalls, client...); v != made+1 {
		t.Errorf("pings made: %v, then %v", made, v)
	}
	if c0, c1 := countOf(beforeA, telemetry.RPCDuration, client...), countOf(afterA, telemetry.RPCDuration, client...); c1 != c0+1 {
		t.Errorf("pings made in the histogram: %v, then %v", c0, c1)
	}
	// b counts the call once its handler has returned, which may be just
	// after a has its answer.
	testutil.Eventually(t, 30*time.Second, func() error {
		fams, err := scrape(t, b)
		if err != nil {
			return err
		}
		if v, _ := promtext.Value(fams, telemetry.RPCCalls, server...); v != served+1 {
			return fmt.Errorf("pings served: %v, then %v", served, v)
		}
		if c0, c1 := countOf(beforeB, telemetry.RPCDuration, server...), countOf(fams, telemetry.RPCDuration, server...); c1 != c0+1 {
			return fmt.Errorf("pings served in the histogram: %v, then %v", c0, c1)
		}
		return nil
	})
	if v, _ := promtext.Value(afterA, telemetry.RPCErrors, "side", "client", "method", "no.such.method", "code", "unimplemented"); v != 1 {
		t.Errorf("errors of a call not served: %v", v)
	}
	for _, s := range afterB[telemetry.RPCCalls].Series {
		if s.Labels["method"] == "no.such.method" {
			t.Errorf("%s serves a series for a method it does not serve: %v", b.cfg.NodeName, s.Labels)
		}
	}
	if c0, c1 := countOf(beforeA, telemetry.StoreCommit), countOf(afterA, telemetry.StoreCommit); c1 < c0+2 {
		t.Errorf("commits: %v, then %v after two writes", c0, c1)
	}
	if v, ok := promtext.Value(afterA, telemetry.HTTPRequests, "route", httpapi.RouteKV, "code", "2xx"); !ok || v < 1 {
		t.Errorf("KV requests: %v", v)
	}
	for _, s := range afterA[telemetry.HTTPRequests].Series {
		if strings.Contains(s.Labels["route"], "foo") {
			t.Errorf("a route names the path: %v", s.Labels)
		}
	}
	for _, name := range []string{telemetry.ReplicationClockOffset, telemetry.StoreFilesystemAvail, telemetry.StoreFreePages} {
		if _, ok := promtext.Value(afterA, name); !ok {
			t.Errorf("%s is missing", name)
		}
	}
	if v, _ := promtext.Value(afterA, telemetry.ReplicationMaxClockDrift); v != a.cfg.MaxClockDrift.Seconds() || v <= 0 {
		t.Errorf("%s = %v, max_clock_drift %v", telemetry.ReplicationMaxClockDrift, v, a.cfg.MaxClockDrift)
	}
}

// TestMetricsPeerLimitDefault: the configuration's default is the
// package's.
func TestMetricsPeerLimitDefault(t *testing.T) {
	if got := config.Default().MetricsPeerLimit; got != telemetry.DefaultPeerLimit {
		t.Errorf("metrics_peer_limit defaults to %d, telemetry to %d", got, telemetry.DefaultPeerLimit)
	}
}
