package replica

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/transport/resilience"
)

// Peer is another agent replication can call.
type Peer struct {
	Name string
	Addr string // RPC address
}

// Caller makes one RPC to a peer. The agent passes its transport target
// (with its timeout, retry and breaker policy); tests pass an in-memory one.
type Caller interface {
	Call(ctx context.Context, peer Peer, method string, req, resp any) error
}

// Config configures a Replica. Store, Self, Broadcast, Caller and Peers
// are required.
type Config struct {
	Store *store.Store
	// Feed is the store's changes the replica spreads: the wiring
	// subscribes it to the local writes and restores,
	//
	//	st.Subscribe("replica", replica.FeedSize, replica.FeedSources...)
	//
	// and Run reads it. Without one, writes reach other nodes by
	// anti-entropy alone.
	Feed *store.Subscription
	Self string // this node's name
	// Broadcast queues a payload for gossip; a later one with the same
	// name replaces a queued one (one name per key).
	Broadcast func(name string, payload []byte)
	Caller    Caller
	// Peers returns the live peers anti-entropy and pushes may pick from.
	Peers func() []Peer
	// Members returns the names of the members the mesh remembers: live,
	// suspect, failed or left, until they are reaped (forgotten). A
	// tombstone is collected only once each of them has synced past it
	// (see the package documentation). Default: the names of Peers.
	Members func() []string

	// MaxClockDrift is how far ahead of this node's wall clock a received stamp
	// may be; later ones are rejected and counted. Default 5m.
	MaxClockDrift time.Duration
	// TombstoneTTL is how long deletes are kept before CollectTombstones
	// removes them. Default 72h.
	TombstoneTTL time.Duration
	// SyncInterval is the anti-entropy period. Default 30s.
	SyncInterval time.Duration
	// BroadcastQueued returns how many messages wait in the broadcast
	// queue. Default: none ever wait.
	BroadcastQueued func() int
	// MaxGossipDelta is the largest encoded delta sent by gossip; larger
	// writes are pushed over RPC to PushFanout random peers. Default 1,024.
	MaxGossipDelta int
	// MaxGossipQueue is how many broadcasts may wait before writes are
	// pushed over RPC instead of gossiped: writes come faster than gossip
	// carries them. Default 128.
	MaxGossipQueue int
	PushFanout     int // default 3
	// GossipLinger is how long, while gossip keeps delivering records, a
	// batch of them waits for more before it is merged in one commit (see
	// inbox); a record after a quiet spell is merged at once. Default
	// 10ms; negative: never wait (records still share the commits they
	// arrive during).
	GossipLinger time.Duration
	// CallTimeout bounds each RPC. Default 10s.
	CallTimeout time.Duration

	// Clock reads wall time (peer clock offsets, sync times) and paces
	// bootstrap retries. Default resilience.SystemClock.
	Clock resilience.Clock
	Rand  *rand.Rand // default seeded from the runtime
	Log   *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxClockDrift == 0 {
		c.MaxClockDrift = 5 * time.Minute
	}
	if c.TombstoneTTL == 0 {
		c.TombstoneTTL = 72 * time.Hour
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = 30 * time.Second
	}
	if c.MaxGossipDelta == 0 {
		c.MaxGossipDelta = 1024
	}
	if c.MaxGossipQueue == 0 {
		c.MaxGossipQueue = 128
	}
	if c.BroadcastQueued == nil {
		c.BroadcastQueued = func() int { return 0 }
	}
	if c.GossipLinger == 0 {
		c.GossipLinger = 10 * time.Millisecond
	}
	if c.PushFanout == 0 {
		c.PushFanout = 3
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.Clock == nil {
		c.Clock = resilience.SystemClock{}
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// Stats are replication's counters.
type Stats struct {
	Applied, Duplicate, Rejected uint64 // received records
	Malformed                    uint64 // received records and gossip payloads dropped as malformed
	Syncs, SyncFailures          uint64
	// SyncRefused counts rounds a peer refused over the tombstone horizon
	// or a clock running fast (see DigestResponse); SyncDeferred those it
	// put off because it was pulling a snapshot, as a new node does.
	SyncRefused, SyncDeferred    uint64
	SyncBytesSent, SyncBytesRecv uint64 // approximate, encoded records and hashes
	// Pushed counts the records passed on by push (see Replica.pass),
	// each once however many peers it went to; PushCalls the calls and
	// PushFailures those that failed. PushLeft counts the records left to
	// anti-entropy: the push queue was full, or no call of their batch
	// reached a peer.
	Pushed, PushCalls, PushFailures, PushLeft uint64
	// GossipDropped counts the records of gossip deltas dropped because
	// too many waited to be merged (see inbox), left to anti-entropy.
	GossipDropped uint64
}

// Replica spreads local writes and merges remote ones. Create it with New
// and run its anti-entropy loop with Run.
type Replica struct {
	cfg Config

	randMu sync.Mutex

	applied, duplicate, rejected, malformed atomic.Uint64
	syncs, syncFailures, syncRefused        atomic.Uint64
	syncDeferred                            atomic.Uint64
	bytesSent, bytesRecv                    atomic.Uint64
	pushed, pushCalls, pushFailures         atomic.Uint64
	pushLeft, gossipDropped                 atomic.Uint64

	inbox   inbox     // records received by gossip waiting to be merged
	pushes  pushQueue // records waiting to be pushed (see pass)
	syncNow chan struct{}
	skew    clockSkew

	peersMu sync.Mutex
	peers   map[string]*PeerStats // by node name

	// Tombstone horizon (see the package documentation).
	mark          atomic.Uint64 // sync mark: the last complete sync
	fresh         atomic.Bool   // the store was empty at start: bootstrap first
	syncedOnce    atomic.Bool   // a sync completed since start
	stale         atomic.Bool   // away past a peer's horizon: bootstrap
	pulling       atomic.Bool   // a bootstrap is running
	progress      progress
	lastBootstrap atomic.Pointer[BootstrapResult]
	cover         coverage      // the members' progress
	keepOwn       atomic.Uint64 // a stale node keeps its own writes after it (noKeep: none due)
}

// PeerStats is what this node knows of its anti-entropy with one peer.
type PeerStats struct {
	Node          string
	Addr          string
	LastSync      time.Time // zero: never
	LastResult    string    // "equal", "repaired" or the error
	DigestRoot    string    // the peer's digest root at the last sync, hex ("": unknown)
	Received      int       // records, all rounds
	Sent          int       // records, all rounds
	BytesSent     int
	BytesReceived int
}

// PeerStats returns a copy of the per-peer anti-entropy state, by node.
func (r *Replica) PeerStats() []PeerStats {
	r.peersMu.Lock()
	defer r.peersMu.Unlock()
	out := make([]PeerStats, 0, len(r.peers))
	for _, p := range r.peers {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b PeerStats) int { return strings.Compare(a.Node, b.Node) })
	return out
}

func (r *Replica) notePeer(p Peer, res SyncResult, err error) {
	r.peersMu.Lock()
	defer r.peersMu.Unlock()
	if r.peers == nil {
		r.peers = map[string]*PeerStats{}
	}
	ps, ok := r.peers[p.Name]
	if !ok {
		ps = &PeerStats{Node: p.Name}
		r.peers[p.Name] = ps
	}
	ps.Addr, ps.LastSync = p.Addr, r.cfg.Clock.Now()
	if res.PeerRoot != 0 {
		ps.DigestRoot = strconv.FormatUint(res.PeerRoot, 16)
	}
	ps.Received += res.Received
	ps.Sent += res.Sent
	ps.BytesSent += res.BytesOut
	ps.BytesReceived += res.BytesIn
	switch {
	case err != nil:
		ps.LastResult = err.Error()
	case res.Equal:
		ps.LastResult = "equal"
	default:
		ps.LastResult = "repaired"
	}
}

// FeedSize is the queue of the feed subscription the replica reads (see
// Config.Feed): past it, a burst of writes is left to anti-entropy.
const FeedSize = 4096

// FeedSources are the changes the replica spreads: the writes made on
// this node and the records a restore brought. What it merges from peers
// it passes on itself, where it receives them.
var FeedSources = []store.Source{store.SourceLocal, store.SourceRestore}

// New returns a replica. Run starts its work.
func New(cfg Config) *Replica {
	r := &Replica{cfg: cfg.withDefaults(), inbox: newInbox(), pushes: newPushQueue(), syncNow: make(chan struct{}, 1)}
	r.mark.Store(uint64(cfg.Store.SyncMark()))
	r.loadCoverage()
	r.fresh.Store(cfg.Store.Index() <= 1)
	return r
}

// Stats returns the counters.
func (r *Replica) Stats() Stats {
	return Stats{
		Applied: r.applied.Load(), Duplicate: r.duplicate.Load(), Rejected: r.rejected.Load(),
		Malformed: r.malformed.Load(), Syncs: r.syncs.Load(), SyncFailures: r.syncFailures.Load(),
		SyncRefused: r.syncRefused.Load(), SyncDeferred: r.syncDeferred.Load(),
		SyncBytesSent: r.bytesSent.Load(), SyncBytesRecv: r.bytesRecv.Load(),
		Pushed: r.pushed.Load(), PushCalls: r.pushCalls.Load(), PushFailures: r.pushFailures.Load(),
		PushLeft: r.pushLeft.Load(), GossipDropped: r.gossipDropped.Load(),
	}
}

// spread passes on the changes of the feed at once (see pass). It never
// blocks.
func (r *Replica) spread(changes []store.Change) {
	for i := range changes {
		if !changes[i].Removed() {
			r.pass(toWire(&changes[i].Record), nil)
		}
	}
}

// followFeed spreads the feed's changes until ctx ends or the feed closes.
// When the feed dropped changes, it asks for an anti-entropy round, which
// carries them.
func (r *Replica) followFeed(ctx context.Context) {
	for {
		changes, resync, err := r.cfg.Feed.Next(ctx)
		if err != nil {
			return
		}
		r.spread(changes)
		if resync {
			r.SyncSoon()
		}
	}
}

// gossip queues one record for gossip if it fits, and reports whether it
// did.
func (r *Replica) gossip(w Record) bool { return r.gossipAs(w.Key, w) }

// gossipAs is gossip under the broadcast name given.
func (r *Replica) gossipAs(name string, w Record) bool {
	b, err := EncodeDelta([]Record{w})
	if err != nil || len(b) > r.cfg.MaxGossipDelta {
		return false
	}
	r.cfg.Broadcast(name, b)
	return true
}

// HandleGossip merges a delta received by gossip and passes on what was
// new to this node: memberlist does not forward user broadcasts. While Run
// runs, the records wait in the inbox, and a goroutine of Run's merges
// those of many deltas in one commit (see inbox); HandleGossip returns
// without waiting for the disk. Before Run and after it, it merges them
// itself.
func (r *Replica) HandleGossip(payload []byte) {
	d, dropped, err := DecodeDelta(payload)
	if err != nil {
		r.malformed.Add(1)
		r.cfg.Log.Debug("dropped malformed replication delta", "err", err)
		return
	}
	if dropped > 0 {
		r.malformed.Add(uint64(dropped))
		r.cfg.Log.Debug("dropped malformed records of a replication delta", "count", dropped)
	}
	ctx := context.Background()
	a := &arrival{recs: r.admit(ctx, d.Records), pass: true}
	dropped, queued := r.inbox.add(a, true)
	if !queued {
		r.mergeArrivals(ctx, []*arrival{a})
		return
	}
	if dropped > 0 {
		r.gossipDropped.Add(uint64(dropped))
		r.cfg.Log.Debug("dropped gossiped records: too many wait to be merged", "count", dropped)
		r.SyncSoon()
	}
}

// merge applies records by last-writer-wins after rejecting those stamped
// too far ahead of this node's clock, and returns the ones that were new.
// It logs with ctx: a call's, whose trace id its lines carry.
//
// A record that lost here to a concurrent write, and that the store's
// history marks lost for the first time, is passed on once (store.
// ApplyCheckedLost): a node of the winning side may never receive the
// losing write otherwise, as the mesh converges on the winner, and each
// node's history is to show it. A node that has marked it already passes
// nothing on, so the spreading ends.
func (r *Replica) merge(ctx context.Context, recs []Record) []store.Record {
	return r.apply(ctx, r.admit(ctx, recs))
}

// apply is merge for records admitted already.
func (r *Replica) apply(ctx context.Context, ok []store.Checked) []store.Record {
	changed, lost, err := r.cfg.Store.ApplyCheckedLost(ok)
	if err != nil {
		r.cfg.Log.ErrorContext(ctx, "applying replicated records", "err", err)
	}
	r.counted(len(ok), len(changed))
	for i := range lost {
		w := toWire(&lost[i])
		if !r.gossipRoom() || !r.gossipAs(lostName(&lost[i]), w) {
			r.queuePush(nil, w)
		}
	}
	return changed
}

// lostName names the broadcast of a lost record apart from its key's, so
// that neither replaces the other in the broadcast queue.
func lostName(rec *store.Record) string {
	return rec.Key + "\x00lost\x00" + strconv.FormatUint(uint64(rec.Version), 10) + "\x00" + rec.Origin
}

// admit drops the malformed records and those stamped too far ahead of
// this node's wall clock, counting them. Received records were checked when
// they were decoded: admit takes the verdict. It logs with ctx.
func (r *Replica) admit(ctx context.Context, recs []Record) []store.Checked {
	limit := r.cfg.Store.Clock().Wall().Millis() + uint64(r.cfg.MaxClockDrift.Milliseconds())
	ok := make([]store.Checked, 0, len(recs))
	for i := range recs {
		c, err := recs[i].verdict()
		if err != nil {
			r.malformed.Add(1)
			r.cfg.Log.DebugContext(ctx, "dropped a malformed replicated record", "err", err)
			continue
		}
		if store.Stamp(recs[i].Version).Millis() > limit {
			r.rejected.Add(1)
			r.cfg.Log.WarnContext(ctx, "rejected a record stamped too far ahead of this node's wall clock",
				"table", store.TableName(recs[i].Table), "key", recs[i].Key, "origin", recs[i].Origin,
				"stamp", store.Stamp(recs[i].Version).String(), "max_clock_drift", r.cfg.MaxClockDrift)
			continue
		}
		ok = append(ok, c)
	}
	return ok
}

// counted counts merged records: of admitted, changed were new here.
func (r *Replica) counted(admitted, changed int) {
	r.applied.Add(uint64(changed))
	r.duplicate.Add(uint64(admitted - changed))
}

// HandlePush serves MethodPush. The records of a push that spreads writes
// (Delta.Seen set; not anti-entropy's) that were new to this node are
// passed on (see pass), to peers outside Seen. While Run runs, they are
// merged by its merge loop, in a commit shared with the other pushes and
// gossip deltas that arrived meanwhile (see inbox); the call returns once
// that commit is durable.
func (r *Replica) HandlePush(ctx context.Context, d *Delta) (*PushResponse, error) {
	before := r.rejected.Load()
	a := &arrival{recs: r.admit(ctx, d.Records), pass: len(d.Seen) > 0, done: make(chan []store.Record, 1)}
	rejected := int(r.rejected.Load() - before)
	if a.pass {
		a.seen = d.Seen[:min(len(d.Seen), maxSeen)]
	}
	if _, queued := r.inbox.add(a, false); !queued {
		r.mergeArrivals(ctx, []*arrival{a})
	}
	select {
	case changed := <-a.done:
		return &PushResponse{Applied: len(changed), Rejected: rejected}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SyncSoon asks the run loop for an anti-entropy round now, e.g. when a
// member joins or comes back.
func (r *Replica) SyncSoon() {
	select {
	case r.syncNow <- struct{}{}:
	default:
	}
}

// Run runs anti-entropy with a random peer every
// SyncInterval (with jitter) until ctx ends. A node whose store was empty
// at start, or that finds it was away past a peer's horizon, bootstraps
// instead.
//
// It also spreads the changes of Config.Feed, merges the records gossip
// delivers (see HandleGossip), and pushes what waits to be pushed, each
// from a goroutine of its own (a slow push never delays gossip, a long
// anti-entropy round never delays a push); they have ended when Run
// returns, the gossiped records that waited merged.
func (r *Replica) Run(ctx context.Context) {
	{
		ctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		if r.cfg.Feed != nil {
			wg.Go(func() { r.followFeed(ctx) })
		}
		wg.Go(func() { r.pushLoop(ctx) })
		r.inbox.open()
		wg.Go(func() { r.mergeLoop(ctx) })
		defer wg.Wait()
		defer cancel()
	}
	t := time.NewTimer(r.jitter())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.syncNow:
			r.round(ctx)
		case <-t.C:
			r.round(ctx)
			t.Reset(r.jitter())
		}
	}
}

func (r *Replica) jitter() time.Duration {
	r.randMu.Lock()
	defer r.randMu.Unlock()
	d := r.cfg.SyncInterval
	return d/2 + time.Duration(r.cfg.Rand.Int64N(int64(d)))
}

// uniform draws from [0, 1) with the replica's Rand.
func (r *Replica) uniform() float64 {
	r.randMu.Lock()
	defer r.randMu.Unlock()
	return r.cfg.Rand.Float64()
}

// pick returns up to n distinct random peers (n < 0: all of them).
func (r *Replica) pick(n int) []Peer {
	peers := r.cfg.Peers()
	r.randMu.Lock()
	r.cfg.Rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
	r.randMu.Unlock()
	if n < 0 || n > len(peers) {
		return peers
	}
	return peers[:n]
}

// SyncRandom runs one anti-entropy round with a random live peer, trying
// the others in random order when one fails (its breaker opens), and
// reports whether a sync completed.
func (r *Replica) SyncRandom(ctx context.Context) bool {
	for _, p := range r.pick(-1) {
		_, err := r.SyncWith(ctx, p)
		switch {
		case err == nil:
			return true
		case errors.Is(err, errStale):
			return false
		case errors.Is(err, errDeferred):
			r.syncDeferred.Add(1)
		case errors.Is(err, errRefused), errors.Is(err, errPeerClock):
			r.syncRefused.Add(1)
		default:
			r.syncFailures.Add(1)
		}
		r.cfg.Log.Debug("anti-entropy failed", "peer", p.Name, "err", err)
	}
	return false
}
