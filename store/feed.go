package store

import (
	"context"
	"sync"
	"sync/atomic"
)

// Source says where a change of the feed comes from.
type Source uint8

// Sources of changes.
const (
	// SourceLocal is a write made on this node: Put, CAS, Delete,
	// DeleteTree, Tx.Put, Tx.Delete.
	SourceLocal Source = iota + 1
	// SourceRemote is a record written elsewhere that won its merge:
	// Apply, ApplyChecked, MergeRange.
	SourceRemote
	// SourceRestore is a record of a snapshot that won its merge: Restore.
	SourceRestore
	// SourceCollected is a tombstone CollectTombstones removed.
	SourceCollected
	// SourceForgotten is a record MergeRange dropped, without a
	// tombstone, because the peer it copies collected its delete.
	SourceForgotten
)

func (s Source) String() string {
	switch s {
	case SourceLocal:
		return "local"
	case SourceRemote:
		return "remote"
	case SourceRestore:
		return "restore"
	case SourceCollected:
		return "collected"
	case SourceForgotten:
		return "forgotten"
	}
	return "unknown"
}

// Change is one committed change of a record, of any table.
type Change struct {
	// Record is the record as committed; for a removal (Removed), the
	// record removed. Its value is shared with the store's caller and
	// with other subscribers: do not modify it.
	Record
	// Index is the store's modify index once the change is applied: the
	// record's ModifyIndex for a write.
	Index  uint64
	Source Source
}

// Removed reports whether the change removed its record from the store
// (SourceCollected, SourceForgotten) rather than writing it.
func (c *Change) Removed() bool { return c.Source == SourceCollected || c.Source == SourceForgotten }

// MaxFeedBytes bounds the keys and values one subscription holds queued;
// past it, as past its size, the subscription resyncs.
const MaxFeedBytes = 64 << 20

// Subscription is one reader's bounded queue of the store's committed
// changes, in commit order. A commit never waits for a reader: when a
// commit's changes would overflow the queue (its size in changes, or
// MaxFeedBytes), the queued changes are dropped, the drop is counted, and
// the reader's next Next reports resync, meaning "rebuild your view from
// the store". A slow reader therefore never holds up a write and never acts
// on a partial history without knowing it.
type Subscription struct {
	name    string
	size    int
	sources uint32 // bit per Source; 0: every source
	ready   chan struct{}

	mu      sync.Mutex
	queue   []Change
	bytes   int
	resync  bool
	closed  bool
	dropped atomic.Uint64

	feed *feed
}

// Subscribe returns a subscription, named for logs, to the changes
// committed from now on, with a queue of size changes. With sources, it
// receives only the changes from those sources. Close it when done; the
// store's Close ends it too.
func (s *Store) Subscribe(name string, size int, sources ...Source) *Subscription {
	sub := &Subscription{name: name, size: max(size, 1), ready: make(chan struct{}, 1), feed: &s.feed}
	for _, src := range sources {
		sub.sources |= 1 << src
	}
	s.feed.add(sub)
	return sub
}

// Name returns the name the subscription was made with.
func (sub *Subscription) Name() string { return sub.name }

// Next waits for changes and returns them in commit order. resync is true
// when changes were dropped since the previous call: the reader must
// rebuild what it derives from the store (the changes returned are those
// after the drop). It returns ctx's error when ctx ends, and ErrClosed
// once the subscription or the store is closed and its queue is empty.
func (sub *Subscription) Next(ctx context.Context) (changes []Change, resync bool, err error) {
	for {
		changes, resync = sub.Poll()
		if len(changes) > 0 || resync {
			return changes, resync, nil
		}
		sub.mu.Lock()
		closed := sub.closed
		sub.mu.Unlock()
		if closed {
			return nil, false, ErrClosed
		}
		select {
		case <-sub.ready:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// Poll returns the changes queued, and the resync flag, without waiting.
func (sub *Subscription) Poll() (changes []Change, resync bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	changes, resync = sub.queue, sub.resync
	sub.queue, sub.bytes, sub.resync = nil, 0, false
	return changes, resync
}

// Dropped returns how many changes this subscription has dropped.
func (sub *Subscription) Dropped() uint64 { return sub.dropped.Load() }

// Close ends the subscription. It is safe to call more than once.
func (sub *Subscription) Close() {
	sub.feed.remove(sub)
	sub.end()
}

func (sub *Subscription) end() {
	sub.mu.Lock()
	sub.closed = true
	sub.mu.Unlock()
	sub.wake()
}

func (sub *Subscription) publish(changes []Change) {
	woke := false
	sub.mu.Lock()
	for i := range changes {
		c := &changes[i]
		if sub.sources != 0 && sub.sources&(1<<c.Source) == 0 {
			continue
		}
		n := len(c.Key) + len(c.Value)
		if len(sub.queue) >= sub.size || sub.bytes+n > MaxFeedBytes {
			sub.dropped.Add(uint64(len(sub.queue)) + 1)
			sub.queue, sub.bytes, sub.resync = nil, 0, true
		} else {
			sub.queue = append(sub.queue, *c)
			sub.bytes += n
		}
		woke = true
	}
	sub.mu.Unlock()
	if woke {
		sub.wake()
	}
}

func (sub *Subscription) wake() {
	select {
	case sub.ready <- struct{}{}:
	default:
	}
}

// feed is the store's set of subscriptions.
type feed struct {
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	n      atomic.Int32 // len(subs): commits skip collecting changes when 0
	closed bool
}

func (f *feed) active() bool { return f.n.Load() > 0 }

func (f *feed) add(sub *Subscription) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		sub.end()
		return
	}
	if f.subs == nil {
		f.subs = map[*Subscription]struct{}{}
	}
	f.subs[sub] = struct{}{}
	f.n.Store(int32(len(f.subs)))
}

func (f *feed) remove(sub *Subscription) {
	f.mu.Lock()
	delete(f.subs, sub)
	f.n.Store(int32(len(f.subs)))
	f.mu.Unlock()
}

// publish hands a commit's changes to every subscription. The store calls
// it under its commit lock, so subscriptions see commits in order.
func (f *feed) publish(changes []Change) {
	if len(changes) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for sub := range f.subs {
		sub.publish(changes)
	}
}

func (f *feed) closeAll() {
	f.mu.Lock()
	subs := f.subs
	f.subs, f.closed = nil, true
	f.n.Store(0)
	f.mu.Unlock()
	for sub := range subs {
		sub.end()
	}
}
