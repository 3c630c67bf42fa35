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
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
)

// startInProcess runs one agent in this process on 127.0.0.1 with free
// ports, joining join (if set), until the test ends.
func startInProcess(tb testing.TB, name, join string, adjust func(c *config.Config)) *Agent {
	a, _ := startStoppable(tb, name, join, adjust)
	return a
}

// startStoppable is startInProcess, also returning a function that stops
// the agent before the test ends (and waits for it).
func startStoppable(tb testing.TB, name, join string, adjust func(c *config.Config)) (*Agent, func()) {
	return startWith(tb, name, join, adjust, buildOptions{})
}

// startWith is startStoppable with build options.
func startWith(tb testing.TB, name, join string, adjust func(c *config.Config), opts buildOptions) (*Agent, func()) {
	a := buildInProcess(tb, name, join, adjust, opts)
	return a, runInProcess(tb, a)
}

// buildInProcess builds the agent startWith starts, without running it.
func buildInProcess(tb testing.TB, name, join string, adjust func(c *config.Config), opts buildOptions) *Agent {
	cfg := config.DevDefault()
	cfg.NodeName = name
	cfg.DataDir = tb.TempDir()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.GossipPort, cfg.RPCPort = 0, 0
	// The soft memory limit is the process's, sized for one agent: with
	// many agents in one process it would make the collector run flat out.
	cfg.MemoryLimit = "off"
	if join != "" {
		cfg.RetryJoin = []string{join}
		cfg.RetryInterval = config.Duration{Duration: 100 * time.Millisecond}
	}
	if adjust != nil {
		adjust(&cfg)
	}
	a, err := newAgent(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), opts)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// runInProcess runs a until the test ends, or until the function it
// returns is called (which waits for it).
func runInProcess(tb testing.TB, a *Agent) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	stop = func() { cancel(); <-done }
	tb.Cleanup(stop)
	return stop
}

// startMeshOfAgents runs n agents joined through the first, and waits
// until all see all.
func startMeshOfAgents(tb testing.TB, n int, adjust func(i int, c *config.Config)) []*Agent {
	agents := make([]*Agent, n)
	for i := range agents {
		join := ""
		if i > 0 {
			join = agents[0].mesh.LocalMember().Address()
		}
		agents[i] = startInProcess(tb, fmt.Sprintf("bench-%d", i), join, func(c *config.Config) {
			if adjust != nil {
				adjust(i, c)
			}
		})
	}
	testutil.Eventually(tb, time.Minute, func() error {
		for _, a := range agents {
			if alive := a.mesh.NumAlive(); alive < n {
				return fmt.Errorf("%s sees %d of %d members", a.cfg.NodeName, alive, n)
			}
		}
		return nil
	})
	return agents
}

// BenchmarkPropagation measures, for meshes of 5, 25 and 50 agents on
// loopback, the time from a PUT returning on one agent to the write being
// applied on each other agent (p50, p99), and until it is applied on all
// (all-p99).
func BenchmarkPropagation(b *testing.B) {
	for _, n := range []int{5, 25, 50} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			agents := startMeshOfAgents(b, n, nil)
			var each, all []time.Duration
			handshakes := func() (sum uint64) {
				for _, a := range agents {
					sum += a.mesh.net.Stats().Handshakes
				}
				return sum
			}
			shook := handshakes()
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
						case <-time.After(2 * time.Minute): // a missed gossip waits for anti-entropy
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
			// What gossip over QUIC costs while writes flow: the
			// connections each node holds, and the handshakes each makes
			// per second (both ends count one).
			conns := 0
			for _, a := range agents {
				conns += a.mesh.net.Stats().Conns
			}
			b.ReportMetric(float64(conns)/float64(n), "conns/node")
			b.ReportMetric(float64(handshakes()-shook)/float64(n)/b.Elapsed().Seconds(), "handshakes/node/s")
		})
	}
}
