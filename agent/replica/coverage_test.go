package replica

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/edgeplane/edgeplane/store"
)

// TestBehind is the rule a round starts with, on values.
func TestBehind(t *testing.T) {
	list := []NodeProgress{{Node: "a", Covered: 100, Collected: 50}, {Node: "b", Covered: 90}}
	for _, c := range []struct {
		name     string
		cover    map[string]uint64
		list     []NodeProgress
		mark, ho uint64
		away     bool
		reached  uint64
	}{
		{name: "covered past every collection", cover: map[string]uint64{"a": 60, "b": 10}, list: list, mark: 70, ho: 50,
			reached: 10},
		{name: "covered a member only before its own collections", cover: map[string]uint64{"a": 40, "b": 95}, list: list, mark: 99, ho: 50,
			away: true, reached: 40},
		{name: "a member it has no entry for counts for nothing", cover: map[string]uint64{"b": 95}, list: list, mark: 99, ho: 50,
			reached: 95},
		{name: "no entry at all: the mark stands in, current", cover: map[string]uint64{}, list: list, mark: 60, ho: 50,
			reached: 60},
		{name: "no entry at all: the mark stands in, old", cover: map[string]uint64{"z": 1}, list: list, mark: 40, ho: 50,
			away: true, reached: 40},
		{name: "a node of an earlier release sends no list", cover: map[string]uint64{"a": 1}, mark: 40, ho: 50,
			away: true, reached: 40},
		{name: "reached is no later than the mark", cover: map[string]uint64{"a": 60}, list: list, mark: 55, ho: 50,
			reached: 55},
	} {
		away, reached := behind(c.cover, c.list, c.mark, c.ho)
		if away != c.away || reached != c.reached {
			t.Errorf("%s: behind %v, reached %d; want %v, %d", c.name, away, reached, c.away, c.reached)
		}
	}
}

// TestBootstrapCoverage: the ranges a bootstrap merged from several
// senders cover each member as far as the least of them, and a member one
// sender lacks not at all.
func TestBootstrapCoverage(t *testing.T) {
	var p pullState
	p.takeProgress([]NodeProgress{{Node: "a", Covered: 10}, {Node: "b", Covered: 20}, {Node: "c", Covered: 5}})
	p.takeProgress([]NodeProgress{{Node: "a", Covered: 15}, {Node: "b", Covered: 12}})
	if want := map[string]uint64{"a": 10, "b": 12}; !maps.Equal(p.covered, want) {
		t.Fatalf("covered %v, want %v", p.covered, want)
	}
	var old pullState
	old.takeProgress(nil) // a sender of an earlier release
	old.takeProgress([]NodeProgress{{Node: "a", Covered: 15}})
	if len(old.covered) != 0 {
		t.Fatalf("after a sender that sent no list: %v", old.covered)
	}
}

// TestCoverageSurvivesRestart: a node of a site cut off, restarted during
// the cut, still knows how far it held what the other site held, so it
// is still behind when the sites meet. Its own collections' horizon
// survives too.
func TestCoverageSurvivesRestart(t *testing.T) {
	s := newSimNet(t, 5, 2)
	a, b := s.nodes["n0"], s.nodes["n1"]
	putIn(t, a, store.TableKV, "k", "v")
	s.syncAll(t)
	if err := b.r.synced(b.st.Clock().Now(), true); err != nil {
		t.Fatal(err)
	}
	b.r.noteCollected(7)
	if err := b.r.synced(b.st.Clock().Now(), true); err != nil {
		t.Fatal(err)
	}
	before := b.r.report(b.st.Clock().Now())
	r := New(Config{Store: b.st, Self: b.name, Broadcast: func(string, []byte) {}, Caller: simCaller{net: s, from: b.name},
		Peers: func() []Peer { return s.peersOf(b.name) }, Clock: b, Log: b.r.cfg.Log})
	if r.cover.of[a.name] == 0 || r.cover.of[a.name] != b.r.cover.of[a.name] || r.cover.collected != 7 {
		t.Fatalf("after a restart: coverage %v, collected %d; before %v", r.cover.of, r.cover.collected, before)
	}
}

