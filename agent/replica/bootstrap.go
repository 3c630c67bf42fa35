package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/transport/resilience"
)

// MethodBootstrap streams the whole store, in chunks, to a node that pulls
// it (a new node, or one back from past the horizon).
const MethodBootstrap = "replica.bootstrap"

// bootstrapChunk is how many records one message of the stream carries;
// each chunk is read in a short read transaction of its own.
const bootstrapChunk = 1000

// BootstrapRequest asks for the records after a key ("" from the start)
// of a table, then for every table after it (see store.Tables), so that a
// cut stream resumes where it stopped, from any peer.
type BootstrapRequest struct {
	After string `cbor:"1,keyasint"`
	Table string `cbor:"2,keyasint,omitempty"`
}

// BootstrapChunk is one message of the stream: every record the sender
// holds in Table in the key range from the previous chunk's last key (or
// the request's After) to this chunk's last key. A chunk shorter than
// bootstrapChunk ends its table's range; More, on such a chunk, says that
// another table follows, else it ends the stream. Tables come in the
// order of store.Tables, kv first, so a node that knows only kv reads the
// kv part and stops. Horizon is the sender's collection horizon, which the
// receiver takes on. The first chunk of a stream carries the sender's list
// of the members' progress as of the stream's start (Progress), which the
// receiver takes on too.
type BootstrapChunk struct {
	Records  []Record       `cbor:"1,keyasint"`
	Horizon  uint64         `cbor:"2,keyasint,omitempty"`
	Table    string         `cbor:"3,keyasint,omitempty"`
	More     bool           `cbor:"4,keyasint,omitempty"`
	Progress []NodeProgress `cbor:"5,keyasint,omitempty"`
}

// Receiver yields the messages of a server-streaming call.
type Receiver interface {
	Recv(v any) error // io.EOF at the end of a complete stream
	Close() error
}

// Streamer opens a server-streaming call; a Caller that also implements it
// lets the replica bootstrap.
type Streamer interface {
	Stream(ctx context.Context, peer Peer, method string, req any) (Receiver, error)
}

var (
	errStaleSource = errors.New("replica: this node was away past the horizon and is pulling a snapshot itself")
	errUnsynced    = errors.New("replica: this node has not synced with a peer since it started")
)

// HandleBootstrap serves MethodBootstrap: the store table by table, each
// in key order, from req.After in req.Table, tombstones included. A table
// this node does not declare is skipped, and so is a requested one, for
// the tables after it. A node refuses when its store is not one to copy:
// when it knows it was away past the horizon, and, when it has other
// peers, until it has completed a sync since it started (it may have just
// come back from past the horizon without knowing yet). A node that
// started empty serves even while it bootstraps itself: it holds nothing
// the mesh has not, and two new nodes must not wait on each other.
func (r *Replica) HandleBootstrap(ctx context.Context, req *BootstrapRequest, send func(*BootstrapChunk) error) error {
	if !r.syncedOnce.Load() && !r.fresh.Load() && len(r.cfg.Peers()) > 1 {
		return errUnsynced
	}
	tables := store.Tables()
	progress := r.report(r.cfg.Store.Clock().Now())
	for i, table := range tables {
		after := req.After
		switch c := store.CompareTables(table, req.Table); {
		case c < 0:
			continue
		case c > 0:
			after = ""
		}
		if err := r.sendTable(table, after, i < len(tables)-1, &progress, send); err != nil {
			return err
		}
	}
	return nil
}

