package agent

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/httpapi"
	"github.com/edgeplane/edgeplane/agent/internal/promtext"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/telemetry"
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
// the Consul client decodes the JSON form.
func TestMetricsOfAMesh(t *testing.T) {
	agents := startMeshOfAgents(t, 3, nil)
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
	idx := float64(a.store.Index())
	if err := metricIs(t, a, func(v float64) bool { return v == idx }, telemetry.StoreIndex); err != nil {
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
		found = found || g.Name == telemetry.GossipMembers && g.Labels["state"] == "alive" && g.Value == 3
	}
	if !found || len(info.Counters) == 0 {
		t.Errorf("the Consul client decoded %+v", info)
	}
}

// TestMetricsPeerLimitDefault: the configuration's default is the
// package's.
func TestMetricsPeerLimitDefault(t *testing.T) {
	if got := config.Default().MetricsPeerLimit; got != telemetry.DefaultPeerLimit {
		t.Errorf("metrics_peer_limit defaults to %d, telemetry to %d", got, telemetry.DefaultPeerLimit)
	}
}
