package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/edgeplane/edgeplane/agent/version"
	"github.com/edgeplane/edgeplane/gossip"
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

// startMesh starts gossip on the configured address. It does not join:
// Run does that in the background so that start-up never waits on seeds.
func (a *Agent) startMesh() error {
	cfg := a.cfg
	advertise := cfg.AdvertiseAddr
	if advertise == "" {
		if ip := net.ParseIP(cfg.BindAddr); ip != nil && ip.IsUnspecified() {
			addrs, err := net.InterfaceAddrs()
			if err != nil {
				return fmt.Errorf("agent: listing interface addresses: %w", err)
			}
			if advertise, err = gossip.PickAdvertiseAddr(addrs); err != nil {
				return fmt.Errorf("agent: bind_addr %s: %w", cfg.BindAddr, err)
			}
		}
	}
	keyring, err := a.loadKeyring()
	if err != nil {
		return err
	}
	tags := map[string]string{gossip.MetaVersion: version.Version}
	for k, v := range cfg.Tags {
		tags[k] = v
	}
	if cfg.Site != "" {
		tags[gossip.MetaSite] = cfg.Site
	}
	for k, v := range a.rpc.tags {
		tags[k] = v
	}
	tags[gossip.MetaRPC] = a.rpcAddr(advertise)

	a.mesh, err = gossip.New(gossip.Config{
		NodeName:          cfg.NodeName,
		NodeID:            a.store.NodeID(),
		BindAddr:          cfg.BindAddr,
		BindPort:          cfg.GossipPort,
		AdvertiseAddr:     advertise,
		AdvertisePort:     cfg.GossipPort,
		Profile:           cfg.Profile,
		Tags:              tags,
		Keyring:           keyring,
		KeyringFile:       filepath.Join(a.dataDir, keyringFileName),
		PeersFile:         filepath.Join(a.dataDir, peersFileName),
		ReconnectInterval: cfg.ReconnectInterval.Duration,
		ReconnectTimeout:  cfg.ReconnectTimeout.Duration,
		DeadNodeReclaim:   cfg.DeadNodeReclaim.Duration,
		Seeds:             cfg.RetryJoin,
		MaxBroadcastQueue: cfg.MaxBroadcastQueue,
		OnMessage:         a.onGossipMessage,
		LocalState:        a.localState,
		MergeRemoteState:  a.mergeRemoteState,
		Logger:            a.log,
	})
	if err != nil {
		return fmt.Errorf("agent: gossip: %w", err)
	}
	a.meshReady.Store(a.mesh)
	return nil
}

// loadKeyring returns the gossip keyring: the one saved in the data dir
// (it holds the result of any rotation), else one made from encrypt or
// encrypt_file, else nil (gossip in clear).
func (a *Agent) loadKeyring() (*memberlist.Keyring, error) {
	path := filepath.Join(a.dataDir, keyringFileName)
	kr, err := gossip.LoadKeyring(path)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	configured, err := a.cfg.GossipKey()
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if kr != nil {
		if configured != "" {
			a.log.Info("using the keyring saved in the data dir; encrypt and encrypt_file are ignored once a keyring exists", "file", path)
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

// joinMesh joins in the background through the configured seeds or, with
// none, through the peers saved in the data dir (see gossip.Config.PeersFile).
func (a *Agent) joinMesh(ctx context.Context) {
	seeds := a.cfg.RetryJoin
	if len(seeds) == 0 {
		saved, err := gossip.LoadPeers(filepath.Join(a.dataDir, peersFileName))
		if err != nil {
			a.log.Warn("could not read saved peers", "err", err)
		}
		if len(saved) > 0 {
			a.log.Info("rejoining through peers saved in the data dir", "peers", saved)
		}
		seeds = saved
	}
	a.mesh.RetryJoin(ctx, seeds, a.cfg.RetryMax,
		resilience.Retry{BackoffBase: a.cfg.RetryInterval.Duration, BackoffCap: maxJoinBackoff}, nil)
}

// Mesh returns the agent's membership.
func (a *Agent) Mesh() *gossip.Mesh { return a.mesh }

// stopMesh leaves the mesh gracefully (unless told not to, or already
// gone) and stops gossiping.
func (a *Agent) stopMesh(leave bool) {
	if a.mesh == nil {
		return
	}
	if leave && a.mesh.LocalMember().Status != gossip.StatusLeaving {
		if err := a.mesh.Leave(leaveTimeout); err != nil {
			a.log.Warn("graceful leave failed", "err", err)
		} else {
			a.log.Info("left the mesh")
		}
	}
	if err := a.mesh.Shutdown(); err != nil && !errors.Is(err, gossip.ErrShutdown) {
		a.log.Warn("stopping gossip", "err", err)
	}
}

// Leave leaves the mesh gracefully and then shuts the agent down, as
// Consul's /v1/agent/leave does.
func (a *Agent) Leave() error {
	if err := a.mesh.Leave(leaveTimeout); err != nil {
		return err
	}
	a.log.Info("left the mesh; shutting down")
	a.stopSelf()
	return nil
}

// meshAPI gives the HTTP API the agent's membership operations.
type meshAPI struct{ a *Agent }

func (m meshAPI) Members() []gossip.Member         { return m.a.mesh.Members() }
func (m meshAPI) Join(addrs []string) (int, error) { return m.a.mesh.Join(addrs) }
func (m meshAPI) Leave() error                     { return m.a.Leave() }
func (m meshAPI) ForceLeave(node string) error     { return m.a.mesh.ForceLeave(node) }
func (m meshAPI) Keyring(ctx context.Context, op, key string) ([]gossip.KeyringReply, error) {
	return m.a.mesh.KeyringOp(ctx, op, key)
}
