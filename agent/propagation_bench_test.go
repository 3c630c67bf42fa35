package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/config"
)

// startMeshOfAgents runs n agents in this process on 127.0.0.1 with free
// ports, joined through the first, and waits until all see all.
func startMeshOfAgents(b testing.TB, n int, adjust func(i int, c *config.Config)) []*Agent {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	agents := make([]*Agent, n)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); wg.Wait() })
	for i := range agents {
		cfg := config.DevDefault()
		cfg.NodeName = fmt.Sprintf("bench-%d", i)
		cfg.DataDir = b.TempDir()
		cfg.HTTPAddr = "127.0.0.1:0"
		cfg.GossipPort, cfg.RPCPort = 0, 0
		if i > 0 {
			cfg.RetryJoin = []string{agents[0].mesh.LocalMember().Address()}
			cfg.RetryInterval = config.Duration{Duration: 100 * time.Millisecond}
		}
		if adjust != nil {
			adjust(i, &cfg)
		}
		a, err := New(cfg, quiet)
		if err != nil {
			b.Fatal(err)
		}
		agents[i] = a
		wg.Go(func() { a.Run(ctx) })
	}
	deadline := time.Now().Add(time.Minute)
	for _, a := range agents {
		for a.mesh.NumAlive() < n {
			if time.Now().After(deadline) {
				b.Fatalf("%s sees %d of %d members", a.cfg.NodeName, a.mesh.NumAlive(), n)
			}
			time.Sleep(20 * time.Millisecond) // polling interval
		}
	}
	return agents
}

// BenchmarkPropagation measures, for meshes of 5 and 25 agents on
// loopback, the time from a PUT returning on one agent to the write being
// applied on each other agent (p50, p99), and until it is applied on all
// (all-p99).
func BenchmarkPropagation(b *testing.B) {
	for _, n := range []int{5, 25} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			agents := startMeshOfAgents(b, n, nil)
			var each, all []time.Duration
			i := 0
			for b.Loop() {
				key := fmt.Sprintf("bench/%d", i)
				src := agents[i%n]
				i++
				var mu sync.Mutex
				var wg sync.WaitGroup
				var start time.Time
				var last time.Duration
				ready := make(chan struct{})
				for _, a := range agents {
					if a == src {
						continue
					}
					w := a.store.Watch(key, false)
					wg.Go(func() {
						defer w.Stop()
						select {
						case <-w.C:
						case <-time.After(30 * time.Second):
							b.Errorf("%s never got %s", a.cfg.NodeName, key)
							return
						}
						<-ready
						d := time.Since(start)
						mu.Lock()
						each = append(each, d)
						last = max(last, d)
						mu.Unlock()
					})
				}
				if _, err := src.store.Put(key, []byte("v"), 0); err != nil {
					b.Fatal(err)
				}
				start = time.Now()
				close(ready)
				wg.Wait()
				all = append(all, last)
			}
			slices.Sort(each)
			slices.Sort(all)
			b.ReportMetric(float64(each[len(each)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(each[len(each)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "all-p99-ms")
		})
	}
}
