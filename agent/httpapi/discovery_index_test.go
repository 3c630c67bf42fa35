package httpapi

import (
	"testing"

	"github.com/edgeplane/edgeplane/agent/catalog"
)

func nodeInstance(node, id, name string, index uint64) catalog.NodeInstance {
	return catalog.NodeInstance{Node: node, Instance: catalog.Instance{ID: id, Name: name}, CreateIndex: index, ModifyIndex: index}
}

// removals raises a service's and a node's index when a record seen
// live is removed: at its tombstone's index, at the rename's, or at the
// store's index once the tombstone is collected; a stale snapshot changes
// nothing.
func TestRemovals(t *testing.T) {
	r := newRemovals()
	r.observe(&catalog.Snapshot{Instances: []catalog.NodeInstance{
		nodeInstance("n1", "w1", "web", 5), nodeInstance("n1", "a1", "api", 6), nodeInstance("n2", "d1", "db", 7),
	}, Checks: []catalog.NodeCheck{{Node: "n1", Check: catalog.Check{ID: "c1", ServiceID: "w1"}, ServiceName: "web", ModifyIndex: 8}},
		TableIndex: 8, Index: 8})
	if got := r.serviceIndex("web"); got != 8 {
		t.Fatalf("web before any removal: %d, want the first table index 8", got)
	}
	// web's check goes (tombstone 9), api is renamed to api2 (10), db's
	// tombstone is already collected.
	r.observe(&catalog.Snapshot{Instances: []catalog.NodeInstance{
		nodeInstance("n1", "w1", "web", 5), nodeInstance("n1", "a1", "api2", 10),
	}, Tombstones: []catalog.Tombstone{{Node: "n1", ID: "c1", Check: true, Index: 9}}, TableIndex: 10, Index: 12})
	for name, want := range map[string]uint64{"web": 9, "api": 10, "api2": 8, "db": 12} {
		if got := r.serviceIndex(name); got != want {
			t.Errorf("%s: %d, want %d", name, got, want)
		}
	}
	if got := r.nodeIndex("n2"); got != 12 {
		t.Errorf("n2: %d, want 12", got)
	}
	// A stale snapshot, which still shows db, changes nothing.
	r.observe(&catalog.Snapshot{Instances: []catalog.NodeInstance{nodeInstance("n2", "d1", "db", 7)}, TableIndex: 8, Index: 8})
	r.observe(&catalog.Snapshot{Instances: []catalog.NodeInstance{
		nodeInstance("n1", "w1", "web", 5), nodeInstance("n1", "a1", "api2", 10),
	}, TableIndex: 10, Index: 13})
	if got := r.serviceIndex("db"); got != 12 {
		t.Errorf("db after a stale snapshot: %d, want 12", got)
	}
}
