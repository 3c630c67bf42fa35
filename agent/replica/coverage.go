package replica

import (
	"math"
	"slices"
	"sync"

	"github.com/edgeplane/edgeplane/store"
)

// NodeProgress is what a node knows of one member's progress. Every
// anti-entropy round starts with both sides' lists (one entry per member
// the sender remembers, the sender included), and so does every bootstrap
// stream; a node of an earlier release sends none.
type NodeProgress struct {
	Node string `cbor:"1,keyasint"`
	// Covered: the sender held everything Node held as of this stamp
	// (Node's clock then). The sender's own entry is its clock.
	Covered uint64 `cbor:"2,keyasint,omitempty"`
	// Holds is Node's latest coverage as Node reported it, At Node's
	// clock when it did (zero: not heard): Node held then every write any
	// member held before Holds.
	Holds uint64 `cbor:"3,keyasint,omitempty"`
	At    uint64 `cbor:"4,keyasint,omitempty"`
	// Collected is, as of At, the horizon of the tombstones Node
	// collected itself (not those it took on from peers).
	Collected uint64 `cbor:"5,keyasint,omitempty"`
}

// coverage is what this node knows of every member's progress (see the
// package documentation, "Tombstones and the horizon").
type coverage struct {
	mu sync.Mutex
	// of: this node held everything each node held as of that node's
	// stamp. Entries of forgotten members stay: a member that comes back
	// is judged by them.
	of map[string]uint64
	// heard is each member's latest report.
	heard map[string]heardFrom
	// collected is the horizon of the tombstones this node collected
	// itself; it is saved as this node's own entry of of.
	collected uint64
}

type heardFrom struct{ holds, at, collected uint64 }

// noKeep is keepOwn when no stale bootstrap is due.
const noKeep = math.MaxUint64

// loadCoverage reads the coverage saved with the sync mark.
func (r *Replica) loadCoverage() {
	r.cover.of, r.cover.heard = map[string]uint64{}, map[string]heardFrom{}
	r.keepOwn.Store(noKeep)
	saved, err := r.cfg.Store.Coverage()
	if err != nil {
		r.cfg.Log.Error("reading the saved replication coverage; starting from none", "err", err)
	}
	for n, s := range saved {
		r.cover.of[n] = uint64(s)
	}
	r.cover.collected = r.cover.of[r.cfg.Self]
	delete(r.cover.of, r.cfg.Self)
}

// reloaded forgets the horizon of this node's own collections once it
// has reloaded from a peer: its store is the peer's now, and holds again
// what it collected (with its own writes since it was cut off), so no
// one is behind it for those.
func (r *Replica) reloaded() {
	r.cover.mu.Lock()
	r.cover.collected = 0
	r.cover.mu.Unlock()
}

// noteCollected records that this node collected tombstones itself below
// horizon.
func (r *Replica) noteCollected(horizon uint64) {
	r.cover.mu.Lock()
	r.cover.collected = max(r.cover.collected, horizon)
	r.cover.mu.Unlock()
}

// saveCoverage saves the coverage; it runs when the sync mark is saved.
func (r *Replica) saveCoverage() error {
	r.cover.mu.Lock()
	c := make(map[string]store.Stamp, len(r.cover.of))
	for n, s := range r.cover.of {
		c[n] = store.Stamp(s)
	}
	c[r.cfg.Self] = store.Stamp(r.cover.collected)
	r.cover.mu.Unlock()
	return r.cfg.Store.SetCoverage(c)
}

// members returns the members the mesh remembers, this node included,
// sorted, each once.
func (r *Replica) members() []string {
	var names []string
	if r.cfg.Members != nil {
		names = r.cfg.Members()
	} else {
		for _, p := range r.cfg.Peers() {
			names = append(names, p.Name)
		}
	}
	names = append(names, r.cfg.Self)
	slices.Sort(names)
	return slices.Compact(names)
}

// holds is this node's coverage among members: the least stamp up to
// which it held what each other member held (zero for one it knows
// nothing of); now when it remembers no other. Call with c.mu held.
func (c *coverage) holds(self string, members []string, now uint64) uint64 {
	h := now
	for _, m := range members {
		if m != self {
			h = min(h, c.of[m])
		}
	}
	return h
}

// report returns this node's list of the members' progress (see
// NodeProgress); its own entry is stamped at.
func (r *Replica) report(at store.Stamp) []NodeProgress {
	members := r.members()
	c := &r.cover
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]NodeProgress, 0, len(members))
	for _, m := range members {
		if m == r.cfg.Self {
			out = append(out, NodeProgress{Node: m, Covered: uint64(at), Holds: c.holds(m, members, uint64(at)), At: uint64(at),
				Collected: c.collected})
			continue
		}
		h := c.heard[m]
		out = append(out, NodeProgress{Node: m, Covered: c.of[m], Holds: h.holds, At: h.at, Collected: h.collected})
	}
	return out
}