// TestSitesBothCollect: both sites forget each other during a long cut
// and both delete and collect. They meet: each is behind the other, and
// the rule takes the one with the lower horizon for the one behind, so the
// mesh converges instead of refusing forever. The writes of both sides
// survive; the deletes of the side that reloads are the price (see the
// package documentation).
func TestSitesBothCollect(t *testing.T) {
	const ttl = 72 * time.Hour
	ctx := context.Background()
	s := newSimNet(t, 8, 4)
	a0, a1, b0, b1 := s.nodes["n0"], s.nodes["n1"], s.nodes["n2"], s.nodes["n3"]
	siteA, siteB := []*simNode{a0, a1}, []*simNode{b0, b1}
	advance := func(d time.Duration) {
		for _, n := range s.nodes {
			n.now = n.now.Add(d)
		}
		s.syncAll(t)
	}
	putIn(t, a0, store.TableKV, "gone/a", "deleted by A")
	putIn(t, b0, store.TableKV, "gone/b", "deleted by B")
	s.drain()
	s.syncAll(t)
	for _, n := range siteB {
		s.group[n.name] = 1
	}
	advance(time.Hour)
	deleteIn(t, a0, store.TableKV, "gone/a")
	deleteIn(t, b0, store.TableKV, "gone/b")
	putIn(t, a1, store.TableKV, "new/a", "A's")
	putIn(t, b1, store.TableKV, "new/b", "B's")
	s.drain()
	advance(ttl + time.Hour)
	s.reap(siteA, siteB, false)
	s.reap(siteB, siteA, false)
	advance(time.Hour) // A's clocks collect an hour later than B's
	for _, n := range siteB {
		if c, err := n.r.CollectTombstones(); err != nil || c != 1 {
			t.Fatalf("%s collected %d, %v", n.name, c, err)
		}
	}
	advance(time.Hour)
	for _, n := range siteA {
		if c, err := n.r.CollectTombstones(); err != nil || c != 1 {
			t.Fatalf("%s collected %d, %v", n.name, c, err)
		}
	}
	advance(time.Hour)
	s.group = map[string]int{}
	s.reap(siteA, siteB, true)
	s.reap(siteB, siteA, true)
	s.converge(t, ctx)
	for _, n := range s.names {
		for k, want := range map[string]string{"gone/a": "", "new/a": "A's", "new/b": "B's"} {
			if v := s.valueIn(t, n, store.TableKV, k); v != want {
				t.Errorf("%s: %s = %q, want %q", n, k, v, want)
			}
		}
	}
	t.Logf("B's collected delete, on n0 after the meeting: gone/b = %q", s.valueIn(t, "n0", store.TableKV, "gone/b"))
	for _, n := range siteB {
		if last, ok := n.r.LastBootstrap(); !ok || last.Reason != "away past the horizon" {
			t.Errorf("%s of B, whose horizon is lower, did not reload: %+v", n.name, last)
		}
	}
}

// legacyDigestRequest and legacyDigestResponse are the digest messages of
// the releases before members' progress.
type legacyDigestRequest struct {
	Root    uint64 `cbor:"1,keyasint"`
	Horizon uint64 `cbor:"2,keyasint,omitempty"`
	Mark    uint64 `cbor:"3,keyasint,omitempty"`
}

type legacyDigestResponse struct {
	Equal   bool     `cbor:"1,keyasint"`
	Buckets []uint64 `cbor:"2,keyasint,omitempty"`
	Horizon uint64   `cbor:"3,keyasint,omitempty"`
	Mark    uint64   `cbor:"4,keyasint,omitempty"`
	Refused bool     `cbor:"5,keyasint,omitempty"`
	Root    uint64   `cbor:"6,keyasint,omitempty"`
	Pulling bool     `cbor:"7,keyasint,omitempty"`
}

