package replica

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

// TestNoResurrectionAcrossSites runs, on fake clocks, two sites of two
// nodes; site B is cut off for twice tombstone_ttl. Site A deletes keys,
// among them one that B wrote before the cut, and collects its tombstones
// as soon as the rule lets it; B writes other keys all along the cut.
// After the heal no deleted key exists on any node and every write B made
// during the cut survives, on every node.
//
// Either the sites forget each other during the cut (reconnect_timeout
// shorter than the cut: A collects, and B's nodes find, on meeting A,
// that they are behind, and reload keeping their own writes), or they
// remember each other (A holds its tombstones for B, names the member it
// holds them for, and collects them once B has synced past them).
func TestNoResurrectionAcrossSites(t *testing.T) {
	for _, forget := range []bool{true, false} {
		name := "sites remember each other"
		if forget {
			name = "sites forget each other"
		}
		t.Run(name, func(t *testing.T) { testSites(t, forget) })
	}
}

func testSites(t *testing.T, forget bool) {
	const ttl = 72 * time.Hour
	ctx := context.Background()
	s := newSimNet(t, 21, 4)
	a0, a1, b0, b1 := s.nodes["n0"], s.nodes["n1"], s.nodes["n2"], s.nodes["n3"]
	siteA, siteB := []*simNode{a0, a1}, []*simNode{b0, b1}
	advance := func(d time.Duration) {
		for _, n := range s.nodes {
			n.now = n.now.Add(d)
		}
		s.syncAll(t) // the nodes that reach each other sync every SyncInterval
	}
	doomed := []string{"d/0", "d/1", "d/2", "b/old"}
	for i, k := range doomed[:3] {
		putIn(t, siteA[i%2], store.TableKV, k, "doomed")
	}
	putIn(t, b0, store.TableKV, "b/old", "B's, deleted by A during the cut")
	putIn(t, b1, simTable, "d/3", "doomed")
	s.drain()
	s.syncAll(t)

	// The cut. A deletes at once; B writes from its first hour to its
	// last.
	for _, n := range siteB {
		s.group[n.name] = 1
	}
	written := map[string]string{} // B's writes: key, value
	writeB := func(round int) {
		for _, n := range siteB {
			k := fmt.Sprintf("b/%s/%d", n.name, round)
			written[k] = "written by " + n.name + " during the cut"
			putIn(t, n, store.TableKV, k, written[k])
		}
	}
	advance(time.Hour)
	for _, k := range doomed {
		deleteIn(t, a0, store.TableKV, k)
	}
	deleteIn(t, a1, simTable, "d/3")
	writeB(0)
	s.drain()
	advance(time.Hour)
	advance(ttl) // past tombstone_ttl
	if forget {
		s.reap(siteA, siteB, false)
		s.reap(siteB, siteA, false)
	}
	writeB(1)
	s.drain()
	advance(time.Hour)
	for _, n := range siteA {
		c, err := n.r.CollectTombstones()
		switch {
		case err != nil:
			t.Fatal(err)
		case forget && c != len(doomed)+1:
			t.Fatalf("%s collected %d tombstones, want %d: B is forgotten", n.name, c, len(doomed)+1)
		case !forget && c != 0:
			t.Fatalf("%s collected %d tombstones while B, which it remembers, is away", n.name, c)
		}
		if m, _, held := n.r.Holdback(); !forget && (!held || s.group[m] != 1) {
			t.Fatalf("%s holds its tombstones for %q (%v), want a node of B", n.name, m, held)
		}
	}
	advance(ttl - 3*time.Hour) // the cut has lasted twice tombstone_ttl
	writeB(2)
	s.drain()
	s.syncAll(t)

	// The heal.
	s.group = map[string]int{}
	if forget {
		s.reap(siteA, siteB, true)
		s.reap(siteB, siteA, true)
	}
	s.converge(t, ctx)
	for _, n := range s.nodes {
		last, ok := n.r.LastBootstrap()
		switch stale := ok && last.Reason == "away past the horizon"; {
		case forget && siteOf(n, siteB) && !stale:
			t.Errorf("%s of B did not reload from A: %+v, %v", n.name, last, ok)
		case (!forget || siteOf(n, siteA)) && ok:
			t.Errorf("%s reloaded: %+v", n.name, last)
		}
	}
	if !forget {
		// B synced past A's deletes: A's tombstones may go now, and B's
		// nodes collect theirs too.
		advance(time.Minute)
		advance(time.Minute)
		for _, n := range s.nodes {
			if c, err := n.r.CollectTombstones(); err != nil || c != len(doomed)+1 {
				t.Errorf("%s collected %d tombstones after the heal, %v; want %d", n.name, c, err, len(doomed)+1)
			}
			if m, _, held := n.r.Holdback(); held {
				t.Errorf("%s still holds its tombstones for %s", n.name, m)
			}
		}
		s.converge(t, ctx)
	}
	for _, n := range s.names {
		for _, k := range doomed {
			if v := s.valueIn(t, n, store.TableKV, k); v != "" {
				t.Errorf("%s: deleted key %s came back: %q", n, k, v)
			}
		}
		if v := s.valueIn(t, n, simTable, "d/3"); v != "" {
			t.Errorf("%s: deleted key %s|d/3 came back: %q", n, simTable, v)
		}
		for k, want := range written {
			if v := s.valueIn(t, n, store.TableKV, k); v != want {
				t.Errorf("%s: %s = %q, want %q", n, k, v, want)
			}
		}
	}
}

func siteOf(n *simNode, site []*simNode) bool { return slices.Contains(site, n) }

// converge runs rounds (anti-entropy, or a bootstrap for a stale node) on
// every node, in turn, until no node is stale and every digest root is
// equal.
func (s *simNet) converge(t *testing.T, ctx context.Context) {
	t.Helper()
	for range 20 {
		for _, n := range s.names {
			s.nodes[n].r.round(ctx)
			s.drain()
		}
		done := true
		for _, n := range s.names {
			done = done && !s.nodes[n].r.stale.Load() && s.nodes[n].st.DigestRoot() == s.nodes[s.names[0]].st.DigestRoot()
		}
		if done {
			return
		}
	}
	t.Fatal("no convergence after 20 rounds on each node")
}
