package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/edgeplane/edgeplane/store"
)

// simNet is an in-memory mesh: gossip deliveries wait in a queue that is
// pumped in random order (reordering), with drops, duplicates and
// partitions; RPCs go through CBOR encoding and fail across a partition.
type simNet struct {
	// mu serialises calls: a push goes to its peers at once, and the
	// simulation, its random source included, is one thread.
	mu    sync.Mutex
	t     testing.TB
	rng   *rand.Rand
	nodes map[string]*simNode
	names []string
	group map[string]int // partition group of each node
	// forgot holds, for each node, the members it has reaped: they are
	// no longer among those it remembers (Config.Members).
	forgot  map[string]map[string]bool
	queue   []delivery
	drop    float64
	down    map[string]bool // listed as live peers, but every call to them fails
	dup     float64
	bytes   int // RPC payload bytes, both ways
	largest int // largest RPC message

	cutAfter int           // cut the next bootstrap stream after this many chunks
	silent   bool          // the cut stream goes silent (until closed) instead of failing
	onChunk  func(got int) // runs after each bootstrap chunk is received
	// tamper, when set, may change each message (push request, keys
	// response, bootstrap chunk) before it is encoded, as a peer running
	// other code would send it.
	tamper func(msg any)
	// legacy names the nodes that run the release before members'
	// progress and group hashes: what they send carries neither, they
	// ignore a request for group hashes and serve none of the methods
	// that came with them.
	legacy map[string]bool
	calls  map[string]int // RPCs made, by method
}

type delivery struct {
	to      string
	payload []byte
}

type simNode struct {
	name string
	st   *store.Store
	r    *Replica
	now  time.Time
}

// Now is the node's simulated wall clock.
func (n *simNode) Now() time.Time { return n.now }

// Sleep returns at once: simulated time moves only when the test moves it.
func (n *simNode) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

var errCut = errors.New("partitioned")

func newSimNet(t testing.TB, seed uint64, n int) *simNet {
	return newSimNetWith(t, seed, n, store.Options{})
}

