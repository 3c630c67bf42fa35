package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/internal/testutil"
	"github.com/edgeplane/edgeplane/agent/replica"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/store/storetest"
	"github.com/edgeplane/edgeplane/transport"
)

// TestQuarantinedStoreReplicatesEverythingElse: a node's data dir holds,
// besides 2,500 records, a key and a tombstone whose keys are not valid
// UTF-8, written as a release that took any key wrote them (in the kv
// bucket and the digest). The node quarantines them at start; a new node
// bootstraps everything else from it, a peer that missed part of the
// writes gets the rest by anti-entropy, and all three end with equal
// digest roots and nothing malformed on the wire. A push that does carry
// a malformed record among valid ones, over QUIC, applies the valid ones
// and counts the malformed one.
func TestQuarantinedStoreReplicatesEverythingElse(t *testing.T) {
	const n = 2500 // bootstrap streams it in three chunks
	recs := make([]store.Record, n)
	ms := uint64(time.Now().Add(-time.Minute).UnixMilli())
	for i := range recs {
		recs[i] = store.Record{Key: fmt.Sprintf("cfg/%05d", i), Value: []byte("value"), Version: store.MakeStamp(ms, uint16(i)), Origin: "elsewhere"}
	}
	seeded, missed := t.TempDir(), t.TempDir()
	fill(t, seeded, recs)
	fill(t, missed, recs[:n/2]) // down while the second half was written
	for _, r := range []store.Record{
		{Key: "cfg/01000\xff", Value: []byte("poison"), Version: store.MakeStamp(ms, 9000), Origin: "elsewhere"},
		{Key: "poison/\xff\xfe", Deleted: true, Version: store.MakeStamp(ms, 9001), Origin: "elsewhere"},
	} {
		if err := storetest.WriteUncheckedRecord(seeded, r); err != nil {
			t.Fatal(err)
		}
	}

	a := startInProcess(t, "a", "", func(c *config.Config) { c.DataDir = seeded })
	if got := a.store.QuarantinedAtOpen(); got != 2 {
		t.Fatalf("quarantined %d records at start, want 2", got)
	}
	if q := a.replica.Quarantine(); len(q) != 2 || q[0].Key != `"cfg/01000\xff"` || string(q[0].Value) != "poison" || !q[1].Deleted {
		t.Fatalf("quarantine %+v", q)
	}
	join := a.mesh.LocalMember().Address()

	fresh := startInProcess(t, "fresh", join, nil)
	testutil.Eventually(t, time.Minute, func() error {
		last, ok := fresh.replica.LastBootstrap()
		if ok && last.Records >= n && fresh.store.DigestRoot() == a.store.DigestRoot() {
			return nil
		}
		return fmt.Errorf("the new node's bootstrap is not complete (last %+v, %v)", last, ok)
	})

	peer := startInProcess(t, "peer", join, func(c *config.Config) { c.DataDir = missed })
	testutil.Eventually(t, time.Minute, func() error {
		peer.replica.SyncSoon()
		if peer.store.DigestRoot() != a.store.DigestRoot() {
			return errors.New("no anti-entropy with the peer: digest roots differ")
		}
		return nil
	})
	if _, ok := peer.replica.LastBootstrap(); ok {
		t.Fatal("the peer bootstrapped: the test wants anti-entropy")
	}
	for _, x := range []*Agent{a, fresh, peer} {
		keys, _, err := x.store.Keys("", "")
		if err != nil || len(keys) != n {
			t.Fatalf("%s holds %d keys, want %d (%v)", x.cfg.NodeName, len(keys), n, err)
		}
		if m := x.replica.Stats().Malformed; m != 0 {
			t.Fatalf("%s counted %d malformed records: the quarantined ones were sent", x.cfg.NodeName, m)
		}
	}

	// A record that is not valid UTF-8, pushed over QUIC as a node of the
	// earlier release would, between two valid ones.
	push := []replica.Record{
		{Key: "pushed/1", Value: []byte("v"), Version: uint64(a.store.Clock().Now()), Origin: "elsewhere"},
		{Key: "pushed/\xff", Value: []byte("v"), Version: uint64(a.store.Clock().Now()), Origin: "elsewhere"},
		{Key: "pushed/2", Value: []byte("v"), Version: uint64(a.store.Clock().Now()), Origin: "elsewhere"},
	}
	to := transport.Peer{Node: "peer", Addr: peer.mesh.LocalMember().Tags[gossip.MetaRPC]}
	var resp replica.PushResponse
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// As the replica calls: through the agents' policy, idempotent.
	if err := a.rpc.agents.Invoke(ctx, []transport.Peer{to}, replica.MethodPush, &replica.Delta{Records: push}, &resp, transport.Idempotent()); err != nil {
		t.Fatalf("push with one malformed record failed whole: %v", err)
	}
	if resp.Applied != 2 || peer.replica.Stats().Malformed != 1 {
		t.Fatalf("push applied %d, malformed %d: want 2 and 1", resp.Applied, peer.replica.Stats().Malformed)
	}
}

// fill writes recs into a new store in dir, closed before an agent opens
// it.
func fill(t *testing.T, dir string, recs []store.Record) {
	t.Helper()
	s, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(recs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
