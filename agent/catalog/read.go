package catalog

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/edgeplane/edgeplane/store"
)

// The read side: every node's records of Table, as this node's replica
// holds them, for the discovery endpoints (/v1/catalog/service,
// /v1/health/...). Reads are local and see one store transaction.

// NodeInstance is a service instance of a node, with the local indexes of
// its record.
type NodeInstance struct {
	Node string
	Instance
	CreateIndex, ModifyIndex uint64
}

// NodeCheck is a check of a node, with the name of the service it checks
// ("" for a check of the node itself) and the local indexes of its
// record.
type NodeCheck struct {
	Node string
	Check
	ServiceName              string
	CreateIndex, ModifyIndex uint64
}

// Tombstone is a removed instance or check of a node, as its tombstone
// in Table shows it: a tombstone keeps the key, not the value, so it
// names no service.
type Tombstone struct {
	Node, ID string
	Check    bool // a check's; an instance's otherwise
	// Index is the tombstone's local modify index.
	Index uint64
}

// Snapshot is Table as one read transaction saw it.
type Snapshot struct {
	// Instances are ordered by node name, then service ID; Checks by node
	// name, then check ID.
	Instances []NodeInstance
	Checks    []NodeCheck
	// Tombstones are the removed instances and checks whose tombstones
	// Table still holds, in key order.
	Tombstones []Tombstone
	// TableIndex is the largest local modify index of a record of Table,
	// tombstones included (0 when it has none).
	TableIndex uint64
	// Index is the store's index once the read was done: at least
	// TableIndex, at least 1, and never lower than an earlier read's.
	Index uint64
	// Malformed counts the records skipped: a key that is not of Table's
	// form, a value that does not decode or breaks the rules of a
	// registration, an instance whose ID is not its key's, a check of a
	// service its node has no instance of.
	Malformed int
}

// readFeedQueue is the size of a blocking read's subscription to the
// change feed; past it the read rescans Table.
const readFeedQueue = 64

// Read reads every node's instances and checks from Table. With after > 0
// it is a blocking query: it first waits until a record of Table changed
// at a local index past after, ctx ends, or the store closes, then reads.
// It waits for any change of Table, not only of the records the caller
// will look at.
func Read(ctx context.Context, s *store.Store, after uint64) (Snapshot, error) {
	return NewReader(s).Read(ctx, after)
}

// waitTable waits for a change of Table past after, or for a resync of
// sub (changes were dropped: the caller rereads). It returns false when
// ctx ended or the store closed.
func waitTable(ctx context.Context, sub *store.Subscription, after uint64) bool {
	for {
		changes, resync, err := sub.Next(ctx)
		if err != nil {
			return false
		}
		if resync {
			return true
		}
		for i := range changes {
			if changes[i].Table == Table && changes[i].Index > after {
				return true
			}
		}
	}
}

// errSkip marks a record read skips.
var errSkip = errors.New("skip")

