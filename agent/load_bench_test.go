package agent

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/store"
)

// writeLoad is a sustained write load on a mesh of in-process agents:
// rate writes a second, spread round-robin over the agents, for dur.
type writeLoad struct {
	rate  int
	dur   time.Duration
	drain time.Duration // how long, after the last write, writes may still arrive
}

// loadResult is what a write load measured: for each write, the time from
// its PUT returning to it being applied on every other agent.
type loadResult struct {
	writes int           // writes made
	took   time.Duration // time the writes took to make
	late   int           // writes not applied on all agents by the end of the drain
	lags   []time.Duration
	// slowAt are the times, from the start of the load, of the writes
	// applied on all later than a second.
	slowAt  []time.Duration
	pruned  uint64 // broadcasts dropped from full gossip queues, all agents
	stats   map[string]uint64
	skipped uint64 // changes the measuring subscriptions dropped: the figures miss them
	// lost counts the gossip packets the agents' QUIC transports dropped
	// (sends not made, packets dropped unread): what gossip loses.
	lost uint64
}

// slow counts the writes applied on all later than d.
func (r loadResult) slow(d time.Duration) int {
	i, _ := slices.BinarySearch(r.lags, d+1)
	return len(r.lags) - i
}

func (r loadResult) pct(p int) time.Duration {
	if len(r.lags) == 0 {
		return 0
	}
	return r.lags[min(len(r.lags)-1, len(r.lags)*p/100)]
}

func (r loadResult) String() string {
	at := ""
	if len(r.slowAt) > 0 {
		at = fmt.Sprintf(" (written %v to %v into the load)", r.slowAt[0], r.slowAt[len(r.slowAt)-1])
	}
	return fmt.Sprintf("%d writes in %v (%.0f/s): applied on all p50 %v p99 %v max %v, %d over 1s%s; late %d; broadcast pruned %d; gossip packets lost %d; %v",
		r.writes, r.took.Round(time.Millisecond), float64(r.writes)/r.took.Seconds(),
		r.pct(50).Round(time.Millisecond), r.pct(99).Round(time.Millisecond), r.max().Round(time.Millisecond),
		r.slow(time.Second), at, r.late, r.pruned, r.lost, r.stats)
}

func (r loadResult) max() time.Duration {
	if len(r.lags) == 0 {
		return 0
	}
	return r.lags[len(r.lags)-1]
}

// run writes the load on agents and waits until every write is applied on
// every agent or the drain ends.
func (l writeLoad) run(tb testing.TB, agents []*Agent) loadResult {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prunedBefore, lostBefore := pruned(agents), gossipLost(agents)

	// Each agent's arrivals: key → the time the write was applied there.
	arrivals := make([]map[string]time.Time, len(agents))
	var arrived atomic.Int64
	subs := make([]*store.Subscription, len(agents))
	var watchers sync.WaitGroup
	for i, a := range agents {
		arrivals[i] = map[string]time.Time{}
		subs[i] = a.store.Subscribe("load", 1<<20, store.SourceRemote)
		watchers.Go(func() {
			for {
				changes, _, err := subs[i].Next(ctx)
				if err != nil {
					return
				}
				now := time.Now()
				for _, c := range changes {
					if _, ok := arrivals[i][c.Key]; !ok && strings.HasPrefix(c.Key, "load/") {
						arrivals[i][c.Key] = now
						arrived.Add(1)
					}
				}
			}
		})
	}
	defer func() {
		for _, s := range subs {
			s.Close()
		}
	}()

	// Writes are made by a worker per agent, so that one slow commit does
	// not hold up the others; the pacer hands them out on time.
	type written struct {
		key  string
		node int
		at   time.Time
	}
	var (
		mu   sync.Mutex
		done []written
	)
	work := make([]chan string, len(agents))
	var writers sync.WaitGroup
	for i, a := range agents {
		work[i] = make(chan string, 1<<14)
		for range 8 { // concurrent PUTs share a commit
			writers.Go(func() {
				for key := range work[i] {
					if _, err := a.store.Put(key, []byte("sustained-write-load-value-32by"), 0); err != nil {
						tb.Errorf("put %s: %v", key, err)
						continue
					}
					now := time.Now()
					mu.Lock()
					done = append(done, written{key, i, now})
					mu.Unlock()
				}
			})
		}
	}
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	n := 0
	for now := start; now.Sub(start) < l.dur; now = <-tick.C {
		due := int(float64(l.rate) * now.Sub(start).Seconds())
		for ; n < due; n++ {
			node := n % len(agents)
			select {
			case work[node] <- "load/" + strconv.Itoa(node) + "/" + strconv.Itoa(n):
			default:
				tb.Fatalf("%s cannot keep up with %d writes/s", agents[node].cfg.NodeName, l.rate)
			}
		}
	}
	tick.Stop()
	for _, w := range work {
		close(w)
	}
	writers.Wait()
	res := loadResult{writes: len(done), took: time.Since(start)}

	// Drain: poll until every write is everywhere or the drain ends.
	want := int64(len(done) * (len(agents) - 1))
	poll := time.NewTicker(100 * time.Millisecond)
	for deadline := time.Now().Add(l.drain); arrived.Load() < want && time.Now().Before(deadline); {
		<-poll.C
	}
	poll.Stop()
	cancel()
	watchers.Wait()
	for _, s := range subs {
		res.skipped += s.Dropped()
	}
	for _, w := range done {
		var last time.Time
		for i := range agents {
			if i == w.node {
				continue
			}
			at, ok := arrivals[i][w.key]
			if !ok {
				last = time.Time{}
				break
			}
			if at.After(last) {
				last = at
			}
		}
		if last.IsZero() {
			res.late++
			continue
		}
		lag := max(0, last.Sub(w.at))
		res.lags = append(res.lags, lag)
		if lag > time.Second {
			res.slowAt = append(res.slowAt, w.at.Sub(start).Round(time.Second))
		}
	}
	slices.Sort(res.lags)
	slices.Sort(res.slowAt)
	res.pruned = pruned(agents) - prunedBefore
	res.lost = gossipLost(agents) - lostBefore
	res.stats = replicaStats(agents)
	return res
}