// TestProgressOnTheWire: the members' progress travels in fields of its
// own; an earlier release reads the rest of the digest messages as
// before, and what it sends decodes with no progress.
func TestProgressOnTheWire(t *testing.T) {
	list := []NodeProgress{{Node: "n1", Covered: 5, Holds: 4, At: 5, Collected: 2}}
	b, err := cbor.Marshal(DigestRequest{Root: 1, Horizon: 2, Mark: 3, Progress: list})
	if err != nil {
		t.Fatal(err)
	}
	var old legacyDigestRequest
	if err := cbor.Unmarshal(b, &old); err != nil || old != (legacyDigestRequest{1, 2, 3}) {
		t.Fatalf("an earlier release reads %+v, %v", old, err)
	}
	if b, err = cbor.Marshal(DigestResponse{Root: 6, Horizon: 3, Mark: 4, Refused: true, Progress: list}); err != nil {
		t.Fatal(err)
	}
	var oldResp legacyDigestResponse
	if err := cbor.Unmarshal(b, &oldResp); err != nil || oldResp.Root != 6 || oldResp.Horizon != 3 || oldResp.Mark != 4 || !oldResp.Refused {
		t.Fatalf("an earlier release reads %+v, %v", oldResp, err)
	}
	b, _ = cbor.Marshal(legacyDigestResponse{Root: 6, Mark: 4})
	var resp DigestResponse
	if err := cbor.Unmarshal(b, &resp); err != nil || resp.Progress != nil || resp.Mark != 4 {
		t.Fatalf("from an earlier release: %+v, %v", resp, err)
	}
	var back DigestRequest
	b, _ = cbor.Marshal(DigestRequest{Progress: list})
	if err := cbor.Unmarshal(b, &back); err != nil || len(back.Progress) != 1 || back.Progress[0] != list[0] {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

// TestEarlierReleaseHoldsCollection: a member of an earlier release
// reports no coverage, so the others keep their tombstones while it is a
// member, and Holdback names it; rounds with it still complete.
func TestEarlierReleaseHoldsCollection(t *testing.T) {
	const ttl = 72 * time.Hour
	s := newSimNet(t, 3, 3)
	old := s.nodes["n2"]
	s.legacy = map[string]bool{old.name: true}
	putIn(t, s.nodes["n0"], store.TableKV, "k", "v")
	s.drain()
	s.syncAll(t)
	deleteIn(t, s.nodes["n0"], store.TableKV, "k")
	s.drain()
	for _, n := range s.nodes {
		n.now = n.now.Add(ttl + time.Hour)
	}
	s.syncAll(t)
	s.syncAll(t)
	for _, name := range []string{"n0", "n1"} {
		n := s.nodes[name]
		if c, err := n.r.CollectTombstones(); err != nil || c != 0 {
			t.Fatalf("%s collected %d, %v, with a member of an earlier release", name, c, err)
		}
		if m, _, held := n.r.Holdback(); !held || m != old.name {
			t.Fatalf("%s holds its tombstones for %q (%v), want %s", name, m, held, old.name)
		}
	}
}

// TestLoneNodeYields: a node cut off alone, forgotten by the mesh (and
// forgetting it), deletes and collects while away, and so does the mesh.
// Each is behind the other, but the node was away alone (no complete sync
// since the mesh's horizon): it reloads, the mesh does not. The mesh's
// delete holds, every write survives.
func TestLoneNodeYields(t *testing.T) {
	const ttl = 72 * time.Hour
	ctx := context.Background()
	s := newSimNet(t, 9, 3)
	x, a, b := s.nodes["n0"], s.nodes["n1"], s.nodes["n2"]
	mesh := []*simNode{a, b}
	advance := func(d time.Duration) {
		for _, n := range s.nodes {
			n.now = n.now.Add(d)
		}
		s.syncAll(t)
	}
	putIn(t, a, store.TableKV, "m/k", "deleted by the mesh")
	putIn(t, x, store.TableKV, "x/k", "deleted by X")
	s.drain()
	s.syncAll(t)
	s.group[x.name] = 1
	advance(time.Hour)
	deleteIn(t, a, store.TableKV, "m/k")
	deleteIn(t, x, store.TableKV, "x/k")
	putIn(t, b, store.TableKV, "m/new", "the mesh's")
	putIn(t, x, store.TableKV, "x/new", "X's")
	s.drain()
	advance(ttl + time.Hour)
	s.reap(mesh, []*simNode{x}, false)
	s.reap([]*simNode{x}, mesh, false)
	advance(time.Hour)
	for _, n := range s.nodes {
		if c, err := n.r.CollectTombstones(); err != nil || c != 1 {
			t.Fatalf("%s collected %d, %v", n.name, c, err)
		}
	}
	advance(time.Hour)
	s.group = map[string]int{}
	s.reap(mesh, []*simNode{x}, true)
	s.reap([]*simNode{x}, mesh, true)
	s.converge(t, ctx)
	for _, n := range s.names {
		for k, want := range map[string]string{"m/k": "", "m/new": "the mesh's", "x/new": "X's"} {
			if v := s.valueIn(t, n, store.TableKV, k); v != want {
				t.Errorf("%s: %s = %q, want %q", n, k, v, want)
			}
		}
	}
	if last, ok := x.r.LastBootstrap(); !ok || last.Reason != "away past the horizon" {
		t.Errorf("X did not reload: %+v", last)
	}
	for _, n := range mesh {
		if last, ok := n.r.LastBootstrap(); ok {
			t.Errorf("%s reloaded from X: %+v", n.name, last)
		}
	}
	t.Logf("X's collected delete, on %s after the meeting: x/k = %q", a.name, s.valueIn(t, a.name, store.TableKV, "x/k"))
}
