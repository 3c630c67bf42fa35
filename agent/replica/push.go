package replica

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// maxPushQueue bounds the encoded size of the records waiting to be
// pushed; past it, records are left to anti-entropy and counted.
const maxPushQueue = 16 << 20

// maxSeen bounds Delta.Seen: past it, a receiver may push records to a
// peer that holds them already, which only costs a duplicate.
const maxSeen = 64

// pushQueue holds the records waiting to be pushed, grouped by the nodes
// known to hold them already (Delta.Seen; none for a write made here or
// received by gossip), whom a push skips. Records queued while a push
// runs go out together in the next one: the faster writes come, the
// larger the batches.
type pushQueue struct {
	mu     sync.Mutex
	groups map[string]*pushGroup // by seenKey
	order  []string              // the keys of groups, first queued first
	bytes  int
	ready  chan struct{}
}

type pushGroup struct {
	seen []string
	recs []Record
}

func newPushQueue() pushQueue {
	return pushQueue{groups: map[string]*pushGroup{}, ready: make(chan struct{}, 1)}
}

func seenKey(seen []string) string { return strings.Join(seen, "\x00") }

// add queues recs and reports whether they fit.
func (q *pushQueue) add(seen []string, recs ...Record) bool {
	n := recordBytes(recs)
	key := seenKey(seen)
	q.mu.Lock()
	if q.bytes+n > maxPushQueue {
		q.mu.Unlock()
		return false
	}
	g, ok := q.groups[key]
	if !ok {
		g = &pushGroup{seen: seen}
		q.groups[key] = g
		q.order = append(q.order, key)
	}
	g.recs = append(g.recs, recs...)
	q.bytes += n
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// take empties the queue and returns its groups, first queued first.
func (q *pushQueue) take() []*pushGroup {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]*pushGroup, len(q.order))
	for i, k := range q.order {
		out[i] = q.groups[k]
	}
	q.order, q.groups, q.bytes = nil, map[string]*pushGroup{}, 0
	return out
}

// pass passes on a record that is new to this node: a local write, or one
// received from a peer. seen lists the nodes known to hold it (see
// Delta.Seen; nil when none is known, as for gossip). A record that fits
// MaxGossipDelta goes by gossip while the broadcast queue has room
// (MaxGossipQueue); otherwise it waits for the next batched push to
// PushFanout random live peers outside seen, which pass on in turn what
// was new to them. So when writes come faster than gossip carries them,
// they are pushed instead of piling up in the broadcast queue, whose
// oldest messages would be dropped. It never blocks.
func (r *Replica) pass(w Record, seen []string) {
	if r.gossipRoom() && r.gossip(w) {
		return
	}
	r.queuePush(seen, w)
}

// gossipRoom reports whether the broadcast queue takes more broadcasts.
func (r *Replica) gossipRoom() bool { return r.cfg.BroadcastQueued() < r.cfg.MaxGossipQueue }

// queuePush queues records for a push; when the queue is full they are
// left to anti-entropy, counted, and a round is asked for.
func (r *Replica) queuePush(seen []string, recs ...Record) {
	if len(recs) == 0 || r.pushes.add(seen, recs...) {
		return
	}
	r.pushLeft.Add(uint64(len(recs)))
	r.SyncSoon()
}

// pushLoop pushes what is queued, batch after batch, until ctx ends.
func (r *Replica) pushLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.pushes.ready:
			r.pushQueued(ctx)
		}
	}
}

// pushQueued pushes every record queued, in batches under the sync
// limits (see pushBatch). The records of a batch that reached no peer
// are left to anti-entropy and counted.
func (r *Replica) pushQueued(ctx context.Context) {
	for _, g := range r.pushes.take() {
		recs := g.recs
		for len(recs) > 0 {
			n, size := 0, 0
			for n < len(recs) && n < maxSyncEntries && size < maxSyncBytes {
				size += recordSize(&recs[n])
				n++
			}
			batch := recs[:n]
			recs = recs[n:]
			if r.pushBatch(ctx, g.seen, batch) {
				r.pushed.Add(uint64(len(batch)))
			} else if ctx.Err() == nil {
				r.pushLeft.Add(uint64(len(batch)))
				r.SyncSoon()
			}
		}
	}
}

// pushBatch pushes recs at once to PushFanout random live peers outside
// seen, telling them who holds the records: seen, this node and the
// peers pushed to. A failed call is tried on a spare peer. It reports
// whether a call succeeded; when every live peer is in seen there is
// nobody to tell, and nothing is left behind.
func (r *Replica) pushBatch(ctx context.Context, seen []string, recs []Record) bool {
	var peers []Peer
	for _, p := range r.pick(-1) {
		if !slices.Contains(seen, p.Name) {
			peers = append(peers, p)
		}
	}
	if len(peers) == 0 {
		return true
	}
	fanout := min(r.cfg.PushFanout, len(peers))
	d := &Delta{Records: recs, Seen: append(slices.Clone(seen), r.cfg.Self)}
	for _, p := range peers[:fanout] {
		d.Seen = append(d.Seen, p.Name)
	}
	slices.Sort(d.Seen)
	d.Seen = slices.Compact(d.Seen)
	d.Seen = d.Seen[:min(len(d.Seen), maxSeen)]
	var (
		mu    sync.Mutex
		spare = fanout // next spare peer
		ok    bool
		wg    sync.WaitGroup
	)
	for i := range fanout {
		wg.Go(func() {
			for p := peers[i]; ; {
				var resp PushResponse
				r.pushCalls.Add(1)
				err := r.call(ctx, p, MethodPush, d, &resp)
				mu.Lock()
				if err == nil {
					ok = true
					mu.Unlock()
					return
				}
				r.pushFailures.Add(1)
				r.cfg.Log.Debug("push failed", "peer", p.Name, "err", err)
				if spare == len(peers) || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				p = peers[spare]
				spare++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ok
}