// pruned sums the broadcasts the agents' full gossip queues dropped.
func pruned(agents []*Agent) (sum uint64) {
	for _, a := range agents {
		_, p := a.mesh.BroadcastQueue()
		sum += p
	}
	return sum
}

// gossipLost sums the gossip packets the agents' transports dropped.
func gossipLost(agents []*Agent) (sum uint64) {
	for _, a := range agents {
		st := a.mesh.net.Stats()
		sum += st.DroppedSends + st.DroppedPackets
	}
	return sum
}

// replicaStats sums the replication counters about spreading writes over
// the agents.
func replicaStats(agents []*Agent) map[string]uint64 {
	out := map[string]uint64{}
	for _, a := range agents {
		for k, v := range a.replica.LocalStats() {
			switch k {
			case "pushed", "push_calls", "push_failures", "push_left", "gossip_dropped", "syncs", "applied", "duplicate":
				n, _ := strconv.ParseUint(v, 10, 64)
				out[k] += n
			}
		}
	}
	return out
}

// BenchmarkSustainedWrites runs a sustained write load on 5 in-process
// agents on loopback and reports the time until each write is applied on
// all the other agents (p50, p99, max), the writes not applied on all
// within the drain (late: left to anti-entropy and not yet repaired), and
// the broadcasts full gossip queues dropped. One iteration is one load;
// run it with -benchtime 1x. EDGEPLANE_LOAD_RATE (writes/s, default 200),
// EDGEPLANE_LOAD_DURATION (default 10s) and EDGEPLANE_LOAD_NODES (default
// 5) size it; scripts/load-writes.sh runs it.
func BenchmarkSustainedWrites(b *testing.B) {
	rate, dur, nodes := 200, 10*time.Second, 5
	if v, err := strconv.Atoi(os.Getenv("EDGEPLANE_LOAD_RATE")); err == nil && v > 0 {
		rate = v
	}
	if v, err := time.ParseDuration(os.Getenv("EDGEPLANE_LOAD_DURATION")); err == nil && v > 0 {
		dur = v
	}
	if v, err := strconv.Atoi(os.Getenv("EDGEPLANE_LOAD_NODES")); err == nil && v > 1 {
		nodes = v
	}
	agents := startMeshOfAgents(b, nodes, nil)
	var res loadResult
	written0, measured := testutil.WrittenBytes()
	for b.Loop() {
		res = writeLoad{rate: rate, dur: dur, drain: time.Minute}.run(b, agents)
	}
	if written1, ok := testutil.WrittenBytes(); measured && ok && res.writes > 0 {
		// Every write is committed once on each agent: its own and the
		// others' replicated applies.
		b.ReportMetric(float64(written1-written0)/float64(res.writes*nodes), "B-written/write/agent")
	}
	b.Log(res)
	if res.skipped > 0 {
		b.Errorf("the measuring subscriptions dropped %d changes: the figures miss them", res.skipped)
	}
	b.ReportMetric(float64(res.writes)/res.took.Seconds(), "writes/s")
	b.ReportMetric(float64(res.pct(50).Microseconds())/1000, "all-p50-ms")
	b.ReportMetric(float64(res.pct(99).Microseconds())/1000, "all-p99-ms")
	b.ReportMetric(float64(res.max().Microseconds())/1000, "all-max-ms")
	b.ReportMetric(float64(res.slow(time.Second)), "over-1s")
	b.ReportMetric(float64(res.late), "late")
	b.ReportMetric(float64(res.pruned), "pruned")
	b.ReportMetric(float64(res.stats["push_left"]), "push-left")
}