// sendTable streams table from after on; more says another table follows.
// The first chunk sent carries *progress, which is then cleared.
func (r *Replica) sendTable(table, after string, more bool, progress *[]NodeProgress, send func(*BootstrapChunk) error) error {
	for {
		if r.stale.Load() {
			return errStaleSource
		}
		recs, err := r.cfg.Store.ScanAfter(table, after, bootstrapChunk)
		if err != nil {
			return err
		}
		last := len(recs) < bootstrapChunk
		c := BootstrapChunk{Records: make([]Record, len(recs)), Horizon: uint64(r.cfg.Store.Horizon()),
			Table: table, More: last && more, Progress: *progress}
		*progress = nil
		for i := range recs {
			c.Records[i] = toWire(&recs[i])
		}
		if err := send(&c); err != nil {
			return err
		}
		if last {
			return nil
		}
		after = recs[len(recs)-1].Key
	}
}

// BootstrapResult describes a completed bootstrap.
type BootstrapResult struct {
	Reason    string   // "store empty at start" or "away past the horizon"
	Records   int      // received
	Applied   int      // changed the store
	Forgotten int      // local records dropped: their deletes were collected
	Peers     []string // streamed from, in order (more than one after a cut)
	Took      time.Duration
}

// BootstrapProgress is the state of a running bootstrap.
type BootstrapProgress struct {
	Running bool
	Peer    string // streaming from
	Records int    // received so far
}

type progress struct {
	mu sync.Mutex
	p  BootstrapProgress
}

func (p *progress) set(fn func(*BootstrapProgress)) {
	p.mu.Lock()
	fn(&p.p)
	p.mu.Unlock()
}

// BootstrapProgress returns the state of the running bootstrap, if any.
func (r *Replica) BootstrapProgress() BootstrapProgress {
	r.progress.mu.Lock()
	defer r.progress.mu.Unlock()
	return r.progress.p
}

// Bootstrap pulls the whole store from a peer, chunk by chunk, merging the
// peer's records by last-writer-wins. A node back from past the horizon
// (stale) also drops its records in each chunk's key range that the peer
// lacks (their deletes were collected there), except the writes it made
// after its last complete sync (the sync mark) and records stamped after
// the bootstrap began; a node whose store started empty drops nothing.
// Deltas that arrive meanwhile are applied as usual. If the stream is cut
// (the peer dies, or sends nothing for CallTimeout), it resumes after the
// last key received, from another peer. On success the node takes on the
// peer's horizon and its sync mark moves to the start of the bootstrap.
// It fails when it has no peer, or after bootstrapAttempts streams.
func (r *Replica) Bootstrap(ctx context.Context) (BootstrapResult, error) {
	st, ok := r.cfg.Caller.(Streamer)
	if !ok {
		return BootstrapResult{}, errors.New("replica: the caller cannot stream")
	}
	if len(r.cfg.Peers()) == 0 {
		return BootstrapResult{}, fmt.Errorf("replica: bootstrap: %w", errNoPeer)
	}
	if !r.pulling.CompareAndSwap(false, true) {
		return BootstrapResult{}, errors.New("replica: a bootstrap is already running")
	}
	defer r.pulling.Store(false)
	r.progress.set(func(p *BootstrapProgress) { *p = BootstrapProgress{Running: true} })
	defer r.progress.set(func(p *BootstrapProgress) { p.Running = false })

	startWall := r.cfg.Clock.Now()
	start := r.cfg.Store.Clock().Now()
	res := BootstrapResult{Reason: "store empty at start"}
	// A store that started empty drops nothing: whatever it holds by now
	// (local writes, deltas, a restore) is news the peer may lack.
	pull := pullState{forget: func(*store.Record) bool { return false }}
	if r.stale.Load() {
		res.Reason = "away past the horizon"
		keepOwnAfter, self := r.keepOwnAfter(), r.cfg.Store.NodeID()
		pull.forget = func(rec *store.Record) bool {
			return rec.Version < start && (rec.Origin != self || rec.Version <= keepOwnAfter)
		}
	}
	failures := map[string]int{}
	var lastErr error
	for attempt := range bootstrapRetry.Attempts {
		if attempt > 0 {
			if err := r.cfg.Clock.Sleep(ctx, bootstrapRetry.Backoff(attempt, r.uniform())); err != nil {
				return res, fmt.Errorf("replica: bootstrap: %w", err)
			}
		}
		p, ok := r.source(failures)
		if !ok {
			lastErr = errNoPeer
			continue
		}
		res.Peers = append(res.Peers, p.Name)
		r.progress.set(func(bp *BootstrapProgress) { bp.Peer = p.Name })
		r.cfg.Log.Info("bootstrap streaming", "peer", p.Name, "table", store.TableName(pull.table), "after", pull.after, "reason", res.Reason)
		err := r.bootstrapFrom(ctx, st, p, &pull, &res)
		if err == nil {
			r.learn("", pull.progressList(), true, start)
			if res.Reason == "away past the horizon" {
				r.reloaded()
			}
			return r.bootstrapDone(res, pull.horizon, start, startWall)
		}
		failures[p.Name]++
		lastErr = err
		r.cfg.Log.Info("bootstrap stream failed; resuming from another peer", "peer", p.Name,
			"table", store.TableName(pull.table), "after", pull.after, "err", err)
	}
	return res, fmt.Errorf("replica: bootstrap: %w", lastErr)
}

