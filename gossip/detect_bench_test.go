package gossip

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/gossip/faultnet"
)

// BenchmarkDetection measures, for meshes on 127.0.0.1 and each timing
// profile, how long until every member sees a new node alive (join-s) and
// a killed node failed (fail-s: mean, median and worst of the
// iterations). lan runs at N = 2 (the killed node's one peer is left
// alone), 3, 5 and 25; wan and edge at 5 and 25. Each iteration builds a
// fresh mesh; run it with -benchtime Nx (scripts/bench-membership.sh).
func BenchmarkDetection(b *testing.B) {
	sizes := map[string][]int{ProfileLAN: {2, 3, 5, 25}, ProfileWAN: {5, 25}, ProfileEdge: {5, 25}}
	for _, profile := range []string{ProfileLAN, ProfileWAN, ProfileEdge} {
		for _, n := range sizes[profile] {
			b.Run(fmt.Sprintf("%s/N=%d", profile, n), func(b *testing.B) {
				var join time.Duration
				var fails []time.Duration
				for b.Loop() {
					j, f := measureDetection(b, profile, n)
					join += j
					fails = append(fails, f)
				}
				slices.Sort(fails)
				var sum time.Duration
				for _, f := range fails {
					sum += f
				}
				b.ReportMetric(join.Seconds()/float64(b.N), "join-s")
				b.ReportMetric(sum.Seconds()/float64(len(fails)), "fail-s")
				b.ReportMetric(fails[len(fails)/2].Seconds(), "fail-p50-s")
				b.ReportMetric(fails[len(fails)-1].Seconds(), "fail-max-s")
			})
		}
	}
}

func measureDetection(b *testing.B, profile string, n int) (join, fail time.Duration) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func(name string) *Mesh {
		cfg := Config{NodeName: name, NodeID: "id-" + name, BindAddr: "127.0.0.1", Profile: profile, Logger: quiet}
		m, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Start(); err != nil {
			b.Fatal(err)
		}
		return m
	}
	nodes := make([]*Mesh, n)
	for i := range nodes {
		nodes[i] = start(fmt.Sprintf("n%d", i))
		defer nodes[i].Shutdown()
		if i > 0 {
			if _, err := nodes[i].Join([]string{nodes[0].LocalMember().Address()}); err != nil {
				b.Fatal(err)
			}
		}
	}
	until := func(limit time.Duration, name string, want Status, observers []*Mesh) time.Duration {
		t0 := time.Now()
		for time.Since(t0) < limit {
			ok := true
			for _, o := range observers {
				if st := memberStatus(o, name); st != want {
					ok = false
					break
				}
			}
			if ok {
				return time.Since(t0)
			}
			time.Sleep(10 * time.Millisecond) // sampling interval of the measurement
		}
		b.Fatalf("%s not seen %s by all within %v", name, want, limit)
		return 0
	}
	until(time.Minute, fmt.Sprintf("n%d", n-1), StatusAlive, nodes)

	newcomer := start("newcomer")
	defer newcomer.Shutdown()
	t0 := time.Now()
	if _, err := newcomer.Join([]string{nodes[0].LocalMember().Address()}); err != nil {
		b.Fatal(err)
	}
	join = time.Since(t0) + until(time.Minute, "newcomer", StatusAlive, nodes)

	victim := nodes[n-1]
	victim.Shutdown() // as kill -9: no leave message
	fail = until(5*time.Minute, victim.cfg.NodeName, StatusFailed, nodes[:n-1])
	return join, fail
}

func memberStatus(m *Mesh, name string) Status {
	for _, mem := range m.Members() {
		if mem.Name == name {
			if mem.Status == StatusSuspect {
				return StatusAlive
			}
			return mem.Status
		}
	}
	return StatusNone
}

// BenchmarkFalseFailures runs a 5-node lan mesh on the fault-injecting
// network with 5 % of packets lost and up to 50 ms of jitter on each, for
// EDGEPLANE_FALSE_FAILURE_RUN (default 1m; the README's figure is from
// 10m), and counts the times a member saw a live one failed (false-fails,
// the goal is 0) or suspect (suspicions, refuted in time).
func BenchmarkFalseFailures(b *testing.B) {
	run := time.Minute
	if v := os.Getenv("EDGEPLANE_FALSE_FAILURE_RUN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("EDGEPLANE_FALSE_FAILURE_RUN: %v", err)
		}
		run = d
	}
	for b.Loop() {
		fnet := faultnet.New(uint64(time.Now().UnixNano()))
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		nodes := make([]*Mesh, 5)
		for i := range nodes {
			tr, _, err := fnet.NewTransport("127.0.0.1")
			if err != nil {
				b.Fatal(err)
			}
			name := fmt.Sprintf("n%d", i)
			m, err := New(Config{NodeName: name, NodeID: "id-" + name, BindAddr: "127.0.0.1", Profile: ProfileLAN, Logger: quiet, Transport: tr})
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Start(); err != nil {
				b.Fatal(err)
			}
			defer m.Shutdown()
			nodes[i] = m
			if i > 0 {
				if _, err := m.Join([]string{nodes[0].LocalMember().Address()}); err != nil {
					b.Fatal(err)
				}
			}
		}
		allAlive := func() bool {
			for _, o := range nodes {
				if o.NumAlive() < len(nodes) {
					return false
				}
			}
			return true
		}
		for t0 := time.Now(); !allAlive(); time.Sleep(10 * time.Millisecond) { // sampling interval
			if time.Since(t0) > time.Minute {
				b.Fatal("the mesh did not form")
			}
		}
		fnet.SetDrop(0.05)
		fnet.SetJitter(50 * time.Millisecond)
		seen := map[[2]string]Status{}
		var fails, suspicions int
		for t0 := time.Now(); time.Since(t0) < run; time.Sleep(100 * time.Millisecond) { // sampling interval
			for _, o := range nodes {
				for _, mem := range o.Members() {
					k := [2]string{o.cfg.NodeName, mem.Name}
					if prev := seen[k]; prev != mem.Status {
						switch mem.Status {
						case StatusFailed:
							fails++
						case StatusSuspect:
							suspicions++
						}
						seen[k] = mem.Status
					}
				}
			}
		}
		b.ReportMetric(float64(fails), "false-fails")
		b.ReportMetric(float64(suspicions), "suspicions")
		b.ReportMetric(float64(fnet.Dropped()), "dropped-packets")
	}
}
