package agent

import (
	"context"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/transport/resilience"
)

// TestKilledPeerOpensItsBreaker kills one of three agents without a leave:
// until gossip declares it failed it is still a candidate for
// anti-entropy, its calls fail until its breaker opens and rejects them at
// once, and every round still syncs with the live peer.
func TestKilledPeerOpensItsBreaker(t *testing.T) {
	agents := startMeshOfAgents(t, 3, func(i int, c *config.Config) {
		c.Profile = "wan" // slow failure detection: the dead peer stays a candidate
	})
	a, live, dead := agents[0], agents[1], agents[2]
	deadAddr := dead.mesh.LocalMember().Tags[gossip.MetaRPC]
	dead.rpc.srv.Close() // as kill -9: no leave, no answer
	dead.mesh.Shutdown()

	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for round := 1; a.rpc.agents.BreakerState(deadAddr) != resilience.Open; round++ {
		if time.Now().After(deadline) {
			t.Fatalf("breaker of the killed peer still %s after %d rounds", a.rpc.agents.BreakerState(deadAddr), round)
		}
		if _, err := live.store.Put("k", []byte{byte(round)}, 0); err != nil {
			t.Fatal(err)
		}
		if !a.replica.SyncRandom(ctx) {
			t.Fatalf("round %d: no peer synced", round)
		}
		if e, _, _, _ := a.store.Get("k"); len(e.Value) != 1 || e.Value[0] != byte(round) {
			t.Fatalf("round %d: the live peer's write did not arrive by anti-entropy", round)
		}
	}
	// An open breaker refuses at once: a round costs no dial to the dead peer.
	start := time.Now()
	if !a.replica.SyncRandom(ctx) {
		t.Fatal("no peer synced with the breaker open")
	}
	if failures := a.replica.Stats().SyncFailures; failures == 0 {
		t.Fatal("no sync with the killed peer was counted as failed")
	}
	t.Logf("breaker open; a round with it open took %v", time.Since(start))
}