// newSimNetWith is newSimNet whose stores open with opts (their wall
// clock and NoSync are the simulation's).
func newSimNetWith(t testing.TB, seed uint64, n int, opts store.Options) *simNet {
	s := &simNet{t: t, rng: rand.New(rand.NewPCG(seed, seed+1)), nodes: map[string]*simNode{}, group: map[string]int{},
		forgot: map[string]map[string]bool{}}
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		name := "n" + strconv.Itoa(i)
		node := &simNode{name: name, now: base.Add(time.Duration(s.rng.IntN(2000)) * time.Millisecond)}
		opts.NoSync, opts.Wall = true, node
		st, err := store.Open(t.TempDir(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		node.st = st
		node.r = New(Config{
			Store: st, Self: name,
			Feed:      st.Subscribe("replica", FeedSize, FeedSources...),
			Broadcast: func(_ string, payload []byte) { s.broadcast(name, payload) },
			Caller:    simCaller{net: s, from: name},
			Peers:     func() []Peer { return s.peersOf(name) },
			Members:   func() []string { return s.membersOf(name) },
			Clock:     node,
			Rand:      rand.New(rand.NewPCG(seed, uint64(i))),
			Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		s.nodes[name] = node
		s.names = append(s.names, name)
	}
	return s
}

func (s *simNet) cut(a, b string) bool { return s.group[a] != s.group[b] }

func (s *simNet) peersOf(name string) []Peer {
	var out []Peer
	for _, n := range s.names {
		if n != name && !s.cut(name, n) {
			out = append(out, Peer{Name: n, Addr: n})
		}
	}
	return out
}

// membersOf lists the members name remembers: every node it has not
// reaped.
func (s *simNet) membersOf(name string) []string {
	var out []string
	for _, n := range s.names {
		if !s.forgot[name][n] {
			out = append(out, n)
		}
	}
	return out
}

// reap has each node of nodes forget each one of gone, as gossip does
// after reconnect_timeout, and remember it again when back is set.
func (s *simNet) reap(nodes, gone []*simNode, back bool) {
	for _, n := range nodes {
		if s.forgot[n.name] == nil {
			s.forgot[n.name] = map[string]bool{}
		}
		for _, g := range gone {
			s.forgot[n.name][g.name] = !back
		}
	}
}

func (s *simNet) broadcast(from string, payload []byte) {
	for _, n := range s.names {
		if n == from || s.cut(from, n) || s.rng.Float64() < s.drop {
			continue
		}
		s.queue = append(s.queue, delivery{n, payload})
		if s.rng.Float64() < s.dup {
			s.queue = append(s.queue, delivery{n, payload})
		}
	}
}

// spreadQueued spreads what the replica's feed holds, without waiting, as
// its feed goroutine does under Run.
func (r *Replica) spreadQueued() {
	changes, resync := r.cfg.Feed.Poll()
	r.spread(changes)
	if resync {
		r.SyncSoon()
	}
}

// spreadWrites has every node spread the writes its feed holds, as the
// replica's feed goroutine does in an agent.
func (s *simNet) spreadWrites() {
	for _, name := range s.names {
		s.nodes[name].r.spreadQueued()
	}
}

// all makes pump deliver every message queued.
const all = -1

// pump spreads the nodes' writes, then delivers up to k queued messages
// (all: every one), picked at random.
func (s *simNet) pump(k int) {
	s.spreadWrites()
	if k == all {
		k = len(s.queue)
	}
	for ; k > 0 && len(s.queue) > 0; k-- {
		i := s.rng.IntN(len(s.queue))
		d := s.queue[i]
		s.queue = slices.Delete(s.queue, i, i+1)
		s.nodes[d.to].r.HandleGossip(d.payload)
	}
}

type simCaller struct {
	net  *simNet
	from string
}

// Call runs the peer's handler with the request and response round-tripped
// through CBOR, as the transport would.
func (c simCaller) Call(ctx context.Context, peer Peer, method string, req, resp any) error {
	c.net.mu.Lock()
	defer c.net.mu.Unlock()
	if c.net.cut(c.from, peer.Name) || c.net.down[peer.Name] {
		return errCut
	}
	callee, caller := c.net.nodes[peer.Name], c.net.nodes[c.from]
	r := callee.r
	// Clock readings travel in every header and reply, as the transport's
	// HLC interceptor carries them.
	r.ObservePeerClock(uint64(caller.st.Clock().Now()))
	defer func() { caller.r.ObservePeerClock(uint64(callee.st.Clock().Now())) }()
	if c.net.tamper != nil {
		c.net.tamper(req)
	}
	if c.net.legacy[c.from] {
		asEarlierRelease(req)
	}
	if c.net.calls == nil {
		c.net.calls = map[string]int{}
	}
	c.net.calls[method]++
	b, err := cbor.Marshal(req)
	if err != nil {
		return err
	}
	if err := c.net.checkSize(b); err != nil {
		return err
	}
	c.net.bytes += len(b)
	var out any
	switch method {
	case MethodPush:
		out, err = serve(ctx, b, r.HandlePush)
	case MethodDigest:
		out, err = serve(ctx, b, func(ctx context.Context, d *DigestRequest) (*DigestResponse, error) {
			if c.net.legacy[peer.Name] {
				d.Groups = false // a field it does not know
			}
			return r.HandleDigest(ctx, d)
		})
	case MethodKeys:
		out, err = serve(ctx, b, r.HandleKeys)
	case MethodBuckets, MethodEntries, MethodResolve:
		switch {
		case c.net.legacy[peer.Name]:
			return fmt.Errorf("unknown method %s", method)
		case method == MethodBuckets:
			out, err = serve(ctx, b, r.HandleBuckets)
		case method == MethodEntries:
			out, err = serve(ctx, b, r.HandleEntries)
		default:
			out, err = serve(ctx, b, r.HandleResolve)
		}
	default:
		return fmt.Errorf("no method %s", method)
	}
	if err != nil {
		return err
	}
	if c.net.tamper != nil {
		c.net.tamper(out)
	}
	if c.net.legacy[peer.Name] {
		asEarlierRelease(out)
	}
	if b, err = cbor.Marshal(out); err != nil {
		return err
	}
	if err := c.net.checkSize(b); err != nil {
		return err
	}
	c.net.bytes += len(b)
	return cbor.Unmarshal(b, resp)
}

// serve decodes a request for a handler and runs it.
func serve[Req, Resp any](ctx context.Context, b []byte, h func(context.Context, *Req) (*Resp, error)) (any, error) {
	var req Req
	if err := cbor.Unmarshal(b, &req); err != nil {
		return nil, err
	}
	return h(ctx, &req)
}

// asEarlierRelease changes a message to what a node of an earlier
// release sends: without the members' progress, and a digest request
// without asking for group hashes.
func asEarlierRelease(msg any) {
	switch m := msg.(type) {
	case *DigestRequest:
		m.Progress, m.Groups = nil, false
	case *DigestResponse:
		m.Progress = nil
	case *BootstrapChunk:
		m.Progress = nil
	}
}

// simMaxMessage is the transport's default limit on one message.
const simMaxMessage = 4 << 20

// checkSize fails a message the transport would refuse, and notes the
// largest one.
func (s *simNet) checkSize(b []byte) error {
	s.largest = max(s.largest, len(b))
	if len(b) > simMaxMessage {
		return fmt.Errorf("message of %d bytes exceeds the transport's limit", len(b))
	}
	return nil
}

// contents returns every record a node holds, tombstones included, by
// key, or by "table|key" outside kv.
func contents(t testing.TB, st *store.Store) map[string]store.Record {
	t.Helper()
	all := make([]int, store.DigestBuckets)
	for i := range all {
		all[i] = i
	}
	kh, err := st.BucketKeys(all)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	for i := range kh {
		keys[kh[i].Table] = append(keys[kh[i].Table], kh[i].Key)
	}
	out := map[string]store.Record{}
	for table, keys := range keys {
		recs, err := st.Records(table, keys)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			out[contentsKey(r.Table, r.Key)] = r
		}
	}
	return out
}

func contentsKey(table, key string) string {
	if table == store.TableKV {
		return key
	}
	return table + "|" + key
}

func recordsEqual(a, b map[string]store.Record) bool {
	return maps.EqualFunc(a, b, func(x, y store.Record) bool { return store.Compare(&x, &y) == 0 })
}

// runScenario writes and deletes, in kv and in a table declared by these
// tests alone, on random nodes under random partitions, drops, duplicates
// and reordering, heals, and checks that every node holds exactly the
// last-writer-wins result of the whole history. The legacy nodes run the
// exchange of a release before group hashes.
func runScenario(t testing.TB, seed uint64, legacy ...string) {
	s := newSimNet(t, seed, 5)
	s.legacy = map[string]bool{}
	for _, name := range legacy {
		s.legacy[name] = true
	}
	s.drop, s.dup = 0.2, 0.1
	oracle := map[string]store.Record{}
	note := func(st *store.Store, table, key string) {
		s.spreadWrites() // as the writer's feed goroutine does, at once
		var e store.Entry
		var found bool
		err := st.View(func(tx *store.Tx) error {
			var err error
			e, found, err = tx.Get(table, key)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if found {
			k := contentsKey(table, key)
			if o, ok := oracle[k]; ok {
				oracle[k] = store.Merge(o, e.Record)
			} else {
				oracle[k] = e.Record
			}
		}
	}
	ctx := context.Background()
	for step := range 150 {
		n := s.nodes[s.names[s.rng.IntN(len(s.names))]]
		n.now = n.now.Add(time.Duration(s.rng.IntN(5)) * time.Millisecond) // clocks may stand still
		key := "k" + strconv.Itoa(s.rng.IntN(12))
		table := []string{store.TableKV, simTable}[s.rng.IntN(2)]
		switch op := s.rng.IntN(10); {
		case op < 4:
			value, flags := []byte(fmt.Sprintf("%s-%d", n.name, step)), uint64(step)
			var err error
			if table == store.TableKV {
				_, err = n.st.Put(key, value, flags)
			} else {
				err = n.st.Update(func(tx *store.Tx) error { _, err := tx.Put(table, key, value, flags); return err })
			}
			if err != nil {
				t.Fatal(err)
			}
			note(n.st, table, key)
		case op < 5:
			deleteIn(t, n, table, key)
			note(n.st, table, key)
		case op < 8:
			s.pump(1 + s.rng.IntN(6))
		case op < 9:
			peers := s.peersOf(n.name)
			if len(peers) > 0 {
				n.r.SyncWith(ctx, peers[s.rng.IntN(len(peers))]) // may fail across a new cut
			}
		default:
			for _, name := range s.names { // a new random partition, or a heal
				s.group[name] = s.rng.IntN(2) * s.rng.IntN(2)
			}
		}
	}
	// Heal: everyone reaches everyone; deliver what is queued; sync until
	// every root is equal.
	s.group = map[string]int{}
	s.drop, s.dup = 0, 0
	s.pump(all)
	for round := 0; ; round++ {
		if round == 10 {
			t.Fatalf("seed %d: no convergence after %d anti-entropy rounds", seed, round)
		}
		for _, a := range s.names {
			for _, b := range s.names {
				if a != b {
					if _, err := s.nodes[a].r.SyncWith(ctx, Peer{Name: b, Addr: b}); err != nil {
						t.Fatalf("seed %d: sync %s->%s: %v", seed, a, b, err)
					}
				}
			}
		}
		root := s.nodes[s.names[0]].st.DigestRoot()
		same := true
		for _, name := range s.names {
			same = same && s.nodes[name].st.DigestRoot() == root
		}
		if same {
			break
		}
	}
	for _, name := range s.names {
		if got := contents(t, s.nodes[name].st); !recordsEqual(got, oracle) {
			t.Fatalf("seed %d: %s holds %d records, not the last-writer-wins result of the history (%d records)",
				seed, name, len(got), len(oracle))
		}
	}
}

// TestConvergenceProperty runs many seeded scenarios; set
// EDGEPLANE_REPLICA_SEED to replay one, EDGEPLANE_REPLICA_SEEDS to change
// how many run.
func TestConvergenceProperty(t *testing.T) { runSeeds(t, 200) }

// TestConvergenceMixedReleases runs seeded scenarios in a mesh of nodes of
// this release and of one before group hashes (n1 and n3), as during a
// rolling upgrade.
func TestConvergenceMixedReleases(t *testing.T) { runSeeds(t, 50, "n1", "n3") }

// runSeeds runs n seeded scenarios (see TestConvergenceProperty for the
// environment that changes them) with nodes legacy of an earlier release.
func runSeeds(t *testing.T, n int, legacy ...string) {
	if s := os.Getenv("EDGEPLANE_REPLICA_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		runScenario(t, seed, legacy...)
		return
	}
	if s := os.Getenv("EDGEPLANE_REPLICA_SEEDS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	first := rand.Uint64() >> 1
	t.Logf("seeds %d..%d (replay one with EDGEPLANE_REPLICA_SEED)", first, first+uint64(n)-1)
	for i := range n {
		seed := first + uint64(i)
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) { runScenario(t, seed, legacy...) })
	}
}

// Stream runs the peer's bootstrap handler and hands its chunks over one
// by one through CBOR. The first stream opened is cut after cutAfter
// chunks when cutAfter > 0, as when the peer dies; onChunk runs after each
// chunk is received.
func (c simCaller) Stream(ctx context.Context, peer Peer, method string, req any) (Receiver, error) {
	if c.net.cut(c.from, peer.Name) {
		return nil, errCut
	}
	if method != MethodBootstrap {
		return nil, fmt.Errorf("no stream %s", method)
	}
	b, err := cbor.Marshal(req)
	if err != nil {
		return nil, err
	}
	var br BootstrapRequest
	if err := cbor.Unmarshal(b, &br); err != nil {
		return nil, err
	}
	var chunks [][]byte
	err = c.net.nodes[peer.Name].r.HandleBootstrap(ctx, &br, func(ch *BootstrapChunk) error {
		if c.net.tamper != nil {
			c.net.tamper(ch)
		}
		if c.net.legacy[peer.Name] {
			asEarlierRelease(ch)
		}
		p, err := cbor.Marshal(ch)
		chunks = append(chunks, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	rcv := &simReceiver{chunks: chunks, net: c.net, cutAt: -1, closed: make(chan struct{})}
	if c.net.cutAfter > 0 {
		rcv.cutAt, c.net.cutAfter = c.net.cutAfter, 0
		rcv.silent = c.net.silent
	}
	return rcv, nil
}

type simReceiver struct {
	net       *simNet
	chunks    [][]byte
	n         int
	cutAt     int
	silent    bool
	closed    chan struct{}
	closeOnce sync.Once
}

func (r *simReceiver) Recv(v any) error {
	if r.n == r.cutAt {
		if r.silent {
			<-r.closed // a dead peer sends nothing more
		}
		return errors.New("stream cut: peer died")
	}
	if r.n == len(r.chunks) {
		return io.EOF
	}
	r.n++
	if r.net.onChunk != nil {
		defer r.net.onChunk(r.n)
	}
	return cbor.Unmarshal(r.chunks[r.n-1], v)
}

func (r *simReceiver) Close() error {
	r.closeOnce.Do(func() { close(r.closed) })
	return nil
}
