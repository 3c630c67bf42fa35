package replica

import (
	"context"
	"encoding/binary"
	"log/slog"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/store"
	"github.com/edgeplane/edgeplane/transport"
)

// Membership is what a Service needs of gossip; *gossip.Mesh implements
// it.
type Membership interface {
	// Members lists every member known, this node included.
	Members() []gossip.Member
	// Broadcast queues a payload for gossip under name.
	Broadcast(name string, payload []byte)
	// BroadcastQueue reports the queue's length and how many messages a
	// full queue dropped.
	BroadcastQueue() (queued int, pruned uint64)
	// Subscribe returns membership events as they happen.
	Subscribe(size int) *gossip.Subscription
}

// Registrar is where a Service serves replication's methods;
// *transport.Server implements it.
type Registrar interface {
	Handle(method string, h transport.UnaryHandler)
	HandleStream(method string, h transport.StreamHandler)
}

// ServiceConfig configures a Service. Every field but Log is required.
type ServiceConfig struct {
	Store *store.Store
	Self  string // this node's name
	Mesh  Membership
	// Server serves replication's methods to the other agents.
	Server Registrar
	// Agents is the policy of agent-to-agent calls (timeout, retries,
	// breaker); Client opens the bootstrap streams.
	Agents *transport.Target
	Client *transport.Client

	MaxClockDrift  time.Duration // see Config
	TombstoneTTL   time.Duration // see Config
	MaxGossipQueue int           // see Config
	Log            *slog.Logger
}

// Service runs a Replica inside an agent: it serves replication's methods
// over RPC, spreads local writes by gossip and RPC pushes, merges what
// peers send, asks for anti-entropy when a member joins or a peer's digest
// root differs, and collects tombstones. Build it with NewService, then
// Start and Close it.
//
// Gossip delivers to a Service through HandleGossip and MergeGossipState,
// and RPC gives it the peers' clock readings through ObservePeerClock.
type Service struct {
	*Replica
	cfg ServiceConfig
	sub *gossip.Subscription // membership news; taken at construction

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// NewService builds the replica and registers its methods on
// cfg.Server. It subscribes to membership events at once, so that a join
// that happens before Start still starts a sync.
func NewService(cfg ServiceConfig) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Service{cfg: cfg, stop: func() {}}
	s.Replica = New(Config{
		Store:     cfg.Store,
		Feed:      cfg.Store.Subscribe("replica", FeedSize, FeedSources...),
		Self:      cfg.Self,
		Broadcast: cfg.Mesh.Broadcast,
		BroadcastQueued: func() int {
			n, _ := cfg.Mesh.BroadcastQueue()
			return n
		},
		Caller:         rpcCaller{target: cfg.Agents, client: cfg.Client},
		Peers:          s.peers,
		Members:        s.members,
		MaxClockDrift:  cfg.MaxClockDrift,
		TombstoneTTL:   cfg.TombstoneTTL,
		MaxGossipQueue: cfg.MaxGossipQueue,
		Log:            cfg.Log,
	})
	r := s.Replica
	cfg.Server.Handle(MethodPush, transport.Unary(r.HandlePush))
	cfg.Server.Handle(MethodDigest, transport.Unary(r.HandleDigest))
	cfg.Server.Handle(MethodKeys, transport.Unary(r.HandleKeys))
	cfg.Server.Handle(MethodBuckets, transport.Unary(r.HandleBuckets))
	cfg.Server.Handle(MethodEntries, transport.Unary(r.HandleEntries))
	cfg.Server.Handle(MethodResolve, transport.Unary(r.HandleResolve))
	cfg.Server.HandleStream(MethodBootstrap, transport.ServerStreaming(r.HandleBootstrap))
	s.sub = cfg.Mesh.Subscribe(64)
	return s
}

// Start runs anti-entropy, the membership watch and tombstone collection
// until Close.
func (s *Service) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.wg.Go(func() { s.Run(ctx) })
	s.wg.Go(func() { s.watchMembers(ctx) })
	s.wg.Go(func() { s.collectTombstones(ctx) })
	return nil
}

// Close stops what Start started and waits for it. Calls served over RPC
// and gossip still merge until those stop.
func (s *Service) Close() error {
	s.stop()
	s.wg.Wait()
	s.sub.Close()
	return nil
}

// peers lists the live members other than this node that announce an RPC
// address.
func (s *Service) peers() []Peer {
	var out []Peer
	for _, m := range s.cfg.Mesh.Members() {
		if m.Name == s.cfg.Self || (m.Status != gossip.StatusAlive && m.Status != gossip.StatusSuspect) {
			continue
		}
		if addr := m.Tags[gossip.MetaRPC]; addr != "" {
			out = append(out, Peer{Name: m.Name, Addr: addr})
		}
	}
	return out
}

// members lists the names of every member the mesh remembers, whatever
// its status: a failed or left member counts until it is reaped.
func (s *Service) members() []string {
	ms := s.cfg.Mesh.Members()
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

// rpcCaller sends replication calls through the agents' policy (timeout,
// retries, breaker). Every replication call is idempotent: records merge
// by last-writer-wins.
type rpcCaller struct {
	target *transport.Target
	client *transport.Client
}

func (c rpcCaller) Call(ctx context.Context, p Peer, method string, req, resp any) error {
	return c.target.Invoke(ctx, []transport.Peer{{Node: p.Name, Addr: p.Addr}}, method, req, resp, transport.Idempotent())
}

// Stream opens a bootstrap stream; a cut stream is resumed by the replica
// from another peer, so it needs no retry here.
func (c rpcCaller) Stream(ctx context.Context, p Peer, method string, req any) (Receiver, error) {
	return c.client.Stream(ctx, transport.Peer{Node: p.Name, Addr: p.Addr}, method, req, transport.Idempotent())
}

// GossipState returns what a node adds to memberlist's push-pull (see
// gossip.Handlers.LocalState): only the digest root of st, never the store.
func GossipState(st *store.Store) func(join bool) []byte {
	return func(bool) []byte { return binary.BigEndian.AppendUint64(nil, st.DigestRoot()) }
}

// MergeGossipState takes a peer's push-pull state (see GossipState) and
// asks for anti-entropy at once when its digest root differs from this
// node's.
func (s *Service) MergeGossipState(buf []byte, _ bool) {
	if len(buf) == 8 && binary.BigEndian.Uint64(buf) != s.cfg.Store.DigestRoot() {
		s.SyncSoon()
	}
}

// watchMembers asks for an anti-entropy round at once when a member joins
// or comes back (a node whose store was empty at start bootstraps then),
// until ctx ends.
func (s *Service) watchMembers(ctx context.Context) {
	for {
		events, resync, err := s.sub.Next(ctx)
		if err != nil {
			return
		}
		for _, e := range events {
			if e.Type == gossip.EventJoin && e.Member.Name != s.cfg.Self {
				resync = true
			}
		}
		if resync {
			s.SyncSoon()
		}
	}
}

// collectTombstones removes tombstones older than TombstoneTTL, measured
// on the hybrid logical clock rather than the wall clock.
func (s *Service) collectTombstones(ctx context.Context) {
	ttl := s.Replica.cfg.TombstoneTTL
	t := time.NewTicker(min(max(ttl/10, time.Minute), time.Hour))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.CollectTombstones()
		if err != nil {
			s.cfg.Log.Error("collecting tombstones", "err", err)
		} else if n > 0 {
			s.cfg.Log.Debug("collected tombstones", "count", n, "horizon", s.cfg.Store.Horizon().String())
		}
	}
}
