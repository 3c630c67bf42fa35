package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/edgeplane/edgeplane/agent/config"
	"github.com/edgeplane/edgeplane/agent/version"
	"github.com/edgeplane/edgeplane/gossip"
	"github.com/edgeplane/edgeplane/gossip/quicnet"
	"github.com/edgeplane/edgeplane/transport/resilience"
)

// Files the membership keeps in the data dir.
const (
	keyringFileName = "keyring.json" // gossip keys, the one in use first
	peersFileName   = "peers.json"   // live peers, for rejoining after a restart
)

// leaveTimeout bounds a graceful leave.
const leaveTimeout = 5 * time.Second

// maxJoinBackoff caps the wait between join attempts.
const maxJoinBackoff = 5 * time.Minute

// membership is the agent's gossip: who the members are, this node's
// join and leave. It binds the gossip port when it is built; Start gossips
// and joins the mesh in the background, Close leaves it
// (leave_on_terminate) and stops gossiping.
type membership struct {
	*gossip.Mesh
	net     *quicnet.Transport // gossip's QUIC carriage
	cfg     config.Config
	dataDir string
	log     *slog.Logger
	// stopAgent shuts the agent down after a leave through the API.
	stopAgent func()

	joins     context.Context // ends at Close: background joins stop
	stopJoins context.CancelFunc
	started   bool // Start began gossiping: Close may leave
}

// gossipHooks are what the membership gossips and whom it tells.
type gossipHooks struct {
	// announce returns the tags that announce this node's RPC endpoint,
	// given the address gossip advertises ("" for the bind address).
	announce func(advertise string) map[string]string
	nodeID   string // persisted in the store
	// identity is the node's certificate, which gossip presents too, and
	// trust says whose certificates it accepts.
	identity *rpcIdentity
	trust    meshTrust
	// stopAgent shuts the agent down; a leave through the API ends so.
	stopAgent func()
}

// newMembership binds gossip's port on the configured address, so that a
// port in use fails here, and gossips nothing yet: the agent sets the
// mesh's Handlers, then Start gossips and joins.
func newMembership(cfg config.Config, dataDir string, h gossipHooks, log *slog.Logger) (*membership, error) {
	m := &membership{cfg: cfg, dataDir: dataDir, log: log, stopAgent: h.stopAgent}
	advertise := cfg.AdvertiseAddr
	if advertise == "" {
		if ip := net.ParseIP(cfg.BindAddr); ip != nil && ip.IsUnspecified() {
			addrs, err := net.InterfaceAddrs()
			if err != nil {
				return nil, fmt.Errorf("agent: listing interface addresses: %w", err)
			}
			if advertise, err = gossip.PickAdvertiseAddr(addrs); err != nil {
				return nil, fmt.Errorf("agent: bind_addr %s: %w", cfg.BindAddr, err)
			}
		}
	}
	keyring, err := m.loadKeyring()
	if err != nil {
		return nil, err
	}
	tags := map[string]string{gossip.MetaVersion: version.Version}
	for k, v := range cfg.Tags {
		tags[k] = v
	}
	if cfg.Site != "" {
		tags[gossip.MetaSite] = cfg.Site
	}
	for k, v := range h.announce(advertise) {
		tags[k] = v
	}

	m.net, err = newGossipTransport(cfg.BindAddr, cfg.GossipPort, h.identity, h.trust,
		func() *gossip.Mesh { return m.Mesh }, log)
	if err != nil {
		return nil, err
	}
	m.Mesh, err = gossip.New(gossip.Config{
		NodeName:          cfg.NodeName,
		NodeID:            h.nodeID,
		BindAddr:          cfg.BindAddr,
		BindPort:          cfg.GossipPort,
		AdvertiseAddr:     advertise,
		AdvertisePort:     cfg.GossipPort,
		Profile:           cfg.Profile,
		Tags:              tags,
		Keyring:           keyring,
		KeyringFile:       filepath.Join(dataDir, keyringFileName),
		PeersFile:         filepath.Join(dataDir, peersFileName),
		ReconnectInterval: cfg.ReconnectInterval.Duration,
		ReconnectTimeout:  cfg.ReconnectTimeout.Duration,
		DeadNodeReclaim:   cfg.DeadNodeReclaim.Duration,
		Seeds:             cfg.RetryJoin,
		MaxBroadcastQueue: cfg.MaxBroadcastQueue,
		Transport:         m.net,
		Logger:            log,
	})
	if err != nil {
		m.net.Shutdown()
		return nil, fmt.Errorf("agent: %w", err) // gossip's errors name it
	}
	m.joins, m.stopJoins = context.WithCancel(context.Background())
	return m, nil
}

