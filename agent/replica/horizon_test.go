package replica

import (
	"context"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

// TestNoResurrectionAfterHorizon runs, on fake clocks, a node X that
// leaves and is forgotten by the others (and forgets them), while
// elsewhere key k is deleted and its tombstone collected and key m is
// written; X comes back past the horizon with its old copy of k. Every node, X included, ends with k absent and m present. X's own
// write made while away survives; another one, superseded by a later
// write elsewhere, does not. Either side may notice first: X calling a
// peer, or a peer calling X.
//
// It runs in kv and in a table declared by these tests alone.
func TestNoResurrectionAfterHorizon(t *testing.T) {
	for _, table := range []string{store.TableKV, simTable} {
		for _, xCalls := range []bool{true, false} {
			name := "peer calls X"
			if xCalls {
				name = "X calls a peer"
			}
			t.Run(store.TableName(table)+"/"+name, func(t *testing.T) { testNoResurrection(t, table, xCalls) })
		}
	}
}

func testNoResurrection(t *testing.T, table string, xCalls bool) {
	const ttl = 72 * time.Hour
	ctx := context.Background()
	s := newSimNet(t, 7, 3)
	x, a, b := s.nodes["n0"], s.nodes["n1"], s.nodes["n2"]
	advance := func(d time.Duration) {
		for _, n := range s.nodes {
			n.now = n.now.Add(d)
		}
	}
	put := func(n *simNode, key, value string) {
		t.Helper()
		putIn(t, n, table, key, value)
	}

	put(a, "k", "doomed")
	put(x, "x/old", "synced, deleted later")
	put(a, "keep", "untouched")
	s.drain()
	s.syncAll(t)

	// X leaves. Its writes while away stay with it.
	s.group[x.name] = 1
	advance(time.Hour)
	deleteIn(t, a, table, "k")
	deleteIn(t, b, table, "x/old")
	put(x, "x/new", "written while away")
	put(x, "shared", "X's, superseded")
	s.drain()
	s.syncAll(t)

	// Past the horizon: the others, which have forgotten X, collect the
	// tombstones; m is written and X's write to shared is superseded.
	advance(ttl + time.Hour)
	s.reap([]*simNode{a, b}, []*simNode{x}, false)
	s.reap([]*simNode{x}, []*simNode{a, b}, false)
	s.syncAll(t) // connected nodes sync every SyncInterval
	for _, n := range []*simNode{a, b} {
		if c, err := n.r.CollectTombstones(); err != nil || c != 2 {
			t.Fatalf("%s collected %d tombstones, %v", n.name, c, err)
		}
	}
	put(b, "m", "written while X was away")
	put(b, "shared", "later, elsewhere")
	s.drain()
	s.syncAll(t)
	if s.valueIn(t, x.name, table, "k") != "doomed" {
		t.Fatal("X should still hold its old copy of k")
	}

	// X comes back.
	s.group[x.name] = 0
	s.reap([]*simNode{a, b}, []*simNode{x}, true)
	s.reap([]*simNode{x}, []*simNode{a, b}, true)
	if xCalls {
		if _, err := x.r.SyncWith(ctx, Peer{Name: a.name}); err != errStale {
			t.Fatalf("X's sync with a peer past its horizon: %v, want errStale", err)
		}
	} else {
		if _, err := a.r.SyncWith(ctx, Peer{Name: x.name}); err != errRefused {
			t.Fatalf("a peer's sync with X: %v, want errRefused", err)
		}
		if _, err := b.r.SyncWith(ctx, Peer{Name: x.name}); err != errRefused {
			t.Fatalf("a second peer's sync with X: %v, want errRefused", err)
		}
	}
	if !x.r.stale.Load() {
		t.Fatal("X does not know it was away past the horizon")
	}
	x.r.round(ctx) // pulls a snapshot
	last, ok := x.r.LastBootstrap()
	if !ok || last.Reason != "away past the horizon" || last.Forgotten != 2 {
		t.Fatalf("X's bootstrap: %+v, %v (want k and x/old forgotten)", last, ok)
	}
	if x.r.stale.Load() || x.st.Horizon() < a.st.Horizon() {
		t.Fatalf("after the bootstrap: stale %v, horizon %v < peer's %v", x.r.stale.Load(), x.st.Horizon(), a.st.Horizon())
	}
	s.drain()
	s.syncAll(t)

	want := map[string]string{
		"k": "", "x/old": "", "m": "written while X was away", "keep": "untouched",
		"x/new": "written while away", "shared": "later, elsewhere",
	}
	for _, n := range s.names {
		for key, v := range want {
			if got := s.valueIn(t, n, table, key); got != v {
				t.Errorf("%s: %s = %q, want %q", n, key, got, v)
			}
		}
		if n != x.name && s.nodes[n].st.DigestRoot() != x.st.DigestRoot() {
			t.Errorf("%s and X differ after the sync", n)
		}
		if h := s.nodes[n].st.Horizon(); h != max(a.st.Horizon(), b.st.Horizon()) {
			t.Errorf("%s's horizon %v: syncing nodes take on the larger one", n, h)
		}
	}
}

// drain delivers gossip until none is queued, re-gossip included.
func (s *simNet) drain() {
	s.spreadWrites()
	for i := 0; i < 100 && len(s.queue) > 0; i++ {
		s.pump(all)
	}
}

// TestHorizonFromFastClockIgnored: a node whose clock ran far ahead
// collected its tombstones with a horizon in the future. Its peers do not
// take themselves for stale (which would make them drop data): they do
// not sync with it, from either side, and keep their marks and horizons.
func TestHorizonFromFastClockIgnored(t *testing.T) {
	ctx := context.Background()
	s := newSimNet(t, 13, 2)
	fast, sound := s.nodes["n0"], s.nodes["n1"]
	if _, err := sound.st.Put("k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	future := store.MakeStamp(uint64(fast.now.Add(365*24*time.Hour).UnixMilli()), 0)
	if err := fast.st.RaiseHorizon(future); err != nil {
		t.Fatal(err)
	}
	if _, err := sound.r.SyncWith(ctx, Peer{Name: fast.name}); err != errPeerClock {
		t.Fatalf("sync with the fast node: %v, want errPeerClock", err)
	}
	if _, err := fast.r.SyncWith(ctx, Peer{Name: sound.name}); err != errRefused {
		t.Fatalf("sync from the fast node: %v, want errRefused", err)
	}
	if sound.r.stale.Load() || sound.st.Horizon() != 0 || s.value(t, sound.name, "k") != "v" {
		t.Fatalf("the sound node: stale %v, horizon %v", sound.r.stale.Load(), sound.st.Horizon())
	}
}