func read(s *store.Store) (Snapshot, error) {
	var snap Snapshot
	err := s.View(func(tx *store.Tx) error {
		names := map[[2]string]string{} // node, service ID → name
		err := tx.Scan(Table, servicePrefix, func(e *store.Entry) error {
			snap.TableIndex = max(snap.TableIndex, e.ModifyIndex)
			if e.Deleted {
				snap.addTombstone(e, false)
				return nil
			}
			in, node, err := decodeInstanceRecord(e)
			if err != nil {
				snap.Malformed++
				return nil
			}
			names[[2]string{node, in.ID}] = in.Name
			snap.Instances = append(snap.Instances, NodeInstance{Node: node, Instance: in, CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex})
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Scan(Table, checkPrefix, func(e *store.Entry) error {
			snap.TableIndex = max(snap.TableIndex, e.ModifyIndex)
			if e.Deleted {
				snap.addTombstone(e, true)
				return nil
			}
			c, node, err := decodeCheckRecord(e)
			name, ok := names[[2]string{node, c.ServiceID}]
			if err != nil || c.ServiceID != "" && !ok {
				snap.Malformed++
				return nil
			}
			snap.Checks = append(snap.Checks, NodeCheck{Node: node, Check: c, ServiceName: name, CreateIndex: e.CreateIndex, ModifyIndex: e.ModifyIndex})
			return nil
		})
	})
	if err != nil {
		return Snapshot{}, err
	}
	snap.Index = max(s.Index(), snap.TableIndex)
	// Key order puts "a-b/" before "a/": sort by the node's name.
	slices.SortStableFunc(snap.Instances, func(a, b NodeInstance) int {
		return cmp.Or(strings.Compare(a.Node, b.Node), strings.Compare(a.ID, b.ID))
	})
	slices.SortStableFunc(snap.Checks, func(a, b NodeCheck) int {
		return cmp.Or(strings.Compare(a.Node, b.Node), strings.Compare(a.ID, b.ID))
	})
	return snap, nil
}

// addTombstone records a tombstone whose key is of Table's form.
func (snap *Snapshot) addTombstone(e *store.Entry, check bool) {
	if _, node, id, ok := ParseKey(e.Key); ok {
		snap.Tombstones = append(snap.Tombstones, Tombstone{Node: node, ID: id, Check: check, Index: e.ModifyIndex})
	}
}

// decodeInstanceRecord decodes a live record under svc/ whose key and
// value agree.
func decodeInstanceRecord(e *store.Entry) (Instance, string, error) {
	kind, node, id, ok := ParseKey(e.Key)
	if !ok || kind+"/" != servicePrefix {
		return Instance{}, "", errSkip
	}
	in, err := DecodeInstance(e.Value)
	if err != nil || in.ID != id {
		return Instance{}, "", errSkip
	}
	return in, node, nil
}

// decodeCheckRecord decodes a live record under chk/ whose key and value
// agree.
func decodeCheckRecord(e *store.Entry) (Check, string, error) {
	kind, node, id, ok := ParseKey(e.Key)
	if !ok || kind+"/" != checkPrefix {
		return Check{}, "", errSkip
	}
	c, err := DecodeCheck(e.Value)
	if err != nil || c.ID != id {
		return Check{}, "", errSkip
	}
	return c, node, nil
}

// Read reads every node's records of Table from the catalog's store, as
// the package function Read does, through the catalog's Reader: reads
// while Table does not change share one Snapshot.
func (c *Catalog) Read(ctx context.Context, after uint64) (Snapshot, error) {
	return c.reader.Read(ctx, after)
}

// Reader reads Table as Read does, and keeps the last Snapshot it read
// with the store's index from before that read: while the store's index
// has not moved, every read answers that Snapshot again, so that many
// readers woken by one change (blocking discovery queries) scan Table
// once, and a read of an unchanged store costs no scan. A write's index
// is set once it is committed and before it is published on the change
// feed or its writer returns, so a reader after a writer, or woken by
// its change, always reads again. The Snapshots it returns share their
// slices and maps: callers must not modify them.
type Reader struct {
	s *store.Store

	mu   sync.Mutex
	last *Snapshot
	seen uint64 // the store's index before last was read
}

// NewReader returns a Reader of s's Table.
func NewReader(s *store.Store) *Reader { return &Reader{s: s} }

// Read is the package function Read, answered from the kept Snapshot
// while the store has not changed.
func (r *Reader) Read(ctx context.Context, after uint64) (Snapshot, error) {
	if after == 0 {
		return r.current()
	}
	// Subscribe before reading, so no change falls between the two.
	sub := r.s.Subscribe("catalog read", readFeedQueue)
	defer sub.Close()
	for {
		snap, err := r.current()
		if err != nil || snap.TableIndex > after {
			return snap, err
		}
		if !waitTable(ctx, sub, after) {
			return r.current()
		}
	}
}

// current returns the kept Snapshot if the store's index has not moved
// since before it was read, and reads Table otherwise.
func (r *Reader) current() (Snapshot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := r.s.Index()
	if r.last != nil && seen == r.seen {
		return *r.last, nil
	}
	snap, err := read(r.s)
	if err != nil {
		return snap, err
	}
	r.last, r.seen = &snap, seen
	return snap, nil
}
