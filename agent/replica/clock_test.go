package replica

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

// syncAll runs anti-entropy between every ordered pair of nodes.
func (s *simNet) syncAll(t *testing.T) {
	t.Helper()
	for _, a := range s.names {
		for _, b := range s.names {
			if a != b && !s.cut(a, b) {
				if _, err := s.nodes[a].r.SyncWith(context.Background(), Peer{Name: b, Addr: b}); err != nil {
					t.Fatalf("sync %s->%s: %v", a, b, err)
				}
			}
		}
	}
}

func (s *simNet) value(t *testing.T, node, key string) string {
	t.Helper()
	e, found, _, err := s.nodes[node].st.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	if !found || e.Deleted {
		return ""
	}
	return string(e.Value)
}

// TestClockSkew: one node's clock runs 2 hours ahead and another reads
// 1970. Writes still replicate, the fast node cannot win with stamps
// beyond the drift bound, a write made later on a correct node wins
// everywhere, and the mesh converges.
func TestClockSkew(t *testing.T) {
	s := newSimNet(t, 42, 5)
	fast, slow := s.nodes["n0"], s.nodes["n1"]
	fast.now = fast.now.Add(2 * time.Hour)
	slow.now = time.Unix(0, 0)
	advance := func(d time.Duration) {
		for _, n := range s.nodes {
			n.now = n.now.Add(d)
		}
	}

	// A record stamped two hours ahead is rejected and counted by a node
	// with a correct clock, and changes nothing there.
	correct := s.nodes["n2"]
	ahead := store.MakeStamp(uint64(correct.now.Add(2*time.Hour).UnixMilli()), 0)
	resp, _ := correct.r.HandlePush(context.Background(), &Delta{Records: []Record{{Key: "k", Value: []byte("future"), Version: uint64(ahead), Origin: "n0"}}})
	if resp.Rejected != 1 || correct.r.Stats().Rejected != 1 || s.value(t, "n2", "k") != "" {
		t.Fatalf("a record two hours ahead: %+v, value %q", resp, s.value(t, "n2", "k"))
	}

	// The skewed nodes learn their peers' time from the readings that
	// travel with every call, and shift their clocks to it; the fast
	// node's offset from its peers' median says by how much.
	if off, n := fast.r.ClockOffset(); off != 0 || n != 0 {
		t.Fatalf("offset before any reading: %v over %d", off, n)
	}
	s.syncAll(t)
	if off, n := fast.r.ClockOffset(); off > -time.Hour || n < 3 {
		t.Fatalf("the fast node's offset from its peers: %v over %d readings, want about -2h", off, n)
	}
	if fast.r.MaxClockDrift() <= 0 {
		t.Fatalf("max clock drift %v", fast.r.MaxClockDrift())
	}
	for _, n := range []*simNode{fast, slow} {
		if off := n.st.Clock().WallOffset(); off == 0 {
			t.Fatalf("%s did not shift its clock", n.name)
		}
	}

	advance(time.Second)
	if _, err := fast.st.Put("k", []byte("from-fast"), 0); err != nil {
		t.Fatal(err)
	}
	advance(time.Second)
	if _, err := slow.st.Put("k2", []byte("from-slow"), 0); err != nil {
		t.Fatal(err)
	}
	s.pump(all)
	s.syncAll(t)
	for _, name := range s.names {
		if s.value(t, name, "k") != "from-fast" || s.value(t, name, "k2") != "from-slow" {
			t.Fatalf("%s: k=%q k2=%q: the skewed nodes' writes did not replicate", name, s.value(t, name, "k"), s.value(t, name, "k2"))
		}
	}

	advance(time.Second)
	if _, err := correct.st.Put("k", []byte("later-on-correct"), 0); err != nil {
		t.Fatal(err)
	}
	s.pump(all)
	s.syncAll(t)
	root := correct.st.DigestRoot()
	for _, name := range s.names {
		if got := s.value(t, name, "k"); got != "later-on-correct" {
			t.Fatalf("%s: k=%q, want the later write of the correct node", name, got)
		}
		if s.nodes[name].st.DigestRoot() != root {
			t.Fatalf("%s has not converged", name)
		}
	}
}

// TestClockWalkForwardRejected: a sender repeats records each stamped just
// inside max_clock_drift ahead of the receiver's clock as it last saw it.
// Measured from the hybrid clock, each would be accepted and move the
// bound further; measured from the wall clock, the first is accepted, the
// rest are rejected and counted, and the clock stays within the bound.
func TestClockWalkForwardRejected(t *testing.T) {
	s := newSimNet(t, 7, 1)
	n := s.nodes["n0"]
	drift := 5 * time.Minute // the default MaxClockDrift
	const packets = 14
	for i := range packets {
		ahead := n.st.Clock().Peek().Time().Add(drift - 30*time.Second)
		if w := n.now; ahead.Before(w) {
			ahead = w.Add(drift - 30*time.Second)
		}
		stamp := store.MakeStamp(uint64(ahead.UnixMilli()), 0)
		n.r.HandlePush(context.Background(), &Delta{Records: []Record{{
			Key: "walk/" + strconv.Itoa(i), Value: []byte("x"), Version: uint64(stamp), Origin: "mallory"}}})
	}
	if got := n.r.Stats().Rejected; got != packets-1 {
		t.Errorf("rejected %d records, want %d", got, packets-1)
	}
	if ahead := n.st.Clock().Peek().Time().Sub(n.now); ahead > drift {
		t.Errorf("the clock runs %v past the wall clock, more than max_clock_drift %v", ahead, drift)
	}
	if _, err := n.st.Put("local", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if ahead := n.st.Clock().Peek().Time().Sub(n.now); ahead > drift {
		t.Errorf("a local write stamped %v past the wall clock", ahead)
	}
}
