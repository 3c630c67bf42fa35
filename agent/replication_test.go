package agent

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/transport/resilience"
)

// TestKilledPeerOpensItsBreaker stops one of three agents' RPC endpoint
// while gossip still lists it alive (its RPC server crashed, or a firewall
// dropped its port; a killed agent looks the same until gossip declares it
// failed): it stays a candidate for anti-entropy, its calls fail until its
// breaker opens and rejects them at once, and every round still syncs with
// the live peer. Its gossip keeps running, so that the race between the
// breaker and failure detection does not decide the test.
func TestKilledPeerOpensItsBreaker(t *testing.T) {
	agents := startMeshOfAgents(t, 3, nil)
	a, live, dead := agents[0], agents[1], agents[2]
	deadAddr := dead.mesh.LocalMember().Tags[gossip.MetaRPC]
	dead.rpc.srv.Close() // no answer on its RPC port

	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for round := 1; a.rpc.agents.BreakerState(deadAddr) != resilience.Open; round++ {
		if time.Now().After(deadline) {
			t.Fatalf("breaker of the killed peer still %s after %d rounds", a.rpc.agents.BreakerState(deadAddr), round)
		}
		if _, err := live.store.Put("k", []byte{byte(round)}, 0); err != nil {
			t.Fatal(err)
		}
		// The live peer may be busy (pulling its first snapshot, or slow on
		// a loaded machine): the round is retried, and only a round that
		// never syncs fails the test.
		for !a.replica.SyncRandom(ctx) {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no peer synced", round)
			}
		}
		if e, _, _, _ := a.store.Get("k"); len(e.Value) != 1 || e.Value[0] != byte(round) {
			t.Fatalf("round %d: the live peer's write did not arrive by anti-entropy", round)
		}
	}
	// An open breaker refuses at once: a round costs no dial to the dead peer.
	start := time.Now()
	for !a.replica.SyncRandom(ctx) {
		if time.Now().After(deadline) {
			t.Fatal("no peer synced with the breaker open")
		}
	}
	if failures := a.replica.Stats().SyncFailures; failures == 0 {
		t.Fatal("no sync with the killed peer was counted as failed")
	}
	t.Logf("breaker open; a round with it open took %v", time.Since(start))
}

// TestConvergenceOverLoopback runs the convergence property over real
// gossip and QUIC: random writes and deletes on random agents of an
// in-process mesh, then every agent must hold the last-writer-wins result
// of the whole history, and nothing else: its digest root must equal the
// root of a store that holds exactly that result.
//
// Each run tries three random seeds and names each subtest after its seed.
// To replay one, set EDGEPLANE_CONVERGENCE_SEED:
//
//	EDGEPLANE_CONVERGENCE_SEED=12419581000100977081 go test -race -run TestConvergenceOverLoopback ./agent/
//
// The seed fixes the history (which agent writes or deletes which key),
// not the timing of its delivery.
func TestConvergenceOverLoopback(t *testing.T) {
	seeds := []uint64{rand.Uint64(), rand.Uint64(), rand.Uint64()}
	if v := os.Getenv("EDGEPLANE_CONVERGENCE_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("EDGEPLANE_CONVERGENCE_SEED: %v", err)
		}
		seeds = []uint64{seed}
	}
	for _, seed := range seeds {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 0))
			agents := startMeshOfAgents(t, 5, nil)
			oracle := map[string]store.Record{}
			for i := range 60 {
				a := agents[r.IntN(len(agents))]
				key := "k" + strconv.Itoa(r.IntN(8))
				if r.IntN(4) == 0 {
					if _, err := a.store.Delete(key, nil); err != nil {
						t.Fatal(err)
					}
				} else if _, err := a.store.Put(key, []byte(fmt.Sprint(a.cfg.NodeName, "-", i)), 0); err != nil {
					t.Fatal(err)
				}
				e, _, _, _ := a.store.Get(key)
				if o, ok := oracle[key]; ok {
					oracle[key] = store.Merge(o, e.Record)
				} else {
					oracle[key] = e.Record
				}
			}
			testutil.Eventually(t, time.Minute, func() error {
				want := agents[0].store.DigestRoot()
				for _, a := range agents {
					if !holdsExactly(a, oracle, want) {
						a.replica.SyncSoon()
						return fmt.Errorf("seed %d: %s has not converged on the history (digest root %x, %s's %x)",
							seed, a.cfg.NodeName, a.store.DigestRoot(), agents[0].cfg.NodeName, want)
					}
				}
				return nil
			})
		})
	}
}

