package agent

import (
	"fmt"
	"slices"
	"testing"
	"time"

	consul "github.com/hashicorp/consul/api"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

// BenchmarkCheckToWatcher measures, for meshes of 5 and 25 agents on
// loopback, the time from a TTL check's status changing on one agent to a
// Consul client's blocking /v1/health/service query on another agent
// returning with the new status (p50, p99): what a load balancer or
// consul-template watching a service waits before it stops sending to an
// instance that failed its check.
func BenchmarkCheckToWatcher(b *testing.B) {
	for _, n := range []int{5, 25} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			agents := startMeshOfAgents(b, n, nil)
			owner, reader := agents[0], agents[n-1]
			oc := consulClient(b, owner)
			rc := consulClient(b, reader)
			err := oc.Agent().ServiceRegister(&consul.AgentServiceRegistration{Name: "web", Port: 8080,
				Check: &consul.AgentServiceCheck{TTL: "10m", Status: consul.HealthPassing}})
			if err != nil {
				b.Fatal(err)
			}
			status := func(entries []*consul.ServiceEntry) string {
				if len(entries) != 1 {
					return ""
				}
				return entries[0].Checks.AggregatedStatus()
			}
			var index uint64
			testutil.Eventually(b, time.Minute, func() error {
				entries, meta, err := rc.Health().Service("web", "", false, nil)
				if err != nil || status(entries) != consul.HealthPassing {
					return fmt.Errorf("%s: web is %q (%v)", reader.cfg.NodeName, status(entries), err)
				}
				index = meta.LastIndex
				return nil
			})
			var took []time.Duration
			want := consul.HealthPassing
			for b.Loop() {
				if want == consul.HealthPassing {
					want = consul.HealthCritical
				} else {
					want = consul.HealthPassing
				}
				start := time.Now()
				if err := oc.Agent().UpdateTTL("service:web", "", want); err != nil {
					b.Fatal(err)
				}
				for deadline := start.Add(time.Minute); ; {
					if time.Now().After(deadline) {
						b.Fatalf("%s never saw web %s", reader.cfg.NodeName, want)
					}
					entries, meta, err := rc.Health().Service("web", "", false, &consul.QueryOptions{WaitIndex: index, WaitTime: time.Minute})
					if err != nil {
						b.Fatal(err)
					}
					index = meta.LastIndex
					if status(entries) == want {
						break
					}
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// consulClient is a Consul API client of a's HTTP API.
func consulClient(tb testing.TB, a *Agent) *consul.Client {
	c, err := consul.NewClient(&consul.Config{Address: a.HTTPAddr().String()})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
