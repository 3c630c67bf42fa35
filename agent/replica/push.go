package replica

import (
	"context"
	"sync"
)

// maxPushQueue bounds the encoded size of the records waiting to be
// pushed; past it, records are left to anti-entropy and counted.
const maxPushQueue = 16 << 20

// pushQueue holds the records waiting to be pushed, grouped by the peer
// they came from ("": written here, or received by gossip), which a push
// skips. Records queued while a push runs go out together in the next
// one: the faster writes come, the larger the batches.
type pushQueue struct {
	mu     sync.Mutex
	byPeer map[string][]Record
	order  []string // the keys of byPeer, first queued first
	bytes  int
	ready  chan struct{}
}

func newPushQueue() pushQueue {
	return pushQueue{byPeer: map[string][]Record{}, ready: make(chan struct{}, 1)}
}

// add queues recs and reports whether they fit.
func (q *pushQueue) add(from string, recs ...Record) bool {
	n := recordBytes(recs)
	q.mu.Lock()
	if q.bytes+n > maxPushQueue {
		q.mu.Unlock()
		return false
	}
	if _, ok := q.byPeer[from]; !ok {
		q.order = append(q.order, from)
	}
	q.byPeer[from] = append(q.byPeer[from], recs...)
	q.bytes += n
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// take empties the queue and returns what it held.
func (q *pushQueue) take() (order []string, byPeer map[string][]Record) {
	q.mu.Lock()
	defer q.mu.Unlock()
	order, byPeer = q.order, q.byPeer
	q.order, q.byPeer, q.bytes = nil, map[string][]Record{}, 0
	return order, byPeer
}

// pass passes on a record that is new to this node: a local write, or one
// received from peer from ("" when unknown, as by gossip). A record that
// fits MaxGossipDelta goes by gossip while the broadcast queue has room
// (MaxGossipQueue); otherwise it waits for the next batched push to
// PushFanout random peers other than from, which pass on in turn what
// was new to them. So when writes come faster than gossip carries them,
// they are pushed instead of piling up in the broadcast queue, whose
// oldest messages would be dropped. It never blocks.
func (r *Replica) pass(w Record, from string) {
	if r.gossipRoom() && r.gossip(w) {
		return
	}
	r.queuePush(from, w)
}

// gossipRoom reports whether the broadcast queue takes more broadcasts.
func (r *Replica) gossipRoom() bool { return r.cfg.BroadcastQueued() < r.cfg.MaxGossipQueue }

// queuePush queues records for a push; when the queue is full they are
// left to anti-entropy, counted, and a round is asked for.
func (r *Replica) queuePush(from string, recs ...Record) {
	if len(recs) == 0 || r.pushes.add(from, recs...) {
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
// limits, each to PushFanout random live peers other than the one its
// records came from (a failed call is tried on a spare peer). The records
// of a batch that reached no peer are left to anti-entropy and counted.
func (r *Replica) pushQueued(ctx context.Context) {
	order, byPeer := r.pushes.take()
	for _, from := range order {
		recs := byPeer[from]
		for len(recs) > 0 {
			n, size := 0, 0
			for n < len(recs) && n < maxSyncEntries && size < maxSyncBytes {
				size += recordSize(&recs[n])
				n++
			}
			batch := recs[:n]
			recs = recs[n:]
			if r.pushBatch(ctx, from, batch) {
				r.pushed.Add(uint64(len(batch)))
			} else if ctx.Err() == nil {
				r.pushLeft.Add(uint64(len(batch)))
				r.SyncSoon()
			}
		}
	}
}

// pushBatch pushes recs to PushFanout peers other than skip, at once, and
// reports whether one call succeeded. Without peers there is nobody to
// tell, and nothing is left behind.
func (r *Replica) pushBatch(ctx context.Context, skip string, recs []Record) bool {
	var peers []Peer
	for _, p := range r.pick(-1) {
		if p.Name != skip {
			peers = append(peers, p)
		}
	}
	if len(peers) == 0 {
		return true
	}
	d := &Delta{Records: recs, From: r.cfg.Self}
	var (
		mu    sync.Mutex
		spare = min(r.cfg.PushFanout, len(peers)) // next spare peer
		ok    bool
		wg    sync.WaitGroup
	)
	for i := range spare {
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