// holdsExactly reports whether a holds every record of the history and
// no other key, and its digest root is root (every agent's: the catalog
// records of each agent's own service are there too). The digest is
// checked with the records, not once after them: a store publishes a
// commit's digest change only after the commit's fsync, so a record may
// be readable a moment before the root includes it.
func holdsExactly(a *Agent, history map[string]store.Record, root uint64) bool {
	for key, want := range history {
		e, found, _, _ := a.store.Get(key)
		if !found || store.Compare(&e.Record, &want) != 0 {
			return false
		}
	}
	keys := 0
	_ = a.store.View(func(tx *store.Tx) error {
		return tx.Scan(store.TableKV, "", func(*store.Entry) error { keys++; return nil })
	})
	return keys == len(history) && a.store.DigestRoot() == root
}

// TestNewNodeBootstraps: a node that joins with an empty store streams the
// whole store from a peer, then holds exactly what its peers hold.
func TestNewNodeBootstraps(t *testing.T) {
	agents := startMeshOfAgents(t, 2, nil)
	recs := make([]store.Record, 20_000)
	for i := range recs {
		recs[i] = store.Record{Key: fmt.Sprintf("cfg/%05d", i), Value: []byte("value"), Version: store.Stamp(1000 + i), Origin: "elsewhere"}
	}
	for _, a := range agents {
		if _, err := a.store.Apply(recs); err != nil {
			t.Fatal(err)
		}
	}
	fresh := startInProcess(t, "fresh", agents[0].mesh.LocalMember().Address(), nil)
	testutil.Eventually(t, time.Minute, func() error {
		last, ok := fresh.replica.LastBootstrap()
		if ok && last.Records >= len(recs) && fresh.store.DigestRoot() == agents[0].store.DigestRoot() {
			t.Logf("bootstrap: %d records in %v", last.Records, last.Took)
			return nil
		}
		return fmt.Errorf("no complete bootstrap (last %+v, %v)", last, ok)
	})
}

// TestRestoreSpreads: a snapshot restored through the agent goes through
// the store, which checks its records (one stamped past max_clock_drift is
// left out) and reports what changed on its feed; the replica spreads it
// to the other agents.
func TestRestoreSpreads(t *testing.T) {
	agents := startMeshOfAgents(t, 2, nil)
	ms := uint64(time.Now().UnixMilli())
	var snap bytes.Buffer
	sw := store.NewSnapshotWriter(&snap)
	for _, r := range []store.Record{
		{Key: "restored/a", Value: []byte("1"), Version: store.MakeStamp(ms, 0), Origin: "elsewhere"},
		{Key: "restored/b", Value: []byte("2"), Version: store.MakeStamp(ms, 1), Origin: "elsewhere"},
		{Key: "restored/future", Value: []byte("3"), Version: store.MakeStamp(ms+uint64(time.Hour.Milliseconds()), 0), Origin: "elsewhere"},
	} {
		if err := sw.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := snapshots{store: agents[0].store, maxAhead: agents[0].cfg.MaxClockDrift.Duration, log: discardLog()}.Restore(&snap)
	if err != nil || res.Changed != 2 || res.Quarantined != 0 {
		t.Fatalf("restore = %+v, %v", res, err)
	}
	testutil.Eventually(t, time.Minute, func() error {
		keys, _, err := agents[1].store.Keys("restored/", "")
		if err != nil || len(keys) != 2 || keys[0] != "restored/a" || keys[1] != "restored/b" {
			return fmt.Errorf("restored records on the other agent: %q, %v", keys, err)
		}
		return nil
	})
}
