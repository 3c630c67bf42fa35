package replica

import (
	"context"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/store"
)

// maxInbox bounds the records waiting to be merged (see inbox); past it,
// the records of gossip deltas are dropped, counted (Stats.GossipDropped)
// and left to an anti-entropy round, asked for at once, and a push is
// merged by its own call.
const maxInbox = 8192

// maxMergeBatch is the most records one commit of the inbox takes: the
// store commits larger slices in chunks of this size anyway.
const maxMergeBatch = 1024

// inbox holds what gossip deltas (HandleGossip) and pushes (HandlePush)
// delivered until the merge loop applies it: group commit. The loop takes
// everything waiting and merges it in one store transaction, so a lone
// arrival goes at once, and those that arrive while that commit is being
// written and synced join the next one. Each commit of a replicated record
// writes the record's leaf, the branch pages above it, the meta page and
// two fsyncs; records sharing a commit share all of that but their leaves.
//
// Records are admitted (malformed and clock checks, counted) where they
// arrive; the last-writer-wins verdict (new here or not) is made where
// they are merged, in the loop, in arrival order, and decides what is
// passed on, after the commit: by the same rules as before, only a few
// milliseconds later, and only once the record is durable here. Nothing
// else waits on a gossiped record: memberlist does not forward user
// broadcasts, and HandleGossip answers no one. A push waits for its
// records' commit, and answers how many were new.
type inbox struct {
	mu      sync.Mutex
	running bool       // a merge loop takes what is queued; else callers merge themselves
	queue   []*arrival // waiting, in arrival order
	recs    int        // records in queue
	ready   chan struct{}
	max     int // bound of recs (maxInbox; tests set less)
}

// arrival is a delta's admitted records waiting to be merged.
type arrival struct {
	recs []store.Checked
	pass bool     // pass on what was new here, to peers outside seen
	seen []string // see Delta.Seen
	// done, if set, receives the records that were new here once they
	// are durable (a push waits for it).
	done chan []store.Record
}

func newInbox() inbox { return inbox{ready: make(chan struct{}, 1), max: maxInbox} }

// add queues a if the merge loop runs, and reports whether it did; if not,
// the caller merges a itself. When the inbox is full, a gossiped arrival
// (partial) keeps what fits and add returns how many records it dropped;
// a push is not queued, and its caller merges it.
func (q *inbox) add(a *arrival, partial bool) (dropped int, queued bool) {
	q.mu.Lock()
	if !q.running || (!partial && q.recs+len(a.recs) > q.max) {
		q.mu.Unlock()
		return 0, false
	}
	n := min(len(a.recs), q.max-q.recs)
	dropped = len(a.recs) - n
	if a.recs = a.recs[:n]; n > 0 || a.done != nil {
		q.queue = append(q.queue, a)
		q.recs += n
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return dropped, true
}

// take returns the arrivals waiting, first queued first, up to the first
// that makes limit records or more.
func (q *inbox) take(limit int) []*arrival {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, recs := 0, 0
	for n < len(q.queue) && recs < limit {
		recs += len(q.queue[n].recs)
		n++
	}
	out := q.queue[:n:n]
	q.queue = q.queue[n:]
	q.recs -= recs
	if len(q.queue) == 0 {
		q.queue = nil
	}
	return out
}

func (q *inbox) waiting() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.recs
}

// open makes add queue for the merge loop.
func (q *inbox) open() {
	q.mu.Lock()
	q.running = true
	q.mu.Unlock()
}

// close makes add refuse, so that callers merge themselves again, and
// returns what waits: the loop's last batch.
func (q *inbox) close() []*arrival {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.running = false
	out := q.queue
	q.queue, q.recs = nil, 0
	return out
}

// mergeLoop merges what the inbox holds, a batch per commit, until ctx
// ends; then it merges what is left and returns, and HandleGossip merges
// each delta itself again (as it does before Run starts).
//
// While records keep coming (the last batch held more than one), a batch
// waits up to Config.GossipLinger for more, or until maxMergeBatch wait;
// a record after a quiet spell goes at once.
func (r *Replica) mergeLoop(ctx context.Context) {
	q := &r.inbox
	defer func() {
		if rest := q.close(); len(rest) > 0 {
			r.mergeArrivals(context.Background(), rest)
		}
	}()
	busy := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.ready:
		}
		for {
			if busy && r.cfg.GossipLinger > 0 {
				r.linger(ctx)
			}
			batch := q.take(maxMergeBatch)
			if len(batch) == 0 {
				busy = false
				break
			}
			busy = len(batch) > 1
			r.mergeArrivals(ctx, batch)
			if ctx.Err() != nil {
				return
			}
		}
	}
}

// linger waits up to Config.GossipLinger for the inbox to hold a full
// batch, or until ctx ends.
func (r *Replica) linger(ctx context.Context) {
	q := &r.inbox
	t := time.NewTimer(r.cfg.GossipLinger)
	defer t.Stop()
	for q.waiting() < maxMergeBatch {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-q.ready:
		}
	}
}

// mergeArrivals merges the records of arrivals in one call of the store
// (one commit, up to the store's chunk), in order, passes on what was new
// here as each arrival asks, and hands each waiting arrival its records
// that were new.
func (r *Replica) mergeArrivals(ctx context.Context, as []*arrival) {
	var all []store.Checked
	for _, a := range as {
		all = append(all, a.recs...)
	}
	changed := r.apply(ctx, all)
	// changed is the subsequence of all that won, in order: walk both.
	for _, a := range as {
		var mine []store.Record
		for i := range a.recs {
			if len(changed) > 0 && sameVersion(&changed[0], &a.recs[i]) {
				mine = append(mine, changed[0])
				changed = changed[1:]
			}
		}
		if a.pass {
			for i := range mine {
				r.pass(toWire(&mine[i]), a.seen)
			}
		}
		if a.done != nil {
			a.done <- mine
		}
	}
}

// sameVersion reports whether rec is c's record: the same version of the
// same key, from the same origin.
func sameVersion(rec *store.Record, c *store.Checked) bool {
	w := c.Record()
	return rec.Version == w.Version && rec.Key == w.Key && rec.Table == w.Table && rec.Origin == w.Origin
}
