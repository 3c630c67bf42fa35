package httpapi

import (
	"sync"

	"github.com/edgeplane/edgeplane/agent/catalog"
)

// removals remembers when each service and node last lost a record, so
// that a discovery result's index rises when an instance, a check or a
// whole service goes away. A tombstone keeps its key, not its value: it
// names no service. removals therefore keeps, from the snapshots the
// reads take, the service name of every live record it saw, and when a
// later snapshot shows that record's tombstone (or no trace of it: the
// tombstone was collected) it raises the service's and the node's
// "removed" index to the tombstone's index (to the snapshot's store index
// when the tombstone is gone).
//
// A record added and removed between two reads was never in any result,
// and needs no index. After a restart nothing is remembered: every index
// then starts at base, the table's index at the first read, which is at
// least the index of every earlier removal.
type removals struct {
	mu      sync.Mutex
	started bool
	base    uint64 // the table's index at the first snapshot
	seen    uint64 // the store index of the newest snapshot taken in
	table   uint64 // and its table index
	names   map[recordKey]namedAt
	service map[string]uint64 // service name → index of its last removal
	node    map[string]uint64 // node name → index of its last removal
}

// recordKey identifies an instance or check record of Table.
type recordKey struct {
	node, id string
	check    bool
}

// namedAt is a live record's service name, as of its modify index.
type namedAt struct {
	name  string
	index uint64
}

func newRemovals() *removals {
	return &removals{names: map[recordKey]namedAt{}, service: map[string]uint64{}, node: map[string]uint64{}}
}

// observe takes in a snapshot; one older than the newest taken in is
// ignored.
func (r *removals) observe(snap *catalog.Snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if snap.Index < r.seen || r.started && snap.Index == r.seen && snap.TableIndex == r.table {
		return // older, or the same table (every write of it has a new index)
	}
	r.seen, r.table = snap.Index, snap.TableIndex
	if !r.started {
		r.started, r.base = true, max(snap.TableIndex, 1)
	}
	live := make(map[recordKey]bool, len(snap.Instances)+len(snap.Checks))
	see := func(k recordKey, name string, index uint64) {
		live[k] = true
		old, ok := r.names[k]
		if ok && old.name != name && index > old.index {
			r.remove(k, old.name, index) // renamed in place
		}
		if !ok || index >= old.index {
			r.names[k] = namedAt{name, index}
		}
	}
	for i := range snap.Instances {
		in := &snap.Instances[i]
		see(recordKey{in.Node, in.ID, false}, in.Name, in.ModifyIndex)
	}
	for i := range snap.Checks {
		c := &snap.Checks[i]
		see(recordKey{c.Node, c.ID, true}, c.ServiceName, c.ModifyIndex)
	}
	for _, t := range snap.Tombstones {
		k := recordKey{t.Node, t.ID, t.Check}
		r.node[t.Node] = max(r.node[t.Node], t.Index)
		if old, ok := r.names[k]; ok && t.Index > old.index {
			r.remove(k, old.name, t.Index)
			delete(r.names, k)
		}
		live[k] = true
	}
	for k, n := range r.names {
		if !live[k] { // its tombstone was collected
			r.remove(k, n.name, snap.Index)
			delete(r.names, k)
		}
	}
}

func (r *removals) remove(k recordKey, name string, index uint64) {
	if name != "" {
		r.service[name] = max(r.service[name], index)
	}
	r.node[k.node] = max(r.node[k.node], index)
}

// serviceIndex returns the index of name's last removal, at least base.
func (r *removals) serviceIndex(name string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return max(r.base, r.service[name])
}

// nodeIndex returns the index of node's last removal, at least base.
func (r *removals) nodeIndex(node string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return max(r.base, r.node[node])
}