// Bootstrap retries: a node that has just joined may be refused by peers
// that have not learned its certificate yet, and a cut stream resumes from
// another peer. Eight attempts pause 10 to 20 s in all, with equal jitter
// so that nodes refused together do not retry together.
var bootstrapRetry = resilience.Retry{Attempts: 8, BackoffBase: 500 * time.Millisecond, BackoffCap: 4 * time.Second}

// source picks a random live peer among those that failed least often in
// this bootstrap.
func (r *Replica) source(failures map[string]int) (Peer, bool) {
	peers := r.pick(-1)
	if len(peers) == 0 {
		return Peer{}, false
	}
	best := peers[0]
	for _, p := range peers[1:] {
		if failures[p.Name] < failures[best.Name] {
			best = p
		}
	}
	return best, true
}

var errNoPeer = errors.New("no live peer")

// pullState is where a bootstrap stands, across streams from several
// peers.
type pullState struct {
	table   string // table of the key ranges merged so far
	after   string // last key of the key ranges merged in table
	ended   bool   // table's range is merged to its end
	horizon uint64 // largest horizon of the senders
	forget  func(*store.Record) bool
	// covered is the least, over the senders, of what each held of each
	// member (see NodeProgress.Covered): what the merged ranges cover.
	covered  map[string]uint64
	streamed bool // a sender's list was taken
}

// takeProgress narrows the coverage of the merged ranges by a sender's
// list: a node the list lacks is covered no more.
func (p *pullState) takeProgress(list []NodeProgress) {
	theirs := coveredBy(list)
	if !p.streamed {
		p.covered, p.streamed = theirs, true
		return
	}
	for n, s := range p.covered {
		if t, ok := theirs[n]; ok {
			p.covered[n] = min(s, t)
		} else {
			delete(p.covered, n)
		}
	}
}

// progressList is covered as a list, for Replica.learn.
func (p *pullState) progressList() []NodeProgress {
	out := make([]NodeProgress, 0, len(p.covered))
	for n, s := range p.covered {
		out = append(out, NodeProgress{Node: n, Covered: s})
	}
	return out
}

func (r *Replica) bootstrapDone(res BootstrapResult, horizon uint64, start store.Stamp, startWall time.Time) (BootstrapResult, error) {
	if r.plausibleHorizon(horizon) {
		if err := r.cfg.Store.RaiseHorizon(store.Stamp(horizon)); err != nil {
			return res, fmt.Errorf("replica: bootstrap: %w", err)
		}
	}
	if err := r.synced(start, true); err != nil {
		return res, fmt.Errorf("replica: bootstrap: %w", err)
	}
	r.stale.Store(false)
	r.fresh.Store(false)
	r.keepOwn.Store(noKeep)
	res.Took = r.cfg.Clock.Now().Sub(startWall)
	r.lastBootstrap.Store(&res)
	r.cfg.Log.Info("bootstrap complete", "reason", res.Reason, "records", res.Records, "applied", res.Applied,
		"forgotten", res.Forgotten, "peers", res.Peers, "took", res.Took.Round(time.Millisecond))
	return res, nil
}

