package replica

import (
	"context"
	"fmt"
	"testing"

	"github.com/edgeplane/edgeplane/store"
)

// pushAll has every node push what it has queued, until no node has
// anything queued.
func (s *simNet) pushAll(t *testing.T) {
	t.Helper()
	for range 20 {
		pending := false
		for _, name := range s.names {
			r := s.nodes[name].r
			r.pushes.mu.Lock()
			pending = pending || len(r.pushes.order) > 0
			r.pushes.mu.Unlock()
			r.pushQueued(context.Background())
		}
		if !pending {
			return
		}
	}
	t.Fatal("pushes never ended")
}

// TestPushesWhenGossipIsFull: when the broadcast queue has no room,
// writes go by batched pushes, which their receivers pass on to the
// nodes the push did not name: every write reaches every node of five
// without gossip or anti-entropy, none is left behind, and each node
// receives each write at most three times.
func TestPushesWhenGossipIsFull(t *testing.T) {
	s := newSimNet(t, 31, 5)
	for _, name := range s.names {
		r := s.nodes[name].r
		r.cfg.BroadcastQueued = func() int { return r.cfg.MaxGossipQueue }
	}
	const writes = 200
	for i := range writes {
		putIn(t, s.nodes[s.names[i%5]], store.TableKV, fmt.Sprintf("k%03d", i), "v")
	}
	s.spreadWrites()
	s.pushAll(t)
	if len(s.queue) != 0 {
		t.Fatalf("%d gossip messages sent with a full broadcast queue", len(s.queue))
	}
	s.sameEverywhere(t)
	if got := len(contents(t, s.nodes["n0"].st)); got != writes {
		t.Fatalf("n0 holds %d records, want %d", got, writes)
	}
	var dup, left uint64
	for _, name := range s.names {
		st := s.nodes[name].r.Stats()
		dup += st.Duplicate
		left += st.PushLeft
	}
	if left != 0 {
		t.Errorf("%d records left to anti-entropy", left)
	}
	// Each write reaches three peers from its writer; each of them
	// passes it on to the fourth alone, which passes it on to nobody.
	if dup > 2*writes {
		t.Errorf("%d duplicate deliveries for %d writes: pushes go to nodes named as holding the records", dup, writes)
	}
}

// TestPushSkipsFailedPeer: a push whose peer fails is made to a spare
// peer instead, and the records still reach every live node.
func TestPushSkipsFailedPeer(t *testing.T) {
	s := newSimNet(t, 32, 5)
	for _, name := range s.names {
		r := s.nodes[name].r
		r.cfg.BroadcastQueued = func() int { return r.cfg.MaxGossipQueue }
	}
	// Two of n0's four peers fail: at least one of the three it pushes to.
	s.down = map[string]bool{"n3": true, "n4": true}
	putIn(t, s.nodes["n0"], store.TableKV, "k", "v")
	s.spreadWrites()
	s.pushAll(t)
	for _, name := range []string{"n1", "n2"} {
		if got := s.value(t, name, "k"); got != "v" {
			t.Fatalf("%s: k = %q", name, got)
		}
	}
	st := s.nodes["n0"].r.Stats()
	if st.PushFailures == 0 || st.PushLeft != 0 || st.Pushed != 1 {
		t.Fatalf("n0: %d pushed, %d failed calls, %d left; want 1, some, 0", st.Pushed, st.PushFailures, st.PushLeft)
	}
}