// loadKeyring returns the gossip keyring: the one saved in the data dir
// (it holds the result of any rotation), else one made from encrypt or
// encrypt_file, else nil (gossip in clear).
func (m *membership) loadKeyring() (*memberlist.Keyring, error) {
	path := filepath.Join(m.dataDir, keyringFileName)
	kr, err := gossip.LoadKeyring(path)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	configured, err := m.cfg.GossipKey()
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if kr != nil {
		if configured != "" {
			m.log.Info("using the keyring saved in the data dir; encrypt and encrypt_file are ignored once a keyring exists", "file", path)
		}
		return kr, nil
	}
	if configured == "" {
		return nil, nil
	}
	key, err := gossip.DecodeKey(configured)
	if err != nil {
		return nil, fmt.Errorf("agent: encrypt: %w", err)
	}
	if kr, err = memberlist.NewKeyring(nil, key); err != nil {
		return nil, fmt.Errorf("agent: encrypt: %w", err)
	}
	if err := gossip.SaveKeyring(path, kr); err != nil {
		return nil, fmt.Errorf("agent: saving keyring: %w", err)
	}
	return kr, nil
}

// Start starts gossiping, then joins in the background through the
// configured seeds or, with none, through the peers saved in the data dir
// (see gossip.Config.PeersFile), so that start-up never waits on seeds.
func (m *membership) Start(context.Context) error {
	if err := m.Mesh.Start(); err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	m.started = true
	seeds := m.cfg.RetryJoin
	if len(seeds) == 0 {
		saved, err := gossip.LoadPeers(filepath.Join(m.dataDir, peersFileName))
		if err != nil {
			m.log.Warn("could not read saved peers", "err", err)
		}
		if len(saved) > 0 {
			m.log.Info("rejoining through peers saved in the data dir", "peers", saved)
		}
		seeds = saved
	}
	m.RetryJoin(m.joins, seeds, m.cfg.RetryMax,
		resilience.Retry{BackoffBase: m.cfg.RetryInterval.Duration, BackoffCap: maxJoinBackoff}, nil)
	return nil
}

// rejoin takes the seeds of a reloaded configuration: the reconnect loop
// uses them from now on, and they are joined once in the background.
func (m *membership) rejoin(next config.Config) {
	m.SetSeeds(next.RetryJoin)
	m.RetryJoin(m.joins, next.RetryJoin, next.RetryMax,
		resilience.Retry{BackoffBase: next.RetryInterval.Duration, BackoffCap: maxJoinBackoff}, nil)
}

// Close leaves the mesh gracefully (when leave_on_terminate is set, the
// agent ran, and the node has not left already) and stops gossiping.
func (m *membership) Close() error {
	m.stopJoins()
	if m.started && m.cfg.LeaveOnTerminate && m.LocalMember().Status != gossip.StatusLeaving {
		if err := m.Mesh.Leave(leaveTimeout); err != nil {
			m.log.Warn("graceful leave failed", "err", err)
		} else {
			m.log.Info("left the mesh")
		}
	}
	if err := m.Shutdown(); err != nil && !errors.Is(err, gossip.ErrShutdown) {
		m.log.Warn("stopping gossip", "err", err)
	}
	return nil
}

// leave leaves the mesh gracefully and then shuts the agent down, as
// Consul's /v1/agent/leave does.
func (m *membership) leave() error {
	if err := m.Mesh.Leave(leaveTimeout); err != nil {
		return err
	}
	m.log.Info("left the mesh; shutting down")
	m.stopAgent()
	return nil
}

// stats are the counters of the gossip carriage and of what it refused,
// for /v1/agent/self: each refusal counter counts traffic an outsider, a
// revoked node or a name squatter sent.
func (m *membership) stats() map[string]string {
	s := m.net.Stats()
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	return map[string]string{
		"conns":              strconv.Itoa(s.Conns),
		"handshakes":         u(s.Handshakes),
		"refused_handshakes": u(s.Refused),
		"failed_handshakes":  u(s.FailedHandshakes),
		"wrong_node":         u(s.WrongNode),
		"dropped_packets":    u(s.DroppedPackets),
		"dropped_sends":      u(s.DroppedSends),
		"undecryptable":      u(m.Undecryptable()),
		"refused_names":      u(m.Refused()),
	}
}

// meshAPI gives the HTTP API the agent's membership operations.
type meshAPI struct {
	m     *membership
	names *nameBindings
}

func (a meshAPI) Members() []gossip.Member         { return a.m.Members() }
func (a meshAPI) Join(addrs []string) (int, error) { return a.m.Join(addrs) }

// RTT is the smoothed gossip round trip to node, for near.
func (a meshAPI) RTT(node string) (time.Duration, bool) { return a.m.RTT(node) }
func (a meshAPI) Leave() error                          { return a.m.leave() }
func (a meshAPI) ForceLeave(node string, prune bool) error {
	if !prune {
		return a.m.ForceLeave(node)
	}
	// A node still in the mesh must be failed; a left or forgotten one
	// keeps its name binding, which is what prune frees.
	if mem, ok := a.m.Member(node); ok && mem.Status != gossip.StatusLeft {
		if err := a.m.ForceLeave(node); err != nil {
			return err
		}
	}
	return a.names.prune(node)
}
func (a meshAPI) Keyring(ctx context.Context, op, key string) ([]gossip.KeyringReply, error) {
	return a.m.KeyringOp(ctx, op, key)
}