// bootstrapFrom streams from one peer, merging each chunk in a
// transaction of its own, so that a stream cut at any point resumes after
// the last chunk received. A peer that sends nothing for CallTimeout is
// given up.
func (r *Replica) bootstrapFrom(ctx context.Context, st Streamer, p Peer, pull *pullState, res *BootstrapResult) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rcv, err := st.Stream(ctx, p, MethodBootstrap, &BootstrapRequest{Table: pull.table, After: pull.after})
	if err != nil {
		return err
	}
	defer rcv.Close()
	var silent atomic.Bool
	idle := time.AfterFunc(r.cfg.CallTimeout, func() { silent.Store(true); rcv.Close() })
	defer idle.Stop()
	for first := true; ; first = false {
		var c BootstrapChunk
		if err := rcv.Recv(&c); err != nil {
			switch {
			case silent.Load():
				err = fmt.Errorf("no chunk within %v", r.cfg.CallTimeout)
			case err == io.EOF:
				err = errors.New("stream ended before its last chunk")
			}
			return err
		}
		idle.Reset(r.cfg.CallTimeout)
		if first {
			pull.takeProgress(c.Progress)
		}
		last := len(c.Records) < bootstrapChunk
		table, err := store.CheckTable(c.Table)
		switch {
		case err != nil:
			// A table this node does not declare: nothing in it can be
			// merged here.
			if last && !c.More {
				return nil
			}
			continue
		case table == pull.table:
		case store.CompareTables(table, pull.table) > 0 && (first || pull.ended):
			// The next table (or, at the start, the sender lacks the
			// one asked for).
			pull.table, pull.after = table, ""
		default:
			return fmt.Errorf("chunk of %s out of order after %s", store.TableName(table), store.TableName(pull.table))
		}
		for i := range c.Records {
			c.Records[i].onlyIn(table)
		}
		through := "" // the last chunk's range runs to the end
		if !last {
			// The chunk covers the keys up to its last one; a malformed
			// record's key is no bound to resume after, so the range
			// ends at the last well-formed one, and the records after
			// it come again in the next chunk.
			if through = lastWellFormedKey(c.Records); through == "" {
				return fmt.Errorf("a chunk of %d records held none well-formed", len(c.Records))
			}
		}
		ok := r.admit(ctx, c.Records)
		applied, forgotten, err := r.cfg.Store.MergeRange(table, pull.after, through, ok, pull.forget)
		if err != nil {
			return err
		}
		res.Records += len(c.Records)
		res.Applied += len(applied)
		res.Forgotten += forgotten
		r.counted(len(ok), len(applied))
		pull.horizon = max(pull.horizon, c.Horizon)
		pull.ended = last
		switch {
		case !last:
			pull.after = through
		case lastWellFormedKey(c.Records) != "":
			// A resumed stream asks for what follows the table's
			// last key: nothing, or what was written since.
			pull.after = lastWellFormedKey(c.Records)
		}
		r.progress.set(func(bp *BootstrapProgress) { bp.Records = res.Records })
		if last && !c.More {
			return nil
		}
	}
}

// lastWellFormedKey returns the key of the last record that checkRecord
// accepts, or "".
func lastWellFormedKey(recs []Record) string {
	for i := len(recs) - 1; i >= 0; i-- {
		if checkRecord(&recs[i]) == nil {
			return recs[i].Key
		}
	}
	return ""
}

// LastBootstrap returns the last completed bootstrap, if any.
func (r *Replica) LastBootstrap() (BootstrapResult, bool) {
	if b := r.lastBootstrap.Load(); b != nil {
		return *b, true
	}
	return BootstrapResult{}, false
}
