package gossip

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkDetection measures, for meshes of 5 and 25 nodes on 127.0.0.1
// and each timing profile, how long until every member sees a new node
// alive (join-s) and a killed node failed (fail-s). Each iteration builds
// a fresh mesh; run it with -benchtime 1x (scripts/bench-membership.sh).
func BenchmarkDetection(b *testing.B) {
	for _, profile := range []string{ProfileLAN, ProfileWAN, ProfileEdge} {
		for _, n := range []int{5, 25} {
			b.Run(fmt.Sprintf("%s/N=%d", profile, n), func(b *testing.B) {
				var join, fail time.Duration
				for b.Loop() {
					j, f := measureDetection(b, profile, n)
					join += j
					fail += f
				}
				b.ReportMetric(join.Seconds()/float64(b.N), "join-s")
				b.ReportMetric(fail.Seconds()/float64(b.N), "fail-s")
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
