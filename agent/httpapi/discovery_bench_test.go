package httpapi

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/catalog"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
)

// benchCatalog is an API over n instances of web, one on each of n alive
// nodes, each with a TTL check.
func benchCatalog(b *testing.B, n int) (*API, *store.Store) {
	b.Helper()
	st, err := store.Open(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cat, err := catalog.New(catalog.Config{Store: st, Node: "self", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	members := make([]gossip.Member, n)
	err = st.Update(func(tx *store.Tx) error {
		for i := range n {
			node := fmt.Sprintf("node-%05d", i)
			members[i] = member(node, fmt.Sprintf("shop-%d", i%50), gossip.StatusAlive)
			id := "web-" + node
			in, err := catalog.EncodeInstance(&catalog.Instance{ID: id, Name: "web", Tags: []string{"v1"}, Port: 8080,
				Meta: map[string]string{"version": "1"}, Weights: catalog.DefaultWeights})
			if err != nil {
				return err
			}
			c, err := catalog.EncodeCheck(&catalog.Check{ID: id + "-ttl", Name: "ttl", ServiceID: id, Type: catalog.CheckTypeTTL, Status: catalog.StatusPassing})
			if err != nil {
				return err
			}
			if _, err := tx.Put(catalog.Table, catalog.ServiceKey(node, id), in, 0); err != nil {
				return err
			}
			if _, err := tx.Put(catalog.Table, catalog.CheckKey(node, id+"-ttl"), c, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	a := New(Config{Store: st, Catalog: cat, Mesh: &fakeMesh{members: members}, MemberIndex: NewMemberIndex(),
		Self: func() Self { return Self{NodeName: "self", Datacenter: "dc1"} },
		Log:  slog.New(slog.NewTextHandler(io.Discard, nil))})
	b.Cleanup(a.Close)
	return a, st
}

// BenchmarkHealthService1000 serves GET /v1/health/service/web over 1,000
// instances, in process, and reports the latency's median and 99th
// percentile.
func BenchmarkHealthService1000(b *testing.B) {
	a, _ := benchCatalog(b, 1000)
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		code, _, body := serveGet(b, a, "/v1/health/service/web")
		lat = append(lat, time.Since(start))
		if code != http.StatusOK || len(body) < 1000 {
			b.Fatalf("%d %d bytes", code, len(body))
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkDiscoveryMemory10000 reports the heap a read of 10,000
// instances holds: its Snapshot, and the snapshot with the answer of
// /v1/health/service/web built from it, per instance.
func BenchmarkDiscoveryMemory10000(b *testing.B) {
	const n = 10000
	a, st := benchCatalog(b, n)
	var snapBytes, answerBytes uint64
	for b.Loop() {
		var before, mid, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		snap, err := catalog.Read(b.Context(), st, 0)
		if err != nil || len(snap.Instances) != n {
			b.Fatalf("%d instances, %v", len(snap.Instances), err)
		}
		runtime.GC()
		runtime.ReadMemStats(&mid)
		req, _ := http.NewRequest(http.MethodGet, "/v1/health/service/web", nil)
		req.SetPathValue("name", "web")
		ans, err := a.evaluate(req, snap, discoveryQuery{}, a.healthService)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		snapBytes += mid.HeapAlloc - before.HeapAlloc
		answerBytes += after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(snap)
		runtime.KeepAlive(ans)
	}
	b.ReportMetric(float64(snapBytes)/float64(b.N)/n, "snapshot-B/instance")
	b.ReportMetric(float64(answerBytes)/float64(b.N)/n, "answer-B/instance")
}
