package httpapi

import "sync"

// MemberIndex numbers membership changes for blocking discovery reads: a
// node's serfHealth and node meta change with its member, not with a
// record of the store, so the agent bumps a node's local index here at
// each membership event of it. Indexes are local to this agent and never
// replicated; each bump is past every index handed out before, store
// indexes included (the caller passes the store's index as a floor), so
// that a result holding the node sees its X-Consul-Index rise.
//
// The zero value is not ready: use NewMemberIndex. A nil *MemberIndex
// numbers nothing: every node is at index 0 and nothing wakes.
type MemberIndex struct {
	mu      sync.Mutex
	last    uint64
	nodes   map[string]uint64
	changed chan struct{} // closed at the next bump
}

// NewMemberIndex returns an index with no change yet.
func NewMemberIndex() *MemberIndex {
	return &MemberIndex{nodes: map[string]uint64{}, changed: make(chan struct{})}
}

// Bump records a membership change of each node, at an index past floor
// and past every earlier bump, and wakes the reads waiting on membership.
// It returns that index.
func (x *MemberIndex) Bump(floor uint64, nodes ...string) uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.last = max(x.last, floor) + 1
	for _, n := range nodes {
		x.nodes[n] = x.last
	}
	close(x.changed)
	x.changed = make(chan struct{})
	return x.last
}

// Node returns the index of node's last membership change, 0 for none.
func (x *MemberIndex) Node(node string) uint64 {
	if x == nil {
		return 0
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.nodes[node]
}

// Max returns the index of the last membership change of any node (left
// and forgotten ones included), 0 for none.
func (x *MemberIndex) Max() uint64 {
	if x == nil {
		return 0
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.last
}

// Changed returns a channel closed at the next bump; nil (never closed)
// for a nil index.
func (x *MemberIndex) Changed() <-chan struct{} {
	if x == nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.changed
}