// learn takes a peer's list: each member's latest reported coverage and,
// when covered is set (this node now holds everything the peer held as
// of upTo: a complete round, an equal digest, a bootstrap), the peer's
// coverage, no later than upTo, and upTo for the peer itself when it is
// named (a peer of an earlier release sends no list).
func (r *Replica) learn(peer string, theirs []NodeProgress, covered bool, upTo store.Stamp) {
	c := &r.cover
	c.mu.Lock()
	defer c.mu.Unlock()
	if covered && peer != "" && peer != r.cfg.Self {
		c.raise(peer, uint64(upTo))
	}
	for _, p := range theirs {
		if p.Node == r.cfg.Self {
			continue
		}
		if p.At > c.heard[p.Node].at {
			c.heard[p.Node] = heardFrom{holds: p.Holds, at: p.At, collected: p.Collected}
		}
		if covered {
			c.raise(p.Node, min(p.Covered, uint64(upTo)))
		}
	}
}

// raise moves this node's coverage of node up to s. A zero s makes no
// entry: a node this node has no entry for counts for nothing in the
// rule a round starts with (see behind). Call with c.mu held.
func (c *coverage) raise(node string, s uint64) {
	if s > c.of[node] {
		c.of[node] = s
	}
}

// coveredBy returns a list's Covered entries by node.
func coveredBy(list []NodeProgress) map[string]uint64 {
	m := make(map[string]uint64, len(list))
	for _, p := range list {
		m[p.Node] = p.Covered
	}
	return m
}

// behind is the rule a round starts with (see the package documentation):
// whether a node may lack deletes that a member of the other side's list
// collected. It is when, for one of them, the node held what that member
// held only as of a stamp before the horizon of that member's own
// collections: a node back from a cut, alone or with its whole site (the
// syncs within the site kept its mark current). cover is the node's
// coverage, list the other side's. When cover has no entry for any
// member of the list (a node of an earlier release, or one that has not
// synced since it was upgraded), the node's mark stands in for its
// coverage, against the other side's horizon. reached is how far the node
// held what the members of the list held, no later than its mark.
func behind(cover map[string]uint64, list []NodeProgress, mark, theirHorizon uint64) (away bool, reached uint64) {
	reached, known := mark, false
	for _, p := range list {
		c, ok := cover[p.Node]
		if !ok {
			continue
		}
		known, reached = true, min(reached, c)
		away = away || c < p.Collected
	}
	if !known {
		away = mark < theirHorizon
	}
	return away, reached
}

// meetsBehind applies the rule to both sides of a round: mine is this
// node's list (see report), theirs the peer's (nil from a node of an
// earlier release); caller says whether this node opened the round.
//
// A side whose last complete sync (its mark) is older than the other's
// horizon was away alone: when only one side was, it is the one behind,
// so that one node back from a long absence never makes the mesh reload
// from it. Otherwise, when each side is behind the other (both sides of a
// cut forgot each other and collected deletes), the side with the lower
// horizon is taken for the one behind (the caller, on a tie), so that one
// of them pulls a snapshot and the mesh converges. A collection horizon of
// theirs that
// comes from a clock running fast (see plausibleHorizon) counts for
// nothing: it must not make sound nodes drop their data.
func (r *Replica) meetsBehind(caller bool, mine, theirs []NodeProgress, myMark, theirMark, theirHorizon uint64) (me, them bool, reached uint64) {
	myHorizon := uint64(r.cfg.Store.Horizon())
	sound := slices.Clone(theirs)
	for i := range sound {
		if !r.plausibleHorizon(sound[i].Collected) {
			sound[i].Collected = 0
		}
	}
	r.cover.mu.Lock()
	me, reached = behind(r.cover.of, sound, myMark, theirHorizon)
	r.cover.mu.Unlock()
	if theirs == nil {
		them = theirMark < myHorizon
	} else {
		them, _ = behind(coveredBy(theirs), mine, theirMark, myHorizon)
	}
	myAlone, theirAlone := myMark < theirHorizon, theirMark < myHorizon
	switch {
	case myAlone != theirAlone:
		me, them = myAlone, theirAlone
	case me && them:
		mineIs := myHorizon < theirHorizon || myHorizon == theirHorizon && caller
		me, them = mineIs, !mineIs
	}
	return me, them, reached
}

// collectable is the stamp below which this node may collect tombstones
// as far as the members go: the least of the holds the members it
// remembers last reported, its own now included (zero while one has
// reported none); this node's clock when it remembers no other. member
// names the one that holds it back: the one this node's coverage or
// whose report is the oldest.
func (r *Replica) collectable() (bound uint64, member string) {
	bound = uint64(r.cfg.Store.Clock().Now())
	c := &r.cover
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range r.members() {
		if m == r.cfg.Self {
			continue
		}
		if h := min(c.of[m], c.heard[m].holds); h < bound || member == "" {
			bound, member = min(h, bound), m
		}
	}
	return bound, member
}

// keepOwnAfter is the stamp after which a stale node keeps its own writes
// the snapshot lacks: the earlier of its mark and how far it held what
// the peer's members held when it found itself behind.
func (r *Replica) keepOwnAfter() store.Stamp {
	return store.Stamp(min(r.mark.Load(), r.keepOwn.Load()))
}
